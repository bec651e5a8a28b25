"""The optimizer registry: every map is the torch optimizer it names, on numbers and on symbols."""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.train import TorchUpdate
from theory import updates
from theory.optimizers import HP_SYMBOLS

SHAPES = [(3, 4), (4,)]  # two parameter tensors: clipping and gradient noise use the global norm
DETERMINISTIC = [n for n in updates.OPTIMIZERS if n != "noisy_sgd"]


def _flat(tensors) -> np.ndarray:
    return np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in tensors])


def _torch_and_map(name: str, seed: int, steps: int, hp: dict | None = None,
                   noise_for_map=None) -> tuple[np.ndarray, np.ndarray]:
    """Run TorchUpdate and the registry map side by side on the same random θ and gradients."""
    rng = np.random.default_rng(seed)
    thetas = [rng.normal(size=s) for s in SHAPES]
    params = [torch.tensor(t.copy(), requires_grad=True) for t in thetas]
    opt = TorchUpdate(name, params, hp, generator=torch.Generator().manual_seed(seed))
    spec = updates.get(name)
    theta = _flat(thetas)
    state = spec.init_state(theta)
    for t in range(1, steps + 1):
        grads = [rng.normal(size=s) for s in SHAPES]
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        noise = noise_for_map(t) if noise_for_map else None
        opt.step()
        theta, state = spec.step(theta, _flat(grads), state, t, hp, noise)
    return _flat(p.detach() for p in params), theta


@settings(max_examples=6, deadline=None)
@given(name=st.sampled_from(DETERMINISTIC), seed=st.integers(0, 2**16), steps=st.integers(1, 6),
       max_norm=st.sampled_from([0.3, 100.0]))
def test_every_map_is_its_torch_optimizer(name, seed, steps, max_norm):
    """For every optimizer, θ after a few steps of the map equals θ after torch.optim (float64);
    clipping both active (c = 0.3) and inactive (c = 100)."""
    hp = {"max_norm": max_norm} if name == "clip" else None
    torch_theta, map_theta = _torch_and_map(name, seed, steps, hp)
    np.testing.assert_allclose(map_theta, torch_theta, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_each_map_matches_torch_over_several_steps(name):
    hp = {"max_norm": 0.5} if name == "clip" else None  # a name the optimizer lacks is refused
    torch_theta, map_theta = _torch_and_map(name, seed=1, steps=5, hp=hp)
    np.testing.assert_allclose(map_theta, torch_theta, rtol=1e-13, atol=1e-14)


def test_noisy_sgd_map_with_torchs_noise_sample():
    """Given the noise sample ξ that TorchUpdate draws (same generator, same order: one randn per
    parameter tensor), the map is exactly the torch step."""
    seed = 7
    replay = torch.Generator().manual_seed(seed)

    def noise(t):
        return _flat(torch.randn(s, generator=replay, dtype=torch.float64) for s in SHAPES)

    torch_theta, map_theta = _torch_and_map("noisy_sgd", seed, steps=4, noise_for_map=noise)
    np.testing.assert_allclose(map_theta, torch_theta, rtol=1e-13, atol=1e-14)


def test_noisy_sgd_is_deterministic_given_a_generator_and_has_unit_gaussian_noise():
    def one_step(seed: int) -> np.ndarray:
        p = torch.zeros(20000, dtype=torch.float64, requires_grad=True)
        p.grad = torch.zeros_like(p)
        p.grad[0] = 1.0  # ‖g‖ = 1, and every other coordinate has g = 0
        TorchUpdate("noisy_sgd", [p], {"lr": 1.0, "sigma0": 1.0},
                            generator=torch.Generator().manual_seed(seed)).step()
        return p.detach().numpy().copy()

    a, b = one_step(3), one_step(3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, one_step(4))
    xi = -a[1:]  # Δθ = −η σ‖g‖ ξ with η = σ = ‖g‖ = 1
    n = xi.size
    assert abs(xi.mean()) < 5 / np.sqrt(n) and abs(xi.var() - 1) < 5 * np.sqrt(2 / n)


def test_noisy_sgd_map_needs_a_noise_sample():
    spec = updates.get("noisy_sgd")
    with pytest.raises(ValueError, match="noise"):
        spec.step(np.zeros(2), np.ones(2), {}, 1)


@settings(max_examples=8, deadline=None)
@given(name=st.sampled_from(list(updates.OPTIMIZERS)), seed=st.integers(0, 2**16))
def test_symbolic_map_evaluated_at_numbers_is_the_numpy_map(name, seed):
    """The same code on dtype=object arrays of SymPy symbols, substituted afterwards, gives the
    numbers the numpy map gives (two steps, so the state is exercised)."""
    spec = updates.get(name)
    rng = np.random.default_rng(seed)
    n = 3
    theta_s = np.array(sp.symbols(f"th0:{n}", real=True), dtype=object)
    grads_s = [np.array(sp.symbols(f"g{t}_0:{n}", real=True), dtype=object) for t in (1, 2)]
    noise_s = [np.array(sp.symbols(f"xi{t}_0:{n}", real=True), dtype=object) for t in (1, 2)]
    hp_s = {k: HP_SYMBOLS[k] for k in spec.defaults}
    values = {s: rng.normal() for s in [*theta_s, *np.concatenate(grads_s), *np.concatenate(noise_s)]}
    values.update({HP_SYMBOLS[k]: v for k, v in spec.defaults.items()})

    theta_n = np.array([values[s] for s in theta_s])
    state_s, state_n = spec.init_state(theta_s), spec.init_state(theta_n)
    for t, (g_s, xi_s) in enumerate(zip(grads_s, noise_s), start=1):
        theta_s, state_s = spec.step(theta_s, g_s, state_s, t, hp_s, xi_s)
        theta_n, state_n = spec.step(theta_n, np.array([values[s] for s in g_s]), state_n, t, None,
                                     np.array([values[s] for s in xi_s]))
    evaluated = np.array([float(sp.sympify(e).subs(values)) for e in theta_s])
    np.testing.assert_allclose(evaluated, theta_n, rtol=1e-12, atol=1e-14)


def test_unknown_optimizer_names_the_accepted_ones():
    with pytest.raises(ValueError, match="sgd, momentum, nesterov, adam"):
        updates.get("lion")
    with pytest.raises(ValueError, match="accepted"):
        TorchUpdate("lion", [torch.zeros(2, requires_grad=True)])
