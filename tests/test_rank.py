"""The rank family: Gaussian/Hermite machinery (theory.gaussian), ranks (theory.spectra), the checks
(checks.rank) and their negative controls."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate

from checks import rank
from theory import activations, gaussian, spectra
from theory.activations import z
from theory.claims import family_claims
from theory.evidence import Config, Evidence, dump_json, load_json

QUICK = Config(quick=True, progress=False)
NON_POLYNOMIAL = sorted(n for n, a in activations.ACTIVATIONS.items() if not gaussian.is_polynomial(a))
ELEMENTARY = [n for n, a in activations.ACTIVATIONS.items() if gaussian.alpha_exact(a) is not None
              and not gaussian.jumps(a)]
CHECKS = ("hard", "hard_controls", "alpha", "lemma", "effective", "corollary", "corollary_maps", "validation")


@pytest.fixture(scope="module")
def evidence() -> dict[str, Evidence]:
    return {name: getattr(rank, name)(QUICK) for name in CHECKS}


# ---- machinery ---------------------------------------------------------------------------------------

def test_exact_gaussian_integrals():
    assert gaussian.gaussian_integral(z**4) == 3
    assert sp.simplify(gaussian.gaussian_integral(sp.exp(z)) - sp.exp(sp.Rational(1, 2))) == 0
    assert sp.simplify(gaussian.gaussian_integral(z, 0, sp.oo) - 1 / sp.sqrt(2 * sp.pi)) == 0
    assert gaussian.gaussian_integral(sp.tanh(z)) is None  # not elementary: quadrature's job


def test_selu_is_self_normalising():
    m = gaussian.moments(activations.get("selu"))
    assert abs(m.mean) < 1e-9 and abs(m.second - 1) < 1e-9


@pytest.mark.parametrize("name", ELEMENTARY)
def test_alpha_closed_form_equals_quadrature(name):
    """α from the exact Gaussian integrals and from composite Gauss–Legendre (and scipy's adaptive quad,
    independently) agree to 1e-8."""
    f = activations.get(name)
    exact = float(sp.N(gaussian.alpha_exact(f), 30))
    fn, dfn = gaussian.numeric(f.expr), gaussian.numeric(f.derivative)
    pts = gaussian.kinks(f)
    gl = gaussian.gauss(lambda x: dfn(x)**2, pts) / gaussian.gauss(lambda x: fn(x)**2, pts) - 1

    def quad(g):
        phi = lambda t: g(np.array(t)) * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        return integrate.quad(phi, -12, 12, points=pts or None, limit=200, epsabs=1e-14, epsrel=1e-13)[0]
    q = quad(lambda x: dfn(x)**2) / quad(lambda x: fn(x)**2) - 1
    assert abs(exact - gl) < 1e-8 and abs(exact - q) < 1e-8


def test_gelu_closed_form():
    closed = float(gaussian.gelu_alpha_closed_form())
    assert abs(closed - gaussian.moments(activations.get("gelu")).alpha) < 1e-12


def test_step_has_infinite_alpha_not_minus_one():
    """A jump puts a delta in f': E f'² = ∞ (the a.e. derivative would say α = −1)."""
    assert gaussian.jumps(activations.get("step")) == [(0.0, 1)]
    assert gaussian.moments(activations.get("step")).alpha == math.inf


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "step"])
@pytest.mark.parametrize("rho", [-1.0, -0.3, 0.5, 1 - 1e-4])
def test_kernel_quadrature_matches_arccos_closed_form(name, rho):
    f = activations.get(name)
    exact, _ = gaussian.kernel_gap(f, rho)
    assert gaussian.kernel_exact(f) is not None
    assert abs(gaussian.gap_quadrature(f, rho) - exact) <= 1e-12 * max(exact, 1e-300) + 1e-15


@pytest.mark.parametrize("rho", [-0.9, 0.2, 0.99])
def test_kernel_quadrature_reproduces_the_erf_arcsine_kernel(rho):
    """erf (not a registry activation): k(ρ) = (2/π) arcsin(2ρ/3) (Williams 1997)."""
    f = gaussian.adhoc("erf", sp.erf(z))
    gap, err = gaussian.kernel_gap(f, rho)
    k1 = 2 / math.pi * math.asin(2 / 3)
    assert abs(k1 - gap - 2 / math.pi * math.asin(2 * rho / 3)) < 1e-12 and err < 1e-9


def test_hermite_coefficients_and_mehler_sums():
    relu, tanh = activations.get("relu"), activations.get("tanh")
    a = gaussian.hermite(relu, 12)
    assert np.allclose(a, [float(x) for x in gaussian.hermite_exact(relu, 12)], atol=1e-12)
    b = gaussian.hermite(tanh)
    m = gaussian.moments(tanh)
    k = np.arange(len(b))
    assert abs(np.sum(b**2) - m.second) < 1e-12          # Parseval: Σ a_k² = E f²
    assert abs(np.sum(k * b**2) - m.slope) < 1e-10        # Σ k a_k² = E f'² = k'(1)


def test_mehler_identity_is_proved_symbolically():
    _, residual = gaussian.mehler_identity()
    assert residual == sp.zeros(3, 3)


def test_equicorrelated_effective_rank_closed_form():
    for n, delta in ((5, 0.3), (50, 1e-3), (200, 1e-6)):
        C = (1 - delta) * np.ones((n, n)) + delta * np.eye(n)
        assert math.isclose(spectra.effective_rank(np.linalg.eigvalsh(C)),
                            float(spectra.effective_rank_equicorrelated(n, np.array(delta))), rel_tol=1e-9)


def test_polynomial_rank_and_reflections():
    assert gaussian.polynomial_rank([0, 1, 2], 3) == (9, 10)   # |w| = 1 ties the constant to degree 2
    assert gaussian.polynomial_rank([1, 3], 4) == (20, 24)
    assert gaussian.reflection(activations.get("tanh")) == (-1, 0.0)
    s, c = gaussian.reflection(activations.get("sigmoid"))
    assert s == -1 and abs(c - 1) < 1e-12
    assert gaussian.reflection(activations.get("relu")) is None


def test_frozen_sets():
    assert gaussian.frozen_set(activations.get("relu"), 1e-4, 30.0) == [(-math.inf, 0.0)]
    (lo1, hi1), (lo2, hi2) = gaussian.frozen_set(activations.get("tanh"), 1e-4, 30.0)
    edge = math.acosh(1e2)  # sech²(x) = 1e-4
    assert lo1 == -math.inf and hi2 == math.inf and abs(hi1 + edge) < 1e-9 and abs(lo2 - edge) < 1e-9
    # |cos x| < 1e-4 only near (k + 1/2)π
    narrow = gaussian.frozen_set(gaussian.adhoc("sin", sp.sin(z)), 1e-4, 10.0, step=1e-2)
    assert len(narrow) == 6 and all(abs((hi - lo) - 2e-4) < 1e-9 for lo, hi in narrow)


# ---- the theorem, as a property ------------------------------------------------------------------

@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(NON_POLYNOMIAL), d=st.integers(3, 7), data=st.data())
def test_C_f_is_positive_definite_for_non_polynomial_f(name, d, data):
    """For every non-polynomial f and every correlation matrix with |C_ij| < 1 (rank-deficient included),
    C_f is positive definite: certified by λ_min(Σ_(k≤K) a_k² C^(∘k)) > 0, since the tail is PSD."""
    r = data.draw(st.integers(2, d))
    C = spectra.correlation_of_rank(d, r, np.random.default_rng(data.draw(st.integers(0, 2**31))))
    assume(np.max(np.abs(C - np.eye(d))) < 0.95)
    Cf, S, err = gaussian.kernel_matrix(activations.get(name), C)
    assert np.linalg.eigvalsh(S).min() > d * err + 1e-13
    assert np.linalg.eigvalsh(Cf).min() > 0


# ---- the checks ------------------------------------------------------------------------------------

def test_every_check_returns_evidence_with_a_computed_verdict(evidence):
    for name, ev in evidence.items():
        assert isinstance(ev, Evidence) and ev.claim.startswith("rank.") and ev.summary
        assert ev.check == name.replace("_", "-")  # the registered name, as before the refactor
        assert ev.figures or name == "hard_controls"
    text = dump_json(list(evidence.values()))  # strict JSON
    assert [e.figures for e in load_json(text)] == [e.figures for e in evidence.values()]  # figures are data
    assert set(evidence["alpha"].measured["alpha"]) == set(activations.ACTIVATIONS)
    registered = [(c.claim, c.name) for claim in family_claims("rank") for c in claim.checks
                  if not c.on_model]
    names = {e.check for e in evidence.values()}
    assert [(e.claim, e.check) for e in evidence.values()] == [r for r in registered if r[1] in names]


def test_every_figure_draws(evidence):
    """The report draws each figure from its data alone (log axes, bars, heatmaps with colour bars)."""
    import matplotlib.pyplot as plt

    from reports.figures import draw

    for ev in evidence.values():
        for figure in ev.figures:
            fig = draw(figure)
            assert len(fig.axes) >= len(figure.panels)
            plt.close(fig)


def test_alpha_refutes_the_stated_values(evidence):
    ev = evidence["alpha"]
    assert ev.verdict == "refuted" and ev.measured["alpha"]["relu"] == 0.0
    assert ev.counterexample["mismatches"]["relu"] == {"stated": 0.5, "computed": 0.0,
                                                        "centred": pytest.approx(0.46694, abs=1e-5)}
    assert ev.measured["matching_definitions"] == []


def test_a_paper_value_flips_the_alpha_verdict():
    ours = {n: round(gaussian.moments(activations.get(n)).alpha, 4) for n in rank.PAPER_ALPHA}
    centred = {n: round(gaussian.moments(activations.get(n)).alpha_centred, 4) for n in rank.PAPER_ALPHA}
    assert rank.alpha(QUICK, paper_alpha=ours).verdict == "confirmed"
    assert rank.alpha(QUICK, paper_alpha={**ours, "tanh": 0.6667}).verdict == "refuted"
    ev = rank.alpha(QUICK, paper_alpha=centred)
    assert ev.verdict == "qualified" and ev.measured["matching_definitions"] == ["centred"]


def test_negative_controls_behave_as_predicted(evidence):
    ev = evidence["hard_controls"]
    assert ev.verdict == "refuted" and ev.setting["control"] and ev.counterexample
    rows = ev.measured["controls"]
    assert all(r["as_predicted"] for r in rows.values())
    assert rows["relu, 5 pairs with C_ij = -1"]["rank_C_f"] == 50     # anti-duplicates: not always deficient
    assert rows["sigmoid, 5 pairs with C_ij = -1"]["rank_C_f"] == 46  # σ(−x) = 1 − σ(x)
    assert evidence["hard"].verdict == "confirmed"


def test_lemma_fails_exactly_for_the_discontinuous_activation(evidence, monkeypatch):
    ev = evidence["lemma"]
    assert ev.verdict == "qualified" and ev.measured["fails"] == ["step"]
    assert abs(ev.measured["per_activation"]["relu"]["deviation_order_p"] - 0.5) < 1e-3   # ε^(3/2) term
    assert abs(ev.measured["per_activation"]["step"]["power_q_of_1-corr"] - 0.5) < 1e-3   # 1 − corr ~ √ε
    monkeypatch.setattr(rank, "_registry", lambda: [activations.get("relu"), activations.get("tanh")])
    assert rank.lemma(QUICK).verdict == "confirmed"
    monkeypatch.setattr(rank, "_registry", lambda: [activations.get("step")])
    assert rank.lemma(QUICK).verdict == "refuted"


def test_effective_rank_formula_regimes(evidence, monkeypatch):
    ev = evidence["effective"]
    assert ev.verdict == "qualified"
    assert ev.measured["regimes"]["relu"]["kind"] == "nowhere"        # α = 0 predicts no gain
    assert ev.measured["regimes"]["tanh"]["largest_eps_by_n"][rank.N_SHOWN] is not None
    assert all(s["rel_diff"] < 0.1 for s in ev.measured["sampled"].values())
    monkeypatch.setattr(rank, "_registry", lambda: [activations.get("relu")])
    assert rank.effective(QUICK).verdict == "refuted"


def test_corollary_counterexample_and_maps(evidence):
    ev = evidence["corollary"]
    assert ev.verdict == "refuted" and ev.measured["examples_behave_as_stated"]
    assert ev.counterexample["alpha"] > 100 and ev.counterexample["P(|f'| < 1e-4), f = sin(sz)"] < 1e-4
    maps = evidence["corollary_maps"]
    assert maps.measured["relu_map_max_error_vs_closed_form"] < 1e-8
    assert set(maps.measured["spearman_alpha_vs_frozen"]) == set(rank.MAP_ACTIVATIONS)


def test_validation_hard_rank_is_full_for_every_non_polynomial(evidence):
    rows = evidence["validation"].measured["per_activation"]
    assert all(rows[n]["hard_rank"] == 50 for n in NON_POLYNOMIAL) and rows["identity"]["hard_rank"] == 10
