"""Prediction-powered inference: coverage in simulations, agreement with ``ppi_py`` on fixed
data, and ``care analyze --rated`` end to end."""

from __future__ import annotations

import gzip
import json
import random
from html import escape
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from care.analyze.ppi import classical_mean, classical_ols, ppi_mean, ppi_ols
from care.analyze.ppi_corpus import NAIVE_WARNING, RatedSample
from care.analyze.report import analyze
from care.assessors.lite import LiteAssessor
from care.cli.main import cli
from care.data import load_corpus
from care.data.session import RatingSet, Session
from care.instruments import get_instrument
from shared_data import ENGLISH, needs_data

ESCONV = Path(__file__).resolve().parents[2] / "shared/data/samples/esconv_sample.json"


def _covers(estimate, truth: float, index: int = 0) -> bool:
    return bool(estimate.low[index] <= truth <= estimate.high[index])


# ------------------------------------------------------------------------- simulations


def test_biased_predictor_naive_undercovers_ppi_covers() -> None:
    """300 corpora of 300 clients x 5 sessions (client effect), 150 random sessions rated,
    predictions biased by +0.3 on average: the naive 95% interval never covers the true mean,
    PPI and rated-only cover about 95%, PPI is narrower, and ignoring the clients makes
    PPI undercover."""
    rng = np.random.default_rng(15)
    draws, clients, per, n_rated, truth = 300, 300, 5, 150, 3.0
    client = np.repeat(np.arange(clients), per)
    ratings = (
        truth
        + rng.normal(0, 0.6, (draws, clients))[:, client]
        + rng.normal(0, 0.5, (draws, clients * per))
    )
    predictions = 0.8 * ratings + 0.9 + rng.normal(0, 0.25, ratings.shape)
    order = np.argsort(rng.random(ratings.shape), axis=1)
    hits = {"ppi": 0, "naive": 0, "rated": 0, "ppi_unclustered": 0}
    widths = {key: 0.0 for key in hits}
    for d in range(draws):
        r, u = order[d, :n_rated], order[d, n_rated:]
        y, f = ratings[d], predictions[d]
        estimates = {
            "ppi": ppi_mean(y[r], f[r], f[u], clusters_rated=client[r], clusters_unrated=client[u]),
            "ppi_unclustered": ppi_mean(y[r], f[r], f[u]),
            "naive": classical_mean(f, clusters=client),
            "rated": classical_mean(y[r], clusters=client[r]),
        }
        for key, estimate in estimates.items():
            hits[key] += _covers(estimate, truth)
            widths[key] += float(estimate.high[0] - estimate.low[0]) / draws
    coverage = {key: value / draws for key, value in hits.items()}
    assert 0.91 <= coverage["ppi"] <= 0.99, coverage
    assert 0.91 <= coverage["rated"] <= 0.99, coverage
    assert coverage["naive"] < 0.2, coverage
    assert coverage["ppi_unclustered"] < 0.9, coverage
    assert widths["ppi"] < 0.75 * widths["rated"], widths


def test_ppi_regression_coefficient_covers_where_naive_fails() -> None:
    """A predictor whose bias grows with the covariate: the naive slope is off, its
    interval misses; the PPI interval covers about 95% and is narrower than rated-only."""
    rng = np.random.default_rng(7)
    draws, total, n_rated, beta = 300, 1500, 150, np.array([3.0, 1.0])
    x = np.stack([np.ones((draws, total)), rng.uniform(0, 1, (draws, total))], axis=2)
    y = x @ beta + rng.normal(0, 0.5, (draws, total))
    f = y + 0.2 - 0.6 * x[:, :, 1] + rng.normal(0, 0.2, (draws, total))
    hits = {"ppi": 0, "naive": 0, "rated": 0}
    widths = {key: 0.0 for key in hits}
    for d in range(draws):
        r, u = slice(0, n_rated), slice(n_rated, total)
        estimates = {
            "ppi": ppi_ols(x[d, r], y[d, r], f[d, r], x[d, u], f[d, u]),
            "naive": classical_ols(x[d], f[d]),
            "rated": classical_ols(x[d, r], y[d, r]),
        }
        for key, estimate in estimates.items():
            hits[key] += _covers(estimate, beta[1], 1)
            widths[key] += float(estimate.high[1] - estimate.low[1]) / draws
    coverage = {key: value / draws for key, value in hits.items()}
    assert 0.91 <= coverage["ppi"] <= 0.99, coverage
    assert 0.91 <= coverage["rated"] <= 0.99, coverage
    assert coverage["naive"] < 0.2, coverage
    assert widths["ppi"] < 0.75 * widths["rated"], widths


