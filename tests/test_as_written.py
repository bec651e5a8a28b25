"""The paper as written (CLAIMS.md, "As written"): every printed statement decided with its printed
constants, each with a planted misprint that must come out refuted; property tests of the rank machinery
over random activations; clones of a ResNet and a ViT."""

import dataclasses
import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import cloned, frozen, rank
from numerics import clone as C
from numerics.models import ResNet, ViT
from theory import activations, gaussian, net, spectra
from theory import cloned as theory_cloned
from theory.activations import z
from theory.claims import CLAIMS
from theory.evidence import Config, dump_json, load_json
from theory.partition import partition

QUICK = Config(quick=True, progress=False)
AS_WRITTEN = ("rank.prop31-main", "rank.mehler", "rank.eigen", "rank.growth", "rank.figure31",
              "rank.validation-setting", "cloned.architectures")


@pytest.fixture(scope="module")
def written():
    return {name: getattr(rank, name)(QUICK) for name in
            ("prop31_main", "prop31_main_control", "mehler", "mehler_control", "eigen", "eigen_control",
             "hard_proof", "hard_proof_control", "growth", "growth_control", "figure31", "figure31_control",
             "validation_setting", "validation_setting_control")}


def test_every_as_written_id_has_a_check_and_a_control():
    for claim in AS_WRITTEN:
        names = [c.name for c in CLAIMS[claim].checks]
        assert names and any(n.endswith("control") for n in names), claim


def _printed_statements_and_refuted_controls(records: dict) -> None:
    """Controls: no as_written, the planted misprint named, refuted with a counterexample. The others: the
    printed statement and where, and a corrected form with a counterexample exactly when refuted. The
    records survive the JSON contract."""
    for name, ev in records.items():
        if name.endswith("control"):
            assert ev.setting["control"] and ev.setting["planted_misprint"] and "as_written" not in ev.setting
            assert ev.verdict == "refuted" and ev.counterexample, name
        else:
            aw = ev.setting["as_written"]
            assert aw["statement"] and aw["where"], name
            assert (ev.verdict == "refuted") <= bool(aw["corrected"] and ev.counterexample), name
    assert [e.to_json() for e in load_json(dump_json(list(records.values())))] == \
        [e.to_json() for e in records.values()]


def test_as_written_records_carry_the_printed_statement_and_controls_are_refuted(written):
    _printed_statements_and_refuted_controls(written)


def test_prop31_printed_fails_and_the_corrected_form_holds_as_eps_to_0(written):
    ev = written["prop31_main"]
    assert ev.verdict == "refuted" and ev.counterexample["activation"] == "relu"
    assert ev.counterexample["predicted_r_C_f_minus_1"] == 0.0 < ev.counterexample["r_C_f_minus_1"]
    corrected = rank.prop31_main(QUICK, form="corrected")
    holds = corrected.measured["holds_at_smallest_delta"]
    assert corrected.verdict == "qualified" and all(all(v) for v in holds.values())


def test_mehler_misprint_and_its_corrections(written):
    ev = written["mehler"]
    assert ev.verdict == "refuted" and ev.counterexample["k"] == ev.counterexample["l"] == 1
    assert rank.mehler(QUICK, readings=rank.MEHLER_CORRECTED).verdict == "proved"
    # the proof's chain with physicists' c_k is the kernel at variance 1/2, not 1
    assert ev.measured["chain_minus_true_kernel_variance_1/2 (generic cubic)"] == "0"
    assert ev.measured["chain_minus_true_kernel_variance_1 (generic cubic)"] != "0"


def test_eigen_and_gershgorin_steps_hold(written):
    assert written["eigen"].verdict == "proved" and written["hard_proof"].verdict == "confirmed"


def test_growth_condition_is_inverted_and_elu_never_grows(written):
    m = written["growth"].measured
    assert written["growth"].verdict == "refuted"
    assert {"relu", "softplus", "gelu", "silu"} <= set(m["members_where_b_over_a_to_minus_infinity_works"])
    elu = m["half_vanishing"]["elu"]["sequences"]["b/a → −∞ (a = c, b = −c²)"]["alpha"]
    assert elu[-1] < -0.99  # E f² → C² = 1 and α → −1
    assert all(s["rate_holds"] for r in m["plateauing"].values() for s in r["sequences"].values())


def test_figure31_reproduced(written):
    ev = written["figure31"]
    assert ev.verdict == "confirmed" and ev.measured["hard_rank_float64_at_a_mid"] == 20
    assert "shifting" in ev.setting["as_written"]["statement"]


