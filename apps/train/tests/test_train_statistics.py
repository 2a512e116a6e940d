"""Seed summaries and subset enumeration against hand-worked values."""

import itertools
import math

import pytest
import torch

from mce_train.metrics import ClassificationMetric
from mce_train.statistics import summarize, t_quantile_975
from mce_train.subsets import named_subsets


def test_summary_matches_hand_computation() -> None:
    values = [60.0, 62.0, 61.0, 59.0, 63.0]
    s = summarize(values)
    assert s.mean == pytest.approx(61.0)
    assert s.std == pytest.approx(math.sqrt(2.5))  # squares 1+1+0+4+4 = 10 over n-1 = 4
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)  # t_{0.975, 4} from the standard table
    assert (s.low, s.high) == pytest.approx((61.0 - half, 61.0 + half))


def test_single_seed_has_no_interval_and_empty_is_an_error() -> None:
    s = summarize([3.0])
    assert (s.std, s.low, s.high) == (0.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_t_quantiles_decrease_towards_the_normal() -> None:
    quantiles = [t_quantile_975(df) for df in range(1, 2000)]
    assert all(a >= b for a, b in itertools.pairwise(quantiles))
    assert quantiles[-1] == pytest.approx(1.9612, abs=1e-4)  # df = 1999
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=1e-4)  # standard table values
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=1e-4)
    assert t_quantile_975(120) == pytest.approx(1.9799, abs=1e-4)


def test_all_subsets_enumerates_every_non_empty_subset_once() -> None:
    subsets = named_subsets(("a", "l", "v"))
    assert [name for name, _ in subsets] == ["a", "l", "v", "a+l", "a+v", "l+v", "a+l+v"]
    masks = {tuple(mask.tolist()) for _, mask in subsets}
    assert len(masks) == 7
    assert (False, False, False) not in masks


def test_classification_metric_against_a_hand_confusion_matrix() -> None:
    metric = ClassificationMetric(3)
    # targets 0,0,1,1,2 ; predictions 0,1,1,1,0
    logits = torch.eye(3)[torch.tensor([0, 1, 1, 1, 0])]
    metric.update(logits, torch.tensor([0, 0, 1, 1, 2]))
    result = metric.compute()
    assert result["accuracy"] == pytest.approx(60.0)
    assert result["uar"] == pytest.approx((0.5 + 1.0 + 0.0) / 3 * 100)
    f1 = [2 * 0.5 * 0.5 / 1.0, 2 * (2 / 3) * 1.0 / (5 / 3), 0.0]  # class 0: precision 1/2, recall 1/2
    assert result["macro_f1"] == pytest.approx(sum(f1) / 3 * 100)
    with pytest.raises(ValueError, match=r"expected logits of shape \(2, 3\)"):
        metric.update(torch.zeros(2, 4), torch.tensor([0, 1]))
