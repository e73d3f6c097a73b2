"""Zero-shot LLM scoring on real sessions, end to end, beside the built-in model and the length
baseline: the table of docs/llm.md ("Zero-shot on real data").

Run by hand (not part of the tests). On one core of the 2-core development machine,
likelihood scoring took about 1.5 minutes a session and one-pass generation about 7 (which
read nothing from the 135M model): ``--modes likelihood`` leaves it out, ``--one-pass-sessions``
bounds it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/zero_shot_kokorochat.py --work /tmp/zero-shot

Steps, each resumable (re-running skips what is done):

1. The first ``--sessions`` English KokoroChat sessions of the shared data (../shared/data,
   or $CARE_SHARED_DATA) are written to WORK/sessions.jsonl.
2. A built-in model is trained (``care train lite --no-cv``) on every other English session
   whose client is none of theirs, so its row is client-disjoint (the shipped model was
   fitted on all shared sessions, these included).
3. ``care assess`` runs each LLM mode (``--model``, default the packaged chat model
   SmolLM2-135M-Instruct) on the sessions with the kokorochat-feedback instrument; wall
   time and the prompt tokens computed and generated per session come from the results.
4. ``care evaluate`` compares every system with the clients' ratings, with bootstrap CIs
   over clients and the length-only baseline; likelihood scoring is evaluated twice, by its
   argmax (the results' values) and by its expected scores.

Prints the cost table and the evaluation table (Markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARE = [sys.executable, "-m", "care"]
MODES = {
    "likelihood": ["--scoring", "likelihood"],
    "one-pass": ["--mode", "one-pass", "--max-new-tokens", "32", "--max-reasks", "0"],
}
INSTRUMENT = "kokorochat-feedback"


def shared_english() -> Path:
    """The English KokoroChat file of the shared data folder."""
    base = Path(os.environ.get("CARE_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return base / "kokorochat" / "kokorochat_english.jsonl.gz"


def prepare(work: Path, n_sessions: int) -> tuple[Path, Path]:
    """The chosen sessions and the client-disjoint training sessions, written once."""
    from care.data.io import load_corpus, save_corpus

    chosen, training = work / "sessions.jsonl", work / "train.jsonl"
    if chosen.exists() and training.exists():
        return chosen, training
    sessions = list(load_corpus(shared_english()))
    picked = sessions[:n_sessions]
    clients = {session.client_id for session in picked}
    rest = [session for session in sessions[n_sessions:] if session.client_id not in clients]
    save_corpus(picked, chosen)
    save_corpus(rest, training)
    print(
        f"{len(picked)} sessions of {len(clients)} clients; built-in model trained on "
        f"{len(rest)} sessions of other clients",
        file=sys.stderr,
    )
    return chosen, training


def care(*args: str) -> float:
    """Run a care command; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([*CARE, *args], check=True)
    return time.perf_counter() - started


def usage_of(results: Path) -> dict[str, float]:
    """Mean prompt tokens computed and tokens generated per session, and items with a value."""
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    computed = generated = valued = items = 0
    for row in rows:
        usage = row.get("meta", {}).get("usage") or {}
        computed += usage.get("prompt_tokens", 0) - usage.get("cached_tokens", 0)
        generated += usage.get("completion_tokens", 0)
        for item in (row.get("items") or {}).values():
            items += 1
            valued += item.get("value") is not None
    n = max(1, len(rows))
    return {
        "sessions": len(rows),
        "computed": computed / n,
        "generated": generated / n,
        "valued": valued / max(1, items),
    }


def expected_scores(results: Path, out: Path) -> Path:
    """``results`` with each item's value replaced by its expected score over the options."""
    with out.open("w", encoding="utf-8") as handle:
        for line in results.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            expected = record.get("meta", {}).get("expected_scores", {})
            for item_id, item in record["items"].items():
                if item_id in expected:
                    item["value"] = round(expected[item_id], 4)
            record["model"] += "-expected"
            record.pop("dimensions", None)
            record.pop("total", None)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="Folder for inputs and results.")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--model", default="transformers/smollm2-135m-instruct")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument(
        "--one-pass-sessions",
        type=int,
        default=None,
        help="Fewer sessions for one-pass generation (it reads little from a tiny model).",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    chosen, training = prepare(args.work, args.sessions)
    model = args.work / "builtin.npz"
    if not model.exists():
        care(
            "train",
            "lite",
            "--data",
            str(training),
            "--instrument",
            INSTRUMENT,
            "--no-cv",
            "--out",
            str(model),
        )
    builtin = args.work / "builtin.jsonl"
    care(
        "assess",
        str(chosen),
        "--model",
        str(model),
        "--instrument",
        INSTRUMENT,
        "-q",
        "--out",
        str(builtin),
    )
    costs = {}
    for mode in args.modes:
        out = args.work / f"{mode}.jsonl"
        timing = args.work / f"{mode}.seconds"
        inputs = chosen
        if mode == "one-pass" and args.one_pass_sessions:
            inputs = args.work / "one-pass-sessions.jsonl"
            lines = chosen.read_text(encoding="utf-8").splitlines()[: args.one_pass_sessions]
            inputs.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if not timing.exists():
            seconds = care(
                "assess",
                str(inputs),
                "--model",
                args.model,
                "--instrument",
                INSTRUMENT,
                *MODES[mode],
                "-q",
                "--out",
                str(out),
            )
            timing.write_text(f"{seconds}\n", encoding="utf-8")
        costs[mode] = {**usage_of(out), "seconds": float(timing.read_text())}
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, model {args.model}"
    )
    print(
        "\n| mode | sessions | prompt tokens computed / session | generated / session "
        "| items with a value | wall s / session |\n|---|---|---|---|---|---|"
    )
    for mode, cost in costs.items():
        print(
            f"| {mode} | {cost['sessions']} | {cost['computed']:,.0f} | "
            f"{cost['generated']:,.0f} | {cost['valued']:.0%} | "
            f"{cost['seconds'] / max(1, cost['sessions']):.1f} |"
        )
    preds = [f"built-in (client-disjoint)={builtin}"]
    preds += [f"{mode}={args.work / (mode + '.jsonl')}" for mode in costs if costs[mode]["valued"]]
    if "likelihood" in costs:
        derived = expected_scores(args.work / "likelihood.jsonl", args.work / "expected.jsonl")
        preds.append(f"likelihood expected={derived}")
    report = args.work / "report"
    evaluate = [
        *CARE,
        "evaluate",
        "--gold",
        str(chosen),
        "--instrument",
        INSTRUMENT,
        "--out-dir",
        str(report),
    ]
    for pred in preds:
        evaluate += ["--pred", pred]
    subprocess.run(evaluate, check=True)
    print(f"\nthe evaluation: {report}/report.md")


if __name__ == "__main__":
    main()
