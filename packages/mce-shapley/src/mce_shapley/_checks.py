"""Argument checks shared by the estimators: each error says what was expected and what came."""

from __future__ import annotations

import torch
from torch import Tensor

from mce_shapley.coalitions import MAX_PLAYERS

_LISTED = 10


def listed(indices: Tensor) -> str:
    """``'[3, 7] (2 in total)'``: the first few indices of a ``Long[K]`` tensor, for messages."""
    shown = indices[:_LISTED].tolist()
    more = ", ..." if indices.numel() > _LISTED else ""
    return f"{str(shown)[:-1]}{more}] ({indices.numel()} in total)"


def check_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``, or a ``TypeError``/``ValueError`` that says so."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{upper}; got {value}")
    return value


def check_n_players(n_players: object) -> int:
    """The number of players, between 1 and :data:`~mce_shapley.coalitions.MAX_PLAYERS`."""
    return check_int("n_players", n_players, minimum=1, maximum=MAX_PLAYERS)


def check_game_output(values: object, expected: tuple[int, ...], device: torch.device, form: str) -> Tensor:
    """Validate what a game returned.

    Args:
        values: the game's return value.
        expected: the shape it must have (``(K, N)`` dense, ``(R,)`` row-wise).
        device: where the availability matrix lives; the values must live there too.
        form: ``"dense"`` or ``"row-wise"``, for the message.
    """
    if not isinstance(values, Tensor):
        raise TypeError(f"the {form} game must return a torch.Tensor; got {type(values).__name__}")
    if not values.is_floating_point():
        raise TypeError(
            f"the {form} game must return floating-point values; got dtype {values.dtype}. "
            "Cast 0/1 scores with `.float()`"
        )
    if tuple(values.shape) != expected:
        meaning = "[coalitions, samples]" if form == "dense" else "[rows]: one value per (sample, coalition) row"
        raise ValueError(f"the {form} game returned shape {list(values.shape)}; expected {list(expected)} {meaning}")
    if values.device != device:
        raise ValueError(
            f"the {form} game returned values on {values.device}; expected them on {device}, the device of `available`"
        )
    return values


def raise_if_nonfinite(bad: Tensor) -> None:
    """Raise if any sample saw a NaN or infinite game value.

    Args:
        bad: ``Bool[N]`` or ``Long[N]``, nonzero for samples whose game returned NaN/inf on
            a coalition they needed. Reading it is the one host synchronisation at the end.
    """
    if bool(bad.any()):
        rows = bad.nonzero().flatten().cpu()
        raise ValueError(
            f"the game returned NaN or inf for samples {listed(rows)}; "
            "Shapley values need finite game values on every coalition of available players"
        )
