"""Per-sample scores f_acc (Eqs. 4 and 6): classification, Dice/IoU, regression."""

from __future__ import annotations

import pytest
import torch

from mce_losses import classification_score, dice_score, iou_score, regression_score


def test_classification_from_logits_and_labels() -> None:
    logits = torch.tensor([[0.1, 2.0, 0.3], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.4, 0.1]])
    target = torch.tensor([1, 1, 2, 0])
    expected = torch.tensor([1.0, 0.0, 1.0, 1.0])
    torch.testing.assert_close(classification_score(logits, target), expected)
    torch.testing.assert_close(classification_score(logits.argmax(-1), target), expected)


def test_dice_and_iou_per_sample() -> None:
    pred = torch.zeros(4, 2, 3, dtype=torch.bool)
    target = torch.zeros(4, 2, 3, dtype=torch.bool)
    pred[0, 0, :2] = True  # |P| = 2
    target[0, 0, 1:] = True  # |T| = 2, |P & T| = 1
    pred[1] = True  # perfect on a full mask
    target[1] = True
    target[2, 1, 1] = True  # missed the only foreground pixel
    # sample 3: both empty
    torch.testing.assert_close(dice_score(pred, target), torch.tensor([0.5, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(iou_score(pred, target), torch.tensor([1 / 3, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(dice_score(pred, target, empty=0.0)[3], torch.tensor(0.0))
    torch.testing.assert_close(iou_score(pred, target, empty=0.5)[3], torch.tensor(0.5))


def test_empty_target_with_foreground_prediction_scores_zero() -> None:
    pred = torch.tensor([[True, False]])
    target = torch.tensor([[False, False]])
    assert dice_score(pred, target).item() == 0.0
    assert iou_score(pred, target).item() == 0.0


def test_valid_mask_ignores_pixels() -> None:
    pred = torch.tensor([[True, True, False, False]])
    target = torch.tensor([[True, False, False, True]])
    valid = torch.tensor([[True, True, True, False]])  # the missed pixel is outside
    torch.testing.assert_close(dice_score(pred, target, valid=valid), torch.tensor([2 / 3]))
    torch.testing.assert_close(iou_score(pred, target, valid=valid), torch.tensor([0.5]))
    # a valid mask that broadcasts over the batch
    torch.testing.assert_close(dice_score(pred, target, valid=valid[0]), torch.tensor([2 / 3]))


def test_regression_tolerance_indicator() -> None:
    pred = torch.tensor([[1.0, 2.0], [1.0, 2.6], [float("nan"), 0.0]])
    target = torch.tensor([[1.1, 2.0], [1.0, 2.0], [0.0, 0.0]])
    torch.testing.assert_close(regression_score(pred, target, tolerance=0.5), torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(regression_score(pred[:, 1], target[:, 1], tolerance=0.5), torch.tensor([1.0, 0.0, 1.0]))


def test_scores_are_detached() -> None:
    logits = torch.randn(5, 3, requires_grad=True)
    assert not classification_score(logits, torch.zeros(5, dtype=torch.long)).requires_grad
    pred = torch.randn(5, requires_grad=True)
    assert not regression_score(pred, torch.zeros(5), tolerance=1.0).requires_grad
    masks = torch.rand(5, 4) > 0.5
    assert not dice_score(masks, masks).requires_grad
    assert not iou_score(masks, masks).requires_grad


def test_score_errors_name_what_came() -> None:
    with pytest.raises(ValueError, match=r"logits of shape \[N, C\] = \[2, C\]; got shape \[3, 4\]"):
        classification_score(torch.zeros(3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="target must be integer class indices"):
        classification_score(torch.zeros(2, 4), torch.zeros(2))
    with pytest.raises(TypeError, match=r"pred_mask must be a torch.bool tensor; got dtype torch.float32"):
        dice_score(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"same shape \[N, \*spatial\]; got \[2, 3\] and \[2, 4\]"):
        iou_score(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="valid must broadcast"):
        dice_score(torch.zeros(2, 3, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool), valid=torch.ones(4) > 0)
    with pytest.raises(ValueError, match=r"tolerance must be a finite number >= 0; got -1\.0"):
        regression_score(torch.zeros(2), torch.zeros(2), tolerance=-1.0)
    with pytest.raises(ValueError, match="empty must be a finite number >= 0"):
        dice_score(torch.zeros(1, 1, dtype=torch.bool), torch.zeros(1, 1, dtype=torch.bool), empty=float("nan"))
