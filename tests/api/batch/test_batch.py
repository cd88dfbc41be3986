"""``glassbox batch``: a generated customer base scored in-process, each row a profile or a
decision recorded as over HTTP, idempotent on a re-run and complete after a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.audit.log import verify_log
from api.audit.models import LogEntry
from api.batch.engine import RESULTS, run_local_batch
from api.batch.files import BatchFileError, read_batch_file
from api.batch.service import application_principal
from api.decisions.errors import ModelPausedError
from api.decisions.models import Decision, OversightMode
from api.decisions.oversight import set_oversight
from api.profiles.models import Profile
from data_fixtures import generate_buyers, generate_customers
from tests.api.conftest import Service, bearer
from tests.conftest import TrainedModels


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]


def _count(service: Service, table: Any) -> int:
    with service.context.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _set_mode(context: Any, mode: OversightMode, *, reason: str) -> None:
    with context.sessions() as session:
        set_oversight(
            session,
            model_name="churn",
            mode=mode,
            reason=reason,
            admin_key_id="admin-test",
            now=datetime.now(UTC),
        )
    context.oversight.refresh()


def _run(service: Service, model: str, path: Path, out: Path, **kwargs: Any) -> Any:
    context = service.context
    served = context.models.get(model)
    return run_local_batch(
        context,
        model_name=model,
        batch=read_batch_file(path, spec=served.spec, key_column=None, subject_column=None),
        out_dir=out,
        principal=application_principal(context, api_key=service.keys["shop"]),
        chunk_size=64,
        **kwargs,
    )


def test_a_profile_batch_resumes_after_a_crash_and_writes_nothing_twice(
    service: Service, tmp_path: Path
) -> None:
    path = tmp_path / "buyers.csv"
    generate_buyers(300, seed=21).to_csv(path, index=False)
    out = tmp_path / "out"

    # A run killed after 150 rows ...
    first = _run(service, "lifetime_value", path, out, limit=150, locale="es")
    assert first.stopped and first.recorded == 150
    # ... whose last 20 rows were committed but never got their line, and whose file ends in
    # a line cut short.
    lines = (out / RESULTS).read_text().splitlines(keepends=True)
    (out / RESULTS).write_text("".join(lines[:130]) + lines[130][:25])

    second = _run(service, "lifetime_value", path, out, locale="es")
    assert not second.stopped
    assert (second.recorded, second.recovered, second.skipped) == (150, 20, 130)
    results = _lines(out)
    assert len(results) == 300 and len({r["row"] for r in results}) == 300
    assert len({r["id"] for r in results}) == 300
    assert _count(service, Profile) == 300
    assert all(r["status"] == "recorded" and r["notice"].startswith("Hemos") for r in results)

    third = _run(service, "lifetime_value", path, out)
    assert (third.recorded, third.recovered, third.skipped) == (0, 0, 300)
    assert _count(service, Profile) == 300
    assert len(_lines(out)) == 300
    with service.context.sessions() as session:
        logged = session.scalar(
            select(func.count()).select_from(LogEntry).where(LogEntry.kind == "profile")
        )
        assert logged == 300
        assert verify_log(session).ok

    # The person's link opens their profile, explained exactly as over HTTP.
    row = results[0]
    token = row["link"].rsplit("&token=", 1)[1]
    listed = service.client.get("/v1/me/profiles", headers=bearer(token)).json()
    assert [p["id"] for p in listed] == [row["id"]]
    over_http = service.client.post(
        "/v1/profiles/lifetime_value",
        json={"subject_ref": "someone-else", "features": listed[0]["data_provided"]},
        headers=service.auth("shop"),
    ).json()
    assert over_http["value"] == listed[0]["value"] == row["value"]
    assert over_http["contributions"] == listed[0]["contributions"]


def test_a_decision_batch_from_parquet_refuses_bad_rows_by_field(
    service: Service, trained: TrainedModels, tmp_path: Path
) -> None:
    frame = generate_customers(80, seed=5)
    frame.loc[3, "logins_30d"] = -4
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path)
    out = tmp_path / "out"
    summary = _run(service, "churn", path, out, legal_basis="contract")
    assert (summary.recorded, summary.refused) == (79, 1)
    results = {r["row"]: r for r in _lines(out)}
    bad = results[frame.loc[3, "customer_id"]]
    assert bad["status"] == "refused"
    assert [e["field"] for e in bad["errors"]] == ["features.logins_30d"]
    assert _count(service, Decision) == 79
    good = results[frame.loc[0, "customer_id"]]
    assert good["kind"] == "decision" and f"/subject/#decision={good['id']}&token=" in good["link"]
    token = good["link"].rsplit("&token=", 1)[1]
    mine = service.client.get(f"/v1/me/decisions/{good['id']}", headers=bearer(token))
    assert mine.status_code == 200 and mine.json()["outcome"] == good["outcome"]

    # A crash after the last ten decisions committed, before their lines were written.
    lines = (out / RESULTS).read_text().splitlines(keepends=True)
    (out / RESULTS).write_text("".join(lines[:70]))
    again = _run(service, "churn", path, out, legal_basis="contract")
    assert (again.recorded, again.recovered, again.skipped) == (0, 10, 70)
    assert _count(service, Decision) == 79
    recovered = {r["row"]: r for r in _lines(out)}
    assert len(recovered) == 80
    assert all(recovered[k]["id"] == results[k]["id"] for k in results)
    assert all(recovered[k].get("notice") == results[k].get("notice") for k in results)


def test_an_objection_refuses_that_person_in_a_batch(service: Service, tmp_path: Path) -> None:
    buyers = generate_buyers(20, seed=3)
    path = tmp_path / "buyers.csv"
    buyers.to_csv(path, index=False)
    first = service.client.post(
        "/v1/profiles/segments",
        json={
            "subject_ref": buyers.loc[0, "customer_id"],
            "features": {
                "sessions_30d": 3,
                "orders_12m": 2,
                "spend_12m": 60.0,
                "days_since_last_order": 40,
                "discount_share_pct": 10.0,
                "courses_enrolled": 1,
            },
        },
        headers=service.auth("shop"),
    ).json()
    token = first["notice"]["subject_token"]
    assert service.client.post("/v1/me/objection", headers=bearer(token)).status_code == 201
    summary = _run(service, "segments", path, tmp_path / "out")
    assert (summary.recorded, summary.refused) == (19, 1)
    refused = next(r for r in _lines(tmp_path / "out") if r["status"] == "refused")
    assert refused["row"] == buyers.loc[0, "customer_id"]
    assert refused["problem"] == "profiling-objected"


def test_one_folder_holds_one_batch(service: Service, tmp_path: Path) -> None:
    for seed in (1, 2):
        generate_buyers(10, seed=seed).to_csv(tmp_path / f"b{seed}.csv", index=False)
    _run(service, "segments", tmp_path / "b1.csv", tmp_path / "out")
    with pytest.raises(BatchFileError, match="another batch"):
        _run(service, "segments", tmp_path / "b2.csv", tmp_path / "out")


def test_a_batch_stopped_midway_has_a_line_for_every_row_it_committed(
    service: Service, tmp_path: Path
) -> None:
    # The next chunk is composed while the writer commits this one: when the batch stops (an
    # admin pauses the model, AI Act Art. 14(4)(e)), the chunk already handed to the writer is
    # committed and its lines are written before the error reaches the caller.
    path = tmp_path / "customers.csv"
    generate_customers(300, seed=9).to_csv(path, index=False)
    out = tmp_path / "out"
    context = service.context
    calls: list[int] = []

    def pause_after_the_first_chunk(rows: int) -> None:
        calls.append(rows)
        if len(calls) == 1:
            _set_mode(context, OversightMode.PAUSED, reason="batch test")

    with pytest.raises(ModelPausedError):
        _run(
            service,
            "churn",
            path,
            out,
            legal_basis="contract",
            progress=pause_after_the_first_chunk,
        )
    lines = _lines(out)
    assert calls == [64, 64] and len(lines) == 128
    assert _count(service, Decision) == 128
    assert all(line["status"] == "recorded" for line in lines)

    _set_mode(context, OversightMode.AUTOMATED, reason="batch test done")
    again = _run(service, "churn", path, out, legal_basis="contract")
    assert (again.recorded, again.recovered, again.skipped) == (172, 0, 128)
    assert _count(service, Decision) == 300
    assert len({line["id"] for line in _lines(out)}) == 300


def _decision_lines(out: Path) -> dict[str, dict[str, Any]]:
    return {line["row"]: line for line in _lines(out)}


def test_worker_processes_record_what_this_process_records(
    service: Service, tmp_path: Path
) -> None:
    # The same people scored twice, composed here and then in two worker processes: each
    # row's outcome, score, notice and stored explanation are the same.
    frame = generate_customers(150, seed=13)
    frame.loc[7, "logins_30d"] = -4
    here, there = tmp_path / "here.csv", tmp_path / "there.csv"
    frame.to_csv(here, index=False)
    frame.assign(customer_id="w-" + frame["customer_id"].astype(str)).to_csv(there, index=False)
    first = _run(service, "churn", here, tmp_path / "here", legal_basis="contract", processes=0)
    second = _run(service, "churn", there, tmp_path / "there", legal_basis="contract", processes=2)
    assert (first.recorded, first.refused) == (second.recorded, second.refused) == (149, 1)
    assert (first.extra["processes"], second.extra["processes"]) == (0, 2)
    ours, theirs = _decision_lines(tmp_path / "here"), _decision_lines(tmp_path / "there")
    for key, line in ours.items():
        other = theirs[f"w-{key}"]
        if line["status"] == "refused":
            assert other["status"] == "refused" and other["errors"] == line["errors"]
            assert [e["field"] for e in line["errors"]] == ["features.logins_30d"]
            continue
        assert (other["outcome"], other["score"], other["notice"]) == (
            line["outcome"],
            line["score"],
            line["notice"].replace(line["id"], other["id"]),
        )
    key = str(frame.loc[0, "customer_id"])
    read = [
        service.client.get(f"/v1/decisions/{lines[k]['id']}", headers=service.auth("shop")).json()
        for lines, k in ((ours, key), (theirs, f"w-{key}"))
    ]
    for field in ("margin", "base_value", "contributions", "factors", "principal_reasons"):
        assert read[0][field] == read[1][field]
    # The link a worker issued opens the person's own decision.
    theirs_line = theirs[f"w-{key}"]
    token = theirs_line["link"].rsplit("&token=", 1)[1]
    mine = service.client.get(f"/v1/me/decisions/{theirs_line['id']}", headers=bearer(token))
    assert mine.status_code == 200 and mine.json()["outcome"] == theirs_line["outcome"]
    with service.context.sessions() as session:
        assert verify_log(session).ok


def test_rows_composed_ahead_under_an_old_oversight_mode_are_composed_again(
    service: Service, tmp_path: Path
) -> None:
    # Worker processes compose blocks ahead of the writer. An admin who hands the model to
    # humans mid-batch (AI Act Art. 14) holds every row not yet handed to the writer, the
    # ones already composed as automated included.
    path = tmp_path / "customers.csv"
    generate_customers(400, seed=17).to_csv(path, index=False)
    context = service.context
    finished: list[int] = []

    def to_humans_after_the_first_chunk(rows: int) -> None:
        finished.append(rows)
        if len(finished) == 1:
            _set_mode(context, OversightMode.HUMAN_ONLY, reason="batch test")

    try:
        summary = _run(
            service,
            "churn",
            path,
            tmp_path / "out",
            legal_basis="contract",
            processes=2,
            progress=to_humans_after_the_first_chunk,
        )
    finally:
        _set_mode(context, OversightMode.AUTOMATED, reason="batch test done")
    assert summary.recorded == 400
    frame_keys = [str(k) for k in generate_customers(400, seed=17)["customer_id"]]
    lines = _decision_lines(tmp_path / "out")
    held = [lines[k]["review_required"] for k in frame_keys]
    # The first two chunks were handed to the writer before the change; the rest were not.
    assert held[128:] == [True] * (400 - 128)
