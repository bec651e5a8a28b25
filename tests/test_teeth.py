"""Tests with teeth: each test here kills a deliberate single-point bug in code that decides a verdict,
one that passed every other test (issue 12's list, and the survivors of ``benchmarks/mutation.py``).
Each docstring names the bug it kills."""

import random

import numpy as np
import pytest
import sympy as sp
import torch

import checks.cloned
import checks.frozen
from cases import equivalence
from cases.generator import planted_dead
from checks import rank
from checks.common import optimizer_verdict
from numerics.metrics import exact_dead, flat_mask, paper_dead
from theory import activations, net
from theory import frozen as theory_frozen
from theory.evidence import Config
from theory.invariance import Proof, Reduction
from theory.net import Layered

QUICK = Config(quick=True, progress=False)


# ---- dead units at the kink ---------------------------------------------------------------------------

def test_a_relu_unit_at_exactly_zero_is_dead_and_one_just_above_is_alive():
    """Kills: the closed end of ReLU's flat set (−∞, 0] made open (z = 0 on a sample counted alive),
    and a kink shifted by ±1e-3 either way. torch's relu'(0) is 0, so z = 0 is flat."""
    z = torch.tensor([[-1.0, -1.0, -1.0, -1e-4],
                      [0.0, 1e-4, -5e-4, -2e-4],
                      [-2.0, -3.0, -1.0, -1e-4]], dtype=torch.float64)
    assert exact_dead(z).tolist() == [True, False, True, True]
    assert flat_mask(z)[1].tolist() == [True, False, True, True]
    zero = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.grad(torch.relu(zero).sum(), zero)[0].item() == 0.0  # the convention followed


