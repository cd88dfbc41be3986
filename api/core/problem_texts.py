"""The problem details in Spanish: every text a person can meet on their page, in one place.

The person's page and the review console send ``Accept-Language`` in the page's language; the
one mapping to problem+json (:func:`api.core.errors.error_response`) asks here for the
``title``, the ``detail`` and each ``errors[].message`` in Spanish. The ``type``, the field
paths and the status never change with the language: a client's code reads those.

The service's own messages are English sentences, some with a value of the request's shape in
them (an id, a bound, a state), so each is matched by a pattern and its Spanish is built from
the same parts. A message with no Spanish here stays in English rather than being guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

__all__ = ["Language", "negotiate", "pydantic_message", "spanish_text", "spanish_title"]

Language = Literal["en", "es"]

_TITLES: Final[Mapping[str, str]] = {
    "Actual already recorded": "Resultado real ya registrado",
    "Bad request": "Solicitud incorrecta",
    "Conflict": "Conflicto",
    "Forbidden": "Prohibido",
    "Gone": "Ya no existe",
    "Internal error": "Error interno",
    "Invalid request": "Solicitud no válida",
    "Link too old for this request": "Enlace demasiado antiguo para esta solicitud",
    "Method not allowed": "Método no permitido",
    "Model paused": "Modelo en pausa",
    "Not found": "No encontrado",
    "Objection to processing": "Oposición al tratamiento",
    "Payload too large": "Solicitud demasiado grande",
    "Processing restricted": "Tratamiento limitado",
    "Rectification refused": "Rectificación rechazada",
    "Service unavailable": "Servicio no disponible",
    "Stored data failed its integrity check": "Los datos guardados no superan la comprobación "
    "de integridad",
    "Too many requests": "Demasiadas solicitudes",
    "Unauthorized": "No autorizado",
}

_STATES: Final[Mapping[str, str]] = {
    "open": "abierto",
    "assigned": "asignado",
    "resolved": "resuelto",
    "withdrawn": "retirado",
}
_UNITS: Final[Mapping[str, str]] = {
    "hour": "hora",
    "hours": "horas",
    "minute": "minuto",
    "minutes": "minutos",
    "second": "segundo",
    "seconds": "segundos",
}


def _values(text: str) -> str:
    return re.sub(r" \(and (\d+) more\)$", r" (y \1 más)", text)


def _fields(count: str) -> str:
    return (
        "La solicitud tiene 1 campo no válido."
        if count == "1"
        else f"La solicitud tiene {count} campos no válidos."
    )


_Spanish = str | Callable[[re.Match[str]], str]

# (English, exactly as the service words it; Spanish). A pattern's named groups are the parts
# the Spanish repeats.
_TEXTS: Final[tuple[tuple[str, _Spanish], ...]] = (
    # The person's token (api.subjects.security, api.subjects.errors).
    (
        r"A subject token is required: 'Authorization: Bearer <token from the notice>'\.",
        "Hace falta el token de la persona: 'Authorization: Bearer <token del aviso>'.",
    ),
    (
        r"The token is not valid or has expired\.",
        "El enlace no es válido o ha caducado. Pida uno nuevo a la aplicación que le comunicó "
        "la decisión.",
    ),
    (
        r"The token was revoked\.",
        "El enlace fue revocado. Pida uno nuevo a la aplicación que le comunicó la decisión.",
    ),
    (
        r"This token does not allow this \((?P<scope>[^)]+)\)\.",
        "Este enlace no permite esto ({scope}).",
    ),
    (
        r"This request cannot be undone, so it needs a link issued within the last "
        r"(?P<count>\d+) (?P<unit>\w+)\. Ask the application that sent you the decision for a "
        r"fresh link, open it and make the request again\.",
        lambda m: (
            "Esta solicitud no se puede deshacer, así que necesita un enlace emitido en "
            f"{'la última' if m['count'] == '1' else 'los últimos'} "
            f"{'' if m['count'] == '1' else m['count'] + ' '}{_UNITS.get(m['unit'], m['unit'])}. "
            "Pida un enlace nuevo a la aplicación que le comunicó la decisión, ábralo y repita "
            "la solicitud."
        ),
    ),
    # Decisions and cases of the person.
    (r"no decision (?P<id>\w+)", "No existe la decisión {id}."),
    (r"no case (?P<id>\w+)", "No existe el caso {id}."),
    (
        r"the data of this person was erased; the decision's details are gone",
        "Los datos de esta persona se suprimieron; los detalles de la decisión ya no existen.",
    ),
    (
        r"the data of this person was erased; the case can no longer be read or changed",
        "Los datos de esta persona se suprimieron; el caso ya no se puede leer ni cambiar.",
    ),
    (r"this decision is already under review", "Esta decisión ya está en revisión."),
    (
        r"this decision is already under review with your statement",
        "Esta decisión ya está en revisión con su declaración.",
    ),
    (
        r"this decision was taken by a person after a review",
        "Esta decisión la tomó una persona tras una revisión.",
    ),
    (r"a person already decided on this decision", "Una persona ya decidió sobre esta decisión."),
    (
        r"the case is (?P<state>\w+); contest the decision again",
        lambda m: (
            f"El caso está {_STATES.get(m['state'], m['state'])}; impugne de nuevo la decisión."
        ),
    ),
    (
        r"the case is (?P<state>\w+); it can no longer be withdrawn",
        lambda m: f"El caso está {_STATES.get(m['state'], m['state'])}; ya no se puede retirar.",
    ),
    # Corrections (a contest's or a rectification's) and the values of features.
    (r"the request cannot be accepted", "La solicitud no se puede aceptar."),
    (
        r"a recommendation is based on a history; corrections do not apply",
        "Una recomendación se basa en un historial; no admite correcciones.",
    ),
    (
        r"give at least one corrected value, or leave it out",
        "Indique al menos un valor corregido, o no envíe correcciones.",
    ),
    (
        r"corrections cannot be checked at the moment",
        "Las correcciones no se pueden comprobar en este momento.",
    ),
    (
        r"the features do not fit the model's spec",
        "Los datos no se ajustan a lo que el modelo espera.",
    ),
    (r"must be true or false", "debe ser verdadero o falso"),
    (r"must be a non-empty string", "debe ser un texto no vacío"),
    (r"must be at most (?P<n>\d+) characters", "debe tener como máximo {n} caracteres"),
    (r"must be a number", "debe ser un número"),
    (r"must be a whole number", "debe ser un número entero"),
    (
        r"must be a whole number within the 64-bit range",
        "debe ser un número entero dentro del rango de 64 bits",
    ),
    (r"must be at least (?P<n>\S+)", "debe ser como mínimo {n}"),
    (r"must be at most (?P<n>\S+)", "debe ser como máximo {n}"),
    (r"must be a date written YYYY-MM-DD", "debe ser una fecha escrita AAAA-MM-DD"),
    (
        r"must be from (?P<low>\S+) to (?P<high>\S+?)(?P<steps>.*)",
        "debe estar entre {low} y {high}",
    ),
    (
        r"special-category data \(Art\. 9 GDPR\) is not accepted by this model",
        "este modelo no acepta datos de categorías especiales (art. 9 RGPD)",
    ),
    (r"unknown field for this model", "campo desconocido para este modelo"),
    (r"field required", "campo obligatorio"),
    (
        r"is not a value this model knows; must be one of (?P<values>.+)",
        lambda m: f"no es un valor que este modelo conozca; debe ser uno de {_values(m['values'])}",
    ),
    (
        r"this model knows no value of this field; leave it out",
        "este modelo no conoce ningún valor de este campo; no lo envíe",
    ),
    (
        r"must not be after the day of the decision \((?P<day>[\d-]+)\)",
        "no puede ser posterior al día de la decisión ({day})",
    ),
    (r"must not contain NUL characters", "no debe contener caracteres NUL"),
    (r"must not be blank", "no puede estar en blanco"),
    (r"must be a finite number", "debe ser un número finito"),
    (
        r"must be a finite number within the range of a 64-bit float",
        "debe ser un número finito dentro del rango de un número de 64 bits",
    ),
    # Rectification and erasure (api.rights).
    (
        r"This decision is already under review: add your corrections to that case instead "
        r"\(contest the decision with your corrections\)\.",
        "Esta decisión ya está en revisión: añada sus correcciones a ese caso (impugne la "
        "decisión con sus correcciones).",
    ),
    (
        r"A person already decided on this decision; it can no longer be rectified\.",
        "Una persona ya decidió sobre esta decisión; ya no se puede rectificar.",
    ),
    (
        r"You restricted the processing of your data \(Art\. 18\): lift the restriction to have "
        r"your data rectified and the decision scored again\.",
        "Usted limitó el tratamiento de sus datos (art. 18): levante la limitación para que se "
        "rectifiquen y la decisión se puntúe de nuevo.",
    ),
    (
        r"You objected to this profiling \(Art\. 21\), so your data is not scored by this "
        r"model again: withdraw the objection to have it rectified and scored\.",
        "Usted se opuso a esta elaboración de perfiles (art. 21), así que este modelo no vuelve "
        "a puntuar sus datos: retire la oposición para que se rectifiquen y se puntúen.",
    ),
    (
        r"The deciding model version cannot score these values at the moment\.",
        "La versión del modelo que decidió no puede puntuar estos valores en este momento.",
    ),
    (
        r'An erasure cannot be undone: confirm it by sending \{"confirm": true\}\.',
        'Una supresión no se puede deshacer: confírmela enviando {{"confirm": true}}.',
    ),
    (r"must be true to confirm the erasure", "debe ser true para confirmar la supresión"),
    # The request itself (api.core).
    (r"The request has (?P<count>\d+) invalid fields?\.", lambda m: _fields(m["count"])),
    (r"The request body is not valid JSON\.", "El cuerpo de la solicitud no es JSON válido."),
    (
        r"The request body could not be parsed\.",
        "No se pudo interpretar el cuerpo de la solicitud.",
    ),
    (r"The request has unknown query parameters\.", "La solicitud tiene parámetros desconocidos."),
    (r"unknown query parameter", "parámetro desconocido"),
    (r"The request body repeats a key\.", "El cuerpo de la solicitud repite una clave."),
    (r"appears more than once", "aparece más de una vez"),
    (r"No resource matches this path\.", "Ninguna página o recurso corresponde a esta ruta."),
    (r"This path does not accept this method\.", "Esta ruta no admite este método."),
    (
        r"Too many (?:rights )?requests for this person \(the limit is (?P<count>\S+) per "
        r"(?P<per>second|minute), (?P<burst>\d+) at once\)\.",
        lambda m: (
            "Demasiadas solicitudes de esta persona (el límite es "
            f"{m['count']} por {'segundo' if m['per'] == 'second' else 'minuto'}, "
            f"{m['burst']} a la vez)."
        ),
    ),
    (
        r"The (?P<what>.+) body is larger than the limit of (?P<n>\d+) bytes "
        r"\((?P<setting>[^)]+)\)\.",
        "El cuerpo de la solicitud supera el límite de {n} bytes ({setting}).",
    ),
    (
        r"This record's sealed data does not open: it was altered in storage, so it is not "
        r"shown\. The incident was logged with id (?P<id>\w+)\.",
        "Los datos cifrados de este registro no se pueden abrir: se alteraron en el "
        "almacenamiento, así que no se muestran. El incidente quedó registrado con el id {id}.",
    ),
)

_COMPILED: Final = tuple((re.compile(english), spanish) for english, spanish in _TEXTS)

# pydantic's error types (a request body that does not fit its schema), worded in Spanish;
# ``{name}`` is filled from the error's ``ctx``.
_PYDANTIC: Final[Mapping[str, str]] = {
    "missing": "campo obligatorio",
    "extra_forbidden": "campo no permitido",
    "bool_type": "debe ser verdadero o falso",
    "bool_parsing": "debe ser verdadero o falso",
    "string_type": "debe ser un texto",
    "dict_type": "debe ser un objeto",
    "model_type": "debe ser un objeto JSON",
    "model_attributes_type": "debe ser un objeto JSON",
    "list_type": "debe ser una lista",
    "int_type": "debe ser un número entero",
    "int_parsing": "debe ser un número entero",
    "int_from_float": "debe ser un número entero",
    "float_type": "debe ser un número",
    "float_parsing": "debe ser un número",
    "string_too_short": "debe tener al menos {min_length} caracteres",
    "string_too_long": "debe tener como máximo {max_length} caracteres",
    "string_pattern_mismatch": "no tiene la forma esperada",
    "too_short": "debe tener al menos {min_length} elementos",
    "too_long": "debe tener como máximo {max_length} elementos",
    "greater_than": "debe ser mayor que {gt}",
    "greater_than_equal": "debe ser como mínimo {ge}",
    "less_than": "debe ser menor que {lt}",
    "less_than_equal": "debe ser como máximo {le}",
    "literal_error": "debe ser {expected}",
    "enum": "debe ser {expected}",
    "finite_number": "debe ser un número finito",
}


def negotiate(accept_language: str | None) -> Language:
    """The language of the answer: Spanish when ``Accept-Language`` prefers it to English.

    Parameters
    ----------
    accept_language : str, optional
        The header as sent (``es-ES,es;q=0.9,en;q=0.8``).

    Returns
    -------
    {"en", "es"}
        English unless Spanish has the higher weight of the two (RFC 9110 §12.5.4).
    """
    if not accept_language:
        return "en"
    weights: dict[str, float] = {}
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("en", "es"):
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[primary] = max(weights.get(primary, 0.0), weight)
    es, en = weights.get("es", 0.0), weights.get("en", 0.0)
    return "es" if es > 0 and es > en else "en"


def spanish_title(title: str) -> str:
    """A problem type's title in Spanish (the English one if it has none here)."""
    return _TITLES.get(title, title)


def spanish_text(text: str) -> str:
    """A detail or a field's message in Spanish (the English one if it has none here).

    Parameters
    ----------
    text : str
        The message as the service words it.

    Returns
    -------
    str
        Its Spanish.
    """
    for pattern, spanish in _COMPILED:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        if callable(spanish):
            return spanish(match)
        return spanish.format(**match.groupdict())
    return text


def pydantic_message(error: Mapping[str, Any]) -> str | None:
    """A pydantic validation error worded in Spanish, or None for one without words here.

    Parameters
    ----------
    error : mapping
        One item of ``RequestValidationError.errors()``: its ``type``, ``msg`` and ``ctx``.

    Returns
    -------
    str or None
        The message; the service's own custom errors (``text_blank``) go by their English.
    """
    template = _PYDANTIC.get(str(error.get("type", "")))
    if template is None:
        translated = spanish_text(str(error.get("msg", "")))
        return translated if translated != error.get("msg") else None
    context = {
        key: str(value).replace(" or ", " o ") for key, value in (error.get("ctx") or {}).items()
    }
    try:
        return template.format(**context)
    except KeyError:
        return template.split(" {")[0]
