"""Argument checks shared by the modules: each error says what was expected and what came."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, or a ``TypeError``/``ValueError`` that says so."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return value


def check_probability(name: str, value: object) -> float:
    """``value`` as a float in ``[0, 1)``, for dropout rates."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float; got {type(value).__name__} {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {value}")
    return float(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` as one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value


def check_features(features: object, n_modalities: int, dim: int) -> Tensor:
    """Validate ``Float[B, M, D]`` or ``Float[B, M, C, *spatial]`` features.

    Shapes are static under ``torch.compile``, so these checks cost no graph break.
    """
    if not isinstance(features, Tensor):
        raise TypeError(f"features must be a torch.Tensor; got {type(features).__name__}")
    if not features.is_floating_point():
        raise TypeError(f"features must be floating point; got dtype {features.dtype}")
    if features.ndim < 3:
        raise ValueError(
            "features must be [batch, modality, dim] or [batch, modality, channel, *spatial]; "
            f"got {features.ndim} dimensions, shape {list(features.shape)}"
        )
    if features.shape[1] != n_modalities:
        raise ValueError(
            f"features must have {n_modalities} modalities along dimension 1; "
            f"got {features.shape[1]} (shape {list(features.shape)})"
        )
    if features.shape[2] != dim:
        raise ValueError(
            f"features must have dim {dim} along dimension 2 (the channel axis of spatial maps); "
            f"got {features.shape[2]} (shape {list(features.shape)})"
        )
    return features


def check_present(present: object, features: Tensor) -> Tensor:
    """Validate the ``Bool[B, M]`` availability mask against ``features``."""
    if not isinstance(present, Tensor):
        raise TypeError(f"present must be a torch.Tensor; got {type(present).__name__}")
    if present.dtype != torch.bool:
        raise TypeError(f"present must be a bool tensor [batch, modality]; got dtype {present.dtype}")
    expected = tuple(features.shape[:2])
    if tuple(present.shape) != expected:
        raise ValueError(
            f"present must have shape {list(expected)} [batch, modality] to match features "
            f"{list(features.shape)}; got {list(present.shape)}"
        )
    if present.device != features.device:
        raise ValueError(f"present must live on {features.device}, the device of features; got {present.device}")
    return present
