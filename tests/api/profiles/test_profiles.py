"""Profiles over HTTP, as a real client: built and explained in Spanish, listed on the person's
page and in their export beside their decisions, and refused -- and erased -- once they object."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from api.audit.log import verify_log
from api.audit.models import LogEntry
from tests.api.conftest import Service, assert_problem
from tests.api.rights.support import churn_features, decide, me
from tests.conftest import TrainedModels

PROFILES = ("lifetime_value", "propensity", "segments")


def buyer(trained: TrainedModels, model: str, row: int = 0) -> dict[str, Any]:
    """One fixture buyer's features for ``model``, JSON-ready, as an application sends them."""
    buyers = pd.read_csv(trained.files["lifetime_value"].data).iloc[row]
    spec = trained.results[model].spec  # type: ignore[index]
    features: dict[str, Any] = {}
    for f in spec.features:
        value = buyers[f.name]
        if isinstance(value, float) and math.isnan(value):
            continue
        features[f.name] = (
            bool(value)
            if f.type == "boolean"
            else int(value)
            if f.type == "integer"
            else float(value)
        )
    return features


def profile(
    service: Service,
    trained: TrainedModels,
    model: str,
    ref: str,
    *,
    locale: str = "es",
    row: int = 0,
) -> Any:
    return service.client.post(
        f"/v1/profiles/{model}",
        json={"subject_ref": ref, "features": buyer(trained, model, row), "locale": locale},
        headers=service.auth("shop"),
    )


def test_three_profiles_are_built_and_explained_exactly_in_spanish(
    service: Service, trained: TrainedModels
) -> None:
    bodies = {}
    for model in PROFILES:
        response = profile(service, trained, model, "buyer-ana")
        assert response.status_code == 201, response.text
        bodies[model] = response.json()

    value = bodies["lifetime_value"]
    assert value["kind"] == "lifetime_value" and value["legal_effect"] is False
    # In euros: base value + every contribution is the estimate, to 1e-9.
    assert abs(value["base_value"] + sum(value["contributions"].values()) - value["value"]) <= 1e-9
    assert value["margin"] == value["value"]
    assert value["display_value"].endswith("EUR") and "," in value["display_value"]
    assert value["outcome_label"].startswith("gasto previsto")
    assert all("estimación" in f["sentence"] for f in value["factors"])
    assert value["notice"]["text"].startswith("Hemos estimado")
    assert value["notice"]["link"].startswith(value["notice"]["url"] + "&token=")

    propensity = bodies["propensity"]
    margin = propensity["base_value"] + sum(propensity["contributions"].values())
    assert abs(margin - propensity["margin"]) <= 1e-9
    assert abs(1 / (1 + math.exp(-margin)) - propensity["value"]) <= 1e-12
    assert propensity["outcome"] in {"unlikely", "possible", "likely"}
    assert "compra" in " ".join(f["sentence"] for f in propensity["factors"])

    segment = bodies["segments"]
    assert segment["value"] is None and segment["runner_up"]["segment"] != segment["outcome"]
    assert segment["margin"] >= 0
    assert abs(sum(segment["contributions"].values()) - segment["margin"]) <= 1e-9
    spec = trained.results["segments"].spec
    assert spec.profile is not None
    named = {s.name: s.label.es for s in spec.profile.segments}
    assert segment["outcome_label"] == named[segment["outcome"]]
    assert any("le situó más cerca" in f["sentence"] for f in segment["factors"])

    # Each is in the log, its personal fields sealed there, and the chain still verifies.
    with service.context.sessions() as session:
        entries = session.scalars(select(LogEntry).where(LogEntry.kind == "profile")).all()
        assert len(entries) == 3
        assert all("sealed" in e.body and "buyer-ana" not in e.body for e in entries)
        assert verify_log(session).ok


