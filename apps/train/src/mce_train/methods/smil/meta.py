"""SMIL's meta-learning step as one loss for the trainer's single optimiser.

Official loop (mengmenm/SMIL, ``src/train_missing_eval_missing.py``, ``meta_training``), per iteration:

1. meta-train batch ``D_m`` (64 image-only samples) through the main network ``θ`` with noisy perturbations:
   ``L_tr = CE``; ``θ* = θ - α_t ∇_θ L_tr`` with ``create_graph=True`` (second order), ``--inner_loop 1`` step,
   for the image branch and the fusion head (the audio branch is unused there and explicitly skipped);
2. meta-validation batch ``D_f`` (64 full-modality samples) through ``θ*``: the audio dropped and reconstructed
   with deterministic perturbations ("noised"), and the real audio without them ("clean"):
   ``L_val = CE(noised) + 0.01·MSE(f_clean, f_noised) + 0.01·MSE(f1_clean, f1_noised)`` (``KDLossAlignTwo(alpha=0.01,
   beta=0.01)``; its clean CE and prior MSE are computed and unused), teacher features not detached;
3. ``(L_tr + L_val).backward()``, then ``Adam(θ)`` and ``Adam(φ)`` (reconstruction + regularisation networks) step,
   both at lr 1e-3, weight decay 1e-4, StepLR(5000, 0.1).

Here :func:`meta_loss` returns ``L_tr + L_val`` with ``θ*`` computed functionally
(:func:`torch.func.functional_call`), and the trainer's one optimiser steps every parameter. Adam acts per
parameter, so one Adam over ``θ ∪ φ`` with the shared lr, weight decay and decay is the official pair of
optimisers exactly: ``θ`` gets ``∇_θ L_tr + ∇_θ L_val(θ*(θ))`` (through the inner step), ``φ`` gets
``∇_φ (L_tr + L_val)``. ``first_order`` drops the inner gradient's graph (first-order MAML; not the official way).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.functional import mse_loss

from mce_data import Batch
from mce_train.methods.base import PerSample
from mce_train.methods.smil.network import SMILNet

T = TypeVar("T")

INNER = ("encoders.", "head.")
"""The parameters the inner step adapts (``θ``): the encoders and the fusion head. SMIL's own modules (``φ``) and
the unused unimodal heads are not adapted (official: ``params_star`` of the main network only)."""


def take(batch: Batch, rows: Tensor) -> Batch:
    """The samples ``rows`` (``Long[n]``) of ``batch``."""
    picked = rows.tolist()
    return Batch(
        ids=[batch.ids[i] for i in picked],
        inputs={k: v.index_select(0, rows) for k, v in batch.inputs.items()},
        lengths={k: v.index_select(0, rows) for k, v in batch.lengths.items()},
        present=batch.present.index_select(0, rows),
        target=batch.target.index_select(0, rows),
        extras={k: v.index_select(0, rows) for k, v in batch.extras.items()},
    )


class _Thunk(nn.Module):
    """Holds the model so that :func:`functional_call` can swap its parameters around any computation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, thunk: Callable[[], Any]) -> Any:
        return thunk()


def call_with(model: nn.Module, params: dict[str, Tensor] | None, thunk: Callable[[], T]) -> T:
    """``thunk()`` with ``model``'s parameters named in ``params`` replaced (``None``: its own)."""
    if params is None:
        return thunk()
    renamed = {f"model.{name}": value for name, value in params.items()}
    return functional_call(_Thunk(model), renamed, (thunk,))  # type: ignore[no-any-return]


def inner_update(loss: Tensor, params: dict[str, Tensor], lr: float, *, second_order: bool) -> dict[str, Tensor]:
    """``θ - lr·∇_θ loss`` for each of ``params`` (unchanged where ``loss`` does not depend on it); with
    ``second_order`` the step stays differentiable (official ``create_graph=True``)."""
    names = list(params)
    grads = torch.autograd.grad(
        loss, [params[n] for n in names], create_graph=second_order, retain_graph=True, allow_unused=True
    )
    return {n: params[n] if g is None else params[n] - lr * g for n, g in zip(names, grads, strict=True)}


def min_rows(model: nn.Module) -> int:
    """The fewest samples a training-mode pass takes: 2 with batch norm (one sample has no batch statistics)."""
    return 2 if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) else 1


def meta_loss(
    model: SMILNet,
    batch: Batch,
    *,
    task_loss: PerSample,
    keep_for: Callable[[int], Tensor],
    lr: float,
    steps: int = 1,
    second_order: bool = True,
    fused_weight: float = 0.01,
    hidden_weight: float = 0.01,
) -> tuple[Tensor, dict[str, float]]:
    """``L_tr + L_val`` of one batch (see the module docstring) and its terms.

    The batch's incomplete samples are the meta-train set, its complete ones the meta-validation set;
    ``keep_for(n)`` gives the ``Bool[n, M]`` modalities each of ``n`` complete samples keeps in its
    "noised" pass. A part with fewer samples than :func:`min_rows` is skipped (its term is zero).
    """
    complete = batch.present.all(1)
    train_rows, val_rows = (~complete).nonzero().squeeze(1), complete.nonzero().squeeze(1)
    least = min_rows(model)
    zero = batch.present.new_zeros((), dtype=torch.float32)
    loss_tr, params = zero, None
    if train_rows.numel() >= least:
        train = take(batch, train_rows)
        theta = {n: p for n, p in model.named_parameters() if p.requires_grad and n.startswith(INNER)}
        current: dict[str, Tensor] = dict(theta)
        # cuDNN's RNN kernels have no double backward; the native ones do (IEMOCAP's LSTMs on a GPU)
        guard = torch.backends.cudnn.flags(enabled=False) if second_order and batch.present.is_cuda else nullcontext()
        for step in range(steps):

            def inner() -> Tensor:
                prediction = model(train.inputs, train.present, train.lengths, train.extras)
                return task_loss(prediction, train.target).mean()

            with guard, model.sampling():
                loss_tr = call_with(model, None if step == 0 else current, inner)
            current = inner_update(loss_tr, current, lr, second_order=second_order)
        params = current
    loss_val = zero
    logs = {"val_ce": 0.0, "fused_mse": 0.0, "hidden_mse": 0.0}
    if val_rows.numel() >= least:
        val = take(batch, val_rows)
        keep = keep_for(val_rows.numel()).to(batch.present.device)

        def outer() -> tuple[tuple[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]:
            h = model.encode(val.inputs, val.present, val.lengths, val.extras)
            return model.parts(h, val.present), model.parts(h, keep)

        (_, fused_clean, hidden_clean), (noised, fused_noised, hidden_noised) = call_with(model, params, outer)
        ce = task_loss(noised, val.target).mean()
        fused_mse, hidden_mse = mse_loss(fused_noised, fused_clean), mse_loss(hidden_noised, hidden_clean)
        loss_val = ce + fused_weight * fused_mse + hidden_weight * hidden_mse
        logs = {"val_ce": float(ce.detach()), "fused_mse": float(fused_mse.detach())}
        logs["hidden_mse"] = float(hidden_mse.detach())
    logs.update({"meta_train": float(loss_tr.detach()), "meta_val": float(loss_val.detach()), "inner_lr": lr})
    return loss_tr + loss_val, logs
