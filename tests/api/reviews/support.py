"""Decisions written straight into storage, sealed as the decision path seals them, so that
case tests need neither HTTP nor a log writer."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from api.core.crypto import encrypt_field, field_aad
from api.core.database import write_transaction
from api.core.ids import new_id
from api.decisions.models import Decision
from api.vault.keys import data_key_for

__all__ = ["insert_decision", "subject"]


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
    created_at = datetime.now(UTC)
    with write_transaction(session):
        # Sealed as the decision service seals: under the model's retention category and year.
        dek = data_key_for(session, pseudonym, kek, category="fraud_history", epoch=created_at.year)
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
