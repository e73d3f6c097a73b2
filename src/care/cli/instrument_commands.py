"""``care instruments``: list the questionnaires care knows and show one."""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table


@click.group(invoke_without_command=True)
@click.pass_context
def instruments(ctx: click.Context) -> None:
    """List the built-in instruments (or show one with `care instruments show ID`)."""
    if ctx.invoked_subcommand is not None:
        return
    from care.instruments import get_instrument, list_instruments

    table = Table(title="Instruments")
    table.add_column("id", no_wrap=True)
    table.add_column("name")
    for column in ("rater", "items", "scale", "dimensions"):
        table.add_column(column, no_wrap=True)
    for instrument_id in list_instruments():
        instrument = get_instrument(instrument_id)
        table.add_row(
            instrument.id,
            instrument.name,
            instrument.rater,
            str(len(instrument.items)),
            f"{instrument.scale.min}-{instrument.scale.max}",
            ", ".join(instrument.dimensions),
        )
    Console().print(table)


@instruments.command("show")
@click.argument("instrument_id")
@click.option("--language", default="en", show_default=True, help="Language of the item texts.")
def show_instrument(instrument_id: str, language: str) -> None:
    """Show an instrument's items, scale and dimensions (an id or a YAML/JSON file)."""
    from care.instruments import get_instrument

    instrument = get_instrument(instrument_id)
    console = Console(highlight=False)
    console.print(
        f"[bold]{escape(instrument.name)}[/bold] ({instrument.id}), rated by the {instrument.rater}"
    )
    if instrument.description:
        console.print(escape(instrument.description))
    labels = instrument.option_labels(language)
    scale = instrument.scale
    options = "; ".join(
        f"{value} {label}" for value, label in zip(scale.values, labels, strict=False)
    )
    console.print(f"Scale: {escape(options)}")
    table = Table()
    for column in ("#", "id", "dimension", "text"):
        table.add_column(column)
    for item in instrument.items:
        text = instrument.item_text(item.id, language)
        if item.reverse_keyed:
            text += " (reverse keyed)"
        if item.scale is not None:
            text += f" [{item.scale.min}-{item.scale.max}]"
        table.add_row(str(item.number), item.id, item.dimension or "-", escape(text))
    console.print(table)
    for name, item_ids in instrument.dimensions.items():
        console.print(f"{name}: mean of {', '.join(item_ids)}")


COMMANDS = [instruments]
