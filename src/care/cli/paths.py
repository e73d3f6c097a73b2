"""Click parameter types for outputs: checked when the command line is read, before any
work, so a bad output path never costs a finished computation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from care.output import check_output_dir, check_output_file


class OutputFile(click.ParamType):
    """A file to write: not a folder, device or FIFO, in a folder that exists or can be
    made (it is made when the file is written)."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        option = param.opts[0] if param is not None and param.opts else "output"
        if param is not None and not param.opts:
            option = param.human_readable_name
        return check_output_file(Path(value), field=option, create=False)


class ResultsOutput(OutputFile):
    """``care assess --out``: a results file, or a Parquet results folder (a name ending in
    ``.parquet``, or an existing folder: checked as one when it is opened)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        path = Path(value)
        if path.name.lower().endswith(".parquet") or path.is_dir():
            return path
        return super().convert(value, param, ctx)


class OutputDir(click.ParamType):
    """A folder to write into: not a file (it is made when something is written)."""

    name = "folder"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        option = param.opts[0] if param is not None and param.opts else "output folder"
        return check_output_dir(Path(value), field=option, create=False)


OUTPUT_FILE = OutputFile()
RESULTS_OUTPUT = ResultsOutput()
OUTPUT_DIR = OutputDir()
