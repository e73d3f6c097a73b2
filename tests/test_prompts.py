"""Prompt templates: CARE's wording, shared-prefix ordering, versions, languages."""

from __future__ import annotations

import pytest

from care.data.session import Session, Turn
from care.errors import ParameterError
from care.instruments import get_instrument
from care.prompts import PERSPECTIVES, TEMPLATE_LANGUAGES, get_template

SESSION = Session(
    id="s",
    turns=[
        Turn(index=0, role="counselor", text="What brings you here?"),
        Turn(index=1, role="client", text="I can't sleep before exams."),
    ],
    language="en",
)


def test_client_template_is_the_care_prompt() -> None:
    template = get_template("client", "en")
    instrument = get_instrument("wai-sr-client")
    content = template.item_messages(SESSION, instrument, "item3")[0]["content"]
    assert content.startswith(
        "Here is the psychological counseling dialogue between you as a client and your "
        "counselor.\nCounselor: What brings you here?\nClient: I can't sleep before exams.\n"
    )
    assert "(Output should be two lines, with each line indicating the choice and reason" in content
    assert content.endswith(
        "Question: I believe the counselor likes me.\n"
        "Options: 1. Seldom; 2. Sometimes; 3. Fairly often; 4. Very often; 5. Always"
    )


def test_items_share_the_transcript_prefix_and_come_last() -> None:
    instrument = get_instrument("wai-sr-client")
    for language in TEMPLATE_LANGUAGES:
        template = get_template("client", language)
        prompts = [
            template.item_messages(SESSION, instrument, item.id)[0]["content"]
            for item in instrument.items
        ]
        prefix = template.prefix(SESSION)
        assert all(prompt.startswith(prefix) for prompt in prompts)
        assert len(set(prompts)) == 12
        assert all(
            prompt.endswith(template.options(instrument, item.id))
            for prompt, item in zip(prompts, instrument.items, strict=True)
        )


def test_chinese_template_uses_chinese_items_and_anchors() -> None:
    template = get_template("client", "zh")
    content = template.item_messages(SESSION, get_instrument("wai-sr-client"), "item3")[0][
        "content"
    ]
    assert "咨询师: What brings you here?" in content
    assert "问题：我相信我的咨询师是喜欢我的。" in content
    assert content.endswith("选项：1. 从来没有；2. 偶尔如此；3. 有时如此；4. 经常如此；5. 总是如此")


@pytest.mark.parametrize("perspective", PERSPECTIVES)
@pytest.mark.parametrize("language", TEMPLATE_LANGUAGES)
def test_every_template_renders_every_mode(perspective: str, language: str) -> None:
    template = get_template(perspective, language)
    assert template.perspective == perspective and template.language == language
    instrument = get_instrument("wai-o-s" if perspective == "observer" else "wai-sr-client")
    one_pass = template.one_pass_messages(SESSION, instrument, "json")[0]["content"]
    assert f"12. {instrument.item_text(instrument.items[-1].id, language)}" in one_pass
    assert "{options}" not in one_pass and "{reason}" not in template.reask_message("x")["content"]


def test_versions_are_recorded_per_template_mode_and_format() -> None:
    template = get_template("client", "en")
    assert template.prompt_version() == "care-client-en@1:item:lines"
    assert template.prompt_version("naive") == template.prompt_version("per-item")
    assert template.prompt_version("one-pass", "json") == "care-client-en@1:onepass:json"
    assert get_template("counselor", "zh").prompt_version() == "care-counselor-zh@1:item:lines"
    assert get_template("client", "ja").language == "en"  # no Japanese template: English


def test_unknown_perspective_names_the_choices() -> None:
    with pytest.raises(ParameterError, match=r"client.*counselor.*observer"):
        get_template("therapist")
