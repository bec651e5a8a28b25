"""Probes on any torch model: generated models (custom forwards with functional or module
activations, residual blocks, conv stacks) with planted dead units and exact clones, compared with
ground truth the models record themselves; certificates under training; the manifold dimension;
hook fallback; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from cases import modules as gen
from numerics import metrics as M
from numerics import probes as P
from numerics.models import CNN, MLP
from numerics.unitgraph import ProbeError

PROPERTY = settings(max_examples=25, deadline=None)


@st.composite
def specs(draw, activations=("relu", "relu6", "hardtanh", "tanh")):
    kind = draw(st.sampled_from(gen.KINDS))
    depth = draw(st.integers(1, 3))
    blocks = ("plain", *draw(st.lists(st.sampled_from(gen.BLOCKS), min_size=depth - 1, max_size=depth - 1)))
    widths = tuple(draw(st.integers(5, 7)) for _ in blocks)
    return gen.Spec(kind, draw(st.integers(1, 4)), widths, blocks, draw(st.sampled_from(activations)),
                    draw(st.sampled_from(gen.STYLES)), draw(st.integers(1, 3)), image=3)


def _truth(model: gen.Generated, X: torch.Tensor, activation: str) -> list[torch.Tensor]:
    """Exact dead from the z the model records itself (channels: every position is a sample)."""
    return [M.flat_mask(z.movedim(1, -1).reshape(-1, z.shape[1]) if z.dim() == 4 else z, activation).all(0)
            for z in model.pre_activations(X)]


def _planted(spec: gen.Spec, seed: int, n: int = 24):
    """A generated model with dead units 0, 1 at its first affine site, clones 2, 3 at a clone site
    (when it has one) and a near-dead unit (active on one sample) at the last affine site."""
    model = gen.Generated(spec, seed)
    g = torch.Generator().manual_seed(seed)
    X = spec.inputs(n, g)
    gen.plant_dead(model, X, 0, torch.tensor([0, 1]))
    clone_site = model.clone_sites()[-1] if model.clone_sites() else None
    if clone_site is not None:
        gen.plant_clone(model, clone_site, (2, 3))
    near = model.affine_sites()[-1]
    try:
        gen.plant_near_dead(model, X, near, spec.widths[model.sites()[near][1]] - 1)
    except ValueError:  # no single largest z (e.g. upstream units silent on most samples)
        near = None
    return model, X, clone_site, near


@PROPERTY
@given(specs(), st.integers(0, 2**16))
def test_probes_recover_the_planted_dead_units_and_clones_exactly(spec, seed):
    model, X, clone_site, near = _planted(spec, seed)
    m = P.measure(model, X)
    truth = _truth(model, X, spec.activation)
    assert [s.activation for s in m.sites] == [spec.activation] * len(truth)
    assert [layer.units for layer in m.layers] == [len(t) for t in truth]
    for layer, t in zip(m.layers, truth):
        assert torch.equal(layer.masks["exact_dead"], t)
    if spec.activation != "tanh":  # tanh has no flat set: nothing is exactly dead
        assert bool(m.layers[0].masks["exact_dead"][[0, 1]].all())
    else:
        assert not any(layer.exact_dead for layer in m.layers)
    # the near-dead unit: active on one sample, so not exactly dead and never certified
    if near is not None and spec.activation != "tanh":
        unit = spec.widths[model.sites()[near][1]] - 1
        assert not m.layers[near].masks["exact_dead"][unit]
        assert not m.layers[near].masks["certified_dead"][unit]
    # exact clones: the planted pair and nothing else
    expected = [[2] if k == clone_site else [] for k in range(len(truth))]
    assert [layer.clone_blocks for layer in m.layers] == expected


@PROPERTY
@given(specs(activations=("leaky_relu",)), st.integers(0, 2**16))
def test_leaky_relu_gives_no_dead_units_even_when_pushed_below_zero(spec, seed):
    model, X, _, _ = _planted(spec, seed)
    m = P.measure(model, X)
    assert all(layer.exact_dead == 0 and layer.certified_dead is None for layer in m.layers)


@PROPERTY
@given(specs(activations=("relu", "tanh")), st.integers(0, 2**16))
def test_a_near_clone_at_1e_6_is_no_exact_block(spec, seed):
    model = gen.Generated(spec, seed)
    assume(model.clone_sites())
    site = model.clone_sites()[0]
    gen.plant_clone(model, site, (0, 1))
    X = spec.inputs(16, torch.Generator().manual_seed(seed))
    assert P.measure(model, X).layers[site].clone_blocks == [2]
    gen.perturb(model, site, 1, 1e-6, torch.Generator().manual_seed(seed))
    assert all(layer.clone_blocks == [] for layer in P.measure(model, X).layers)


@settings(max_examples=15, deadline=None)
@given(specs(activations=("relu",)), st.integers(0, 2**16), st.sampled_from(["sgd", "adam"]))
def test_certified_units_stay_dead_under_training(spec, seed, optimizer):
    """The certificate's promise: certified units are exactly dead after every one of a few steps of
    any loss, and their incoming parameters do not move."""
    model, X, _, near = _planted(spec, seed)
    m = P.measure(model, X)
    certified = [layer.masks["certified_dead"] for layer in m.layers]
    assert all(not (c & ~layer.masks["exact_dead"]).any() for c, layer in zip(certified, m.layers))
    y = torch.randn(len(X), spec.out, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=0.5) if optimizer == "sgd" else \
        torch.optim.Adam(model.parameters(), lr=0.05)
    for step in range(5):
        batch = torch.randperm(len(X), generator=torch.Generator().manual_seed(step))[:8]
        opt.zero_grad()
        F.mse_loss(model(X[batch]), y[batch]).backward()
        opt.step()
        for c, t in zip(certified, _truth(model, X, "relu")):
            assert not (c & ~t).any()


def test_certificate_negative_controls():
    """A first-layer unit active on one sample is not certified; a deeper unit with one positive weight
    from a live unit is not; a BatchNorm unit is certified only by β + |γ|√(B·positions − 1) < 0."""
    spec = gen.Spec("mlp", 3, (6, 5), ("plain", "plain"), "relu", "module", 2)
    model = gen.Generated(spec, 3)
    X = spec.inputs(40, torch.Generator().manual_seed(0))
    gen.plant_near_dead(model, X, 0, 0)
    with torch.no_grad():
        model.inner[1].weight[2] = -model.inner[1].weight[2].abs()
        model.inner[1].bias[2] = -1.0
        model.inner[1].weight[3] = -model.inner[1].weight[3].abs()
        model.inner[1].weight[3, 4] = 1e-3  # one positive weight from a live unit
        model.inner[1].bias[3] = -1.0
    cert = P.certified_dead(model, X)
    assert not cert[0][0] and cert[1][2] and not cert[1][3]
    cnn = CNN((2, 4, 4), [3], [], 2, norm="batch").double()
    Xi = torch.randn(10, 2, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        cnn.norms[0].bias[0] = -1.01 * (8 * 4 - 1) ** 0.5  # B = 8, 2 × 2 positions after stride 2
        cnn.norms[0].bias[1] = -0.99 * (8 * 4 - 1) ** 0.5
    assert P.certified_dead(cnn, Xi, batch_size=8)[0].tolist() == [True, False, False]


def test_manifold_dimension_counts_frozen_and_cloned_parameters_by_hand():
    """4-5-3 MLP: unit 0 dead, units 1 and 2 clones. Frozen: unit 0's 4 weights and bias, and its 3
    outgoing weights (a dead ReLU's h is 0). Cloned: layer-1 rows of the block collapse (4 weights +
    bias once), the read-out's 3 × 2 columns to 3 × 1."""
    torch.manual_seed(0)
    model = MLP([4, 5, 3]).double()
    X = torch.randn(30, 4, dtype=torch.float64)
    with torch.no_grad():
        model.linears[0].bias[0] = -100.0
        model.linears[0].weight[0] = 0.0
        model.linears[0].weight[2] = model.linears[0].weight[1]
        model.linears[0].bias[2] = model.linears[0].bias[1]
        mean = model.linears[1].weight[:, 1:3].mean(1, keepdim=True)
        model.linears[1].weight[:, 1:3] = mean
    m = P.measure(model, X)
    assert m.layers[0].clone_blocks == [2] and m.layers[0].exact_dead == 1
    assert m.trapped == M.Trapped(parameters=43, free=43 - 8 - 5 - 3, frozen=8, cloned=8)


