"""Print the cross-validation tables stored in the shipped models (for the model card).

    .venv/bin/python benchmarks/lite_card_tables.py

Each shipped model records the report of the cross-validation `care train lite` ran
before fitting it, and the held-out coverage and width of its prediction intervals; this
prints them as Markdown, plus the scores of the example sessions
that `tests/test_lite.py` checks (docs/model-card-examples.json).
"""

from __future__ import annotations

import json
from pathlib import Path

from care.assessors.lite import LiteAssessor, load_shipped_model
from care.assessors.trust import TrustModel
from care.assessors.trust_report import format_trust_report
from care.data import load_corpus
from care.train.report import format_cv_report

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    for language in ("en", "zh"):
        for cut in (False, True):
            model = load_shipped_model(language, cut)
            report = dict(model.info["cross_validation"])
            report["items"] = {}
            print(f"### {model.name}\n")
            print(format_cv_report(report, title=f"{model.name}, cross-validation") + "\n")
            if model.trust is not None:
                print(format_trust_report(TrustModel.from_dict(model.trust)) + "\n")
    examples = load_corpus(ROOT / "examples" / "sessions.jsonl")
    scores = {
        result.session_id: {k: round(v, 3) for k, v in result.dimension_scores().items()}
        for result in LiteAssessor().assess(examples)
    }
    print(json.dumps({"scores": scores}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
