"""Loaded before any test module: the command line's thread defaults (``theory.threads.configure``)
apply to the tests too, before numpy or torch is loaded."""

from theory import threads

threads.configure()

# ---- hypothesis profiles ------------------------------------------------------------------------------
# ``ci`` (the default): every property test draws the examples its own @settings give (seconds each).
# ``thorough``: every property test draws at least THOROUGH_EXAMPLES (1000) examples: random
# architectures, partitions, activations. Select it with HYPOTHESIS_PROFILE=thorough or
# ``pytest --hypothesis-profile=thorough``; it takes long (see README, "Tests").

import os  # noqa: E402

from hypothesis import settings  # noqa: E402

THOROUGH_EXAMPLES = 1000
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=THOROUGH_EXAMPLES, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (minutes each)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes of work; run with --slow or the thorough profile")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` run only with ``--slow`` or under ``thorough``. Under ``thorough`` a test's
    own @settings(max_examples=…) is raised to the profile's: explicit settings would otherwise win over
    any profile."""
    floor = settings.default.max_examples
    if not (config.getoption("--slow") or floor >= THOROUGH_EXAMPLES):
        import pytest

        skip = pytest.mark.skip(reason="slow: run with --slow or HYPOTHESIS_PROFILE=thorough")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)
    if floor < THOROUGH_EXAMPLES:
        return
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)  # set by @given / @settings
        if own is not None and own.max_examples < floor:
            test._hypothesis_internal_use_settings = settings(own, max_examples=floor, deadline=None)
