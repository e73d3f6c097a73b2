"""Property-based fuzzing of the REST API from its own OpenAPI document: no 5xx, ever."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from care.serve import create_app  # noqa: E402


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("fuzz") / "store.sqlite")
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_is_fuzzed_without_server_errors(schema) -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {"POST /v1/assessments", "POST /v1/jobs", "GET /v1/jobs/{job_id}"} <= labels
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def no_5xx(case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.text[:300])
            content_type = response.headers.get("content-type") or [""]
            assert content_type[0].startswith("application/json")

        no_5xx()
