"""care serve's web page in headless Chromium, driven over the DevTools protocol."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
sync_client = pytest.importorskip("websockets.sync.client")

from browser import CHROMIUM, chromium_command  # noqa: E402
from test_serve_api import TEXT, Server  # noqa: E402

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


class Page:
    """A tab of headless Chromium, scripted with Runtime.evaluate (bounded waits)."""

    def __init__(self, url: str, profile: Path) -> None:
        self.process = subprocess.Popen(
            chromium_command(
                profile,
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                url,
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline, "chromium did not open its debugging port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        while True:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            pages = [target for target in targets if target["type"] == "page"]
            if pages:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        self.socket = sync_client.connect(pages[0]["webSocketDebuggerUrl"], max_size=2**24)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        # The document may be between loads (no body yet): a throw counts as not yet.
        while not self.js(
            f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"
        ):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.1)

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def test_upload_see_scores_and_quote_then_find_in_history(tmp_path) -> None:
    server = Server(tmp_path / "store.sqlite")
    page = Page(server.url + "/", tmp_path / "profile")
    try:
        page.wait("document.body.dataset.ready === '1'")
        page.js(f"document.getElementById('transcript').value = {json.dumps(TEXT)}")
        page.js("document.getElementById('submit').click()")
        page.wait("document.querySelectorAll('#chart rect.bar').length === 3")
        # each dimension's prediction interval is a band on its bar, with its percentile
        assert page.js("document.querySelectorAll('#chart rect.interval').length") == 3
        assert "reference sessions" in page.js("document.querySelector('#chart').textContent")
        assert "90% prediction intervals" in page.js(
            "document.getElementById('interval-note').textContent"
        )
        # the short upload is unlike the training sessions: the page says so, with reasons
        assert page.js("!document.getElementById('domain').hidden")
        assert "turns" in page.js("document.getElementById('domain').textContent")
        assert page.js("document.querySelectorAll('#items tbody tr').length") == 21
        marks = page.js("[...document.querySelectorAll('#turns mark')].map(m => m.textContent)")
        assert marks and all(mark in TEXT for mark in marks)
        link = page.js("document.querySelector('#turns mark a').getAttribute('href')")
        assert link.startswith("#rat-") and page.js(f"!!document.querySelector('{link}')")
        assert "?a=" in page.js("location.search")

        page.js("window.beforeReload = true")
        page.call("Page.reload")
        page.wait("!window.beforeReload && document.body.dataset.ready === '1'")
        page.wait("document.querySelectorAll('#history li').length === 1")
        assert "upload" in page.js("document.querySelector('#history li').textContent")
        # The reloaded ?a=ID shows the same result again.
        page.wait("document.querySelectorAll('#turns mark').length > 0")

        page.js("document.getElementById('ui-lang').value = 'zh'")
        page.js("document.getElementById('ui-lang').dispatchEvent(new Event('change'))")
        assert page.js("document.getElementById('history-h').textContent") == "历史"
    finally:
        page.close()
        server.stop()


def test_the_page_lists_the_formats_and_shows_every_problem(tmp_path) -> None:
    from care.data.io.registry import FORMAT_NAMES

    server = Server(tmp_path / "store.sqlite")
    page = Page(server.url + "/", tmp_path / "profile")
    secret = "I never told anyone about the river"
    try:
        page.wait("document.body.dataset.ready === '1'")
        options = page.js("[...document.querySelectorAll('#format option')].map(o => o.value)")
        assert options == ["auto", *FORMAT_NAMES]
        broken = {
            "id": "a",
            "turns": [{"role": secret, "text": "hi"}, {"role": "client", "text": " "}],
        }
        page.js(f"document.getElementById('transcript').value = {json.dumps(json.dumps(broken))}")
        page.js("document.getElementById('submit').click()")
        page.wait("document.querySelectorAll('#status li').length === 2")
        shown = page.js("document.getElementById('status').textContent")
        assert "turns[0].role" in shown and "turns[1].text" in shown
        assert secret not in shown
        assert page.js("document.getElementById('status').className") == "error"
    finally:
        page.close()
        server.stop()
