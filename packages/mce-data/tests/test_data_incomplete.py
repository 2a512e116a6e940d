"""IncompleteDataset + collate_incomplete: masks follow ids through shuffles, workers and DistributedSampler."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from mce_data.collate import Batch, collate_incomplete
from mce_data.incomplete import IncompleteDataset, IncompleteSample
from mce_data.masks import MissingMask
from mce_data.tensor_dataset import TensorMultiModalDataset


def _check_batch(batch: Batch, mask: MissingMask) -> None:
    """Every row's present equals the mask's row for its id; inputs are zero exactly where missing."""
    assert torch.equal(batch.present, mask.lookup(batch.ids))
    for m, name in enumerate(mask.modalities):
        values = batch.inputs[name].flatten(1)
        index = torch.tensor([int(sid.split("-")[1]) + 1 for sid in batch.ids], dtype=torch.float32)
        expected = torch.where(batch.present[:, m, None], index[:, None], torch.zeros(1)).expand_as(values)
        assert torch.equal(values, expected)
    assert torch.equal(batch.target, torch.tensor([int(sid.split("-")[1]) % 4 for sid in batch.ids]))


@pytest.fixture
def toy_mask(toy_dataset: TensorMultiModalDataset) -> MissingMask:
    return MissingMask.generate(toy_dataset.sample_ids(), toy_dataset.modalities, (0.5, 0.3, 0.6), seed=5)


def test_items_zero_missing_inputs(toy_dataset: TensorMultiModalDataset, toy_mask: MissingMask) -> None:
    data = IncompleteDataset(toy_dataset, toy_mask)
    for index in range(len(data)):
        item = data[index]
        assert isinstance(item, IncompleteSample)
        assert torch.equal(item.present, toy_mask.lookup([item.id])[0])
        for name, keep in zip(data.modalities, item.present.tolist(), strict=True):
            assert bool((item.inputs[name] == 0).all()) != keep


def test_present_is_mask_and_source_availability() -> None:
    available = torch.tensor([[True, False], [True, True]])
    base = TensorMultiModalDataset(
        ["p", "q"], {"a": torch.ones(2, 1), "b": torch.ones(2, 1)}, torch.zeros(2), available
    )
    data = IncompleteDataset(base, MissingMask.subset(["p", "q"], ("a", "b"), ["b"]))
    assert data[0].present.tolist() == [False, False]
    assert data[1].present.tolist() == [False, True]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_masks_follow_ids_across_shuffled_epochs(
    toy_dataset: TensorMultiModalDataset, toy_mask: MissingMask, num_workers: int
) -> None:
    data = IncompleteDataset(toy_dataset, toy_mask)
    loader = DataLoader(
        data, batch_size=7, shuffle=True, num_workers=num_workers, collate_fn=collate_incomplete,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    orders = []
    for _ in range(2):
        seen: list[str] = []
        for batch in loader:
            _check_batch(batch, toy_mask)
            seen += batch.ids
        assert sorted(seen) == sorted(toy_dataset.sample_ids())
        orders.append(seen)
    assert orders[0] != orders[1]  # the shuffles differ, the per-id masks do not


def test_masks_follow_ids_under_distributed_sampler(
    toy_dataset: TensorMultiModalDataset, toy_mask: MissingMask
) -> None:
    data = IncompleteDataset(toy_dataset, toy_mask)
    for epoch in range(2):
        union: list[str] = []
        for rank in range(2):
            sampler: DistributedSampler[IncompleteSample] = DistributedSampler(
                data, num_replicas=2, rank=rank, shuffle=True, seed=3
            )
            sampler.set_epoch(epoch)
            loader = DataLoader(data, batch_size=5, sampler=sampler, num_workers=0, collate_fn=collate_incomplete)
            for batch in loader:
                _check_batch(batch, toy_mask)
                union += batch.ids
        assert sorted(union) == sorted(toy_dataset.sample_ids())


def test_dataset_and_collate_pickle(toy_dataset: TensorMultiModalDataset, toy_mask: MissingMask) -> None:
    data = pickle.loads(pickle.dumps(IncompleteDataset(toy_dataset, toy_mask)))
    collate = pickle.loads(pickle.dumps(collate_incomplete))
    batch = collate([data[i] for i in range(6)])
    _check_batch(batch, toy_mask)
    moved = batch.to("cpu")
    assert moved.ids == batch.ids
    assert torch.equal(moved.inputs["b"], batch.inputs["b"])


def test_collate_pads_sequences_and_reports_lengths() -> None:
    items = [
        IncompleteSample("u", {"seq": torch.ones(3, 2), "img": torch.ones(1, 4)}, torch.tensor([True, True]),
                         torch.tensor(1), {"w": torch.tensor([1.0])}),
        IncompleteSample("v", {"seq": torch.full((5, 2), 2.0), "img": torch.zeros(1, 4)}, torch.tensor([True, False]),
                         torch.tensor(0), {"w": torch.tensor([2.0])}),
    ]  # fmt: skip
    batch = collate_incomplete(items)
    assert batch.inputs["seq"].shape == (2, 5, 2)
    assert batch.lengths["seq"].tolist() == [3, 5]
    assert batch.lengths["img"].tolist() == [1, 1]
    assert batch.inputs["seq"][0, 3:].abs().sum() == 0
    assert batch.inputs["seq"][0, :3].sum() == 6
    assert batch.present.tolist() == [[True, True], [True, False]]
    assert batch.extras["w"].tolist() == [[1.0], [2.0]]


def test_collate_shape_mismatch_names_the_samples() -> None:
    items = [
        IncompleteSample("u", {"seq": torch.ones(3, 2)}, torch.tensor([True]), torch.tensor(1)),
        IncompleteSample("v", {"seq": torch.ones(3, 4)}, torch.tensor([True]), torch.tensor(1)),
    ]
    with pytest.raises(ValueError, match=r"seq: sample 'v' has .*\(3, 4\).*sample 'u'"):
        collate_incomplete(items)


def test_mask_that_does_not_fit_the_dataset(toy_dataset: TensorMultiModalDataset) -> None:
    ids = toy_dataset.sample_ids()
    with pytest.raises(ValueError, match="modalities"):
        IncompleteDataset(toy_dataset, MissingMask.full(ids, ("a", "b")))
    with pytest.raises(ValueError, match="does not have"):
        IncompleteDataset(toy_dataset, MissingMask.full([*ids, "extra"], toy_dataset.modalities))
    with pytest.raises(ValueError, match="covers 39 of the dataset's 40"):
        IncompleteDataset(toy_dataset, MissingMask.full(ids[1:], toy_dataset.modalities))


def test_exclude_mask_drops_samples(toy_dataset: TensorMultiModalDataset) -> None:
    mask = MissingMask.generate(
        toy_dataset.sample_ids(), toy_dataset.modalities, (0.7, 0.7, 0.7), seed=0, all_missing="exclude"
    )
    data = IncompleteDataset(toy_dataset, mask)
    assert len(data) == len(mask) < len(toy_dataset)
    assert data.sample_ids() == [sid for sid in toy_dataset.sample_ids() if sid in mask]
