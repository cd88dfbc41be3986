#!/usr/bin/env python
"""Benchmark of the periodic report on the figures of one million decisions.

The report reads aggregates, never decisions: the monitoring figures (per model, version and
day), the review cases and the actuals. So this writes the aggregate rows of one million fraud
decisions over a period of 30 days directly -- outcomes, the score's histogram, every feature's
cells on the spec's bins, |SHAP| sums and the fairness groups and their intersections -- and as
many again for the previous 30 days (drift compares with them; one feature drifts on purpose),
plus 10,000 contests (1 %) resolved by 20 reviewers, then times each step of the report as
``glassbox report`` runs it: build, canonical JSON, sign and log, HTML, PDF.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/report.py [--decisions 1000000] [--out DIR]
        [--database-url URL]

Without ``--database-url`` it works on a temporary SQLite file. ``--out`` keeps the report's
files (report.json, report.html, report.pdf). A benchmark, not a test: it prints the figures and
exits 0 unless something breaks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from api.core.database import create_db_engine, create_session_factory, migrate  # noqa: E402
from api.decisions.models import Decision  # noqa: E402
from api.decisions.runtime import ModelRegistry  # noqa: E402
from api.monitoring.figures import GROUP_SEPARATOR  # noqa: E402
from api.monitoring.models import MonitoringFigure  # noqa: E402
from api.reports.render import render_html, render_pdf  # noqa: E402
from api.reports.service import build_report, record_report, report_bytes  # noqa: E402
from api.reviews.health import ReviewPolicy  # noqa: E402
from api.reviews.models import ReviewCase  # noqa: E402
from models.monitoring import SCORE_BINS, spec_bins  # noqa: E402
from models.spec import default_spec_path, load_spec  # noqa: E402

MODEL, VERSION, DAYS = "fraud", 1, 30
OUTCOMES = {"approve": 0.93, "review": 0.05, "block": 0.02}
REVIEWERS = 20


def _split(rng: np.random.Generator, n: int, shares: list[float]) -> list[int]:
    p = np.asarray(shares, dtype=np.float64)
    return [int(c) for c in rng.multinomial(n, p / p.sum())]


def _figures(rng: np.random.Generator, day: date, n: int, *, drifted: bool) -> list[dict[str, Any]]:
    """One day's figure rows for ``n`` decisions of the fraud model."""
    spec = load_spec(default_spec_path("fraud"))
    rows: list[dict[str, Any]] = []

    def add(kind: str, name: str, value: str, outcome: str, count: int, total: float) -> None:
        if count:
            rows.append(
                {
                    "model_name": MODEL,
                    "model_version": VERSION,
                    "day": day,
                    "kind": kind,
                    "name": name,
                    "value": value,
                    "outcome": outcome,
                    "count": count,
                    "total": total,
                }
            )

    per_outcome = dict(zip(OUTCOMES, _split(rng, n, list(OUTCOMES.values())), strict=True))
    # An outcome's cells are split by the score's bin (its sum beside it), as the writer adds.
    score_shares = [0.55, 0.2, 0.08, 0.05, 0.04, 0.03, 0.02, 0.015, 0.01, 0.005]
    for outcome, count in per_outcome.items():
        for i, c in enumerate(_split(rng, count, score_shares)):
            add("outcome", "", f"{i:02d}", outcome, c, c * (i + 0.5) / SCORE_BINS)
    for k, (name, bins) in enumerate(spec_bins(spec).items()):
        cells = bins.cells()
        # Each feature's distribution is the same every day (its own seed); the first one's
        # turns round in the period reported on: one drift alert, against the previous period.
        shares = list(np.random.default_rng(100 + k).dirichlet(np.full(len(cells), 2.0)))
        if drifted and k == 0:
            shares = shares[::-1]
        # A feature's cells carry the sum of its |SHAP| beside the count.
        for cell, count in zip(cells, _split(rng, n, shares), strict=True):
            add("feature", name, cell, "", count, count * (0.05 + 0.02 * k))
    ages, sexes = ["18-24", "25-34", "35-49", "50-64", "65+"], ["female", "male"]
    for outcome, count in per_outcome.items():
        joint = _split(rng, count, [1.0] * (len(ages) * len(sexes)))
        for i, age in enumerate(ages):
            for j, sex in enumerate(sexes):
                c = joint[i * len(sexes) + j]
                add("group", "age_band", age, outcome, c, 0.0)
                add("group", "sex", sex, outcome, c, 0.0)
                add("group", f"age_band{GROUP_SEPARATOR}sex", f"{age}+{sex}", outcome, c, 0.0)
    # The same group cell reached from several intersections: sum, as the writer's upsert does.
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["kind"], row["name"], row["value"], row["outcome"])
        if key in merged:
            merged[key]["count"] += row["count"]
            merged[key]["total"] += row["total"]
        else:
            merged[key] = row
    return list(merged.values())


