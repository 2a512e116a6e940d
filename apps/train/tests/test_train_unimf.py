"""UniMF: its two attention masks against the official code's slicing, absent sources against leaving them out
of the sequence, token-by-token generation against teacher forcing, the completion slot, the translation
loss against a per-sample loop, and end-to-end runs and a resume."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from mce_train.cli import main
from mce_train.methods.unimf import (
    LabelFusion,
    TranslationCompletion,
    Translator,
    UniMF,
    as_tokens,
    label_mask,
    translation_mask,
)

INF = float("-inf")


def _translator(target: int, modalities: int = 3, tokens: int = 3, chunk: int = 2) -> Translator:
    torch.manual_seed(target)
    return Translator(
        target,
        modalities,
        tokens,
        chunk,
        dim=8,
        heads=2,
        layers=2,
        attn_dropout=0.0,
        embed_dropout=0.0,
        trans_dropout=0.0,
    ).eval()


def test_the_translation_mask_is_the_official_two_source_mask() -> None:
    # gw-zhong/UniMF modules/multihead_attention.py, modalities 'LA' (l_len = a_len = 2), missing 'V'
    n_l, a, target = 2, 2, 3
    size = n_l + a + target
    official = torch.zeros(size, size)
    official[:n_l, n_l : n_l + a] = INF
    official[n_l : n_l + a, :n_l] = INF
    official[: n_l + a, n_l + a + 1 :] = INF
    official[n_l + a + 1 :, : n_l + a] = INF
    official[n_l + a :, n_l + a :] = torch.triu(torch.full((target, target), INF), 1)
    assert torch.equal(translation_mask(2, 2, target), official == INF)
    # one source token, the start token and one target token, by hand (True: blocked)
    assert translation_mask(1, 1, 2).tolist() == [[False, False, True], [False, False, True], [True, False, False]]


def test_the_label_mask_is_the_official_three_modality_mask() -> None:
    # gw-zhong/UniMF modules/masked_multihead_attention.py: [CLS] (1), L, A, V (2 tokens each)
    c, n_l, a = 1, 2, 2
    official = torch.zeros(7, 7)
    official[:c, :c] = INF
    official[c : c + n_l, c + n_l :] = INF
    official[c + n_l : c + n_l + a, c : c + n_l] = INF
    official[c + n_l : c + n_l + a, c + n_l + a :] = INF
    official[c + n_l + a :, c : c + n_l + a] = INF
    assert torch.equal(label_mask(3, 2), official == INF)


def test_an_absent_source_is_the_same_as_leaving_it_out_and_is_never_read() -> None:
    translator = _translator(2)
    sources = torch.randn(4, 2, 3, 2)
    target = torch.randn(4, 3, 2)
    keep = torch.tensor([[True, False], [True, False], [False, True], [True, True]])
    sources[~keep] = float("nan")
    with torch.no_grad():
        masked = translator.teacher_forced(sources, [0, 1], keep, target)
        only_first = translator.teacher_forced(sources[:2, :1], [0], keep[:2, :1], target[:2])
        only_second = translator.teacher_forced(sources[2:3, 1:], [1], keep[2:3, 1:], target[2:3])
    assert not masked.isnan().any()
    assert torch.allclose(masked[:2], only_first, atol=1e-5)
    assert torch.allclose(masked[2:3], only_second, atol=1e-5)


def test_generation_is_teacher_forcing_on_its_own_tokens() -> None:
    translator = _translator(0)
    sources, keep = torch.randn(3, 2, 3, 2), torch.tensor([[True, True], [True, False], [False, True]])
    with torch.no_grad():
        made = translator.generate(sources, [1, 2], keep)
        again = translator.teacher_forced(sources, [1, 2], keep, made)
        changed = made.clone()
        changed[:, 2] += 5.0  # the last token: no earlier prediction may move
        later = translator.teacher_forced(sources, [1, 2], keep, changed)
    assert made.shape == (3, 3, 2)
    assert torch.allclose(again, made, atol=1e-5)
    assert torch.allclose(later, made, atol=1e-5)


def _completion() -> TranslationCompletion:
    names = ("a", "b", "c")
    return TranslationCompletion(names, {n: _translator(m) for m, n in enumerate(names)}, tokens=3).eval()


def test_the_completion_keeps_kept_slots_and_generates_dropped_ones_from_the_kept_only() -> None:
    completion = _completion()
    h = torch.randn(3, 3, 6)
    keep = torch.tensor([[True, False, True], [False, True, False], [True, True, True]])
    h_nan = h.clone()
    h_nan[~keep] = float("nan")
    with torch.no_grad():
        out = completion(h_nan, keep)
        b_from_ac = completion.translator("b").generate(as_tokens(h[:1, [0, 2]], 3), [0, 2], keep[:1, [0, 2]])
        a_from_b = completion.translator("a").generate(as_tokens(h[1:2, [1, 2]], 3), [1, 2], keep[1:2, [1, 2]])
    assert torch.equal(out[keep], h[keep])
    assert torch.allclose(out[0, 1], b_from_ac.reshape(6), atol=1e-5)
    assert torch.allclose(out[1, 0], a_from_b.reshape(6), atol=1e-5)


def test_the_translation_loss_is_the_summed_mse_of_a_per_sample_loop() -> None:
    completion = _completion()
    h = torch.randn(5, 3, 6)
    present = torch.tensor(
        [[True, True, True], [True, False, False], [False, True, True], [True, False, True], [False, False, True]]
    )
    loss, logs = completion.translation_loss(h, present)
    expected = 0.0
    with torch.no_grad():
        for m, name in enumerate("abc"):
            errors = []
            for i in range(5):
                others = [j for j in range(3) if j != m and present[i, j]]
                if not present[i, m] or not others:
                    continue
                target = as_tokens(h[i : i + 1, m], 3)
                sources = as_tokens(h[i : i + 1, others], 3)
                keep = torch.ones(1, len(others), dtype=torch.bool)
                errors.append(
                    ((completion.translator(name).teacher_forced(sources, others, keep, target) - target) ** 2).mean()
                )
            mse = torch.stack(errors).mean().item()  # every row has T·c elements: the mean of rows is nn.MSELoss
            assert logs[f"translation_{name}"] == pytest.approx(mse, rel=1e-4)
            expected += mse
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    # gradients: the sources' only, every target detached (a row with no translation gets none)
    h.requires_grad_(True)
    (grad,) = torch.autograd.grad(completion.translation_loss(h, present)[0], h)
    manual = h.new_zeros(())
    for m, name in enumerate("abc"):
        others = [j for j in range(3) if j != m]
        rows = [i for i in range(5) if present[i, m] and present[i, others].any()]
        target = as_tokens(h[rows, m].detach(), 3)
        predicted = completion.translator(name).teacher_forced(
            as_tokens(h[rows][:, others], 3), others, present[rows][:, others], target
        )
        manual = manual + ((predicted - target) ** 2).mean()
    (expected_grad,) = torch.autograd.grad(manual, h)
    assert torch.allclose(grad, expected_grad, atol=1e-6)
    assert grad[[1, 4]].abs().sum() == 0


def test_the_label_fusion_reads_every_modality() -> None:
    torch.manual_seed(0)
    fusion = LabelFusion(3, 3, 2, 4, dim=8, heads=2, layers=1, attn_dropout=0.0, embed_dropout=0.0, out_dropout=0.0)
    h = torch.randn(2, 3, 6, requires_grad=True)
    out = fusion(h)
    assert out.shape == (2, 4)
    out.sum().backward()
    assert h.grad is not None
    assert (h.grad.abs().sum(dim=(0, 2)) > 0).all()


def test_bad_options_are_clear_errors() -> None:
    options = {o.dest: o.default for o in UniMF.options}
    UniMF.check(options)
    with pytest.raises(ValueError, match="must divide"):
        UniMF.check({**options, "unimf_heads": 3})
    with pytest.raises(ValueError, match=">= 1"):
        UniMF.check({**options, "unimf_tokens": 0})


def _run(out: Path, *extra: str) -> dict[str, Any]:
    assert main(["--quick", "--no-progress", "--threads", "1", "--out", str(out), "--methods", "unimf", *extra]) == 0
    record: dict[str, Any] = json.loads((out / "results.json").read_text())
    return record


@pytest.mark.parametrize(
    ("benchmark", "fusion"), [("iemocap", "unimf"), ("avmnist", "unimf"), ("avmnist", "benchmark")]
)
def test_unimf_trains_end_to_end(benchmark: str, fusion: str, no_real_data: Path, runs: Path) -> None:
    out = runs / f"unimf-{benchmark}-{fusion}"
    record = _run(out, "--benchmark", benchmark, "--steps", "4", "--unimf-fusion", fusion)
    header = (out / "runs" / "unimf-seed0" / "train_log.csv").read_text().splitlines()[0].split(",")
    assert {"task", "translation"} <= set(header)
    scores = record["per_seed"][0]["methods"]["unimf"]["test"]
    assert len(scores) == 2 ** (3 if benchmark == "iemocap" else 2) - 1
    assert all(0.0 <= s[record["metric"]] <= 100.0 for s in scores.values())


def test_a_killed_unimf_run_resumes_to_the_same_numbers(
    no_real_data: Path, runs: Path, kill_at_step: Callable[[int | None], None]
) -> None:
    args = ["--benchmark", "iemocap", "--steps", "8", "--checkpoint-every", "3"]
    reference = _run(runs / "unimf-ref", *args)
    kill_at_step(5)
    with pytest.raises(KeyboardInterrupt):
        _run(runs / "unimf-killed", *args)
    kill_at_step(None)
    resumed = _run(runs / "unimf-killed", *args, "--resume")
    assert resumed["per_seed"][0]["methods"] == reference["per_seed"][0]["methods"]
    log = Path("runs") / "unimf-seed0" / "train_log.csv"
    assert (runs / "unimf-killed" / log).read_text() == (runs / "unimf-ref" / log).read_text()
