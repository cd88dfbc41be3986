"""The OpenAPI document says what is sent: every error of every operation is a problem."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.core.errors import PROBLEM_MEDIA_TYPE

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_is_documented_as_problem_json_with_its_schema(app: FastAPI) -> None:
    document = app.openapi()
    operations = _operations(document)
    assert len(operations) > 20
    for name, operation in operations:
        responses = operation["responses"]
        assert {"400", "500"} <= set(responses), name
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), name
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, name
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM}}, (
                    f"{name} {status}"
                )
    schemas = document["components"]["schemas"]
    assert {"Problem", "FieldProblem"} <= set(schemas)
    assert "HTTPValidationError" not in schemas
    assert app.openapi() is document, "built once"


def test_request_fields_document_what_they_refuse(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    subject_ref = schemas["DecisionCreate"]["properties"]["subject_ref"]
    assert subject_ref["maxLength"] == 256 and "pattern" in subject_ref
    assert "pattern" in schemas["ExtensionCreate"]["properties"]["reason"]
    assert "pattern" in schemas["HistoryEventCreate"]["properties"]["event"]
