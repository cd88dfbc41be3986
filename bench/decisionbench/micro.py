"""Child mode ``decisions.py _micro``: the service timed in-process, with no HTTP in front.

1. TreeSHAP per row (the explainer the service builds, and shap's own routine for reference);
2. the pieces of the hot path that are the service's own functions, one decision at a time
   (parse, validate, encode, explain, main factors, and composing the record);
3. ``create_decision`` itself inside the real app's lifespan (the same engine, migrations, models
   and group-commit writer as the server, on a database of its own) at 1, 8 and 32 concurrent
   requests, then 8 again after ``gc.freeze()``, with the service's own timers of what it did
   before handing the record to the writer and what it waited for after.

This module calls the service's functions and never composes a decision itself: a copy of the
composition (row, notice, contest URL, sealing, log entry) drifted from the service once
already. It is the one module of the bench that imports them, so that they are re-pointed here
when they move. What the service does between the pieces of 2 and the writer has no function of
its own to time; it is reported as the rest of ``create_decision``'s compute.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from api.context import AppContext
from api.core.security import Principal, Role
from api.core.settings import Settings, get_settings
from api.decisions.integrity import row_mac_key
from api.decisions.records import compose_decision
from api.decisions.runtime import ModelRegistry, ServedModel
from api.decisions.schemas import DecisionCreate
from api.decisions.service import create_decision, score_request
from api.decisions.validation import validate_features
from api.main import create_app
from explain import TreeExplainer, main_factors
from explain._tree import _Kernel

from .common import CONNECTIONS, Json, percentiles
from .procs import thread_cpu_seconds

__all__ = ["PIECES", "main"]

PIECES = (
    "parse request (pydantic)",
    "validate features",
    "encode row",
    "TreeSHAP explain",
    "main factors",
    "compose the record",
)
_COMPOSE = PIECES[-1]
# The thread the service's group-commit writer runs in (api.audit.writer.LogWriter).
WRITER_THREAD = "glassbox-log-writer"
_PSEUDONYM = "0" * 64
_PRINCIPAL = Principal(
    key_id="bench",
    name="bench",
    role=Role.APPLICATION,
    application="bench",
    pseudonym_scope="app:bench",
)


def _treeshap(served: ServedModel, encoded: list[np.ndarray], warm: int) -> Json:
    """The explainer alone on many different rows after warm-up, by one and by 8, and shap's own
    TreeSHAP routine (its C extension, called directly), which the per-leaf tables replace."""
    explainer = TreeExplainer(served.model, served.spec.feature_names)
    for row in encoded[:warm]:
        explainer.explain(row)
    wall, cpu = time.perf_counter(), time.process_time()
    for row in encoded:
        explainer.explain(row)
    result: Json = {
        "rows": len(encoded),
        "wall_us_per_row": (time.perf_counter() - wall) / len(encoded) * 1e6,
        "cpu_us_per_row": (time.process_time() - cpu) / len(encoded) * 1e6,
        "trees": int(getattr(served.model.steps[-1][1], "n_iter_", 0)),
    }
    batch = np.vstack(encoded)
    wall = time.perf_counter()
    for start in range(0, len(encoded), CONNECTIONS):
        explainer.explain_batch(batch[start : start + CONNECTIONS])
    result["batch8_wall_us_per_row"] = (time.perf_counter() - wall) / len(encoded) * 1e6
    reference = _Kernel.of(explainer._shap)
    if reference is not None:
        rows = [row.reshape(1, -1) for row in encoded]
        for one in rows[:warm]:
            reference.values(one)
        cpu = time.process_time()
        for one in rows:
            reference.values(one)
        result["shap_routine_cpu_us_per_row"] = (time.process_time() - cpu) / len(rows) * 1e6
    return result


def _pieces(
    served: ServedModel, bodies: list[str], warm: int, settings: Settings
) -> dict[str, float]:
    """Microseconds per decision of each of :data:`PIECES`, one decision at a time.

    The last piece is :func:`api.decisions.records.compose_decision` (outcome, notice, contest
    URL, frozen fields, row MAC) on the service's own scoring of the same request, which is not
    timed again.
    """
    spec = served.spec
    totals: Counter[str] = Counter()
    mac_key = row_mac_key(settings.key_encryption_key.get_secret_value())

    def one(body: str) -> None:
        marks = [time.perf_counter_ns()]
        request = DecisionCreate.model_validate_json(body)
        marks.append(time.perf_counter_ns())
        clean = validate_features(spec, request.features)
        marks.append(time.perf_counter_ns())
        row = served.encoder.encode_row(clean)
        marks.append(time.perf_counter_ns())
        explanation = served.explainer.explain(row)
        marks.append(time.perf_counter_ns())
        # As the service keeps them, dictionaries (the body and the sealed explanation hold them).
        [
            f.to_dict()
            for f in main_factors(explanation, spec, locale=request.locale, raw_values=clean)
        ]
        marks.append(time.perf_counter_ns())
        for label, (a, b) in zip(PIECES, itertools.pairwise(marks), strict=False):
            totals[label] += b - a
        scored = score_request(served, request, objected=False)
        started = time.perf_counter_ns()
        compose_decision(
            served,
            scored,
            request=request,
            subject_pseudonym=_PSEUDONYM,
            application_key_id=_PRINCIPAL.key_id,
            public_url=settings.public_url,
            mac_key=mac_key,
        )
        totals[_COMPOSE] += time.perf_counter_ns() - started

    for body in bodies[:warm]:
        one(body)
    totals.clear()
    for body in bodies:
        one(body)
    return {label: totals[label] / len(bodies) / 1000 for label in PIECES}


@dataclass
class _Samples:
    """What one run of the sweep records per decision, and the garbage collector's pauses."""

    latencies: list[float] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)
    log_wait: list[float] = field(default_factory=list)
    pauses: list[tuple[int, float]] = field(default_factory=list)  # (generation, seconds)
    _gc_started: list[float] = field(default_factory=list)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started.append(time.perf_counter())
        elif self._gc_started:
            self.pauses.append((info["generation"], time.perf_counter() - self._gc_started.pop()))

    def clear(self) -> None:
        for samples in (self.latencies, self.compute, self.log_wait, self.pauses):
            samples.clear()


