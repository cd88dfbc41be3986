"""Units a spec may write as a plain string, and which of those read the same in both languages.

A spec's ``unit`` is either a string or a :class:`models.spec.Unit` with both languages. A string
is taken to be English: the units of the shipped specs get their Spanish form and singular here;
symbols (``%``, ``km``, ``h``) and currency codes (``EUR``, ``USD``) read the same in both
languages; any other string is shown as written, and training warns that it has no Spanish form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

__all__ = ["builtin_unit_forms", "reads_in_both_languages"]

_Locale = Literal["en", "es"]

_BUILTIN: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "days": {"en": ("day", "days"), "es": ("día", "días")},
    "months": {"en": ("month", "months"), "es": ("mes", "meses")},
    "transactions": {"en": ("transaction", "transactions"), "es": ("operación", "operaciones")},
    "logins": {"en": ("login", "logins"), "es": ("inicio de sesión", "inicios de sesión")},
    "tickets": {"en": ("ticket", "tickets"), "es": ("solicitud", "solicitudes")},
    "courses": {"en": ("course", "courses"), "es": ("curso", "cursos")},
    "failures": {"en": ("failure", "failures"), "es": ("fallo", "fallos")},
    "completions": {"en": ("completion", "completions"), "es": ("finalización", "finalizaciones")},
    "share": {"en": ("share", "share"), "es": ("proporción", "proporción")},
    "visits": {"en": ("visit", "visits"), "es": ("visita", "visitas")},
    "learners": {"en": ("learner", "learners"), "es": ("alumno", "alumnos")},
    "× usual": {"en": ("× usual", "× usual"), "es": ("× lo habitual", "× lo habitual")},
}

# International symbols, written the same in English and Spanish.
_SYMBOLS = frozenset(
    {"%", "‰", "h", "min", "s", "ms", "km", "m", "cm", "mm", "kg", "g", "mg", "l", "ml"}
    | {"km/h", "m²", "km²", "°C", "kW", "kWh", "W", "KB", "MB", "GB", "TB", "€", "$", "£"}
)
# ISO 4217 currency codes (EUR, USD, GBP ...).
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def builtin_unit_forms(unit: str, locale: _Locale) -> tuple[str, str] | None:
    """``(singular, plural)`` of a built-in unit in ``locale``, or ``None`` if it is not one."""
    forms = _BUILTIN.get(unit)
    return None if forms is None else forms[locale]


def reads_in_both_languages(unit: str) -> bool:
    """Whether a plain-string unit is understood in Spanish too (built in, a symbol or a code)."""
    return unit in _BUILTIN or unit in _SYMBOLS or bool(_CURRENCY.match(unit))
