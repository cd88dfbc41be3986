"""Values and sentences in English and Spanish."""

from __future__ import annotations

import math

import pytest

from explain import Locale, RawValue, display_value
from explain._text import counterfactual_sentence, factor_sentence, with_article
from models.spec import Feature, Label


def feature(type_: str, unit: str | None = None, categories: list[str] | None = None) -> Feature:
    return Feature.model_validate(
        {
            "name": "f",
            "type": type_,
            "unit": unit,
            "categories": categories,
            "label": {"en": "thing", "es": "cosa"},
        }
    )


@pytest.mark.parametrize(
    ("type_", "unit", "value", "en", "es"),
    [
        ("number", "EUR", 1250, "1,250.00 EUR", "1.250,00 EUR"),
        ("number", "EUR", 1250.0, "1,250.00 EUR", "1.250,00 EUR"),
        ("number", "EUR", 1234567.891, "1,234,567.89 EUR", "1.234.567,89 EUR"),
        ("number", "EUR", -12.5, "-12.50 EUR", "-12,50 EUR"),
        ("number", "km", 0.0, "0.00 km", "0,00 km"),
        ("number", None, 0.0034, "0.003", "0,003"),
        ("number", "%", 45.5, "45.50%", "45,50 %"),
        ("number", "× usual", 3.25, "3.25 × usual", "3,25 × lo habitual"),
        ("integer", "days", 1, "1 day", "1 día"),
        ("integer", "days", 4200, "4,200 days", "4.200 días"),
        ("integer", "transactions", 3, "3 transactions", "3 operaciones"),
        ("integer", "h", 23, "23 h", "23 h"),
        ("integer", "days", 2.5, "2.50 days", "2,50 días"),
        ("integer", "widgets", 7, "7 widgets", "7 widgets"),
    ],
)
def test_numbers_follow_the_locale_with_their_unit(
    type_: str, unit: str | None, value: float, en: str, es: str
) -> None:
    assert display_value(feature(type_, unit), value, "en") == en
    assert display_value(feature(type_, unit), value, "es") == es


@pytest.mark.parametrize(
    ("value", "en", "es"),
    [
        (True, "yes", "sí"),
        (False, "no", "no"),
        (1, "yes", "sí"),
        (0.0, "no", "no"),
        ("Yes", "yes", "sí"),
        ("f", "no", "no"),
        ("maybe", "maybe", "maybe"),
    ],
)
def test_booleans_read_as_yes_or_no(value: RawValue, en: str, es: str) -> None:
    assert display_value(feature("boolean"), value, "en") == en
    assert display_value(feature("boolean"), value, "es") == es


@pytest.mark.parametrize("value", [None, math.nan])
@pytest.mark.parametrize("type_", ["number", "integer", "boolean", "category"])
def test_missing_values_read_as_not_provided(type_: str, value: RawValue) -> None:
    categories = ["a"] if type_ == "category" else None
    assert display_value(feature(type_, categories=categories), value, "en") == "not provided"
    assert display_value(feature(type_, categories=categories), value, "es") == "no facilitado"


