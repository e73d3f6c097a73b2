"""care train sft: real (tiny) fine-tuning runs, no mocks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from care.train.sft import IGNORE, encode_example, options_for, train_sft  # noqa: E402

torch.set_num_threads(1)

TEMPLATE = (
    "{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant :{% endif %}"
)

EXAMPLES = [
    ("how often did the counselor listen", "4. very often because they listened"),
    ("did the client feel respected", "5. always the counselor was warm"),
    ("were the goals agreed", "2. rarely goals were never named"),
    ("did they trust the method", "3. sometimes the method seemed odd"),
]


def _write_data(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for index, (question, answer) in enumerate(EXAMPLES):
            record = {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ],
                "session_id": f"s{index}",
                "item_id": "q1",
                "client_id": f"c{index}",
            }
            handle.write(json.dumps(record) + "\n")
    return path


def _tiny_model(directory: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for q, a in EXAMPLES for w in f"{q} {a} user assistant : Answer:".split()})
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {token: i for i, token in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = TEMPLATE
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_tiny_llama_answer_only_loss_overfit_lora_reload_resume(tmp_path: Path) -> None:
    base = _tiny_model(tmp_path / "base")
    data = _write_data(tmp_path / "train.jsonl")
    tokenizer = transformers.AutoTokenizer.from_pretrained(base)

    # Only the answer (and the end of turn) carry loss.
    messages = [{"role": "user", "content": EXAMPLES[0][0]}]
    messages.append({"role": "assistant", "content": EXAMPLES[0][1]})
    input_ids, labels, truncated = encode_example(tokenizer, messages)
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False).input_ids)
    assert not truncated and n_prompt > 0
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert labels[n_prompt:] == input_ids[n_prompt:]
    answer = tokenizer.decode(input_ids[n_prompt:])
    assert EXAMPLES[0][1] in answer and "</s>" in answer
    assert "user" not in tokenizer.decode([t for t in labels if t != IGNORE])

    # Full fine-tuning overfits four examples: the loss falls.
    full_out = tmp_path / "full"
    full = options_for(
        "cpu-tiny",
        method="full",
        lr=3e-3,
        max_steps=40,
        save_steps=40,
        warmup=0.0,
        scheduler="constant",
        logging_steps=4,
    )
    logged: list[str] = []
    result = train_sft(str(base), data, full_out, full, progress=logged.append)
    assert result.steps == 40 and result.template == "chat template"
    assert result.losses[-1] < 0.5 * result.losses[0], result.losses
    assert any("loss" in line for line in logged)
    assert json.loads((full_out / "care-sft.json").read_text())["steps"] == 40
    transformers.AutoModelForCausalLM.from_pretrained(full_out)

    # LoRA: the adapter is saved, reloads, and changes the model.
    out = tmp_path / "lora"
    options = options_for(
        "cpu-tiny",
        lr=5e-2,
        max_steps=8,
        save_steps=4,
        lora_dropout=0.0,
        warmup=0.0,
        scheduler="constant",
    )
    lora = train_sft(str(base), data, out, options)
    assert lora.losses[-1] < lora.losses[0], lora.losses
    assert (out / "adapter_config.json").is_file()
    assert (out / "checkpoints" / "checkpoint-8").is_dir()

    from peft import PeftModel

    plain = transformers.AutoModelForCausalLM.from_pretrained(base)
    batch = torch.tensor([input_ids])
    with torch.no_grad():
        before = plain(input_ids=batch).logits.clone()
        tuned = PeftModel.from_pretrained(plain, str(out))
        after = tuned(input_ids=batch).logits
    changed = [n for n, v in tuned.named_parameters() if "lora_B" in n and v.abs().sum() > 0]
    assert changed
    assert not torch.allclose(before, after)

    # --resume continues from the last checkpoint.
    resumed = train_sft(str(base), data, out, replace(options, max_steps=10), resume=True)
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith("checkpoint-8")
    assert resumed.steps == 10


def test_gemma_demo_lora_then_assess(tmp_path: Path) -> None:
    from care.backends.transformers_backend import care_cache_dir

    if not (care_cache_dir() / "models" / "gemma3-270m" / ".care-complete").is_file():
        pytest.skip("the demo model gemma3-270m is not converted and cached")
    from click.testing import CliRunner

    from care.cli.main import cli

    data = tmp_path / "train.jsonl"
    record = {
        "messages": [
            {"role": "user", "content": "Counselor: Hello.\nClient: Hi.\nRate 1-5."},
            {"role": "assistant", "content": "4. Very often\nThey greeted warmly."},
        ],
        "session_id": "s1",
        "item_id": "q1",
        "client_id": "c1",
    }
    data.write_text(json.dumps(record) + "\n", encoding="utf-8")
    out = tmp_path / "adapter"
    runner = CliRunner()
    args = ["train", "sft", "--base", "gemma3-270m", "--data", str(data), "--out", str(out)]
    args += ["--preset", "cpu-tiny", "--max-steps", "3", "--max-length", "64", "--lr", "1e-3"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "loss" in result.output and "trained 3 steps on 1 examples" in result.output
    print(result.output)
    assert (out / "adapter_config.json").is_file()

    from care.backends.base import GenerationOptions
    from care.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend("gemma3-270m", adapter=str(out), threads=1)
    generation = backend.generate(
        [{"role": "user", "content": record["messages"][0]["content"]}],
        GenerationOptions(max_tokens=2, temperature=0.0),
    )
    assert type(backend._model).__name__ == "PeftModelForCausalLM"
    lora_b = [v for n, v in backend._model.named_parameters() if "lora_B" in n]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)
    assert generation.text is not None


def test_bad_data_is_a_care_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from care.cli.main import cli

    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n')
    args = ["train", "sft", "--base", "gemma3-270m", "--data", str(data), "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "line 1" in result.output and "line 2: not JSON" in result.output
