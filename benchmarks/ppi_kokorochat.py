"""PPI on KokoroChat: coverage and width of the three intervals, rating a few sessions.

    care train lite --data ../shared/data/kokorochat/kokorochat_english.jsonl.gz \\
        --out /tmp/m.npz --no-tfidf-baseline --cv-out /tmp/oof_en.jsonl
    .venv/bin/python benchmarks/ppi_kokorochat.py \\
        ../shared/data/kokorochat/kokorochat_english.jsonl.gz /tmp/oof_en.jsonl

The predictions must be out-of-fold (the built-in model was trained on these sessions, so its
errors on them look too small). Every session has a client rating, so the corpus mean of the
ratings is known: each draw takes ``--rated`` random sessions as the rated ones, the rest as
unrated, runs ``care analyze --rated``'s estimation (:func:`prediction_powered`) and counts
which intervals cover the corpus mean. Sampling sessions from a finite corpus, the intervals
(made for a sample of an infinite population) should cover at least their level.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from care.analyze.distributions import session_table
from care.analyze.ppi_corpus import RatedSample, prediction_powered
from care.data import load_corpus
from care.instruments import get_instrument
from care.results import Assessments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sessions", type=Path)
    parser.add_argument("results", type=Path, help="out-of-fold results (care train --cv-out)")
    parser.add_argument("--rated", type=int, default=300)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sessions = list(load_corpus(args.sessions))
    results = Assessments.from_jsonl(args.results)
    table, dims = session_table(sessions, results)
    instrument = get_instrument(results[0].instrument)
    scores = [*dims, "total"]
    analysed = [s for s in sessions if s.id in set(table.session_id)]
    truth = {}
    for score in scores:
        values = []
        for session in analysed:
            rating = session.rating(instrument.id, "client").values
            value = (
                instrument.total_score(rating)
                if score == "total"
                else instrument.dimension_scores(rating)[score]
            )
            values.append(value)
        truth[score] = float(np.nanmean(values))
    print(
        f"{len(analysed)} sessions, {table.client_id.nunique()} clients; {args.draws} draws of "
        f"{args.rated} rated sessions (seed {args.seed}); {args.level:.0%} intervals; "
        f"model {results[0].model}"
    )
    rng = np.random.default_rng(args.seed)
    hits: dict[tuple[str, str], int] = defaultdict(int)
    widths: dict[tuple[str, str], list[float]] = defaultdict(list)
    example = None
    methods = {"PPI": "ci", "naive": "naive_ci", "rated only": "rated_only_ci"}
    for draw in range(args.draws):
        picked = rng.choice(len(analysed), args.rated, replace=False)
        rated = RatedSample([analysed[i] for i in picked], results)
        estimate = prediction_powered(table, rated, instrument, scores, level=args.level)
        example = example or estimate
        for score, record in estimate.corpus.items():
            for method, key in methods.items():
                low, high = record[key]
                hits[score, method] += low <= truth[score] <= high
                widths[score, method].append(high - low)
        if (draw + 1) % 50 == 0:
            print(f"  {draw + 1} draws", flush=True)
    print("\n| score | corpus mean | " + " | ".join(f"{m} coverage" for m in methods), end="")
    print(" | " + " | ".join(f"{m} width" for m in methods) + " | PPI / rated-only width |")
    print("|---" * (3 + 2 * len(methods)) + "|")
    for score in scores:
        cover = [f"{hits[score, m] / args.draws:.3f}" for m in methods]
        width = [f"{np.mean(widths[score, m]):.3f}" for m in methods]
        ratio = np.mean(widths[score, "PPI"]) / np.mean(widths[score, "rated only"])
        cells = [score, f"{truth[score]:.3f}", *cover, *width, f"{ratio:.2f}"]
        print("| " + " | ".join(cells) + " |")
    if example is not None:
        print("\nfirst draw (estimate [interval]):")
        for score, record in example.corpus.items():
            parts = [
                f"{m} {record[e]:.3f} [{record[k][0]:.3f}, {record[k][1]:.3f}]"
                for m, k, e in zip(
                    methods,
                    methods.values(),
                    ("estimate", "naive_estimate", "rated_only_estimate"),
                    strict=True,
                )
            ]
            print(f"  {score} (truth {truth[score]:.3f}): " + "; ".join(parts))


if __name__ == "__main__":
    main()