def test_categories_are_shown_as_given() -> None:
    merchant = feature("category", categories=["grocery", "travel"])
    assert display_value(merchant, "travel", "es") == "travel"
    # A category the spec does not know is still what the person sent.
    assert display_value(merchant, "crypto", "en") == "crypto"
    # Only a bare code that names no category is shown as such.
    assert display_value(merchant, 42.0, "en") == "not recognised"
    assert display_value(merchant, 42.0, "es") == "no reconocido"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        # Every Spanish label of the shipped specs.
        ("importe de la operación", "el"),
        ("importe comparado con su gasto habitual", "el"),
        ("categoría del comercio", "la"),
        ("tarjeta usada fuera de su país habitual", "la"),
        ("hora del día", "la"),
        ("días desde que se vio el dispositivo por primera vez", "los"),
        ("operaciones con la tarjeta en la última hora", "las"),
        ("antigüedad de la cuenta", "la"),
        ("tarjeta presente físicamente", "la"),
        ("distancia a su domicilio", "la"),
        ("meses como suscriptor", "los"),
        ("plan de suscripción", "el"),
        ("inicios de sesión en los últimos 30 días", "los"),
        ("días desde el último inicio de sesión", "los"),
        ("progreso en los cursos actuales", "el"),
        ("cursos completados", "los"),
        ("pagos fallidos en los últimos 90 días", "los"),
        ("solicitudes de soporte en los últimos 90 días", "las"),
        ("descuento en el plan actual", "el"),
        ("renovación automática activada", "la"),
        ("gasto mensual medio", "el"),
        ("cursos que completó en esta categoría", "los"),
        ("temas en común con lo que estudió", "los"),
        ("popularidad entre todos los alumnos", "la"),
        ("valoración media", "la"),
        ("antigüedad del artículo", "la"),
        # Exceptions to the ending rule.
        ("mapa de calor", "el"),
        ("área de envío", "el"),
        ("clave de acceso", "la"),
        ("país de emisión", "el"),
        ("interés anual", "el"),
    ],
)
def test_spanish_labels_get_the_article_of_their_gender_and_number(
    label: str, expected: str
) -> None:
    assert with_article(label, "es") == f"{expected} {label}"


@pytest.mark.parametrize(
    ("label", "locale"),
    [
        ("popular entre alumnos como usted", "es"),
        ("su interés en esta categoría", "es"),
        ("popular en las últimas semanas", "es"),
        ("popular with learners like you", "en"),
        ("your interest in this category", "en"),
    ],
)
def test_labels_that_cannot_take_an_article_keep_their_own_start(
    label: str, locale: Locale
) -> None:
    assert with_article(label, locale) == label


def test_factor_sentences_in_both_languages() -> None:
    assert (
        factor_sentence("transaction amount", "1,250.00 EUR", "raises", "en")
        == "The transaction amount (1,250.00 EUR) raised the score."
    )
    assert (
        factor_sentence("importe de la operación", "1.250,00 EUR", "raises", "es")
        == "El importe de la operación (1.250,00 EUR) aumentó la puntuación."
    )
    assert (
        factor_sentence("card physically present", "yes", "lowers", "en")
        == "The card physically present (yes) lowered the score."
    )
    assert (
        factor_sentence("hora del día", "3 h", "lowers", "es")
        == "La hora del día (3 h) redujo la puntuación."
    )
    assert (
        factor_sentence("su interés en esta categoría", "0,40", "raises", "es")
        == "Su interés en esta categoría (0,40) aumentó la puntuación."
    )
    # Spanish verbs agree with a plural subject; English past tense has no agreement.
    assert (
        factor_sentence("pagos fallidos en los últimos 90 días", "2 fallos", "raises", "es")
        == "Los pagos fallidos en los últimos 90 días (2 fallos) aumentaron la puntuación."
    )
    assert (
        factor_sentence("solicitudes de soporte", "1 solicitud", "lowers", "es")
        == "Las solicitudes de soporte (1 solicitud) redujeron la puntuación."
    )


def test_counterfactual_sentences_in_both_languages() -> None:
    label = Label(en="held for review", es="retenida para revisión")
    assert (
        counterfactual_sentence(
            [("transaction amount", "900.00 EUR", "1,250.00 EUR")], label.en, "en"
        )
        == "If the transaction amount had been 900.00 EUR instead of 1,250.00 EUR, "
        "the outcome would have been “held for review”."
    )
    assert (
        counterfactual_sentence(
            [
                ("importe de la operación", "900,00 EUR", "1.250,00 EUR"),
                ("tarjeta presente físicamente", "sí", None),
            ],
            label.es,
            "es",
        )
        == "Si el importe de la operación hubiera sido 900,00 EUR en lugar de 1.250,00 EUR y "
        "la tarjeta presente físicamente hubiera sido sí, "
        "el resultado habría sido «retenida para revisión»."
    )
    assert (
        counterfactual_sentence([("inicios de sesión", "12 inicios de sesión", None)], "x", "es")
        == "Si los inicios de sesión hubieran sido 12 inicios de sesión, el resultado habría "
        "sido «x»."
    )
