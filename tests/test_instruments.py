"""Tests of care.instruments: the built-in instruments, scoring, texts, and custom files."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import care.instruments as instruments
from care.errors import InstrumentError, ParameterError
from care.instruments import (
    Instrument,
    Item,
    Scale,
    get_instrument,
    instrument_from_dict,
    instrument_to_dict,
    list_instruments,
    load_instrument,
    save_instrument,
)

BUILTINS = ["kokorochat-feedback", "wai-o-s", "wai-sr-client", "wai-sr-counselor"]
WAI_KEY = {
    "goal": ("item4", "item6", "item8", "item11"),
    "task": ("item1", "item2", "item10", "item12"),
    "bond": ("item3", "item5", "item7", "item9"),
}
KOKORO_ITEMS = [
    "felt_heard_and_understood",
    "felt_respected",
    "gained_new_insights",
    "felt_hopeful_or_expectant",
    "concerns_were_addressed",
    "thought_through_concerns_together",
    "conversation_had_good_rhythm",
    "conversation_felt_comfortable",
    "felt_appropriate_and_satisfying",
    "conversation_was_valuable",
    "conversation_started_smoothly",
    "conversation_ended_well",
    "showed_acceptance_and_empathy",
    "provided_acknowledgment_and_affirmation",
    "asked_effective_questions",
    "summarized_key_points_effectively",
    "clarified_issues_cleraly",
    "helped_identify_goals",
    "offered_actionable_suggestions",
    "encouraged_and_instilled_hope",
]
KOKORO_KEY = {
    "goal": (
        "helped_identify_goals",
        "clarified_issues_cleraly",
        "concerns_were_addressed",
        "summarized_key_points_effectively",
    ),
    "task": (
        "thought_through_concerns_together",
        "offered_actionable_suggestions",
        "gained_new_insights",
        "asked_effective_questions",
    ),
    "bond": (
        "felt_heard_and_understood",
        "felt_respected",
        "showed_acceptance_and_empathy",
        "provided_acknowledgment_and_affirmation",
    ),
}


def custom_definition() -> dict[str, Any]:
    """A small valid instrument with reverse-keyed items and an item with its own scale."""
    return {
        "format_version": 1,
        "id": "mini-alliance",
        "name": "Mini alliance",
        "description": "A test instrument.",
        "rater": "client",
        "languages": ["en", "zh"],
        "scale": {
            "min": 1,
            "max": 5,
            "labels": {
                "en": ["Never", "Rarely", "Sometimes", "Often", "Always"],
                "zh": ["从不", "很少", "有时", "经常", "总是"],
            },
        },
        "dimensions": {"bond": ["b1", "b2"], "goal": ["g1", "g2"]},
        "items": [
            {"id": "b1", "text": {"en": "I trust ___.", "zh": "我信任咨询师。"}},
            {
                "id": "b2",
                "reverse_keyed": True,
                "text": {"en": "I feel uneasy with ___.", "zh": "我和咨询师在一起时不自在。"},
            },
            {"id": "g1", "text": {"en": "We agree on goals.", "zh": "我们目标一致。"}},
            {
                "id": "g2",
                "reverse_keyed": True,
                "text": {"en": "We disagree on goals.", "zh": "我们目标不一致。"},
            },
            {
                "id": "overall",
                "scale": {"min": 0, "max": 10},
                "text": {"en": "Overall, 0 to 10?", "zh": "总体 0 到 10 分？"},
            },
        ],
    }


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, data: Any, name: str = "bad.yaml") -> InstrumentError:
    path = write_yaml(tmp_path / name, data)
    with pytest.raises(InstrumentError) as info:
        load_instrument(path)
    return info.value


# -- built-in instruments -----------------------------------------------------------------


def test_list_instruments_names_every_builtin() -> None:
    assert set(BUILTINS) <= set(list_instruments())
    assert list_instruments() == sorted(list_instruments())


@pytest.mark.parametrize("instrument_id", BUILTINS)
def test_builtin_loads_with_both_languages(instrument_id: str) -> None:
    instrument = get_instrument(instrument_id)
    assert instrument.id == instrument_id
    assert instrument.languages == ("en", "zh")
    assert instrument.citation and instrument.source and instrument.description
    for item in instrument.items:
        assert item.text["en"].strip() and item.text["zh"].strip()
        assert re.search(r"[\u4e00-\u9fff]", item.text["zh"]), item.id
    assert [item.number for item in instrument.items] == list(range(1, len(instrument) + 1))
    assert set(instrument.dimensions) == {"goal", "task", "bond"}
    for item_ids in instrument.dimensions.values():
        assert len(item_ids) == 4
    assert get_instrument(instrument_id) is instrument  # cached
    assert get_instrument(instrument_id.upper()) is instrument


@pytest.mark.parametrize("instrument_id", BUILTINS)
def test_builtin_round_trips_through_dict_and_files(instrument_id: str, tmp_path: Path) -> None:
    instrument = get_instrument(instrument_id)
    assert instrument_from_dict(instrument_to_dict(instrument)) == instrument
    for suffix in (".yaml", ".json"):
        path = save_instrument(instrument, tmp_path / f"copy{suffix}")
        assert load_instrument(path) == instrument


@pytest.mark.parametrize("instrument_id", ["wai-sr-client", "wai-sr-counselor", "wai-o-s"])
def test_wai_forms_have_the_standard_key(instrument_id: str) -> None:
    instrument = get_instrument(instrument_id)
    assert instrument.item_ids == tuple(f"item{n}" for n in range(1, 13))
    assert instrument.dimensions == WAI_KEY
    for name, item_ids in WAI_KEY.items():
        for item_id in item_ids:
            assert instrument.item(item_id).dimension == name


def test_wai_sr_client_scale_texts_and_rater() -> None:
    wai = get_instrument("wai-sr-client")
    assert instruments.WAI_SR_CLIENT is wai
    assert wai.rater == "client"
    assert (wai.scale.min, wai.scale.max) == (1, 5)
    assert wai.option_labels("en") == (
        "Seldom",
        "Sometimes",
        "Fairly often",
        "Very often",
        "Always",
    )
    assert wai.option_labels("zh") == ("从来没有", "偶尔如此", "有时如此", "经常如此", "总是如此")
    assert not any(item.reverse_keyed for item in wai.items)
    assert wai.item("item4").text["en"] == "___ and I collaborate on setting goals for my therapy."
    assert wai.item("item12").text["zh"] == "我相信，我们解决我的问题的方法是正确的。"


def test_wai_sr_counselor_is_the_counselor_side() -> None:
    form = instruments.WAI_SR_COUNSELOR
    assert form.rater == "counselor"
    assert form.scale == get_instrument("wai-sr-client").scale
    assert form.item_text("item4").startswith("My client and I collaborate on setting goals")
    assert all("___" not in item.text["en"] for item in form.items)
    assert "来访者" in form.item_text("item4", "zh")


def test_wai_o_s_is_a_seven_point_observer_form() -> None:
    form = instruments.WAI_O_S
    assert form.rater == "observer"
    assert (form.scale.min, form.scale.max) == (1, 7)
    assert form.option_labels()[0] == "Never" and form.option_labels()[-1] == "Always"
    assert len(form.option_labels("zh")) == 7
    assert [item.id for item in form.items if item.reverse_keyed] == ["item4", "item10"]


def test_kokorochat_items_dimensions_and_overall() -> None:
    form = instruments.KOKOROCHAT_FEEDBACK
    assert form.rater == "client"
    assert form.item_ids == (*KOKORO_ITEMS, "overall")
    assert "clarified_issues_cleraly" in form  # the upstream misspelling is the id
    assert (form.scale.min, form.scale.max) == (0, 5)
    assert form.dimensions == KOKORO_KEY
    overall = form.item("overall")
    assert overall.dimension is None
    assert (form.scale_for("overall").min, form.scale_for("overall").max) == (0, 100)
    assert form.scored_item_ids == tuple(KOKORO_ITEMS)
    assert "prox" in form.description.lower() and "not WAI-SR" in form.description
    assert form.check_value("overall", 80) is None
    assert form.check_value("felt_respected", 80) is not None


def test_kokorochat_scores_are_hand_computed_and_overall_is_not_in_the_total() -> None:
    form = instruments.KOKOROCHAT_FEEDBACK
    values: dict[str, float] = {item_id: n % 6 for n, item_id in enumerate(KOKORO_ITEMS)}
    values["overall"] = 100
    expected_total = sum(n % 6 for n in range(20)) / 20
    assert form.total_score(values) == pytest.approx(expected_total)
    # goal = helped_identify_goals (17 % 6 = 5), clarified (16 % 6 = 4),
    # concerns (4), summarized (15 % 6 = 3)
    scores = form.dimension_scores(values)
    assert scores["goal"] == pytest.approx((5 + 4 + 4 + 3) / 4)
    # task = thought_through (5), actionable (18 % 6 = 0), insights (2), questions (14 % 6 = 2)
    assert scores["task"] == pytest.approx((5 + 0 + 2 + 2) / 4)
    # bond = heard (0), respected (1), empathy (12 % 6 = 0), affirmation (13 % 6 = 1)
    assert scores["bond"] == pytest.approx((0 + 1 + 0 + 1) / 4)
    # the overall score alone does not make a total
    assert math.isnan(form.total_score({"overall": 90}))


# -- scoring ------------------------------------------------------------------------------


def test_wai_sr_dimension_and_total_scores_by_hand() -> None:
    wai = instruments.WAI_SR_CLIENT
    values = {f"item{n}": n % 5 + 1 for n in range(1, 13)}
    # item1..12 = 2 3 4 5 1 2 3 4 5 1 2 3
    assert wai.dimension_scores(values) == {
        "goal": pytest.approx((5 + 2 + 4 + 2) / 4),
        "task": pytest.approx((2 + 3 + 1 + 3) / 4),
        "bond": pytest.approx((4 + 1 + 3 + 5) / 4),
    }
    assert wai.total_score(values) == pytest.approx(35 / 12)


def test_wai_o_s_scores_reverse_items_4_and_10() -> None:
    form = instruments.WAI_O_S
    values = {f"item{n}": n % 7 + 1 for n in range(1, 13)}
    # item1..12 = 2 3 4 5 6 7 1 2 3 4 5 6; item4 5 -> 3, item10 4 -> 4
    scores = form.dimension_scores(values)
    assert scores["goal"] == pytest.approx((3 + 7 + 2 + 5) / 4)
    assert scores["task"] == pytest.approx((2 + 3 + 4 + 6) / 4)
    assert scores["bond"] == pytest.approx((4 + 6 + 1 + 3) / 4)
    assert form.total_score(values) == pytest.approx(
        (2 + 3 + 4 + 3 + 6 + 7 + 1 + 2 + 3 + 4 + 5 + 6) / 12
    )
    assert form.reverse("item4", 7) == 1
    assert form.reverse("item1", 7) == 7


def test_reverse_keying_in_a_custom_instrument(tmp_path: Path) -> None:
    form = load_instrument(write_yaml(tmp_path / "mini.yaml", custom_definition()))
    assert [item.id for item in form.items if item.reverse_keyed] == ["b2", "g2"]
    assert form.reverse("b2", 2) == 4
    assert form.reverse("b2", 4.5) == pytest.approx(1.5)
    assert form.reverse("b1", 2) == 2
    values = {"b1": 5, "b2": 1, "g1": 4, "g2": 3, "overall": 7}
    assert form.keyed_values(values) == {"b1": 5, "b2": 5, "g1": 4, "g2": 3, "overall": 7}
    assert form.dimension_scores(values) == {"bond": 5.0, "goal": 3.5}
    assert form.total_score(values) == pytest.approx((5 + 5 + 4 + 3) / 4)  # overall left out
    assert form.scored_item_ids == ("b1", "b2", "g1", "g2")


def test_missing_items_give_nan_unless_min_items_allows() -> None:
    wai = instruments.WAI_SR_CLIENT
    values: dict[str, float | None] = {f"item{n}": 4 for n in range(1, 13)}
    values["item4"] = None  # goal item
    values["item1"] = math.nan  # task item
    del values["item3"]  # bond item
    scores = wai.dimension_scores(values)
    assert all(math.isnan(score) for score in scores.values())
    assert math.isnan(wai.total_score(values))
    assert wai.dimension_scores(values, min_items=3) == {"goal": 4.0, "task": 4.0, "bond": 4.0}
    assert math.isnan(wai.dimension_scores({"item4": 5}, min_items=2)["goal"])
    assert wai.dimension_scores({"item4": 5}, min_items=1)["goal"] == 5.0
    assert wai.total_score(values, min_items=9) == 4.0
    assert math.isnan(wai.total_score(values, min_items=10))
    assert math.isnan(wai.total_score({}))
    with pytest.raises(ParameterError, match="min_items"):
        wai.dimension_scores(values, min_items=0)


def test_scoring_rejects_unknown_items_and_off_scale_values() -> None:
    wai = instruments.WAI_SR_CLIENT
    with pytest.raises(ParameterError, match="no item 'item13'"):
        wai.dimension_scores({"item13": 3})
    with pytest.raises(ParameterError, match="outside the scale 1-5"):
        wai.total_score({"item1": 6})
    with pytest.raises(ParameterError, match="Fix: give a number from 1 to 5"):
        wai.reverse("item1", 0)


def test_check_value() -> None:
    wai = instruments.WAI_SR_CLIENT
    assert wai.check_value("item1", 1) is None
    assert wai.check_value("item1", 3.5) is None
    assert "outside the scale 1-5" in str(wai.check_value("item1", 0))
    assert "not a number" in str(wai.check_value("item1", "4"))
    assert "not a number" in str(wai.check_value("item1", True))
    assert "NaN" in str(wai.check_value("item1", math.nan))
    assert "no item" in str(wai.check_value("nope", 3))


# -- texts and labels ---------------------------------------------------------------------


def test_item_text_fills_the_blank() -> None:
    wai = instruments.WAI_SR_CLIENT
    assert (
        wai.item_text("item4") == "The counselor and I collaborate on setting goals for my therapy."
    )
    assert wai.item_text("item3") == "I believe the counselor likes me."
    assert wai.item_text("item3", counselor_name="Dr. Li") == "I believe Dr. Li likes me."
    assert wai.item_text("item4", counselor_name="dr. Li").startswith("Dr. Li and I")
    assert wai.item_text("item4", "zh") == "咨询师和我共同为咨询制定目标。"


def test_item_text_language_fallback() -> None:
    wai = instruments.WAI_SR_CLIENT
    assert wai.resolve_language("zh-CN") == "zh"
    assert wai.resolve_language("zh_Hans") == "zh"
    assert wai.resolve_language("ja") == "en"
    assert wai.item_text("item1", "zh-TW") == wai.item("item1").text["zh"]
    assert wai.item_text("item1", "ja") == wai.item("item1").text["en"]
    with pytest.raises(ParameterError, match="use one of: en, zh"):
        wai.item_text("item1", "ja", strict=True)
    assert wai.option_labels("fr") == wai.option_labels("en")


def test_option_labels_without_labels_are_the_points() -> None:
    form = instruments.KOKOROCHAT_FEEDBACK
    assert form.option_labels() == ("0", "1", "2", "3", "4", "5")
    overall = form.option_labels("en", item_id="overall")
    assert len(overall) == 101 and overall[0] == "0" and overall[-1] == "100"
    assert instruments.WAI_SR_CLIENT.scale.label(3) == "Fairly often"
    with pytest.raises(ParameterError):
        instruments.WAI_SR_CLIENT.scale.label(6)


def test_unknown_item_lists_the_items() -> None:
    with pytest.raises(ParameterError, match="use one of: item1, item2"):
        instruments.WAI_SR_CLIENT.item("item0")


# -- the data classes ---------------------------------------------------------------------


def test_instruments_are_frozen_hashable_and_picklable() -> None:
    wai = instruments.WAI_SR_CLIENT
    with pytest.raises(dataclasses.FrozenInstanceError):
        wai.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        wai.items[0].reverse_keyed = True  # type: ignore[misc]
    assert len({wai, get_instrument("wai-sr-client"), instruments.WAI_O_S}) == 2
    assert pickle.loads(pickle.dumps(wai)) == wai


def test_instrument_built_in_python_derives_languages_and_dimensions() -> None:
    scale = Scale(1, 3, {"en": ("Low", "Mid", "High")})
    form = Instrument(
        id="py-form",
        name="Built in Python",
        description="",
        items=(
            Item("a", 1, {"en": "A", "de": "A"}, dimension="x"),
            Item("b", 2, {"en": "B"}, dimension="x", reverse_keyed=True),
            Item("c", 3, {"en": "C"}, dimension="y"),
        ),
        scale=scale,
        rater="observer",
    )
    assert form.languages == ("en",)
    assert form.dimensions == {"x": ("a", "b"), "y": ("c",)}
    assert form.dimension_scores({"a": 3, "b": 3, "c": 2}) == {"x": 2.0, "y": 2.0}


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Scale(5, 1), "max"),
        (lambda: Scale(1, 1), "max"),
        (lambda: Scale(1.5, 5), "min"),  # type: ignore[arg-type]
        (lambda: Scale(1, 3, {"en": ("a", "b")}), "labels.en"),
        (lambda: Item("bad id", 1, {"en": "x"}), "id"),
        (lambda: Item("a", 0, {"en": "x"}), "number"),
        (lambda: Item("a", 1, {}), "text"),
        (lambda: Item("a", 1, {"en": " "}), "text.en"),
    ],
)
def test_bad_python_definitions_raise(build: Any, field: str) -> None:
    with pytest.raises(InstrumentError) as info:
        build()
    assert info.value.problem.field == field


def test_duplicate_ids_in_python_raise() -> None:
    items = (Item("a", 1, {"en": "A"}), Item("a", 2, {"en": "B"}))
    with pytest.raises(InstrumentError, match="duplicate item id 'a'") as info:
        Instrument("x", "X", "", items, Scale(1, 5))
    assert info.value.problem.field == "items[1].id"


def test_lazy_constants() -> None:
    assert instruments.WAI_O_S is get_instrument("wai-o-s")
    assert "KOKOROCHAT_FEEDBACK" in dir(instruments)
    with pytest.raises(AttributeError):
        instruments.NOT_AN_INSTRUMENT  # noqa: B018


# -- custom files -------------------------------------------------------------------------


def test_custom_yaml_instrument(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "mini.yaml", custom_definition())
    form = load_instrument(path)
    assert form.id == "mini-alliance"
    assert form.item_ids == ("b1", "b2", "g1", "g2", "overall")
    assert [item.number for item in form.items] == [1, 2, 3, 4, 5]
    assert form.item("b1").dimension == "bond"  # filled in from `dimensions`
    assert form.item_text("b2") == "I feel uneasy with the counselor."
    assert form.option_labels("zh")[0] == "从不"
    assert get_instrument(str(path)) == form
    assert get_instrument(path) == form
    assert get_instrument(form) is form


def test_custom_json_instrument(tmp_path: Path) -> None:
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(custom_definition(), ensure_ascii=False), encoding="utf-8")
    assert load_instrument(path) == load_instrument(
        write_yaml(tmp_path / "mini.yaml", custom_definition())
    )


def test_dimensions_derived_from_item_fields(tmp_path: Path) -> None:
    data = custom_definition()
    del data["dimensions"]
    for item in data["items"][:4]:
        item["dimension"] = "bond" if item["id"].startswith("b") else "goal"
    form = load_instrument(write_yaml(tmp_path / "derived.yaml", data))
    assert form.dimensions == {"bond": ("b1", "b2"), "goal": ("g1", "g2")}


def test_plain_string_text_is_english(tmp_path: Path) -> None:
    data = custom_definition()
    del data["languages"]
    for item in data["items"]:
        item["text"] = item["text"]["en"]
    form = load_instrument(write_yaml(tmp_path / "en.yaml", data))
    assert form.languages == ("en",)


def test_docs_example_loads(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "instruments.md"
    if not docs.exists():
        pytest.skip("docs/instruments.md not present")
    block = re.search(r"```yaml\n(format_version.*?)```", docs.read_text("utf-8"), re.S)
    assert block is not None
    path = tmp_path / "my-alliance.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    form = load_instrument(path)
    assert form.dimensions == {"bond": ("b1", "b2", "b3"), "goal": ("g1", "g2")}
    assert form.item("b3").reverse_keyed
    assert form.scored_item_ids == ("b1", "b2", "b3", "g1", "g2")


# -- bad definitions ----------------------------------------------------------------------


def test_duplicate_item_id(tmp_path: Path) -> None:
    data = custom_definition()
    data["items"][1]["id"] = "b1"
    error = load_error(tmp_path, data)
    assert error.problem.file == str(tmp_path / "bad.yaml")
    assert error.problem.field == "items[1].id"
    assert "bad.yaml" in str(error) and "items[1].id" in str(error)
    assert "duplicate item id 'b1'" in str(error)


def test_dimension_naming_a_missing_item(tmp_path: Path) -> None:
    data = custom_definition()
    data["dimensions"]["goal"] = ["g1", "g3"]
    error = load_error(tmp_path, data)
    assert error.problem.field == "dimensions.goal[1]"
    assert "bad.yaml" in str(error) and "'g3'" in str(error) and "Fix:" in str(error)


@pytest.mark.parametrize(
    ("scale", "field", "message"),
    [
        ({"min": 5, "max": 1}, "scale.max", "must be less than its max"),
        ({"min": 1, "max": 1}, "scale.max", "must be less than its max"),
        ({"min": "1", "max": 5}, "scale.min", "must be an integer"),
        ({"max": 5}, "scale.min", "has no 'min'"),
        ({"min": 1, "max": 5, "labels": {"en": ["a", "b"]}}, "scale.labels.en", "2 labels"),
        ({"min": 1, "max": 5, "step": 1}, "scale.step", "unknown key 'step'"),
    ],
)
def test_bad_scale(tmp_path: Path, scale: dict[str, Any], field: str, message: str) -> None:
    data = custom_definition()
    data["scale"] = scale
    error = load_error(tmp_path, data)
    assert error.problem.field == field
    assert message in str(error) and "bad.yaml" in str(error)


def test_bad_item_scale(tmp_path: Path) -> None:
    data = custom_definition()
    data["items"][4]["scale"] = {"min": 10, "max": 0}
    error = load_error(tmp_path, data)
    assert error.problem.field == "items[4].scale.max"


def test_item_with_own_scale_cannot_be_in_a_dimension(tmp_path: Path) -> None:
    data = custom_definition()
    data["dimensions"]["goal"].append("overall")
    error = load_error(tmp_path, data)
    assert error.problem.field == "items[4].scale"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d.update(rater="supervisor"), "rater", "client, counselor, observer"),
        (lambda d: d.pop("name"), "name", "has no 'name'"),
        (lambda d: d.update(itmes=[]), "itmes", "unknown key 'itmes'"),
        (lambda d: d["items"][0].update(reverse_keyd=True), "items[0].reverse_keyd", "unknown key"),
        (
            lambda d: d["items"][0].update(reverse_keyed="yes"),
            "items[0].reverse_keyed",
            "true or false",
        ),
        (lambda d: d["items"][2]["text"].pop("zh"), "items[2].text.zh", "no 'zh' text"),
        (lambda d: d["items"][0].update(id=1), "items[0].id", "quote it"),
        (lambda d: d["items"][0].update(dimension="goal"), "items[0].dimension", "'bond'"),
        (lambda d: d["items"][3].update(number=1), "items[3].number", "number 1"),
        (lambda d: d["dimensions"].update(task=[]), "dimensions.task", "lists no items"),
        (lambda d: d["dimensions"].update(task=["b1"]), "dimensions.task[0]", "and dimension"),
        (lambda d: d.update(items=[]), "items", "no items"),
        (lambda d: d.update(format_version=2), "format_version", "not supported"),
    ],
)
def test_bad_definitions_name_file_and_field(
    tmp_path: Path, change: Any, field: str, message: str
) -> None:
    data = custom_definition()
    change(data)
    error = load_error(tmp_path, data)
    assert error.problem.field == field
    assert message in str(error)
    assert str(error).startswith(str(tmp_path / "bad.yaml"))


def test_bad_json_file_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": "x",\n "name": }', encoding="utf-8")
    with pytest.raises(InstrumentError, match=r"broken\.json: line 2: not valid JSON"):
        load_instrument(path)


def test_bad_yaml_file_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nitems: [a, b\nname: y\n", encoding="utf-8")
    with pytest.raises(InstrumentError, match=r"broken\.yaml: line \d+: not valid YAML"):
        load_instrument(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = load_error(tmp_path, ["not", "a", "mapping"])
    assert "must be a mapping" in str(error)


def test_missing_file_and_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="not found"):
        load_instrument(tmp_path / "nope.yaml")
    with pytest.raises(InstrumentError, match="not found"):
        get_instrument(str(tmp_path / "nope.yaml"))
    (tmp_path / "form.txt").write_text("id: x", encoding="utf-8")
    with pytest.raises(InstrumentError, match=r"unsupported instrument file type '\.txt'"):
        load_instrument(tmp_path / "form.txt")


def test_unknown_instrument_id_lists_the_builtins() -> None:
    with pytest.raises(InstrumentError) as info:
        get_instrument("wai-sr-patient")
    message = str(info.value)
    assert "unknown instrument 'wai-sr-patient'" in message
    assert info.value.problem.field == "instrument"
    for instrument_id in BUILTINS:
        assert instrument_id in message


def test_table_scores_follow_the_instrument_key_with_reverse_keyed_items() -> None:
    import numpy as np

    from care.instruments import get_instrument
    from care.instruments.scoring import score_matrix
    from care.train.report import score_columns

    instrument = get_instrument("wai-o-s")
    reversed_items = [item.id for item in instrument.items if item.reverse_keyed]
    assert reversed_items, "wai-o-s has reverse-keyed items"
    rng = np.random.default_rng(0)
    ids = list(instrument.item_ids)
    values = rng.integers(1, 8, size=(5, len(ids))).astype(float)
    values[0, 0] = np.nan
    expected = [
        instrument.dimension_scores(
            {i: v for i, v in zip(ids, row, strict=True) if not np.isnan(v)}, min_items=1
        )
        for row in values
    ]
    table = score_columns(values, ids, instrument)
    matrix = score_matrix(instrument, values, ids)
    for row, scores in enumerate(expected):
        for name, score in scores.items():
            assert table[name][row] == pytest.approx(score)
            assert matrix[name][row] == pytest.approx(score)