def _frozen_unit_gradients(activation: str, bias: float) -> tuple[torch.Tensor, torch.Tensor, P.Measurement]:
    """4-5-3 MLP in float64 with unit 0's bias set to ``bias``: autograd's gradient of a loss on its
    incoming row and on its outgoing column, and the probe's measurement."""
    torch.manual_seed(1)
    model = MLP([4, 5, 3], activation=activation).double()
    X = torch.randn(40, 4, dtype=torch.float64)
    with torch.no_grad():
        model.linears[0].bias[0] = bias
    loss = ((model(X) - torch.randn(40, 3, dtype=torch.float64)) ** 2).mean()
    loss.backward()
    g_in = torch.cat([model.linears[0].weight.grad[0], model.linears[0].bias.grad[:1]])
    return g_in, model.linears[1].weight.grad[:, 0], P.measure(model, X)


def test_a_dead_relus_outgoing_weights_are_pinned_a_saturated_tanhs_are_not():
    """The refinement of the trapped dimension, from ∂L/∂w(u→v) = Σ_n δ_v(n) h_u(n): a dead ReLU (h = 0)
    gets bitwise zero gradient on its incoming AND outgoing weights, and the count pins both (5 + 3); a
    tanh saturated to h = 1.0 in float64 (z = 100: 1 − h² = 0, so its incoming gradient is bitwise 0
    too) still gets a gradient on its outgoing weights — and tanh has no exact flat set, so nothing is
    pinned; hardtanh frozen at −1 (exactly flat, h = −1) pins its incoming parameters only."""
    g_in, g_out, m = _frozen_unit_gradients("relu", -100.0)
    assert torch.equal(g_in, torch.zeros_like(g_in)) and torch.equal(g_out, torch.zeros_like(g_out))
    assert m.layers[0].exact_dead == 1 and m.trapped.frozen == 5 + 3
    g_in, g_out, m = _frozen_unit_gradients("tanh", 100.0)
    assert torch.equal(g_in, torch.zeros_like(g_in)) and (g_out != 0).all()
    assert m.layers[0].exact_dead == 0 and m.trapped.frozen == 0
    g_in, g_out, m = _frozen_unit_gradients("hardtanh", -100.0)
    assert torch.equal(g_in, torch.zeros_like(g_in)) and (g_out != 0).all()
    assert m.layers[0].exact_dead == 1 and m.trapped.frozen == 5


