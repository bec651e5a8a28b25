"""Ranks of matrices: the one effective rank, hard ranks with stated tolerances, and the random
matrices the rank claims are tested on.

- Effective rank (Roy & Vetterli 2007): r̃ = exp(−Σ p_i log p_i), p_i = v_i / Σ v, the exponential
  of the entropy of a normalised non-negative spectrum. The caller chooses the spectrum: the
  eigenvalues of a PSD matrix (C_f = Hᵀ H / n, a covariance) or the singular values of a data matrix
  H. They give different numbers (the eigenvalues of Hᵀ H / n are σ_i² / n), so a result names which.
  For the equicorrelated matrix (1 − δ)11ᵀ + δI it has a closed form (``effective_rank_equicorrelated``).
- Hard rank: ``numerical_rank`` counts singular values above σ_max · max(m, n) · eps (numpy's
  default); ``psd_rank`` counts eigenvalues of a PSD matrix known to a given entrywise error, with
  Weyl's bound in the tolerance.
- Test matrices: a random correlation matrix of rank r (``correlation_of_rank``), Gaussian rows
  N(0, C) of exactly that rank (``sample_of_rank``) and activations applied to them (``apply``).

Small dense linear algebra runs on one thread (``theory.threads.one_thread``).
"""

from __future__ import annotations

import numpy as np
import torch

from theory.activations import Activation
from theory.threads import one_thread

# ---- effective rank ---------------------------------------------------------------------------------

def effective_rank(values: np.ndarray) -> float:
    """exp(−Σ p_i log p_i), p_i = v_i / Σ v over the given spectrum ``values``: eigenvalues of a PSD
    matrix or singular values of a data matrix, as the caller chooses (see the module docstring).
    Negative values (round-off eigenvalues) count as 0 and zeros drop out (0 log 0 = 0); a spectrum
    with no positive value (the zero matrix) has effective rank 0.

    >>> round(effective_rank(np.array([1.0, 1.0, 0.0, -1e-17])), 12), effective_rank(np.zeros(3))
    (2.0, 0.0)
    """
    lam = np.clip(np.asarray(values, float), 0.0, None)
    if not (lam > 0).any():
        return 0.0
    p = lam[lam > 0] / lam.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def entropy_equicorrelated(n: int, delta: np.ndarray) -> np.ndarray:
    """H = ln r̃ of the n×n matrix (1 − δ)11ᵀ + δI: eigenvalues n − (n−1)δ (once) and δ (n − 1 times),
    so p_1 = 1 − (n−1)δ/n, p_i = δ/n; log1p keeps it exact for tiny δ (and r̃ − 1 = expm1(H))."""
    delta = np.asarray(delta, float)
    q = (n - 1) * delta / n
    return -(1 - q) * np.log1p(-q) - q * np.log(delta / n)


def effective_rank_equicorrelated(n: int, delta: np.ndarray) -> np.ndarray:
    """r̃ of the n×n matrix (1 − δ)11ᵀ + δI (``entropy_equicorrelated``)."""
    return np.exp(entropy_equicorrelated(n, delta))


def refined_gain(alpha_f: float, n: int, eps: np.ndarray) -> np.ndarray:
    """First-order gain from the exact r̃ of an equicorrelated matrix: with q = (n−1)δ/n ≪ 1,
    ln r̃ ≈ q(1 + ln(n/δ)), and δ = (1 + α)ε gives
    r̃(C_f)/r̃(C) − 1 ≈ ((n−1)/n) ε [α(1 + ln(n/ε)) − (1 + α) ln(1 + α)];
    the paper's α ε ln(n/ε) is its leading term (relative corrections O(1/n) and O(1/ln(n/ε)))."""
    return (n - 1) / n * eps * (alpha_f * (1 + np.log(n / eps)) - (1 + alpha_f) * np.log1p(alpha_f))


# ---- hard rank --------------------------------------------------------------------------------------

def numerical_rank(M: np.ndarray) -> tuple[int, float]:
    """(rank, tolerance) with the tolerance σ_max · max(m, n) · eps_float64 (numpy's default)."""
    with one_thread():
        s = torch.linalg.svdvals(torch.as_tensor(M, dtype=torch.float64)).numpy()
    tol = s.max() * max(M.shape) * np.finfo(float).eps
    return int(np.sum(s > tol)), float(tol)


def psd_rank(M: np.ndarray, entry_error: float) -> tuple[int, float, float]:
    """(rank, λ_min, tolerance) of a symmetric PSD matrix known to ``entry_error`` per entry: an
    eigenvalue counts when it exceeds λ_max · d · eps + d · entry_error (Weyl)."""
    return psd_rank_of(np.linalg.eigvalsh((M + M.T) / 2), entry_error)


def psd_rank_of(lam: np.ndarray, entry_error: float) -> tuple[int, float, float]:
    """``psd_rank`` from the eigenvalues ``lam`` of the d × d matrix, when they are already known."""
    lam = np.asarray(lam, dtype=np.float64)
    d = len(lam)
    tol = lam.max() * d * np.finfo(float).eps + d * entry_error
    return int(np.sum(lam > tol)), float(lam.min()), float(tol)


def moment_spectrum(H: np.ndarray, centred: bool = False) -> np.ndarray:
    """Eigenvalues of Hᵀ H / n (H: n samples × d units), or of the covariance when ``centred``."""
    with one_thread():
        t = torch.as_tensor(H, dtype=torch.float64)
        if centred:
            t = t - t.mean(0)
        return torch.linalg.eigvalsh(t.T @ t / t.shape[0]).numpy()


# ---- test matrices ----------------------------------------------------------------------------------

def correlation_of_rank(d: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """A random d×d correlation matrix of rank r: normalised rows of a Gaussian d×r matrix."""
    W = rng.standard_normal((d, r))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W @ W.T


def sample_of_rank(C: np.ndarray, r: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows N(0, C) for a PSD C of rank r: X = G Bᵀ with B = V_r Λ_r^{1/2} (exactly rank r)."""
    lam, V = np.linalg.eigh(C)
    B = V[:, -r:] * np.sqrt(np.clip(lam[-r:], 0, None))
    G = rng.standard_normal((n, r))
    with one_thread():
        return (torch.as_tensor(G) @ torch.as_tensor(B).T).numpy()


def sample_equicorrelated(n: int, d: int, eps: float, seed: int, dtype: torch.dtype = torch.float64
                          ) -> np.ndarray:
    """n rows N(0, C), C = (1 − ε)11ᵀ + εI (d × d), drawn as the authors' validation draws them: torch's
    MultivariateNormal (a Cholesky factor of C in ``dtype``) from the seeded global stream, which is
    restored afterwards."""
    C = torch.full((d, d), 1 - eps, dtype=dtype) + eps * torch.eye(d, dtype=dtype)
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(seed)
        X = torch.distributions.MultivariateNormal(torch.zeros(d, dtype=dtype), C).sample((n,))
    return X.numpy()


def apply(f: Activation, X: np.ndarray) -> np.ndarray:
    """f(X) through the activation's torch function, in float64."""
    with torch.no_grad(), one_thread():
        return f.torch_fn(torch.as_tensor(X, dtype=torch.float64)).numpy()
