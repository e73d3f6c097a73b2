"""Compare the LLM assessor's modes at scale on a GPU, with a randomly initialised model of
Llama-3.1-8B's architecture (no weights are downloaded; speed does not depend on weights).

Each session is a transcript of ``--transcript-tokens`` random tokens; each of the 12 items
is ``--item-tokens`` more; each answer is ``--answer-tokens`` tokens (greedy, no early stop).

Modes:
  naive       12 prompts per session, each prefilled from scratch;
  per-item    the same prompts, the transcript's KV cache computed once and reused;
  one-pass    one prompt with all 12 items, one answer of 12 x answer tokens;
  likelihood  the per-item prompts with the transcript reused, and no answer at all: the
              options' log-probabilities are read at the answer position (one forward pass
              per item; ``--scoring likelihood``).

Engines: ``transformers`` (the same cache reuse as care's transformers backend; the model is
built directly in bf16 on the GPU) and ``vllm`` (``load_format="dummy"``; naive = prefix
caching off, the other modes on; all of a mode's prompts are submitted at once, as care's
vllm backend does; likelihood = one token with the five options' log-probabilities). Each
vLLM mode runs in its own process (``--isolate`` does so for transformers too), so that no
engine's GPU memory is held while the next one starts.

Reports sessions/second and tokens/second (prompt tokens computed + generated) per mode.
Run by hand on a GPU machine:

    python benchmarks/llm_modes_gpu.py --engine transformers --sessions 8
    python benchmarks/llm_modes_gpu.py --engine vllm --sessions 64 --json vllm.json

Options: ``--engine`` (transformers, vllm), ``--sessions`` (8), ``--transcript-tokens``
(3000), ``--item-tokens`` (60), ``--answer-tokens`` (64), ``--modes`` (comma-separated;
default all four), ``--tiny`` (a 2-layer model of the same family, to check the script),
``--cpu`` (transformers on the CPU), ``--isolate`` (one process per mode), ``--json FILE``
(also write the rows as a JSON list).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N_ITEMS = 12
MODES = ("naive", "per-item", "one-pass", "likelihood")
OPTION_TOKENS = [16, 17, 18, 19, 20]  # "1".."5" in Llama 3's vocabulary


def llama31_8b_config(tiny: bool = False) -> Any:
    """Llama-3.1-8B's published hyperparameters (or a tiny model of the same family)."""
    from transformers import LlamaConfig

    if tiny:
        return LlamaConfig(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=128256,
            max_position_embeddings=8192,
        )
    return LlamaConfig(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        tie_word_embeddings=False,
        bos_token_id=128000,
        eos_token_id=128001,
    )


def make_sessions(args: argparse.Namespace) -> list[tuple[list[int], list[list[int]]]]:
    import random

    rng = random.Random(0)
    sessions = []
    for _ in range(args.sessions):
        transcript = [rng.randrange(1000, 120000) for _ in range(args.transcript_tokens)]
        items = [
            [rng.randrange(1000, 120000) for _ in range(args.item_tokens)] for _ in range(N_ITEMS)
        ]
        sessions.append((transcript, items))
    return sessions


# -- transformers ---------------------------------------------------------------------------


