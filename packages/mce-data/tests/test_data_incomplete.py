"""IncompleteDataset + collate_incomplete: masks follow ids through shuffles, workers and DistributedSampler."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from mce_data.collate import Batch, collate_incomplete
from mce_data.incomplete import IncompleteDataset, IncompleteSample
from mce_data.masks import MissingMask
from mce_data.sample import Sample, available_matrix
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
    return MissingMask.generate(
        toy_dataset.sample_ids(), toy_dataset.modalities, (0.5, 0.3, 0.6), seed=5, all_missing="swap"
    )


def test_items_zero_missing_inputs(toy_dataset: TensorMultiModalDataset, toy_mask: MissingMask) -> None:
    data = IncompleteDataset(toy_dataset, toy_mask)
    for index in range(len(data)):
        item = data[index]
        assert isinstance(item, IncompleteSample)
        assert torch.equal(item.present, toy_mask.lookup([item.id])[0])
        for name, keep in zip(data.modalities, item.present.tolist(), strict=True):
            assert bool((item.inputs[name] == 0).all()) != keep


class _NoAvailableMatrix:
    """A base dataset without ``available_matrix()``: availability is only known per item."""

    def __init__(self, base: TensorMultiModalDataset) -> None:
        self.base, self.modalities = base, base.modalities

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Sample:
        return self.base[index]

    def sample_ids(self) -> list[str]:
        return self.base.sample_ids()


def test_present_is_mask_and_source_availability_never_all_missing() -> None:
    available = torch.tensor([[True, False], [True, True], [True, True]])
    ids = ["p", "q", "r"]
    base = TensorMultiModalDataset(ids, {"a": torch.ones(3, 1), "b": torch.ones(3, 1)}, torch.zeros(3), available)
    only_b = MissingMask.subset(ids, ("a", "b"), ["b"])
    with pytest.raises(ValueError, match=r"1 id\(s\), e.g. \['p'\] end with every modality missing"):
        IncompleteDataset(base, only_b)
    excluding = MissingMask(ids, ("a", "b"), only_b.present, all_missing="exclude")
    data = IncompleteDataset(base, excluding)
    assert data.sample_ids() == ["q", "r"]
    assert [data[i].present.tolist() for i in range(2)] == [[False, True], [False, True]]
    lazy = IncompleteDataset(_NoAvailableMatrix(base), only_b)  # found only when the sample is read
    assert lazy[1].present.tolist() == [False, True]
    with pytest.raises(ValueError, match=r"sample 'p' ends with every modality missing"):
        lazy[0]
    mask = MissingMask.generate(ids, ("a", "b"), (0.0, 0.4), seed=0, available=available_matrix(base))
    drawn = IncompleteDataset(base, mask)
    assert all(bool(drawn[i].present.any()) for i in range(3))


def test_set_epoch_is_forwarded_to_the_base(toy_dataset: TensorMultiModalDataset, toy_mask: MissingMask) -> None:
    calls: list[int] = []
    toy_dataset.set_epoch = calls.append  # type: ignore[attr-defined]
    IncompleteDataset(toy_dataset, toy_mask).set_epoch(4)
    assert calls == [4]


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
    seq = frozenset({"seq"})
    items = [
        IncompleteSample("u", {"seq": torch.ones(3, 2), "img": torch.ones(1, 4)}, torch.tensor([True, True]),
                         torch.tensor(1), {"w": torch.tensor([1.0])}, seq),
        IncompleteSample("v", {"seq": torch.full((5, 2), 2.0), "img": torch.zeros(1, 4)}, torch.tensor([True, False]),
                         torch.tensor(0), {"w": torch.tensor([2.0])}, seq),
    ]  # fmt: skip
    batch = collate_incomplete(items)
    assert batch.inputs["seq"].shape == (2, 5, 2)
    assert batch.lengths["seq"].tolist() == [3, 5]
    assert batch.lengths["img"].tolist() == [1, 0]  # missing: length 0
    assert batch.inputs["seq"][0, 3:].abs().sum() == 0
    assert batch.inputs["seq"][0, :3].sum() == 6
    assert batch.present.tolist() == [[True, True], [True, False]]
    assert batch.extras["w"].tolist() == [[1.0], [2.0]]


def test_collate_shape_mismatch_names_the_samples() -> None:
    seq = frozenset({"seq"})
    items = [
        IncompleteSample("u", {"seq": torch.ones(3, 2)}, torch.tensor([True]), torch.tensor(1), sequences=seq),
        IncompleteSample("v", {"seq": torch.ones(3, 4)}, torch.tensor([True]), torch.tensor(1), sequences=seq),
    ]
    with pytest.raises(ValueError, match=r"seq: sample 'v' has .*\(3, 4\).*sample 'u'"):
        collate_incomplete(items)


def test_collate_pads_only_sequence_modalities() -> None:
    # Before: images [3, 28, 28] and [1, 28, 28] were silently zero-padded to [2, 3, 28, 28].
    items = [
        IncompleteSample("u", {"img": torch.ones(3, 28, 28)}, torch.tensor([True]), torch.tensor(1)),
        IncompleteSample("v", {"img": torch.ones(1, 28, 28)}, torch.tensor([True]), torch.tensor(1)),
    ]
    with pytest.raises(ValueError, match=r"modality 'img'.*\(3, 28, 28\): \['u'\].*\(1, 28, 28\): \['v'\]"):
        collate_incomplete(items)


def test_lengths_of_missing_modalities_are_zero_and_do_not_leak() -> None:
    ids = [f"s{i}" for i in range(4)]
    real = [7, 2, 9, 3]
    base = _Sequences(ids, real)
    mask = MissingMask(ids, ("seq", "vec"), torch.tensor([[True, True], [True, True], [False, True], [True, False]]))
    data = IncompleteDataset(base, mask)
    batch = collate_incomplete([data[i] for i in range(4)])
    assert batch.lengths["seq"].tolist() == [7, 2, 0, 3]  # s2's 9 frames are not reported
    assert batch.inputs["seq"].shape == (4, 7, 2)  # nor do they set the padded width
    assert batch.lengths["vec"].tolist() == [5, 5, 5, 0]
    assert float(batch.inputs["seq"][2].abs().sum()) == 0.0
    alone = collate_incomplete([data[2]])  # a batch of only missing rows still has one (zero) step
    assert alone.inputs["seq"].shape == (1, 1, 2)
    assert alone.lengths["seq"].tolist() == [0]


class _Sequences:
    """Variable-length ``seq: [T_i, 2]`` (filled with T_i) and a fixed ``vec: [5]``."""

    modalities: tuple[str, ...] = ("seq", "vec")
    sequence_modalities = frozenset({"seq"})

    def __init__(self, ids: list[str], lengths: list[int]) -> None:
        self.ids, self.lengths = ids, lengths

    def __len__(self) -> int:
        return len(self.ids)

    def sample_ids(self) -> list[str]:
        return list(self.ids)

    def __getitem__(self, index: int) -> Sample:
        t = self.lengths[index]
        return Sample(self.ids[index], {"seq": torch.full((t, 2), float(t)), "vec": torch.ones(5)}, (True, True),
                      torch.tensor(0))  # fmt: skip


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


def _same_batch(a: Batch, b: Batch) -> None:
    assert a.ids == b.ids
    assert torch.equal(a.present, b.present)
    assert torch.equal(a.target, b.target)
    assert a.extras == b.extras == {}
    for name in a.inputs:
        assert a.inputs[name].dtype == b.inputs[name].dtype
        assert torch.equal(a.inputs[name], b.inputs[name])
        assert torch.equal(a.lengths[name], b.lengths[name]), name
        assert not torch.signbit(a.inputs[name][~a.present[:, list(a.inputs).index(name)]]).any()  # +0, not -0


def test_a_batched_fetch_is_the_per_sample_collate() -> None:
    generator = torch.Generator().manual_seed(3)
    n = 30
    available = torch.rand(n, 3, generator=generator) > 0.2
    inputs = {"a": -torch.rand(n, 3, generator=generator), "b": torch.randn(n, 2, 2, generator=generator)}
    inputs["c"] = torch.randint(0, 9, (n,), generator=generator)  # scalars, integer
    base = TensorMultiModalDataset([f"s{i:02d}" for i in range(n)], inputs, torch.arange(n) % 3, available)
    mask = MissingMask.generate(base.sample_ids(), base.modalities, (0.3, 0.5, 0.6), seed=1, all_missing="exclude")
    data = IncompleteDataset(base, mask)
    assert len(data) < n  # some samples left out, so positions and indices differ
    indices = [4, 0, len(data) - 1, -2, 4]
    _same_batch(data.__getitems__(indices), collate_incomplete([data[i] for i in indices]))
    with pytest.raises(IndexError, match=f"out of range for {len(data)} samples"):
        data.__getitems__([0, len(data)])
    loader = DataLoader(data, batch_size=7, shuffle=True, collate_fn=collate_incomplete, generator=generator)
    batches = list(loader)
    assert sorted(sid for batch in batches for sid in batch.ids) == data.sample_ids()
    for batch in batches:  # the loader fetched batched; the same batch sample by sample
        by_sample = collate_incomplete([data[data.sample_ids().index(sid)] for sid in batch.ids])
        _same_batch(batch, by_sample)


def test_a_batched_fetch_without_rows_collates_sample_by_sample(
    toy_dataset: TensorMultiModalDataset, toy_mask: MissingMask
) -> None:
    data = IncompleteDataset(_NoAvailableMatrix(toy_dataset), toy_mask)  # no rows() either
    batch = data.__getitems__([3, 1])
    _check_batch(batch, toy_mask)
    assert batch.ids == ["toy-003", "toy-001"]
