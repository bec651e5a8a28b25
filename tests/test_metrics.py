"""numerics.metrics: each measure on matrices whose answer is known, streamed = whole, batches of
networks = one network at a time, and bad input named."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from numerics import metrics as M


def _layer(seed: int = 0, n: int = 200, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """ReLU activations with unit 1 dead, unit 3 a copy of unit 2, unit 4 alive on one sample."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(*batch, n, 6, generator=g, dtype=torch.float64)
    z[..., 1] = -z[..., 1].abs() - 0.1
    z[..., 3] = z[..., 2]
    z[..., 4] = -1.0
    z[..., 0, 4] = 0.5
    return z


def test_dead_measures_on_planted_units():
    z = _layer()
    h = torch.relu(z)
    assert M.exact_dead(z).tolist() == [False, True, False, False, False, False]
    assert M.paper_dead(h).tolist() == [False, True, False, False, True, False]  # one active sample
    assert not M.exact_dead(z, "leaky_relu").any()  # leaky ReLU has no flat set
    s = M.dormancy(h)
    assert s[1] == 0 and s[4] < 0.025 and M.dormant(h, 0.025)[4]
    assert math.isclose(float(s.mean()), 1.0)


def test_duplicates_ranks_and_moments():
    z = _layer()
    h = torch.relu(z)
    assert M.duplicates(h).tolist() == [False, False, True, False, False, False]
    assert M.duplicates(h, centred=True)[2]
    assert int(M.numerical_rank(h)) == 4  # dead unit and the copy drop out
    H = torch.eye(5, dtype=torch.float64)
    assert float(M.effective_rank(H)) == pytest.approx(5.0)
    assert float(M.stable_rank(H)) == pytest.approx(5.0)
    assert float(M.participation_ratio(H, centred=False)) == pytest.approx(5.0)
    one = torch.ones(7, 3, dtype=torch.float64)
    assert float(M.effective_rank(one)) == pytest.approx(1.0) and float(M.effective_rank(one, True)) == 0.0
    assert int(M.numerical_rank(torch.zeros(4, 3))) == 0
    # the usual stable rank and the paper's participation ratio differ on a skewed spectrum
    D = torch.diag(torch.tensor([3.0, 1.0, 1.0], dtype=torch.float64))
    assert float(M.stable_rank(D)) == pytest.approx(11 / 9)
    assert float(M.participation_ratio(D, centred=False)) == pytest.approx(121 / 83)


def test_streamed_equals_whole_and_batches_equal_single_networks():
    z = _layer(1, batch=(3,))
    h = torch.relu(z)
    stats = M.LayerStats("relu")
    for zc, hc in zip(z.split(17, dim=-2), h.split(17, dim=-2)):
        stats.add(zc, hc)
    assert torch.equal(stats.exact_dead(), M.exact_dead(z))
    assert torch.equal(stats.paper_dead(), M.paper_dead(h))
    assert torch.allclose(stats.dormancy(), M.dormancy(h))
    assert torch.allclose(M.effective_rank(stats.moments), M.effective_rank(h))
    for s in range(3):
        assert torch.equal(M.exact_dead(z)[s], M.exact_dead(z[s]))
        assert torch.equal(M.duplicates(h)[s], M.duplicates(h[s]))
        assert float(M.effective_rank(h, True)[s]) == pytest.approx(float(M.effective_rank(h[s], True)))
        assert int(M.numerical_rank(h)[s]) == int(M.numerical_rank(h[s]))


def test_saturation_depends_on_batch_size_and_the_invariant_version_does_not():
    g = torch.Generator().manual_seed(0)
    h = torch.rand(400, 5, generator=g, dtype=torch.float64) + 0.5
    per_sample = torch.full_like(h, 5e-4)  # ∂ℓ_i/∂h of each sample's own loss
    small, large = per_sample[:4] / 4, per_sample / 400  # the batch-mean loss of 4 and of 400 samples
    assert not M.saturated(h[:4], small).any() and M.saturated(h, large).all()
    assert torch.equal(M.saturated_invariant(h[:4], small), M.saturated_invariant(h, large))
    # an exactly dead unit (h ≡ 0) is not "saturated": the ratio divides by the 1e-12 floor
    h[:, 0] = 0
    assert not M.saturated(h, large)[0]


def test_certificates():
    W = torch.tensor([[-1.0, 2.0], [-1.0, -1.0], [0.0, 0.0]])
    b = torch.tensor([-1.0, -0.5, 0.0])
    zero, nonneg = torch.tensor([False, True]), torch.tensor([True, True])
    assert M.sign_certificate(W, b, zero, nonneg).tolist() == [True, True, False]
    assert M.sign_certificate(W, b, torch.tensor([False, False]), nonneg).tolist() == [False, True, False]
    assert not M.sign_certificate(W, b, zero, torch.tensor([False, True])).any()  # unknown-sign source
    assert M.norm_certificate(torch.tensor([1.0]), torch.tensor([-3.01]), 10).tolist() == [True]
    assert M.norm_certificate(torch.tensor([1.0]), torch.tensor([-2.99]), 10).tolist() == [False]


