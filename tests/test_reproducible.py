"""Same seed, same JSON: every implemented family, run twice through the command line with the largest
accepted seed and two different Python hash seeds, gives the same Evidence apart from ``seconds`` (the
one wall time, set by the command line); and no ``measured`` value is a wall time.

The CI test runs ``all --quick`` with the continual and stability families at the tiny sizes their own
tests use (``TINY`` of test_continual.py and test_stability.py: every check of both families runs,
on fewer tasks, seeds and samples): the two runs go in parallel, about two minutes on 2 shared cores.
``--slow`` (or the ``thorough`` profile) adds the same comparison at the real ``--quick`` sizes of
every family (about five minutes)."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from theory import verify

WALL = re.compile(r"(^|_)(seconds|secs|elapsed|wall|time|timing|duration)(_|$)")
TESTS = Path(__file__).resolve().parent

# the command line, with the two families' tiny sizes patched in before it reads them
TINY_CLI = textwrap.dedent(f'''
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    import checks.continual as cc, checks.stability as cs
    import test_continual, test_stability
    cc.SIZES[True], cs.SIZES[True] = test_continual.TINY, test_stability.TINY
    from theory import verify
    sys.exit(verify.main(sys.argv[1:]))
''')


def _keys(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}"
            yield from _keys(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v, path)


def _twice(tmp_path, launcher: list[str]) -> tuple[list[dict], list[dict], str]:
    seed = str(verify.SEED_MAX)  # the top of the range: every seed a check derives must be valid too
    runs = []
    for k in range(2):
        argv = [*launcher, "all", "--quick", "--no-progress", "--seed", seed,
                "--json", str(tmp_path / f"{k}.json"), "--html", str(tmp_path / f"{k}.html")]
        # different hash seeds: a sum over a set of unit names in set order rounds differently (0 and 3
        # told the quotient's set-order sums apart, and the stability figure's series order, before
        # both were made independent of it)
        env = {**os.environ, "PYTHONHASHSEED": ("0", "3")[k]}
        runs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env))
    for proc in runs:
        out, err = proc.communicate(timeout=1200)
        assert proc.returncode == 0, err[-3000:]
    first, second = (json.loads((tmp_path / f"{k}.json").read_text()) for k in range(2))
    return first, second, seed


def _same_apart_from_seconds(first: list[dict], second: list[dict], seed: str) -> None:
    families = {r["claim"].split(".")[0] for r in first}
    assert families == {f for f in verify.FAMILIES if verify.is_implemented(f)}
    for a, b in zip(first, second, strict=True):
        assert a["seconds"] >= 0 and b["seconds"] >= 0
        a["seconds"] = b["seconds"] = 0
        assert a == b, f"{a['claim']}/{a['check']} differs between two runs with one seed"
        assert a["setting"].get("seed", int(seed)) == int(seed)
        timed = [k for k in _keys(a["measured"]) if WALL.search(k.rsplit(".", 1)[-1].lower())]
        assert not timed, f"{a['claim']}/{a['check']} measures wall time: {timed}"


def test_same_seed_same_json_for_every_family(tmp_path):
    _same_apart_from_seconds(*_twice(tmp_path, [sys.executable, "-c", TINY_CLI]))


@pytest.mark.slow
def test_same_seed_same_json_for_every_family_at_quick_sizes(tmp_path):
    _same_apart_from_seconds(*_twice(tmp_path, [sys.executable, "-m", "theory.verify"]))
