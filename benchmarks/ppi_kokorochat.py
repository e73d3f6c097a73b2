"""PPI on KokoroChat: coverage and width of the three intervals, rating a few sessions.

    care train lite --data ../shared/data/kokorochat/kokorochat_english.jsonl.gz \\
        --out /tmp/m.npz --no-tfidf-baseline --cv-out /tmp/oof_en.jsonl
    .venv/bin/python benchmarks/ppi_kokorochat.py \\
        ../shared/data/kokorochat/kokorochat_english.jsonl.gz /tmp/oof_en.jsonl

The predictions must be out-of-fold (the built-in model was trained on these sessions, so its
errors on them look too small). Every session has a client rating, so the population is
known: the corpus's clients. Each draw makes a new corpus of as many clients, drawn with
replacement (a client drawn twice counts as two clients), rates ``--rated`` of its sessions
at random, and counts which 95% intervals (:mod:`care.analyze.ppi`, clustered by client, as
``care analyze --rated`` computes them) cover the population's mean of the ratings. Then,
for the counselors with the most sessions, the mean of their sessions' ratings beside the
naive interval from their predictions: the model's bias for a counselor, which the naive
interval cannot see.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from care.analyze.distributions import session_table
from care.analyze.ppi import classical_mean, ppi_mean
from care.data import load_corpus
from care.instruments import get_instrument
from care.results import Assessments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sessions", type=Path)
    parser.add_argument("results", type=Path, help="out-of-fold results (care train --cv-out)")
    parser.add_argument("--rated", type=int, default=300)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sessions = {s.id: s for s in load_corpus(args.sessions)}
    results = Assessments.read(args.results)
    table, dims = session_table(sessions.values(), results)
    instrument = get_instrument(results[0].instrument)
    scores = [*dims, "total"]
    ratings = {score: [] for score in scores}
    for session_id in table.session_id:
        values = sessions[session_id].rating(instrument.id, "client").values
        truth = {**instrument.dimension_scores(values), "total": instrument.total_score(values)}
        for score in scores:
            ratings[score].append(truth[score])
    y = {score: np.asarray(ratings[score], dtype=float) for score in scores}
    f = {score: table[score].to_numpy(dtype=float) for score in scores}
    clients = table.client_id.astype(str).to_numpy()
    members = [np.flatnonzero(clients == c) for c in np.unique(clients)]
    target = {score: float(y[score].mean()) for score in scores}
    print(
        f"{len(table)} sessions, {len(members)} clients; {args.draws} corpora of "
        f"{len(members)} clients drawn with replacement, {args.rated} random sessions rated "
        f"in each (seed {args.seed}); {args.level:.0%} intervals; model {results[0].model}"
    )
    rng = np.random.default_rng(args.seed)
    hits: dict[tuple[str, str], int] = defaultdict(int)
    widths: dict[tuple[str, str], list[float]] = defaultdict(list)
    methods = ("PPI", "naive", "rated only")
    for _ in range(args.draws):
        drawn = rng.integers(len(members), size=len(members))
        index = np.concatenate([members[c] for c in drawn])
        cluster = np.concatenate([np.full(len(members[c]), k) for k, c in enumerate(drawn)])
        order = rng.permutation(len(index))
        r, u = order[: args.rated], order[args.rated :]
        for score in scores:
            ys, fs = y[score][index], f[score][index]
            estimates = {
                "PPI": ppi_mean(
                    ys[r],
                    fs[r],
                    fs[u],
                    clusters_rated=cluster[r],
                    clusters_unrated=cluster[u],
                    level=args.level,
                ),
                "naive": classical_mean(fs, clusters=cluster, level=args.level),
                "rated only": classical_mean(ys[r], clusters=cluster[r], level=args.level),
            }
            for method, estimate in estimates.items():
                low, high = estimate.interval()
                hits[score, method] += low <= target[score] <= high
                widths[score, method].append(high - low)
    head = ["score", "population mean"]
    head += [f"{m} coverage" for m in methods] + [f"{m} width" for m in methods]
    print("\n| " + " | ".join([*head, "PPI / rated-only width"]) + " |")
    print("|---" * (len(head) + 1) + "|")
    for score in scores:
        cover = [f"{hits[score, m] / args.draws:.3f}" for m in methods]
        width = [f"{np.mean(widths[score, m]):.3f}" for m in methods]
        ratio = np.mean(widths[score, "PPI"]) / np.mean(widths[score, "rated only"])
        cells = [score, f"{target[score]:.3f}", *cover, *width, f"{ratio:.2f}"]
        print("| " + " | ".join(cells) + " |")

    counselors = table.counselor_id.astype(str).to_numpy()
    names, counts = np.unique(counselors, return_counts=True)
    biggest = names[np.argsort(-counts, kind="stable")[:10]]
    print(
        "\nthe counselors with most sessions (total): the mean of their sessions' ratings, "
        "and the naive estimate from all their predictions"
    )
    print("| counselor | sessions | mean rating | naive estimate [interval] | covers |")
    print("|---|---|---|---|---|")
    for name in biggest:
        mine = counselors == name
        rating = y["total"][mine].mean()
        naive = classical_mean(f["total"][mine], clusters=clients[mine], level=args.level)
        low, high = naive.interval()
        print(
            f"| {name} | {mine.sum()} | {rating:.3f} | {naive.estimate[0]:.3f} "
            f"[{low:.3f}, {high:.3f}] | {'yes' if low <= rating <= high else 'no'} |"
        )


if __name__ == "__main__":
    main()