def test_every_end_of_a_two_sided_flat_set_is_where_torch_says():
    """Kills: an open/closed flip or a 1e-3 shift at either end of hardtanh's flat set
    (−∞, −1] ∪ [1, ∞), and at relu6's 6."""
    for name, points in (("hardtanh", [-1.0 - 1e-4, -1.0, -1.0 + 1e-4, 1.0 - 1e-4, 1.0, 1.0 + 1e-4]),
                         ("relu6", [-1e-4, 0.0, 1e-4, 6.0 - 1e-4, 6.0, 6.0 + 1e-4])):
        z = torch.tensor(points, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(activations.get(name).torch_fn(z).sum(), z)
        assert flat_mask(z.detach(), name).tolist() == (g == 0).tolist(), name
        for k in range(len(points)):  # one unit per point, dead iff flat there
            assert bool(exact_dead(z.detach()[k:k + 1, None], name)[0]) == bool(g[k] == 0), (name, points[k])


def test_the_paper_threshold_is_1e7_on_more_than_95_percent():
    """Kills: the paper's dead threshold |h| < 1e-7 shifted by 1e-3 (or its fraction 95% moved, or
    > made ≥): units with |h| just below and above 1e-7, and exactly at the 95% boundary."""
    n = 100
    h = torch.zeros(n, 4, dtype=torch.float64)
    h[:, 0] = 5e-8            # below the threshold everywhere: dead
    h[:, 1] = 5e-4            # far below 1e-3 but above 1e-7: alive
    h[:95, 2], h[95:, 2] = 0.0, 1.0   # exactly 95% silent: not more than 95%, alive
    h[:96, 3], h[96:, 3] = 0.0, 1.0   # 96%: dead
    assert paper_dead(h).tolist() == [True, False, False, True]


# ---- the verdict rules -----------------------------------------------------------------------------------

def _proof(nonzero: bool, counterexample: dict | None = None, components: int = 1) -> Proof:
    x = sp.Symbol("x")
    value = x if nonzero else sp.Integer(0)
    return Proof("M", [Reduction(f"c{k}", value, value, value) for k in range(components)], counterexample)


def _run(proof: Proof) -> checks.cloned.Run:
    return checks.cloned.Run(case=None, network=None, quantity=None, samples=1, proof=proof)


def test_an_inconclusive_proof_never_becomes_proved_in_the_cloned_checks():
    """Kills: "inconclusive" turned into "proved" in ``checks.cloned._verdict`` (a component that does not
    reduce and has no counterexample), and a refuted run outranked by a proved one."""
    proved, open_, refuted = _proof(False), _proof(True), _proof(True, {"nonzero": {"c0": 1.0}})
    assert (proved.verdict, open_.verdict, refuted.verdict) == ("proved", "inconclusive", "refuted")
    assert checks.cloned._verdict([_run(proved), _run(open_)]) == ("inconclusive", None)
    assert checks.cloned._verdict([_run(open_), _run(refuted)])[0] == "refuted"
    assert checks.cloned._verdict([_run(proved)] * 2) == ("proved", None)
    assert _proof(False, components=0).verdict == "inconclusive"


def test_a_cloned_check_reports_an_undecided_component_as_inconclusive(monkeypatch):
    """The same through a whole check: the prover is made to return a component it cannot reduce."""
    real = checks.cloned.prove

    def undecided(*args, **kwargs):
        proof = real(*args, **kwargs)
        first = proof.reductions[0]
        proof.reductions[0] = Reduction(first.label, first.before, first.after, sp.Symbol("open"))
        proof.counterexample = None
        return proof

    monkeypatch.setattr(checks.cloned, "prove", undecided)
    ev = checks.cloned.forward(QUICK)
    assert ev.verdict == "inconclusive" and ev.counterexample is None


def test_the_gradient_descent_residual_has_a_bound(monkeypatch):
    """Kills: an unbounded residual tolerance in ``cloned.trajectory`` (GD leaving M_D by 1e-5 would still
    be "proved" next to the symbolic proof)."""
    real = checks.cloned.descent_run

    def leaves(case, seed, steps):
        out = real(case, seed, 1)
        return {**out, "max_residual_mpmath": 1e-5}

    monkeypatch.setattr(checks.cloned, "descent_run", leaves)
    ev = checks.cloned.trajectory(QUICK)
    assert ev.verdict == "inconclusive" and ev.measured["gd_max_residual_mpmath"] == 1e-5
    assert ev.measured["gd_tolerance"] < 1e-30


def test_the_incoming_only_control_sees_the_backward_signals_differ():
    """Kills: any bug that makes δ(v) − δ(v') vanish (``invariance.backward_differences``): the control
    needs a counterexample for δ as well as for the gradient."""
    ev = checks.cloned.control_incoming_only(QUICK)
    assert ev.verdict == "refuted" and ev.measured["delta_components_nonzero"] >= 1
    assert ev.counterexample["delta"] and ev.counterexample["forward_clones_proved"] is True


def test_the_frozen_vacuity_guard():
    """Kills: dropping the check that every component was non-zero before f'_u = 0 was substituted
    (``checks.frozen._generic_evidence``): a component that is 0 anyway proves nothing about frozen units.
    And ``theory.frozen.live`` itself: a component without f'_u is not live, one with it is."""
    G = net.mlp("1-1-1", activation="generic", output_activation="generic")
    x, c = sp.Symbol("x"), sp.Symbol("c")
    fprime = net.dphi_of(G)("h1.0", x)
    hypothesis = {fprime: sp.Integer(0)}
    rng = random.Random(0)
    assert theory_frozen.live(Reduction("a", c * fprime, 0, 0), hypothesis, rng)
    assert not theory_frozen.live(Reduction("b", c, c, c), hypothesis, rng)
    assert not theory_frozen.live(Reduction("z", sp.Integer(0), 0, 0), hypothesis, rng)
    component = checks.frozen._Component("h1.0", "∂L/∂w", sp.Integer(0), sp.Integer(0), False, None)
    ev = checks.frozen._generic_evidence([component], [], {"samples": 1}, "a net", 1)
    assert ev.verdict == "inconclusive"
    live_one = checks.frozen._Component("h1.0", "∂L/∂w", c * fprime, sp.Integer(0), True, None)
    assert checks.frozen._generic_evidence([live_one], [], {"samples": 1}, "a net", 1).verdict == "proved"


def test_the_rank_lemma_needs_both_a_small_and_a_shrinking_deviation():
    """Kills: ``and`` ↔ ``or`` in the rank lemma's criterion (``checks.rank._first_order``): the law holds
    only when the deviation at the smallest ε is within LEMMA_TOL *and* not larger than at the largest."""
    tol = rank.LEMMA_TOL
    assert rank._first_order(np.array([1.1, 1 + tol / 10]), 1.0)[1]
    assert not rank._first_order(np.array([1.5, 1.2]), 1.0)[1]                    # shrinking, too large
    assert not rank._first_order(np.array([1 + tol / 100, 1 + tol / 2]), 1.0)[1]  # small, but growing
    assert not rank._first_order(np.array([1.0, 1.0]), float("inf"))[1]


@pytest.mark.parametrize("invariant, agrees, counterexample, verdict", [
    (True, True, None, "proved"), (None, True, None, "qualified"), (False, True, {"x": 1}, "refuted"),
    (False, True, None, "inconclusive"), (True, False, None, "inconclusive"), (False, False, {"x": 1},
                                                                                  "inconclusive"),
])
def test_the_optimizer_verdict_rule(invariant, agrees, counterexample, verdict):
    """Kills: any change of ``checks.common.optimizer_verdict`` (one row per outcome)."""
    assert optimizer_verdict(invariant, agrees, counterexample) == verdict


# ---- survivors of benchmarks/mutation.py: the cloned controls --------------------------------------------

def test_a_control_without_a_refutation_is_inconclusive():
    """Kills: ``or`` → ``and`` in ``checks.cloned._control`` (no proof, or a proof that is not refuted)."""
    for proof in (None, _proof(False), _proof(True)):
        ev = checks.cloned._control(proof, "caught", {"seed": 0}, {}, [])
        assert ev.verdict == "inconclusive" and ev.setting["control"] is True


def test_the_incoming_only_control_needs_every_part_of_its_violation(monkeypatch):
    """Kills: ``and`` → ``or`` (or a forced ``if``) in ``control_incoming_only``'s caught rule: when the
    backward signals of the planted violation come out equal, the control is not caught. And the GD
    drift it reports starts at 0 (θ − θ0 at θ0) and grows."""
    ev = checks.cloned.control_incoming_only(QUICK)
    drift = ev.measured["gd_offset_residual_per_step"]
    assert drift[0] == 0 and drift[-1] > 1e-3 and len(drift) == 6
    assert ev.measured["forward_components_reduced_to_zero"] == ev.measured["forward_components"] > 0
    monkeypatch.setattr(checks.cloned, "backward_differences", lambda P: lambda *a: {"δ": sp.Integer(0)})
    ev = checks.cloned.control_incoming_only(QUICK)
    assert ev.verdict == "inconclusive" and ev.counterexample is None


def test_the_degree_condition_is_not_shown_necessary_when_gd_stays(monkeypatch):
    """Kills: "inconclusive" → "proved"/"qualified" in ``trajectory_unequal_degrees`` when exact GD does
    not leave M_D(w0) (here: every residual read as 0)."""
    monkeypatch.setattr(checks.cloned, "max_residual", lambda M, theta: 0.0)
    ev = checks.cloned.trajectory_unequal_degrees(QUICK)
    assert ev.verdict == "inconclusive" and ev.counterexample is None


# ---- survivors of benchmarks/mutation.py: colour refinement's tolerance -----------------------------------

def test_the_refinement_tolerance_is_relative_to_the_weights():
    """Kills: an absolute tolerance where ``_scale`` falls back to 1, or q = tol / scale instead of
    tol · scale: the partition of c · network is the partition of the network, for c from 1e-8 to 1e8
    (units 0 and 1 are exact clones, unit 2 differs by a relative 5e-4)."""
    W1 = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.001]])
    W2 = np.array([[0.5, 0.5, 1.0]])
    for c in (1e-8, 1.0, 1e8):
        P, _ = equivalence.coarsest_equitable_partition(Layered([c * W1, c * W2]))
        assert P.layer_labels(1).tolist() == [0, 0, 1], c


