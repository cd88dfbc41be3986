"""Texts in both languages the service speaks, shared by model specs and the rules of a spec."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Label", "Locale", "Strict"]

Locale = Literal["en", "es"]


class Strict(BaseModel):
    """A spec section: unknown keys are refused, and it does not change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Strict):
    """A text in both languages the service speaks."""

    en: str = Field(min_length=1)
    es: str = Field(min_length=1)

    def get(self, locale: Locale) -> str:
        return self.es if locale == "es" else self.en
