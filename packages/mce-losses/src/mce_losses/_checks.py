"""Argument checks shared by the MCE functions: each error names what was expected and what came.

Private: the public functions call these first, so a wrong shape or dtype fails at the call
that received it rather than deep inside an index or a broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

MAX_MODALITIES = 16
"""The most modalities the subset enumeration accepts: it builds all ``2**M - 1`` subsets."""

_LISTED = 10


def listed(indices: Tensor) -> str:
    """``'[3, 7] (2 in total)'``: the first few entries of an index tensor, for messages."""
    shown = indices.flatten()[:_LISTED].tolist()
    more = ", ..." if indices.numel() > _LISTED else ""
    return f"{str(shown)[:-1]}{more}] ({indices.numel()} in total)"


def check_tensor(name: str, value: object) -> Tensor:
    """``value`` itself if it is a tensor, else a ``TypeError`` naming what came."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    return value


def check_floating(name: str, value: object) -> Tensor:
    """A floating-point tensor, else a ``TypeError`` that names the dtype received."""
    tensor = check_tensor(name, value)
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {tensor.dtype}")
    return tensor


def check_bool(name: str, value: object, hint: str = "") -> Tensor:
    """A ``torch.bool`` tensor, else a ``TypeError`` that names the dtype received."""
    tensor = check_tensor(name, value)
    if tensor.dtype != torch.bool:
        raise TypeError(f"{name} must be a torch.bool tensor; got dtype {tensor.dtype}{hint}")
    return tensor


def check_presence(present: object, name: str = "present") -> Tensor:
    """The presence matrix ``Bool[N, M]`` (``present[n, m]``: sample ``n`` has modality ``m``)."""
    tensor = check_bool(name, present, ". Convert a 0/1 mask with `.bool()`")
    if tensor.dim() != 2:
        raise ValueError(f"{name} must have shape [N, M] (samples, modalities); got shape {list(tensor.shape)}")
    if tensor.shape[1] < 1:
        raise ValueError(f"{name} must have at least one modality (column); got shape {list(tensor.shape)}")
    return tensor


def check_shape(name: str, tensor: Tensor, expected: Sequence[int], meaning: str) -> Tensor:
    """``tensor`` if its shape is ``expected``, else a ``ValueError`` that shows both."""
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {list(expected)} {meaning}; got shape {list(tensor.shape)}")
    return tensor


def check_device(name: str, tensor: Tensor, device: torch.device, reference: str) -> Tensor:
    """``tensor`` if it lives on ``device``, else a ``ValueError`` naming both devices."""
    if tensor.device != device:
        raise ValueError(f"{name} is on {tensor.device}; expected it on {device}, the device of {reference}")
    return tensor


def check_modalities(name: str, n_modalities: int) -> int:
    """The number of modalities for subset enumeration, between 1 and :data:`MAX_MODALITIES`."""
    if n_modalities < 1 or n_modalities > MAX_MODALITIES:
        raise ValueError(
            f"{name} must have between 1 and {MAX_MODALITIES} modalities to enumerate their 2**M - 1 subsets; "
            f"got {n_modalities}"
        )
    return n_modalities


def check_nonnegative_float(name: str, value: object) -> float:
    """``value`` as a finite float ``>= 0``, else a ``TypeError``/``ValueError`` that says so."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a float; got {type(value).__name__} {value!r}")
    number = float(value)
    if not number >= 0.0 or number == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return number


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_modality_vector(name: str, value: object, n_modalities: int, device: torch.device) -> Tensor:
    """A per-modality ``Float[M]`` factor on ``device``."""
    tensor = check_floating(name, value)
    check_shape(name, tensor, (n_modalities,), "(one value per modality)")
    return check_device(name, tensor, device, "present")
