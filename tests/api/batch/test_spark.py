"""The Spark engine against the HTTP path: the same decisions, recorded once, resumable."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from api.audit.log import verify_log
from api.batch.engine import RESULTS
from api.batch.files import BatchFileError, read_batch_file
from api.batch.service import application_principal
from api.decisions.models import Decision
from data_fixtures import generate_buyers, generate_customers
from tests.api.conftest import Service, bearer

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark for the test session (a JVM takes seconds to start)."""
    if shutil.which("java") is None:
        pytest.skip("no java: scripts/test installs Debian's openjdk-17-jre-headless as root")
    from api.batch.spark import spark_session

    session = spark_session("local[2]", app_name="glassbox-tests")
    yield session
    session.stop()


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]


def _decisions(service: Service) -> int:
    with service.context.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Decision)) or 0)


def _run(
    service: Service, spark: SparkSession, model: str, path: Path, out: Path, **kwargs: Any
) -> Any:
    from api.batch.spark import run_spark_batch

    context = service.context
    served = context.models.get(model)
    return run_spark_batch(
        context,
        spark,
        model_name=model,
        batch=read_batch_file(path, spec=served.spec, key_column=None, subject_column=None),
        out_dir=out,
        principal=application_principal(context, api_key=service.keys["shop"]),
        chunk_size=16,
        legal_basis="contract",
        **kwargs,
    )


def test_spark_decides_as_http_does_records_once_and_resumes_after_a_crash(
    service: Service, spark: SparkSession, tmp_path: Path
) -> None:
    frame = generate_customers(60, seed=13)
    frame.loc[7, "logins_30d"] = -4
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"

    # A run stopped after 30 rows, whose last 5 were committed but never got their line.
    first = _run(service, spark, "churn", path, out, limit=30)
    assert first.stopped and first.engine == "spark"
    assert first.recorded + first.refused == 30
    lines = (out / RESULTS).read_text().splitlines(keepends=True)
    (out / RESULTS).write_text("".join(lines[:25]) + lines[25][:20])

    second = _run(service, spark, "churn", path, out)
    assert not second.stopped
    assert (second.recovered, second.skipped) == (5, 25)
    results = {r["row"]: r for r in _lines(out)}
    assert len(results) == 60 and len(_lines(out)) == 60
    assert _decisions(service) == 59
    bad = results[frame.loc[7, "customer_id"]]
    assert bad["status"] == "refused"
    assert [e["field"] for e in bad["errors"]] == ["features.logins_30d"]

    # A re-run writes nothing twice.
    third = _run(service, spark, "churn", path, out)
    assert (third.recorded, third.recovered, third.skipped) == (0, 0, 60)
    assert _decisions(service) == 59 and len(_lines(out)) == 60
    with service.context.sessions() as session:
        assert verify_log(session).ok

    # Each person's decision is the one the HTTP path gives for the same features.
    spec = service.context.models.get("churn").spec
    sent = {
        r.key: r.features
        for r in read_batch_file(path, spec=spec, key_column=None, subject_column=None).rows(spec)
    }
    for index in (0, 1, 2):
        key = str(frame.loc[index, "customer_id"])
        row = results[key]
        token = row["link"].rsplit("&token=", 1)[1]
        assert (
            service.client.get(f"/v1/me/decisions/{row['id']}", headers=bearer(token)).status_code
            == 200
        )
        mine = service.client.get(f"/v1/decisions/{row['id']}", headers=service.auth("shop")).json()
        over_http = service.client.post(
            "/v1/decisions/churn",
            json={"subject_ref": f"http-{index}", "features": sent[key], "legal_basis": "contract"},
            headers=service.auth("shop"),
        ).json()
        for name in ("score", "margin", "base_value", "contributions", "factors", "outcome"):
            assert mine[name] == over_http[name], name
        assert mine["explainer_version"] == over_http["explainer_version"]
        assert row["notice"] == mine["notice"]["text"]


def test_spark_refuses_profiles_and_files_without_a_key(
    service: Service, spark: SparkSession, tmp_path: Path
) -> None:
    buyers = tmp_path / "buyers.csv"
    generate_buyers(5, seed=2).to_csv(buyers, index=False)
    with pytest.raises(BatchFileError, match="local engine"):
        _run(service, spark, "lifetime_value", buyers, tmp_path / "a")
    customers = tmp_path / "customers.csv"
    generate_customers(5, seed=2).drop(columns=["customer_id"]).assign(ref="x").to_csv(
        customers, index=False
    )
    context = service.context
    from api.batch.spark import run_spark_batch

    batch = read_batch_file(
        customers,
        spec=context.models.get("churn").spec,
        key_column=None,
        subject_column="ref",
    )
    with pytest.raises(BatchFileError, match="key column"):
        run_spark_batch(
            context,
            spark,
            model_name="churn",
            batch=batch,
            out_dir=tmp_path / "b",
            principal=application_principal(context, api_key=service.keys["shop"]),
        )
