"""Decisions written straight into storage, sealed as the decision path seals them, so that
case tests need neither HTTP nor a log writer."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api.audit.log import read_entries
from api.core.crypto import encrypt_field, field_aad
from api.core.database import write_transaction
from api.core.ids import new_id
from api.decisions.models import Decision
from api.decisions.runtime import ModelRegistry
from api.reviews.contest import create_contest
from api.vault.keys import data_key_for

__all__ = ["LEASE", "decide", "insert_decision", "log_of", "open_contest", "subject"]

#: A reviewer's claim in the tests.
LEASE = timedelta(minutes=30)


def subject(n: int | str) -> str:
    """A well-formed pseudonym for test subject ``n``."""
    return hashlib.sha256(f"review-subject-{n}".encode()).hexdigest()


def insert_decision(
    session: Session,
    *,
    kek: bytes,
    pseudonym: str,
    model_version: int,
    features: dict[str, Any],
    outcome: str = "block",
    significant: bool = True,
    score: float = 0.9,
    model_name: str = "fraud",
    created_at: datetime | None = None,
) -> str:
    """Store an automated decision about ``pseudonym`` and return its id."""
    decision_id = new_id()
    frozen = {
        "explanation": {"values": [0.5], "feature_names": ["amount"], "base_value": -1.0},
        "factors": [{"feature": "amount", "contribution": 0.5}],
        "items": None,
        "outcome_label": outcome,
    }
    sealed = {
        "features": json.dumps(features).encode(),
        "explanation": json.dumps(frozen).encode(),
        "notice": json.dumps({"text": "notice", "contest_url": "x"}).encode(),
    }
    created_at = created_at or datetime.now(UTC)
    with write_transaction(session):
        # Sealed as the decision service seals: under the model's retention category and year.
        dek = data_key_for(
            session, pseudonym=pseudonym, kek=kek, category="fraud_history", epoch=created_at.year
        )
        session.add(
            Decision(
                decision_id=decision_id,
                created_at=created_at,
                key_category="fraud_history",
                key_epoch=created_at.year,
                model_name=model_name,
                model_version=model_version,
                run_id="run",
                policy_version="fraud-2026.11",
                explainer_version="test",
                outcome=outcome,
                score=score,
                significant=significant,
                review_required=False,
                review_reasons="[]",
                legal_basis="contract",
                locale="en",
                personalised=None,
                application_key_id="app",
                subject_pseudonym=pseudonym,
                callback_url=None,
                **{
                    f"{name}_ct": encrypt_field(
                        dek, value, aad=field_aad("decision", decision_id, name)
                    )
                    for name, value in sealed.items()
                },
            )
        )
    return decision_id


def decide(
    sessions: sessionmaker[Session],
    kek: bytes,
    version: int,
    features: dict[str, Any],
    who: str = "a",
    **kwargs: Any,
) -> str:
    """Store an automated fraud decision about subject ``who`` in a session of its own."""
    with sessions() as session:
        return insert_decision(
            session,
            kek=kek,
            pseudonym=subject(who),
            model_version=version,
            features=features,
            **kwargs,
        )


def open_contest(
    sessions: sessionmaker[Session],
    kek: bytes,
    decision_id: str,
    registry: ModelRegistry | None = None,
    who: str = "a",
    corrections: dict[str, Any] | None = None,
) -> str:
    """Subject ``who`` contests a decision; the new case's id."""
    with sessions() as session:
        case = create_contest(
            session,
            pseudonym=subject(who),
            decision_id=decision_id,
            statement="I was travelling; it was me.",
            corrections=corrections,
            models=registry,
            kek=kek,
        )
    return case.case_id


def log_of(sessions: sessionmaker[Session], case_id: str) -> list[dict[str, Any]]:
    """The log entries about a case, in order, each body with its kind."""
    with sessions() as session:
        entries = read_entries(session, limit=10_000)
    bodies = [(e, e.body_data()) for e in entries]
    return [{"kind": e.kind, **body} for e, body in bodies if body.get("case_id") == case_id]
