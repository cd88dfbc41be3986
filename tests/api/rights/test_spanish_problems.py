"""The person's routes answer their problems in the page's language: ``Accept-Language: es``
gives the title, the detail and every field's message in Spanish, with the same type and the
same field paths as in English."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows
from tests.api.rights.support import decide
from tests.conftest import TrainedModels

NOWHERE = "0" * 32


def _both(service: Service, method: str, path: str, token: str, **kwargs: Any) -> Any:
    """The same request in English (no header) and in Spanish."""
    answers = []
    for extra in ({}, {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}):
        answers.append(
            service.client.request(
                method, f"/v1/me{path}", headers={**bearer(token), **extra}, **kwargs
            )
        )
    return answers


def test_the_persons_problems_come_in_spanish_with_the_same_types_and_fields(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    made = decide(
        service, "fraud", {"subject_ref": "habla-es", "features": safe, "legal_basis": "contract"}
    )
    decision = made.json()
    token = decision["notice"]["subject_token"]
    cases: list[tuple[str, str, str, dict[str, Any], int, str]] = [
        # method, path, token, request, status, a Spanish word of the detail or a message
        (
            "POST",
            f"/decisions/{decision['id']}/contest",
            token,
            {"json": {"statement": "No fui yo", "corrections": {"hour": 25, "amount": "x"}}},
            422,
            "debe ser como máximo 23",
        ),
        (
            "POST",
            f"/decisions/{decision['id']}/rectification",
            token,
            {"json": {"corrections": {"shoe_size": 42}}},
            422,
            "campo desconocido",
        ),
        (
            "POST",
            f"/decisions/{decision['id']}/contest",
            token,
            {"json": {"corrections": {"hour": 3}}},
            422,
            "campo obligatorio",
        ),
        ("POST", "/erasure", token, {}, 422, "confirmar la supresión"),
        ("GET", f"/decisions/{NOWHERE}", token, {}, 404, "No existe la decisión"),
        ("POST", "/objection", "not-a-token", {}, 401, "no es válido o ha caducado"),
    ]
    for method, path, credential, request, status, spanish_word in cases:
        english, spanish = _both(service, method, path, credential, **request)
        en, es = assert_problem(english, status), assert_problem(spanish, status)
        assert es["type"] == en["type"] and es["status"] == en["status"]
        assert [e["field"] for e in es.get("errors") or []] == [
            e["field"] for e in en.get("errors") or []
        ]
        assert es["title"] != en["title"] and es["detail"] != en["detail"], (path, es)
        pairs = zip(es.get("errors") or [], en.get("errors") or [], strict=True)
        for translated, original in pairs:
            assert translated["message"] != original["message"], (path, translated)
        words = " ".join([es["detail"], *(e["message"] for e in es.get("errors") or [])])
        assert spanish_word in words, (path, es)
        assert spanish.headers["content-language"] == "es"
        assert "content-language" not in english.headers
    # Nothing the refused requests asked for was done.
    rights = service.client.get("/v1/me/rights", headers=bearer(token)).json()
    assert rights["requests"] == []