def test_manifold_dimension_pins_silent_inputs_per_block():
    """Span arithmetic: 4 rows (two clone blocks, row 3 frozen) reading 6 inputs in 3 blocks with 2
    offsets; inputs 4 and 5 (block 2) silent. Free: 2 live row blocks × 2 live input blocks × 2; the
    frozen count: row 3's 12 entries plus the 3 live rows' 4 silent entries; a grouped (not dense)
    span ignores ``silent``."""
    span = M.Span(rows=np.array([0, 0, 1, 1]), frozen=np.array([False, False, False, True]), entries=12,
                  cols=np.array([0, 0, 1, 1, 2, 2]), k=2, silent=np.array([0, 0, 0, 0, 1, 1], dtype=bool))
    t = M.manifold_dimension([span], 48)
    assert t == M.Trapped(parameters=48, free=8, frozen=12 + 3 * 4, cloned=3 * 8 - 8)
    loud = M.manifold_dimension([M.Span(span.rows, span.frozen, 12, span.cols, 2)], 48)
    assert loud == M.Trapped(parameters=48, free=12, frozen=12, cloned=36 - 12)
    grouped = M.Span(span.rows, span.frozen, 6, span.cols, 2, span.silent)
    assert M.manifold_dimension([grouped], 24) == M.Trapped(24, free=12, frozen=6, cloned=18 - 12)


