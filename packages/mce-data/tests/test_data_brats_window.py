"""Sliding-window inference: exact averaging, weight normalisation, full coverage, shapes."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from mce_data.sliding_window import sliding_window_inference, window_starts


def test_identity_predictor_returns_the_input_exactly() -> None:
    volume = torch.randn(3, 37, 29, 21, generator=torch.Generator().manual_seed(0))
    out = sliding_window_inference(volume, lambda x: x, roi=(16, 12, 8), overlap=0.5, batch_size=3)
    assert torch.equal(out, volume)


def test_ones_predictor_gives_ones_everywhere() -> None:
    volume = torch.zeros(2, 30, 30, 19)
    out = sliding_window_inference(volume, lambda x: torch.ones(x.shape[0], 5, *x.shape[2:]), roi=(8, 8, 8))
    assert out.shape == (5, 30, 30, 19)
    assert torch.equal(out, torch.ones_like(out))


def test_every_voxel_is_covered_and_windows_stay_inside() -> None:
    seen = torch.zeros(23, 17, 9)
    corners: list[tuple[int, ...]] = []

    def record(windows: Tensor) -> Tensor:
        for window in windows:
            # the window's voxel indices are encoded in channel 0
            index = window[0].long().flatten()
            seen.view(-1)[index] += 1
            corners.append(tuple(int(i) for i in torch.nonzero(window[0] == window[0].min())[0]))
        return windows

    volume = torch.arange(23 * 17 * 9, dtype=torch.float32).reshape(1, 23, 17, 9)
    sliding_window_inference(volume, record, roi=(8, 8, 8), overlap=0.5, batch_size=5)
    assert int(seen.min()) >= 1
    assert len(corners) == len(window_starts(23, 8, 0.5)) * len(window_starts(17, 8, 0.5)) * len(
        window_starts(9, 8, 0.5)
    )


def test_overlaps_are_averaged_by_hand() -> None:
    calls = iter(range(100))

    def window_number(windows: Tensor) -> Tensor:
        return torch.stack([torch.full(w.shape, float(next(calls))) for w in windows])

    out = sliding_window_inference(torch.zeros(1, 6, 4, 4), window_number, roi=(4, 4, 4), overlap=0.5, batch_size=1)
    # windows start at depth 0 and 2: depths 0-1 see window 0, 2-3 both (mean 0.5), 4-5 window 1
    assert out[0, :, 0, 0].tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]


def test_small_volume_is_padded_then_cropped_back() -> None:
    volume = torch.randn(2, 5, 40, 6)
    out = sliding_window_inference(volume, lambda x: x * 2, roi=(8, 16, 8))
    assert out.shape == volume.shape
    torch.testing.assert_close(out, volume * 2)


def test_window_starts_by_hand_and_bad_arguments() -> None:
    assert window_starts(240, 80, 0.5) == [0, 40, 80, 120, 160]
    assert window_starts(155, 80, 0.5) == [0, 40, 75]
    assert window_starts(80, 80, 0.5) == [0]
    with pytest.raises(ValueError, match="roi <= size"):
        window_starts(5, 8, 0.5)
    with pytest.raises(ValueError, match=r"Float\[C, D, H, W\]"):
        sliding_window_inference(torch.zeros(4, 4, 4), lambda x: x)
    with pytest.raises(ValueError, match="overlap"):
        sliding_window_inference(torch.zeros(1, 4, 4, 4), lambda x: x, roi=(2, 2, 2), overlap=1.0)
    with pytest.raises(ValueError, match="roi must be three"):
        sliding_window_inference(torch.zeros(1, 4, 4, 4), lambda x: x, roi=(2, 2))
    with pytest.raises(ValueError, match=r"predictor must return Float\[1, K, 2, 2, 2\]; got \(1, 1, 2, 2\)"):
        sliding_window_inference(torch.zeros(1, 4, 4, 4), lambda x: x[:, :, 0], roi=(2, 2, 2), batch_size=1)
