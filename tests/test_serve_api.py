"""care serve: the REST API in a real uvicorn server on loopback, and its safe defaults."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

EXAMPLES = Path(__file__).parent.parent / "examples"
TEXT = (EXAMPLES / "transcript_en.txt").read_text(encoding="utf-8")
SECRET_QUOTE = "I wrote an angry email but didn't send it"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CareProcess:
    """A `care` command serving on a free port of 127.0.0.1 in a subprocess, its log in a
    file; ready once /healthz answers."""

    def __init__(self, args: list[str], log_base: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_base.with_suffix(f".{self.port}.log")
        command = [sys.executable, "-m", "care", *args, "--port", str(self.port)]
        self.handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("server did not start in 30 s")

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.handle.close()
        return self.log.read_text()


class Server(CareProcess):
    """`care serve` with its run store."""

    def __init__(self, store: Path, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(["serve", "--store", str(store), *args], store, env)


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "store.sqlite")
    yield running
    running.stop()


def test_assess_read_history_job_and_restart(tmp_path) -> None:
    store = tmp_path / "store.sqlite"
    server = Server(store)
    try:
        client = httpx.Client(base_url=server.url, timeout=30)
        response = client.post("/v1/assessments", json={"session": {"text": TEXT}})
        assert response.status_code == 201, response.text
        made = response.json()
        assert made["session_id"] == "upload"
        result = made["result"]
        assert set(result["dimensions"]) == {"goal", "task", "bond"}
        quotes = [piece["quote"] for pieces in result["evidence"].values() for piece in pieces]
        assert quotes and all(isinstance(q, str) for q in quotes)
        # the interval, reference percentiles and domain check travel with the record
        low, high = result["intervals"]["goal"]
        assert low <= result["dimensions"]["goal"] <= high and result["intervals"]["level"] == 0.9
        assert set(result["percentiles"]) == {"goal", "task", "bond", "total"}
        assert result["domain"]["in_domain"] is False and result["domain"]["reasons"]
        assert len(made["turns"]) > 4
        native = json.loads((EXAMPLES / "session_en.json").read_text(encoding="utf-8"))
        second = client.post("/v1/assessments", json={"session": native})
        assert second.status_code == 201 and second.json()["session_id"] == native["id"]

        job = client.post("/v1/jobs", json={"sessions": [{"text": TEXT}, native]}).json()
        deadline = time.monotonic() + 20
        while client.get(f"/v1/jobs/{job['id']}").json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        finished = client.get(f"/v1/jobs/{job['id']}").json()
        assert finished["done"] == 2 and len(finished["assessment_ids"]) == 2
        history = client.get("/v1/assessments").json()
        assert history["total"] == 4
        assert history["assessments"][-1]["id"] == made["id"]  # newest first
        assert [m["id"] for m in client.get("/v1/models").json()] == ["care-lite"]
        names = {i["id"] for i in client.get("/v1/instruments").json()}
        assert "wai-sr-client" in names
        client.close()
    finally:
        log = server.stop()
    assert SECRET_QUOTE not in log and "exam" not in log.lower()
    assert "POST /v1/assessments" in log  # paths are logged, bodies are not

    # A restart loses nothing that finished; the CLI's run store has the results.
    again = Server(store)
    try:
        with httpx.Client(base_url=again.url, timeout=30) as client:
            assert client.get(f"/v1/assessments/{made['id']}").json()["result"] == result
            assert client.get("/v1/assessments").json()["total"] == 4
    finally:
        again.stop()
    from care.store import RunStore

    with RunStore(store) as run_store:
        assert len(run_store.assessments()) == 4


def test_errors_are_json_with_the_field(server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        cases = [
            ({"session": {"text": TEXT}, "extra": 1}, "extra"),
            ({"session": {"text": "hello there"}}, "session.format"),
            ({"session": {"text": TEXT}, "model": "/etc/passwd"}, "model"),
            ({"session": {"text": TEXT}, "model": "other"}, "model"),
            ({"session": {"text": TEXT}, "instrument": "wai-sr-client"}, "instrument"),
            ({"session": {"id": "x", "turns": [{"role": "nobody", "text": "hi"}]}}, "session"),
        ]
        for body, field in cases:
            response = client.post("/v1/assessments", json=body)
            assert response.status_code == 422, (body, response.text)
            answer = response.json()
            assert answer["error"] and "Traceback" not in response.text
            assert any(field in (p["field"] or "") for p in answer["problems"]), answer
        bad = client.post(
            "/v1/assessments", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 422
        assert client.get("/v1/assessments/" + "0" * 32).status_code == 404
        assert client.get("/v1/assessments/../etc").status_code in (404, 422)
        assert client.get("/v1/jobs/nope").status_code == 422


def test_safe_defaults(server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        big = {"session": {"text": "Client: " + "x" * (6 * 1024 * 1024)}}
        response = client.post("/v1/assessments", json=big)
        assert response.status_code == 413 and response.json()["problems"][0]["field"] == "body"
        preflight = client.options(
            "/v1/assessments",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        page = client.get("/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # Against DNS rebinding: a loopback server only answers to loopback host names.
        assert client.get("/v1/models", headers={"Host": "evil.example"}).status_code == 400


def test_non_loopback_bind_needs_a_token(tmp_path) -> None:
    command = [sys.executable, "-m", "care", "serve", "--host", "0.0.0.0", "--port", "1"]
    env = {k: v for k, v in os.environ.items() if k != "CARE_SERVE_TOKEN"}
    done = subprocess.run(
        [*command, "--store", str(tmp_path / "s.sqlite")],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 2
    assert "token" in done.stderr and "Traceback" not in done.stderr
    short = subprocess.run(
        [*command, "--store", str(tmp_path / "s.sqlite")],
        capture_output=True,
        text=True,
        timeout=30,
        env={**env, "CARE_SERVE_TOKEN": "short"},
    )
    assert short.returncode == 2 and "16" in short.stderr


def test_token_is_required_when_set(tmp_path) -> None:
    token = "t0ken-" + "a" * 26
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    server = Server(tmp_path / "store.sqlite", "--token-file", str(token_file))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            body = {"session": {"text": TEXT}}
            missing = client.post("/v1/assessments", json=body)
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"] == "Bearer"
            wrong = client.get("/v1/models", headers={"Authorization": "Bearer " + "b" * 32})
            assert wrong.status_code == 401
            assert client.get("/v1/assessments").status_code == 401
            good = {"Authorization": f"Bearer {token}"}
            assert client.post("/v1/assessments", json=body, headers=good).status_code == 201
    finally:
        server.stop()


def test_unfinished_jobs_resume_or_are_interrupted(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from care.serve import create_app
    from care.serve.jobs import ServeDB

    store = tmp_path / "store.sqlite"
    db = ServeDB(store)
    request = {"sessions": [{"text": TEXT, "format": "auto", "language": None}]}
    db.add_job("a" * 32, {**request, "instrument": None, "model": None}, 1)
    db.update_job("a" * 32, status="running")
    db.add_job("b" * 32, {**request, "instrument": None, "model": None}, 1)
    with TestClient(create_app(store, resume_jobs=True)) as client:
        deadline = time.monotonic() + 20
        while client.get("/v1/jobs/" + "a" * 32).json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        job = client.get("/v1/jobs/" + "a" * 32).json()
        assert job["resumed"] == 1 and job["done"] == 1
    db.add_job("c" * 32, {**request, "instrument": None, "model": None}, 1)
    db.update_job("c" * 32, status="running")
    with TestClient(create_app(store, resume_jobs=False)) as client:
        assert client.get("/v1/jobs/" + "c" * 32).json()["status"] == "interrupted"
