"""The output layer: every file care writes results to goes through here.

- :mod:`care.output.atomic`: writes that replace a file (temporary file in the same folder,
  fsync, rename), so a kill at any moment leaves the old file or the new one;
- :mod:`care.output.paths`: what may be written to (no inputs, no devices, FIFOs or folders);
- :mod:`care.output.results_file`: the JSON Lines results file of ``care assess --out``, locked
  against a second run, resumed by result identity.
"""

from care.output.atomic import atomic_write, write_text_atomic
from care.output.paths import check_output_dir, check_output_file
from care.output.results_file import ResultsFile

__all__ = [
    "ResultsFile",
    "atomic_write",
    "check_output_dir",
    "check_output_file",
    "write_text_atomic",
]
