"""Plain-language text in English and Spanish: values as a person reads them, and sentences.

The spec gives each feature a label (a noun phrase such as "transaction amount"), a unit and, for
a category, labels of its values; its policy may say what a higher score means ("a block"), so a
factor "made a block more likely" rather than "raised the score". The sentences here put those
words in a frame. Spanish needs the article's gender and number, which
the spec does not carry, so it is inferred from the label's first word with the usual ending rules
and the common exceptions; every label of the shipped specs is checked in the tests.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Literal, cast

import numpy as np
from numpy.typing import NDArray

from explain._json import RawValue
from models.spec import Feature

__all__ = [
    "Direction",
    "Locale",
    "counterfactual_sentence",
    "decode_value",
    "display_value",
    "factor_sentence",
    "is_missing",
    "json_safe",
    "long_date",
    "raw_value",
    "with_article",
]

Locale = Literal["en", "es"]
Direction = Literal["raises", "lowers"]

_MISSING = {"en": "not provided", "es": "no facilitado"}
_MONTHS: dict[Locale, tuple[str, ...]] = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
}
_YES = {"en": "yes", "es": "sí"}
_NO = {"en": "no", "es": "no"}
_UNRECOGNISED = {"en": "not recognised", "es": "no reconocido"}
# A value the model never saw (or saw too rarely), scored as the feature's "other" bucket.
_AS_OTHER = {"en": "treated as “other”", "es": "tratado como «otro»"}
# The spellings models.encoding accepts, so a value shows as the model read it.
_TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "si", "sí"})
_FALSE_WORDS = frozenset({"0", "false", "no", "n", "f"})

# Labels that already begin with a determiner, or are adjectival phrases ("popular with learners
# like you"), read wrongly with an article in front.
# Written without accents: they are compared with _plain(first word).
_NO_ARTICLE = {
    "en": frozenset(
        {"a", "an", "the", "your", "their", "its", "his", "her", "our", "my", "this", "these"}
        | {"that", "those", "popular", "how", "what", "whether"}
    ),
    "es": frozenset(
        {"el", "la", "los", "las", "un", "una", "unos", "unas", "su", "sus", "mi", "mis", "tu"}
        | {"este", "esta", "estos", "estas", "nuestro", "nuestra", "popular", "como", "que"}
    ),
}
# Spanish nouns whose gender breaks the ending rule below (singular forms, without accents).
_ES_MASCULINE = frozenset(
    {"dia", "mapa", "problema", "tema", "sistema", "programa", "idioma", "clima", "planeta"}
    | {"esquema", "dilema", "analisis", "sofa", "pijama"}
)
_ES_FEMININE = frozenset(
    {"mano", "foto", "moto", "radio", "clave", "llave", "parte", "gente", "noche", "tarde"}
    | {"clase", "fase", "frase", "red", "piel", "vez", "luz", "voz", "ley", "calle", "base"}
    | {"fuente", "muerte", "suerte", "sede", "crisis", "tesis", "dosis", "imagen", "razon"}
)
# Feminine nouns starting with a stressed "a" take "el" in the singular ("el área").
_ES_STRESSED_A = frozenset({"agua", "area", "alma", "arma", "aula", "hambre", "ave", "habla"})
_ES_FEMININE_ENDINGS = ("a", "ion", "dad", "tad", "tud", "umbre", "ie")


@functools.lru_cache(maxsize=4096)
def _plain(word: str) -> str:
    """Lower case without accents, for matching endings ("operación" ends like "operacion")."""
    # Cached: a batch words the same few labels for every row of a file.
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _es_singular(word: str) -> tuple[str, bool]:
    """The singular of a Spanish noun and whether it was plural (good enough to pick an article)."""
    plain = _plain(word)
    # Final stressed vowel + s is singular ("país", "interés"); plurals drop that accent.
    if not word.lower().endswith("s") or word.lower()[-2:] in ("ás", "és", "ís", "ós", "ús"):
        return plain, False
    if plain in {"mes", "gas", "tos", "lunes", "martes"} or plain.endswith("is"):
        return plain, False
    if plain.endswith("es") and plain[-3:-2] in ("n", "d", "l", "r", "z", "j", "y"):
        return plain[:-2], True
    return plain[:-1], True


def _es_article(word: str) -> str:
    singular, plural = _es_singular(word)
    if singular in _ES_MASCULINE:
        feminine = False
    elif singular in _ES_FEMININE:
        feminine = True
    else:
        feminine = singular.endswith(_ES_FEMININE_ENDINGS)
    if plural:
        return "las" if feminine else "los"
    if feminine and singular not in _ES_STRESSED_A:
        return "la"
    return "el"


def _subject(label: str, locale: Locale) -> tuple[str, bool]:
    """The label as the subject of a sentence, and whether it is plural (Spanish verbs agree)."""
    first = label.split(maxsplit=1)[0] if label.strip() else ""
    plural = locale == "es" and _es_singular(first)[1]
    if _plain(first) in _NO_ARTICLE[locale]:
        return label, plural
    if locale == "es":
        return f"{_es_article(first)} {label}", plural
    return f"the {label}", False


def with_article(label: str, locale: Locale) -> str:
    """The label as the subject of a sentence: "the transaction amount", "la hora del día"."""
    return _subject(label, locale)[0]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _format_number(value: float, locale: Locale, *, integer: bool) -> str:
    if integer and float(value).is_integer():
        text = f"{int(value):,}"
    else:
        decimals = 2
        # Small shares and scores would all read "0.00": keep digits until the value shows.
        while value != 0 and round(value, decimals) == 0 and decimals < 6:
            decimals += 1
        text = f"{value:,.{decimals}f}"
    if locale == "es":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def _with_unit(number: str, value: float, feature: Feature, locale: Locale) -> str:
    forms = feature.unit_forms(locale)
    if forms is None:
        return number
    singular, plural = forms
    if singular == plural == "%":
        # English writes "45%"; Spanish style separates the sign: "45 %".
        return f"{number}%" if locale == "en" else f"{number} %"
    return f"{number} {singular if value == 1 else plural}"


def as_bool(value: RawValue) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def json_safe(value: object) -> RawValue:
    """A raw input value as a plain JSON scalar: NaN and absent become ``None``."""
    kind = type(value)
    if kind is float:  # the usual cases first, by exact type
        number = cast(float, value)
        return None if math.isnan(number) else number
    if kind is int or kind is str or kind is bool:
        return cast(RawValue, value)
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) else number
    return str(value)


def is_missing(value: RawValue) -> bool:
    """Whether a raw value means "not provided"."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def decode_value(feature: Feature, code: float) -> RawValue:
    """The raw value behind an encoded one, assuming ordinal codes in the spec's category order."""
    if math.isnan(code):
        return None
    if feature.type == "boolean":
        return bool(code)
    if feature.type == "category":
        categories = feature.categories or []
        if float(code).is_integer() and 0 <= code < len(categories):
            return categories[int(code)]
        # An unseen category's code (the encoder's unknown value): keep the number, which
        # display_value shows as "not recognised" rather than pretending nothing was sent.
        return float(code)
    if feature.type == "integer" and float(code).is_integer():
        return int(code)
    return float(code)


