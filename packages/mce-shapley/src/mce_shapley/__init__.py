"""mce-shapley: batched, availability-aware Shapley values of small games in torch.

Players are modalities, feature groups or data sources (up to about 20 for exact values);
every sample has its own game and its own set of available players.

>>> import torch, mce_shapley
>>> scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])     # [sample, player]
>>> game = lambda coalitions: coalitions.float() @ scores.T        # Bool[K, M] -> [K, N]
>>> available = torch.tensor([[True, True, True], [True, False, True]])
>>> mce_shapley.exact(game, 3, available=available).values.round(decimals=6).tolist()
[[1.0, 2.0, 3.0], [4.0, 0.0, 6.0]]
"""

from mce_shapley.__about__ import __version__
from mce_shapley.banzhaf import InteractionResult, banzhaf, banzhaf_exact, interactions
from mce_shapley.exact_shapley import exact
from mce_shapley.games import DenseGame, Game, RowGame
from mce_shapley.kernel_shapley import kernel
from mce_shapley.permutation_shapley import permutation
from mce_shapley.regression_shapley import regression
from mce_shapley.result import ShapleyResult

__all__ = [
    "DenseGame",
    "Game",
    "InteractionResult",
    "RowGame",
    "ShapleyResult",
    "__version__",
    "banzhaf",
    "banzhaf_exact",
    "exact",
    "interactions",
    "kernel",
    "permutation",
    "regression",
]
