"""The batch engines' shared loop, and the local engine: every row of a file becomes a decision
or a profile.

A classifier's rows go by blocks (:mod:`api.decisions.blocks`): one TreeSHAP call explains a
block -- in a worker process that also words and composes it (:mod:`api.batch.workers`), here
in a second thread while the block before is written, or on a Spark executor
(:mod:`api.batch.spark`) -- and each row is then decided by the HTTP path's own functions,
validated, explained exactly, sealed under the person's key, logged and chained by the one
group-commit writer. The recommender and rules go through :func:`api.decisions.
service.create_decision`, a profile model through :func:`api.profiles.service.prepare_profile`
and the writer. A chunk of rows is submitted together, so the writer commits them in few
transactions.

What each row became is appended to ``DIR/results.jsonl`` (its notice and the link the
application gives the person, or why it was refused), flushed to disk after every chunk. The
record's id is derived from the file's fingerprint and the row's key
(:func:`api.batch.files.record_id`), so a run is idempotent and resumable:

* a row with a line in ``results.jsonl`` is done, and skipped;
* a row whose record is in the database but has no line (a crash between the commit and the
  line) gets its line from the stored record, with a fresh link -- it is not recorded twice;
* any other row is computed and recorded.

``DIR/batch.json`` names the file, its fingerprint, the model and the engine: a directory holds
the results of one batch, and another file is refused there.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
from pydantic import ValidationError

from api.batch.files import BatchFile, BatchFileError, BatchRow, record_id
from api.batch.workers import ComposerPool
from api.context import AppContext
from api.core.errors import ProblemError
from api.core.security import Principal
from api.decisions.blocks import (
    BlockExplainer,
    Composed,
    Explained,
    compose_block,
    finish_block,
    submit_composed,
)
from api.decisions.reading import find_decisions
from api.decisions.runtime import ServedModel
from api.decisions.schemas import DecisionCreate, LegalBasis
from api.decisions.service import create_decision, get_decision, paused_check
from api.profiles.records import ProfileRecord
from api.profiles.schemas import ProfileCreate
from api.profiles.service import (
    existing_profiles,
    finish_profile,
    objected_pseudonyms,
    prepare_profile,
    recorded_profile,
)
from api.subjects.links import issue_link

__all__ = ["MANIFEST", "RESULTS", "BatchSummary", "Engine", "run_batch", "run_local_batch"]

RESULTS = "results.jsonl"
MANIFEST = "batch.json"
Engine = Literal["local", "spark"]
Progress = Callable[[int], None]
# A results line as json.dumps wrote it: numpy numbers as numbers, anything else as its text.
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
_T = TypeVar("_T")


@dataclass
class BatchSummary:
    """What a run did.

    Attributes
    ----------
    rows : int
        Rows in the file.
    recorded : int
        Rows recorded by this run.
    recovered : int
        Rows found recorded by an earlier run without their result line: the line was written
        from the stored record.
    refused : int
        Rows the service refused (bad features, an objection, an erased person); each has its
        reason in ``results.jsonl``.
    skipped : int
        Rows an earlier run finished.
    stopped : bool
        The run stopped at ``limit`` before the end of the file.
    seconds : float
        Wall time of the run.
    """

    rows: int
    recorded: int = 0
    recovered: int = 0
    refused: int = 0
    skipped: int = 0
    stopped: bool = False
    seconds: float = 0.0
    engine: str = "local"
    model: str = ""
    model_version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        """Rows recorded (or recovered) per second of this run."""
        done = self.recorded + self.recovered + self.refused
        return done / self.seconds if self.seconds > 0 else 0.0


def _read_done(path: Path) -> set[str]:
    """The row keys with a complete line; a line cut short by a crash is dropped."""
    if not path.exists():
        return set()
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1
    if end != len(raw):
        # The tail after the last newline is a line a crash cut: its row is done again.
        with path.open("r+b") as handle:
            handle.truncate(end)
    done = set()
    for line in raw[:end].splitlines():
        done.add(str(json.loads(line)["row"]))
    return done


def _check_manifest(out_dir: Path, batch: BatchFile, served: ServedModel, engine: str) -> None:
    manifest = out_dir / MANIFEST
    mine = {
        "input": str(batch.path),
        "sha256": batch.sha256,
        "model": served.name,
        "engine": engine,
        "key_column": batch.key_column,
        "subject_column": batch.subject_column,
    }
    if manifest.exists():
        theirs = json.loads(manifest.read_text(encoding="utf-8"))
        if (theirs.get("sha256"), theirs.get("model")) != (batch.sha256, served.name):
            raise BatchFileError(
                f"{out_dir} holds the results of another batch ({theirs.get('model')} on "
                f"{theirs.get('input')}); give each batch its own --out"
            )
        return
    manifest.write_text(json.dumps(mine, indent=2) + "\n", encoding="utf-8")


def _chunks(rows: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _refused(row: BatchRow, record: str, exc: ProblemError) -> dict[str, Any]:
    return {
        "row": row.key,
        "id": record,
        "status": "refused",
        "problem": exc.type_.rsplit("/", 1)[-1],
        "detail": exc.detail,
        "errors": [{"field": e.field, "message": e.message} for e in exc.errors or []],
    }


def _invalid(row: BatchRow, record: str, exc: ValidationError) -> dict[str, Any]:
    return {
        "row": row.key,
        "id": record,
        "status": "refused",
        "problem": "invalid-request",
        "detail": "the row does not make a valid request",
        "errors": [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ],
    }


def _profile_line(row: BatchRow, body: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "row": row.key,
        "id": body["id"],
        "status": status,
        "kind": body["kind"],
        "outcome": body["outcome"],
        "value": body["value"],
        "notice": body["notice"]["text"],
        "link": body["notice"]["link"],
    }


def _profile_chunk(
    context: AppContext,
    served: ServedModel,
    rows: Sequence[tuple[BatchRow, str]],
    *,
    principal: Principal,
    locale: Literal["en", "es"],
) -> list[tuple[dict[str, Any], str]]:
    with context.sessions() as session:
        stored = existing_profiles(session, profile_ids=[r for _, r in rows])
    lines: list[tuple[dict[str, Any], str]] = []
    pending: list[tuple[BatchRow, ProfileRecord, Any]] = []
    # One query for the chunk's objections instead of one per row.
    objected = objected_pseudonyms(
        context, subject_refs=[row.subject_ref for row, _ in rows], principal=principal
    )
    for row, record in rows:
        try:
            if record in stored:
                body = recorded_profile(context, profile_id=record, principal=principal)
                if body is None:
                    raise BatchFileError(f"record {record} belongs to another application")
                lines.append((_profile_line(row, body, "recorded"), "recovered"))
                continue
            request = ProfileCreate(
                subject_ref=row.subject_ref, features=row.features, locale=locale
            )
            prepared = prepare_profile(
                context,
                served=served,
                request=request,
                principal=principal,
                profile_id=record,
                objected=objected,
            )
        except ProblemError as exc:
            lines.append((_refused(row, record, exc), "refused"))
            continue
        except ValidationError as exc:
            lines.append((_invalid(row, record, exc), "refused"))
            continue
        # Submitted now, waited for below: the writer commits the chunk in few transactions.
        pending.append((row, prepared, context.writer.submit_record(prepared.for_writer())))
    for row, prepared, written in pending:
        try:
            body = finish_profile(context, prepared, written, served.spec)
        except ProblemError as exc:
            lines.append((_refused(row, prepared.profile_id, exc), "refused"))
            continue
        lines.append((_profile_line(row, body, "recorded"), "recorded"))
    return lines


async def _decide(
    context: AppContext,
    served: ServedModel,
    row: BatchRow,
    record: str,
    *,
    principal: Principal,
    locale: Literal["en", "es"],
    legal_basis: LegalBasis,
) -> tuple[dict[str, Any], str]:
    try:
        request = DecisionCreate(
            subject_ref=row.subject_ref,
            features=row.features,
            legal_basis=legal_basis,
            locale=locale,
        )
        result = await create_decision(
            context,
            model_name=served.name,
            request=request,
            principal=principal,
            decision_id=record,
        )
    except ProblemError as exc:
        return _refused(row, record, exc), "refused"
    except ValidationError as exc:
        return _invalid(row, record, exc), "refused"
    body = result.body
    line = {
        "row": row.key,
        "id": body["id"],
        "status": "recorded",
        "kind": "decision",
        "outcome": body["outcome"],
        "score": body["score"],
        "review_required": body["review_required"],
        "notice": body["notice"]["text"],
        "link": body["notice"]["link"],
    }
    return line, "recorded"


def _recovered(
    context: AppContext,
    rows: Sequence[tuple[BatchRow, str]],
    *,
    principal: Principal,
) -> tuple[list[tuple[dict[str, Any], str]], list[tuple[BatchRow, str]]]:
    """The lines of rows an earlier run recorded without writing their line, and the rest."""
    with context.sessions() as session:
        stored = find_decisions(session, decision_ids=[r for _, r in rows])
    lines: list[tuple[dict[str, Any], str]] = []
    fresh = []
    for row, record in rows:
        if record not in stored:
            fresh.append((row, record))
            continue
        try:
            body = get_decision(context, decision_id=record, principal=principal)
            link = issue_link(
                context, principal=principal, subject_ref=row.subject_ref, decision_id=record
            )
        except ProblemError as exc:  # erased since, or another application's record
            lines.append((_refused(row, record, exc), "refused"))
            continue
        lines.append(
            (
                {
                    "row": row.key,
                    "id": record,
                    "status": "recorded",
                    "kind": "decision",
                    "outcome": body["outcome"],
                    "score": body["score"],
                    "review_required": body["review_required"],
                    "notice": body["notice"]["text"],
                    "link": link["link"],
                },
                "recovered",
            )
        )
    return lines, fresh


def _decision_chunk(
    context: AppContext,
    served: ServedModel,
    rows: Sequence[tuple[BatchRow, str]],
    *,
    principal: Principal,
    locale: Literal["en", "es"],
    legal_basis: LegalBasis,
) -> list[tuple[dict[str, Any], str]]:
    # The recommender and rules: each row through create_decision, as over HTTP.
    lines, fresh = _recovered(context, rows, principal=principal)

    async def decide_all() -> list[tuple[dict[str, Any], str]]:
        return list(
            await asyncio.gather(
                *(
                    _decide(
                        context,
                        served,
                        row,
                        record,
                        principal=principal,
                        locale=locale,
                        legal_basis=legal_basis,
                    )
                    for row, record in fresh
                )
            )
        )

    return lines + (asyncio.run(decide_all()) if fresh else [])


Lines = list[tuple[dict[str, Any], str]]


def _ready(lines: Lines) -> Callable[[], Lines]:
    return lambda: lines


def _block_chunk(
    context: AppContext,
    served: ServedModel,
    rows: Sequence[tuple[BatchRow, str]],
    *,
    given: Mapping[str, Explained | Composed],
    explainer: BlockExplainer,
    principal: Principal,
    locale: Literal["en", "es"],
    legal_basis: LegalBasis,
) -> Callable[[], Lines]:
    """A classifier's chunk by the block path: each row recorded as over HTTP.

    A row comes composed by a worker process, or explained (a Spark executor), or bare: the
    bare ones are explained here in one explainer call and composed here. A row composed under
    another oversight mode than the one now in force is composed again.

    The rows are handed to the writer now; the function returned waits for the writer and
    gives the chunk's lines, so the caller composes the next chunk meanwhile.
    """
    lines, fresh = _recovered(context, rows, principal=principal)
    oversight = paused_check(context, served)
    ready: dict[str, Composed] = {}
    valid: list[tuple[BatchRow, str, DecisionCreate]] = []
    for row, record in fresh:
        item = given.get(row.key)
        if isinstance(item, Composed) and item.human_only == oversight.human_only:
            ready[row.key] = item
            continue
        try:
            request = DecisionCreate(
                subject_ref=row.subject_ref,
                features=row.features,
                legal_basis=legal_basis,
                locale=locale,
            )
        except ValidationError as exc:
            lines.append((_invalid(row, record, exc), "refused"))
            continue
        valid.append((row, record, request))
    if not valid and not ready:
        return _ready(lines)
    explained = {k: v for k, v in given.items() if not isinstance(v, Composed)}
    missing = [request.features for row, _, request in valid if row.key not in explained]
    computed = iter(explainer.explain(missing))
    composed = iter(
        compose_block(
            served,
            settings=context.settings,
            requests=[request for _, _, request in valid],
            explained=[
                explained[row.key] if row.key in explained else next(computed)
                for row, _, _ in valid
            ],
            decision_ids=[record for _, record, _ in valid],
            principal=principal,
            human_only=oversight.human_only,
        )
    )
    # The worker-composed rows first, then the ones composed here, in the file's order each.
    decided_rows = [(row, record) for row, record in fresh if row.key in ready]
    handed: list[Composed | ProblemError] = [ready[row.key] for row, _ in decided_rows]
    decided_rows += [(row, record) for row, record, _ in valid]
    handed += composed
    submitted = submit_composed(context, served, handed)

    def finish() -> Lines:
        decided = finish_block(context, submitted)
        for (row, record), outcome in zip(decided_rows, decided, strict=True):
            if isinstance(outcome, ProblemError):
                lines.append((_refused(row, record, outcome), "refused"))
                continue
            row_ = outcome.record.row
            lines.append(
                (
                    {
                        "row": row.key,
                        "id": record,
                        "status": "recorded",
                        "kind": "decision",
                        "outcome": row_["outcome"],
                        "score": row_["score"],
                        "review_required": row_["review_required"],
                        "notice": outcome.record.notice["text"],
                        "link": outcome.link,
                    },
                    "recorded",
                )
            )
        return lines

    return finish


def _start_chunk(
    context: AppContext,
    served: ServedModel,
    todo: Sequence[tuple[BatchRow, str]],
    *,
    given: Mapping[str, Explained | Composed],
    explainer: BlockExplainer | None,
    principal: Principal,
    locale: Literal["en", "es"],
    legal_basis: LegalBasis,
) -> Callable[[], Lines]:
    """Start recording a chunk's rows by the model's path; what is returned gives its lines."""
    if served.is_profile:
        return _ready(_profile_chunk(context, served, todo, principal=principal, locale=locale))
    if explainer is not None:
        return _block_chunk(
            context,
            served,
            todo,
            given=given,
            explainer=explainer,
            principal=principal,
            locale=locale,
            legal_basis=legal_basis,
        )
    return _ready(
        _decision_chunk(
            context, served, todo, principal=principal, locale=locale, legal_basis=legal_basis
        )
    )


def _has_block_path(served: ServedModel) -> bool:
    """Whether a model's rows go by blocks: a classifier's (not a profile, recommender or rules)."""
    return not (served.is_profile or served.is_recommender or served.is_rules)


def _local_rows(
    context: AppContext,
    served: ServedModel,
    batch: BatchFile,
    done: set[str],
    size: int,
    *,
    workers: ComposerPool | None,
) -> Iterator[tuple[BatchRow, Explained | Composed | None]]:
    """The file's rows, a classifier's composed by worker processes or explained ahead.

    With ``workers``, each block of rows is composed in a worker process, a few blocks ahead
    of the one being written (:mod:`api.batch.workers`). Without, the next block is explained
    in a second thread while this one is composed, sealed and written: TreeSHAP's compiled
    kernel lets go of the GIL (``numba.njit(nogil=True)``).
    """
    rows = batch.rows(served.spec)
    if not _has_block_path(served):
        yield from ((row, None) for row in rows)
        return
    if workers is not None:
        yield from _composed_rows(context, served, batch, rows, done, size, workers)
        return
    explainer = BlockExplainer.of(served)

    def explain(block: list[BatchRow]) -> list[tuple[BatchRow, Explained | Composed | None]]:
        todo = [row for row in block if row.key not in done]
        explained = dict(
            zip(
                (row.key for row in todo),
                explainer.explain([row.features for row in todo]),
                strict=True,
            )
        )
        return [(row, explained.get(row.key)) for row in block]

    with ThreadPoolExecutor(1, thread_name_prefix="glassbox-batch-explain") as ahead:
        pending: Future[list[tuple[BatchRow, Explained | Composed | None]]] | None = None
        for block in _chunks(rows, size):
            following = ahead.submit(explain, block)
            if pending is not None:
                yield from pending.result()
            pending = following
        if pending is not None:
            yield from pending.result()


def _composed_rows(
    context: AppContext,
    served: ServedModel,
    batch: BatchFile,
    rows: Iterator[BatchRow],
    done: set[str],
    size: int,
    workers: ComposerPool,
) -> Iterator[tuple[BatchRow, Composed | None]]:
    """The file's rows, each block composed by a worker; as many blocks ahead as workers."""
    pending: deque[tuple[list[BatchRow], list[BatchRow], AsyncResult[list[Composed | None]]]]
    pending = deque()

    def joined() -> Iterator[tuple[BatchRow, Composed | None]]:
        block, todo, result = pending.popleft()
        composed = dict(zip((row.key for row in todo), result.get(), strict=True))
        return ((row, composed.get(row.key)) for row in block)

    for block in _chunks(rows, size):
        todo = [row for row in block if row.key not in done]
        tasks = [
            (row.subject_ref, row.features, record_id(batch.sha256, served.name, row.key))
            for row in todo
        ]
        # The mode in force now; a block written under another one is composed again.
        human_only = context.oversight.mode(served.name).human_only
        pending.append((block, todo, workers.submit(tasks, human_only=human_only)))
        if len(pending) > workers.processes:
            yield from joined()
    while pending:
        yield from joined()