def test_block_sizes():
    assert M.block_sizes([0, 1, 1, 2, 2, 2]) == [3, 2]
    assert M.clone_redundancy(np.array([0, 1, 1, 2, 2, 2])) == 3


@pytest.mark.parametrize("fn", [M.exact_dead, M.paper_dead, M.dormancy, M.effective_rank, M.duplicates])
def test_bad_input_is_named(fn):
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="samples, units"):
        fn(torch.ones(3))
    with pytest.raises(TypeError, match="torch tensor"):
        fn(torch.nn.Sequential())
    with pytest.raises(ValueError, match="no samples"):
        fn(torch.ones(0, 3))


def _dense_spectrum(h: torch.Tensor, centred: bool) -> torch.Tensor:
    """The definition, straight: eigenvalues of HᵀH (or of the centred H's), U × U."""
    d = h.double()
    if centred:
        d = d - d.mean(-2, keepdim=True)
    return torch.linalg.eigvalsh(d.mT @ d).clamp_min(0.0)


@pytest.mark.parametrize("n", [3, 5, 40])  # fewer samples than units (sample side), and more
def test_the_sample_side_spectrum_is_the_unit_side_one(n):
    g = torch.Generator().manual_seed(n)
    z = torch.randn(n, 12, generator=g, dtype=torch.float64) + 0.3
    z[:, 1] = -1.0  # a dead unit
    z[:, 5] = z[:, 4]  # an exact clone
    h = torch.relu(z)
    m = M.Moments.of(h)
    assert (m._cols is not None) == (n < 12)  # the rows are kept only while they are the smaller side
    for centred in (False, True):
        lam = m.spectrum(centred)
        assert lam.shape == (12,)
        assert torch.allclose(lam, _dense_spectrum(h, centred), atol=1e-10 * float(lam.max()))
        # without the rows: the U × U side's round-off eigenvalues (~1e-16 λ_max where the true ones are
        # 0) enter the effective rank through their square roots, ~1e-8 σ_max each
        assert float(M.effective_rank(m, centred)) == pytest.approx(
            float(M.effective_rank(M.Moments(m.n, m.sum, m.gram), centred)), rel=1e-6)
    # the live, distinct columns: 10 of 12, and never more than the samples
    assert int(M.numerical_rank(m)) == min(n, 10)
    assert int(M.numerical_rank(m, centred=True)) == min(n - 1, 10)
    # a stream that passes the unit count drops the rows and gives the same numbers
    s = M.Moments.of(h[:2])
    for part in h[2:].split(7):
        s.add(part)
    assert torch.allclose(s.spectrum(True), m.spectrum(True), atol=1e-10 * float(m.spectrum(True).max()))
    assert int(M.numerical_rank(s)) == int(M.numerical_rank(m))


def test_batches_of_networks_on_the_sample_side():
    z = torch.relu(_layer(2, n=4, batch=(3,)))  # 4 samples of 6 units: the sample side, per network
    m = M.Moments.of(z)
    for s in range(3):
        one = M.Moments.of(z[s])
        assert torch.allclose(m.spectrum(True)[s], one.spectrum(True), atol=1e-12)
        assert int(M.numerical_rank(m)[s]) == int(M.numerical_rank(one))


def test_moment_inputs_caps_only_the_second_moments():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(10, 4, 3, 3, generator=g)  # a conv layer: 10 images, 4 channels, 3 × 3 positions
    capped, whole = M.LayerStats("relu", moment_inputs=6), M.LayerStats("relu")
    for part in z.split(4):  # chunks of 4 images: the cap falls inside the second chunk
        for s in (capped, whole):
            s.add_z(part, axis=1)
            s.add_h(torch.relu(part), axis=1)
    assert capped.inputs == 6 and capped.moments.n == 6 * 9 and capped.n == whole.n == 90
    assert torch.equal(capped.exact_dead(), whole.exact_dead())
    assert torch.equal(capped.paper_dead(), whole.paper_dead())
    assert torch.allclose(capped.dormancy(), whole.dormancy())
    first = torch.relu(z[:6]).movedim(1, -1).reshape(-1, 4).double()
    assert torch.allclose(capped.moments.gram, first.mT @ first)
    assert torch.allclose(capped.moments.sum, first.sum(0))
    with pytest.raises(ValueError, match="moment_inputs"):
        M.LayerStats("relu", moment_inputs=0)


def test_finite_finds_nan_and_inf_anywhere():
    t = torch.zeros(3, 1000)
    assert M.finite(t) and M.finite(torch.zeros(0))
    for bad in (float("nan"), float("inf"), -float("inf")):
        u = t.clone()
        u[2, 517] = bad
        assert not M.finite(u)
        with pytest.raises(ValueError, match="NaN or inf"):
            M.exact_dead(u)
