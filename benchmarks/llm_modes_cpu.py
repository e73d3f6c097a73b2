"""Compare the LLM assessor's modes and scorings on the same sessions and models, in one run.

generate, per-item: CARE's prompt per item, the transcript computed once per session
    (prefix reuse), the answer generated and read;
generate, one-pass: one prompt per session, all items in one generated answer;
likelihood: the per-item prompts, each option scored as a continuation (nothing generated);
naive / naive-likelihood: per-item / likelihood without prefix reuse (the naive cost).

Reports, per session and mode: prefill tokens computed (prompt tokens minus reused ones),
tokens generated, wall time, items with a value, and the ratios of each mode to likelihood
scoring. Every mode starts with a cold prefix cache. Run by hand:

    OMP_NUM_THREADS=1 python benchmarks/llm_modes_cpu.py --sessions 1 --turns 20
    python benchmarks/llm_modes_cpu.py --model llamacpp/smollm2-135m-instruct \\
        --model transformers/smollm2-135m-instruct --json results.json

The default model is the packaged chat model SmolLM2-135M-Instruct (transformers). With
``--json -`` the rows are printed as JSON lines (benchmarks/gpu_check.sh reads them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

from care.assessors.llm import LLMAssessor
from care.backends.registry import get_backend
from care.data.io import load_corpus

MODES = {
    "per-item": {"mode": "per-item", "scoring": "generate"},
    "one-pass": {"mode": "one-pass", "scoring": "generate"},
    "likelihood": {"mode": "per-item", "scoring": "likelihood"},
    "naive": {"mode": "naive", "scoring": "generate"},
    "naive-likelihood": {"mode": "naive", "scoring": "likelihood"},
}


def _option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def run_mode(backend: Any, sessions: list, name: str, args: argparse.Namespace) -> list[dict]:
    """One row per session for one mode."""
    settings = MODES[name]
    items = None
    instrument = args.instrument
    assessor = LLMAssessor(
        backend,
        instrument=instrument,
        max_new_tokens=args.tokens,
        max_reasks=0,
        **settings,
    )
    if args.items:
        items = [item.id for item in assessor.instrument_.items[: args.items]]
        assessor.items = items
    backend.forget_prefix()  # every mode starts cold
    rows = []
    for session in sessions:
        started = time.perf_counter()
        result = assessor.assess([session])[0]
        wall = time.perf_counter() - started
        usage = result.meta["usage"]
        rows.append(
            {
                "model": backend.name,
                "mode": name,
                "session": session.id,
                "turns": len(session.turns),
                "items": len(result.items),
                "items_with_value": len(result.item_values()),
                "prompt_tokens": usage["prompt_tokens"],
                "prefill_tokens": usage["prompt_tokens"] - usage["cached_tokens"],
                "generated_tokens": usage["completion_tokens"],
                "wall_s": round(wall, 3),
                "expected_scores": len(result.meta["expected_scores"]),
            }
        )
    return rows


def add_ratios(rows: list[dict]) -> None:
    """Each row's prefill, generated and wall ratios to likelihood scoring's row of the same
    model and session (where likelihood was run)."""
    reference = {(r["model"], r["session"]): r for r in rows if r["mode"] == "likelihood"}
    for row in rows:
        base = reference.get((row["model"], row["session"]))
        if base is None:
            continue
        for name in ("prefill_tokens", "wall_s"):
            row[f"{name}_vs_likelihood"] = round(row[name] / base[name], 2) if base[name] else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        help="PROVIDER/MODEL, repeatable (default: transformers/smollm2-135m-instruct)",
    )
    parser.add_argument(
        "--backend-option", action="append", default=[], help="KEY=VALUE (JSON values parsed)"
    )
    parser.add_argument("--data", default="examples/session_en.json")
    parser.add_argument("--instrument", default=None, help="default: wai-sr-client")
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--turns", type=int, default=20, help="first N turns of each session")
    parser.add_argument("--items", type=int, default=None, help="first N items only")
    parser.add_argument("--tokens", type=int, default=32, help="most new tokens per item")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", default="per-item,one-pass,likelihood")
    parser.add_argument("--json", dest="json_out", default=None, help="FILE, or - for stdout")
    args = parser.parse_args()

    corpus = load_corpus([args.data])
    sessions = []
    for session in list(corpus)[: args.sessions]:
        keep = min(args.turns, len(session.turns))
        sessions.append(session.truncated(keep / len(session.turns)))
    rows: list[dict] = []
    quiet = args.json_out == "-"
    for spec in args.model or ["transformers/smollm2-135m-instruct"]:
        options = dict(_option(text) for text in args.backend_option)
        provider = spec.partition("/")[0]
        if provider == "transformers":
            options.setdefault("threads", args.threads)
        elif provider == "llamacpp":
            options.setdefault("n_threads", args.threads)
        backend = get_backend(spec, **options)
        backend.context_window()  # loads the model now, outside the timings
        started = time.perf_counter()
        for name in args.modes.split(","):
            rows.extend(run_mode(backend, sessions, name, args))
        backend.close()
        if not quiet:
            print(f"{spec}: all modes in {time.perf_counter() - started:.1f}s")
    add_ratios(rows)
    if quiet:
        for row in rows:
            print(json.dumps(row))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s); "
        f"{len(sessions)} session(s) x {args.turns} turns, at most {args.tokens} new tokens "
        "per item"
    )
    header = (
        f"{'model':<36}{'mode':<18}{'items':>6}{'valued':>7}{'prefill':>9}{'generated':>10}"
        f"{'wall s':>9}{'prefill/L':>10}{'wall/L':>8}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['model']:<36}{row['mode']:<18}{row['items']:>6}{row['items_with_value']:>7}"
            f"{row['prefill_tokens']:>9}{row['generated_tokens']:>10}{row['wall_s']:>9}"
            f"{row.get('prefill_tokens_vs_likelihood', ''):>10}"
            f"{row.get('wall_s_vs_likelihood', ''):>8}"
        )
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
