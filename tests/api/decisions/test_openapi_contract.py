"""The OpenAPI contract, fuzzed on every route: no input gives a 5xx, and every response -- its
status, content type, headers and body -- matches the document.

Every request carries a credential its route admits (an API key of the route's role, or the
subject token of a real decision for ``/v1/me``), so that the fuzzing reaches the handlers and
the storage behind them; path identifiers are drawn from real decisions and cases as well as
generated ones. Bodies and parameters are generated both to fit the schema and not to.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import Service
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

# Which key each part of the API answers to; the access matrix is tested elsewhere.
_ROLE_BY_PREFIX = {
    "/v1/decisions": "shop",
    "/v1/admin": "admin",
    "/v1/reviews": "reviewer",
    "/v1/audit": "auditor",
    "/metrics": "auditor",
}
_SERVED = ["fraud", "churn", "recommendation", "unknown-model"]
# Per operation and generation mode: small, so that both databases take about a minute.
_EXAMPLES = 12


def _operations(service: Service) -> list[APIOperation[Any, Any, Any, Any]]:
    # In production the document is for API keys only (any role).
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", service.client.app, headers=service.auth("auditor")
    )
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document is invalid: {result}"
        operations.append(result.ok())
    assert len(operations) > 20, "the schema lists too few operations"
    return operations


def _known_ids(service: Service, trained: TrainedModels) -> tuple[str, str, str]:
    """A decision (its id and subject token) and a case opened on it by a contest."""
    risky, _ = fraud_rows(trained)
    body = {"subject_ref": "fuzzed", "features": risky, "legal_basis": "contract"}
    created = service.client.post("/v1/decisions/fraud", json=body, headers=service.auth("shop"))
    assert created.status_code == 201, created.text
    decision = created.json()
    token = decision["notice"]["subject_token"]
    contested = service.client.post(
        f"/v1/me/decisions/{decision['id']}/contest",
        json={"statement": "That was not me."},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert contested.status_code == 201, contested.text
    return decision["id"], token, contested.json()["case_id"]


def _aimed(strategy: st.SearchStrategy[Case[Any]], choices: dict[str, list[str]]) -> Any:
    """Cases whose path parameters are, half of the time, real ones (so handlers are reached)."""
    if not choices:
        return strategy

    def pick(case: Case[Any], use: bool, picks: dict[str, str]) -> Case[Any]:
        if use:
            case.path_parameters = {**(case.path_parameters or {}), **picks}
        return case

    picks = st.fixed_dictionaries(
        {name: st.sampled_from(values) for name, values in choices.items()}
    )
    return st.builds(pick, strategy, st.booleans(), picks)


def _can_be_wrong(operation: APIOperation[Any, Any, Any, Any]) -> bool:
    definition: dict[str, Any] = operation.definition.raw
    return bool(
        definition.get("parameters") or "requestBody" in definition or definition.get("security")
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gives_a_server_error_and_responses_match_the_schema(
    service: Service, trained: TrainedModels, mode: GenerationMode
) -> None:
    decision_id, token, case_id = _known_ids(service, trained)
    choices_by_name = {
        "model_name": _SERVED,
        "name": _SERVED,
        "decision_id": [decision_id],
        "case_id": [case_id],
    }
    for operation in _operations(service):
        if operation.path.startswith("/v1/me"):
            headers = {"Authorization": f"Bearer {token}"}
        else:
            who = next(
                (w for prefix, w in _ROLE_BY_PREFIX.items() if operation.path.startswith(prefix)),
                "shop",
            )
            headers = service.auth(who)
        names = {p.name for p in operation.path_parameters}
        choices = {name: values for name, values in choices_by_name.items() if name in names}
        if mode is GenerationMode.NEGATIVE and not _can_be_wrong(operation):
            continue  # a public route without parameters or body has no wrong input to send
        strategy = operation.as_strategy(generation_mode=mode)
        if mode is GenerationMode.POSITIVE:
            # A negative case's wrong path parameter must stay wrong (it is what is tested).
            strategy = _aimed(strategy, choices)

        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=_EXAMPLES,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def check(case: Case[Any]) -> None:
            response = case.call_and_validate(
                headers=headers,  # noqa: B023
                # Features are checked against the served model's spec at run time, which a
                # static schema cannot express per model: a schema-valid body may rightly be
                # refused with a 422 naming the field. Every other check applies.
                excluded_checks=[positive_data_acceptance],
            )
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        check()
