"""care train merge and care cv on the tiny Llama of test_train_sft (real runs, no mocks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from care.data.session import RatingSet, Session, Turn  # noqa: E402
from care.train.sft import options_for, train_sft  # noqa: E402
from test_train_sft import EXAMPLES, _tiny_model, _write_data  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


def test_merge_gives_same_logits_and_loads_in_backend(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from peft import PeftModel

    from care.cli.main import cli

    base = _tiny_model(tmp_path / "base")
    data = _write_data(tmp_path / "train.jsonl")
    options = options_for("cpu-tiny", lr=5e-2, max_steps=4, save_steps=4, lora_dropout=0.0)
    adapter = tmp_path / "lora"
    train_sft(str(base), data, adapter, options)
    out = tmp_path / "merged"
    args = ["train", "merge", "--base", str(base), "--adapter", str(adapter), "--out", str(out)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not (out / "adapter_config.json").exists()

    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    ids = torch.tensor([tokenizer(EXAMPLES[0][0] + " " + EXAMPLES[0][1]).input_ids])
    with torch.no_grad():
        plain = transformers.AutoModelForCausalLM.from_pretrained(base)
        expected = PeftModel.from_pretrained(plain, str(adapter))(input_ids=ids).logits
        merged = transformers.AutoModelForCausalLM.from_pretrained(out)
        got = merged(input_ids=ids).logits
        untuned = transformers.AutoModelForCausalLM.from_pretrained(base)(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-5)
    assert not torch.allclose(untuned, got, atol=1e-5)

    from care.backends.base import GenerationOptions
    from care.backends.registry import get_backend

    backend = get_backend(f"transformers/{out}", threads=1)
    generation = backend.generate(
        [{"role": "user", "content": EXAMPLES[0][0]}], GenerationOptions(max_tokens=2)
    )
    assert type(backend._model).__name__ == "LlamaForCausalLM"
    assert generation.usage.prompt_tokens > 0

    # The adapter directory itself is a model for `care assess --model transformers/<dir>`:
    # it is loaded on the base model its adapter_config.json names.
    from_adapter = get_backend(f"transformers/{adapter}", threads=1)
    from_adapter.load()
    with torch.no_grad():
        through_backend = from_adapter._model(input_ids=ids).logits
    assert torch.allclose(expected, through_backend, atol=1e-5)

    bad = CliRunner().invoke(
        cli,
        [
            "train",
            "merge",
            "--base",
            str(base),
            "--adapter",
            str(tmp_path),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert bad.exit_code == 2 and "adapter_config.json" in bad.output


def _sessions() -> list[Session]:
    sessions = []
    for index in range(6):
        turns = [
            Turn(index=0, role="counselor", text=EXAMPLES[index % 4][0]),
            Turn(index=1, role="client", text=EXAMPLES[(index + 1) % 4][1]),
        ]
        value = 1 + index % 5
        sessions.append(
            Session(
                id=f"s{index}",
                turns=turns,
                language="en",
                client_id=f"c{index // 2}",
                ratings=[
                    RatingSet("wai-sr-client", "client", {"item1": value, "item2": 6 - value})
                ],
            )
        )
    return sessions


def test_cv_two_folds_best_checkpoint(tmp_path: Path) -> None:
    from care.train.cv import cross_validate_sft

    base = _tiny_model(tmp_path / "base")
    # Give the options 1-5 tokens of their own, so the ratings vary.
    tokenizer = transformers.AutoTokenizer.from_pretrained(base)
    tokenizer.add_tokens([str(v) for v in range(1, 6)])
    model = transformers.AutoModelForCausalLM.from_pretrained(base)
    model.resize_token_embeddings(len(tokenizer))
    # room for the validation prompts (the assessor refuses a prompt over the context)
    model.config.max_position_embeddings = 512
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    options = options_for(
        "cpu-tiny", lr=5e-2, max_steps=2, save_steps=1, max_length=2048, lora_dropout=0.0
    )
    report = cross_validate_sft(
        _sessions(),
        "wai-sr-client",
        str(base),
        tmp_path / "cv",
        options,
        folds=2,
        score_only=True,
        assessor_options={"max_reasks": 0, "max_new_tokens": 2},
    )
    assert report["items"] == ["item1", "item2"]
    assert len(report["folds"]) == 2
    seen: set[str] = set()
    for fold in report["folds"]:
        assert not set(fold["train_clients"]) & set(fold["validation_clients"])
        seen |= set(fold["validation_sessions"])
        assert len(fold["checkpoints"]) == 2
        rs = [c["r"] for c in fold["checkpoints"]]
        keys = [-1e9 if r != r else r for r in rs]
        best = fold["checkpoints"][keys.index(max(keys))]
        assert fold["best_checkpoint"] == best["checkpoint"]
        assert fold["metrics"]["r"] == best["r"] or (best["r"] != best["r"])
        assert (tmp_path / "cv" / f"fold-{fold['fold']}" / "validation" / "train.jsonl").is_file()
    assert seen == {f"s{i}" for i in range(6)}
    for fold in report["folds"]:
        n = 2 * len(fold["validation_sessions"])
        assert all(c["n"] == n for c in fold["checkpoints"])
    assert set(report["summary"]) == {"r", "mae"}
    assert all(len(pair) == 2 for pair in report["summary"].values())
    assert (tmp_path / "cv" / "cv.json").is_file()


def test_best_checkpoint_is_the_highest_validation_r() -> None:
    from care.train.cv import best_checkpoint

    nan = float("nan")
    assert best_checkpoint([{"r": 0.21}, {"r": 0.48}, {"r": 0.35}]) == 1
    assert best_checkpoint([{"r": nan}, {"r": 0.10}]) == 1  # NaN counts lowest
    assert best_checkpoint([{"r": 0.30}, {"r": 0.30}]) == 0  # the earliest wins a tie
