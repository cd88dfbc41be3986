"""The role the model played in a decision, as the person is told it (AI Act Art. 86(1); GDPR
Art. 13(2)(f), 15(1)(h)).

Three roles, read from the decision's own columns so that every reader states the same one: the
model's outcome applied by itself (``solely_automated``); policy held it for a person before it
had any effect (``reviewed_before_effect``: ``review_required``); or a person decided after a
review (``decided_by_person``: ``decided_by == "human"``). With it go the model's purpose, the
logic in plain words and the inputs it weighs, from the spec of the model as served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from models.spec import Label, ModelSpec

__all__ = ["Role", "role_body", "role_of"]

Role = Literal["solely_automated", "reviewed_before_effect", "decided_by_person"]

_SENTENCES: dict[Role, Label] = {
    "solely_automated": Label(
        en=(
            "This outcome was decided automatically by the model, with no person involved "
            "before it took effect. You can ask a person to review it."
        ),
        es=(
            "Este resultado lo decidió automáticamente el modelo, sin que interviniera ninguna "
            "persona antes de que surtiera efecto. Puede pedir que una persona lo revise."
        ),
    ),
    "reviewed_before_effect": Label(
        en=(
            "The model proposed this outcome; it has no effect until a person has reviewed it "
            "and decided."
        ),
        es=(
            "El modelo propuso este resultado; no surte efecto hasta que una persona lo haya "
            "revisado y haya decidido."
        ),
    ),
    "decided_by_person": Label(
        en=(
            "A person decided this outcome after reviewing the model's; the model's score was "
            "one of the things they weighed."
        ),
        es=(
            "Una persona decidió este resultado tras revisar el del modelo; la puntuación del "
            "modelo fue uno de los elementos que tuvo en cuenta."
        ),
    ),
}


_SENTENCE_TEXTS = {role: label.model_dump() for role, label in _SENTENCES.items()}


def role_of(*, decided_by: str | None, review_required: bool) -> Role:
    """The role the model played, from a decision's columns.

    Parameters
    ----------
    decided_by : str, optional
        The row's ``decided_by`` (``"model"`` or ``"human"``; None before the row is stored).
    review_required : bool
        Whether policy held the outcome for a person before it had effect (Art. 22).

    Returns
    -------
    str
        ``solely_automated``, ``reviewed_before_effect`` or ``decided_by_person``.
    """
    if decided_by == "human":
        return "decided_by_person"
    return "reviewed_before_effect" if review_required else "solely_automated"


def role_body(
    row: Mapping[str, Any], spec: ModelSpec | None, *, full: bool = True
) -> dict[str, Any]:
    """The role as the API states it (``ModelRoleRead``), in English and Spanish.

    Parameters
    ----------
    row : mapping
        The decision row's values (``decided_by``, ``review_required``).
    spec : ModelSpec, optional
        The spec of the model as served; without it (a model no longer served) the role and
        its sentence are stated, and nothing is guessed about the model.
    full : bool
        With the logic and the inputs it weighs, as the person reads them on their page, in
        their export and in a reviewer's case. Without (the application's copy of a decision,
        on the hot path): the role, its sentence and the model's purpose; the inputs are the
        keys of its ``contributions``.

    Returns
    -------
    dict
        ``role``, ``sentence``, ``purpose``, ``logic`` and ``parameters``.
    """
    role = role_of(decided_by=row.get("decided_by"), review_required=bool(row["review_required"]))
    words = _model_words(spec)
    if not full:
        words = {**words, "logic": None, "parameters": []}
    return {"role": role, "sentence": _SENTENCE_TEXTS[role], **words}


# Every decision's body states the role: the spec's words are dumped once per served spec, not
# once per decision (the hot path). The spec is kept beside its words, so an id is never reused.
_WORDS: dict[int, tuple[ModelSpec, dict[str, Any]]] = {}
_MAX_WORDS = 64  # served specs are few; reloads add new ones


def _model_words(spec: ModelSpec | None) -> dict[str, Any]:
    if spec is None:
        return {"purpose": None, "logic": None, "parameters": []}
    cached = _WORDS.get(id(spec))
    if cached is None or cached[0] is not spec:
        if len(_WORDS) >= _MAX_WORDS:
            _WORDS.clear()
        words = {
            "purpose": spec.description.model_dump(),
            "logic": spec.logic.model_dump() if spec.logic else None,
            "parameters": [
                {"feature": f.name, "label": f.label.model_dump()} for f in spec.features
            ],
        }
        cached = _WORDS[id(spec)] = (spec, words)
    # Shared, read-only: bodies are serialised, never changed in place.
    return cached[1]
