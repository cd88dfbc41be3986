"""One served version everywhere: a reload, a rollback or a promotion through one worker is what
every worker serves, each change logged with who made it, from which version to which, and why.

Two apps on one database are two workers (or two hosts): each follows the version named in the
database and reports what it serves, and the admin's call answers once all of them serve it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from api.audit.log import read_entries
from api.audit.schemas import EntryKind
from api.core.settings import Settings
from models.registry import Registration, log_training, promote
from tests.api.conftest import Service, assert_problem, serve
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

RELOAD = "/v1/admin/models/fraud/reload"
VERSION = "/v1/admin/models/fraud/version"


@contextmanager
def _moved_alias(trained: TrainedModels) -> Iterator[Registration]:
    """A second fraud version, champion inside the block (the session's first after)."""
    first = trained.registrations["fraud"].version
    assert first is not None
    registered = log_training(
        trained.results["fraud"],
        tracking_uri=trained.tracking_uri,
        data_source="serving-test",
        force_promote=True,
    )
    try:
        yield registered
    finally:
        promote("fraud", first, tracking_uri=trained.tracking_uri)


@pytest.fixture
def second_version(trained: TrainedModels) -> Iterator[Registration]:
    """A second fraud version, champion while the test runs."""
    with _moved_alias(trained) as registered:
        yield registered


def _version_of_decision(service: Service, features: dict[str, Any], subject_ref: str) -> int:
    answer = service.client.post(
        "/v1/decisions/fraud",
        json={"subject_ref": subject_ref, "features": features, "legal_basis": "contract"},
        headers=service.auth("shop"),
    )
    assert answer.status_code == 201, answer.text
    version: int = answer.json()["model"]["version"]
    return version


def _version_entries(service: Service) -> list[dict[str, Any]]:
    with service.context.sessions() as session:
        entries = read_entries(session, limit=10_000)
    return [json.loads(e.body) for e in entries if e.kind == EntryKind.MODEL_VERSION]


def test_a_reload_through_one_worker_is_served_by_every_worker(
    service_settings: Settings, trained: TrainedModels
) -> None:
    first = trained.registrations["fraud"].version
    _, safe = fraud_rows(trained)
    with (
        serve(service_settings) as one,
        serve(service_settings, keys=one.keys) as two,
        _moved_alias(trained) as moved,
    ):
        new = moved.version
        # Both started before the alias moved: both serve the first version.
        assert _version_of_decision(one, safe, "c-1") == first
        assert _version_of_decision(two, safe, "c-2") == first

        reloaded = one.client.post(
            RELOAD, json={"reason": "retrained on November"}, headers=one.auth("admin")
        )
        assert reloaded.status_code == 200, reloaded.text
        body = reloaded.json()
        assert body["version"] == new and body["change"] == "reload"
        # The answer comes once every worker serves it: no decision after it names the old one.
        assert body["everywhere"] is True
        assert len(body["workers"]) == 2
        assert {w["version"] for w in body["workers"]} == {new}
        for i in range(6):
            worker = (one, two)[i % 2]
            assert _version_of_decision(worker, safe, f"c-after-{i}") == new

        # What each worker serves and who named it is readable by an admin, through either.
        read = two.client.get("/v1/admin/models/fraud/serving", headers=two.auth("admin"))
        assert read.status_code == 200
        assert read.json()["set_by"] == body["set_by"] and read.json()["everywhere"] is True

        (entry,) = _version_entries(one)
        assert entry["change"] == "reload" and entry["from"] == first and entry["to"] == new
        assert entry["reason"] == "retrained on November"
        assert entry["set_by"] == body["set_by"]
        verified = one.client.get("/v1/audit/verify", headers=one.auth("auditor"))
        assert verified.json()["ok"] is True


def test_a_rollback_is_served_everywhere_and_by_a_worker_that_starts_later(
    service_settings: Settings, trained: TrainedModels, second_version: Registration
) -> None:
    first = trained.registrations["fraud"].version
    assert first is not None
    new = second_version.version
    _, safe = fraud_rows(trained)
    with (
        serve(service_settings) as one,
        serve(service_settings, keys=one.keys) as two,
    ):
        # Started after the alias moved: both serve the new champion.
        assert _version_of_decision(two, safe, "c-1") == new
        back = two.client.put(
            VERSION,
            json={"version": first, "reason": "too many small payments blocked"},
            headers=two.auth("admin"),
        )
        assert back.status_code == 200, back.text
        assert back.json()["change"] == "rollback" and back.json()["everywhere"] is True
        assert _version_of_decision(one, safe, "c-2") == first
        assert _version_of_decision(two, safe, "c-3") == first
        # A worker started now serves the version named in the database, not the alias's.
        with serve(service_settings, keys=one.keys) as three:
            assert _version_of_decision(three, safe, "c-4") == first

        forward = one.client.put(
            VERSION, json={"version": new, "reason": "fixed"}, headers=one.auth("admin")
        )
        assert forward.json()["change"] == "promotion"
        assert _version_of_decision(two, safe, "c-5") == new
        changes = [(e["change"], e["from"], e["to"]) for e in _version_entries(one)]
        assert changes == [("rollback", new, first), ("promotion", first, new)]


def test_only_an_admin_names_a_version_and_a_bad_one_is_refused_by_field(
    service: Service,
) -> None:
    body = {"version": 1, "reason": "why"}
    assert service.client.put(VERSION, json=body, headers=service.auth("shop")).status_code == 403
    assert service.client.post(RELOAD, headers=service.auth("reviewer")).status_code == 403
    assert service.client.put(VERSION, json=body).status_code == 401
    missing = service.client.put(
        VERSION, json={"version": 999, "reason": "x"}, headers=service.auth("admin")
    )
    assert_problem(missing, 422, "invalid-request")
    assert missing.json()["errors"][0]["field"] == "version"
    no_reason = service.client.put(VERSION, json={"version": 1}, headers=service.auth("admin"))
    assert_problem(no_reason, 422)
    assert any("reason" in e["field"] for e in no_reason.json()["errors"])
    unknown = service.client.put(
        "/v1/admin/models/nosuch/version", json=body, headers=service.auth("admin")
    )
    assert unknown.status_code == 404
    assert _version_entries(service) == []
