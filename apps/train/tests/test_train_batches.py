"""The resumable sampler: same seed same order, resume from any step, ranks partition the batch."""

import pytest

from mce_train.batches import StepBatches


def test_resuming_at_any_step_continues_the_same_order() -> None:
    full = list(StepBatches(50, 8, steps=20, seed=3))
    for start in (0, 5, 6, 13):
        assert list(StepBatches(50, 8, steps=20, seed=3, start=start)) == full[start:]


def test_each_epoch_is_a_permutation_and_seeds_differ() -> None:
    batches = list(StepBatches(24, 6, steps=8, seed=1))
    for epoch in (0, 1):
        seen = sorted(i for batch in batches[4 * epoch : 4 * epoch + 4] for i in batch)
        assert seen == list(range(24))
    assert batches[:4] != batches[4:]
    assert list(StepBatches(24, 6, steps=8, seed=2)) != batches


def test_ranks_partition_the_global_batch() -> None:
    single = list(StepBatches(40, 8, steps=6, seed=0))
    ranks = [list(StepBatches(40, 8, steps=6, seed=0, rank=r, world=2)) for r in (0, 1)]
    for step, batch in enumerate(single):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)


def test_bad_sizes_are_errors() -> None:
    with pytest.raises(ValueError, match="divide by the world size 3"):
        StepBatches(40, 8, steps=1, seed=0, world=3)
    with pytest.raises(ValueError, match=r"<= the number of samples \(4\)"):
        StepBatches(4, 8, steps=1, seed=0)
