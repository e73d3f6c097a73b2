"""care serve with a language model: the packaged chat model SmolLM2-135M-Instruct behind a
real server process, one assessment through the REST API and one through the web page in
headless Chromium."""

from __future__ import annotations

import json

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("websockets.sync.client")

from browser import CHROMIUM  # noqa: E402
from real_models import CHAT_MODEL, require  # noqa: E402
from test_serve_api import TEXT, Server  # noqa: E402
from test_serve_browser import Page  # noqa: E402

MODEL = f"transformers/{CHAT_MODEL}"
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    require(CHAT_MODEL, "transformers")
    folder = tmp_path_factory.mktemp("serve-llm")
    running = Server(folder / "store.sqlite", "--model", MODEL, "--scoring", "likelihood")
    yield running
    log = running.stop()
    assert "I wrote an angry email" not in log  # transcript text never reaches the log


def assert_likelihood_result(result: dict) -> None:
    """Every item scored by the model's probabilities over its options."""
    assert result["model"] == MODEL and result["instrument"] == "wai-sr-client"
    assert result["meta"]["scoring"] == "likelihood"
    assert len(result["items"]) == 12
    for item in result["items"].values():
        probabilities = item["probabilities"]
        assert abs(sum(probabilities.values()) - 1) < 5e-6  # each rounded to 6 decimals
        assert item["value"] == int(max(probabilities, key=probabilities.get))
    assert set(result["dimensions"]) == {"goal", "task", "bond"}
    assert all(1 <= value <= 5 for value in result["dimensions"].values())
    # no calibration for this model: the result says so instead of inventing intervals
    assert result["intervals"]["unavailable"]


def test_an_assessment_through_the_api(llm_server) -> None:
    models = httpx.get(llm_server.url + "/v1/models", timeout=10).json()
    assert [model["id"] for model in models if model["default"]] == [MODEL]
    answer = httpx.post(
        llm_server.url + "/v1/assessments", json={"session": {"text": TEXT}}, timeout=600
    )
    assert answer.status_code == 201, answer.text
    assert_likelihood_result(answer.json()["result"])
    stored = httpx.get(llm_server.url + f"/v1/assessments/{answer.json()['id']}", timeout=10)
    assert stored.json()["result"]["items"] == answer.json()["result"]["items"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_an_assessment_through_the_web_page(llm_server, tmp_path) -> None:
    page = Page(llm_server.url + "/", tmp_path / "profile")
    try:
        page.wait("document.body.dataset.ready === '1'")
        assert page.js("document.getElementById('model').value") == MODEL
        page.js(f"document.getElementById('transcript').value = {json.dumps(TEXT)}")
        page.js("document.getElementById('submit').click()")
        page.wait("document.querySelectorAll('#items tbody tr').length === 12", timeout=600)
        assert page.js("document.querySelectorAll('#chart rect.bar').length") == 3
        # no intervals to draw: the page says why rather than drawing bands
        assert page.js("document.querySelectorAll('#chart rect.interval').length") == 0
        assert page.js("document.getElementById('interval-note').textContent").startswith(
            "No intervals"
        )
        values = page.js(
            "[...document.querySelectorAll('#items tbody tr td.num')].map(c => c.textContent)"
        )
        assert len(values) == 12 and all(value in "12345" for value in values)
        assert MODEL in page.js("document.getElementById('result-h').textContent")
    finally:
        page.close()
