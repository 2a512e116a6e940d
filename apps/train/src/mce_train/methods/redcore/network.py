"""RedCore's network ("Core", Sun et al., AAAI 2024, Fig. 2) on a benchmark's own network.

``h`` is ``Float[N, M, F, *space]`` (vectors: ``[N, M, D]``; nuScenes: BEV maps ``[N, 3, dim, X, Y]``;
BraTS: packed U-Net levels ``[N, 4, F, g, g, g]``). Its *latent* part is what the benchmark's
completion module completes, the network's ``reconstruction_view``: the leading ``C`` channels (all
of ``h`` for vectors and BEV maps, the ``C_L``-channel bottleneck for BraTS). Data flow::

    inputs[m] --senc^m (variational)--> μ^m, log σ²^m: [C, *space];  rest^m: [F - C, *space]
                                         (present rows only; zeros elsewhere; rest: BraTS' flags and skips)
    z̄^m = μ^m (eval) or μ^m + ε·σ^m (training);  h^m = [z̄^m; rest^m]
    complete(h, keep) = the benchmark network's own complete, RedCore's cross-modal encoders in its
        completion slot: ẑ^m = xenc^m(z̄ of the other kept modalities) where m is dropped (Eq. 1)
    head = the benchmark's fusion head (the joint decoder);  dec^m = its unimodal head on z^m

so :func:`mce_train.evaluation.evaluate` and the benchmark's predictors (BraTS' sliding windows) work
unchanged: ``encode`` is the self-modal encoders, ``complete(h, keep)`` imputes the dropped
modalities, ``head`` decodes. :func:`build_redcore` assembles it per benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mce_losses import reparameterize
from mce_train.benchmarks.base import Splits
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.methods.base import MethodContext
from mce_train.methods.redcore.completion import CrossModalCompletion, slot_mask
from mce_train.methods.redcore.modules import ResidualCrossEncoder, SequenceTransformer, VariationalEncoder
from mce_train.network import MultiModalNet, probe_features


class RedCoreNet(MultiModalNet):
    """Self-modal variational encoders, cross-modal completion, the benchmark's joint and unimodal decoders.

    Every module is registered here once: ``encoders``, the benchmark network's ``head`` and
    ``unimodal_heads``, and ``completion`` (a
    :class:`~mce_train.methods.redcore.completion.CrossModalCompletion`, also put in ``network``'s
    completion slot). ``network`` itself is kept, unregistered, for its ``complete`` and
    ``reconstruction_view``, so RedCore completes and fuses exactly as the benchmark does (BraTS:
    the skips of dropped modalities are zeroed, the fused skips averaged over the kept ones), and
    for its ``patch`` (the training crop that sliding-window inference uses), if it has one.

    Args:
        network: the benchmark's network (its completion module, if any, is replaced).
        encoders: name -> :class:`~mce_train.methods.redcore.modules.VariationalEncoder`
            (``[n, ...] -> Float[n, 2·dim + F - dim, *space]``: ``μ``, the rest of ``h``, ``log σ²``).
        cross_encoders: name -> ``Float[..., (M-1)·dim] -> Float[..., dim]``, that modality's cross-modal encoder.
        dim: ``C`` (``D`` for vectors), the latent channels: the leading channels of ``h``.
    """

    _network: MultiModalNet

    def __init__(
        self,
        network: MultiModalNet,
        encoders: Mapping[str, nn.Module],
        cross_encoders: Mapping[str, nn.Module],
        dim: int,
    ) -> None:
        completion = CrossModalCompletion(network.modalities, cross_encoders)
        super().__init__(network.modalities, encoders, network.head, dict(network.unimodal_heads.items()), completion)
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an int >= 1; got {dim!r}")
        network.completion = completion
        object.__setattr__(self, "_network", network)  # not a submodule: its modules are registered above
        self.dim = dim
        patch = getattr(network, "patch", None)
        if patch is not None:
            self.patch = patch

    @property
    def cross_encoders(self) -> nn.ModuleDict:
        """name -> ``xenc^m`` (held by the completion module)."""
        return self._completion().cross_encoders

    def _completion(self) -> CrossModalCompletion:
        completion = self.completion
        if not isinstance(completion, CrossModalCompletion):
            raise TypeError(f"a RedCoreNet completes with CrossModalCompletion; got {type(completion).__name__}")
        return completion

    def encode_gaussian(
        self,
        inputs: Mapping[str, Tensor],
        present: Tensor,
        lengths: Mapping[str, Tensor] | None = None,
        extras: Mapping[str, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(μ, log σ², rest)``: ``Float[N, M, C, *space]`` twice and ``Float[N, M, F - C, *space]``.

        Zero in the slots of absent modalities (never encoded).
        """
        packed = super().encode(inputs, present, lengths, extras)
        if packed.dim() < 3 or packed.shape[2] < 2 * self.dim:
            raise ValueError(
                f"the variational encoders must return [n, 2·{self.dim} + extra, ...] (μ, extra, log σ²); "
                f"got {list(packed.shape)}"
            )
        return packed[:, :, : self.dim], packed[:, :, packed.shape[2] - self.dim :], packed[:, :, self.dim : -self.dim]

    def join(self, latent: Tensor, rest: Tensor) -> Tensor:
        """``h = [latent; rest]`` along the channels: ``Float[N, M, F, *space]``."""
        return torch.cat([latent, rest.to(latent.dtype)], dim=2)

    def encode(
        self,
        inputs: Mapping[str, Tensor],
        present: Tensor,
        lengths: Mapping[str, Tensor] | None = None,
        extras: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """``h``: ``z̄`` = the mean in eval mode, a reparameterised draw in training; zero where absent."""
        mu, logvar, rest = self.encode_gaussian(inputs, present, lengths, extras)
        if not self.training:
            return self.join(mu, rest)
        drawn = torch.where(slot_mask(present, mu.dim()), reparameterize(mu, logvar), torch.zeros_like(mu))
        return self.join(drawn, rest)

    def cross_modal(self, latent: Tensor, keep: Tensor, slots: Tensor | None = None) -> Tensor:
        """``Float[N, M, C, *space]``: ``ẑ^m`` from the other modalities kept (``Bool[N, M]``), in ``slots``
        (default: every slot; zero outside). Dropped slots of ``latent`` are never read."""
        return self._completion().impute(latent, keep, slots)

    def complete(self, h: Tensor, keep: Tensor) -> Tensor:
        """Eq. 1 through the benchmark's own ``complete``: kept latents as they are, dropped ones imputed."""
        return self._network.complete(h, keep)

    def reconstruction_view(self, h: Tensor) -> Tensor:
        """The latent part of ``h`` (``Float[N, M, C, *space]``), as the benchmark network defines it."""
        return self._network.reconstruction_view(h)


def _cross_encoders(modalities: tuple[str, ...], dim: int, size: str) -> dict[str, nn.Module]:
    """RedCore's residual autoencoders (the paper: 5 blocks of 256-128-64-32-64-128-256 for two 128-d inputs)."""
    layers, blocks = ((dim, max(1, dim // 2), max(1, dim // 4)), 2) if size == "quick" else ((128, 64, 32), 5)
    width = (len(modalities) - 1) * dim
    return {name: ResidualCrossEncoder(width, dim, layers, blocks) for name in modalities}


@torch.no_grad()
def feature_layout(net: MultiModalNet, splits: Splits) -> tuple[int, int]:
    """``(F, C)``: the channels ``net``'s encoders give a training sample, and how many leading ones it completes.

    ``C`` is read from ``net.reconstruction_view`` on a probe; the global random generator is left as
    it was (BraTS' training crops draw from it).

    Raises:
        ValueError: the features are not ``[N, M, F, *space]``, or the completed part is not their leading channels.
    """
    h = probe_features(net, splits.train)
    if h.dim() < 3:
        raise ValueError(
            f"RedCore's VIB needs [N, M, F, *space] features; this benchmark's encoders give {list(h.shape)}"
        )
    width = int(h.shape[2])
    probe = torch.arange(width, dtype=torch.float32).reshape(1, 1, width, *([1] * (h.dim() - 3)))
    probe = probe.expand(1, h.shape[1], width, *h.shape[3:])
    view = net.reconstruction_view(probe)
    latent = int(view.shape[2]) if view.dim() == probe.dim() else 0
    if latent < 1 or view.shape[3:] != probe.shape[3:] or not torch.equal(view, probe[:, :, :latent]):
        raise ValueError(
            f"RedCore's VIB acts on the part of h that {type(net).__name__} completes; its reconstruction_view must be "
            f"the leading channels of h {list(h.shape)}; got a view of shape {list(view.shape)}"
        )
    return width, latent


def wrap_network(network: MultiModalNet, width: int, dim: int, size: str) -> RedCoreNet:
    """RedCore on ``network``: a Gaussian head on each encoder's first ``dim`` of its ``width`` channels,
    RedCore's cross-modal encoders (at ``size``) in the completion slot."""
    encoders = {
        name: VariationalEncoder(network.encoders[name], dim, dim, extra=width - dim) for name in network.modalities
    }
    return RedCoreNet(network, encoders, _cross_encoders(network.modalities, dim, size), dim)


def build_matched(context: MethodContext) -> RedCoreNet:
    """RedCore on the benchmark's own encoders, completion interface, fusion and heads (the default).

    The benchmark network's completion module is replaced by RedCore's cross-modal encoders; each
    encoder gets a Gaussian head on the latent channels (see :func:`feature_layout`).
    """
    return redcore_on(context.network(), context.splits, context.size)


def redcore_on(network: MultiModalNet, splits: Splits, size: str) -> RedCoreNet:
    """RedCore around an already built benchmark ``network`` whose training samples are ``splits.train``."""
    width, dim = feature_layout(network, splits)
    return wrap_network(network, width, dim, size)


def build_iemocap_transformers(size: str, splits: Splits) -> RedCoreNet:
    """IEMOCAP with RedCore's own encoders: transformers over the feature sequences (its paper: 3 layers,
    8 heads, 128-d; ``quick``: 1, 4, 32), mean-pooled over the valid frames."""
    dim, hidden, layers, heads = (32, 32, 1, 4) if size == "quick" else (128, 128, 3, 8)
    first = splits.train[0]
    features = {name: int(first.inputs[name].shape[-1]) for name in iemocap.MODALITIES}
    encoders = {
        name: VariationalEncoder(SequenceTransformer(features[name], dim, layers, heads), dim, dim)
        for name in iemocap.MODALITIES
    }
    cross = _cross_encoders(iemocap.MODALITIES, dim, size)
    backbones: dict[str, nn.Module] = {name: encoder.backbone for name, encoder in encoders.items()}
    network = MultiModalNet(
        iemocap.MODALITIES, backbones, iemocap.head(dim, hidden), iemocap.unimodal_heads(dim, hidden)
    )
    return RedCoreNet(network, encoders, cross, dim)


ENCODERS = ("benchmark", "paper")
"""``--redcore-encoders``: the benchmark's own (default) or RedCore's paper encoders (IEMOCAP only)."""


def build_redcore(context: MethodContext, encoders: str = "benchmark") -> RedCoreNet:
    """The RedCore network for ``bench`` at ``size`` (``"paper"`` or ``"quick"``).

    Raises:
        ValueError: ``encoders="paper"`` on a benchmark other than IEMOCAP (the only one RedCore's paper has),
            or an unknown ``encoders``.
    """
    if encoders == "benchmark":
        return build_matched(context)
    if encoders != "paper":
        raise ValueError(f"encoders must be one of {ENCODERS}; got {encoders!r}")
    if context.bench.name != "iemocap":
        raise ValueError(
            f"RedCore's own encoders exist for iemocap only (its paper); got benchmark {context.bench.name!r}"
        )
    return build_iemocap_transformers(context.size, context.splits)
