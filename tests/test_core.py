"""The Evidence contract, the claim registry and the activation registry."""

import json
import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import activations
from theory.claims import CLAIMS, FAMILIES, family_claims
from theory.evidence import JSON_KEYS, Evidence, dump_json, jsonable

KINKS = (-3, -1, 0, 1, 3, 6)


def _ev(**kw):
    base = dict(claim="frozen.gradient-zero", check="c", kind="symbolic", verdict="proved", summary="s")
    return Evidence(**{**base, **kw})


def test_json_has_exactly_the_contract_keys():
    record = json.loads(dump_json([_ev(measured={"x": np.float64(1.5), "n": np.int64(3)})]))[0]
    assert tuple(record) == JSON_KEYS
    assert record["measured"] == {"x": 1.5, "n": 3}
    assert Evidence.from_json(record).to_json() == record


def test_refuted_needs_a_counterexample_and_verdicts_are_closed():
    with pytest.raises(ValueError, match="counterexample"):
        _ev(verdict="refuted")
    with pytest.raises(ValueError, match="verdict"):
        _ev(verdict="true")
    with pytest.raises(ValueError, match="kind"):
        _ev(kind="guess")


def test_jsonable_is_strict_json():
    out = jsonable({"a": float("inf"), "b": sp.Rational(1, 2), "c": sp.Symbol("x") + 1,
                    "d": torch.tensor([1.0, float("nan")]), "e": (sp.Integer(2),)})
    assert out == {"a": "inf", "b": 0.5, "c": "x + 1", "d": [1.0, "nan"], "e": [2]}
    json.dumps(out, allow_nan=False)


def test_every_claim_of_claims_md_is_registered_once_per_family():
    assert {c.family for c in CLAIMS.values()} == set(FAMILIES)
    assert all(c.id in CLAIMS for f in FAMILIES for c in family_claims(f))
    with pytest.raises(ValueError, match="accepted"):
        family_claims("plasticity")


def test_unknown_activation_names_the_accepted_ones():
    with pytest.raises(ValueError, match="relu, relu6"):
        activations.get("swishy")


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(activations.ACTIVATIONS)),
       x=st.floats(-8, 8, allow_nan=False).filter(lambda v: min(abs(v - k) for k in KINKS) > 1e-6))
def test_sympy_and_torch_agree_on_value_and_derivative(name, x):
    """The registry's two faces are one function: same values, same derivative away from kinks."""
    a = activations.get(name)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = a.torch_fn(t)
    y.backward()
    assert math.isclose(float(y.detach()), float(a(sp.Float(x, 30))), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(float(t.grad), float(a.prime(sp.Float(x, 30))), rel_tol=1e-9, abs_tol=1e-12)


def test_flat_sets_follow_from_the_expressions():
    assert activations.get("relu").flat_set == sp.Interval(-sp.oo, 0)
    assert activations.get("leaky_relu").flat_set == sp.S.EmptySet
    assert activations.get("tanh").freezing() == "asymptotic"
    assert activations.get("identity").freezing() == "never"
    assert abs(activations.get("gelu").critical_points[0] + 0.7517915247) < 1e-9