def test_validation_setting_tracks_the_centred_alpha_and_can_confirm(written, monkeypatch):
    ev = written["validation_setting"]
    assert ev.verdict == "refuted"
    assert ev.measured["tracked_alpha"] == {"relu": "centred", "tanh": "centred", "gelu": "centred"}
    assert ev.measured["per_activation"]["relu"]["alpha"]["their_code"] == pytest.approx(0.0, abs=1e-6)

    def on_formula(f, eps, d, n, seed, dtype):  # a planted measurement that follows the formula exactly
        gain = rank.PAPER_ALPHA[f.name] * eps * np.log(d / eps)
        return spectra.effective_rank_equicorrelated(d, eps) * (1 + gain)
    monkeypatch.setattr(rank, "_their_curve", on_formula)
    assert rank.validation_setting(QUICK).verdict == "confirmed"


# ---- property tests: the rank machinery on random activations --------------------------------------

def _polynomial(coeffs):
    return gaussian.adhoc("poly", sum(sp.Rational(c) * z**k for k, c in enumerate(coeffs)))


polynomials = st.lists(st.integers(-3, 3), min_size=2,
                       max_size=5).filter(lambda c: any(c[1:])).map(_polynomial)
piecewise_linear = st.tuples(st.integers(-3, 3), st.integers(-3, 3), st.integers(-2, 2)).filter(
    lambda t: t[0] != t[1]).map(lambda t: gaussian.adhoc(
        f"pl{t}", sp.Piecewise((t[0] * (z - sp.Rational(t[2], 2)), z <= sp.Rational(t[2], 2)),
                               (t[1] * (z - sp.Rational(t[2], 2)), True))))
classics = st.tuples(st.sampled_from(["tanh", "sigmoid", "gelu", "softplus", "silu"]),  # analytic (ELU is C¹)
                     st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([-1.0, 0.0, 0.5])).map(
    lambda t: gaussian.adhoc(f"{t[0]}({t[1]}z+{t[2]})", activations.get(t[0]).expr.subs(
        z, sp.Float(t[1]) * z + sp.Float(t[2]))))
smooth_family = st.one_of(polynomials, classics)
family = st.one_of(polynomials, piecewise_linear, classics)


@settings(max_examples=12, deadline=None)
@given(f=smooth_family)
def test_alpha_is_the_hermite_ratio(f):
    """E f² = Σ a_k² and E f'² = Σ k a_k² (h_k' = √k h_{k−1}): the partial sums never exceed the moments
    (every term is ≥ 0), close in on them as K grows, and so give α_f = Σ k a_k²/Σ a_k² − 1 ≥ −1
    in the limit."""
    m = gaussian.moments(f)
    a = gaussian.hermite(f, gaussian.KMEHLER)
    k = np.arange(len(a))
    s0, s1 = np.cumsum(a**2), np.cumsum(k * a**2)
    assert m.alpha >= -1
    assert s0[-1] <= m.second * (1 + 1e-9) + 1e-12 and s1[-1] <= m.slope * (1 + 1e-9) + 1e-12
    assert m.slope - s1[-1] <= m.slope - s1[len(a) // 2] + 1e-12
    assert m.slope - s1[-1] <= 1e-3 * m.slope and m.second - s0[-1] <= 1e-6 * m.second


@settings(max_examples=12, deadline=None)
@given(slopes=st.tuples(st.integers(-3, 3), st.integers(-3, 3)).filter(lambda s: s[0] != s[1]),
       kink=st.integers(-2, 2))
def test_alpha_of_piecewise_linear_is_exact(slopes, kink):
    """f = s₁(z − k) on z ≤ k, s₂(z − k) above: E f'² = s₁²Φ(k) + s₂²Φ(−k) exactly, and α ≥ −1."""
    s1, s2 = slopes
    c = sp.Rational(kink, 2)
    f = gaussian.adhoc("pl", sp.Piecewise((s1 * (z - c), z <= c), (s2 * (z - c), True)))
    m = gaussian.moments(f)
    phi = float(sp.erfc(-c / sp.sqrt(2)) / 2)
    assert math.isclose(m.slope, s1**2 * phi + s2**2 * (1 - phi), rel_tol=1e-12)
    assert m.alpha >= -1


@settings(max_examples=10, deadline=None)
@given(f=family)
def test_lemma_law_on_random_activations(f):
    """1 − corr(f(X), f(Y)) = (α_f + 1) ε + o(ε) for every continuous f with f' ∈ L² (kinks included)."""
    m = gaussian.moments(f)
    eps = gaussian.represented(np.array([1e-7]))[0]
    assert abs(gaussian.decorrelation(f, eps)["uncentred"] / eps / (m.alpha + 1) - 1) < 1e-2


@settings(max_examples=10, deadline=None)
@given(f=smooth_family, n=st.sampled_from([20, 100, 1000]))
def test_effective_rank_formula_on_random_activations(f, n):
    """The effective-rank gain of C_f over C = (1 − δ)11ᵀ + δI equals the refined first-order formula
    (spectra.refined_gain) at small n·δ, and the excess r̃ − 1 is multiplied by about 1 + α_f."""
    m = gaussian.moments(f)
    delta = gaussian.represented(np.array([1e-9]))[0]
    df = gaussian.decorrelation(f, delta)["uncentred"]
    gain = spectra.effective_rank_equicorrelated(n, df) / spectra.effective_rank_equicorrelated(n, delta) - 1
    assert abs(spectra.refined_gain(m.alpha, n, delta) - gain) <= 0.02 * abs(gain) + 1e-12
    ratio = np.expm1(spectra.entropy_equicorrelated(n, df)) / np.expm1(spectra.entropy_equicorrelated(n,
                                                                                                      delta))
    correction = abs(math.log1p(m.alpha)) / math.log(n * math.e / delta)
    assert abs(ratio / (1 + m.alpha) - 1) <= 1.2 * correction + 1e-3


# ---- clones of a ResNet and a ViT ---------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: ResNet((1, 8, 8), (4, 6), 5), lambda: ViT((1, 8, 8), 4, 6, 2, 3, 2,
                                                                                    5, 5)],
                         ids=["resnet", "vit"])