async def _drive(
    context: AppContext,
    bodies: list[str],
    samples: _Samples,
    *,
    n: int,
    concurrency: int,
    offset: int,
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def decide(body: str) -> None:
        async with gate:
            started = time.perf_counter()
            result = await create_decision(
                context,
                model_name="fraud",
                request=DecisionCreate.model_validate_json(body),
                principal=_PRINCIPAL,
            )
            samples.latencies.append(time.perf_counter() - started)
            samples.compute.append(result.compute_seconds)
            samples.log_wait.append(result.log_seconds)

    await asyncio.gather(*(decide(bodies[(offset + i) % len(bodies)]) for i in range(n)))


def _mean_ms(values: list[float]) -> float | None:
    return sum(values) / len(values) * 1e3 if values else None


async def _sweep(settings: Settings, bodies: list[str], *, decisions: int, warm: int) -> list[Json]:
    """``create_decision`` through the app's own lifespan, at several concurrencies."""
    app = create_app(settings)
    samples = _Samples()
    runs: list[Json] = []
    async with app.router.lifespan_context(app):
        context: AppContext = app.state.context
        writer = context.writer
        writer_tid = next(
            t.native_id
            for t in threading.enumerate()
            if t.name == WRITER_THREAD and t.native_id is not None
        )
        await _drive(context, bodies, samples, n=warm, concurrency=CONNECTIONS, offset=0)
        offset = warm
        gc.callbacks.append(samples.on_gc)
        # The last run repeats 8 concurrent after gc.freeze(): what the start-up objects cost
        # the collector (the server could freeze them once its models are loaded).
        for concurrency, freeze in (
            (1, False),
            (CONNECTIONS, False),
            (32, False),
            (CONNECTIONS, True),
        ):
            if freeze:  # last, so it runs on the largest database of the four
                gc.collect()
                gc.freeze()
            n = decisions // 2 if concurrency == 1 else decisions
            samples.clear()
            before = writer.stats
            wall, cpu = time.perf_counter(), time.process_time()
            main_cpu, writer_cpu = time.thread_time(), thread_cpu_seconds(writer_tid)
            await _drive(context, bodies, samples, n=n, concurrency=concurrency, offset=offset)
            offset += n
            elapsed = time.perf_counter() - wall
            cpu_s = time.process_time() - cpu
            after = writer.stats
            batches = after.batches - before.batches
            pauses = samples.pauses
            runs.append(
                {
                    "decisions": n,
                    "concurrency": concurrency,
                    "per_s": n / elapsed,
                    "cores_busy": cpu_s / elapsed,
                    "cpu_ms_per_decision": cpu_s / n * 1e3,
                    "event_loop_thread_cpu_ms_per_decision": (time.thread_time() - main_cpu)
                    / n
                    * 1e3,
                    "writer_thread_cpu_ms_per_decision": (
                        thread_cpu_seconds(writer_tid) - writer_cpu
                    )
                    / n
                    * 1e3,
                    # The service's own timers (DecisionResult): until the record is handed to
                    # the writer, and from then until it is committed (token and body included).
                    "compute_ms_per_decision": _mean_ms(samples.compute),
                    "log_wait_ms_per_decision": _mean_ms(samples.log_wait),
                    "writer_batches": batches,
                    "mean_batch": (after.entries - before.entries) / batches if batches else None,
                    "gc_frozen": freeze,
                    "latency_ms": percentiles(samples.latencies),
                    "gc_gen2_collections": sum(1 for g, _ in pauses if g == 2),
                    "gc_gen2_max_ms": max((d for g, d in pauses if g == 2), default=0.0) * 1e3,
                    "gc_total_ms": sum(d for _, d in pauses) * 1e3,
                    "gc_tracked_objects": len(gc.get_objects()),
                }
            )
        gc.callbacks.remove(samples.on_gc)
    return runs


def _fit(sweep: list[Json]) -> Json:
    """cpu(b) = per_decision + per_batch / b, fitted on the smallest and largest mean batch."""
    low, high = sweep[0], sweep[2]
    if not (low["mean_batch"] and high["mean_batch"] and high["mean_batch"] > low["mean_batch"]):
        return {}
    per_batch = (low["cpu_ms_per_decision"] - high["cpu_ms_per_decision"]) / (
        1 / low["mean_batch"] - 1 / high["mean_batch"]
    )
    return {
        "per_batch_ms": per_batch,
        "per_decision_ms": low["cpu_ms_per_decision"] - per_batch / low["mean_batch"],
    }


def main(argv: Sequence[str]) -> None:
    """TreeSHAP per decision, the hot path's pieces, and ``create_decision`` whole; prints JSON."""
    parser = argparse.ArgumentParser(prog="decisions.py _micro")
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--decisions", type=int, default=3000)
    ns = parser.parse_args(argv)
    settings = get_settings()
    served = ModelRegistry(settings.mlflow_tracking_uri).reload("fraud")
    bodies = [line for line in ns.bodies.read_text().splitlines() if line][: ns.rows]
    encoded = [
        served.encoder.encode_row(
            validate_features(served.spec, DecisionCreate.model_validate_json(b).features)
        )
        for b in bodies
    ]
    warm = min(500, len(encoded) // 5)
    treeshap = _treeshap(served, encoded, warm)
    pieces = _pieces(served, bodies, warm, settings)
    sweep = asyncio.run(_sweep(settings, bodies, decisions=ns.decisions, warm=warm))
    print(
        json.dumps(
            {
                "treeshap": treeshap,
                "pieces_us": pieces,
                "create_decision": next(run for run in sweep if run["concurrency"] == CONNECTIONS),
                "create_decision_sweep": sweep,
                "cpu_fit": _fit(sweep),
            }
        )
    )
