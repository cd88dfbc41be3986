"""The text and number types of every request schema: what the storage cannot hold is refused."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from api.core.inputs import INT64_MAX, INT64_MIN, Integer, Text, check_number, check_text


class _Form(BaseModel):
    name: Annotated[str, Text(8)]
    note: Annotated[str, Text(8, blank=True)] | None = None
    count: Integer = Field(default=0, ge=INT64_MIN, le=INT64_MAX)


def _problems(**data: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        _Form.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


def test_text_refuses_nul_blank_and_overlong_naming_the_field() -> None:
    assert _problems(name="a\x00b") == {"name": "must not contain NUL characters"}
    assert _problems(name="   ") == {"name": "must not be blank"}
    assert "name" in _problems(name="x" * 9)
    assert "name" in _problems(name="")
    assert _problems(name="ok", note="\x00") == {"note": "must not contain NUL characters"}
    assert _Form.model_validate({"name": "ok", "note": "  "}).note == "  "


def test_integers_are_numbers_a_bigint_column_holds() -> None:
    assert _Form.model_validate({"name": "ok", "count": INT64_MAX}).count == INT64_MAX
    assert _Form.model_validate({"name": "ok", "count": 2.0}).count == 2
    assert "count" in _problems(name="ok", count=True)
    assert "count" in _problems(name="ok", count="2")
    assert "count" in _problems(name="ok", count=INT64_MAX + 1)
    assert "count" in _problems(name="ok", count=10**400)


def test_the_schema_documents_the_rules() -> None:
    name = _Form.model_json_schema()["properties"]["name"]
    assert name["maxLength"] == 8 and name["minLength"] == 1
    assert name["pattern"].startswith("^[^\\u0000]*")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (1.5, True),
        (10**300, True),
        (10**400, False),
        (-(10**400), False),
        (float("inf"), False),
        (float("nan"), False),
    ],
)
def test_check_number(value: float, ok: bool) -> None:
    assert (check_number(value) is None) is ok


def test_check_text() -> None:
    assert check_text("café") is None
    assert check_text("caf\x00é") is not None