def test_resnet_and_vit_clones_are_exact_in_float64_and_stay_under_sgd(make):
    torch.manual_seed(0)
    base = make().double()
    x, y = torch.randn(6, 1, 8, 8, dtype=torch.float64), torch.randint(0, 5, (6,))
    P = C.expand(C.widths(base), 3)
    wide = C.clone(base, P)
    assert C.forward_gap(base, wide, x) < 1e-13 and C.Gauge(wide, P).leaf().value == 0.0
    assert C.cloning_r2(wide, P, x, y).mean == pytest.approx(1.0, abs=1e-12)
    for model in (wide,):  # one SGD step keeps M_D (block-constant gradients)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert C.Gauge(wide, P).leaf().value < 1e-14
    # negative control: a random (Net2Net) split keeps the function but is not outgoing-equitable
    skew = C.clone(base, P, C.random_split(P, 0.5, torch.Generator().manual_seed(1)))
    assert C.forward_gap(base, skew, x) < 1e-13
    torch.nn.functional.cross_entropy(skew(x), y).backward()
    with torch.no_grad():
        for p in skew.parameters():
            p -= 0.1 * p.grad
    assert C.Gauge(skew, P, reference=C.clone(base, P, C.random_split(P, 0.5,
                                                                      torch.Generator().manual_seed(1)))
                   ).leaf().value > 1e-6


def test_architectures_check_and_its_control(monkeypatch):
    tiny = dataclasses.replace(cloned.SIZES[True], architectures=dataclasses.replace(
        cloned.SIZES[True].architectures, pretrain_steps=10, steps=12, probe=64))
    monkeypatch.setitem(cloned.SIZES, True, tiny)
    ev = cloned.architectures(QUICK)
    m = ev.measured
    assert all(m["exact_clone"].values()) and all(m["stays_under_sgd_and_adam"].values())
    assert all(m["broken_by_noise_and_dropout"].values()) and m["key_bias_gradient_is_zero"]
    assert ev.verdict in ("confirmed", "qualified", "refuted") and ev.setting["as_written"]["statement"]
    control = cloned.architectures_control(QUICK)
    assert control.verdict == "refuted" and control.setting["control"]


# ---- App. A.2, Remark 3.2, Example 3.3 and Validation 4 as written ----------------------------------

MORE = {cloned: ("forward_as_written", "forward_as_written_control", "base_network_as_written",
                 "base_network_as_written_control", "base_backward_as_written",
                 "base_backward_as_written_control", "backprop_as_written", "gradient_shorthand_as_written",
                 "backprop_as_written_control"),
        frozen: ("validation4_as_written", "validation4_as_written_control"),
        rank: ("remark_improved_rank", "remark_improved_rank_control", "example_modulation",
               "example_modulation_control")}


@pytest.fixture(scope="module")
def written_more():
    return {name: getattr(module, name)(QUICK) for module, names in MORE.items() for name in names}


def test_more_as_written_records_carry_the_printed_statement_and_controls_are_refuted(written_more):
    _printed_statements_and_refuted_controls(written_more)
    # a record that holds as printed has nothing to correct
    assert all(not ev.setting["as_written"]["corrected"] for ev in written_more.values()
               if "as_written" in ev.setting and ev.verdict in ("proved", "confirmed"))