def raw_value(
    feature: Feature,
    column: int,
    data: NDArray[np.float64],
    raw_values: Mapping[str, object] | None,
) -> RawValue:
    """What the application sent for a feature, or, without ``raw_values``, the decoded code."""
    if raw_values is not None:
        return json_safe(raw_values.get(feature.name))
    return decode_value(feature, float(data[column]))


def long_date(day: date, locale: Locale) -> str:
    """A day as a person reads it: "20 November 2026", "20 de noviembre de 2026"."""
    month = _MONTHS[locale][day.month - 1]
    if locale == "es":
        return f"{day.day} de {month} de {day.year}"
    return f"{day.day} {month} {day.year}"


def display_value(feature: Feature, value: RawValue, locale: Locale) -> str:
    """A raw value as the person reads it: "1,250.00 EUR", "1.250,00 EUR", "yes", "sí", ...

    Parameters
    ----------
    feature : Feature
        The spec's feature (type and unit decide the format).
    value : str, int, float, bool or None
        The raw value; ``None`` or NaN mean it was not provided.
    locale : {"en", "es"}
        Language and number format.

    Returns
    -------
    str
        The formatted value. A category value is shown by its label in the spec's
        ``value_labels`` where it has one in ``locale``, otherwise as given.
    """
    if is_missing(value):
        return _MISSING[locale]
    if feature.type == "date":
        try:
            return long_date(date.fromisoformat(str(value)), locale)
        except ValueError:
            return str(value)
    if feature.type == "boolean":
        flag = as_bool(value)
        if flag is None:
            return str(value)
        return _YES[locale] if flag else _NO[locale]
    if feature.type == "category":
        if feature.other is not None and str(value) not in (feature.categories or []):
            if not isinstance(value, str):
                return _AS_OTHER[locale]
            shown = feature.value_label(value, locale) or value
            return f"{shown}, {_AS_OTHER[locale]}"
        if isinstance(value, str) or str(value) in (feature.categories or []):
            return feature.value_label(str(value), locale) or str(value)
        return _UNRECOGNISED[locale]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    number = _format_number(float(value), locale, integer=feature.type == "integer")
    return _with_unit(number, float(value), feature, locale)


