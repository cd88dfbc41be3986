"""How long a recommendation request's history may be, in events and in bytes.

A learner's history is the recommender's whole input, and a real one runs to thousands of
events: far more than the general body limit (``GLASSBOX_MAX_BODY_BYTES``, sized for a few
hundred bytes of features) lets through. Two rules, one setting:

* a decision request to a served *recommender* may have a body of
  ``GLASSBOX_MAX_BODY_BYTES + GLASSBOX_MAX_HISTORY_EVENTS x HISTORY_EVENT_BYTES`` bytes -- every
  other request, including a decision of any other model, keeps the general limit;
* its history may have at most ``GLASSBOX_MAX_HISTORY_EVENTS`` events (a 422 naming the setting),
  which the compact row form (``["I00042", "view"]``) can reach well within the byte limit.
"""

from __future__ import annotations

import re
from collections.abc import Sized
from typing import TYPE_CHECKING

from starlette.types import Scope

from api.core.limits import BodyLimit, RouteBodyLimit
from api.decisions.runtime import ModelNotServedError
from api.decisions.validation import FeatureProblemsError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "HISTORY_EVENT_BYTES",
    "MAX_HISTORY_SETTING",
    "check_history_length",
    "recommendation_body_limit",
]

# Room for one event written out in full: an item id of up to 128 characters, the event name,
# a rating and an ISO-8601 time with their keys (about 90 bytes with a short item id).
HISTORY_EVENT_BYTES = 256
MAX_HISTORY_SETTING = "GLASSBOX_MAX_HISTORY_EVENTS"


def recommendation_body_limit(
    app: FastAPI, *, max_body_bytes: int, max_history_events: int
) -> RouteBodyLimit:
    """The decision route's own body limit, for the models of ``app`` that are recommenders.

    Parameters
    ----------
    app : FastAPI
        The application; its served models are read from ``app.state.context`` per request
        (they are loaded at start-up, after the middleware is built).
    max_body_bytes : int
        The general limit, kept for the rest of the request.
    max_history_events : int
        The longest history accepted.

    Returns
    -------
    callable
        For :class:`api.core.limits.BodyLimits`.
    """
    # Imported here: the router imports the service, which imports this module.
    from api.decisions.router import MODEL_NAME_PATTERN

    decision_path = re.compile("/v1/decisions/(" + MODEL_NAME_PATTERN.strip("^$") + ")")
    limit = BodyLimit(
        max_body_bytes + max_history_events * HISTORY_EVENT_BYTES,
        setting=f"GLASSBOX_MAX_BODY_BYTES + {MAX_HISTORY_SETTING} x {HISTORY_EVENT_BYTES}",
        what="recommendation request",
    )

    def route_limit(scope: Scope) -> BodyLimit | None:
        if scope.get("method") != "POST":
            return None
        match = decision_path.fullmatch(scope.get("path", ""))
        context = getattr(app.state, "context", None)
        if match is None or context is None:
            return None
        try:
            served = context.models.get(match.group(1))
        except ModelNotServedError:
            return None  # the route answers 404 within the general limit
        return limit if served.is_recommender else None

    return route_limit


def check_history_length(history: Sized, *, max_events: int) -> None:
    """Refuse a history longer than ``GLASSBOX_MAX_HISTORY_EVENTS``.

    Raises
    ------
    FeatureProblemsError
        Naming ``history`` and the setting.
    """
    if len(history) > max_events:
        raise FeatureProblemsError(
            [
                (
                    "history",
                    f"has {len(history)} events; at most {max_events} are accepted "
                    f"({MAX_HISTORY_SETTING}): send the most recent ones",
                )
            ]
        )
