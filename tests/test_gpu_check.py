"""benchmarks/gpu_check.sh --tiny: the GPU check runs on the CPU with tiny models, so that the
script a GPU machine will run cannot rot. Parts that need a CUDA GPU report themselves
skipped, with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

for module in ("torch", "transformers", "peft", "trl", "datasets"):
    pytest.importorskip(module)

from real_models import CHAT_MODEL, require  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUN_ON_CPU = ("models", "data", "transformers-modes", "care-assess", "sft", "train-sft-lora")
NEED_A_GPU = ("train-sft-zero3", "train-sft-fsdp", "vllm-env", "vllm-modes", "vllm-assess")


def test_the_tiny_gpu_check_passes_on_the_cpu(tmp_path: Path) -> None:
    require(CHAT_MODEL, "transformers")  # its tokenizer and chat template are used
    out = tmp_path / "check"
    env = {**os.environ, "CARE_PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--tiny", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,  # the script's own --tiny budget is 1200 s
    )
    report = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    parts = {part["part"]: part for part in report["parts"]}
    assert list(parts) == [*RUN_ON_CPU, *NEED_A_GPU]
    failed = {name: part["reason"] for name, part in parts.items() if part["status"] == "failed"}
    assert not failed, (failed, done.stdout[-3000:])
    assert done.returncode == 0
    for name in RUN_ON_CPU:
        assert parts[name]["status"] == "passed"
    for name in NEED_A_GPU:
        assert parts[name]["status"] == "skipped" and parts[name]["reason"]
    # The parts' figures come back in the report: care's assessor in each mode, likelihood
    # scoring with nothing generated and every item scored.
    rows = {row["mode"]: row for row in parts["care-assess"]["figures"]}
    assert set(rows) == {"per-item", "one-pass", "likelihood"}
    assert rows["likelihood"]["generated_tokens"] == 0
    assert rows["likelihood"]["items_with_value"] == rows["likelihood"]["items"] == 3
    assert any("tokens_per_s" in row for row in parts["sft"]["figures"])
    assert "passed" in done.stdout and "skipped" in done.stdout  # the summary table
