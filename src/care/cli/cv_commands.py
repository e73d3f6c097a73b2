"""``care cv``: K-fold cross-validation of CARE's SFT, keeping the best checkpoint per fold."""

from __future__ import annotations

import json
from pathlib import Path

import click

from care.cli.options import SCORING_OPTION, rated_data_option
from care.cli.paths import OUTPUT_DIR
from care.cli.train_sft_commands import PRESET_NAMES


@click.command("cv")
@rated_data_option
@click.option("--instrument", default="wai-sr-client", show_default=True)
@click.option("--base", required=True, help="Base model: a local directory or a hub id.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--out", required=True, type=OUTPUT_DIR)
@click.option(
    "--rationales",
    type=click.Path(path_type=Path),
    default=None,
    help="Accepted rationales (care rationales); without them use --score-only.",
)
@click.option("--score-only", is_flag=True, help="Answers are the option line only.")
@click.option("--max-prompt-tokens", type=click.IntRange(min=1), default=None)
@click.option("--method", type=click.Choice(["lora", "qlora", "full"]), default=None)
@click.option("--preset", type=click.Choice(PRESET_NAMES), default=None)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--max-steps", type=click.IntRange(min=1), default=None)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--max-length", type=click.IntRange(min=8), default=None)
@click.option("--save-steps", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the folds.")
@SCORING_OPTION
def cv(
    data: tuple[Path, ...],
    instrument: str,
    base: str,
    folds: int,
    out: Path,
    rationales: Path | None,
    score_only: bool,
    max_prompt_tokens: int | None,
    method: str | None,
    preset: str | None,
    epochs: float | None,
    max_steps: int | None,
    lr: float | None,
    max_length: int | None,
    save_steps: int | None,
    seed: int,
    scoring: str,
) -> None:
    """Cross-validate SFT by client; report Pearson r of the best checkpoint per fold."""
    from care.data.io import load_corpus
    from care.train.cv import cross_validate_sft
    from care.train.sft import options_for
    from care.train.sft_data import read_rationales

    options = options_for(
        preset,
        method=method,
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        max_length=max_length,
        save_steps=save_steps,
    )
    report = cross_validate_sft(
        load_corpus(list(data)),
        instrument,
        base,
        out,
        options,
        folds=folds,
        seed=seed,
        rationales=read_rationales(rationales) if rationales else None,
        score_only=score_only,
        max_prompt_tokens=max_prompt_tokens,
        assessor_options={"scoring": scoring},
        progress=click.echo,
    )
    for fold in report["folds"]:
        click.echo(
            f"fold {fold['fold']}: {json.dumps(fold['metrics'])} ({fold['best_checkpoint']})"
        )
    for name, (mean, sd) in report["summary"].items():
        click.echo(f"{name}: {mean:.3f} ± {sd:.3f}")
    click.echo(f"wrote {out / 'cv.json'}")


COMMANDS = [cv]