def run_local_batch(
    context: AppContext,
    *,
    model_name: str,
    batch: BatchFile,
    out_dir: Path,
    principal: Principal,
    locale: Literal["en", "es"] = "en",
    legal_basis: LegalBasis = "none",
    chunk_size: int = 256,
    limit: int | None = None,
    progress: Progress | None = None,
    processes: int | None = None,
) -> BatchSummary:
    """Score a whole file with the local engine, idempotently and resumably.

    Parameters
    ----------
    context : AppContext
        A running service context (its writer started) serving ``model_name``.
    model_name : str
        A decision model or a profile model.
    batch : BatchFile
        The rows (:func:`api.batch.files.read_batch_file`).
    out_dir : Path
        Where ``results.jsonl`` and ``batch.json`` are written; created if missing.
    principal : Principal
        The application the batch is run for: the people are pseudonymised in its scope, and
        only it reads the records back, as over HTTP.
    locale : {"en", "es"}
        The language of the notices and explanations.
    legal_basis : str
        Decisions only: the Art. 22(2) basis, as a request's ``legal_basis``.
    chunk_size : int
        Rows submitted to the writer together.
    limit : int, optional
        Stop after this many rows not done before (a run in parts; a test's crash point).
    progress : callable, optional
        Called with the number of rows finished after each chunk.
    processes : int, optional
        A classifier's worker processes (:mod:`api.batch.workers`); 0 keeps everything in this
        process. By default one per core but one: the core left is this process's, which
        hands the rows to the writer, seals and commits them, and writes the lines.

    Returns
    -------
    BatchSummary
        What the run did.

    Raises
    ------
    api.decisions.runtime.ModelNotServedError
        The model is not served.
    BatchFileError
        ``out_dir`` holds another batch's results.
    """
    served = context.models.get(model_name)
    if processes is None:
        processes = len(os.sched_getaffinity(0)) - 1
    with contextlib.ExitStack() as stack:
        workers = (
            stack.enter_context(
                ComposerPool(
                    served,
                    processes=processes,
                    settings=context.settings,
                    principal=principal,
                    locale=locale,
                    legal_basis=legal_basis,
                )
            )
            if _has_block_path(served) and processes > 0
            else None
        )
        summary = run_batch(
            context,
            served=served,
            batch=batch,
            out_dir=out_dir,
            principal=principal,
            engine="local",
            stream=lambda done: _local_rows(
                context, served, batch, done, chunk_size, workers=workers
            ),
            locale=locale,
            legal_basis=legal_basis,
            chunk_size=chunk_size,
            limit=limit,
            progress=progress,
        )
    summary.extra["processes"] = processes if workers is not None else 0
    return summary


