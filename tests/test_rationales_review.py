"""care rationales review: a real server on loopback saves each decision with reviewer and
time, kept across a restart; in headless Chromium, keyboard accept / edit / reject survive a
reload."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from care.rationales.store import Draft, RationaleStore  # noqa: E402
from test_serve_api import CareProcess  # noqa: E402
from test_serve_browser import CHROMIUM, Page  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SESSION = {
    "schema_version": 1,
    "id": "en-1",
    "language": "en",
    "turns": [
        {"role": "counselor", "text": "What would you like to talk about?"},
        {"role": "client", "text": "My exams. I feel stuck and I keep putting off revision."},
        {"role": "counselor", "text": "Let's set one small goal for this week."},
    ],
    "ratings": [
        {
            "instrument": "wai-sr-client",
            "rater": "client",
            "values": {"item1": 4, "item2": 2, "item3": 5},
        }
    ],
}
DRAFTS = {
    "item1": 'I said "I feel stuck" and we made "one small goal", so I see how to change.',
    "item2": "I was not sure we agreed on what matters.",
    "item3": 'The counselor asked "What would you like to talk about?" and I felt heard.',
}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "sessions.jsonl"
    data.write_text(json.dumps(SESSION) + "\n", encoding="utf-8")
    store = tmp_path / "run.sqlite"
    with RationaleStore(store) as rstore:
        for item_id, text in DRAFTS.items():
            rating = SESSION["ratings"][0]["values"][item_id]
            rstore.put_draft(
                Draft("en-1", "wai-sr-client", item_id, "t/m", "v1", rating, "ok", text, text)
            )
    return store, data


class ReviewServer(CareProcess):
    """`care rationales review` in a subprocess on 127.0.0.1."""

    def __init__(self, store: Path, data: Path, *args: str) -> None:
        review = ["rationales", "review", "--store", str(store), "--data", str(data), *args]
        super().__init__(review, store)


def _key(item_id: str) -> dict[str, str]:
    return {
        "session_id": "en-1",
        "instrument": "wai-sr-client",
        "item_id": item_id,
        "teacher": "t/m",
        "prompt_version": "v1",
    }


def test_api_saves_decisions_with_reviewer_and_time_across_restart(files) -> None:
    store, data = files
    server = ReviewServer(store, data)
    try:
        page = httpx.get(server.url + "/")
        assert (
            page.status_code == 200
            and "script-src 'self'" in page.headers["content-security-policy"]
        )
        payload = httpx.get(server.url + "/api/drafts").json()
        first = payload["drafts"][0]
        assert first["item_id"] == "item1" and first["rating"] == 4
        assert first["item_text"].startswith("As a result of these sessions")
        assert [q["turn"] for q in first["quotes"]] == [1, 2]
        assert len(payload["sessions"]["en-1"]["turns"]) == 3

        before = time.time()
        saved = httpx.post(
            server.url + "/api/reviews",
            json={**_key("item1"), "reviewer": "Dana", "decision": "edit", "text": "Better."},
        )
        assert saved.status_code == 201, saved.text
        assert saved.json()["reviewer"] == "Dana" and saved.json()["created_at"] >= before
        # the spreadsheet's validation: an edit needs text, a decision must be known
        empty = {**_key("item2"), "reviewer": "Dana", "decision": "edit", "text": " "}
        assert httpx.post(server.url + "/api/reviews", json=empty).status_code == 422
        bad = {**_key("item2"), "reviewer": "Dana", "decision": "maybe"}
        assert httpx.post(server.url + "/api/reviews", json=bad).status_code == 422
        nobody = {**_key("item2"), "reviewer": "", "decision": "accept"}
        assert httpx.post(server.url + "/api/reviews", json=nobody).status_code == 422
        unknown = {**_key("item9"), "reviewer": "Dana", "decision": "accept"}
        assert httpx.post(server.url + "/api/reviews", json=unknown).status_code == 422
        # DNS rebinding: another Host header is refused on loopback
        assert (
            httpx.get(server.url + "/api/drafts", headers={"host": "evil.test"}).status_code == 400
        )
    finally:
        server.stop()

    with RationaleStore(store) as rstore:
        [review] = rstore.reviews()
    assert (review.reviewer, review.decision, review.text) == ("Dana", "edit", "Better.")

    server = ReviewServer(store, data)
    try:
        drafts = httpx.get(server.url + "/api/drafts").json()["drafts"]
        assert drafts[0]["review"]["decision"] == "edit"
        assert drafts[0]["review"]["reviewer"] == "Dana"
        assert drafts[1]["review"] is None
    finally:
        server.stop()


def test_non_loopback_needs_a_token(files, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from care.cli.main import cli

    store, data = files
    args = ["rationales", "review", "--store", str(store), "--data", str(data)]
    result = CliRunner().invoke(cli, [*args, "--host", "0.0.0.0"], env={"CARE_SERVE_TOKEN": ""})
    assert result.exit_code != 0 and "token" in result.output


def test_token_guards_the_api(files, tmp_path: Path) -> None:
    store, data = files
    token_file = tmp_path / "token"
    token_file.write_text("a-long-enough-token-123", encoding="utf-8")
    server = ReviewServer(store, data, "--token-file", str(token_file))
    try:
        assert httpx.get(server.url + "/api/drafts").status_code == 401
        auth = {"Authorization": "Bearer a-long-enough-token-123"}
        assert httpx.get(server.url + "/api/drafts", headers=auth).status_code == 200
    finally:
        server.stop()


KEYS = {"a": 65, "e": 69, "r": 82, "j": 74, "Enter": 13}


def _press(page, key: str, ctrl: bool = False) -> None:
    """A real key press through the DevTools protocol (keydown, char, keyup)."""
    code = KEYS[key]
    common = {
        "key": key,
        "code": "Enter" if key == "Enter" else f"Key{key.upper()}",
        "windowsVirtualKeyCode": code,
        "nativeVirtualKeyCode": code,
        "modifiers": 2 if ctrl else 0,
    }
    text = {} if ctrl or key == "Enter" else {"text": key, "unmodifiedText": key}
    page.call("Input.dispatchKeyEvent", type="keyDown", **common, **text)
    page.call("Input.dispatchKeyEvent", type="keyUp", **common)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_browser_keyboard_accept_edit_reject_then_reload(files, tmp_path: Path) -> None:
    store, data = files
    server = ReviewServer(store, data)
    page = Page(server.url + "/", tmp_path / "profile")
    try:
        page.wait("document.body.dataset.ready === '1'")
        assert page.js("document.querySelectorAll('#list li').length") == 3
        # the cited turns are highlighted, the verbatim quote marked
        assert page.js("[...document.querySelectorAll('#turns li.cited')].map(li => li.value)") == [
            2,
            3,
        ]
        marks = page.js("[...document.querySelectorAll('#turns mark')].map(m => m.textContent)")
        assert marks == ["I feel stuck", "one small goal"]
        assert "As a result of these sessions" in page.js(
            "document.getElementById('item').textContent"
        )
        assert page.js("document.getElementById('rating').textContent") == "4"

        # no reviewer yet: the decision is refused and the name asked for
        _press(page, "a")
        page.wait("document.getElementById('message').className === 'error'")
        page.js("document.getElementById('reviewer').value = 'Dana'")
        page.js("document.getElementById('reviewer').dispatchEvent(new Event('change'))")
        page.js("document.getElementById('reviewer').blur()")

        _press(page, "a")
        page.wait("document.querySelector('#list li').dataset.decision === 'accept'")
        _press(page, "j")
        page.wait("document.querySelectorAll('#list li')[1].className === 'current'")
        _press(page, "e")
        page.wait("!document.getElementById('editor').hidden")
        page.call("Input.insertText", text=" Edited.")
        _press(page, "Enter", ctrl=True)
        page.wait("document.querySelectorAll('#list li')[1].dataset.decision === 'edit'")
        _press(page, "j")
        page.wait("document.querySelectorAll('#list li')[2].className === 'current'")
        _press(page, "r")
        page.wait("document.querySelectorAll('#list li')[2].dataset.decision === 'reject'")

        page.js("window.beforeReload = true")
        page.call("Page.reload")
        page.wait("!window.beforeReload && document.body.dataset.ready === '1'")
        decisions = page.js(
            "[...document.querySelectorAll('#list li')].map(li => li.dataset.decision)"
        )
        assert decisions == ["accept", "edit", "reject"]
        assert page.js("document.getElementById('reviewer').value") == "Dana"
        assert page.js("document.getElementById('progress').textContent") == "3 / 3 decided"
    finally:
        page.close()
        server.stop()

    with RationaleStore(store) as rstore:
        latest = rstore.latest_reviews()
    got = {key[2]: (r.decision, r.reviewer, r.text) for key, r in latest.items()}
    assert got == {
        "item1": ("accept", "Dana", None),
        "item2": ("edit", "Dana", DRAFTS["item2"] + " Edited."),
        "item3": ("reject", "Dana", None),
    }
    assert all(r.created_at > 0 for r in latest.values())