def test_units_1_5_tolerances_apart_are_never_merged_whatever_the_projections_propose():
    """Kills: a layer returned unverified when its random projections propose one pair (the early
    return for "all singletons" moved to n − 2): units whose single incoming weight differs by 1.5 q are
    within the projections' cut δ for most draws, and only the exact leader check splits them. The
    same for normalization features, whose blocks are verified at once (``settled``)."""
    for seed in range(6):
        P, _ = equivalence.coarsest_equitable_partition(
            Layered([np.array([[1.0], [1.0 + 1.5e-9]]), np.array([[1.0, 1.0]])]), seed=seed)
        assert P.layer_labels(1).tolist() == [0, 1], seed
        features = [np.array([[1.0], [1.0 + 7.5e-9], [5.0]])]  # q = 1e-9 · 5 (the column's largest)
        same = Layered([np.ones((3, 1)), np.ones((1, 3))], features=features)
        P, _ = equivalence.coarsest_equitable_partition(same, seed=seed)
        assert P.layer_labels(1).tolist() == [0, 1, 2], seed


# ---- survivors of benchmarks/mutation.py: the frozen verdict rules -----------------------------------------

def test_a_component_left_after_the_hypothesis_refutes_with_its_point_or_is_inconclusive():
    """Kills: "refuted" → "proved" and the first non-zero component read at the wrong index in
    ``checks.frozen._generic_evidence``."""
    c = sp.Symbol("c")
    left = checks.frozen._Component("h1.0", "∂L/∂w[x0->h1.0]", c, c, True, {"c": "1"})
    ev = checks.frozen._generic_evidence([left], [], {"samples": 1}, "a net", 1)
    assert ev.verdict == "refuted" and ev.counterexample["component"] == "∂L/∂w[x0->h1.0]"
    open_ = checks.frozen._Component("h1.0", "∂L/∂w[x0->h1.0]", c, c, True, None)
    assert checks.frozen._generic_evidence([open_], [], {"samples": 1}, "a net", 1).verdict == "inconclusive"


