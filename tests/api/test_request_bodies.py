"""Every request body, fuzzed from a valid one: whatever a field holds -- a 400-digit integer,
NaN, a NUL, a megabyte of text, a list where a string goes -- the answer is a problem or a
success, never a 5xx, on both databases.

Schemathesis (``tests/api/decisions/test_openapi_contract.py``) generates bodies from the
schema; this starts from bodies that reach the services and storage (a served model's
features, a real case) and breaks one field at a time, deep inside ``features``,
``corrections`` and ``history`` too, where the schema says only "an object".
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis
from hypothesis import strategies as st

from api.core.errors import PROBLEM_MEDIA_TYPE
from tests.api.conftest import Service, bearer
from tests.api.decisions.support import fraud_rows, learner_history
from tests.conftest import TrainedModels

_HUGE = 10**400
_LEAVES = st.one_of(
    st.integers(),
    st.sampled_from([_HUGE, -_HUGE, 2**63, -(2**63) - 1, 2**53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["\x00", "a\x00b", " ", "", "x" * 6000, "é" * 300]),
    st.booleans(),
    st.none(),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


# Put in every field in turn (deepest first) before the random phase: each of these broke, or
# could break, a service or a column -- a float() overflow, a NUL in PostgreSQL text, a BIGINT.
_SWEEP: list[Any] = [
    _HUGE,
    -_HUGE,
    2**63,
    float("nan"),
    float("inf"),
    "\x00",
    " ",
    "x" * 6000,
    [],
    {},
    True,
    None,
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value can be replaced (objects and lists included)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:2]):
            found += _paths(child, (*prefix, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {**document, head: _replace(document.get(head), rest, value)}
    if isinstance(document, list) and isinstance(head, int) and head < len(document):
        copy = list(document)
        copy[head] = _replace(copy[head], rest, value)
        return copy
    return document


def _broken(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    paths = _paths(valid)
    changes = st.lists(st.tuples(st.sampled_from(paths), _VALUES), min_size=1, max_size=3)
    extra = st.dictionaries(st.text(max_size=12), _VALUES, max_size=2)

    def apply(changes: list[tuple[tuple[Any, ...], Any]], added: dict[str, Any]) -> Any:
        document: Any = valid
        for path, value in changes:
            document = _replace(document, path, value)
        return {**document, **added} if isinstance(document, dict) else document

    return st.one_of(st.builds(apply, changes, extra), _VALUES)


def _decide(service: Service, features: dict[str, Any], subject: str) -> dict[str, Any]:
    created = service.client.post(
        "/v1/decisions/fraud",
        json={"subject_ref": subject, "features": features, "legal_basis": "contract"},
        headers=service.auth("shop"),
    )
    assert created.status_code == 201, created.text
    decision: dict[str, Any] = created.json()
    return decision


def _targets(service: Service, trained: TrainedModels) -> list[tuple[str, dict[str, str], Any]]:
    risky, _ = fraud_rows(trained)
    reviewed = _decide(service, risky, "fuzzed-case")
    contest = {"statement": "Not me.", "corrections": {"distance_from_home_km": 3.0}}
    case = service.client.post(
        f"/v1/me/decisions/{reviewed['id']}/contest",
        json=contest,
        headers=bearer(reviewed["notice"]["subject_token"]),
    )
    assert case.status_code == 201, case.text
    # Another decision to contest: a contest is checked before the decision's state (409).
    decision = _decide(service, risky, "fuzzed-contest")
    me = bearer(decision["notice"]["subject_token"])
    cases = f"/v1/reviews/cases/{case.json()['case_id']}"
    history = learner_history(trained)[:4]
    checkpoint = service.client.post("/v1/audit/checkpoints", headers=service.auth("auditor"))
    assert checkpoint.status_code == 201, checkpoint.text
    return [
        (
            "/v1/decisions/fraud",
            service.auth("shop"),
            {"subject_ref": "fz", "features": risky, "legal_basis": "law", "locale": "es"},
        ),
        (
            "/v1/decisions/recommendation",
            service.auth("shop"),
            {"subject_ref": "fz", "history": history, "legal_basis": "none", "max_items": 3},
        ),
        (f"/v1/me/decisions/{decision['id']}/contest", me, contest),
        (f"{cases}/extend", service.auth("reviewer"), {"months": 1, "reason": "The bank."}),
        (
            f"{cases}/resolve",
            service.auth("reviewer"),
            {"resolution": "amend", "outcome": "review", "rationale": "Checked."},
        ),
        ("/v1/audit/checkpoints/verify", service.auth("auditor"), checkpoint.json()),
    ]


def _send(service: Service, path: str, headers: dict[str, str], body: Any) -> None:
    content = json.dumps(body, allow_nan=True).encode()
    response = service.client.post(
        path, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code < 500, (path, content[:300], response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)


def test_no_body_gives_a_server_error(service: Service, trained: TrainedModels) -> None:
    for path, headers, valid in _targets(service, trained):
        for where in sorted(_paths(valid), key=len, reverse=True):
            for value in _SWEEP:
                _send(service, path, headers, _replace(valid, where, value))

        @hypothesis.given(body=_broken(valid))
        @hypothesis.settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def check(body: Any) -> None:
            _send(service, path, headers, body)  # noqa: B023

        check()