def test_torch_modules_people_write():
    """nn.Sequential (the issue's AttributeError), in-place ReLU, functional activations in a custom
    forward with a residual and pooling: every site found, z read before the in-place op."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(5, 6), nn.ReLU(inplace=True), nn.Linear(6, 6), nn.GELU(), nn.Linear(6, 2))
    with torch.no_grad():
        seq[0].bias[:2] = -50.0
    X = torch.randn(64, 5)
    m = P.measure(seq, X, torch.randint(0, 2, (64,)))
    assert [s.activation for s in m.sites] == ["relu", "gelu"]
    assert m.layers[0].exact_dead == 2 and m.layers[0].certified_dead == 2
    # two dead ReLUs pin their 5 + 1 incoming parameters and their 6 outgoing weights each
    assert m.layers[0].saturated is not None and m.trapped.frozen == 2 * 6 + 2 * 6

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            h = F.relu(self.bn(self.c1(x)))
            h = torch.relu(h + self.c2(h))
            return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))

    m = P.measure(Block(), torch.randn(8, 3, 6, 6))
    assert [(s.axis, s.units) for s in m.sites] == [(1, 4), (1, 4)]
    assert m.graph.supported and m.labels is not None and m.trapped.parameters == sum(
        p.numel() for p in Block().parameters())


def test_hook_fallback_when_tracing_fails():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.act = nn.Linear(3, 4), nn.Linear(4, 2), nn.ReLU()

        def forward(self, x):
            if x.sum() > 1e9:  # data-dependent control flow: fx cannot trace it
                return x
            return self.b(self.act(self.a(x)))

    torch.manual_seed(0)
    model = Branchy().double()
    with torch.no_grad():
        model.a.bias[1] = -100.0
        model.a.bias[[0, 2, 3]] = 1.0  # the others alive on these data
    X = torch.randn(20, 3, dtype=torch.float64)
    m = P.measure(model, X)
    assert m.notes and "hooks" in m.notes[0]
    assert m.layers[0].exact_dead == 1 and m.labels is None and m.trapped is None
    assert m.layers[0].certified_dead is None  # no unit graph: not certified, with the reason
    assert "no unit graph" in m.certificate.reasons[0]


def test_mlp_and_cnn_of_the_project_match_their_trace():
    torch.manual_seed(0)
    model, X = MLP([5, 7, 7, 2]), torch.randn(50, 5)
    with torch.no_grad():
        model.linears[1].bias[:3] = -100
    assert [t.tolist() for t in P.dead_units(model, X)] == \
        [M.exact_dead(z.detach()).tolist() for z in model.trace(X).z]
    cnn, Xi = CNN((2, 6, 6), [3, 4], [5], 2), torch.randn(9, 2, 6, 6)
    assert [t.tolist() for t in P.dead_units(cnn, Xi)] == \
        [M.exact_dead(z.detach()).tolist() for z in cnn.trace(Xi).z]


def test_probe_records_during_training():
    torch.manual_seed(0)
    model = MLP([4, 8, 3])
    X, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    probe = P.Probe(model, X, y).every(3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(7):
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
        probe.step()
    assert [t for t, _, _ in probe.history] == [3, 6]
    assert probe.history[0][1][0]["units"] == 8
    with pytest.raises(ValueError, match="positive integer"):
        probe.every(0)
    with pytest.raises(ValueError, match="spectra_samples"):
        P.Probe(model, X, y, spectra_samples=0)


def test_probe_spectra_come_from_the_first_spectra_samples_inputs():
    """Every measure is recorded; the second moments from the first ``spectra_samples`` inputs (the
    sample-side Gram when they are fewer than the units), the rest from all of X."""
    torch.manual_seed(1)
    model = MLP([5, 40, 30, 3])
    X, y = torch.randn(200, 5), torch.randint(0, 3, (200,))
    probe = P.Probe(model, X, y).every(1)
    assert probe.spectra_samples == P.Probe.SPECTRA_SAMPLES
    probe.spectra_samples = 16
    m = probe.step()
    head = P.measure(model, X[:16])
    whole = P.measure(model, X, y)
    for got, first, every in zip(m.layers, head.layers, whole.layers):
        assert got.samples == 200 and got.exact_dead == every.exact_dead
        assert got.paper_dead == every.paper_dead
        assert got.saturated == every.saturated and got.dormant == every.dormant
        assert got.effective_rank == pytest.approx(first.effective_rank, rel=1e-9)
        assert got.effective_rank_centred == pytest.approx(first.effective_rank_centred, rel=1e-9)
        assert got.numerical_rank == first.numerical_rank <= 16
        assert got.duplicates == first.duplicates
        assert None not in got.record().values()  # every measure recorded


# ---- bad input -------------------------------------------------------------------------------------------

def test_bad_models_and_data_are_named():
    X = torch.randn(10, 3)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="'0.weight' contains NaN"):
        P.dead_units(model, X)
    good = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(ValueError, match="X contains NaN"):
        P.certified_dead(good, torch.tensor([[1.0, float("inf"), 0.0]]))
    with pytest.raises(ValueError, match=r"shape \(samples, features"):
        P.measure(good, torch.randn(3))
    with pytest.raises(TypeError, match="nn.Module"):
        P.Taps(np.zeros(3), X)
    with pytest.raises(TypeError, match="torch tensor"):
        P.dead_units(good, [[1.0, 2.0, 3.0]])
    with pytest.raises(ProbeError, match="Mish"):
        P.measure(nn.Sequential(nn.Linear(3, 4), nn.Mish(), nn.Linear(4, 1)), X)
    with pytest.raises(ProbeError, match="negative_slope"):
        P.measure(nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1)), X)
    with pytest.raises(ProbeError, match="no activation"):
        P.measure(nn.Sequential(nn.Linear(3, 1)), X)
    with pytest.raises(ValueError, match="targets has 2 samples"):
        P.measure(good, X, torch.zeros(2, 1))


def _dead_by_full_forward(t: P.Taps, X: torch.Tensor, chunk: int) -> list[torch.Tensor]:
    """Exact dead from every site's whole z on every chunk: no early stop, no row slicing."""
    stats = [M.LayerStats(s.activation, moments=False) for s in t.sites]

    def see(i: int, which: str, v: torch.Tensor) -> None:
        if which == "z":
            stats[i].add_z(v, t.sites[i].axis)

    t.stream(X, see, chunk, flat=False)
    return [s.exact_dead() for s in stats]