@pytest.mark.parametrize("exact, flt", [(sp.Rational(1, 3), 0.0), (sp.Integer(0), 1e-300)])
def test_a_planted_dead_unit_is_refuted_by_either_gradient(monkeypatch, exact, flt):
    """Kills: ``or`` → ``and`` in ``checks.frozen._planted_evidence``: a non-zero exact gradient with a
    float gradient of 0.0, or the other way round, is a hit (they are two independent computations)."""
    case = planted_dead(0, "relu", "mlp", n_samples=3)
    grads = ({e: exact for e in case.theta_f}, {e: flt for e in case.theta_f})
    monkeypatch.setattr(checks.frozen, "_case_gradients", lambda case: grads)
    ev = checks.frozen._planted_evidence([case], False, {"seed": 0})
    assert ev.verdict == "refuted" and ev.measured["cases_with_nonzero_gradient"] == 1


def test_the_box_condition_states_the_closed_kink():
    """Kills: the box check reading the kink's convention wrong (``flat_set.contains(0)`` asked of
    another point): relu'(0) = 0, so the dead condition is S ≤ 0, not S < 0."""
    ev = checks.frozen.manifold_box_condition(QUICK)
    assert ev.verdict == "proved" and "so dead ⇔ S ≤ 0" in ev.setting["convention"]
    assert ev.measured["sign_patterns"] == 27 and ev.measured["symbolic_failures"] == 0


def test_exact_dead_refuses_no_sample():
    """Kills: the empty-data guard of ``numerics.metrics.exact_dead`` removed (no sample, no verdict)."""
    with pytest.raises(ValueError, match="z has no samples"):
        exact_dead(torch.zeros(0, 3, dtype=torch.float64))


def test_certified_dead_without_biases():
    """Kills: the bias-free branch of ``metrics.sign_certificate`` removed (a crash) or certifying every
    unit: without a bias the first layer is certified by its fixed data alone (z = Wx ≤ 0 on X ≥ 0), the
    second layer, fed by a live unit, is not certified, and every certified unit is dead on the data."""
    from numerics.models import MLP
    from numerics.probes import certified_dead, dead_units

    model = MLP([3, 4, 4, 2], bias=False).double()
    with torch.no_grad():
        for lin in model.linears:
            lin.weight.copy_(-lin.weight.abs())
        model.linears[0].weight[3].abs_()  # one live first-layer unit feeds the second layer
    X = torch.rand(8, 3, dtype=torch.float64) + 0.1
    first, second = certified_dead(model, X)
    assert first.tolist() == [True, True, True, False] and not bool(second.any())
    on_data = dead_units(model, X)
    # dead on X (and, with W ≤ 0 on h ≥ 0, in fact forever: the sign rule asks for b < 0, so it is
    # conservative here, never wrong)
    assert bool(on_data[1].all())


