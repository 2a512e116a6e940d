"""AudiovisionMNIST: LeNet5 on the 28x28 digit, a small CNN on the 20x20 MFCC, concatenation, FC decoder."""

from __future__ import annotations

from torch import Tensor, nn

from mce_train.benchmarks.heads import ConcatHead, mlp_decoder

MODALITIES = ("image", "audio")
N_CLASSES = 10


class LeNet5(nn.Module):
    """LeNet5 (LeCun et al. 1998) as the image encoder: ``Float[N, 1, 28, 28] -> Float[N, dim]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, dim),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.features(image)  # type: ignore[no-any-return]


class MFCCNet(nn.Module):
    """A two-block CNN on the MFCC: ``Float[N, 1, 20, 20] -> Float[N, dim]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 5 * 5, dim),
        )

    def forward(self, mfcc: Tensor) -> Tensor:
        return self.features(mfcc)  # type: ignore[no-any-return]


def encoders(dim: int) -> dict[str, nn.Module]:
    """One encoder per modality, in :data:`MODALITIES` order."""
    return {"image": LeNet5(dim), "audio": MFCCNet(dim)}


def head(dim: int, hidden: int, dropout: float = 0.0) -> nn.Module:
    """Concatenation fusion, then FC -> ReLU -> [Dropout] -> FC (paper Sec. 4.2)."""
    return ConcatHead(len(MODALITIES), dim, hidden, N_CLASSES, depth=1, dropout=dropout)


def unimodal_heads(dim: int, hidden: int, dropout: float = 0.0) -> dict[str, nn.Module]:
    """``f_dec^m`` per modality for L_single and the unimodal upper-bound models."""
    return {name: mlp_decoder(dim, hidden, N_CLASSES, dropout=dropout) for name in MODALITIES}