def _effect(direction: Direction, meaning: str | None, locale: Locale, *, plural: bool) -> str:
    """What a factor did, as a predicate: "raised the score" or, where the spec says what a
    higher score means, "made a block more likely" ("hizo más probable el bloqueo")."""
    raises = direction == "raises"
    if meaning is None:
        if locale == "es":
            if plural:
                return "aumentaron la puntuación" if raises else "redujeron la puntuación"
            return "aumentó la puntuación" if raises else "redujo la puntuación"
        return "raised the score" if raises else "lowered the score"
    if locale == "es":
        verb = "hicieron" if plural else "hizo"
        return f"{verb} {'más' if raises else 'menos'} probable {meaning}"
    return f"made {meaning} {'more' if raises else 'less'} likely"


def factor_sentence(
    label: str, shown: str, direction: Direction, locale: Locale, *, meaning: str | None = None
) -> str:
    """ "The transaction amount (1,250.00 EUR) raised the score." and its Spanish.

    With ``meaning`` (the policy's ``higher_score_means`` in ``locale``, e.g. "a block"):
    "The transaction amount (1,250.00 EUR) made a block more likely."
    """
    subject, plural = _subject(label, locale)
    return f"{_capitalise(subject)} ({shown}) {_effect(direction, meaning, locale, plural=plural)}."


def state_sentence(
    state: str, direction: Direction, locale: Locale, *, meaning: str | None = None
) -> str:
    """ "Automatic renewal is off, which raised the score." and its Spanish."""
    subject = _capitalise(state)
    # The subject of "lo que" / "which" is the whole clause: always singular.
    effect = _effect(direction, meaning, locale, plural=False)
    if locale == "es":
        return f"{subject}, lo que {effect}."
    return f"{subject}, which {effect}."


def counterfactual_sentence(
    changes: Sequence[tuple[str, str, str | None]], outcome_label: str, locale: Locale
) -> str:
    """ "If the transaction amount had been 900.00 EUR instead of 1,250.00 EUR, the outcome would
    have been "held for review"." and its Spanish.

    Parameters
    ----------
    changes : sequence of (label, new shown value, old shown value or None when it was missing)
        The changed features.
    outcome_label : str
        The outcome the changes lead to, in ``locale``.
    locale : {"en", "es"}
        Language of the sentence.
    """
    parts = []
    for label, new, old in changes:
        subject, plural = _subject(label, locale)
        if locale == "es":
            instead = f" en lugar de {old}" if old is not None else ""
            verb = "hubieran sido" if plural else "hubiera sido"
            parts.append(f"{subject} {verb} {new}{instead}")
        else:
            instead = f" instead of {old}" if old is not None else ""
            parts.append(f"{subject} had been {new}{instead}")
    if locale == "es":
        return f"Si {' y '.join(parts)}, el resultado habría sido «{outcome_label}»."
    return f"If {' and '.join(parts)}, the outcome would have been “{outcome_label}”."
