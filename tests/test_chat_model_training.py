"""The chat path for real in drafting and training, with SmolLM2-135M-Instruct: the answer-only
label mask against its real chat template, `care rationales draft` with it as the teacher,
`care train sft --method lora` on it (likelihood scoring then finds the trained option at the
position where the training answer starts), `care train merge` and `care assess` on the
merged model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from care.cli.main import cli
from llm_doubles import SESSION
from real_models import CHAT_MODEL, require

OPTIONS = ("1", "2", "3", "4", "5")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    require(CHAT_MODEL, "transformers")
    from care.backends.demo_models import prepare_demo_model

    return prepare_demo_model(CHAT_MODEL)


def _messages(item_id: str) -> list[dict[str, str]]:
    from care.instruments import get_instrument
    from care.prompts import get_template

    return get_template("client", "en").item_messages(
        SESSION, get_instrument("wai-sr-client"), item_id
    )


def test_the_loss_is_on_the_assistant_answer_only(model_dir: Path) -> None:
    import transformers

    from care.train.sft import IGNORE, encode_example

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    answer = '5. Always\nI said "it helps to say it out loud".'
    messages = [*_messages("item1"), {"role": "assistant", "content": answer}]
    input_ids, labels, truncated = encode_example(tokenizer, messages)
    assert not truncated and len(input_ids) == len(labels)
    start = next(i for i, label in enumerate(labels) if label != IGNORE)
    assert all(label == IGNORE for label in labels[:start])
    assert all(label != IGNORE for label in labels[start:])
    # Everything before the answer is the prompt as the assessor sends it: the system turn,
    # the user's CARE prompt and the assistant header of the real template.
    prompt = tokenizer.decode(input_ids[:start])
    assert prompt.endswith("<|im_start|>assistant\n") and "<|im_start|>user\n" in prompt
    assert prompt == tokenizer.apply_chat_template(
        _messages("item1"), tokenize=False, add_generation_prompt=True
    )
    # The labelled tokens are the answer and the end of the turn, nothing else.
    assert tokenizer.decode(input_ids[start:]) == answer + "<|im_end|>\n"


def test_rationales_draft_with_the_chat_model_as_teacher(tmp_path: Path, model_dir) -> None:
    from care.rationales.store import RationaleStore

    data = tmp_path / "sessions.jsonl"
    record = {
        "schema_version": 1,
        "id": SESSION.id,
        "language": "en",
        "turns": [{"role": t.role, "text": t.text} for t in SESSION.turns],
        "ratings": [{"instrument": "wai-sr-client", "rater": "client", "values": {"item1": 4}}],
    }
    data.write_text(json.dumps(record) + "\n", encoding="utf-8")
    store = tmp_path / "drafts.sqlite"
    args = ["rationales", "draft", "--teacher", f"transformers/{CHAT_MODEL}"]
    args += ["--data", str(data), "--store", str(store), "--max-new-tokens", "32"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with RationaleStore(store) as drafts:
        (draft,) = drafts.drafts()
    assert draft.teacher == f"transformers/{CHAT_MODEL}" and draft.rating == 4.0
    assert draft.status in ("ok", "parse_failure") and draft.raw_output
    assert "<|im_" not in draft.raw_output  # the turn ended at the template's stop token


def test_lora_moves_the_option_likelihood_then_merge_and_assess(tmp_path: Path, model_dir) -> None:
    from care.assessors.llm import LLMAssessor
    from care.backends.base import ScoringOptions
    from care.backends.transformers_backend import TransformersBackend

    data = tmp_path / "train.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for item_id in ("item1", "item2", "item3", "item4"):
            answer = '2. Sometimes\nI said "it helps to say it out loud".'
            messages = [*_messages(item_id), {"role": "assistant", "content": answer}]
            handle.write(json.dumps({"messages": messages, "session_id": SESSION.id}) + "\n")
    adapter = tmp_path / "lora"
    args = ["train", "sft", "--base", CHAT_MODEL, "--data", str(data), "--out", str(adapter)]
    args += ["--preset", "cpu-tiny", "--max-steps", "6", "--lr", "2e-3", "--max-length", "512"]
    trained = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    assert "(chat template)" in trained.output

    scoring = ScoringOptions(continuations=OPTIONS, reuse_prefix=False)
    before = TransformersBackend(CHAT_MODEL, threads=1).score_continuations(
        _messages("item5"), scoring
    )
    tuned = TransformersBackend(str(adapter), threads=1)
    after = tuned.score_continuations(_messages("item5"), scoring)

    def share(scores) -> float:
        total = sum(math.exp(v) for v in scores.logprobs.values())
        return math.exp(scores.logprobs["2"]) / total

    # Scored where the training answers start (right after the assistant header), the
    # probability mass moves to the trained option.
    assert share(after) > share(before) + 0.2
    assert max(after.logprobs, key=after.logprobs.get) == "2"

    merged = tmp_path / "merged"
    args = ["train", "merge", "--base", CHAT_MODEL, "--adapter", str(adapter), "--out", str(merged)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = LLMAssessor(
        f"transformers/{merged}",
        scoring="likelihood",
        items=["item5"],
        backend_options={"threads": 1},
    ).assess([SESSION])[0]
    assert result.items["item5"].value == 2.0
    assert result.items["item5"].probabilities["2"] == pytest.approx(share(after), abs=1e-3)


def test_cv_on_a_handful_of_sessions_with_the_chat_model(tmp_path: Path, model_dir) -> None:
    """`care cv` end to end on the real chat model: folds by client, LoRA steps per fold,
    every checkpoint scored on its fold's held-out clients."""
    from care.data.io import save_corpus
    from care.data.session import RatingSet
    from real_models import example_session

    sessions = []
    for index in range(4):
        session = example_session(turns=6)
        session.id, session.client_id = f"s{index}", f"c{index // 2}"
        value = 1 + 3 * (index % 2)
        session.ratings = [
            RatingSet("wai-sr-client", "client", {"item1": value, "item2": 6 - value})
        ]
        sessions.append(session)
    data = save_corpus(sessions, tmp_path / "rated.jsonl")
    args = ["cv", "--data", str(data), "--base", CHAT_MODEL, "--folds", "2", "--score-only"]
    args += ["--out", str(tmp_path / "cv"), "--preset", "cpu-tiny", "--max-steps", "2"]
    args += ["--save-steps", "1", "--max-length", "1024", "--scoring", "likelihood"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "cv" / "cv.json").read_text(encoding="utf-8"))
    assert report["items"] == ["item1", "item2"] and len(report["folds"]) == 2
    held_out = set()
    for fold in report["folds"]:
        assert not set(fold["train_clients"]) & set(fold["validation_clients"])
        held_out |= set(fold["validation_sessions"])
        assert len(fold["checkpoints"]) == 2
        # every held-out item was scored (likelihood scoring cannot fail to parse)
        assert all(c["n"] == 2 * len(fold["validation_sessions"]) for c in fold["checkpoints"])
    assert held_out == {"s0", "s1", "s2", "s3"}
    assert "r:" in result.output and "wrote" in result.output
