"""Language-model assessors on Ray Data's LLM support (``ray.data.llm``).

With ``--engine ray``, ``--model openai/MODEL --base-url URL`` and ``--model vllm/MODEL`` do not
run the LLM assessor inside actors; the items become rows of a Ray Dataset and go through one
of Ray Data's LLM processors, which batch, pipeline and scale the requests:

* ``openai/...``: an :class:`~ray.data.llm.HttpRequestProcessorConfig` processor sending
  CARE's per-item prompts to any OpenAI-compatible server (vLLM, llama.cpp, a hosted API),
  ``concurrency`` requests at a time (``--workers``), each retried ``max_retries`` times with
  exponential backoff on timeouts, refused connections, 429 and 5xx;
* ``vllm/...``: a :class:`~ray.data.llm.vLLMEngineProcessorConfig` processor: ``replicas``
  vLLM engines (``--workers``) of ``tensor_parallel_size`` GPUs each, prefix caching on
  (the transcript is the shared prefix of a session's items) except in ``naive`` mode.

The rows are made and read with the LLM assessor's own parts, so an item is prompted,
scored and parsed exactly as ``--engine local`` does it: the prompt template, the generation
options, the answer parser, the quote check, the option probabilities. The rules of the local
engine hold: a remote server needs ``allow_remote`` and then gets redacted transcripts
(redaction on request otherwise); an engine error becomes the item's recorded failure, never
a score, and never a message with transcript text. Differences: the ``per-item`` and
``naive`` modes only (one-pass answers are one row per session and need the local engine),
and an unreadable answer is recorded as a parse failure at once (the local engine re-asks).

A session's items travel together (the dataset keeps its order), and the driver puts each
session together once its last item is back, then writes it through the output as the local
engine does.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from care.assessors.ray_engine import (
    RayRunReport,
    SessionFailure,
    configure_data,
    connect,
    failure_reason,
)
from care.assessors.ray_llm_items import (
    ENGINE_FAILURE,
    RetryingSession,
    cached_assessor,
    http_payload,
    model_id,
    rated_json,
    rated_row,
    vllm_request,
)
from care.assessors.run import RunCounts, Sink
from care.data.io.native import session_to_record
from care.data.io.ray_dataset import ray_module, session_dataset, sessions_of_rows
from care.data.io.stream import SessionSource, plan_sources
from care.errors import DataError, ParameterError, Problem
from care.identity import ResultKey
from care.results import Evidence, ItemRating, SessionAssessment

PROCESSOR_PROVIDERS = ("openai", "vllm")
REQUEST_CPUS = 0.25
"""CPUs reserved by the actors that make item rows and send requests (light work)."""


def processor_kind(spec: str | None) -> str | None:
    """``"http"`` for ``openai/...``, ``"vllm"`` for ``vllm/...``, else None (such models run
    in the actor pool of :mod:`care.assessors.ray_engine`)."""
    if not spec or "/" not in spec:
        return None
    provider = spec.split("/", 1)[0]
    return {"openai": "http", "vllm": "vllm"}.get(provider)


# -------------------------------------------------------------------- rows of items
class ItemRows:
    """A Ray Data actor: turns input rows into one row per item to ask (prompt messages and
    the session as prompted, for the quote check), leaving out finished sessions; problems,
    failures and sessions finished under another key go to the :class:`Notes` actor."""

    def __init__(
        self,
        spec: str,
        options: dict[str, Any],
        finished: Any,
        sources: dict[str, SessionSource],
        read_options: dict[str, Any],
        notes: Any,
    ) -> None:
        ray = ray_module()
        self.spec = spec
        self.options = options
        self.finished = ray.get(finished) if isinstance(finished, ray.ObjectRef) else finished
        self.sources = sources
        self.read_options = read_options
        self.notes = notes

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        assessor = cached_assessor(self.spec, self.options)
        out: dict[str, list[Any]] = {"session_id": [], "item_id": [], "n_items": [], "task": []}
        notes: list[tuple[str, str, Any]] = []
        wanted = assessor.wanted_items()
        instrument = assessor.instrument_
        for session, problems in sessions_of_rows(
            batch.to_pylist(), self.sources, **self.read_options
        ):
            if problems:
                notes.extend(("problem", "", problem.__dict__) for problem in problems)
                continue
            if session is None:
                continue
            try:
                key = assessor.result_key(session)
                if session.id in self.finished:
                    notes.append(("skipped", session.id, key.as_dict()))
                    continue
                prompted, redactions = assessor.client.prepare(session)
                language = assessor.session_language(session)
                template = assessor.template(language)
                tasks = [
                    {
                        "messages": template.item_messages(
                            prompted, instrument, item_id, assessor.answer_format
                        ),
                        "language": language,
                        "version": key.version,
                        "redactions": redactions,
                        "session": session_to_record(prompted),
                    }
                    for item_id in wanted
                ]
            except Exception as error:
                notes.append(("failure", session.id, failure_reason(error)))
                continue
            for item_id, task in zip(wanted, tasks, strict=True):
                out["session_id"].append(session.id)
                out["item_id"].append(item_id)
                out["n_items"].append(len(wanted))
                out["task"].append(json.dumps(task, ensure_ascii=False))
        if notes:
            self.notes.add.remote(notes)
        return out


def _notes_class() -> Any:
    ray = ray_module()

    @ray.remote(num_cpus=0)
    class Notes:
        """What the item-row workers found besides items, collected for the driver."""

        def __init__(self) -> None:
            self.notes: list[tuple[str, str, Any]] = []

        def add(self, notes: list[tuple[str, str, Any]]) -> None:
            self.notes.extend(notes)

        def take(self) -> list[tuple[str, str, Any]]:
            taken, self.notes = self.notes, []
            return taken

    return Notes


# ---------------------------------------------------------------------- the driver
def _assemble(
    assessor: Any, session_id: str, rows: list[dict[str, Any]], key: ResultKey
) -> SessionAssessment:
    """The session's assessment from its rated items, as the LLM assessor builds it."""
    items: dict[str, ItemRating] = {}
    infos: dict[str, dict[str, Any]] = {}
    task = json.loads(rows[0]["task"])
    for row in rows:
        if not row.get("rated"):
            # The engine stage failed on this row (vLLM's should_continue_on_error): its
            # message may quote the prompt, so only the fact is recorded.
            failed = ItemRating(
                session_id,
                row["item_id"],
                None,
                error="engine error: the engine failed on this item (re-running retries it)",
            )
            row = {**row, "rated": rated_json(failed, ENGINE_FAILURE)}
        rated = json.loads(row["rated"])
        rating = rated["rating"]
        rating["evidence"] = [Evidence(**piece) for piece in rating["evidence"]]
        items[row["item_id"]] = ItemRating(**rating)
        infos[row["item_id"]] = rated["info"]
    wanted = assessor.wanted_items()
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
    for info in infos.values():
        for name, count in (info.get("usage") or {}).items():
            usage[name] = usage.get(name, 0) + count
    return SessionAssessment(
        session_id=session_id,
        instrument=key.instrument,
        model=key.model,
        model_version=key.version,
        items={item_id: items[item_id] for item_id in wanted},
        language=task["language"],
        meta={
            "mode": assessor.mode,
            "prompt_version": key.version,
            "expected_scores": {
                item_id: infos[item_id]["expected"]
                for item_id in wanted
                if infos[item_id].get("expected") is not None
            },
            "item_status": {item_id: infos[item_id]["status"] for item_id in wanted},
            "usage": usage,
            "redacted": assessor.redacts,
            "redactions": task["redactions"],
        },
    )


