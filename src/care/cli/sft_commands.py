"""``care sft-data``: fine-tuning examples in CARE's format from rated sessions."""

from __future__ import annotations

from pathlib import Path

import click

from care.cli.options import input_options, loader_arguments, rated_data_option
from care.cli.paths import OUTPUT_DIR
from care.errors import ParameterError


@click.command("sft-data")
@rated_data_option
@click.option(
    "--instrument",
    default="wai-sr-client",
    show_default=True,
    help="Instrument whose ratings are the answers (id or YAML/JSON file).",
)
@click.option(
    "--rationales",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON Lines of {session_id, item_id, rationale[, status]}; only reviewed ones "
    "(accepted, edited) are used.",
)
@click.option("--score-only", is_flag=True, help="Ablation: answers are the option line only.")
@click.option(
    "--allow-missing-rationales",
    is_flag=True,
    help="Rated items without a rationale get a score-only answer (counted) instead of an error.",
)
@click.option(
    "--max-prompt-tokens",
    type=click.IntRange(1),
    default=None,
    help="Token budget of a prompt; longer transcripts lose whole turns (reported).",
)
@click.option(
    "--tokenizer",
    default=None,
    help="Tokenizer counting the budget (local path, cached hub id, or gemma3-270m); "
    "without it tokens are estimated from characters.",
)
@click.option(
    "--chars-per-token",
    type=float,
    default=4.0,
    show_default=True,
    help="The estimate without --tokenizer (CJK characters count one token each).",
)
@click.option(
    "--truncate",
    type=click.Choice(["head", "middle", "tail"]),
    default="middle",
    show_default=True,
    help="Where turns are dropped from when a prompt is over the budget.",
)
@click.option("--out", type=OUTPUT_DIR, required=True, help="Output folder (created).")
@click.option(
    "--output-format",
    "output_format",
    type=click.Choice(["chat", "alpaca", "both"]),
    default="both",
    show_default=True,
    help="chat: train.jsonl; alpaca: alpaca.json + dataset_info.json (LLaMA-Factory).",
)
@click.option(
    "--hf-dataset", is_flag=True, help="Also save a Hugging Face dataset (needs 'datasets')."
)
@click.option(
    "--dataset-name",
    default="care_wai",
    show_default=True,
    help="The dataset's name in dataset_info.json.",
)
@input_options
def sft_data(
    data: tuple[Path, ...],
    instrument: str,
    rationales: Path | None,
    score_only: bool,
    allow_missing_rationales: bool,
    max_prompt_tokens: int | None,
    tokenizer: str | None,
    chars_per_token: float,
    truncate: str,
    out: Path,
    output_format: str,
    hf_dataset: bool,
    dataset_name: str,
    input_format: str | None,
    encoding: str | None,
    speakers: tuple[str, ...],
    language: str | None,
    merge_consecutive: bool,
    columns: tuple[str, ...],
) -> None:
    """Build fine-tuning examples: one per rated (session, item), with the exact prompt
    `care assess --model ...` sends and CARE's answer (option line, then rationale).

    Prints a report (also written to OUT/report.json) that lists every session cut to fit
    the token budget.
    """
    from care.data.io import load_corpus
    from care.train.sft_data import (
        CharEstimate,
        build_sft_examples,
        load_tokenizer,
        read_rationales,
        write_sft_data,
    )

    if tokenizer is not None and max_prompt_tokens is None:
        raise ParameterError(
            "--tokenizer only counts tokens for a budget, and no budget was given",
            field="--tokenizer",
            fix="add --max-prompt-tokens N, or leave out --tokenizer",
        )
    arguments = loader_arguments(
        input_format, encoding, speakers, language, merge_consecutive, columns
    )
    corpus = load_corpus(list(data), **arguments)
    counter = load_tokenizer(tokenizer) if tokenizer else CharEstimate(chars_per_token)
    found = read_rationales(rationales) if rationales is not None else None
    examples, report = build_sft_examples(
        corpus,
        instrument,
        rationales=found,
        score_only=score_only,
        allow_missing_rationales=allow_missing_rationales,
        language=language,
        max_prompt_tokens=max_prompt_tokens,
        counter=counter,
        truncate=truncate,
    )
    written = write_sft_data(
        examples,
        report,
        out,
        format=output_format,
        hf_dataset=hf_dataset,
        dataset_name=dataset_name,
    )
    for line in report.lines():
        click.echo(line)
    click.echo("wrote " + ", ".join(str(path) for path in written))


COMMANDS = [sft_data]