@PROPERTY
@given(st.lists(st.integers(8, 40), min_size=1, max_size=4), st.integers(0, 2**16),
       st.sampled_from([torch.float32, torch.float64]), st.integers(3, 40))
def test_dead_units_early_stop_and_row_slices_give_the_full_forwards_dead_sets(widths, seed, dtype, chunk):
    """dead_units stops each chunk at the deepest undecided site and computes only undecided rows of a
    Linear there: the dead sets are those of the full forward on the same chunks (random MLPs and
    generated models, planted dead units at every depth, a unit alive on one sample only)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MLP([6, *widths, 3]).to(dtype).eval()
    X = torch.randn(120, 6, generator=g, dtype=dtype)
    with torch.no_grad():
        for k, lin in enumerate(model.linears[:-1]):
            dead = torch.randperm(lin.out_features, generator=g)[: lin.out_features // 2]
            lin.bias[dead] -= 50.0  # dead on these data
            if k:  # one more unit alive on few samples: decided late, in a sliced chunk
                lin.bias[dead[0]] += 50.0 - float(model.trace(X).z[k][:, dead[0]].max()) + 1e-3
    t = P.taps(model, X)
    assert sorted(t.sliceable) == list(range(len(widths)))
    assert [f.tolist() for f in P.dead_units(model, X, chunk=chunk, tapped=t)] == \
        [f.tolist() for f in _dead_by_full_forward(t, X, chunk)]
    spec = gen.Spec("mlp", 1, (7, 6), ("plain", "plain"), "relu", "module", 1, image=3)
    model2, X2, _, _ = _planted(spec, seed, n=40)
    t2 = P.taps(model2, X2)
    assert [f.tolist() for f in P.dead_units(model2, X2, chunk=chunk, tapped=t2)] == \
        [f.tolist() for f in _dead_by_full_forward(t2, X2, chunk)]


def test_dead_units_computes_row_slices_where_few_units_are_undecided(monkeypatch):
    torch.manual_seed(0)
    model, X = MLP([6, 64, 64, 3]).eval(), torch.randn(400, 6)
    with torch.no_grad():
        model.linears[1].bias[:4] = -100.0
    sliced = []
    rows = P._undecided_rows

    def spy(*args):
        sliced.append(rows(*args))
        return sliced[-1]

    monkeypatch.setattr(P, "_undecided_rows", spy)
    t = P.taps(model, X)
    found = P.dead_units(model, X, chunk=50, tapped=t)
    assert any(z is not None and z.shape[1] < 64 for z in sliced)
    assert [f.tolist() for f in found] == [f.tolist() for f in _dead_by_full_forward(t, X, 50)]
    assert found[1][:4].all()


def test_row_slices_defer_to_the_full_product_within_rounding_of_the_edge():
    lin = nn.Linear(3, 2).double()
    with torch.no_grad():
        lin.weight[:] = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]])
        lin.bias.zero_()
    units = torch.tensor([0])
    # z = 1 + 1e-20 − 1 is 1e-20 or 0 depending on the order of the sum: no decision from a slice
    near = torch.tensor([[1.0, 1e-20, -1.0]], dtype=torch.float64)
    assert P._undecided_rows(near, lin, units, "relu") is None
    # clearly on one side: decided from the slice (alive, then dead), and the same z as the full product
    x = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.25, 0.0]], dtype=torch.float64)
    for u in (0, 1):
        z = P._undecided_rows(x, lin, torch.tensor([u]), "relu")
        assert z is not None
        assert torch.equal(M.flat_mask(z, "relu").all(0), M.flat_mask(lin(x)[:, [u]], "relu").all(0))
    # an exactly-zero z is within rounding of ReLU's edge too (the bound has an underflow term)
    assert P._undecided_rows(torch.zeros(2, 3, dtype=torch.float64), lin, units, "relu") is None
    # a flat set whose end is not 0 or two intervals: no slices
    assert P._undecided_rows(x, lin, units, "relu6") is None