def test_backward_differences_are_the_delta_of_the_recursion():
    """Kills: δ = ∂ℓ/∂h read at a perturbed point (ε = 1 instead of 0) in
    ``invariance.backward_differences``: on a 1-2-1 tanh network with an identity output and squared
    error, δ(h1.0) − δ(h1.1) = (ŷ − t)(w(h1.0, y0) − w(h1.1, y0))."""
    from theory.invariance import backward_differences
    from theory.partition import partition

    G = net.mlp("1-2-1", activation="tanh")
    P = partition(G, [["h1.0", "h1.1"]])
    w = net.weight_symbols(G)
    X, Y = net.input_symbols(G, 1), net.target_symbols(G, 1)
    (diff,) = backward_differences(P)(G, w, X, Y, "mse").values()
    yhat = net.forward(G, X[0], w)[1]["y0"]
    expected = (yhat - Y[0][0]) * (w[("h1.0", "y0")] - w[("h1.1", "y0")])
    assert sp.expand(diff - expected) == 0


def test_cloning_an_mlp_leaves_exactly_one_over_n_squared_of_its_hidden_to_hidden_weights():
    """Kills: the hidden-to-hidden count of ``checks.cloned.dimension`` reading the wrong layers or the
    wrong power (its summary states "hidden-to-hidden exactly 1/n²")."""
    ev = checks.cloned.dimension(QUICK)
    assert ev.verdict == "proved"
    for row in ev.measured["cloned_mlps"]:
        assert row["hidden_to_hidden_fraction"] == row["one_over_n_squared"] == 1 / row["n"] ** 2


# ---- survivors of benchmarks/mutation.py: the prover's pieces ---------------------------------------------

def test_no_counterexample_where_every_point_gives_zero():
    """Kills: the search in ``invariance.counterexample`` keeping a point where nothing was non-zero (an
    expression that SymPy's expansion leaves, but that is 0 at every point, would turn "inconclusive"
    into "refuted" with an empty counterexample)."""
    from theory.invariance import counterexample

    G = net.mlp("1-1-1", activation="tanh")
    x = sp.Symbol("x^(0)", real=True)
    assert counterexample(G, {}, {"sin² + cos² − 1": sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1}, seed=0) is None
    found = counterexample(G, {}, {"x": x}, seed=0)
    assert found is not None and list(found["nonzero"]) == ["x"]


def test_incoming_equitable_constrains_incoming_weights_and_outgoing_outgoing_ones():
    """Kills: ``direction == "in"`` negated in ``manifolds._equitable_rows`` (the two manifolds
    swapped; their intersection, which most tests use, is the same)."""
    from theory import manifolds
    from theory.partition import partition

    G = net.mlp("2-2-1")
    P = partition(G, [["h1.0", "h1.1"]])
    into = {e for row in manifolds.incoming_equitable(G, P).rows for k, _ in row
            for e in [manifolds.incoming_equitable(G, P).edges[k]]}
    out = {e for row in manifolds.outgoing_equitable(G, P).rows for k, _ in row
           for e in [manifolds.outgoing_equitable(G, P).edges[k]]}
    assert into and all(v in ("h1.0", "h1.1") for _, v in into)
    assert out and all(u in ("h1.0", "h1.1") for u, _ in out)


def test_the_block_constant_space_is_linear():
    """Kills: a non-zero right-hand side in ``manifolds.block_constant``: 0 is block-constant, and so is
    any sum of block-constant weights."""
    from theory import manifolds
    from theory.partition import partition

    G = net.mlp("2-2-1")
    BC = manifolds.block_constant(G, partition(G, [["h1.0", "h1.1"]]))
    assert BC.contains({e: sp.Integer(0) for e in BC.edges})
    theta, _ = BC.parametrize()
    assert BC.contains({e: 2 * theta[e] for e in BC.edges})


