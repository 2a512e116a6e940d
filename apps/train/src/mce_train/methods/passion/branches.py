"""PASSION's branches on the benchmark's own network: the fused head's prediction and its last hidden features.

The official distillation reads the fused decoder's last feature map (``de_f[0]``, the input of mmFormer's
``seg_layer``, Jun-Jie-Shi/PASSION code/models/mmformer.py) beside its logits. Every benchmark head here ends in
one linear or convolution layer that makes the prediction (BraTS' ``UNetDecoder.classifier``, nuScenes'
``BEVHead`` 1×1 convolution, the vector tasks' last ``Linear``), so its input is that feature: a forward
pre-hook reads it without touching the head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from mce_train.network import MultiModalNet

LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def final_layer(head: nn.Module) -> nn.Module:
    """The last linear or convolution layer of ``head`` in registration order (its classifier)."""
    layers = [module for module in head.modules() if isinstance(module, LAYERS)]
    if not layers:
        raise ValueError(f"{type(head).__name__} has no linear or convolution layer to read features from")
    return layers[-1]


@contextmanager
def reading(layer: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Inside the block, each call of ``layer`` stores its input (``"input"``) and output (``"output"``)."""
    seen: dict[str, Tensor] = {}

    def before(module: nn.Module, args: tuple[Any, ...]) -> None:
        del module
        seen["input"] = args[0]

    def after(module: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
        del module, args
        seen["output"] = output

    handles = [layer.register_forward_pre_hook(before), layer.register_forward_hook(after)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def branch(model: MultiModalNet, layer: nn.Module, h: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
    """``(prediction, features)``: ``model.predict(h, keep)`` and the input of its final ``layer``.

    Raises ``ValueError`` when the prediction is not that layer's output (a head with a step after it).
    """
    with reading(layer) as seen:
        prediction = model.predict(h, keep)
    if seen.get("output") is not prediction:
        raise ValueError(f"the head's prediction is not the output of its last layer {type(layer).__name__}")
    return prediction, seen["input"]
