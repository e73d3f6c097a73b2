"""Compare the LLM assessor's modes on this CPU with the transformers backend.

naive: 12 full-transcript prompts per session, each computed from scratch;
per-item: the same prompts, the transcript computed once per session (KV-cache reuse);
one-pass: one prompt per session that rates all 12 items.

Reports prefill (prompt) tokens computed, tokens generated and wall time per mode. Every mode
gets the same generation budget per item (``--tokens``), so the difference is the prompt
work. Run by hand:

    OMP_NUM_THREADS=1 python benchmarks/llm_modes_cpu.py --sessions 2 --turns 8

The default model is the demo model (Gemma 3 270M, converted once and cached).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from care.assessors.llm import LLMAssessor
from care.backends.transformers_backend import TransformersBackend
from care.data.io import load_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m", help="transformers model path or id")
    parser.add_argument("--data", default="examples/sessions.jsonl")
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--turns", type=int, default=8, help="first N turns of each session")
    parser.add_argument("--tokens", type=int, default=8, help="tokens generated per item")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", default="naive,per-item,one-pass")
    parser.add_argument("--json", dest="json_out", default=None, help="also write results here")
    args = parser.parse_args()

    corpus = load_corpus([args.data])
    sessions = []
    for session in list(corpus)[: args.sessions]:
        keep = min(args.turns, len(session.turns))
        sessions.append(session.truncated(keep / len(session.turns)))
    backend = TransformersBackend(args.model, threads=args.threads)
    started = time.perf_counter()
    backend.load()
    print(f"model {args.model} loaded in {time.perf_counter() - started:.1f}s")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}; "
        f"{len(sessions)} sessions x {args.turns} turns, {args.tokens} tokens per item"
    )
    rows = []
    for mode in args.modes.split(","):
        assessor = LLMAssessor(backend, mode=mode, max_new_tokens=args.tokens, max_reasks=0)
        backend._cache = backend._cache_ids = None  # every mode starts cold
        started = time.perf_counter()
        results = assessor.assess(sessions)
        wall = time.perf_counter() - started
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
        for result in results:
            for name, count in result.meta["usage"].items():
                usage[name] += count
        rated = sum(len(result.item_values()) for result in results)
        rows.append(
            {
                "mode": mode,
                "prompt_tokens": usage["prompt_tokens"],
                "prefill_tokens_computed": usage["prompt_tokens"] - usage["cached_tokens"],
                "generated_tokens": usage["completion_tokens"],
                "wall_s": round(wall, 2),
                "sessions_per_s": round(len(sessions) / wall, 4),
                "items_with_value": rated,
            }
        )
    header = f"{'mode':<10}{'prompt':>9}{'computed':>10}{'generated':>11}{'wall s':>9}{'sess/s':>9}"
    print(header)
    for row in rows:
        print(
            f"{row['mode']:<10}{row['prompt_tokens']:>9}{row['prefill_tokens_computed']:>10}"
            f"{row['generated_tokens']:>11}{row['wall_s']:>9}{row['sessions_per_s']:>9}"
        )
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
