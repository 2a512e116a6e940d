"""One process or many (torchrun): the rank's share of each batch, gradient averaging, reductions.

``torchrun --nproc_per_node=K apps/train/run.py ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`setup` then joins the process group (gloo on CPU, nccl on CUDA) and each
rank trains on its slice of every global batch (:class:`~mce_train.batches.StepBatches`).

Gradients are averaged by one all-reduce of the flattened gradients after ``backward`` rather than
by ``DistributedDataParallel``: the MCE step calls the network's parts (encode, complete, head)
separately, which DDP's forward hooks cannot follow, and parameters a rank did not use (a modality
absent from its slice) must still take part (as zeros; a parameter no rank used stays without a
gradient). Each rank's losses are means over its equal-sized slice, so the average of the ranks'
gradients is the gradient of the global batch mean for the task loss and L_single; L_sub and
L_aux weight each (sample, subset) row by the global batch's subset counts (all-reduced), since
their per-subset normalisation does not split into per-rank means; batch-level Shapley sums (U,
phi, counts) are all-reduced before factor B, so B means the same as on one process. A test checks
the baseline's and MCE's weights and B against one process with the same global batch.

One known difference: on the CPU, batch norm uses per-rank statistics (on CUDA the network's batch
norms become ``SyncBatchNorm``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Distributed:
    """This process's place: ``rank`` of ``world`` processes; ``world == 1`` is a plain single run."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        """The sum of ``tensor`` over all ranks (the tensor itself on one process)."""
        if self.world == 1:
            return tensor
        total = tensor.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def average_gradients(self, model: nn.Module) -> None:
        """Replace every gradient by its mean over ranks.

        A parameter no rank used keeps ``grad = None`` (as on one process, so Adam's momentum and
        weight decay leave it alone); one used by some ranks only counts as zero on the others.
        """
        if self.world == 1:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        used = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=params[0].device)
        dist.all_reduce(used, op=dist.ReduceOp.SUM)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world
        offset = 0
        for p, count in zip(params, used.tolist(), strict=True):
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone() if count > 0 else None
            offset += n

    def barrier(self) -> None:
        """Wait for every rank (nothing on one process)."""
        if self.world > 1:
            dist.barrier()


SINGLE = Distributed()


def setup(device: str) -> tuple[Distributed, torch.device]:
    """Join the process group torchrun describes (if any) and pick this rank's device.

    Returns :data:`SINGLE` and ``device`` when not launched by torchrun.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return SINGLE, torch.device(device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    if cuda:
        torch.cuda.set_device(local)
        return Distributed(rank, world), torch.device("cuda", local)
    return Distributed(rank, world), torch.device(device)
