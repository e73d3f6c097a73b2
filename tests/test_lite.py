"""The built-in model: shipped weights, evidence, training, saving and loading."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from care.assessors import LiteAssessor, MeanRatingAssessor
from care.assessors.lite import LiteConfig, LiteModel, load_shipped_model
from care.assessors.lite.fit import train
from care.assessors.lite.predictor import LitePredictor
from care.cli.main import cli
from care.data import load_corpus
from care.errors import ModelError
from care.stats import pearson
from shared_data import ENGLISH, needs_data

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DOCUMENTED = json.loads((ROOT / "docs" / "model-card-examples.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def examples():
    return load_corpus(EXAMPLES / "sessions.jsonl")


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("cut", [False, True])
def test_shipped_models_load_with_their_card_figures(language: str, cut: bool) -> None:
    model = load_shipped_model(language, cut)
    assert model.name == f"care-lite-{language}{'-cut' if cut else ''}"
    assert model.config.language == language
    assert model.config.instrument == "kokorochat-feedback"
    assert (model.config.cut is not None) == cut
    assert len(model.item_ids) == 21
    figures = model.info["cross_validation"]["targets"]
    assert set(figures) >= {"goal", "task", "bond", "total", "overall"}
    for entry in figures.values():
        low, high = entry["model"]["pearson_ci"]
        assert low <= entry["model"]["pearson"] <= high
        # The shipped model beats the length-only and the plain TF-IDF baselines in its own
        # cross-validation (same folds).
        assert entry["model"]["pearson"] > entry["length_baseline"]["pearson"]
        assert entry["model"]["pearson"] > entry["tfidf_baseline"]["pearson"]
    assert model.config.tokenizer == 2
    # the card's caveat: predicted dimensions are much less distinct than the clients' ratings
    correlations = model.info["cross_validation"]["dimension_correlations"]
    assert correlations["dimensions"] == ["goal", "task", "bond"]
    assert correlations["model"][0][2] > correlations["clients"][0][2]


def test_shipped_model_gives_the_documented_scores(examples) -> None:
    results = LiteAssessor().assess(examples).by_session()
    for session_id, expected in DOCUMENTED["scores"].items():
        scores = results[session_id].dimension_scores()
        for dimension, value in expected.items():
            assert scores[dimension] == pytest.approx(value, abs=0.01), (session_id, dimension)


def test_good_session_scores_above_poor_session(examples) -> None:
    results = LiteAssessor().assess(examples).by_session()
    for good, poor in (
        ("en-exam-stress", "en-breakup-rushed"),
        ("zh-lonely-freshman", "zh-family-pressure"),
    ):
        assert results[good].total_score() > results[poor].total_score() + 0.3


def test_evidence_quotes_are_exact_substrings_of_the_cited_turns(examples) -> None:
    for result in LiteAssessor().assess(examples):
        session = examples[result.session_id]
        assert set(result.evidence) == {"goal", "task", "bond"}
        for dimension, pieces in result.evidence.items():
            assert pieces, (result.session_id, dimension)
            for piece in pieces:
                assert piece.quote
                assert piece.quote in session.turns[piece.turn_index].text
                assert piece.contribution != 0
                assert f"#{piece.turn_index}" in result.rationales[dimension]
            signs = [piece.contribution > 0 for piece in pieces]
            assert signs == sorted(signs, reverse=True)  # raising first, then lowering


@pytest.mark.parametrize("language", ["en", "zh"])
def test_turn_shares_add_up_to_the_score(examples, language: str) -> None:
    """The evidence is the model's own arithmetic: shares of the turns plus the session-level
    part equal each dimension's score."""
    predictor = LitePredictor(load_shipped_model(language))
    sessions = [s for s in examples if s.language == language]
    prediction = predictor.predict(predictor.turn_matrix(sessions, language))
    instrument = predictor.instrument
    for position in range(len(sessions)):
        shares = prediction.session_shares(position)
        assert shares.shape == (len(sessions[position].turns), len(predictor.dimensions))
        total = shares.sum(axis=0) + prediction.session_parts[position]
        values = prediction.values[position]
        item_values = dict(zip(predictor.model.item_ids, values, strict=True))
        expected = instrument.dimension_scores(item_values)
        for column, dimension in enumerate(predictor.dimensions):
            assert total[column] == pytest.approx(expected[dimension], abs=1e-6)


