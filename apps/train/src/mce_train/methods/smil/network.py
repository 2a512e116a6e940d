"""SMIL's network on a benchmark's own: its encoders and fusion head, SMIL's modules in the completion slot.

Official (mengmenm/SMIL, ``src/models/soundlenet5.py`` ``SoundLenet5New`` with ``src/models/newencoder.py``
``InferNetNew``, AVMNIST: image 160-d, audio 320-d, fused 480-d, hidden 64-d), when the audio is missing::

    ŝ = Σ_k w_k P_k / Σ_k w_k,   w = softplus(fc0(h_img))                  (reconstruction, fc0: 160 -> 10)
    x = [h_img; ŝ] + softplus(fc1(h_img) + ε1)                           (fused perturbation, fc1: 160 -> 480)
    a = relu(W1 x) + softplus(fc2(x) + ε2)                               (hidden perturbation, fc2: 480 -> 64)
    prediction = W2 dropout(a)

with ``ε ~ N(0, I)`` only in the meta-train pass (``meta_train=True``; elsewhere, meta-validation and test
included, the perturbations are ``softplus(μ)`` without noise: ``InferNetNew.forward`` adds ``randn_like`` to
the mean only then; its ``fc11``/``fc21`` "sigma" layers are computed and unused). A sample with both
modalities (mode ``'two'``) goes through the fusion head clean: no reconstruction, no perturbation.

Beyond the paper (ours): any modality may be missing. For modality ``m`` dropped from a sample, ``w^m =
softplus(fc0^m(c))`` over ``m``'s priors, and both perturbations act on every sample with a dropped slot, where
``c = [h ⊙ keep; keep]`` (``Float[N, M·D + M]``, dropped slots zero, never read) is what the sample has. For two
modalities this is the official network: with audio dropped, ``c = [h_img; 0; 1; 0]``, so ``fc0^audio(c)`` is a
linear map of ``h_img`` plus a constant (a second bias), and likewise ``fc1``. ``fc2`` reads the perturbed fused
feature as in the code. The hidden perturbation goes after the first ReLU of the benchmark's
:class:`~mce_train.benchmarks.heads.ConcatHead` (before its dropout, as in the code); IEMOCAP's head has two
hidden blocks and batch norm, and the perturbation follows the first block's ReLU.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn.functional import softplus

from mce_train.benchmarks.heads import ConcatHead
from mce_train.methods.smil.priors import prior_mixture
from mce_train.network import MultiModalNet


class SMILCompletion(nn.Module):
    """The completion slot: the reconstruction network (``fc0^m``), the fused-feature regulariser (``fc1``) and the
    priors (buffers ``priors: Float[M, K, D]``, ``defined: Bool[M]``; set by the method's K-means passes).

    ``sampling``: draw the perturbations' noise (the meta-train pass); otherwise ``softplus(μ)``.
    """

    priors: Tensor
    defined: Tensor

    def __init__(self, n_modalities: int, dim: int, n_priors: int) -> None:
        super().__init__()
        width = n_modalities * dim + n_modalities
        self.n_modalities, self.dim = n_modalities, dim
        self.weights = nn.ModuleList(nn.Linear(width, n_priors) for _ in range(n_modalities))
        self.fused = nn.Linear(width, n_modalities * dim)
        self.register_buffer("priors", torch.zeros(n_modalities, n_priors, dim))
        self.register_buffer("defined", torch.zeros(n_modalities, dtype=torch.bool))
        self.sampling = False

    def context(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M·D + M]``: ``[h ⊙ keep; keep]``, the kept features (dropped slots zero) and the keep mask."""
        kept = torch.where(keep[:, :, None], h, torch.zeros_like(h))
        return torch.cat([rearrange(kept, "batch modality dim -> batch (modality dim)"), keep.to(h.dtype)], 1)

    def reconstruct(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M, D]``: kept slots as they are, each dropped slot ``m`` the prior mixture of ``fc0^m``'s weights
        (zero while ``m`` has no priors)."""
        context = self.context(h, keep)
        slots = []
        for m, layer in enumerate(self.weights):
            guess = prior_mixture(layer(context), self.priors[m].to(h.dtype)) * self.defined[m].to(h.dtype)
            slots.append(torch.where(keep[:, m, None], h[:, m], guess))
        return torch.stack(slots, 1)

    def perturbation(self, mu: Tensor) -> Tensor:
        """``softplus(μ + ε)``, ``ε ~ N(0, I)``, while sampling; ``softplus(μ)`` otherwise (``InferNetNew``)."""
        return softplus(mu + torch.randn_like(mu)) if self.sampling else softplus(mu)

    def forward(self, h: Tensor, keep: Tensor) -> Tensor:
        """``Float[N, M, D]``: reconstructed, plus the fused perturbation on the samples with a dropped slot."""
        filled = self.reconstruct(h, keep)
        delta = self.perturbation(self.fused(self.context(h, keep)))
        delta = rearrange(delta, "batch (modality dim) -> batch modality dim", modality=self.n_modalities)
        incomplete = ~keep.all(1)
        return filled + delta * incomplete[:, None, None].to(h.dtype)


class SMILNet(MultiModalNet):
    """The benchmark's encoders, fusion head and unimodal heads; :class:`SMILCompletion` in the completion slot and
    the hidden-layer regulariser ``hidden_noise`` (official ``fc2``) inside the head's first hidden block.

    Raises:
        ValueError: the benchmark's head is not a :class:`~mce_train.benchmarks.heads.ConcatHead` (SMIL's
            regulariser acts on the concatenated features and the fusion MLP's first hidden layer).
    """

    def __init__(self, network: MultiModalNet, n_priors: int) -> None:
        head = network.head
        if not isinstance(head, ConcatHead):
            raise ValueError(f"SMIL needs a concatenation head (ConcatHead); got {type(head).__name__}")
        layers = list(head.decoder)
        first = layers[0]
        relus = [i for i, layer in enumerate(layers) if isinstance(layer, nn.ReLU)]
        if not isinstance(first, nn.Linear) or not relus:
            raise ValueError("SMIL needs a ConcatHead with at least one hidden layer")
        n = len(network.modalities)
        dim = first.in_features // n
        completion = SMILCompletion(n, dim, n_priors)
        super().__init__(
            network.modalities, dict(network.encoders.items()), head, dict(network.unimodal_heads.items()), completion
        )
        self.hidden_noise = nn.Linear(n * dim, first.out_features)
        self.cut = relus[0] + 1

    def smil(self) -> SMILCompletion:
        """The completion module (its priors, reconstruction and fused regulariser)."""
        completion = self.completion
        if not isinstance(completion, SMILCompletion):
            raise TypeError(f"a SMILNet completes with SMILCompletion; got {type(completion).__name__}")
        return completion

    @contextmanager
    def sampling(self) -> Iterator[None]:
        """Inside the block the perturbations draw their noise (the meta-train pass)."""
        completion = self.smil()
        before, completion.sampling = completion.sampling, True
        try:
            yield
        finally:
            completion.sampling = before

    def decoder_layers(self) -> list[nn.Module]:
        """The benchmark head's decoder layers (``FC -> [BN] -> ReLU -> [Dropout] -> ... -> FC``)."""
        decoder = self.head.decoder
        if not isinstance(decoder, nn.Sequential):
            raise TypeError(f"expected the ConcatHead's Sequential decoder; got {type(decoder).__name__}")
        return list(decoder)

    def parts(self, h: Tensor, keep: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(prediction, fused, hidden)``: the head's output, its input ``Float[N, M·D]`` (official ``f``) and its
        first hidden layer after the perturbation ``Float[N, hidden]`` (official ``f1``)."""
        fused = rearrange(self.complete(h, keep), "batch modality dim -> batch (modality dim)")
        layers = self.decoder_layers()
        hidden = fused
        for layer in layers[: self.cut]:
            hidden = layer(hidden)
        incomplete = (~keep.all(1))[:, None].to(hidden.dtype)
        hidden = hidden + self.smil().perturbation(self.hidden_noise(fused)) * incomplete
        out = hidden
        for layer in layers[self.cut :]:
            out = layer(out)
        return out, fused, hidden

    def predict(self, h: Tensor, keep: Tensor) -> Tensor:
        """The fused prediction from the modalities in ``keep``: reconstructed and regularised where any is dropped."""
        return self.parts(h, keep)[0]


def build_smil(network: MultiModalNet, n_priors: int) -> SMILNet:
    """SMIL on a benchmark's ``network`` (its completion module replaced; its other weights as built)."""
    return SMILNet(network, n_priors)
