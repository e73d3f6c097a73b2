"""Rationale metrics on small English and Chinese examples with known answers."""

from __future__ import annotations

import math
import sys

import pytest

from care.data import Session, Turn
from care.errors import MissingDependencyError, ParameterError
from care.evaluate.bertscore import BertScorer, bertscore
from care.evaluate.overlap import bleu, rouge, rouge_tokens
from care.evaluate.quotes import (
    extract_quotes,
    normalize_for_matching,
    quote_faithfulness,
    quote_found,
)
from care.evaluate.rationales import score_rationales


def geometric_bleu(precisions: list[float]) -> float:
    """BLEU with brevity penalty 1: 100 * geometric mean of the n-gram precisions."""
    return 100 * math.exp(sum(math.log(p) for p in precisions) / len(precisions))


# --------------------------------------------------------------------------- BLEU


def test_bleu_english_by_hand() -> None:
    # 5 tokens each; 1-gram 4/5, 2-gram 3/4, 3-gram 2/3, 4-gram 1/2; equal lengths: BP = 1.
    result = bleu(["a b c d e"], ["a b c d f"], "en")
    assert result.value == pytest.approx(geometric_bleu([4 / 5, 3 / 4, 2 / 3, 1 / 2]))
    assert result.value == pytest.approx(66.874, abs=1e-3)
    assert "tok:13a" in result.variant and "nrefs:1" in result.variant
    assert result.n == 1


def test_bleu_chinese_uses_character_tokens() -> None:
    # 我今天很开心 vs 我今天很高兴: 6 characters; 1-gram 4/6, 2-gram 3/5, 3-gram 2/4, 4-gram 1/3.
    result = bleu(["我今天很开心"], ["我今天很高兴"], "zh")
    assert result.value == pytest.approx(geometric_bleu([4 / 6, 3 / 5, 2 / 4, 1 / 3]))
    assert "tok:zh" in result.variant
    # With English tokenization the whole sentence is one token and BLEU is 0.
    assert bleu(["我今天很开心"], ["我今天很高兴"], "en").value == 0.0


def test_bleu_identical_and_disjoint_and_detected_language() -> None:
    assert bleu(["the client felt heard"], ["the client felt heard"]).value == pytest.approx(100)
    assert bleu(["alpha beta gamma delta"], ["one two three four"]).value == 0.0
    detected = bleu(["来访者感到被理解"], ["来访者感到被理解"], language=None)
    assert "tok:zh" in detected.variant and detected.value == pytest.approx(100)


def test_bleu_is_corpus_level_over_pairs() -> None:
    # Corpus BLEU pools n-gram counts: two pairs, one perfect, one disjoint.
    hyps = ["a b c d", "w x y z"]
    refs = ["a b c d", "p q r s"]
    # 1-grams 4/8, 2-grams 3/6, 3-grams 2/4, 4-grams 1/2: geometric mean 0.5.
    assert bleu(hyps, refs).value == pytest.approx(50.0)


def test_bleu_rejects_mismatched_inputs() -> None:
    with pytest.raises(ParameterError, match="same length"):
        bleu(["a"], ["a", "b"])
    with pytest.raises(ParameterError, match="single string"):
        bleu("a b", "a b")  # type: ignore[arg-type]
    assert math.isnan(bleu([], []).value)


# -------------------------------------------------------------------------- ROUGE


def test_rouge_english_by_hand() -> None:
    # hyp 3 tokens all in the 6-token reference: P = 1, R = 1/2, F = 2/3 for both.
    scores = rouge(["the cat sat"], ["the cat sat on the mat"], "en")
    assert scores["rouge1"].value == pytest.approx(2 / 3)
    assert scores["rougeL"].value == pytest.approx(2 / 3)
    # "the mat sat": unigram overlap 3 (F 2/3), longest common subsequence 2
    # (P 2/3, R 2/6, F = 2PR/(P+R) = 4/9).
    scores = rouge(["The mat, sat!"], ["the cat sat on the mat"], "en")
    assert scores["rouge1"].value == pytest.approx(2 / 3)
    assert scores["rougeL"].value == pytest.approx(4 / 9)
    assert "no stemming" in scores["rouge1"].variant
    assert "lower-cased" in scores["rougeL"].variant


def test_rouge_chinese_by_hand_with_jieba() -> None:
    assert rouge_tokens("我今天很开心。", "zh") == ["我", "今天", "很", "开心"]
    assert rouge_tokens("我很开心", "zh") == ["我", "很", "开心"]
    # 3 of 4 reference words, all 3 hypothesis words: P = 1, R = 3/4, F = 6/7.
    scores = rouge(["我很开心"], ["我今天很开心。"], "zh")
    assert scores["rouge1"].value == pytest.approx(6 / 7)
    assert scores["rougeL"].value == pytest.approx(6 / 7)
    assert "jieba" in scores["rouge1"].variant


def test_rouge_score_alone_gives_chinese_zero() -> None:
    from rouge_score import rouge_scorer

    plain = rouge_scorer.RougeScorer(["rouge1"]).score("我今天很开心", "我今天很开心")
    assert plain["rouge1"].fmeasure == 0.0  # why care brings its own tokenizer
    assert rouge(["我今天很开心"], ["我今天很开心"], "zh")["rouge1"].value == pytest.approx(1.0)