def _cases(rng: np.random.Generator, first: date, n: int) -> tuple[list[dict[str, Any]], ...]:
    """``n`` automated decisions of the period, each contested and resolved by a reviewer."""
    decisions, cases = [], []
    for i in range(n):
        at = datetime.combine(first, datetime.min.time(), tzinfo=UTC) + timedelta(
            seconds=int(rng.integers(0, DAYS * 86_400))
        )
        decision_id, case_id = f"{i:016x}{'d' * 16}", f"{i:016x}{'c' * 16}"
        outcome = str(rng.choice(list(OUTCOMES), p=[0.2, 0.3, 0.5]))
        reviewer = int(rng.integers(0, REVIEWERS))
        # Reviewer 0 upholds everything in seconds: the report names them.
        resolution = "uphold" if reviewer == 0 or rng.random() < 0.8 else "overturn"
        seconds = 5 if reviewer == 0 else int(rng.integers(120, 3600))
        decisions.append(
            {
                "decision_id": decision_id,
                "created_at": at,
                "model_name": MODEL,
                "model_version": VERSION,
                "run_id": "bench",
                "policy_version": "bench",
                "explainer_version": "bench",
                "outcome": outcome,
                "score": 0.5,
                "significant": outcome == "block",
                "review_required": False,
                "review_reasons": "[]",
                "legal_basis": "contract",
                "locale": "en",
                "application_key_id": "bench",
                "subject_pseudonym": f"{i:064x}",
                "features_ct": b"-",
                "explanation_ct": b"-",
                "notice_ct": b"-",
                "decided_by": "model",
            }
        )
        claimed = at + timedelta(hours=1)
        cases.append(
            {
                "case_id": case_id,
                "decision_id": decision_id,
                "subject_pseudonym": f"{i:064x}",
                "model_name": MODEL,
                "origin": "contest",
                "state": "resolved",
                "received_at": at,
                "due_at": at + timedelta(days=30),
                "claimed_at": claimed,
                "resolved_at": claimed + timedelta(seconds=seconds),
                "resolution": resolution,
                "outcome": outcome if resolution == "uphold" else "approve",
                "resolved_by": f"reviewer-{reviewer:02d}",
                "human_decision_id": f"{i:016x}{'h' * 16}",
                "rationale_ct": b"-",
                "quality_sample": False,
            }
        )
    return decisions, cases


class _ShippedSpec:
    """The model as the report reads it from the registry -- its spec, its bins, no training
    reference -- from the shipped spec: the benchmark times the report, not loading a model."""

    def __init__(self) -> None:
        spec = load_spec(default_spec_path("fraud"))
        self._served = SimpleNamespace(spec=spec, reference=None, bins=spec_bins(spec))

    def version(self, name: str, version: int) -> Any:
        return self._served

    def get(self, name: str) -> Any:
        return self._served


@contextmanager
def _timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    began = time.perf_counter()
    yield
    timings[label] = time.perf_counter() - began
    print(f"  {label:<34} {timings[label]:8.3f} s", flush=True)


def run(argv: list[str]) -> int:
    """Write the figures, time the report, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--contests", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--lang", choices=("en", "es"), default="en")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(17)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'glassbox.db'}"
        engine = create_db_engine(url)
        migrate(engine)
        sessions = create_session_factory(engine)
        last = date(2026, 11, 30)
        first = last - timedelta(days=DAYS - 1)
        print(
            f"Writing the figures of {args.decisions:,} decisions over {DAYS} days (and of the "
            f"previous {DAYS} days), and {args.contests:,} resolved contests ..."
        )
        per_day = _split(rng, args.decisions, [1.0] * DAYS)
        rows: list[dict[str, Any]] = []
        for d in range(DAYS):
            rows += _figures(rng, first + timedelta(days=d), per_day[d], drifted=True)
            rows += _figures(rng, first - timedelta(days=DAYS - d), per_day[d], drifted=False)
        decisions, cases = _cases(rng, first, args.contests)
        with sessions() as session, session.begin():
            session.execute(insert(MonitoringFigure), rows)
            for start in range(0, len(decisions), 2000):
                session.execute(insert(Decision), decisions[start : start + 2000])
                session.execute(insert(ReviewCase), cases[start : start + 2000])
        print(f"  {len(rows):,} figure rows, {len(cases):,} cases written.")
        key = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        timings: dict[str, float] = {}
        models = cast("ModelRegistry", _ShippedSpec())
        print(f"The report of {MODEL}, {first} to {last}:")
        with _timed("build (figures, actuals, review)", timings), sessions() as session:
            report = build_report(
                session,
                model=MODEL,
                start=first,
                end=last,
                models=models,
                review_policy=ReviewPolicy(),
            )
        with _timed("canonical JSON", timings):
            content = report_bytes(report)
        with _timed("sign and append to the log", timings), sessions() as session:
            stored = record_report(session, content=content, signing_key=key)
        with _timed(f"HTML ({args.lang})", timings):
            page = render_html(report, lang=args.lang, sha256=stored.sha256)
        with _timed("PDF", timings):
            pdf = render_pdf(page)
        with _timed("build again (same bytes?)", timings), sessions() as session:
            again = report_bytes(
                build_report(
                    session,
                    model=MODEL,
                    start=first,
                    end=last,
                    models=models,
                    review_policy=ReviewPolicy(),
                )
            )
        engine.dispose()
    total = sum(v for k, v in timings.items() if not k.startswith("build again"))
    print(f"  {'total':<34} {total:8.3f} s")
    print(
        f"report.json {len(content):,} bytes, same bytes when built again: {again == content}; "
        f"{len(report['alerts'])} alerts: "
        + ", ".join(
            f"{a['kind']} {a.get('feature') or a.get('group') or a.get('reviewer') or ''}".strip()
            for a in report["alerts"]
        )
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_bytes(content)
        (args.out / "report.html").write_text(page, encoding="utf-8")
        (args.out / "report.pdf").write_bytes(pdf)
        print(f"Written to {args.out}.")
    return 0 if again == content else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
