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