def _processor(
    kind: str,
    spec: str,
    options: dict[str, Any],
    *,
    workers: int,
    batch_size: int,
    tensor_parallel_size: int,
    engine_options: dict[str, Any] | None,
) -> Any:
    from ray.data.llm import (
        HttpRequestProcessorConfig,
        build_processor,
        vLLMEngineProcessorConfig,
    )

    assessor = cached_assessor(spec, options)
    postprocess = functools.partial(rated_row, spec, options, kind)
    if kind == "http":
        backend = assessor.backend
        base_url = (backend.config.base_url or "https://api.openai.com/v1").rstrip("/")
        key = backend.config.api_key or os.environ.get("OPENAI_API_KEY")
        config = HttpRequestProcessorConfig(
            url=f"{base_url}/chat/completions",
            headers={"Authorization": f"Bearer {key}"} if key else None,
            concurrency=workers,
            batch_size=batch_size,
            max_retries=0,  # RetryingSession retries, without raising the prompt
            # Waiting on a server takes little CPU; whole CPUs for it could leave none for
            # the rest of the pipeline on a small cluster.
            http_request_stage={"num_cpus": REQUEST_CPUS},
            session_factory=functools.partial(
                RetryingSession, assessor.max_retries, assessor.retry_backoff, 600.0
            ),
        )
        preprocess = functools.partial(http_payload, spec, options)
    else:
        engine = {
            "tensor_parallel_size": tensor_parallel_size,
            "enable_prefix_caching": assessor.mode != "naive",
            **(engine_options or {}),
        }
        config = vLLMEngineProcessorConfig(
            model_source=model_id(spec),
            engine_kwargs=engine,
            concurrency=workers,
            batch_size=batch_size,
            should_continue_on_error=True,
        )
        preprocess = functools.partial(vllm_request, spec, options)
    return build_processor(config, preprocess=preprocess, postprocess=postprocess)


