"""Per-sample scores ``f_acc``: the coalition values of Eq. 4 and the unimodal upper bounds of Eq. 6.

Each function returns ``Float[N]``, one score per sample, computed without gradient (the result
is detached whatever the inputs require): scores feed Shapley values and factor B, which are
incentives, never losses.

* classification: 1.0 where the arg-max class is the target, else 0.0;
* segmentation: Dice or IoU of binary masks per sample, with a chosen value when prediction and
  target are both empty (default 1.0: nothing to find and nothing found is a perfect answer);
* regression: 1.0 where the prediction is within an absolute tolerance of the target.

>>> import torch
>>> classification_score(torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.0, 0.0]]), torch.tensor([0, 0, 0])).tolist()
[1.0, 0.0, 1.0]
>>> pred = torch.tensor([[True, True, False, False], [False, False, False, False]])
>>> target = torch.tensor([[True, False, False, False], [False, False, False, False]])
>>> dice_score(pred, target).double().round(decimals=4).tolist()  # 2*1/(2+1); both empty -> 1.0
[0.6667, 1.0]
>>> iou_score(pred, target, empty=0.0).double().round(decimals=4).tolist()
[0.5, 0.0]
>>> regression_score(torch.tensor([1.0, 2.5]), torch.tensor([1.2, 2.0]), tolerance=0.25).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import torch
from torch import Tensor

from mce_losses._checks import check_bool, check_floating, check_nonnegative_float, check_tensor


def classification_score(prediction: Tensor, target: Tensor) -> Tensor:
    """0/1 correctness per sample (Eq. 4 for classification).

    Args:
        prediction: ``Float[N, C]`` logits or probabilities (the arg-max over the last dim is the
            predicted class), or ``Long[N]`` predicted class indices.
        target: ``Long[N]`` class indices.

    Returns:
        ``Float[N]`` (the default float dtype), 1.0 where the prediction is the target, detached.
    """
    check_tensor("prediction", prediction)
    check_tensor("target", target)
    if target.dim() != 1 or target.is_floating_point() or target.dtype == torch.bool:
        raise ValueError(
            f"target must be integer class indices of shape [N]; got dtype {target.dtype}, shape {list(target.shape)}"
        )
    with torch.no_grad():
        if prediction.is_floating_point():
            if prediction.dim() != 2 or prediction.shape[0] != target.shape[0]:
                raise ValueError(
                    f"floating-point prediction must be logits of shape [N, C] = [{target.shape[0]}, C]; "
                    f"got shape {list(prediction.shape)}"
                )
            labels = prediction.argmax(dim=-1)
        else:
            if tuple(prediction.shape) != tuple(target.shape):
                raise ValueError(
                    f"integer prediction must be class indices of shape {list(target.shape)}, like target; "
                    f"got shape {list(prediction.shape)}"
                )
            labels = prediction
        return (labels == target).to(torch.get_default_dtype())


def _overlap(pred_mask: Tensor, target_mask: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample intersection, |pred| and |target| (as floats), within ``valid``."""
    hint = ". Threshold probabilities first (`probs > 0.5`) or convert labels with `.bool()`"
    check_bool("pred_mask", pred_mask, hint)
    check_bool("target_mask", target_mask, hint)
    if tuple(pred_mask.shape) != tuple(target_mask.shape) or pred_mask.dim() < 1:
        raise ValueError(
            f"pred_mask and target_mask must have the same shape [N, *spatial]; "
            f"got {list(pred_mask.shape)} and {list(target_mask.shape)}"
        )
    pred, target = pred_mask, target_mask
    if valid is not None:
        check_bool("valid", valid)
        try:
            valid = valid.expand_as(pred)
        except RuntimeError:
            raise ValueError(
                f"valid must broadcast to the masks' shape {list(pred.shape)}; got shape {list(valid.shape)}"
            ) from None
        pred, target = pred & valid, target & valid
    dims = tuple(range(1, pred.dim()))
    dtype = torch.get_default_dtype()
    if not dims:  # [N]: one pixel per sample
        return (pred & target).to(dtype), pred.to(dtype), target.to(dtype)
    return (pred & target).sum(dims).to(dtype), pred.sum(dims).to(dtype), target.sum(dims).to(dtype)


def dice_score(pred_mask: Tensor, target_mask: Tensor, *, empty: float = 1.0, valid: Tensor | None = None) -> Tensor:
    """Dice ``2|P & T| / (|P| + |T|)`` per sample, for binary masks (Eq. 4/6 for segmentation).

    Args:
        pred_mask: ``Bool[N, *spatial]`` predicted foreground (any number of spatial dims, a
            channel dim included: all non-batch dims are pooled). For several regions (BraTS'
            WT, TC, ET) call once per region and average.
        target_mask: ``Bool[N, *spatial]`` ground-truth foreground.
        empty: the score when prediction and target are both empty (default 1.0). A target that
            is empty while the prediction is not scores 0.
        valid: optional ``Bool`` broadcastable to the masks; pixels where it is False are
            ignored (nuScenes' visibility mask).

    Returns:
        ``Float[N]``, detached.
    """
    empty = check_nonnegative_float("empty", empty)
    with torch.no_grad():
        both, pred, target = _overlap(pred_mask, target_mask, valid)
        denominator = pred + target
        score = 2.0 * both / denominator.clamp_min(1.0)
        return torch.where(denominator > 0, score, torch.full_like(score, empty))


def iou_score(pred_mask: Tensor, target_mask: Tensor, *, empty: float = 1.0, valid: Tensor | None = None) -> Tensor:
    """Intersection over union ``|P & T| / |P | T|`` per sample, for binary masks.

    Same arguments as :func:`dice_score`; ``empty`` is the score when the union is empty.
    (The reference code scores an empty union as 0 through ``0 / (1e-4 + 0)``; pass
    ``empty=0.0`` to match it.)

    Returns:
        ``Float[N]``, detached.
    """
    empty = check_nonnegative_float("empty", empty)
    with torch.no_grad():
        both, pred, target = _overlap(pred_mask, target_mask, valid)
        union = pred + target - both
        score = both / union.clamp_min(1.0)
        return torch.where(union > 0, score, torch.full_like(score, empty))


def regression_score(prediction: Tensor, target: Tensor, tolerance: float) -> Tensor:
    """Tolerance indicator per sample: 1.0 where ``|prediction - target| <= tolerance`` everywhere.

    Args:
        prediction: ``Float[N, *]``.
        target: ``Float[N, *]``, the same shape.
        tolerance: absolute tolerance, ``>= 0``. A sample with several outputs scores 1 only
            when every output is within tolerance (the strict reading of "a tolerance-based
            indicator"); average per-output indicators yourself for a fractional score.

    Returns:
        ``Float[N]``, detached. A NaN prediction scores 0.
    """
    check_floating("prediction", prediction)
    check_floating("target", target)
    tolerance = check_nonnegative_float("tolerance", tolerance)
    if tuple(prediction.shape) != tuple(target.shape) or prediction.dim() < 1:
        raise ValueError(
            f"prediction and target must have the same shape [N, *]; "
            f"got {list(prediction.shape)} and {list(target.shape)}"
        )
    with torch.no_grad():
        within = (prediction - target).abs() <= tolerance
        if within.dim() > 1:
            within = within.flatten(1).all(dim=1)
        return within.to(torch.get_default_dtype())