def test_the_box_condition_derivation_reads_s_at_most_zero():
    """Kills: the derivation of the box check showing another bound than S ≤ 0."""
    ev = checks.frozen.manifold_box_condition(QUICK)
    assert ev.derivation[-1]["text"].endswith("<= 0")


# ---- survivors of the mutation sample over the merged families' deciding code ------------------------

def test_a_silent_unit_is_dormant_at_tau_zero():
    """Kills: ReDo's rule s ≤ τ made s < τ in ``metrics.dormant``: a unit whose activations are all 0
    has score 0, which is ≤ 0 (dormant) but not < 0."""
    from numerics.metrics import dormant

    h = torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]], dtype=torch.float64)
    assert dormant(h, tau=0.0).tolist() == [True, False]


def test_saturation_needs_more_than_the_fraction_of_samples():
    """Kills: "more than 99% of the samples" made "at least 99%" in ``metrics._saturated``: exactly 99
    of 100 samples with a vanishing gradient is not saturated, 100 of 100 is."""
    from numerics.metrics import saturated

    h = torch.ones(100, 2, dtype=torch.float64)
    grad = torch.zeros(100, 2, dtype=torch.float64)
    grad[0, 0] = 1.0
    assert saturated(h, grad).tolist() == [False, True]


def test_the_manifolds_verdict_refutes_only_strictly_below_the_weak_bound():
    """Kills: ``ci95[1] < RHO_WEAK`` made ``≤`` in ``checks.continual.manifolds_verdict``: an interval
    reaching exactly the weak bound is not "below" it, so it is inconclusive, not refuted."""
    import checks.continual as cc

    at = {"estimate": 0.1, "ci95": [-0.1, cc.RHO_WEAK]}
    below = {"estimate": 0.1, "ci95": [-0.1, cc.RHO_WEAK - 1e-9]}
    assert cc.manifolds_verdict({"trapped": {"pooled": at, "within_configurations": at}}) == "inconclusive"
    assert cc.manifolds_verdict({"trapped": {"pooled": below, "within_configurations": below}}) == "refuted"


def test_a_normalization_without_shift_certifies_none_of_its_units():
    """Kills: the ``gamma is not None`` test of ``metrics.norm_certificate``'s shift-free branch
    inverted: a scale without a shift (β = 0) certifies no unit, one False per unit."""
    from numerics.metrics import norm_certificate

    assert norm_certificate(torch.ones(3), None, 4).tolist() == [False, False, False]
    assert norm_certificate(None, None, 4).tolist() == []


def test_dropout_keeps_the_sign_a_certificate_needs():
    """Kills: the dropout rule of ``unitgraph.certify`` dropped or inverted: dropout zeros or rescales by
    1/(1 − p) > 0, so ReLU outputs stay ≥ 0 after it, and a second-layer unit with weights ≤ 0 and a
    negative bias is certified dead through the dropout."""
    from numerics.models import MLP
    from numerics.probes import certified_dead

    model = MLP([3, 4, 2, 2], dropout=0.3).double()
    with torch.no_grad():
        model.linears[1].weight[0] = -model.linears[1].weight[0].abs()
        model.linears[1].bias[0] = -0.5
        model.linears[1].weight[1] = model.linears[1].weight[1].abs()
        model.linears[1].bias[1] = 0.5
    X = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert certified_dead(model, X)[1].tolist() == [True, False]


def test_a_pre_activation_used_elsewhere_gets_no_certificate_and_says_why():
    """Kills: ``certify`` certifying (or not explaining) a site whose pre-activation feeds another path:
    the parameters before it then move whatever the site does, so nothing is certified."""
    from numerics.probes import certified_dead
    from numerics.unitgraph import ProbeError

    class Skip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3 = (torch.nn.Linear(3, 4), torch.nn.Linear(4, 2), torch.nn.Linear(4, 2))
            with torch.no_grad():
                self.l1.weight.copy_(-self.l1.weight.abs())
                self.l1.bias.fill_(-1.0)  # every unit dead by the sign rule, were z used only here

        def forward(self, x):
            z = self.l1(x)
            return self.l2(torch.relu(z)) + self.l3(z)

    X = torch.rand(8, 3, dtype=torch.float64)
    with pytest.raises(ProbeError, match="its pre-activation is also used elsewhere"):
        certified_dead(Skip().double(), X)


