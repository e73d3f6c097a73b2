"""Compare the LLM assessor's modes at scale on a GPU, with a randomly initialised model of
Llama-3.1-8B's architecture (no weights are downloaded; speed does not depend on weights).

Each session is a transcript of ``--transcript-tokens`` random tokens; each of the 12 items
is ``--item-tokens`` more; each answer is ``--answer-tokens`` tokens (greedy, no early stop).

Modes:
  naive      12 prompts per session, each prefilled from scratch;
  per-item   the same prompts, the transcript's KV cache computed once and reused;
  one-pass   one prompt with all 12 items, one answer of 12 x answer tokens.

Engines: ``transformers`` (the same cache reuse as care's transformers backend) and ``vllm``
(``load_format="dummy"``; naive = prefix caching off, per-item = automatic prefix caching on;
all of a mode's prompts are submitted at once, as care's vllm backend does).

Reports sessions/second and tokens/second (prompt tokens computed + generated) per mode.
Run by hand on a GPU machine:

    python benchmarks/llm_modes_gpu.py --engine transformers --sessions 8
    python benchmarks/llm_modes_gpu.py --engine vllm --sessions 64

``--tiny`` shrinks the model so that the script can be checked on a CPU.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from typing import Any

N_ITEMS = 12


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


def run_transformers(args: argparse.Namespace, sessions: list) -> list[dict]:
    import torch
    from transformers import DynamicCache, LlamaForCausalLM

    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    config = llama31_8b_config(args.tiny)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    model.eval()
    params = {"logits_to_keep": 1}

    def forward(ids: list[int], cache: Any) -> Any:
        tensor = torch.tensor([ids], device=device)
        return model(input_ids=tensor, past_key_values=cache, use_cache=True, **params)

    def decode(output: Any, steps: int) -> None:
        cache = output.past_key_values
        token = int(output.logits[0, -1].argmax())
        for _ in range(steps - 1):
            output = forward([token], cache)
            cache = output.past_key_values
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
                elif mode == "per-item":
                    prefix = forward(transcript, DynamicCache()).past_key_values
                    computed += len(transcript)
                    for item in items:
                        decode(forward(item, copy.deepcopy(prefix)), args.answer_tokens)
                        computed += len(item)
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


def run_vllm(args: argparse.Namespace, sessions: list) -> list[dict]:
    import vllm
    from vllm.inputs import TokensPrompt

    folder = tempfile.mkdtemp(prefix="llama31-8b-random-")
    llama31_8b_config(args.tiny).save_pretrained(folder)
    rows = []
    for mode in args.modes.split(","):
        engine = vllm.LLM(
            model=folder,
            load_format="dummy",
            skip_tokenizer_init=True,
            dtype="bfloat16",
            max_model_len=args.transcript_tokens + N_ITEMS * args.item_tokens + 2048,
            enable_prefix_caching=mode != "naive",
            gpu_memory_utilization=0.85,
        )
        if mode == "one-pass":
            prompts = [t + [x for item in items for x in item] for t, items in sessions]
            answer = args.answer_tokens * N_ITEMS
        else:
            prompts = [t + item for t, items in sessions for item in items]
            answer = args.answer_tokens
        sampling = vllm.SamplingParams(
            max_tokens=answer, min_tokens=answer, temperature=0.0, detokenize=False
        )
        started = time.perf_counter()
        outputs = engine.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], sampling)
        wall = time.perf_counter() - started
        cached = sum(int(getattr(o, "num_cached_tokens", 0) or 0) for o in outputs)
        computed = sum(len(p) for p in prompts) - cached
        generated = sum(len(o.outputs[0].token_ids) for o in outputs)
        rows.append(_row(mode, len(sessions), computed, generated, wall))
        del engine
        _free_gpu()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--transcript-tokens", type=int, default=3000)
    parser.add_argument("--item-tokens", type=int, default=60)
    parser.add_argument("--answer-tokens", type=int, default=64)
    parser.add_argument("--modes", default="naive,per-item,one-pass")
    parser.add_argument("--tiny", action="store_true", help="tiny model (to check on a CPU)")
    parser.add_argument("--cpu", action="store_true", help="run transformers on the CPU")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args()
    sessions = make_sessions(args)
    runner = run_vllm if args.engine == "vllm" else run_transformers
    rows = runner(args, sessions)
    print(f"{'mode':<10}{'sess/s':>10}{'tok/s':>12}{'gen tok/s':>12}{'computed':>11}{'wall s':>9}")
    for row in rows:
        print(
            f"{row['mode']:<10}{row['sessions_per_s']:>10}{row['tokens_per_s']:>12}"
            f"{row['generated_tokens_per_s']:>12}{row['prefill_tokens_computed']:>11}"
            f"{row['wall_s']:>9}"
        )
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
