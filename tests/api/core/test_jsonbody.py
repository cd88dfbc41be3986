"""The one JSON parser of request bodies: a repeated key is refused, by its path."""

from __future__ import annotations

import json

import pytest

from api.core.jsonbody import DuplicateKeyError, loads


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('{"a": 1, "a": 2}', "a"),
        ('{"features": {"amount": 1, "hour": 2, "amount": 3}}', "features.amount"),
        ('{"history": [{"event": "view"}, {"event": "view", "event": "rate"}]}', "history.1.event"),
        ('[{"x": {"y": 1, "y": 1}}]', "0.x.y"),
    ],
)
def test_a_repeated_key_is_refused_by_its_path(document: str, field: str) -> None:
    with pytest.raises(DuplicateKeyError) as caught:
        loads(document.encode())
    assert caught.value.field == field


def test_everything_else_reads_as_the_standard_library_reads_it() -> None:
    document = '{"a": [1, 2.5, "x", null, true], "b": {"a": 1}, "big": 1' + "0" * 400 + "}"
    assert loads(document.encode()) == json.loads(document)
    nan = loads(b'{"x": NaN}')["x"]
    assert nan != nan
    with pytest.raises(json.JSONDecodeError):
        loads(b'{"a": ')