def build_model(config: Any, device: str, dtype: Any) -> Any:
    """The random model, built directly in ``dtype`` on ``device`` (no float32 copy: 8B in
    float32 first would need 32 GB more)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def run_transformers(args: argparse.Namespace, sessions: list) -> list[dict]:
    import torch
    from transformers import DynamicCache

    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = build_model(llama31_8b_config(args.tiny), device, dtype)
    model.eval()
    # The cache argument as this transformers names it (``cache``; ``past_key_values`` in
    # older versions), as care's transformers backend reads it.
    cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else None
    cache_arg = cache_arg or "past_key_values"

    def forward(ids: list[int], cache: Any) -> Any:
        tensor = torch.tensor([ids], device=device)
        return model(input_ids=tensor, use_cache=True, logits_to_keep=1, **{cache_arg: cache})

    def cache_of(output: Any) -> Any:
        cache = getattr(output, "cache", None)
        return cache if cache is not None else output.past_key_values

    def decode(output: Any, steps: int) -> None:
        cache = cache_of(output)
        token = int(output.logits[0, -1].argmax())
        for _ in range(steps - 1):
            output = forward([token], cache)
            cache = cache_of(output)
            token = int(output.logits[0, -1].argmax())

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    rows = []
    for mode in args.modes.split(","):
        computed = generated = 0
        sync()
        started = time.perf_counter()
        with torch.no_grad():
            for transcript, items in sessions:
                if mode == "naive":
                    for item in items:
                        decode(forward(transcript + item, DynamicCache()), args.answer_tokens)
                        computed += len(transcript) + len(item)
                        generated += args.answer_tokens
                elif mode in ("per-item", "likelihood"):
                    prefix = cache_of(forward(transcript, DynamicCache()))
                    computed += len(transcript)
                    for item in items:
                        output = forward(item, copy.deepcopy(prefix))
                        computed += len(item)
                        if mode == "likelihood":  # the options' scores, nothing generated
                            scores = torch.log_softmax(output.logits[0, -1].float(), -1)
                            _ = scores[OPTION_TOKENS].tolist()
                        else:
                            decode(output, args.answer_tokens)
                            generated += args.answer_tokens
                else:
                    prompt = transcript + [t for item in items for t in item]
                    decode(forward(prompt, DynamicCache()), args.answer_tokens * N_ITEMS)
                    computed += len(prompt)
                    generated += args.answer_tokens * N_ITEMS
        sync()
        rows.append(_row(mode, len(sessions), computed, generated, time.perf_counter() - started))
    return rows


# -- vllm -------------------------------------------------------------------------------------


def vllm_engine_arguments(args: argparse.Namespace, mode: str, folder: str) -> dict:
    """``vllm.LLM`` keyword arguments for one mode (random weights, token ids in and out)."""
    return {
        "model": folder,
        "load_format": "dummy",
        "skip_tokenizer_init": True,
        "dtype": "bfloat16",
        "max_model_len": args.transcript_tokens + N_ITEMS * args.item_tokens + 2048,
        "enable_prefix_caching": mode != "naive",
        "gpu_memory_utilization": 0.85,
    }


def vllm_sampling_arguments(args: argparse.Namespace, mode: str) -> dict:
    """``vllm.SamplingParams`` keyword arguments for one mode."""
    if mode == "likelihood":
        return {
            "max_tokens": 1,
            "temperature": 0.0,
            "detokenize": False,
            "logprob_token_ids": OPTION_TOKENS,
        }
    answer = args.answer_tokens * (N_ITEMS if mode == "one-pass" else 1)
    return {"max_tokens": answer, "min_tokens": answer, "temperature": 0.0, "detokenize": False}


def run_vllm(args: argparse.Namespace, sessions: list) -> list[dict]:
    """One mode per call (``main`` starts a process for each)."""
    import vllm
    from vllm.inputs import TokensPrompt

    folder = tempfile.mkdtemp(prefix="llama31-8b-random-")
    llama31_8b_config(args.tiny).save_pretrained(folder)
    rows = []
    for mode in args.modes.split(","):
        engine = vllm.LLM(**vllm_engine_arguments(args, mode, folder))
        if mode == "one-pass":
            prompts = [t + [x for item in items for x in item] for t, items in sessions]
        else:
            prompts = [t + item for t, items in sessions for item in items]
        sampling = vllm.SamplingParams(**vllm_sampling_arguments(args, mode))
        started = time.perf_counter()
        outputs = engine.generate(
            [TokensPrompt(prompt_token_ids=p) for p in prompts], sampling, use_tqdm=False
        )
        wall = time.perf_counter() - started
        cached = sum(int(getattr(o, "num_cached_tokens", 0) or 0) for o in outputs)
        computed = sum(len(p) for p in prompts) - cached
        generated = 0
        if mode != "likelihood":  # likelihood reads the prompt's last logits only
            generated = sum(len(o.outputs[0].token_ids) for o in outputs)
        rows.append(_row(mode, len(sessions), computed, generated, wall))
        del engine
        _free_gpu()
    return rows


def run_isolated(args: argparse.Namespace, argv: list[str]) -> list[dict]:
    """Each mode in a process of its own (the same arguments with one mode)."""
    rows: list[dict] = []
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "rows.json"
            command = [sys.executable, __file__, *argv, "--modes", mode, "--json", str(out)]
            subprocess.run([*command, "--in-process"], check=True, stdout=subprocess.DEVNULL)
            rows.extend(json.loads(out.read_text(encoding="utf-8")))
    return rows


def _free_gpu() -> None:
    import gc

    gc.collect()
    try:
        import torch

        torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def _row(mode: str, sessions: int, computed: int, generated: int, wall: float) -> dict:
    return {
        "mode": mode,
        "sessions": sessions,
        "prefill_tokens_computed": computed,
        "generated_tokens": generated,
        "wall_s": round(wall, 3),
        "sessions_per_s": round(sessions / wall, 4),
        "tokens_per_s": round((computed + generated) / wall, 1),
        "generated_tokens_per_s": round(generated / wall, 1),
    }


def _own_arguments(argv: list[str]) -> list[str]:
    """``argv`` without ``--modes``, ``--json``, ``--isolate`` (set anew for each process)."""
    kept, skip = [], False
    for value in argv:
        if skip:
            skip = False
        elif value in ("--modes", "--json"):
            skip = True
        elif not value.startswith(("--modes=", "--json=", "--isolate")):
            kept.append(value)
    return kept


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--transcript-tokens", type=int, default=3000)
    parser.add_argument("--item-tokens", type=int, default=60)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--tiny", action="store_true", help="tiny model (to check on a CPU)")
    parser.add_argument("--cpu", action="store_true", help="run transformers on the CPU")
    parser.add_argument("--isolate", action="store_true", help="one process per mode")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", dest="json_out", default=None)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    unknown = set(args.modes.split(",")) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    several = len(args.modes.split(",")) > 1
    if not args.in_process and several and (args.engine == "vllm" or args.isolate):
        rows = run_isolated(args, _own_arguments(argv))
    else:
        sessions = make_sessions(args)
        rows = (run_vllm if args.engine == "vllm" else run_transformers)(args, sessions)
    print(f"{'mode':<11}{'sess/s':>10}{'tok/s':>12}{'gen tok/s':>12}{'computed':>11}{'wall s':>9}")
    for row in rows:
        print(
            f"{row['mode']:<11}{row['sessions_per_s']:>10}{row['tokens_per_s']:>12}"
            f"{row['generated_tokens_per_s']:>12}{row['prefill_tokens_computed']:>11}"
            f"{row['wall_s']:>9}"
        )
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return rows


if __name__ == "__main__":
    main()
