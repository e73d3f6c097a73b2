"""``care sft-data``: CARE-format fine-tuning examples from rated sessions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from care.assessors.llm import LLMAssessor
from care.assessors.parsing import parse_item_answer
from care.cli.main import cli
from care.data.corpus import Corpus
from care.data.io import save_corpus
from care.data.session import RatingSet, Session, Turn
from care.errors import DataError, ParameterError
from care.train.sft_data import (
    CharEstimate,
    RationaleSet,
    build_sft_examples,
    read_rationales,
    write_sft_data,
)
from llm_doubles import ScriptedBackend

os.environ.setdefault("OMP_NUM_THREADS", "1")

VALUES = (1, 2, 3, 4, 5)


def _session(session_id: str, language: str, lines: list[str], values: dict) -> Session:
    turns = [
        Turn(index=i, role="counselor" if i % 2 == 0 else "client", text=text)
        for i, text in enumerate(lines)
    ]
    return Session(
        id=session_id,
        turns=turns,
        language=language,
        client_id=f"client-{session_id}",
        ratings=[RatingSet("wai-sr-client", "client", values)],
    )


EN = _session(
    "en-1",
    "en",
    [f"Turn {i}: " + ("we talked about the exams and sleeping badly. " * 3) for i in range(20)],
    {"item1": 4, "item3": 2},
)
ZH = _session(
    "zh-1",
    "zh",
    ["你好，今天想聊些什么？", "我最近总是失眠，白天上班也没有精神。", "失眠这件事持续多久了？"],
    {"item1": 3, "item2": 5},
)
UNRATED = Session(id="none", turns=[Turn(index=0, role="client", text="Hi.")], language="en")
RATIONALES = RationaleSet(
    texts={
        ("en-1", "item1"): 'I said "we talked about the exams".\nIt helped.',
        ("en-1", "item3"): 'The counselor said "Turn 0".',
        ("zh-1", "item1"): "我说“我最近总是失眠”。",
        ("zh-1", "item2"): "咨询师问“失眠这件事持续多久了？”",
    }
)


def _assessor_prompt(session: Session, item_id: str) -> list[dict[str, str]]:
    backend = ScriptedBackend()
    LLMAssessor(backend, instrument="wai-sr-client", items=[item_id]).assess(Corpus([session]))
    return backend.calls[0][0]


def test_prompts_are_the_assessors_and_answers_are_cares_two_lines() -> None:
    examples, report = build_sft_examples(Corpus([EN, ZH, UNRATED]), rationales=RATIONALES)
    assert [(e.session_id, e.item_id) for e in examples] == [
        ("en-1", "item1"),
        ("en-1", "item3"),
        ("zh-1", "item1"),
        ("zh-1", "item2"),
    ]
    by_key = {(e.session_id, e.item_id): e for e in examples}
    for session in (EN, ZH):
        for item_id in session.ratings[0].values:
            example = by_key[(session.id, item_id)]
            assert example.messages[:-1] == _assessor_prompt(session, item_id)
            assert example.messages[-1]["role"] == "assistant"
            option, reason = example.messages[-1]["content"].split("\n")
            assert option.startswith(f"{example.value}. ")
            parsed = parse_item_answer(example.messages[-1]["content"], VALUES)
            assert parsed.value == session.ratings[0].values[item_id] == example.value
            assert reason == " ".join(RATIONALES.texts[(session.id, item_id)].split())
    assert by_key[("en-1", "item1")].messages[-1]["content"].startswith("4. Very often\n")
    assert by_key[("zh-1", "item2")].messages[-1]["content"].startswith("5. 总是如此\n")
    assert report.examples == 4 and report.languages == {"en": 2, "zh": 2}
    assert report.skipped_unrated == 3 * 12 - 4 and report.sessions_without_ratings == 1
    assert report.cuts == [] and report.max_prompt_tokens is None


def test_score_only_answers_are_the_option_line_only() -> None:
    examples, report = build_sft_examples(Corpus([EN, ZH]), score_only=True)
    assert [e.messages[-1]["content"] for e in examples] == [
        "4. Very often",
        "2. Sometimes",
        "3. 有时如此",
        "5. 总是如此",
    ]
    assert not any(e.has_rationale for e in examples)
    assert report.answer.startswith("option line only")


def test_missing_rationales_are_listed_or_allowed_and_counted() -> None:
    partial = RationaleSet(texts={("en-1", "item1"): "Because."})
    with pytest.raises(DataError) as caught:
        build_sft_examples(Corpus([EN, ZH]), rationales=partial)
    assert len(caught.value.problems) == 3
    assert "--allow-missing-rationales" in str(caught.value)
    examples, report = build_sft_examples(
        Corpus([EN, ZH]), rationales=partial, allow_missing_rationales=True
    )
    assert report.score_only_without_rationale == 3
    assert [e.has_rationale for e in examples] == [True, False, False, False]
    with pytest.raises(ParameterError, match="--score-only"):
        build_sft_examples(Corpus([EN]))


def test_rationales_file_uses_accepted_ones_and_lists_problems(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    rows = [
        {"session_id": "en-1", "item_id": "item1", "rationale": "ok", "status": "accepted"},
        {"session_id": "en-1", "item_id": "item3", "rationale": "no", "status": "rejected"},
        {"session_id": "zh-1", "item_id": "item1", "rationale": "无状态"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    found = read_rationales(path)
    assert found.texts == {("en-1", "item1"): "ok", ("zh-1", "item1"): "无状态"}
    assert found.not_accepted == 1
    path.write_text('{"session_id": "a"}\nnot json\n')
    with pytest.raises(DataError) as caught:
        read_rationales(path)
    assert [p.record for p in caught.value.problems] == ["line 1", "line 2"]


def _gemma_counter():
    pytest.importorskip("transformers")
    from care.backends.transformers_backend import care_cache_dir
    from care.train.sft_data import load_tokenizer

    if not (care_cache_dir() / "models" / "gemma3-270m" / ".care-complete").is_file():
        pytest.skip("the demo model gemma3-270m is not in the care cache")
    return load_tokenizer("gemma3-270m")


@pytest.mark.parametrize("side", ["head", "middle", "tail"])
def test_long_transcripts_lose_whole_turns_and_the_cut_is_reported(side: str) -> None:
    counter = _gemma_counter()
    full, _ = build_sft_examples(Corpus([EN, ZH]), score_only=True, counter=counter)
    budget = 400
    examples, report = build_sft_examples(
        Corpus([EN, ZH]),
        score_only=True,
        counter=counter,
        max_prompt_tokens=budget,
        truncate=side,
    )
    assert report.token_count == "tokenizer: gemma3-270m"
    assert [cut.session_id for cut in report.cuts] == ["en-1"]  # the short one is whole
    cut = report.cuts[0]
    assert cut.tokens_before > budget >= cut.tokens_after and cut.tokens_removed > 0
    for example in examples:
        assert counter.count_messages(example.messages[:-1]) <= budget
    assert [e.messages for e in examples[2:]] == [e.messages for e in full[2:]]
    prompt = examples[0].messages[0]["content"]
    marker = f"[... {cut.turns_removed} turns left out here to fit the length limit ...]"
    assert prompt.count(marker) == 1
    kept = [int(n) for n in re.findall(r"^(?:Counselor|Client): Turn (\d+):", prompt, re.M)]
    removed = list(range(cut.first_removed, cut.last_removed + 1))
    assert sorted(kept + removed) == list(range(20)) and len(removed) == cut.turns_removed
    for line in prompt.split("\n"):  # every kept turn is whole
        if line.startswith(("Counselor: Turn", "Client: Turn")):
            assert line.endswith("sleeping badly.")
    expected_first = {"head": 0, "tail": 20 - cut.turns_removed}.get(side)
    if expected_first is not None:
        assert cut.first_removed == expected_first
    else:
        assert cut.first_removed > 0 and cut.last_removed < 19
    assert examples[0].messages[0]["content"].endswith(full[0].messages[0]["content"][-200:])


def test_budget_too_small_for_the_instruction_is_an_error() -> None:
    with pytest.raises(ParameterError, match="--max-prompt-tokens"):
        build_sft_examples(
            Corpus([EN]), score_only=True, max_prompt_tokens=20, counter=CharEstimate()
        )


def test_cli_writes_chat_alpaca_dataset_info_and_report(tmp_path: Path) -> None:
    data = tmp_path / "sessions.jsonl"
    save_corpus(Corpus([EN, ZH, UNRATED]), data)
    rationales = tmp_path / "r.jsonl"
    rationales.write_text(
        "".join(
            json.dumps({"session_id": s, "item_id": i, "rationale": t}, ensure_ascii=False) + "\n"
            for (s, i), t in RATIONALES.texts.items()
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "sft-data",
            "--data",
            str(data),
            "--rationales",
            str(rationales),
            "--max-prompt-tokens",
            "300",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "cut en-1:" in result.output and "characters per token" in result.output
    chat = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(chat) == 4
    assert set(chat[0]) >= {"messages", "session_id", "item_id", "client_id"}
    assert [m["role"] for m in chat[0]["messages"]] == ["user", "assistant"]
    assert chat[2]["client_id"] == "client-zh-1"
    alpaca = json.loads((out / "alpaca.json").read_text())
    assert alpaca[2] == {
        "instruction": chat[2]["messages"][0]["content"],
        "input": "",
        "output": chat[2]["messages"][1]["content"],
    }
    assert json.loads((out / "dataset_info.json").read_text()) == {
        "care_wai": {
            "file_name": "alpaca.json",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    }
    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == 4 and report["cuts"][0]["session_id"] == "en-1"
    assert report["cuts"][0]["tokens_removed"] > 0


def test_chat_only_output_and_hf_dataset_needs_datasets(tmp_path: Path) -> None:
    examples, report = build_sft_examples(Corpus([ZH]), score_only=True)
    written = write_sft_data(examples, report, tmp_path / "chat", format="chat")
    assert sorted(p.name for p in written) == ["report.json", "train.jsonl"]
    try:
        import datasets  # noqa: F401
    except ImportError:
        from care.errors import MissingDependencyError

        with pytest.raises(MissingDependencyError, match="datasets"):
            write_sft_data(examples, report, tmp_path / "hf", hf_dataset=True)
    else:
        write_sft_data(examples, report, tmp_path / "hf", hf_dataset=True)
        assert (tmp_path / "hf" / "hf_dataset").is_dir()
