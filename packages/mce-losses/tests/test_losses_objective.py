"""MCEObjective (Eq. 14): switches, Table 2's rows, exact zeros, factors replaced by ones."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor
from torch.nn.functional import cross_entropy

from mce_losses import (
    ABLATION_ROWS,
    MCEObjective,
    MCETerms,
    Switches,
    auxiliary_loss,
    factor_a,
    pair_features,
    single_modal_loss,
    subset_loss,
    subset_pairs,
)
from mce_losses.subsets import SubsetPairs

# Table 2's check marks, column by column (A, B, L_single, L_sub, L_aux) as printed, except
# row j: printed with A and B, read as h + B (the text: "both the global factor A (i) and the
# batch-level factor B (j) ... on top of the complete RCE foundation (h)").
TABLE2 = {
    "a": "-----",
    "b": "--s--",
    "c": "---u-",
    "d": "----x",
    "e": "--su-",
    "f": "--s-x",
    "g": "---ux",
    "h": "--sux",
    "i": "A-sux",
    "j": "-Bsux",
    "k": "ABs--",
    "l": "AB--x",
    "m": "ABsux",
}


def test_ablation_rows_follow_table2() -> None:
    assert sorted(ABLATION_ROWS) == list("abcdefghijklm")
    for row, marks in TABLE2.items():
        switches = ABLATION_ROWS[row]
        assert (switches.a, switches.b, switches.single, switches.sub, switches.aux) == tuple(c != "-" for c in marks)
    assert ABLATION_ROWS["m"] == Switches()
    # the table's pairs of rows that differ in one factor
    assert dataclasses.replace(ABLATION_ROWS["h"], a=True) == ABLATION_ROWS["i"]
    assert dataclasses.replace(ABLATION_ROWS["h"], b=True) == ABLATION_ROWS["j"]
    assert dataclasses.replace(ABLATION_ROWS["i"], b=True) == ABLATION_ROWS["m"]


def test_switches_reject_non_bools() -> None:
    with pytest.raises(TypeError, match=r"Switches\.sub must be a bool; got int 1"):
        Switches(sub=1)  # type: ignore[arg-type]


class Batch:
    """A small batch with every input MCEObjective can take, all requiring gradients."""

    def __init__(self, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.present = torch.tensor(
            [[True, True, False], [True, False, True], [True, True, True], [False, False, True], [True, False, False]]
        )
        self.pairs: SubsetPairs = subset_pairs(self.present)
        self.task = torch.rand((), generator=generator).requires_grad_()
        self.unimodal_losses = torch.rand(5, 3, generator=generator).requires_grad_()
        self.pair_losses = torch.rand(self.pairs.n_pairs, generator=generator).requires_grad_()
        self.features = torch.randn(5, 3, 4, generator=generator).requires_grad_()
        self.reconstructed = torch.randn(self.pairs.n_pairs, 3, 4, generator=generator).requires_grad_()
        self.factor_b = torch.tensor([0.5, 0.0, 0.25]).requires_grad_()  # would leak if not detached
        self.factor_a = factor_a(self.present)

    def inputs(self) -> dict[str, Tensor | SubsetPairs]:
        return {
            "task": self.task,
            "present": self.present,
            "factor_b": self.factor_b,
            "unimodal_losses": self.unimodal_losses,
            "pairs": self.pairs,
            "pair_losses": self.pair_losses,
            "reconstructed": self.reconstructed,
            "features": self.features,
        }


@pytest.mark.parametrize("row", sorted(ABLATION_ROWS))
def test_every_row_composes_the_functional_terms(row: str) -> None:
    batch = Batch()
    switches = ABLATION_ROWS[row]
    objective = MCEObjective(batch.factor_a, switches, lambda_single=0.5, lambda_sub=2.0, lambda_aux=3.0)
    terms = objective(**batch.inputs())
    assert isinstance(terms, MCETerms)
    a = batch.factor_a if switches.a else torch.ones(3)
    b = batch.factor_b.detach() if switches.b else torch.ones(3)
    torch.testing.assert_close(terms.a, a)
    torch.testing.assert_close(terms.b, b)
    single = single_modal_loss(batch.unimodal_losses, batch.present, a * b) if switches.single else torch.tensor(0.0)
    sub = subset_loss(batch.pair_losses, batch.pairs) if switches.sub else torch.tensor(0.0)
    aux = auxiliary_loss(batch.reconstructed, batch.features, batch.pairs, a * b) if switches.aux else torch.tensor(0.0)
    torch.testing.assert_close(terms.single, single)
    torch.testing.assert_close(terms.sub, sub)
    torch.testing.assert_close(terms.aux, aux)
    torch.testing.assert_close(terms.total, batch.task + 0.5 * single + 2.0 * sub + 3.0 * aux)
    for name, on in (("single", switches.single), ("sub", switches.sub), ("aux", switches.aux)):
        if not on:  # exact zeros, detached from every input
            value = getattr(terms, name)
            assert value.item() == 0.0
            assert not value.requires_grad


@pytest.mark.parametrize("row", sorted(ABLATION_ROWS))
def test_switched_off_inputs_are_not_needed(row: str) -> None:
    batch = Batch()
    switches = ABLATION_ROWS[row]
    objective = MCEObjective(batch.factor_a if switches.a else None, switches)
    needed: dict[str, Tensor | SubsetPairs] = {"task": batch.task, "present": batch.present}
    if objective.needs_factor_b:
        needed["factor_b"] = batch.factor_b
    if objective.needs_unimodal_losses:
        needed["unimodal_losses"] = batch.unimodal_losses
    if objective.needs_pairs:
        needed["pairs"] = batch.pairs
    if switches.sub:
        needed["pair_losses"] = batch.pair_losses
    if objective.needs_reconstruction:
        needed["reconstructed"] = batch.reconstructed
        needed["features"] = batch.features
    terms = objective(**needed)
    full = objective(**batch.inputs())
    torch.testing.assert_close(torch.stack(terms[:5]), torch.stack(full[:5]))
    if row == "a":  # the baseline is the task loss alone
        assert terms.total is batch.task


def test_gradients_flow_to_terms_and_never_to_factor_b() -> None:
    batch = Batch()
    terms = MCEObjective(batch.factor_a)(**batch.inputs())
    terms.total.backward()
    assert batch.factor_b.grad is None
    assert not terms.b.requires_grad
    assert not terms.a.requires_grad
    for tensor in (batch.task, batch.unimodal_losses, batch.pair_losses, batch.reconstructed, batch.features):
        assert tensor.grad is not None
        assert tensor.grad.abs().sum() > 0
    # B = 0 for modality 1: neither L_single nor L_aux trains it
    assert batch.unimodal_losses.grad is not None
    assert batch.unimodal_losses.grad[:, 1].eq(0).all()
    assert batch.reconstructed.grad is not None
    assert batch.reconstructed.grad[:, 1].eq(0).all()


def test_factor_switched_off_is_replaced_by_ones() -> None:
    batch = Batch()
    no_factors = Switches(a=False, b=False)
    plain = MCEObjective(None, no_factors)(**batch.inputs())
    torch.testing.assert_close(plain.a, torch.ones(3))
    torch.testing.assert_close(plain.b, torch.ones(3))
    torch.testing.assert_close(plain.single, single_modal_loss(batch.unimodal_losses, batch.present))
    # factor_a given but A switched off: still ones
    off = MCEObjective(batch.factor_a, no_factors)(**batch.inputs())
    torch.testing.assert_close(off.a, torch.ones(3))


def test_missing_inputs_name_the_switch() -> None:
    batch = Batch()
    objective = MCEObjective(batch.factor_a)
    inputs = batch.inputs()
    for name, message in (
        ("factor_b", "switches.b is on: pass factor_b"),
        ("unimodal_losses", "switches.single is on: pass unimodal_losses"),
        ("pairs", "switches.sub is on: pass pairs"),
        ("pair_losses", "switches.sub is on: pass pair_losses"),
        ("reconstructed", "switches.aux is on: pass reconstructed"),
        ("features", "switches.aux is on: pass features"),
    ):
        with pytest.raises(ValueError, match=message):
            objective(**{k: v for k, v in inputs.items() if k != name})
    with pytest.raises(ValueError, match=r"switches\.a is on but no factor_a was given"):
        MCEObjective(None)


def test_argument_checks() -> None:
    batch = Batch()
    with pytest.raises(ValueError, match=r"task must be a scalar loss \(shape \[\]\); got shape \[5\]"):
        MCEObjective(batch.factor_a)(**{**batch.inputs(), "task": torch.zeros(5)})
    with pytest.raises(ValueError, match=r"factor_a must have shape \[3\] \(one value per modality\); got shape \[2\]"):
        MCEObjective(torch.ones(2))(**batch.inputs())
    other = subset_pairs(torch.ones(5, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="pairs were built from a different presence matrix"):
        MCEObjective(batch.factor_a)(**{**batch.inputs(), "pairs": other})
    with pytest.raises(ValueError, match=r"lambda_aux must be a finite number >= 0; got -1\.0"):
        MCEObjective(batch.factor_a, lambda_aux=-1.0)
    with pytest.raises(ValueError, match="normalization must be one of"):
        MCEObjective(batch.factor_a, normalization="pairs")  # type: ignore[arg-type]


def test_objective_options_reach_the_functions() -> None:
    batch = Batch()
    objective = MCEObjective(
        None,
        Switches(a=False, b=False),
        distance="mse",
        detach_target=True,
        normalization="sample",
        modality_reduction="mean",
    )
    terms = objective(**batch.inputs())
    torch.testing.assert_close(
        terms.aux,
        auxiliary_loss(
            batch.reconstructed, batch.features, batch.pairs, distance="mse", detach_target=True, normalization="sample"
        ),
    )
    torch.testing.assert_close(terms.sub, subset_loss(batch.pair_losses, batch.pairs, normalization="sample"))
    torch.testing.assert_close(
        terms.single, single_modal_loss(batch.unimodal_losses, batch.present, modality_reduction="mean")
    )
    terms.total.backward()
    assert batch.features.grad is None  # detach_target: no path into the features here
    assert "distance='mse'" in repr(objective)


def test_factor_a_is_a_buffer_and_terms_log() -> None:
    batch = Batch()
    objective = MCEObjective(batch.factor_a)
    assert torch.equal(objective.state_dict()["factor_a"], batch.factor_a)
    assert list(objective.parameters()) == []
    restored = MCEObjective(torch.zeros(3))
    restored.load_state_dict(objective.state_dict())
    assert restored.factor_a is not None
    assert torch.equal(restored.factor_a, batch.factor_a)
    scalars = objective(**batch.inputs()).scalars()
    assert sorted(scalars) == ["aux", "single", "sub", "task", "total"]
    assert all(isinstance(v, float) for v in scalars.values())


def test_one_training_step_reduces_the_objective() -> None:
    # A tiny model trained with the full objective: the loss must go down (it is a loss).
    torch.manual_seed(0)
    n, m, d, c = 32, 3, 6, 3
    x = torch.randn(n, m, d)
    y = torch.randint(0, c, (n,))
    present = torch.rand(n, m) < 0.6
    present[:, 0] |= ~present.any(dim=1)
    pairs = subset_pairs(present)
    encoder = torch.nn.Linear(d, d)
    head = torch.nn.Linear(m * d, c)
    heads = torch.nn.ModuleList(torch.nn.Linear(d, c) for _ in range(m))
    mix = torch.nn.Linear(m * d, m * d)
    params = [*encoder.parameters(), *head.parameters(), *heads.parameters(), *mix.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.1)
    objective = MCEObjective(factor_a(present))
    b = torch.full((m,), 0.5)
    totals = []
    for _ in range(20):
        h = encoder(x) * present[..., None]
        task = cross_entropy(head(h.flatten(1)), y)
        unimodal = torch.stack([cross_entropy(heads[k](h[:, k]), y, reduction="none") for k in range(m)], 1)
        rows = pair_features(h, pairs)
        completed = rows + mix(rows.flatten(1)).view_as(rows)
        pair_losses = cross_entropy(head(completed.flatten(1)), y[pairs.sample_index], reduction="none")
        terms = objective(
            task=task,
            present=present,
            factor_b=b,
            unimodal_losses=unimodal,
            pairs=pairs,
            pair_losses=pair_losses,
            reconstructed=completed,
            features=h,
        )
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        totals.append(terms.total.item())
    assert totals[-1] < totals[0]