def test_model_file_round_trip_and_errors(tmp_path: Path, examples) -> None:
    model = load_shipped_model("en")
    path = model.save(tmp_path / "copy.npz")
    again = LiteModel.load(path)
    assert again.config == model.config and again.item_ids == model.item_ids
    # results name the exact weights: the same after a save and load, new for new weights
    assert again.release == model.release == f"{model.version}#{model.fingerprint}"
    assert replace(model, coef=model.coef * 1.01).fingerprint != model.fingerprint
    assert np.allclose(again.coef, model.coef, atol=1e-3 * np.abs(model.coef).max())
    english = examples.filter(lambda s: s.language == "en")
    first = LiteAssessor(model=model).assess(english).items_frame()
    second = LiteAssessor(model=path).assess(english).items_frame()
    assert np.allclose(first.to_numpy(), second.to_numpy(), atol=0.01)

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a care-lite model"):
        LiteModel.load(corrupt)
    with pytest.raises(ModelError, match="no such model file"):
        LiteModel.load(tmp_path / "missing.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    header = json.loads(arrays["header"].tobytes())
    header["format_version"] = 999
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    future = tmp_path / "future.npz"
    np.savez(future, **arrays)
    with pytest.raises(ModelError, match="version 999 is not supported"):
        LiteModel.load(future)

    header["format_version"] = 1
    header["config"]["tokenizer"] = 7
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(future, **arrays)
    with pytest.raises(ModelError, match="tokenizer 7"):
        LiteModel.load(future)


def test_a_model_saved_before_tokenizers_were_recorded_reads_as_tokenizer_1() -> None:
    config = LiteConfig(language="en").to_dict()
    del config["tokenizer"]
    assert LiteConfig.from_dict(config).tokenizer == 1
    assert LiteConfig().tokenizer == 2


def test_model_for_another_language_is_refused(examples) -> None:
    chinese = examples.filter(lambda s: s.language == "zh")
    with pytest.raises(Exception, match="language"):
        LiteAssessor(model=load_shipped_model("en")).assess(chinese)


@needs_data
def test_training_on_a_subset_beats_the_mean_baseline_on_new_clients() -> None:
    corpus = load_corpus(ENGLISH, limit=700)
    clients = sorted({s.client_id for s in corpus})
    held_out = set(clients[: len(clients) // 4])
    train_part = corpus.filter(lambda s: s.client_id not in held_out)
    test_part = corpus.filter(lambda s: s.client_id in held_out)
    model = train(train_part, LiteConfig(language="en"))
    truth = test_part.ratings_table("kokorochat-feedback")[model.item_ids]
    lite = LiteAssessor(model=model).assess(test_part).items_frame()[model.item_ids]
    mean = MeanRatingAssessor().fit(train_part).assess(test_part).items_frame()[model.item_ids]
    scored = [c for c in model.item_ids if c != "overall"]
    lite_mse = float(((lite[scored] - truth[scored]) ** 2).to_numpy().mean())
    mean_mse = float(((mean[scored] - truth[scored]) ** 2).to_numpy().mean())
    assert lite_mse < mean_mse
    assert pearson(truth[scored].mean(axis=1), lite[scored].mean(axis=1)) > 0.3


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_cli_assess_prints_scores_evidence_and_the_proxy_note() -> None:
    result = run("assess", str(EXAMPLES / "session_en.json"))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "proxies" in out and "not WAI-SR" in out
    for dimension in ("goal", "task", "bond", "total"):
        assert dimension in out
    assert "Raised most by #" in out


def test_cli_assess_json_and_out_resume(tmp_path: Path, examples) -> None:
    out = tmp_path / "results.jsonl"
    result = run("assess", str(EXAMPLES / "sessions.jsonl"), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["session_id"] for r in records] == examples.ids
    first = records[0]
    assert first["model"].startswith("care-lite-")
    assert first["model_version"] == load_shipped_model("en").release
    assert set(first["dimensions"]) == {"goal", "task", "bond"}
    assert len(first["items"]) == 21
    piece = first["evidence"]["goal"][0]
    assert set(piece) >= {"turn_index", "quote", "contribution"}
    # A run killed mid-write leaves a partial last line: re-running keeps what finished,
    # drops the fragment and assesses only the rest.
    lines = out.read_text("utf-8").splitlines()
    out.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40], encoding="utf-8")
    result = run("assess", str(EXAMPLES / "sessions.jsonl"), "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    assert "3 of 5 sessions already in" in result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["session_id"] for r in printed] == examples.ids[3:]
    again = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["session_id"] for r in again] == examples.ids
    assert again == records


def test_cli_assess_cut_uses_the_cut_model() -> None:
    result = run("assess", str(EXAMPLES / "transcript_zh.txt"), "--cut", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "care-lite-zh-cut"


def test_cli_assess_refuses_an_instrument_the_model_was_not_trained_for() -> None:
    result = run("assess", str(EXAMPLES / "session_en.json"), "--instrument", "wai-sr-client")
    assert result.exit_code == 2
    assert "care train lite" in result.stderr and "Traceback" not in result.stderr


def test_a_language_without_a_model_stops_the_run_before_it_starts(examples) -> None:
    from care.data import Session, Turn

    japanese = Session(
        "ja-1", [Turn(0, "client", "こんにちは。よろしくお願いします。")], language="ja"
    )
    sessions = [*examples, japanese]
    with pytest.raises(ModelError, match="session 'ja-1' is in 'ja'"):
        LiteAssessor().check_languages(sessions)


def test_cli_refuses_a_language_without_a_model_before_writing_anything(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text(
        "=== session en-1 ===\nCounselor: How are you?\nClient: Better, thank you.\n"
        "=== session ja-1 ===\n相談員：こんにちは。\n相談者：よろしくお願いします。\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = run("assess", str(path), "--out", str(out))
    assert result.exit_code == 2
    assert "session 'ja-1' is in 'ja'" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() or out.read_text("utf-8") == ""


def test_cv_report_compares_how_distinct_the_dimensions_are() -> None:
    from care.assessors.lite.fit import CrossValidation
    from care.instruments import get_instrument
    from care.train.report import cv_report, format_cv_report

    instrument = get_instrument("wai-sr-client")
    ids = [item.id for item in instrument.items]
    rng = np.random.default_rng(0)
    n = 60
    truth = rng.integers(1, 6, size=(n, len(ids))).astype(float)
    general = rng.normal(size=(n, 1))
    predicted = 3 + general + 0.5 * rng.normal(size=(n, len(ids)))  # one factor for all
    cv = CrossValidation(
        session_ids=[f"s{i}" for i in range(n)],
        groups=[f"c{i % 12}" for i in range(n)],
        folds=np.arange(n) % 3,
        truth=truth,
        predicted=predicted,
        length_baseline=np.full_like(truth, 3.0) + rng.normal(0, 0.1, truth.shape),
        item_ids=ids,
        info={"n_splits": 3, "instrument": instrument.id},
    )
    report = cv_report(cv, predicted, instrument, n_resamples=50)
    correlations = report["dimension_correlations"]
    assert correlations["dimensions"] == list(instrument.dimensions)
    columns = [ids.index(i) for i in instrument.dimensions["goal"]]
    goal = predicted[:, columns].mean(axis=1)
    columns = [ids.index(i) for i in instrument.dimensions["bond"]]
    bond = predicted[:, columns].mean(axis=1)
    assert correlations["model"][0][2] == pytest.approx(np.corrcoef(goal, bond)[0, 1], abs=1e-3)
    assert min(correlations["model"][0][1:]) > 0.9  # the one-factor predictions
    assert max(correlations["clients"][0][1:]) < 0.5  # independent random ratings
    text = format_cv_report(report)
    assert "Distinctness: the predicted goal, task, bond correlate 0.9" in text
    assert "TF-IDF" not in text  # no TF-IDF column when that baseline was not run
