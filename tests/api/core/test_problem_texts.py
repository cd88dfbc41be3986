"""The Spanish of the problems a person can meet: which language is asked for, and every text
of the person's routes has its Spanish."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.core.problem_texts import negotiate, pydantic_message, spanish_text, spanish_title
from api.rights.errors import ErasureNotConfirmedError
from api.subjects.errors import TokenTooOldError


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("es", "es"),
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("en-GB,en;q=0.9,es;q=0.8", "en"),
        ("en;q=0.5, es;q=0.7", "es"),
        ("fr, es;q=0.1", "es"),
        ("fr, de", "en"),
        ("es;q=0", "en"),
        ("es;q=nonsense", "en"),
    ],
)
def test_spanish_only_when_it_is_preferred_to_english(header: str | None, language: str) -> None:
    assert negotiate(header) == language


# What the person's routes say (api.subjects, api.reviews.contest, api.rights, validation).
PERSON_TEXTS = [
    "A subject token is required: 'Authorization: Bearer <token from the notice>'.",
    "The token is not valid or has expired.",
    "The token was revoked.",
    "This token does not allow this (subject:rights).",
    TokenTooOldError(timedelta(minutes=15)).detail,
    TokenTooOldError(timedelta(hours=1)).detail,
    "no decision 0123456789abcdef0123456789abcdef",
    "no case 0123456789abcdef0123456789abcdef",
    "the data of this person was erased; the decision's details are gone",
    "the data of this person was erased; the case can no longer be read or changed",
    "this decision is already under review",
    "this decision is already under review with your statement",
    "this decision was taken by a person after a review",
    "a person already decided on this decision",
    "the case is resolved; contest the decision again",
    "the case is withdrawn; it can no longer be withdrawn",
    "the request cannot be accepted",
    "a recommendation is based on a history; corrections do not apply",
    "give at least one corrected value, or leave it out",
    "the features do not fit the model's spec",
    "must be a number",
    "must be at most 23",
    "must be at least 0",
    "unknown field for this model",
    "special-category data (Art. 9 GDPR) is not accepted by this model",
    "is not a value this model knows; must be one of grocery, fuel (and 3 more)",
    "must not be after the day of the decision (2026-12-04)",
    "must not be blank",
    ErasureNotConfirmedError().detail,
    "You objected to this profiling (Art. 21), so your data is not scored by this model again: "
    "withdraw the objection to have it rectified and scored.",
    "You restricted the processing of your data (Art. 18): lift the restriction to have "
    "your data rectified and the decision scored again.",
    "This decision is already under review: add your corrections to that case instead "
    "(contest the decision with your corrections).",
    "must be true to confirm the erasure",
    "The request has 1 invalid field.",
    "The request has 2 invalid fields.",
    "The request body is not valid JSON.",
    "No resource matches this path.",
    "Too many rights requests for this person (the limit is 5 per minute, 5 at once).",
]


@pytest.mark.parametrize("english", PERSON_TEXTS)
def test_every_text_of_the_persons_routes_has_its_spanish(english: str) -> None:
    spanish = spanish_text(english)
    assert spanish != english
    # The parts of the request's shape are kept: an id, a bound, a day.
    for part in ("0123456789abcdef0123456789abcdef", "23", "2026-12-04", "15"):
        if part in english:
            assert part in spanish


def test_titles_and_pydantic_messages_in_spanish() -> None:
    assert spanish_title("Invalid request") == "Solicitud no válida"
    assert spanish_title("Link too old for this request").startswith("Enlace")
    assert pydantic_message({"type": "missing", "msg": "Field required"}) == "campo obligatorio"
    assert (
        pydantic_message({"type": "string_too_long", "msg": "...", "ctx": {"max_length": 5000}})
        == "debe tener como máximo 5000 caracteres"
    )
    assert pydantic_message({"type": "text_blank", "msg": "must not be blank"}) == (
        "no puede estar en blanco"
    )
    assert pydantic_message({"type": "something_new", "msg": "Whatever"}) is None
    # A text without Spanish here stays as it is rather than being guessed.
    assert spanish_text("An unheard-of message") == "An unheard-of message"