def test_rouge_mean_over_pairs() -> None:
    scores = rouge(["a b", "c d"], ["a b", "x y"], "en")
    assert scores["rouge1"].value == pytest.approx(0.5)
    assert scores["rouge1"].n == 2


def test_rouge_tokens_other_languages() -> None:
    assert rouge_tokens("Café — naïve!", "en") == ["café", "naïve"]
    assert rouge_tokens("今日は OK", "ja") == ["今", "日", "は", "ok"]


# ------------------------------------------------------------------------- quotes


def test_extract_quotes_all_marks() -> None:
    text = (
        'He said \u201cI am tired\u201d, then "ok then", and 「我很累」 or 『好的』; '
        "it's 'not' a quote, nor is \u201cx\u201d."
    )
    assert extract_quotes(text) == ["I am tired", "ok then", "我很累", "好的"]
    # A quote inside a quote belongs to the outer one.
    assert extract_quotes("「他说『我很累』了」") == ["他说『我很累』了"]
    assert extract_quotes("no quotes here") == []


def test_normalize_for_matching() -> None:
    assert normalize_for_matching("我很累，真的！") == "我很累,真的!"
    assert normalize_for_matching("  a \n\t b  ") == "a b"
    assert normalize_for_matching("Ｉ ａｍ。") == "I am."
    assert normalize_for_matching("wait\u2026 it\u2019s") == "wait... it's"


def test_quote_found_rules() -> None:
    turns = ["I am so very tired, really.", "我很累,真的", "Thank  you\nso much"]
    assert quote_found("I am so very tired", turns)
    assert quote_found("so very tired.", turns)  # edge punctuation stripped
    assert quote_found("我很累，真的", turns)  # full-width comma matches half-width
    assert quote_found("Thank you so much", turns)  # whitespace runs collapse
    assert quote_found("I am … tired", turns)  # ellipsis marks left-out words
    assert not quote_found("tired … I am", turns)  # parts must be in order
    assert not quote_found("i am so very tired", turns)  # case matters
    assert not quote_found("really. 我很累", turns)  # never across two turns
    assert not quote_found("...", turns)
    session = Session("s", [Turn(0, "client", "I feel stuck."), Turn(1, "counselor", "Okay.")])
    assert quote_found("feel stuck", session)
    assert quote_found("feel stuck", "I feel stuck.")


def test_quote_faithfulness_share() -> None:
    transcripts = [["I want to sleep better."], ["我想睡得更好。"], ["Nothing to quote."]]
    rationales = [
        "Client: \u201cI want to sleep better\u201d and \u201cI never slept\u201d.",
        "来访者说「我想睡得更好」。",
        "No quotes at all.",
    ]
    result = quote_faithfulness(rationales, transcripts)
    assert (result.n_quotes, result.n_found) == (3, 2)
    assert result.share == pytest.approx(2 / 3)
    assert result.n_rationales == 3 and result.n_with_quotes == 2
    assert result.unmatched == ["I never slept"]
    assert "verbatim" in result.variant
    assert math.isnan(quote_faithfulness(["none"], [["x"]]).share)
    with pytest.raises(ParameterError, match="same length"):
        quote_faithfulness(["a"], [])


def test_score_rationales_collects_everything() -> None:
    result = score_rationales(
        ["the client \u201cfelt heard\u201d"],
        ["the client felt heard"],
        [["I felt heard today."]],
        language="en",
    )
    assert set(result["metrics"]) == {"bleu", "rouge1", "rougeL"}
    assert result["metrics"]["rouge1"]["value"] == pytest.approx(1.0)
    assert result["quote_faithfulness"]["share"] == 1.0
    assert score_rationales(["x"])["metrics"] == {}


# ---------------------------------------------------------------------- BERTScore


def test_bertscore_needs_a_local_folder(tmp_path) -> None:
    with pytest.raises(ParameterError, match="does not exist"):
        BertScorer(tmp_path / "missing")


def test_bertscore_without_torch_names_the_extra(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(MissingDependencyError) as info:
        bertscore(["a"], ["a"], tmp_path)
    assert "care-alliance[bertscore]" in str(info.value)


def _tiny_bert(folder) -> None:
    """A tiny random BERT with a word-level vocabulary, saved like a real local model."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    words = ["the", "client", "felt", "heard", "and", "counselor", "plan", "week"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))


def test_bertscore_with_a_tiny_local_model(tmp_path) -> None:
    _tiny_bert(tmp_path)
    scorer = BertScorer(tmp_path)
    same = bertscore(["the client felt heard"], ["the client felt heard"], scorer)
    assert same["bertscore_f1"].value == pytest.approx(1.0, abs=1e-5)
    assert same["bertscore_precision"].value == pytest.approx(1.0, abs=1e-5)
    other = bertscore(["counselor plan week"], ["the client felt heard"], scorer)
    assert -1.0 <= other["bertscore_f1"].value < 0.9999
    assert "no idf" in other["bertscore_f1"].variant
    assert scorer.score([""], ["the client"]) == [(0.0, 0.0, 0.0)]
