"""What a training method is to the trainer: a small class with no-op hooks, in the style of Lightning's
``ModelHooks``. A method overrides :meth:`Method.loss` and only the hooks it needs.

Life of a method for one seed (:func:`mce_train.experiment.run_seed`)::

    method = cls.create(context)     # cheap: read the method's options
    method.prepare(context)          # once, before the network exists (MCE: the frozen unimodal models U)
    torch.manual_seed(seed)
    model = method.build(context)    # default: the benchmark's own encoders, completion, fusion and heads
    fit(model, method, ...)          # per step: on_epoch_start at epoch boundaries, loss, backward,
                                     # after_backward, optimiser step; state_dict in every checkpoint

Every parameter of the model that :meth:`Method.build` returns joins the optimiser, so a method with
modules of its own (RedCore's cross-modal encoders) puts them in its network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from mce_train.distributed import SINGLE, Distributed
from mce_train.network import MultiModalNet

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

    from mce_data import IncompleteDataset, MissingMask
    from mce_train.benchmarks.base import Benchmark, Splits
    from mce_train.recipe import Recipe
    from mce_train.schedule import Schedule

PerSample = Callable[[Tensor, Tensor], Tensor]
"""``(prediction[N, ...], target[N, ...]) -> Float[N]``: a per-sample loss or score."""


def identity(tensor: Tensor) -> Tensor:
    """The ``reduce`` of a single process: nothing to sum over."""
    return tensor


@dataclass(frozen=True)
class Option:
    """A command-line option of one method (``python apps/train/run.py --help`` lists them per method).

    ``dest`` is the key in the method's options (``context.options``) and in its recipe section (``[name]``
    in a ``--config`` file). A benchmark's recipe may set its own value for the benchmark; ``--config`` and
    the command line override both.
    """

    flag: str
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    choices: tuple[Any, ...] | None = None
    source: str = "ours"
    """Where the default comes from (a paper, an official repository; "ours" beyond them)."""

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class MethodContext:
    """What a method may use to set itself up for one seed: the benchmark, its data and masks, the schedule."""

    bench: Benchmark
    splits: Splits
    size: str
    seed: int
    mask: MissingMask
    mask_file: Path
    train: IncompleteDataset
    val: IncompleteDataset
    recipe: Recipe
    """The resolved recipe (the benchmark's, then ``--config``, then the command line)."""
    schedule: Schedule
    options: Mapping[str, Any]
    """This method's options (its :attr:`Method.options` by ``dest``), as given on the command line."""
    loader: Callable[[Any], DataLoader[Any]]
    """An ordered (unshuffled) loader over a dataset, at the schedule's batch size."""
    cache: Path
    run_dir: Path
    """This method's run folder (``out/runs/<method>-seed<k>``: checkpoint, logs, anything else it writes)."""
    device: torch.device
    distributed: Distributed = SINGLE
    progress: bool = True
    resume: bool = False

    def network(self) -> MultiModalNet:
        """A fresh benchmark network of the recipe's ``model`` section (initial weights from the global generator)."""
        return self.bench.build(self.recipe.section("model"), self.splits)


class Method:
    """A training method: its loss, and hooks the trainer calls (all optional but :meth:`loss`).

    Class attributes, set by :func:`mce_train.methods.register_method`: ``name``, ``paper`` (the
    source, for ``--list-methods``) and ``benchmarks`` (where it runs). ``options`` are its
    command-line options.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    benchmarks: ClassVar[frozenset[str]] = frozenset()
    options: ClassVar[tuple[Option, ...]] = ()

    @property
    def label(self) -> str:
        """How progress bars and errors name this method."""
        return self.name or type(self).__name__

    @classmethod
    def supports(cls, benchmark: str) -> bool:
        """Whether the method runs on ``benchmark``."""
        return benchmark in cls.benchmarks

    @classmethod
    def check(cls, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` for a bad combination of this method's options (called before any training)."""
        del options

    @classmethod
    def create(cls, context: MethodContext) -> Method:
        """The method for one seed, from its options (cheap; heavy work belongs in :meth:`prepare`)."""
        del context
        return cls()

    def prepare(self, context: MethodContext) -> None:
        """Once per seed, before :meth:`build` (e.g. train and cache auxiliary models)."""
        del context

    def build(self, context: MethodContext) -> MultiModalNet:
        """The network to train: by default the benchmark's own (so methods compare, not encoders)."""
        return context.network()

    def loss(self, model: MultiModalNet, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """The loss of one batch (a scalar to backpropagate) and the values to log."""
        raise NotImplementedError(f"{type(self).__name__} must define loss(model, batch)")

    def on_epoch_start(self, model: MultiModalNet, epoch: int) -> None:
        """Before the first step of each epoch (``epoch`` counts from 0; a resumed run calls it at the
        next boundary)."""
        del model, epoch

    def after_backward(self, model: MultiModalNet) -> None:
        """After ``backward()`` and the gradients' all-reduce, before the optimiser step (gradient modulation)."""
        del model

    def summary(self) -> dict[str, Any]:
        """After training: what ``results.json`` keeps of the run besides its scores (e.g. MCE's factor B trace)."""
        return {}

    def fingerprint(self) -> dict[str, Any]:
        """The settings that make a run of this method what it is (a checkpoint made with others cannot resume)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs besides the network and optimiser."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state
