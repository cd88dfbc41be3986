"""The JSON value type the library's dict views are made of."""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["JSONValue", "RawValue"]

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None

# One input value as the application sent it (after JSON parsing): what a person is shown as
# "the data used", never the model's encoded code for it.
RawValue: TypeAlias = str | int | float | bool | None