def test_the_person_reads_their_profiles_and_exports_them_with_their_decisions(
    service: Service, trained: TrainedModels
) -> None:
    churn = decide(
        service,
        "churn",
        {
            "subject_ref": "buyer-bea",
            "features": churn_features(trained),
            "legal_basis": "contract",
        },
    )
    assert churn.status_code == 201, churn.text
    built = [profile(service, trained, model, "buyer-bea").json() for model in PROFILES]
    # Someone else's profile, which Bea must never see.
    assert profile(service, trained, "segments", "buyer-carl", row=5).status_code == 201
    token = built[-1]["notice"]["subject_token"]

    listed = me(service, "GET", "/profiles", token)
    assert listed.status_code == 200, listed.text
    mine = listed.json()
    assert [p["id"] for p in mine] == [p["id"] for p in reversed(built)]
    assert all(p["status"] == "available" for p in mine)
    assert mine[-1]["contributions"] == built[0]["contributions"]
    assert mine[-1]["factors"] == built[0]["factors"]
    assert mine[-1]["data_provided"] == buyer(trained, "lifetime_value")
    assert mine[-1]["notice"]["subject_token"] is None

    export = me(service, "GET", "/export", token)
    assert export.status_code == 200, export.text
    body = export.json()
    assert [d["id"] for d in body["decisions"]] == [churn.json()["id"]]
    assert [p["id"] for p in body["profiles"]] == [p["id"] for p in built]
    assert body["profiles"][0]["explanation"]["link"] == "identity"

    rows = list(csv.DictReader(io.StringIO(me(service, "GET", "/export.csv", token).text)))
    assert [r["decision_id"] for r in rows] == [churn.json()["id"], *(p["id"] for p in built)]
    assert [r["role"] for r in rows[1:]] == ["profile"] * 3
    assert float(rows[1]["score"]) == built[0]["value"]
    assert "estimación" in rows[1]["main_factors"]


def test_an_objection_stops_profiling_and_erases_the_profiles_built(
    service: Service, trained: TrainedModels
) -> None:
    built = profile(service, trained, "lifetime_value", "buyer-dan").json()
    churn = decide(
        service,
        "churn",
        {
            "subject_ref": "buyer-dan",
            "features": churn_features(trained),
            "legal_basis": "contract",
        },
    )
    token = built["notice"]["subject_token"]
    assert me(service, "POST", "/objection", token).status_code == 201

    for model in PROFILES:
        refused = profile(service, trained, model, "buyer-dan")
        problem = assert_problem(refused, 409, "profiling-objected")
        assert "Art. 21" in problem["detail"]
    # The profile already built is erased (its spec says on_objection: erase) ...
    listed = me(service, "GET", "/profiles", token).json()
    assert [(p["id"], p["status"]) for p in listed] == [(built["id"], "erased")]
    assert "contributions" not in listed[0]
    # ... and nothing else: the churn decision is another matter, kept under its own key.
    export = me(service, "GET", "/export", token).json()
    assert export["decisions"][0]["id"] == churn.json()["id"]
    assert export["decisions"][0]["status"] == "available"
    assert export["profiles"][0]["status"] == "erased"
    # Somebody who did not object is still profiled.
    assert profile(service, trained, "lifetime_value", "buyer-eve").status_code == 201
    with service.context.sessions() as session:
        assert verify_log(session).ok


def test_profiles_and_decisions_each_have_their_own_route(
    service: Service, trained: TrainedModels
) -> None:
    wrong = decide(
        service,
        "lifetime_value",
        {"subject_ref": "x", "features": buyer(trained, "lifetime_value"), "legal_basis": "none"},
    )
    assert "/v1/profiles/lifetime_value" in assert_problem(wrong, 409, "profile-model")["detail"]
    response = service.client.post(
        "/v1/profiles/churn",
        json={"subject_ref": "x", "features": churn_features(trained)},
        headers=service.auth("shop"),
    )
    assert_problem(response, 404, "not-a-profile-model")
    assert_problem(
        service.client.post(
            "/v1/profiles/nothing", json={"subject_ref": "x"}, headers=service.auth("shop")
        ),
        404,
        "not-a-profile-model",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"spend_12m": -5}, "features.spend_12m"),
        ({"sessions_30d": "many"}, "features.sessions_30d"),
        ({"religion": "x"}, "features.religion"),
    ],
)
def test_bad_features_are_refused_naming_the_field_and_nothing_is_written(
    service: Service, trained: TrainedModels, change: dict[str, Any], field: str
) -> None:
    features = {**buyer(trained, "segments"), **change}
    response = service.client.post(
        "/v1/profiles/segments",
        json={"subject_ref": "buyer-fay", "features": features},
        headers=service.auth("shop"),
    )
    problem = assert_problem(response, 422)
    assert field in str(problem["errors"])
    with service.context.sessions() as session:
        assert session.scalars(select(LogEntry).where(LogEntry.kind == "profile")).first() is None


def test_only_an_application_builds_profiles(service: Service, trained: TrainedModels) -> None:
    body = {"subject_ref": "x", "features": buyer(trained, "segments")}
    assert_problem(service.client.post("/v1/profiles/segments", json=body), 401)
    assert_problem(
        service.client.post("/v1/profiles/segments", json=body, headers=service.auth("reviewer")),
        403,
    )