def run_batch(
    context: AppContext,
    *,
    served: ServedModel,
    batch: BatchFile,
    out_dir: Path,
    principal: Principal,
    engine: Engine,
    stream: Callable[[set[str]], Iterator[tuple[BatchRow, Explained | Composed | None]]],
    locale: Literal["en", "es"] = "en",
    legal_basis: LegalBasis = "none",
    chunk_size: int = 256,
    limit: int | None = None,
    progress: Progress | None = None,
) -> BatchSummary:
    """Record the rows an engine streams, idempotently and resumably, through the one writer.

    The part both engines share: ``stream`` is called with the keys of the rows already done
    and yields every row of the file, each with its explanation when the engine computed it (a
    Spark executor) or None (explained here, a block at a time). Parameters and result as
    :func:`run_local_batch`.
    """
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(out_dir, batch, served, engine)
    results = out_dir / RESULTS
    done = _read_done(results)
    summary = BatchSummary(
        rows=len(batch), engine=engine, model=served.name, model_version=served.version
    )
    block = BlockExplainer.of(served) if _has_block_path(served) else None
    budget = limit
    # One chunk in flight: the next chunk is composed (and explained, a chunk further ahead)
    # while the writer seals and commits this one. Its lines are written once it is
    # acknowledged, in chunk order, so a line on disk still means a committed row.
    in_flight: tuple[Callable[[], Lines], int] | None = None
    frozen = False
    # A chunk's lines go to the file in one write, flushed and synced once it is acknowledged.
    with results.open("ab", buffering=1 << 20) as out:

        def finish(chunk: tuple[Callable[[], Lines], int]) -> None:
            wait, size = chunk
            lines = wait()
            if lines:
                for line, how in lines:
                    out.write(orjson.dumps(line, default=str, option=_JSON_OPTIONS))
                    setattr(summary, how, getattr(summary, how) + 1)
                # A line on disk is a row done: after a crash, only rows without one are redone.
                out.flush()
                os.fsync(out.fileno())
            if progress is not None:
                progress(size)

        try:
            for pairs in _chunks(stream(done), chunk_size):
                if not frozen:
                    # The file's rows and all that was loaded before them live for the whole
                    # run: left out of the collector's passes, which otherwise walk them again
                    # and again as each block's records come and go (a third of the writing
                    # process's CPU at 100,000 rows). Cycles made from here on are collected.
                    gc.freeze()
                    frozen = True
                chunk = [row for row, _ in pairs]
                todo = [(row, record_id(batch.sha256, served.name, row.key)) for row in chunk]
                todo = [(row, record) for row, record in todo if row.key not in done]
                summary.skipped += len(chunk) - len(todo)
                if budget is not None:
                    if budget <= 0 and todo:
                        summary.stopped = True
                        break
                    todo = todo[:budget]
                    budget -= len(todo)
                wait = (
                    _start_chunk(
                        context,
                        served,
                        todo,
                        given={row.key: item for row, item in pairs if item is not None},
                        explainer=block,
                        principal=principal,
                        locale=locale,
                        legal_basis=legal_basis,
                    )
                    if todo
                    else _ready([])
                )
                previous, in_flight = in_flight, (wait, len(chunk))
                if previous is not None:
                    finish(previous)
        finally:
            # Also when a chunk fails: the one before it is committed, and gets its lines.
            try:
                if in_flight is not None:
                    finish(in_flight)
            finally:
                if frozen:
                    gc.unfreeze()
    summary.seconds = time.perf_counter() - started
    if budget is not None and budget <= 0:
        done_now = summary.skipped + summary.recorded + summary.recovered + summary.refused
        summary.stopped = done_now < summary.rows
    (out_dir / "summary.json").write_text(
        json.dumps({**asdict(summary), "per_second": summary.per_second}, indent=2) + "\n",
        encoding="utf-8",
    )
    return summary
