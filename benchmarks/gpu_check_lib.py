"""Helpers of ``benchmarks/gpu_check.sh``: the models and data it needs, and its report.

    python benchmarks/gpu_check_lib.py models --out DIR [--tiny]
    python benchmarks/gpu_check_lib.py data --out DIR
    python benchmarks/gpu_check_lib.py report --parts DIR --out REPORT.json

``models`` writes randomly initialised models (no weights can be downloaded) with the
architecture of Llama-3.2-1B (``DIR/llama-3.2-1b``; ``--tiny``: a 2-layer model of the same
family), in bf16, with the tokenizer and chat template of care's packaged chat model
(SmolLM2-135M-Instruct; the 1B model's vocabulary is padded to Llama 3's 128,256 rows, the tiny
model keeps the tokenizer's 49,152). Llama-3.1-8B is
built in memory by ``llm_modes_gpu.py`` and ``sft_gpu.py`` themselves.

``data`` writes ``DIR/rated.jsonl`` (the example sessions with made-up WAI-SR ratings: a check
of the code path, not of learning) for ``care sft-data``.

``report`` joins the parts' result files into one JSON report and prints the summary table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAT_TOKENIZER = "smollm2-135m-instruct"

LLAMA_32_1B = {
    "vocab_size": 128256,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
    "tie_word_embeddings": True,
}
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 8192,
    "tie_word_embeddings": True,
}


def make_models(out: Path, tiny: bool) -> dict:
    """Write the random model directory; returns its description."""
    import torch
    import transformers

    from care.backends.demo_models import prepare_demo_model

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(prepare_demo_model(CHAT_TOKENIZER)))
    name = "llama-tiny" if tiny else "llama-3.2-1b"
    target = out / name
    hyper = dict(TINY if tiny else LLAMA_32_1B)
    if tiny:  # the tokenizer's own vocabulary: a CPU pays for every row of the logits
        hyper["vocab_size"] = len(tokenizer)
    config = transformers.LlamaConfig(
        **hyper,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="bfloat16",
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    parameters = sum(p.numel() for p in model.parameters())
    return {"model": str(target), "parameters": parameters, "architecture": name}


def make_data(out: Path) -> dict:
    """Write the example sessions with made-up ratings (deterministic)."""
    from care.instruments import get_instrument

    instrument = get_instrument("wai-sr-client")
    lines = (ROOT / "examples" / "sessions.jsonl").read_text(encoding="utf-8").splitlines()
    out.mkdir(parents=True, exist_ok=True)
    rated = out / "rated.jsonl"
    with rated.open("w", encoding="utf-8") as handle:
        for line in lines:
            record = json.loads(line)
            values = {}
            for item in instrument.items:
                digest = hashlib.sha256(f"{record['id']}:{item.id}".encode()).digest()
                values[item.id] = 1 + digest[0] % 5
            record["ratings"] = [{"instrument": instrument.id, "rater": "client", "values": values}]
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {"data": str(rated), "sessions": len(lines)}


def report(parts: Path, out: Path) -> int:
    """Join ``parts/*.json`` into ``out`` and print the table; returns the exit code (1 when
    a part failed)."""
    rows = []
    for path in sorted(parts.glob("*.json")):
        rows.append(json.loads(path.read_text(encoding="utf-8")))
    rows.sort(key=lambda row: row.get("order", 0))
    summary = {
        status: sum(row["status"] == status for row in rows)
        for status in ("passed", "failed", "skipped")
    }
    result = {"parts": rows, "summary": summary}
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    width = max([len(row["part"]) for row in rows] + [4])
    print(f"{'part':<{width}}  {'status':<8}{'seconds':>9}  detail")
    for row in rows:
        detail = row.get("reason") or row.get("headline") or ""
        print(f"{row['part']:<{width}}  {row['status']:<8}{row['seconds']:>9.1f}  {detail}")
    print(
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} "
        f"skipped; report: {out}"
    )
    return 1 if summary["failed"] else 0


def headline(path: Path) -> str:
    """A short line from a part's log: its last JSON object's keys and numbers, else its
    last line."""
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    for line in reversed(lines):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            numbers = {k: v for k, v in data.items() if isinstance(v, (int, float, str))}
            return json.dumps(numbers)[:160]
    return (lines[-1] if lines else "")[:160]


def write_part(args: argparse.Namespace) -> None:
    """One part's result file (called by the shell script after the part ran)."""
    log = Path(args.log)
    figures = []
    if log.is_file():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{") and line.endswith("}"):
                with contextlib.suppress(ValueError):
                    figures.append(json.loads(line))
    row = {
        "part": args.part,
        "order": args.order,
        "status": args.status,
        "seconds": args.seconds,
        "limit_s": args.limit,
        "exit_code": args.rc,
        "reason": args.reason or None,
        "headline": headline(log) if log.is_file() and args.status != "skipped" else None,
        "log": str(log),
        "figures": figures,
    }
    Path(args.out).write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    models = commands.add_parser("models")
    models.add_argument("--out", type=Path, required=True)
    models.add_argument("--tiny", action="store_true")
    data = commands.add_parser("data")
    data.add_argument("--out", type=Path, required=True)
    joined = commands.add_parser("report")
    joined.add_argument("--parts", type=Path, required=True)
    joined.add_argument("--out", type=Path, required=True)
    part = commands.add_parser("part")
    for name in ("part", "status", "log", "out", "reason"):
        part.add_argument(f"--{name}", default="")
    for name in ("order", "rc", "limit"):
        part.add_argument(f"--{name}", type=int, default=0)
    part.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args()
    if args.command == "models":
        print(json.dumps(make_models(args.out, args.tiny)))
    elif args.command == "data":
        print(json.dumps(make_data(args.out)))
    elif args.command == "report":
        return report(args.parts, args.out)
    else:
        write_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
