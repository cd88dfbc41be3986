"""What a request may carry: the text and number types every request schema is built from.

A value the storage cannot hold must be refused at the edge, naming its field, and never reach
the database or the model: PostgreSQL refuses a NUL character in text (a ``DataError``, which
would surface as a 500), a ``VARCHAR(n)`` refuses text longer than ``n``, a ``BIGINT`` refuses
integers past 64 bits, and a 400-digit integer does not fit a float (``OverflowError``) nor
orjson's encoder. The request schemas (``api/*/schemas.py``) declare their fields with these
types, so each rule is written once; :func:`check_text` and :func:`check_number` apply the
same rules to values checked at run time against a model's spec (features and corrections).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Final

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "NOT_BLANK_PATTERN",
    "NO_NUL_PATTERN",
    "Integer",
    "Text",
    "check_number",
    "check_text",
]

# PostgreSQL BIGINT (and SQLite INTEGER): the widest integer any column holds.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
# JSON Schema (ECMA-262) patterns for OpenAPI, so that clients and fuzzers know the rules; the
# validators below enforce them with messages that say what is wrong.
NO_NUL_PATTERN: Final = r"^[^\u0000]*$"
NOT_BLANK_PATTERN: Final = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def check_text(value: str) -> str | None:
    """Why a text cannot be stored, or None when it can (lengths are the caller's).

    Parameters
    ----------
    value : str
        The text.

    Returns
    -------
    str or None
        The message for the field's problem.
    """
    if "\x00" in value:
        return "must not contain NUL characters"
    return None


def check_number(value: int | float) -> str | None:
    """Why a JSON number cannot be used as a float, or None when it can.

    Parameters
    ----------
    value : int or float
        The number as parsed (Python ints have no size limit).

    Returns
    -------
    str or None
        The message for the field's problem.
    """
    if isinstance(value, int):
        if abs(value) > sys.float_info.max:
            return "must be a finite number within the range of a 64-bit float"
        return None
    if not math.isfinite(value):
        return "must be a finite number"
    return None


def _storable(value: str) -> str:
    problem = check_text(value)
    if problem is not None:
        raise PydanticCustomError("text_unstorable", problem)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("text_blank", "must not be blank")
    return value


@dataclass(frozen=True, slots=True)
class Text(GroupedMetadata):
    """A text field the storage can hold: ``Annotated[str, Text(256)]``.

    No NUL character, ``min_length`` to ``max_length`` characters (within the column's length,
    where it has one) and, unless ``blank``, not only whitespace.

    Parameters
    ----------
    max_length : int
        The longest text accepted.
    min_length : int
        The shortest.
    blank : bool
        Whether a text of only whitespace is accepted (a reference or a reason is not).
    """

    max_length: int
    min_length: int = 1
    blank: bool = False

    def __iter__(self) -> Iterator[object]:
        pattern = NO_NUL_PATTERN if self.blank else NOT_BLANK_PATTERN
        yield Field(
            min_length=self.min_length,
            max_length=self.max_length,
            json_schema_extra={"pattern": pattern},
        )
        yield AfterValidator(_storable)
        if not self.blank:
            yield AfterValidator(_not_blank)


def _number_only(value: object) -> object:
    # pydantic's lax mode reads true as 1 and "5" as 5; JSON Schema's integer is neither (2.0 is).
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# An integer as JSON Schema means it: a number without a fraction (2 or 2.0), not true or "2".
Integer = Annotated[int, BeforeValidator(_number_only)]
