"""``care train sft``: fine-tune a causal LM on ``care sft-data`` examples (CARE's SFT)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from care.cli.paths import OUTPUT_DIR

PRESET_NAMES = ("paper", "lora-24gb", "cpu-tiny")


@click.command("sft")
@click.option(
    "--base",
    required=True,
    help="Base model: a local directory, a hub id, or gemma3-270m (care's demo model).",
)
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=Path),
    help="train.jsonl written by care sft-data (chat messages user -> assistant).",
)
@click.option(
    "--out",
    required=True,
    type=OUTPUT_DIR,
    help="Where to write the adapter (lora/qlora) or the model (full), and checkpoints/.",
)
@click.option("--method", type=click.Choice(["lora", "qlora", "full"]), default=None)
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    default=None,
    help="paper: full fine-tune, lr 5e-7, 10 epochs, cosine, warmup 0.1, bf16, seed 123; "
    "lora-24gb: LoRA r16 for one 24 GB GPU; cpu-tiny: a small LoRA smoke test. Options "
    "given explicitly override the preset.",
)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after N steps.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--grad-accum", type=click.IntRange(min=1), default=None)
@click.option("--max-length", type=click.IntRange(min=8), default=None, help="Tokens per example.")
@click.option("--lora-r", type=click.IntRange(min=1), default=None)
@click.option("--save-steps", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=None, help="Random seed (default 123).")
@click.option(
    "--bf16/--no-bf16",
    default=None,
    help="bf16 mixed precision (full fine-tuning keeps float32 master weights). Default: "
    "on where a CUDA GPU supports bf16.",
)
@click.option(
    "--gradient-checkpointing/--no-gradient-checkpointing",
    default=None,
    help="Activation checkpointing (less memory, ~20% slower). Default: the preset's "
    "(paper, lora-24gb: on; otherwise off).",
)
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in OUT.")
def sft(
    base: str,
    data: Path,
    out: Path,
    method: str | None,
    preset: str | None,
    epochs: float | None,
    max_steps: int | None,
    lr: float | None,
    batch_size: int | None,
    grad_accum: int | None,
    max_length: int | None,
    lora_r: int | None,
    save_steps: int | None,
    seed: int | None,
    bf16: bool | None,
    gradient_checkpointing: bool | None,
    resume: bool,
) -> None:
    """Fine-tune BASE on care sft-data examples, with the loss on the answers only.

    Assess with the result: `care assess --model transformers/BASE --adapter OUT` (lora,
    qlora) or `care assess --model transformers/OUT` (full).
    """
    from care.train.sft import options_for, train_sft

    logging.getLogger("care.train.sft").setLevel(logging.INFO)
    options = options_for(
        preset,
        method=method,
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        lora_r=lora_r,
        save_steps=save_steps,
        seed=seed,
        bf16=bf16,
        gradient_checkpointing=gradient_checkpointing,
    )
    click.echo(
        f"{options.method} fine-tuning of {base}: lr {options.lr:g}, "
        f"{options.epochs:g} epochs, batch {options.batch_size}x{options.grad_accum}, "
        f"max length {options.max_length}, seed {options.seed}"
    )
    result = train_sft(base, data, out, options, resume=resume, progress=click.echo)
    if result.resumed_from:
        click.echo(f"resumed from {result.resumed_from}")
    if result.n_truncated:
        click.echo(f"{result.n_truncated} examples were cut to --max-length {options.max_length}")
    how = (
        f"care assess --model transformers/{out}"
        if result.method == "full"
        else f"care assess --model transformers/{base} --adapter {out}"
    )
    click.echo(
        f"trained {result.steps} steps on {result.n_examples} examples ({result.template}); "
        f"loss {_fmt(result.first_loss)} -> {_fmt(result.last_loss)}; wrote {out}"
    )
    click.echo(f"assess with: {how}")


def _fmt(loss: float | None) -> str:
    return "n/a" if loss is None else f"{loss:.4f}"