def test_re_as_printed_is_outgoing_equitable_and_does_not_clone(written_more):
    ev = written_more["forward_as_written"]
    small = ev.counterexample["smallest"]
    assert ev.verdict == "refuted" and small["in_RE_as_printed"] and not small["in_CE"]
    assert small["h(h1.0)"] == pytest.approx(math.tanh(1)) and small["h(h1.1)"] == pytest.approx(math.tanh(2))
    assert cloned.forward_as_written(QUICK, form="corrected").verdict == "proved"


def test_base_network_divides_by_the_receiving_block_and_deltas_scale_by_block_size(written_more):
    for name in ("base_network_as_written", "base_backward_as_written"):
        ev = written_more[name]
        assert ev.verdict == "refuted" and ev.measured["corrected_form_verdict"] == "proved", name
    # the library: one sender feeding a block of 3 (each receiver gets 2) — printed 6, corrected 2
    G = net.mlp("1-1-3-1", activation="generic:f")
    P = partition(G, [["h2.0", "h2.1", "h2.2"]])
    w = {e: sp.Integer(2) if e[0] == "h1.0" and e[1].startswith("h2") else sp.Integer(1) for e in G.edges}
    _, right, _ = theory_cloned.base_network(G, P, w)
    _, printed, _ = theory_cloned.base_network(G, P, w, lambda si, sj: si)
    assert right[("h1.0", "h2.0")] == 2 and printed[("h1.0", "h2.0")] == 6
    assert right[("h2.0", "y0")] == 3 and printed[("h2.0", "y0")] == 1


def test_base_checks_say_false_when_the_base_network_is_wrong(monkeypatch):
    """Mutation: a base network built with the sending block's size makes the corrected forms fail."""
    real = theory_cloned.base_network
    monkeypatch.setattr(theory_cloned, "base_network", lambda G, P, w, divisor=None: real(G, P, w,
                                                                                         lambda si, sj: si))
    assert cloned.base_network_as_written(QUICK, form="corrected").verdict == "refuted"
    assert cloned.base_backward_as_written(QUICK, form="corrected").verdict == "refuted"


def test_backprop_definition_proves_and_the_proofs_shorthand_does_not(written_more):
    assert written_more["backprop_as_written"].verdict == "proved"
    assert written_more["backprop_as_written"].measured["components"] > 20
    assert written_more["gradient_shorthand_as_written"].verdict == "refuted"
    with pytest.raises(ValueError, match="accepted"):
        theory_cloned.backprop_residuals("transposed")


def test_validation4_selu_never_has_exactly_zero_gradients(written_more):
    m = written_more["validation4_as_written"].measured
    assert m["failing"] == ["selu"]
    assert m["per_activation"]["relu"]["P_exactly_zero"][1] == pytest.approx(1 - 2.866515719e-7, rel=1e-9)
    assert all(p == 0 for p in m["per_activation"]["selu"]["P_exactly_zero"])
    assert frozen.validation4_as_written(QUICK, form="corrected").verdict == "confirmed"


def test_remark32_fails_uncentred_and_holds_centred(written_more):
    ev = written_more["remark_improved_rank"]
    assert ev.verdict == "refuted" and {"sigmoid", "softplus", "hardsigmoid"} <= set(ev.measured["failing"])
    assert {"tanh", "gelu", "elu", "step"}.isdisjoint(ev.measured["failing"])
    assert written_more["remark_improved_rank_control"].setting["corrected_form_verdict"] == "confirmed"


@settings(max_examples=10, deadline=None)
@given(f=family, delta=st.sampled_from([1e-1, 1e-2, 1e-4]))
def test_centred_covariance_never_correlates_equicorrelated_features_more(f, delta):
    """Remark 3.2, corrected: Cov f has correlation Σ_{k≥1} a_k² ρ^k / Σ_{k≥1} a_k² ≤ ρ for ρ = 1 − δ ≥ 0, so
    the centred correlation gap is at least δ, and the uncentred one is (α_f + 1)δ to first order."""
    dec = gaussian.decorrelation(f, delta)
    assert dec["centred"] >= delta * (1 - 1e-9)


def test_example33_holds_and_alpha_of_relu_shift_changes_sign_at_zero(written_more):
    m = written_more["example_modulation"].measured
    assert written_more["example_modulation"].verdict == "confirmed"
    b, a = np.asarray(m["relu_b"]), np.asarray(m["relu_alpha"])
    assert np.all(a[b > 0] < 0) and np.all(a[b < 0] > 0) and a[-1] == pytest.approx(-1, abs=0.02)