def run_llm_on_ray(
    inputs: Sequence[str | Path],
    *,
    spec: str,
    options: dict[str, Any] | None = None,
    sink: Sink | None = None,
    finished: dict[str, ResultKey] | None = None,
    address: str | None = None,
    workers: int | None = None,
    batch_size: int = 16,
    tensor_parallel_size: int = 1,
    engine_options: dict[str, Any] | None = None,
    read_options: dict[str, Any] | None = None,
    counts: RunCounts | None = None,
    report: RayRunReport | None = None,
    on_progress: Callable[[RunCounts], None] | None = None,
) -> Iterator[SessionAssessment]:
    """Assess the sessions of ``inputs`` with a language model through a ``ray.data.llm``
    processor (see the module docstring); the arguments are those of
    :func:`~care.assessors.ray_engine.run_on_ray`, plus:

    Args:
        workers: Concurrent HTTP requests (``openai/...``), or vLLM replicas
            (``vllm/...``); default 1 vLLM replica, 4 requests.
        batch_size: Items per processor batch.
        tensor_parallel_size: GPUs per vLLM replica.
        engine_options: More vLLM engine arguments (e.g. ``max_model_len``).

    Raises:
        ParameterError: The mode is one-pass, or a remote server was not allowed.
    """
    kind = processor_kind(spec)
    if kind is None:
        raise ParameterError(
            f"{spec} does not run on Ray Data's LLM processors",
            field="--model",
            fix="use openai/MODEL with --base-url, or vllm/MODEL",
        )
    ray = ray_module()
    options = dict(options or {})
    assessor = cached_assessor(spec, options)
    if assessor.mode == "one-pass":
        raise ParameterError(
            "--engine ray runs the per-item and naive modes (one row per item)",
            field="--mode",
            fix="use --mode per-item, or --engine local for one-pass",
        )
    if kind == "http":
        assessor.client.check()  # the remote gate, before any work
    read_options = dict(read_options or {})
    sources = plan_sources(
        inputs, format=read_options.pop("format", None), encoding=read_options.get("encoding")
    )
    started = connect(address, None)
    counts = counts if counts is not None else RunCounts()
    report = report if report is not None else RayRunReport()
    try:
        configure_data(ray)
        notes = _notes_class().remote()
        parsed = {
            "language": read_options.pop("language", None),
            "encoding": read_options.pop("encoding", None),
            "merge_consecutive": read_options.pop("merge_consecutive", False),
            "options": read_options,
        }
        items = session_dataset(sources).map_batches(
            ItemRows,
            batch_size=8,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=REQUEST_CPUS,
            fn_constructor_kwargs={
                "spec": spec,
                "options": options,
                "finished": ray.put(dict(finished or {})),
                "sources": {str(source.path): source for source in sources},
                "read_options": parsed,
                "notes": notes,
            },
        )
        processor = _processor(
            kind,
            spec,
            options,
            workers=workers or (1 if kind == "vllm" else 4),
            batch_size=batch_size,
            tensor_parallel_size=tensor_parallel_size,
            engine_options=engine_options,
        )
        pending: dict[str, list[dict[str, Any]]] = {}
        for batch in processor(items).iter_batches(batch_size=None, batch_format="pyarrow"):
            _take_notes(ray.get(notes.take.remote()), sink, counts, report, on_progress)
            for row in batch.to_pylist():
                rows = pending.setdefault(row["session_id"], [])
                rows.append(row)
                if len(rows) < row["n_items"]:
                    continue
                del pending[row["session_id"]]
                key = ResultKey(
                    assessor.instrument_.id, assessor.model_name, json.loads(row["task"])["version"]
                )
                assessment = _assemble(assessor, row["session_id"], rows, key)
                if sink is not None:
                    sink.write(assessment.to_record())
                counts.assessed += 1
                if on_progress is not None:
                    on_progress(counts)
                yield assessment
        _take_notes(ray.get(notes.take.remote()), sink, counts, report, on_progress)
    finally:
        if started:
            ray.shutdown()


def _take_notes(
    notes: list[tuple[str, str, Any]],
    sink: Sink | None,
    counts: RunCounts,
    report: RayRunReport,
    on_progress: Callable[[RunCounts], None] | None,
) -> None:
    for kind, session_id, payload in notes:
        if kind == "problem":
            report.problems.append(Problem(**payload))
        elif kind == "failure":
            report.failures.append(SessionFailure(session_id, payload))
        elif kind == "skipped":
            if sink is None or not sink.is_finished(session_id, ResultKey(**payload)):
                raise DataError(  # pragma: no cover - the workers skip only what the sink holds
                    f"session '{session_id}' was skipped but is not in the output",
                    fix="re-run the command",
                )
            counts.skipped += 1
            if on_progress is not None:
                on_progress(counts)