def test_the_scale_of_a_normalization_enters_its_certificate():
    """Kills: γ ignored (or read when absent) in ``metrics.norm_certificate``: β + |γ|√(m − 1) < 0
    certifies the small-scale unit, not the large-scale one; without γ the scale is 1."""
    from numerics.metrics import norm_certificate

    gamma, beta = torch.tensor([0.1, 10.0]), torch.tensor([-1.0, -1.0])
    assert norm_certificate(gamma, beta, 4).tolist() == [True, False]
    assert norm_certificate(None, torch.tensor([-2.0, -1.0]), 4).tolist() == [True, False]


def test_the_sign_of_a_sum_follows_every_term():
    """Kills: a wrong state test in ``unitgraph._sum_state``: an unknown term leaves the sum unknown, a
    negative scale flips a sign, mixed signs are unknown."""
    from numerics.unitgraph import NONNEG, NONPOS, UNKNOWN, ZERO, _sum_state

    s = torch.tensor([UNKNOWN, ZERO, NONNEG, NONPOS], dtype=torch.int8)
    zero = torch.zeros(4, dtype=torch.float64)
    assert _sum_state([s], [1.0], zero).tolist() == [UNKNOWN, ZERO, NONNEG, NONPOS]
    assert _sum_state([s], [-2.0], zero).tolist() == [UNKNOWN, ZERO, NONPOS, NONNEG]
    nonneg, nonpos = torch.full((4,), NONNEG, dtype=torch.int8), torch.full((4,), NONPOS, dtype=torch.int8)
    assert _sum_state([nonneg, nonpos], [1.0, 1.0], zero).tolist() == [UNKNOWN] * 4
    assert _sum_state([s], [1.0], zero - 1).tolist() == [UNKNOWN, NONPOS, UNKNOWN, NONPOS]


class _Residual(torch.nn.Module):
    """h1 = relu(l1 x) dead by its signs; s = l2 h1 + h1; out = l3 relu(s), plus l4 of z1 or of l2 h1
    when ``leak`` names one of them."""

    def __init__(self, leak: str = ""):
        super().__init__()
        self.leak = leak
        self.l1, self.l2, self.l3, self.l4 = (torch.nn.Linear(3, 4), torch.nn.Linear(4, 4),
                                              torch.nn.Linear(4, 2), torch.nn.Linear(4, 2))
        with torch.no_grad():
            self.l1.weight.copy_(-self.l1.weight.abs())
            self.l1.bias.fill_(-1.0)
            self.l2.bias.fill_(-1.0)

    def forward(self, x):
        z1 = self.l1(x)
        h1 = torch.relu(z1)
        z2 = self.l2(h1)
        out = self.l3(torch.relu(z2 + h1))
        return out + self.l4({"z1": z1, "z2": z2}[self.leak]) if self.leak else out


def test_a_certificate_through_a_residual_sum():
    """Kills: ``unitgraph._single_chain`` walking past an activation (its other consumers do not move
    anything before it): h1 is certified dead, l2 h1 + h1 is then ≤ 0 forever, so the second site is
    certified too — but not when z1 (or a term of the sum, z2) also feeds another path (l4), which moves
    l1 (or l2)."""
    from numerics.probes import certified_dead, dead_units, taps
    from numerics.unitgraph import certify

    X = torch.rand(8, 3, dtype=torch.float64)
    first, second = certified_dead(_Residual().double(), X)
    assert bool(first.all()) and bool(second.all())
    for leak, site in (("z1", 0), ("z2", 1)):
        model = _Residual(leak).double()
        t = taps(model, X)
        cert = certify(t.unit_graph(), t.sites, dead_units(model, X, tapped=t), 256)
        assert not cert.dead[site].any() and "its pre-activation is also used elsewhere" in cert.reasons[site]