# -------------------------------------------------------- agreement with ppi_py (reference)


@pytest.fixture(scope="module")
def fixed() -> dict[str, np.ndarray]:
    """Fixed data, every session its own client: 300 rated, 3000 unrated."""
    rng = np.random.default_rng(2023)
    n, m = 300, 3000
    y = rng.normal(3, 1, n)
    y_u = rng.normal(3, 1, m)
    x = np.column_stack([np.ones(n), rng.uniform(0, 1, (n, 2))])
    return {
        "y": y,
        "f": 0.7 * y + 1.1 + rng.normal(0, 0.5, n),
        "f_u": 0.7 * y_u + 1.1 + rng.normal(0, 0.5, m),
        "x": x,
        "x_u": np.tile(x, (10, 1)),
        "y_x": x @ [2.0, 0.5, -0.3] + rng.normal(0, 0.6, n),
    }


@pytest.fixture(scope="module")
def ppi_py() -> ModuleType:
    """The reference package, its numba functions left uncompiled (compiling them takes
    longer than running them in Python on this data)."""
    numba = pytest.importorskip("numba")
    disabled = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        return pytest.importorskip("ppi_py")
    finally:
        numba.config.DISABLE_JIT = disabled


def _half(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return (np.asarray(high) - np.asarray(low)) / 2


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_mean_agrees_with_ppi_py(ppi_py, fixed, lam: float) -> None:
    """Same estimate; the half-width differs only by the small-sample factors G/(G-1)."""
    y, f, f_u = fixed["y"], fixed["f"], fixed["f_u"]
    mine = ppi_mean(y, f, f_u, level=0.9, lam=lam)
    low, high = ppi_py.ppi_mean_ci(y, f, f_u, alpha=0.1, lam=lam)
    assert mine.estimate[0] == pytest.approx(ppi_py.ppi_mean_pointestimate(y, f, f_u, lam=lam))
    assert mine.estimate[0] == pytest.approx(float((low + high)[0] / 2))
    ratio = (mine.high[0] - mine.low[0]) / float((high - low)[0])
    assert 1.0 <= ratio <= np.sqrt(len(y) / (len(y) - 1)) + 1e-12


def test_classical_mean_and_ols_agree_with_ppi_py(ppi_py, fixed) -> None:
    y, x, y_x = fixed["y"], fixed["x"], fixed["y_x"]
    factor = np.sqrt(len(y) / (len(y) - 1))
    mine = classical_mean(y, level=0.95)
    low, high = ppi_py.classical_mean_ci(y, alpha=0.05)
    assert mine.estimate[0] == pytest.approx((low + high) / 2)
    assert _half(mine.low, mine.high)[0] == pytest.approx(_half(low, high) * factor)
    mine = classical_ols(x, y_x, level=0.95)
    low, high = ppi_py.classical_ols_ci(x, y_x, alpha=0.05)
    assert mine.estimate == pytest.approx((low + high) / 2)
    assert _half(mine.low, mine.high) == pytest.approx(_half(low, high) * factor)


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_ols_agrees_exactly_with_ppi_py(ppi_py, fixed, lam: float) -> None:
    """Where the unrated covariates have the rated ones' moments (ppi_py's form of the
    estimate then equals the estimating equation's), estimate and interval are ppi_py's."""
    x, y, x_u = fixed["x"], fixed["y_x"], fixed["x_u"]
    f = y + 0.4 * x[:, 1] + np.linspace(-0.3, 0.3, len(y))
    f_u = np.tile(f, 10) + np.resize([0.2, -0.1, 0.05], len(x_u))
    mine = ppi_ols(x, y, f, x_u, f_u, level=0.9, lam=lam)
    low, high = ppi_py.ppi_ols_ci(x, y, f, x_u, f_u, alpha=0.1, lam=lam)
    assert mine.low == pytest.approx(low, rel=1e-9)
    assert mine.high == pytest.approx(high, rel=1e-9)


def test_tuned_mean_is_close_to_ppi_py(ppi_py, fixed) -> None:
    """Power tuning: ppi_py's lambda and ours minimise estimates of the same variance."""
    y, f, f_u = fixed["y"], fixed["f"], fixed["f_u"]
    mine = ppi_mean(y, f, f_u, level=0.95)
    low, high = ppi_py.ppi_mean_ci(y, f, f_u, alpha=0.05)
    half = float(_half(low, high)[0])
    assert 0 < mine.lam < 1
    assert abs(mine.estimate[0] - float((low + high)[0] / 2)) < 0.02 * half
    assert _half(mine.low, mine.high)[0] == pytest.approx(half, rel=0.02)
    assert mine.high[0] - mine.low[0] < np.ptp(classical_mean(y).interval())


def test_a_client_counted_twice_is_still_one_client() -> None:
    """Every session duplicated within its client: the clustered interval is unchanged."""
    rng = np.random.default_rng(3)
    y, f_u = rng.normal(size=80), rng.normal(size=400)
    f = y + rng.normal(0, 0.3, 80)
    clients, clients_u = [f"c{i}" for i in range(80)], [f"u{i}" for i in range(400)]
    once = ppi_mean(y, f, f_u, clusters_rated=clients, clusters_unrated=clients_u, lam=0.7)
    twice = ppi_mean(
        np.repeat(y, 2),
        np.repeat(f, 2),
        np.repeat(f_u, 2),
        clusters_rated=np.repeat(clients, 2),
        clusters_unrated=np.repeat(clients_u, 2),
        lam=0.7,
    )
    assert twice.interval() == pytest.approx(once.interval())
    unclustered = ppi_mean(np.repeat(y, 2), np.repeat(f, 2), np.repeat(f_u, 2), lam=0.7)
    assert np.ptp(unclustered.interval()) < 0.75 * np.ptp(once.interval())


# ------------------------------------------------------------------ the analysis's glue


def _rate(session: Session, rng: random.Random) -> Session:
    instrument = get_instrument("kokorochat-feedback")
    values = {
        item: float(rng.randint(int(instrument.scale_for(item).min), 5))
        for item in instrument.item_ids
    }
    session.ratings.append(RatingSet("kokorochat-feedback", "client", values))
    return session


def test_pattern_and_counselor_estimates_on_labelled_sessions() -> None:
    """ESConv sessions (strategy labels) cut into 30, two counselors, rated at random:
    the pattern entries are the OLS fits they claim to be, counselors below --min-rated
    get a note, and dimension scores come from the instrument."""
    rng = random.Random(0)
    base = list(load_corpus(ESCONV))
    sessions = [
        Session(
            id=f"{s.id}-{k}",
            turns=s.turns[: 10 + 2 * k],
            language="en",
            client_id=f"client{k}",
            counselor_id="big" if k % 5 else "small",
        )
        for k in range(10)
        for s in base
    ]
    assessments = LiteAssessor().assess(sessions)
    rated = [_rate(s, rng) for s in sessions[::2]]
    analysis = analyze(
        sessions,
        assessments,
        trajectories=0,
        n_resamples=100,
        rated=RatedSample(rated, assessments),
        min_rated=8,
    )
    ppi = analysis.ppi
    instrument = get_instrument(assessments[0].instrument)
    assert list(ppi.corpus) == [*instrument.dimensions, "total"]
    goal = ppi.corpus[next(iter(instrument.dimensions))]
    assert goal["n_rated"] == 15 and goal["n_unrated"] == 15
    truth = np.mean([instrument.dimension_scores(s.ratings[-1].values)["goal"] for s in rated])
    assert goal["rated_only_estimate"] == pytest.approx(truth)
    by_id = {c["counselor_id"]: c for c in ppi.counselors}
    assert by_id["big"]["n_rated"] == 12 and by_id["big"]["estimates"]["total"]["ci"][0] < 5
    assert by_id["small"]["estimates"] is None and "fewer than the 8" in by_id["small"]["note"]
    terms = [p["term"] for p in ppi.patterns]
    assert terms[0] == "const" and terms[1:] == analysis.patterns.table.term.tolist()[1:]
    from care.analyze.patterns import pair_frequencies

    frequencies = pair_frequencies(sessions, "strategy").reindex(columns=terms[1:])
    design = np.column_stack([np.ones(len(sessions)), frequencies.loc[[s.id for s in sessions]]])
    predicted = [a.total_score() for a in assessments]
    naive = np.linalg.lstsq(design, predicted, rcond=None)[0]
    assert [p["naive_estimate"] for p in ppi.patterns] == pytest.approx(naive)
    rated_rows = [i for i, s in enumerate(sessions) if i % 2 == 0]
    ratings = [instrument.total_score(s.ratings[-1].values) for s in rated]
    rated_only = np.linalg.lstsq(design[rated_rows], ratings, rcond=None)[0]
    assert [p["rated_only_estimate"] for p in ppi.patterns] == pytest.approx(rated_only)


def test_rated_sessions_without_ratings_on_the_instrument_are_an_error() -> None:
    done = CliRunner().invoke(
        cli, ["analyze", str(ESCONV), "--rated", str(ESCONV), "--trajectories", "0"]
    )
    assert done.exit_code == 2, done.output
    assert "client ratings on 'kokorochat-feedback'" in done.output
    assert "Traceback" not in done.output


# ----------------------------------------------------------------- the CLI on KokoroChat


@pytest.fixture(scope="module")
def kokoro(tmp_path_factory) -> dict[str, Path]:
    """160 English KokoroChat sessions, their built-in model results, 40 of them rated,
    and 20 rated sessions that are not among them."""
    folder = tmp_path_factory.mktemp("kokoro")
    with gzip.open(ENGLISH, "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(180)]
    analysed, elsewhere = lines[:160], lines[160:]
    paths = {name: folder / f"{name}.jsonl" for name in ("sessions", "rated", "other")}
    paths["sessions"].write_text("".join(analysed), encoding="utf-8")
    paths["rated"].write_text("".join(random.Random(5).sample(analysed, 40)), encoding="utf-8")
    paths["other"].write_text("".join(elsewhere), encoding="utf-8")
    paths["results"] = folder / "results.jsonl"
    LiteAssessor().assess(load_corpus(paths["sessions"])).to_jsonl(paths["results"])
    return paths


def _run(*arguments: str) -> object:
    return CliRunner().invoke(
        cli, ["analyze", *arguments, "--trajectories", "0", "--bootstrap", "100"]
    )


@needs_data
def test_cli_rated_subset_end_to_end(kokoro, tmp_path) -> None:
    out = tmp_path / "out"
    args = [str(kokoro["sessions"]), "--results", str(kokoro["results"])]
    done = _run(*args, "--rated", str(kokoro["rated"]), "--out-dir", str(out))
    assert done.exit_code == 0, done.output
    assert "prediction-powered 95% intervals" in done.output
    ppi = json.loads((out / "analysis.json").read_text(encoding="utf-8"))["ppi"]
    assert list(ppi["corpus"]) == ["goal", "task", "bond", "total"]
    for record in ppi["corpus"].values():
        assert {"estimate", "ci", "naive_ci", "rated_only_ci", "n_rated", "n_unrated"} <= set(
            record
        )
        assert (record["n_rated"], record["n_unrated"]) == (40, 120)
        assert record["ci"][0] < record["estimate"] < record["ci"][1]
        for key in ("naive_ci", "rated_only_ci"):
            assert record[key][0] < record[key][1]
        assert (
            record["ci"][1] - record["ci"][0]
            < record["rated_only_ci"][1] - (record["rated_only_ci"][0])
        )
    assert ppi["counselors"] and all(
        c["estimates"] is None and "no estimate" in c["note"] for c in ppi["counselors"]
    )
    assert ppi["patterns"] == [] and any("no PPI one" in n for n in ppi["notes"])
    table = pd.read_csv(out / "ppi.csv")
    assert table.kind.tolist() == ["corpus"] * 4
    assert table.ci_low.tolist() == pytest.approx([r["ci"][0] for r in ppi["corpus"].values()])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert escape(NAIVE_WARNING) in html and 'class="chart intervals"' in html
    assert "rated only" in html and "naive" in html

    narrow = tmp_path / "narrow"
    done = _run(
        *args, "--rated", str(kokoro["rated"]), "--ci-level", "0.8", "--out-dir", str(narrow)
    )
    assert done.exit_code == 0, done.output
    eighty = json.loads((narrow / "analysis.json").read_text(encoding="utf-8"))["ppi"]
    assert eighty["level"] == 0.8
    for score, record in eighty["corpus"].items():
        wide = ppi["corpus"][score]
        assert record["ci"][1] - record["ci"][0] < wide["ci"][1] - wide["ci"][0]


@needs_data
def test_cli_rated_sample_outside_the_corpus(kokoro, tmp_path) -> None:
    """Rated sessions not among the analysed ones: the built-in model assesses them;
    with --results that lack them, a clear error."""
    done = _run(str(kokoro["rated"]), "--rated", str(kokoro["other"]), "--out-dir", str(tmp_path))
    assert done.exit_code == 0, done.output
    assert "assessing 20 rated sessions with the built-in model" in done.output
    ppi = json.loads((tmp_path / "analysis.json").read_text(encoding="utf-8"))["ppi"]
    assert (ppi["corpus"]["total"]["n_rated"], ppi["corpus"]["total"]["n_unrated"]) == (20, 40)
    done = _run(
        str(kokoro["sessions"]),
        "--results",
        str(kokoro["results"]),
        "--rated",
        str(kokoro["other"]),
        "--out-dir",
        str(tmp_path / "x"),
    )
    assert done.exit_code == 2 and "20 of the 20 rated sessions have no result" in done.output
    assert "Traceback" not in done.output
