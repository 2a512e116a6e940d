"""Sliding-window inference over a whole 3-D volume with a model trained on fixed-size crops.

The BraTS models see 80³ training crops; at test time the full 240×240×155 volume is tiled with
windows of that size overlapping by ``overlap`` (50 % by default), every window is predicted, and
each voxel's output is the plain average of the windows that cover it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional

Predictor = Callable[[Tensor], Tensor]


def window_starts(size: int, roi: int, overlap: float) -> list[int]:
    """Start offsets of windows of length ``roi`` covering ``range(size)`` with the given overlap.

    The stride is ``max(1, int(roi * (1 - overlap)))``; the last window is shifted back so it ends
    exactly at ``size`` (so every index is covered and no window leaves the volume).
    ``size`` must be ``>= roi`` (pad first otherwise).

    >>> window_starts(10, 4, 0.5)
    [0, 2, 4, 6]
    >>> window_starts(11, 4, 0.5)
    [0, 2, 4, 6, 7]
    """
    if roi < 1 or size < roi:
        raise ValueError(f"need 1 <= roi <= size; got roi={roi}, size={size}")
    stride = max(1, int(roi * (1.0 - overlap)))
    starts = list(range(0, size - roi + 1, stride))
    if starts[-1] != size - roi:
        starts.append(size - roi)
    return starts


def _check_roi(roi: Sequence[int]) -> tuple[int, int, int]:
    if len(roi) != 3 or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in roi):
        raise ValueError(f"roi must be three positive ints (depth, height, width); got {tuple(roi)!r}")
    return (roi[0], roi[1], roi[2])


@torch.no_grad()
def sliding_window_inference(
    volume: Tensor,
    predictor: Predictor,
    roi: Sequence[int] = (80, 80, 80),
    overlap: float = 0.5,
    batch_size: int = 4,
) -> Tensor:
    """Predict a whole volume window by window and average the overlaps.

    Args:
        volume: ``Float[C, D, H, W]``, one case (channels first). A dimension smaller than the
            window is zero-padded at its end for the prediction and cropped back afterwards.
        predictor: maps ``Float[B, C, d, h, w]`` windows (``(d, h, w) = roi``) to
            ``Float[B, K, d, h, w]`` outputs (logits or probabilities); called without grad.
        roi: the window size ``(d, h, w)``.
        overlap: fraction of a window shared with its neighbour along each axis, in ``[0, 1)``.
        batch_size: windows per predictor call.

    Returns:
        ``Float[K, D, H, W]`` on the volume's device: for each voxel, the mean of the predictions
        of all windows that contain it (accumulated in float64, so averaging identical window
        outputs returns them exactly).

    >>> volume = torch.arange(2 * 5 * 6 * 7, dtype=torch.float32).reshape(2, 5, 6, 7)
    >>> out = sliding_window_inference(volume, lambda x: x, roi=(4, 4, 4), overlap=0.5)
    >>> torch.equal(out, volume)
    True
    """
    if not isinstance(volume, Tensor) or volume.ndim != 4:
        shape = tuple(volume.shape) if isinstance(volume, Tensor) else type(volume).__name__
        raise ValueError(f"volume must be a Float[C, D, H, W] tensor; got {shape}")
    window = _check_roi(roi)
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1); got {overlap}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")

    spatial = tuple(volume.shape[1:])
    padded_size = tuple(max(s, r) for s, r in zip(spatial, window, strict=False))
    pad = [0, padded_size[2] - spatial[2], 0, padded_size[1] - spatial[1], 0, padded_size[0] - spatial[0]]
    padded = functional.pad(volume, pad) if any(pad) else volume

    corners = [
        (d, h, w)
        for d in window_starts(padded_size[0], window[0], overlap)
        for h in window_starts(padded_size[1], window[1], overlap)
        for w in window_starts(padded_size[2], window[2], overlap)
    ]
    total: Tensor | None = None
    out_dtype = torch.float32
    count = torch.zeros((1, *padded_size), dtype=torch.float64, device=volume.device)
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        crops = torch.stack([padded[:, d : d + window[0], h : h + window[1], w : w + window[2]] for d, h, w in chunk])
        out = predictor(crops)
        if not isinstance(out, Tensor) or out.ndim != 5 or out.shape[0] != len(chunk) or tuple(out.shape[2:]) != window:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"predictor must return Float[{len(chunk)}, K, {window[0]}, {window[1]}, {window[2]}]; got {got}"
            )
        if total is None:
            out_dtype = out.dtype if out.is_floating_point() else torch.float32
            total = torch.zeros((out.shape[1], *padded_size), dtype=torch.float64, device=volume.device)
        for (d, h, w), piece in zip(chunk, out, strict=False):
            total[:, d : d + window[0], h : h + window[1], w : w + window[2]] += piece.to(torch.float64)
            count[:, d : d + window[0], h : h + window[1], w : w + window[2]] += 1.0
    assert total is not None  # at least one window always exists
    mean = total.div_(count)  # in place: the sum is the largest tensor here (many output channels, whole volumes)
    return mean[:, : spatial[0], : spatial[1], : spatial[2]].to(out_dtype)
