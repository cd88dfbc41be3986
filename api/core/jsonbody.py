"""Parsing a request's JSON body -- one parser for the routes and the decision fast lane.

JSON objects with a repeated key are refused: RFC 8259 §4 leaves their meaning to the parser,
and the parsers in use disagree (the standard library and orjson keep the last value, others
the first). ``{"amount": 12, "amount": 12000}`` must not be decided on a value the application
did not mean, nor pass a gateway's check on one value and be scored on the other.

Otherwise the standard library's rules apply, as for any FastAPI body: ``NaN`` and
``Infinity`` are read (and refused by the schema, naming the field) and integers have no size
limit (the schema's types bound them, see :mod:`api.core.inputs`).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DuplicateKeyError", "loads"]


class DuplicateKeyError(ValueError):
    """A JSON object in the body has the same key twice.

    Attributes
    ----------
    field : str
        The dotted path of the first repeated key (``features.amount``, ``history.2.event``).
    """

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"the key {field} appears more than once")


class _RepeatedKeyError(Exception):
    """Raised inside the parser; the path is worked out afterwards, on the rare refusal."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RepeatedKeyError
    return obj


class _Pairs(list[tuple[str, Any]]):
    """An object as its list of pairs, repeats kept (to find where the repeat is)."""


def _first_repeat(node: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, _ in node:
            if key in seen:
                return (*path, key)
            seen.add(key)
        children: list[tuple[str, Any]] = list(node)
    elif isinstance(node, list):
        children = [(str(index), value) for index, value in enumerate(node)]
    else:
        return None
    for key, value in children:
        found = _first_repeat(value, (*path, key))
        if found is not None:
            return found
    return None


def loads(body: bytes | str) -> Any:
    """Parse a JSON document, refusing objects with a repeated key.

    Parameters
    ----------
    body : bytes or str
        The document (UTF-8, -16 or -32 when bytes, as :func:`json.loads` reads it).

    Returns
    -------
    Any
        The parsed value.

    Raises
    ------
    json.JSONDecodeError
        The document is not JSON.
    DuplicateKeyError
        An object repeats a key; its path is named.
    """
    try:
        return json.loads(body, object_pairs_hook=_unique)
    except _RepeatedKeyError:
        pass
    where = _first_repeat(json.loads(body, object_pairs_hook=_Pairs), ())
    raise DuplicateKeyError(".".join(where or ("(body)",)))
