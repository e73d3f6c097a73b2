"""care.evaluate.report: figures checked against scipy/numpy and hand computations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from care.data import Corpus, load_corpus
from care.errors import CareError, DataError, ParameterError
from care.evaluate.evaluation import Evaluation
from care.evaluate.markdown import evaluation_markdown
from care.evaluate.predictions import read_folds, read_rationale_references
from care.evaluate.report import evaluate
from care.evaluate.targets import instrument_targets, score_frame
from care.instruments import get_instrument
from care.results import Assessments
from shared_data import ENGLISH, needs_data

DATA = Path(__file__).parent / "data" / "evaluate"
WAI = get_instrument("wai-sr-client")
DIMENSIONS = {name: list(items) for name, items in WAI.dimensions.items()}


@pytest.fixture(scope="module")
def gold() -> Corpus:
    return load_corpus(DATA / "gold.jsonl")


@pytest.fixture(scope="module")
def good():
    return Assessments.read(DATA / "pred_good.jsonl")


@pytest.fixture(scope="module")
def weak():
    return Assessments.read(DATA / "pred_weak.jsonl")


@pytest.fixture(scope="module")
def evaluation(gold, good, weak) -> Evaluation:
    cut = Assessments.read(DATA / "pred_good_cut.jsonl")
    return evaluate(
        gold,
        {"good": good, "weak": weak},
        cut_predictions={"good-cut": cut},
        n_resamples=200,
        sources={"good": "pred_good.jsonl"},
    )


def raw_frame(path: Path, key: str = "items") -> pd.DataFrame:
    """Item values straight from a results file (without care's reader)."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        rows[record["session_id"]] = {k: v["value"] for k, v in record[key].items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def client_frame() -> pd.DataFrame:
    rows = {}
    for line in (DATA / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        rows[record["id"]] = next(r for r in record["ratings"] if r["rater"] == "client")["values"]
    return pd.DataFrame.from_dict(rows, orient="index")


def with_scores(items: pd.DataFrame) -> pd.DataFrame:
    out = items.copy()
    for name, ids in DIMENSIONS.items():
        out[name] = items[ids].mean(axis=1)
    out["total"] = items[[f"item{i}" for i in range(1, 13)]].mean(axis=1)
    return out


def row(evaluation: Evaluation, system: str, target: str, metric: str, view: str = "full"):
    found = evaluation.views[view].value(system, target, metric)
    assert found is not None, (system, target, metric)
    return found


# ------------------------------------------------------------------------ targets


def test_targets_put_dimensions_total_and_own_scale_items_first() -> None:
    kokoro = get_instrument("kokorochat-feedback")
    headline = [t.name for t in instrument_targets(kokoro) if t.headline]
    assert headline == ["goal", "task", "bond", "total", "overall"]
    overall = next(t for t in instrument_targets(kokoro) if t.name == "overall")
    assert overall.scale == (0.0, 100.0) and overall.kind == "item"


def test_score_frame_follows_the_instrument_key() -> None:
    observer = get_instrument("wai-o-s")
    values = {f"item{i}": 7.0 for i in range(1, 13)}
    values["item4"] = values["item10"] = 1.0  # reverse keyed: 1 means 7
    frame = score_frame({"s": values, "t": {"item1": 3.0}}, observer)
    assert frame.loc["s", "dim:goal"] == 7.0 and frame.loc["s", "total"] == 7.0
    assert math.isnan(frame.loc["t", "dim:task"])  # an item missing: no score
    assert frame.loc["t", "item:item1"] == 3.0


# ------------------------------------------------------------------------ metrics


def test_headline_metrics_match_scipy_and_numpy(evaluation) -> None:
    truth = with_scores(client_frame())
    pred = with_scores(raw_frame(DATA / "pred_good.jsonl")).loc[truth.index]
    for target, key in (("goal", "dim:goal"), ("bond", "dim:bond"), ("total", "total")):
        y, p = truth[target].to_numpy(), pred[target].to_numpy()
        assert row(evaluation, "good", key, "pearson")["value"] == pytest.approx(
            stats.pearsonr(y, p)[0]
        )
        assert row(evaluation, "good", key, "spearman")["value"] == pytest.approx(
            stats.spearmanr(y, p)[0]
        )
        assert row(evaluation, "good", key, "mse")["value"] == pytest.approx(np.mean((y - p) ** 2))
        assert row(evaluation, "good", key, "mae")["value"] == pytest.approx(np.mean(abs(y - p)))
        result = row(evaluation, "good", key, "pearson")
        assert result["ci_low"] <= result["value"] <= result["ci_high"]
        assert result["n"] == 24


def test_item_metrics_by_hand(evaluation) -> None:
    truth = client_frame()
    pred = raw_frame(DATA / "pred_weak.jsonl").loc[truth.index]
    y, p = truth["item7"].to_numpy(), pred["item7"].to_numpy()
    rounded = np.clip(np.floor(p + 0.5), 1, 5)
    assert row(evaluation, "weak", "item:item7", "exact_accuracy")["value"] == pytest.approx(
        np.mean(rounded == y)
    )
    assert row(evaluation, "weak", "item:item7", "within_one_accuracy")["value"] == pytest.approx(
        np.mean(abs(rounded - y) <= 1)
    )
    assert row(evaluation, "weak", "item:item7", "rounded_mae")["value"] == pytest.approx(
        np.mean(abs(rounded - y))
    )
    assert row(evaluation, "weak", "item:item7", "pearson")["value"] == pytest.approx(
        stats.pearsonr(y, p)[0]
    )
    # Dimensions and totals get no rounded metrics.
    assert evaluation.views["full"].value("weak", "total", "exact_accuracy") is None


def test_fold_summary_is_mean_and_sd_of_per_fold_values(evaluation) -> None:
    truth = with_scores(client_frame())
    pred = with_scores(raw_frame(DATA / "pred_good.jsonl")).loc[truth.index]
    folds = np.array([(int(s[1:]) // 3) % 4 for s in truth.index])  # meta.fold of the fixture
    per_fold = [
        stats.pearsonr(truth["total"][folds == k], pred["total"][folds == k])[0] for k in range(4)
    ]
    entry = evaluation.views["full"].folds["good"]["total"]
    assert entry["n_folds"] == 4
    assert entry["pearson"]["mean"] == pytest.approx(np.mean(per_fold))
    assert entry["pearson"]["sd"] == pytest.approx(np.std(per_fold, ddof=1))
    assert "weak" not in evaluation.views["full"].folds  # its results carry no folds


def test_folds_file_overrides_results_meta(gold, good) -> None:
    folds = read_folds(DATA / "folds.csv")
    assert folds["s05"] == 1 and len(folds) == 24
    result = evaluate(gold, {"good": good}, folds=folds, n_resamples=0)
    assert result.views["full"].folds["good"]["total"]["n_folds"] == 3


def test_baselines_are_out_of_fold(evaluation, gold) -> None:
    view = evaluation.views["full"]
    names = [s.name for s in view.systems]
    assert names[:4] == ["good", "weak", "baseline/mean-rating", "baseline/length"]
    mean_row = next(s for s in view.systems if s.name == "baseline/mean-rating")
    assert "the systems' folds" in mean_row.source  # good's meta.fold covers every session
    # s00 (client c0) is in fold 0: its prediction is the item mean of the other folds.
    truth = client_frame()
    others = [s for s in truth.index if (int(s[1:]) // 3) % 4 != 0]
    assert mean_row.values.loc["s00", "item:item1"] == pytest.approx(
        truth.loc[others, "item1"].mean()
    )
    assert mean_row.values.loc["s03", "item:item1"] != pytest.approx(
        mean_row.values.loc["s00", "item:item1"]
    )


def test_baselines_fall_back_to_client_grouped_folds(gold, weak) -> None:
    result = evaluate(gold, {"weak": weak}, n_resamples=0, n_splits=4)
    length = next(s for s in result.views["full"].systems if s.name == "baseline/length")
    assert "4-fold cross-validation grouped by client" in length.source
    # No client is in two folds.
    by_client = pd.Series(
        length.folds.values, index=[f"c{int(s[1:]) // 3}" for s in length.folds.index]
    )
    assert (by_client.groupby(level=0).nunique() == 1).all()


def test_human_rows(evaluation) -> None:
    truth = with_scores(client_frame())
    counselor = next(s for s in evaluation.views["full"].systems if s.kind == "human")
    assert counselor.name == "human/counselor (wai-sr-counselor)"
    result = row(evaluation, counselor.name, "total", "pearson")
    assert result["n"] == 12  # only the even sessions carry the counselor's form
    observer_name = "human/observer (wai-o-s)"
    assert row(evaluation, observer_name, "dim:goal", "pearson")["n"] == 8
    # Observer scale 1-7 differs from the client's 1-5: correlations only.
    assert evaluation.views["full"].value(observer_name, "total", "mse") is None
    assert row(evaluation, counselor.name, "total", "mse")["value"] >= 0
    # The observer's goal score is keyed (items 4 and 10 reversed back) before averaging.
    observer = {}
    for line in (DATA / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for rating in record["ratings"]:
            if rating["rater"] == "observer":
                values = dict(rating["values"])
                values["item4"] = 8 - values["item4"]
                observer[record["id"]] = np.mean([values[i] for i in DIMENSIONS["goal"]])
    ids = list(observer)
    expected = stats.pearsonr(truth.loc[ids, "goal"], [observer[i] for i in ids])[0]
    assert row(evaluation, observer_name, "dim:goal", "pearson")["value"] == pytest.approx(expected)


def test_paired_tests(evaluation) -> None:
    paired = evaluation.views["full"].paired
    pairs = {(p["a"], p["b"]) for p in paired}
    assert ("good", "weak") in pairs and ("good", "baseline/length") in pairs
    assert ("weak", "baseline/mean-rating") in pairs
    test = next(
        p
        for p in paired
        if (p["a"], p["b"], p["target"], p["metric"]) == ("good", "weak", "total", "mse")
    )
    truth = with_scores(client_frame())["total"]
    good_total = with_scores(raw_frame(DATA / "pred_good.jsonl"))["total"].loc[truth.index]
    weak_total = with_scores(raw_frame(DATA / "pred_weak.jsonl"))["total"].loc[truth.index]
    expected = np.mean((truth - good_total) ** 2) - np.mean((truth - weak_total) ** 2)
    assert test["delta"] == pytest.approx(expected)
    assert test["delta"] < 0 and test["ci_high"] < 0
    assert test["p_value"] < 0.05 and test["verdict"] == "good better"
    assert {p["metric"] for p in paired} == {"pearson", "mse"}


def test_process_view(evaluation, gold, good) -> None:
    view = evaluation.views["process"]
    assert evaluation.settings["cut_end"] == pytest.approx(0.2)  # from meta.cut = 0.8
    assert [s.name for s in view.systems] == ["good-cut", "baseline/mean-rating", "baseline/length"]
    # The length baseline is refitted on cut sessions: its predictions change.
    full_length = next(s for s in evaluation.views["full"].systems if s.name == "baseline/length")
    cut_length = next(s for s in view.systems if s.name == "baseline/length")
    assert not np.allclose(full_length.values["total"], cut_length.values["total"])
    # Without cut predictions, only the baselines, and a note says why.
    alone = evaluate(gold, {"good": good}, cut_end=0.2, n_resamples=0)
    assert [s.kind for s in alone.views["process"].systems] == ["baseline", "baseline"]
    assert any("--pred-cut" in note for note in alone.views["process"].notes)


def test_cut_predictions_must_match_cut_end(gold, good) -> None:
    cut = Assessments.read(DATA / "pred_good_cut.jsonl")
    with pytest.raises(DataError) as info:
        evaluate(gold, {"good": good}, cut_end=0.3, cut_predictions={"c": cut}, n_resamples=0)
    assert "first 80% of turns" in str(info.value) and "meta.cut" in str(info.value)
    with pytest.raises(DataError, match="whole sessions"):
        evaluate(gold, {}, cut_end=0.2, cut_predictions={"g": _with_meta(good, cut=None)})


def _with_meta(assessments, **meta):
    from care.results import Assessments, SessionAssessment

    return Assessments(
        SessionAssessment.from_record({**a.to_record(), "meta": {**a.meta, **meta}})
        for a in assessments
    )


def test_bootstrap_units_and_no_resampling(gold, good) -> None:
    by_client = evaluate(gold, {"good": good}, n_resamples=100)
    by_session = evaluate(gold, {"good": good}, n_resamples=100, bootstrap_unit="session")
    a = row(by_client, "good", "total", "mae")
    b = row(by_session, "good", "total", "mae")
    assert a["value"] == b["value"]
    assert (a["ci_low"], a["ci_high"]) != (b["ci_low"], b["ci_high"])
    none = evaluate(gold, {"good": good}, n_resamples=0)
    assert math.isnan(row(none, "good", "total", "mae")["ci_low"])
    assert none.views["full"].paired == []


def test_sessions_scored_are_those_every_system_predicted(gold, good, weak) -> None:
    from care.results import Assessments

    fewer = Assessments(a for a in weak if a.session_id not in {"s00", "s01"})
    result = evaluate(gold, {"good": good, "weak": fewer}, n_resamples=0)
    assert len(result.views["full"].session_ids) == 22
    assert row(result, "good", "total", "pearson")["n"] == 22


def test_json_and_markdown(evaluation) -> None:
    data = json.loads(evaluation.to_json(), parse_constant=lambda c: pytest.fail(c))
    assert data["schema"] == "care-evaluation/1"
    assert set(data["views"]) == {"full", "process"}
    assert data["metric_variants"]["spearman"].startswith("Spearman")
    assert data["rationales"]["good"]["quote_faithfulness"]["share"] == pytest.approx(24 / 25)
    curve = data["views"]["full"]["calibration"]["good"]["total"]
    assert sum(curve["n"]) == 24 and len(curve["mean_client"]) == len(curve["n"])
    scores = data["views"]["full"]["scores"]
    assert {"system", "target", "metric", "value", "ci_low", "ci_high", "n"} <= set(scores[0])
    text = evaluation_markdown(evaluation)
    assert "| system | goal | task | bond | total |" in text
    assert "Paired bootstrap tests" in text and "Metric definitions" in text
    short = evaluation_markdown(evaluation, full=False)
    assert "Paired bootstrap" not in short and "| good |" in short


def test_distinctness_of_the_dimensions(evaluation) -> None:
    """Pearson r between dimension scores, for the clients and for every row, as numpy
    computes them; in the JSON, the Markdown and the HTML report."""
    from care.evaluate.html import render_html

    truth = with_scores(client_frame())
    pred = with_scores(raw_frame(DATA / "pred_good.jsonl")).loc[truth.index]
    view = evaluation.views["full"]
    correlations = view.dimension_correlations()
    assert set(correlations["clients"]) == {"goal~task", "goal~bond", "task~bond"}
    for row, frame in (("clients", truth), ("good", pred)):
        expected = np.corrcoef(frame["goal"], frame["bond"])[0, 1]
        assert correlations[row]["goal~bond"] == pytest.approx(expected)
    assert {"weak", "baseline/length"} <= set(correlations)
    data = json.loads(evaluation.to_json(), parse_constant=lambda c: pytest.fail(c))
    stored = data["views"]["full"]["dimension_correlations"]["good"]["task~bond"]
    assert stored == pytest.approx(correlations["good"]["task~bond"])
    assert "Distinctness of the dimensions" in evaluation_markdown(evaluation)
    assert "| clients' ratings |" in evaluation_markdown(evaluation)
    assert "Distinctness of the dimensions" in render_html(evaluation)


def test_rationales_against_references(gold, good) -> None:
    references = read_rationale_references(DATA / "references.jsonl")
    result = evaluate(gold, {"good": good}, n_resamples=0, reference_rationales=references)
    scored = result.rationales["good"]["against_references"]["en"]
    assert scored["n"] == 6
    assert 0 < scored["metrics"]["bleu"]["value"] < 100
    # Three identical pairs (ROUGE-1 = 1) and three unrelated ones (overlap only "the").
    assert 0.5 < scored["metrics"]["rouge1"]["value"] < 0.7


# ------------------------------------------------------------------------- errors


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD_LINES = (DATA / "pred_good.jsonl").read_text(encoding="utf-8").splitlines()


def test_unreadable_results_name_the_line(tmp_path) -> None:
    path = write(tmp_path, "bad.jsonl", [GOOD_LINES[0], "{not json", GOOD_LINES[2]])
    with pytest.raises(DataError) as info:
        Assessments.read(path)
    message = str(info.value)
    assert "bad.jsonl" in message and "line 2" in message and "not valid JSON" in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("session_id"), "session_id"),
        (lambda r: r.update(instrument="no-such-form"), "instrument"),
        (lambda r: r["items"].update(item1={"value": 9}), "items.item1.value"),
        (lambda r: r["items"].update(item99={"value": 1}), "items.item99.value"),
        (lambda r: r.update(items=[1, 2]), "items"),
    ],
)
def test_bad_records_name_the_field(tmp_path, change, field) -> None:
    record = json.loads(GOOD_LINES[1])
    change(record)
    path = write(tmp_path, "bad.jsonl", [GOOD_LINES[0], json.dumps(record)])
    with pytest.raises(DataError) as info:
        Assessments.read(path)
    assert f"field '{field}'" in str(info.value) and "line 2" in str(info.value)
    assert "Fix:" in str(info.value)


def test_other_instrument_and_duplicates(tmp_path) -> None:
    record = json.loads(GOOD_LINES[1])
    record["instrument"] = "wai-sr-counselor"
    path = write(tmp_path, "mixed.jsonl", [GOOD_LINES[0], json.dumps(record)])
    with pytest.raises(DataError, match="instrument 'wai-sr-counselor', not 'wai-sr-client'"):
        Assessments.read(path)
    with pytest.raises(DataError, match="line 2"):
        Assessments.read(path)
    path = write(tmp_path, "dup.jsonl", [GOOD_LINES[0], GOOD_LINES[0]])
    with pytest.raises(DataError, match="second time"):
        Assessments.read(path)
    with pytest.raises(DataError, match="no records"):
        Assessments.read(write(tmp_path, "empty.jsonl", [""]))
    with pytest.raises(ParameterError, match="does not exist"):
        Assessments.read(tmp_path / "missing.jsonl")


def test_gold_without_ratings_on_the_instrument(gold, tmp_path) -> None:
    kokoro = {
        "schema_version": 1,
        "session_id": "s00",
        "instrument": "kokorochat-feedback",
        "model": "m",
        "model_version": "1",
        "items": {"felt_respected": {"value": 3}},
    }
    predictions = Assessments.read(write(tmp_path, "k.jsonl", [json.dumps(kokoro)]))
    with pytest.raises(DataError) as info:
        evaluate(gold, {"k": predictions}, gold_source="gold.jsonl")
    message = str(info.value)
    assert "gold.jsonl" in message and "'kokorochat-feedback'" in message
    assert "wai-sr-client by the client" in message and "Fix:" in message


def test_no_overlapping_sessions(gold, tmp_path) -> None:
    record = json.loads(GOOD_LINES[0])
    record["session_id"] = "elsewhere"
    predictions = Assessments.read(write(tmp_path, "p.jsonl", [json.dumps(record)]))
    with pytest.raises(DataError) as info:
        evaluate(gold, {"p": predictions}, sources={"p": "p.jsonl"})
    message = str(info.value)
    assert "p.jsonl" in message and "field 'session_id'" in message and "'elsewhere'" in message


def test_bad_settings_and_folds(gold, good, tmp_path) -> None:
    with pytest.raises(ParameterError, match="cut_end"):
        evaluate(gold, {"good": good}, cut_end=1.5)
    with pytest.raises(ParameterError, match="bootstrap unit"):
        evaluate(gold, {"good": good}, bootstrap_unit="therapist")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="paired"):
        evaluate(gold, {"good": good}, paired_metrics=["r2"])
    bad = write(tmp_path, "folds.csv", ["session_id,fold", "s00,zero"])
    with pytest.raises(DataError) as info:
        read_folds(bad)
    assert "line 2" in str(info.value) and "field 'fold'" in str(info.value)
    with pytest.raises(DataError, match="header"):
        read_folds(write(tmp_path, "nofold.csv", ["id,k", "s00,1"]))
    assert read_folds(write(tmp_path, "f.json", ['{"s00": 1, "s01": 0}'])) == {"s00": 1, "s01": 0}
    assert issubclass(DataError, CareError)


# ---------------------------------------------------------------------- real data


@needs_data
def test_kokorochat_length_predictions(tmp_path) -> None:
    """Cross-validated LengthAssessor predictions on the first 300 KokoroChat sessions."""
    from care.assessors import LengthAssessor
    from care.results import Assessments
    from care.stats import fold_assignments

    corpus = load_corpus(ENGLISH, limit=300)
    sessions = [s for s in corpus if s.rating("kokorochat-feedback") is not None]
    folds = fold_assignments([s.client_id for s in sessions], 5, seed=1)
    results = []
    for k in range(5):
        train = Corpus(s for s, f in zip(sessions, folds, strict=True) if f != k)
        test = [s for s, f in zip(sessions, folds, strict=True) if f == k]
        for assessment in LengthAssessor(alpha=3.0).fit(train).assess(test):
            assessment.meta["fold"] = k
            results.append(assessment)
    Assessments(results).to_jsonl(tmp_path / "length.jsonl")
    predictions = Assessments.read(tmp_path / "length.jsonl")
    result = evaluate(corpus, {"length-cv": predictions}, n_resamples=100)
    view = result.views["full"]
    assert len(view.session_ids) == len(sessions)
    assert [t.name for t in result.headline_targets] == ["goal", "task", "bond", "total", "overall"]
    truth = pd.DataFrame({s.id: s.rating("kokorochat-feedback").values for s in sessions}).T.astype(
        float
    )
    pred = predictions.items_frame().loc[truth.index]
    expected = stats.pearsonr(truth["overall"], pred["overall"])[0]
    assert row(result, "length-cv", "item:overall", "pearson")["value"] == pytest.approx(expected)
    assert view.folds["length-cv"]["total"]["n_folds"] == 5
    assert row(result, "length-cv", "total", "pearson")["value"] > 0.1
