"""Which Ray path `care assess --engine ray` takes for a model (the paths themselves run on a
real local cluster in test_ray_engine.py and test_ray_llm.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from care.assessors import ray_engine, ray_llm
from care.cli import assess_engine


@pytest.mark.parametrize(
    ("model", "scoring", "expected"),
    [
        ("openai/m", "generate", "processor"),  # Ray Data's HTTP processor generates
        ("vllm/m", "generate", "processor"),
        ("openai/m", "likelihood", "actors"),  # the processors cannot score options
        ("vllm/m", "likelihood", "actors"),
        ("llamacpp/m", "generate", "actors"),
        (None, None, "actors"),  # the built-in model
    ],
)
def test_the_path_follows_the_model_and_the_scoring(monkeypatch, model, scoring, expected):
    taken = []
    monkeypatch.setattr(ray_llm, "run_llm_on_ray", lambda *a, **k: taken.append("processor"))
    monkeypatch.setattr(ray_engine, "run_on_ray", lambda *a, **k: taken.append("actors"))
    options = {} if scoring is None else {"scoring": scoring}
    assess_engine.ray_results(
        [],
        {},
        model=model,
        assessor_options=options,
        sink=None,
        address=None,
        workers=None,
        batch_size=8,
        tensor_parallel_size=1,
        intervals=(None, 0.9),
        counts=None,
        report=None,
        on_progress=lambda _: None,
    )
    assert taken == [expected]
