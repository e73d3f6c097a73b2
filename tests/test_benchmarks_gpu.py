"""The GPU benchmarks' --tiny modes on the CPU, so that they cannot rot before a GPU runs
them: ``benchmarks/sft_gpu.py`` through care's own training code, ``llm_modes_gpu.py``
with each mode (and each mode in its own process), and their vLLM requests against vLLM's
recorded API."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[1]
API = json.loads((ROOT / "tests" / "data" / "vllm_api.json").read_text())
torch.set_num_threads(1)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sft_benchmark_runs_cares_training_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import care.train.sft as sft

    bench = _load("sft_gpu")
    calls: list[str] = []
    train = sft.train_sft

    def recording(*args: object, **kwargs: object) -> object:
        calls.append(kwargs["options"].method if "options" in kwargs else args[3].method)
        return train(*args, **kwargs)

    monkeypatch.setattr(sft, "train_sft", recording)
    argv = ["--tiny", "--methods", "lora,qlora,full", "--steps", "1", "--warmup", "0"]
    rows = bench.main([*argv, "--length", "48", "--work", str(tmp_path)])
    assert calls == ["lora", "full"]  # QLoRA needs a CUDA GPU: reported as skipped
    lora, full = rows
    assert lora["method"] == "lora" and full["method"] == "full"
    assert full["precision"] == {"bf16": False, "weights": "float32"}
    assert 0 < lora["trainable_params"] < full["trainable_params"]
    assert lora["steps"] == full["steps"] == 1
    assert lora["tokens_per_s"] > 0 and lora["activation_checkpointing"] is True
    assert not list(tmp_path.rglob("*.safetensors"))  # no model or checkpoint written


def test_modes_benchmark_builds_in_the_target_dtype_and_runs_each_mode(tmp_path: Path) -> None:
    bench = _load("llm_modes_gpu")
    model = bench.build_model(bench.llama31_8b_config(tiny=True), "cpu", torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    small = ["--engine", "transformers", "--tiny", "--cpu", "--sessions", "1"]
    small += ["--transcript-tokens", "24", "--item-tokens", "4", "--answer-tokens", "2"]
    rows = {row["mode"]: row for row in bench.main(small)}
    assert list(rows) == list(bench.MODES)
    assert rows["naive"]["prefill_tokens_computed"] == 12 * (24 + 4)
    assert rows["per-item"]["prefill_tokens_computed"] == 24 + 12 * 4
    assert rows["likelihood"]["prefill_tokens_computed"] == 24 + 12 * 4
    assert rows["likelihood"]["generated_tokens"] == 0
    assert rows["one-pass"]["generated_tokens"] == 12 * 2
    # --isolate: each mode in a process of its own, the same figures of work.
    out = tmp_path / "rows.json"
    isolated = bench.main(
        [*small, "--isolate", "--modes", "per-item,likelihood", "--json", str(out)]
    )
    assert [r["mode"] for r in isolated] == ["per-item", "likelihood"]
    assert [r["prefill_tokens_computed"] for r in isolated] == [24 + 12 * 4] * 2
    assert json.loads(out.read_text()) == isolated


def test_modes_benchmark_asks_vllm_with_its_current_api() -> None:
    bench = _load("llm_modes_gpu")
    args = argparse.Namespace(transcript_tokens=3000, item_tokens=60, answer_tokens=64)
    engine = set(API["LLM.__init__"]) | set(API["EngineArgs"])
    for mode in bench.MODES:
        assert set(bench.vllm_engine_arguments(args, mode, "folder")) <= engine
        sampling = bench.vllm_sampling_arguments(args, mode)
        assert set(sampling) <= set(API["SamplingParams"])
    assert bench.vllm_engine_arguments(args, "naive", "f")["enable_prefix_caching"] is False
    assert bench.vllm_sampling_arguments(args, "likelihood")["max_tokens"] == 1
    argv = ["--engine", "vllm", "--modes", "naive,per-item", "--isolate", "--json", "x.json"]
    assert bench._own_arguments(argv) == ["--engine", "vllm"]
