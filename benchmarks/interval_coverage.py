"""Coverage and width of the built-in models' held-out prediction intervals, with
cluster-bootstrap CIs, and the share flagged out of domain (for the model card).

    care train lite --data KOKOROCHAT.jsonl.gz --out m.npz --cv-out cv.jsonl
    .venv/bin/python benchmarks/interval_coverage.py KOKOROCHAT.jsonl.gz cv.jsonl [...]

Each record of ``--cv-out`` carries intervals, percentiles and a domain flag fitted on the
other folds only, so these figures are for clients the calibration never saw. The same
figures are in ``care evaluate``'s report (section "Prediction intervals and domain").
"""

from __future__ import annotations

import sys

from care.data import load_corpus
from care.evaluate.coverage import coverage_markdown, coverage_report
from care.evaluate.targets import score_frame
from care.instruments import get_instrument
from care.results import Assessments


def main(gold_path: str, *results_paths: str) -> None:
    gold = load_corpus(gold_path)
    for path in results_paths:
        results = Assessments.from_jsonl(path)
        instrument = get_instrument(results[0].instrument)
        rated = [s for s in gold if s.rating(instrument.id, "client") is not None]
        truth = score_frame(
            {s.id: s.rating(instrument.id, "client").values for s in rated},  # type: ignore[union-attr]
            instrument,
        )
        ids = [r.session_id for r in results if r.session_id in truth.index]
        report = coverage_report(
            {results[0].model: results},
            truth,
            ids,
            {s.id: s.client_id for s in rated},
            instrument,
            n_resamples=1000,
        )
        print("\n".join(coverage_markdown(report)))


if __name__ == "__main__":
    main(*sys.argv[1:])
