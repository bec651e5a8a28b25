"""A researcher's own network and data, loaded and checked before any work (``--model``).

``FILE.py:NAME`` names a Python file and, in it, an ``nn.Module`` or a callable that returns one
(called without arguments). Data and targets are tensors saved with ``torch.save`` (read with
``weights_only=True``: no code runs) or ``.npy`` files (read without pickles). Everything is
validated up front, each problem raised as one ``ValueError`` line that names it and what is
accepted: a missing file or name, something that is not an ``nn.Module``, data that is not a
floating tensor of shape (samples, ...), NaN or inf in the data or the weights, data the model
cannot take, targets that do not match, a layer the probes cannot read.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from numerics.probes import Taps, check_data, check_finite_parameters, default_loss


@dataclass(frozen=True, eq=False)
class UserModel:
    """The loaded model (``spec`` as given), its data X and targets y (or None), the loss the checks
    train with (cross-entropy for class targets, mean squared error for targets like the output, or
    without targets the mean square of the output) and the model's taps on X."""

    spec: str
    model: nn.Module
    X: torch.Tensor
    y: torch.Tensor | None
    taps: Taps

    @property
    def loss(self) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
        return default_loss if self.y is not None else lambda out, _: out.pow(2).mean()

def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def load_module(spec: str) -> nn.Module:
    """The ``nn.Module`` that ``FILE.py:NAME`` names."""
    if ":" not in spec:
        raise ValueError(f"--model {spec!r}: expected FILE.py:NAME (a Python file and a name in it)")
    file, name = spec.rsplit(":", 1)
    path = Path(file)
    if path.suffix != ".py":
        raise ValueError(f"--model {spec!r}: {file!r} is not a .py file (expected FILE.py:NAME)")
    if not path.is_file():
        raise ValueError(f"--model {spec!r}: no such file {file!r}")
    if not name.isidentifier():
        raise ValueError(f"--model {spec!r}: {name!r} is not a Python name")
    module_name = f"lop_user_model_{abs(hash(str(path.resolve())))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    try:
        loader.loader.exec_module(module)
    except Exception as exc:
        raise ValueError(f"--model {spec!r}: importing {file} failed ({_one_line(exc)})") from None
    if not hasattr(module, name):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, nn.Module) or
                       (isinstance(v, type) and issubclass(v, nn.Module)) or
                       (callable(v) and not isinstance(v, type) and not n.startswith("_")
                        and getattr(v, "__module__", None) == module_name))
        raise ValueError(f"--model {spec!r}: {file} has no name {name!r} "
                         f"(modules and callables in it: {', '.join(found) or 'none'})")
    obj = getattr(module, name)
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ValueError(f"--model {spec!r}: {name} is a {type(obj).__name__}, not an nn.Module or a "
                         "callable "
                         "returning one")
    try:
        made = obj()
    except Exception as exc:
        raise ValueError(f"--model {spec!r}: calling {name}() failed ({_one_line(exc)})") from None
    if not isinstance(made, nn.Module):
        raise ValueError(f"--model {spec!r}: {name}() returned a {type(made).__name__}, not an nn.Module")
    return made


def load_tensor(path_text: str, flag: str) -> torch.Tensor:
    """A tensor from a ``torch.save`` file (weights only) or a ``.npy`` file (no pickles)."""
    path = Path(path_text)
    if not path.is_file():
        raise ValueError(f"{flag} {path_text!r}: no such file")
    try:
        if path.suffix == ".npy":
            value = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            with warnings.catch_warnings():  # a refused pickle also warns: the one line below says it
                warnings.simplefilter("ignore")
                value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{flag} {path_text!r}: not a tensor file that torch.load (weights only) or "
                         f"numpy.load (no pickles) can read ({type(exc).__name__})") from None
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{flag} {path_text!r} holds a {type(value).__name__}, not a tensor (save one "
                         "tensor "
                         "with torch.save, or a .npy array)")
    return value


def load(spec: str, data: str, targets: str | None = None, device: str = "cpu") -> UserModel:
    """The user's model, data and targets (moved to ``device``), every problem a one-line ValueError
    (module docstring)."""
    model = load_module(spec).to(device)
    try:
        check_finite_parameters(model)
    except ValueError as exc:
        raise ValueError(f"--model {spec!r}: {exc}") from None
    X = load_tensor(data, "--data")
    if not X.is_floating_point():
        raise ValueError(f"--data {data!r}: the inputs must be floating point, got {X.dtype} (convert them "
                         "before saving)")
    try:
        X = check_data(X, "--data")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--data {data!r}: {exc}") from None
    p = next(iter(model.parameters()), None)
    if p is None:
        raise ValueError(f"--model {spec!r}: the model has no parameters")
    X = X.to(dtype=p.dtype, device=p.device)
    model.eval()
    try:
        with torch.no_grad():
            out = model(X[:2])
    except Exception as exc:
        raise ValueError(f"--data {data!r}: the model does not take inputs of shape {tuple(X.shape[1:])} "
                         f"({_one_line(exc)})") from None
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"--model {spec!r}: the model returns a {type(out).__name__}, not a tensor")
    y = None
    if targets is not None:
        y = load_tensor(targets, "--targets")
        if y.dim() == 0 or len(y) != len(X):
            raise ValueError(f"--targets {targets!r}: {len(y) if y.dim() else 0} targets for {len(X)} "
                             "samples")
        if y.is_floating_point():
            if not torch.isfinite(y).all():
                raise ValueError(f"--targets {targets!r} contains NaN or inf")
            y = y.to(dtype=out.dtype, device=out.device)
        try:
            default_loss(out, y[:2])
        except Exception as exc:
            raise ValueError(f"--targets {targets!r}: {_one_line(exc)}") from None
    try:
        taps = Taps(model, X[:2])
    except ValueError as exc:
        raise ValueError(f"--model {spec!r}: {exc}") from None
    return UserModel(spec, model, X, y, taps)
