"""care.analyze statistics, checked against statsmodels/scipy computed directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from care.analyze import (
    client_trajectories,
    counselor_profiles,
    find_drops,
    find_themes,
    pair_frequencies,
    pattern_regression,
    score_distributions,
    session_table,
    session_windows,
)
from care.analyze.patterns import detect_label_keys, session_pairs
from care.assessors.lite import LiteAssessor
from care.data import load_corpus
from care.data.session import Session, Turn
from care.errors import DataError
from care.results import Assessments
from care.stats import bootstrap_ci

ESCONV = Path("/work/shared/data/samples/esconv_sample.json")
if not ESCONV.exists():
    ESCONV = Path(__file__).resolve().parents[2] / "shared/data/samples/esconv_sample.json"


def _table(n: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(n)],
            "client_id": [f"c{i % 15}" for i in range(n)],
            "counselor_id": [f"t{i % 4}" for i in range(n)],
            "date": [f"2020-01-{1 + i // 15:02d}" for i in range(n)],
            "n_turns": 10,
            "language": "en",
            "goal": rng.normal(3, 0.7, n),
            "total": rng.normal(3.2, 0.5, n),
        }
    )


def test_distributions_match_numpy_and_scipy() -> None:
    table = _table()
    table.loc[3, "goal"] = np.nan
    got = score_distributions(table, ["goal", "total"]).set_index("score")
    values = table["goal"].dropna().to_numpy()
    assert got.loc["goal", "n"] == 59
    assert got.loc["goal", "mean"] == pytest.approx(values.mean())
    assert got.loc["goal", "sd"] == pytest.approx(np.std(values, ddof=1))
    assert got.loc["goal", "median"] == pytest.approx(np.median(values))
    assert got.loc["goal", "skew"] == pytest.approx(stats.skew(values))
    assert got.loc["goal", "q75"] == pytest.approx(np.percentile(values, 75))


def test_counselor_profiles_means_and_cluster_bootstrap() -> None:
    table = _table()
    profiles = counselor_profiles(table, ["goal"], n_resamples=300)
    assert sorted(profiles["counselor_id"]) == ["t0", "t1", "t2", "t3"]
    row = profiles[profiles.counselor_id == "t1"].iloc[0]
    part = table[table.counselor_id == "t1"]
    assert row["mean"] == pytest.approx(part["goal"].mean())
    assert row["n_sessions"] == 15 and row["n_clients"] == len(set(part.client_id))
    assert row["corpus_mean"] == pytest.approx(table["goal"].mean())
    assert row["diff"] == pytest.approx(part["goal"].mean() - table["goal"].mean())
    # The CI is the cluster bootstrap of the mean: the same as bootstrap_ci with a callable.
    expected = bootstrap_ci(
        part["goal"].to_numpy(),
        part["goal"].to_numpy(),
        lambda y, p: float(np.mean(y)),
        groups=part["client_id"].to_numpy(),
        n_resamples=300,
    )
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(expected, abs=1e-9)
    assert row["ci_low"] < row["mean"] < row["ci_high"]


def test_client_trajectories_slope_is_scipy_linregress() -> None:
    table = _table()
    sessions, trends = client_trajectories(table, ["goal"])
    part = sessions[sessions.client_id == "c2"]
    assert list(part["session_number"]) == [1, 2, 3, 4]
    assert list(part["date"]) == sorted(part["date"])
    fit = stats.linregress(part["session_number"], part["goal"])
    row = trends[(trends.client_id == "c2") & (trends.score == "goal")].iloc[0]
    assert row["slope_per_session"] == pytest.approx(fit.slope)
    assert row["p_value"] == pytest.approx(fit.pvalue)
    # Undated sessions are left out.
    table["date"] = None
    assert client_trajectories(table, ["goal"])[0].empty


def _labelled_corpus(n: int = 120, seed: int = 3) -> tuple[list[Session], pd.Series]:
    """Sessions with AnnoMI-like labels; the total rises by 2 per unit frequency of
    'Reflection -> change' and falls by 1.5 per unit of 'Question -> sustain'."""
    rng = np.random.default_rng(seed)
    sessions, scores = [], {}
    for i in range(n):
        turns = []
        for _ in range(20):
            label = rng.choice(["Reflection", "Question", "Other"])
            reply = rng.choice(["change", "sustain", "neutral"])
            turns.append(("counselor", {"behaviour": str(label)}))
            turns.append(("client", {"talk_type": str(reply)}))
        session = Session(
            id=f"s{i}",
            turns=[
                Turn(index=k, role=role, text=f"turn {k}", meta=meta)
                for k, (role, meta) in enumerate(turns)
            ],
            language="en",
            client_id=f"c{i // 3}",
        )
        counts = session_pairs(session, "behaviour", "talk_type")
        score = (
            3
            + 2 * counts["Reflection -> change"] / 20
            - 1.5 * counts["Question -> sustain"] / 20
            + rng.normal(0, 0.05)
        )
        sessions.append(session)
        scores[session.id] = score
    return sessions, pd.Series(scores)


def test_pattern_regression_recovers_known_effects_and_matches_statsmodels() -> None:
    sessions, scores = _labelled_corpus()
    assert detect_label_keys(sessions) == ("behaviour", "talk_type")
    freqs = pair_frequencies(sessions, "behaviour", "talk_type")
    assert freqs.shape == (120, 9)
    assert np.allclose(freqs.sum(axis=1), 1.0)  # every counselor turn is followed by a client
    groups = pd.Series({s.id: s.client_id for s in sessions})
    result = pattern_regression(freqs, scores, groups, max_pairs=9)
    assert len(result.table) == 1 + 8 and any("collinear" in n for n in result.notes)
    table = result.table.set_index("term")
    assert (
        table.loc["Reflection -> change", "ci_low"]
        < 2
        < table.loc["Reflection -> change", "ci_high"]
    )
    assert (
        table.loc["Question -> sustain", "ci_low"]
        < -1.5
        < table.loc["Question -> sustain", "ci_high"]
    )
    assert table.loc["Reflection -> change", "p"] < 1e-6
    # The same model fitted by statsmodels directly.
    keep = [t for t in table.index if t != "const"]
    design = sm.add_constant(freqs[keep])
    codes = pd.factorize(groups[freqs.index])[0]
    direct = sm.OLS(scores[freqs.index], design).fit(cov_type="cluster", cov_kwds={"groups": codes})
    for term in table.index:
        assert table.loc[term, "coef"] == pytest.approx(direct.params[term])
        assert table.loc[term, "se"] == pytest.approx(direct.bse[term])
        assert table.loc[term, "p"] == pytest.approx(direct.pvalues[term])
        assert table.loc[term, "ci_low"] == pytest.approx(direct.conf_int().loc[term, 0])
    assert result.n_clusters == 40 and result.r_squared == pytest.approx(direct.rsquared)


def test_pattern_regression_keeps_the_most_frequent_pairs_and_says_so() -> None:
    sessions, scores = _labelled_corpus(n=30)
    freqs = pair_frequencies(sessions, "behaviour", "talk_type")
    result = pattern_regression(freqs, scores)
    assert len(result.table) == 1 + 3  # 30 sessions // 10
    assert any("most frequent" in note for note in result.notes)
    top = freqs.mean().sort_values(ascending=False).index[:3]
    assert set(result.table.term) - {"const"} == set(top)


def test_no_labels_gives_a_notice_not_a_regression() -> None:
    session = Session(
        id="x", turns=[Turn(0, "counselor", "hi"), Turn(1, "client", "hello")], language="en"
    )
    assert detect_label_keys([session]) == (None, None)
    freqs = pair_frequencies([session], "strategy")
    result = pattern_regression(freqs, pd.Series({"x": 3.0}))
    assert result.table.empty and "no turn carries a counselor label" in result.notes[0]


@pytest.fixture(scope="module")
def esconv():
    corpus = load_corpus(ESCONV)
    return corpus, LiteAssessor().assess(corpus)


def test_esconv_regression_path(esconv) -> None:
    corpus, results = esconv
    sessions = list(corpus)
    assert detect_label_keys(sessions) == ("strategy", None)
    freqs = pair_frequencies(sessions, "strategy")
    assert "Question -> client" in freqs.columns
    table, _ = session_table(sessions, results)
    result = pattern_regression(freqs, table.set_index("session_id")["total"])
    # Three sessions, no client ids: one pair at most, and the note says pairs were dropped.
    assert len(result.table) == 2 and result.n_sessions == 3
    assert any("most frequent" in note for note in result.notes)


def test_session_table_joins_by_id(esconv) -> None:
    corpus, results = esconv
    table, dims = session_table(list(corpus), results)
    assert list(table.session_id) == corpus.ids
    assert set(dims) >= {"goal", "task", "bond"}
    assert table.loc[0, "total"] == pytest.approx(results[0].total_score())
    with pytest.raises(DataError, match="joined by session id"):
        session_table([Session(id="nope", turns=[])], results)


def test_windows_and_drops(esconv) -> None:
    corpus, _ = esconv
    session = corpus["esconv-2"]
    windows = session_windows([session], every=10)
    assert list(windows.end_turn) == [10, 20, 30, 40, 49]
    full = LiteAssessor(cut=True).assess([session])[0]
    assert windows.iloc[-1]["total"] == pytest.approx(full.total_score())
    fake = pd.DataFrame(
        {"session_id": "esconv-2", "window": [1, 2, 3], "end_turn": [10, 20, 30]}
        | {"goal": [3.0, 2.5, 2.6]}
    )
    drops = find_drops(fake, [session], threshold=0.2, context=1)
    assert len(drops) == 1
    row = drops.iloc[0]
    assert (row.from_turn, row.to_turn, row["drop"]) == (10, 19, pytest.approx(0.5))
    assert row.turns.startswith("#9 ") and "\n#19 " in row.turns


def test_themes_on_a_small_corpus() -> None:
    corpus = load_corpus(ESCONV)
    sessions = [
        Session(id=f"{s.id}-{k}", turns=s.turns[: 10 + 3 * k], language="en", client_id=s.id)
        for s in corpus
        for k in range(8)
    ]
    results = LiteAssessor().assess(sessions)
    table, dims = session_table(sessions, results)
    themes = find_themes(results, table, dims, n_themes=3, quantile=0.5)
    assert 2 <= len(themes.themes) <= 3
    assert themes.themes["size"].sum() == themes.n_texts
    assert themes.themes["label"].str.len().min() > 0
    first = themes.quotes[themes.quotes.theme == 1]
    assert 1 <= len(first) <= 3 and first.session_id.isin(table.session_id).all()
    again = find_themes(results, table, dims, n_themes=3, quantile=0.5)
    assert again.themes.equals(themes.themes)  # fixed seed: the same themes
    assert isinstance(results, Assessments)
