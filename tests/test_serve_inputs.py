"""care serve and bad input: body limits, Host, error messages without client text, the
union request body, ratings checked as by the CLI, an unusable store, one format list."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from care.cli.main import cli  # noqa: E402
from care.serve import create_app  # noqa: E402
from test_serve_api import TEXT, Server  # noqa: E402

SECRET = "I never told anyone about the river"
NAME = "Quentin Marsh"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(tmp_path / "store.sqlite")) as test_client:
        yield test_client


def native(**fields) -> dict:
    session = {
        "id": "s1",
        "turns": [
            {"role": "counselor", "text": "How was your week?"},
            {"role": "client", "text": SECRET},
        ],
    }
    session.update(fields)
    return session


def test_a_chunked_body_over_the_limit_is_413_on_a_real_server(tmp_path) -> None:
    server = Server(tmp_path / "store.sqlite", "--max-body-mb", "1")
    try:

        def chunks():
            yield b'{"session": {"text": "Client: '
            for _ in range(40):
                yield b"x" * 65536
            yield b'"}}'

        with httpx.Client(base_url=server.url, timeout=30) as http:
            response = http.post(
                "/v1/assessments", content=chunks(), headers={"content-type": "application/json"}
            )
            assert response.status_code == 413, response.text
            assert response.json()["problems"][0]["field"] == "body"
            # A chunked body under the limit is read whole, as before.
            small = json.dumps({"session": {"text": TEXT}}).encode()
            response = http.post(
                "/v1/assessments",
                content=iter([small[:100], small[100:]]),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 201, response.text
    finally:
        server.stop()


def test_an_empty_host_header_is_400_on_a_real_server(tmp_path) -> None:
    server = Server(tmp_path / "store.sqlite")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/v1/models", headers={"Host": ""}).status_code == 400
            assert http.get("/healthz").status_code == 200
    finally:
        server.stop()


def test_missing_or_empty_host_is_400(client) -> None:
    assert client.get("/v1/models", headers={"host": ""}).status_code == 400
    assert client.get("/v1/models", headers={"host": "  "}).status_code == 400
    answer = client.get("/v1/models", headers={"host": ""}).json()
    assert answer["problems"][0]["field"] == "host"
    assert client.get("/v1/models").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # A CSV without a header: its first line is transcript text.
        ({"session": {"text": f"{SECRET},counselor\nyes,client\n", "format": "csv"}}, "text"),
        ({"session": {"text": f"session_id,role,text\ns1,{SECRET},hi\n"}}, "session.role"),
        ({"session": native(turns=[{"role": SECRET, "text": "hi"}])}, "turns[0].role"),
        ({"session": native(**{SECRET: 1})}, "session"),
        ({"session": {"text": "Client: hi", SECRET: 1}}, "session"),
        ({"session": {"text": f"Counselor: Hello.\n{NAME}: {SECRET}\n"}}, "session.speaker"),
        (
            {"session": native(ratings=[{"instrument": "wai-sr-client", "values": {"x": SECRET}}])},
            "ratings[0].values.x",
        ),
        ({"session": native(language=SECRET)}, "session.language"),
        ({"sessions": [{"text": TEXT}, native(turns=[{"role": SECRET, "text": "x"}])]}, "role"),
    ],
)
def test_error_messages_never_echo_client_content(client, body, field) -> None:
    path = "/v1/jobs" if "sessions" in body else "/v1/assessments"
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert SECRET not in response.text and "river" not in response.text
    assert "Quentin" not in response.text
    problems = response.json()["problems"]
    assert any(field in (problem["field"] or "") for problem in problems), problems


def test_ratings_are_checked_against_the_instrument_as_in_the_cli(client, tmp_path) -> None:
    session = native(ratings=[{"instrument": "wai-sr-client", "values": {"item1": 99}}])
    response = client.post("/v1/assessments", json={"session": session})
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert problem["field"] == "session.ratings[0].values.item1"
    assert "outside the scale 1-5" in problem["message"]
    path = tmp_path / "rated.jsonl"
    path.write_text(json.dumps(session) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and problem["message"] in result.stderr
    job = client.post("/v1/jobs", json={"sessions": [session]})
    assert job.status_code == 422 and "outside the scale" in job.text
    fine = native(ratings=[{"instrument": "wai-sr-client", "values": {"item1": 5}}])
    assert client.post("/v1/assessments", json={"session": fine}).status_code == 201


def test_union_errors_name_the_alternative_the_client_meant(client) -> None:
    long_text = {"session": {"text": "x" * 2_000_001}}
    answer = client.post("/v1/assessments", json=long_text).json()
    assert [p["field"] for p in answer["problems"]] == ["body.session.text"]
    assert "at most 2000000 characters" in answer["error"] and "transcript" in answer["error"]
    assert "NativeSession" not in json.dumps(answer) and "id" not in answer["error"]

    no_turns = client.post("/v1/assessments", json={"session": {"id": "a"}}).json()
    assert [p["field"] for p in no_turns["problems"]] == ["body.session.turns"]
    assert "native session" in no_turns["error"]

    neither = client.post("/v1/assessments", json={"session": {"txt": "Client: hi"}}).json()
    assert "'text'" in neither["error"] and "'turns'" in neither["error"]

    several = {"sessions": [{"text": "Client: hi", "format": "rtf"}, {"id": "b", "turns": []}]}
    answer = client.post("/v1/jobs", json=several).json()
    fields = [p["field"] for p in answer["problems"]]
    assert fields == ["body.sessions[0].format", "body.sessions[1].turns"], answer


def test_an_unusable_store_is_503_with_a_server_log_line(tmp_path, caplog) -> None:
    store = tmp_path / "store.sqlite"
    with TestClient(create_app(store, resume_jobs=False), raise_server_exceptions=False) as http:
        assert http.post("/v1/assessments", json={"session": {"text": TEXT}}).status_code == 201
        # A newer care wrote to the store: this one must not use it.
        with sqlite3.connect(store) as db:
            db.execute("UPDATE meta SET value='999' WHERE key='format_version'")
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="care.serve"):
            response = http.post("/v1/assessments", json={"session": {"text": TEXT}})
        assert response.status_code == 503, response.text
        assert "--store" not in response.text and "Traceback" not in response.text
        logged = [r.getMessage() for r in caplog.records if r.name == "care.serve"]
        assert any("run store" in line and "999" in line for line in logged), logged
        assert all("angry email" not in line for line in logged)
        # The file is no longer a database at all.
        store.write_bytes(b"this is not a database" * 100)
        for suffix in ("-wal", "-shm"):
            Path(str(store) + suffix).unlink(missing_ok=True)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="care.serve"):
            response = http.get("/v1/assessments")
        assert response.status_code == 503, response.text
        assert any("run store" in r.getMessage() for r in caplog.records)


def test_care_serve_refuses_a_store_it_cannot_open(tmp_path) -> None:
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"not a database" * 100)
    result = CliRunner().invoke(cli, ["serve", "--store", str(broken)])
    assert result.exit_code == 2
    assert "cannot use the run store" in result.stderr and "Traceback" not in result.output


def test_one_format_list_for_the_cli_the_api_and_the_page(client) -> None:
    from care.cli.options import input_options
    from care.data.io.registry import BINARY_FORMAT_NAMES, FORMAT_NAMES, SESSION_FORMATS

    listed = client.get("/v1/formats").json()
    assert [entry["id"] for entry in listed] == list(SESSION_FORMATS) == FORMAT_NAMES
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["TranscriptText"]["properties"]["format"]["enum"] == ["auto", *FORMAT_NAMES]
    import click

    @click.command()
    @input_options
    def probe(**options) -> None:
        pass

    [choice] = [p for p in probe.params if p.name == "input_format"]
    # files may also be binary (Parquet), which the API, taking text, does not list
    assert list(choice.type.choices) == [*FORMAT_NAMES, *BINARY_FORMAT_NAMES]
    page = (ROOT / "src" / "care" / "serve" / "static" / "index.html").read_text()
    assert not any(f"<option>{name}</option>" in page for name in FORMAT_NAMES)
    assert "/v1/formats" in (ROOT / "src" / "care" / "serve" / "static" / "app.js").read_text()


def test_languages_come_from_the_known_codes(client) -> None:
    from care.data.language import LANGUAGES

    schema = client.get("/openapi.json").json()["components"]["schemas"]
    language = schema["TranscriptText"]["properties"]["language"]
    assert [e for option in language["anyOf"] for e in option.get("enum", [])] == list(LANGUAGES)
    response = client.post("/v1/assessments", json={"session": {"text": TEXT, "language": "xx"}})
    assert response.status_code == 422


def test_hostile_json_in_a_request_is_422_or_400_never_500(client) -> None:
    deep = '{"a": ' * 3000 + "1" + "}" * 3000
    bodies = [
        '{"session": {"id": "a", "turns": [{"role": "client", "text": "hi"}], "meta": '
        + deep
        + "}}",
        '{"session": {"id": "a", "turns": [{"role": "client", "text": "x\\ud800"}]}}',
        '{"session": {"id": "a", "turns": [{"role": "client", "text": "hi"}], "meta": {"n": '
        + "9" * 1000
        + "}}}",
        '{"session": {"id": "a", "turns": [{"role": "client", "text": "hi"}], "meta": {"n": '
        + "9" * 5000
        + "}}}",
    ]
    for body in bodies:
        response = client.post(
            "/v1/assessments", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text[:300]
        assert response.headers["content-type"].startswith("application/json")
