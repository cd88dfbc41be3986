"""The decision table: every decision, its frozen explanation and notice, sealed per subject.

Rows are inserted, never changed: a human outcome is a new decision that names the one it
supersedes. Personal fields (features, explanation, notice) are AES-256-GCM ciphertexts under the
subject's data key, bound to their row and field; erasing the key (Art. 17) leaves them unreadable.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Exists,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    exists,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.core.database import Base
from api.core.timestamps import UTCDateTime

__all__ = ["Decision", "DecisionActual", "ModelOversight", "OversightMode", "decided_by_any"]


class Decision(Base):
    """One decision about one person by one model version (or, later, by a human)."""

    __tablename__ = "decision"
    # Every index is a page the commit of each decision writes (and a checkpoint copies back):
    # only those the service reads by. A person's decisions are found by pseudonym; one decision
    # by id; the human outcome that supersedes an automated one by ``supersedes_decision_id``,
    # which only human decisions carry, so its index leaves automated rows out.
    __table_args__ = (
        Index(
            "ix_decision_supersedes_decision_id",
            "supersedes_decision_id",
            sqlite_where=text("supersedes_decision_id IS NOT NULL"),
            postgresql_where=text("supersedes_decision_id IS NOT NULL"),
        ),
    )

    decision_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    explainer_version: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(64))
    # A model's score; null for a decision made by rules, which has none.
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    significant: Mapped[bool] = mapped_column(Boolean)
    review_required: Mapped[bool] = mapped_column(Boolean)
    # JSON list of reasons ("human_oversight", "no_art22_basis", "uncertain_score").
    review_reasons: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(8))
    personalised: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # The application (API key) that asked: only it may read the decision back.
    application_key_id: Mapped[str] = mapped_column(String(64))
    subject_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The log entry recording this decision, when policy logs it (always for significant ones).
    log_entry_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    # Which of the subject's data keys seals this row: the deciding model's retention category
    # and the year of the decision (``subject_key``), so each expires on its own schedule.
    key_category: Mapped[str] = mapped_column(String(32), server_default="general")
    key_epoch: Mapped[int] = mapped_column(Integer, server_default="0")
    features_ct: Mapped[bytes] = mapped_column(LargeBinary)
    explanation_ct: Mapped[bytes] = mapped_column(LargeBinary)
    notice_ct: Mapped[bytes] = mapped_column(LargeBinary)
    # The groups an application stated for fairness monitoring (AI Act Art. 10(5)), sealed like
    # the features; null when it stated none. Never an input, never in the explanation.
    monitoring_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # A human outcome (Art. 22(3)) is a new row naming the automated one it supersedes, the
    # review case and the reviewer's key; the automated row is never changed.
    # Filled by the database: a Python-side default would push every batch of the group-commit
    # writer off its driver-SQL path.
    decided_by: Mapped[str] = mapped_column(String(8), server_default="model")
    supersedes_decision_id: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[str | None] = mapped_column(String(32))
    reviewer_key_id: Mapped[str | None] = mapped_column(String(64))
    # The columns that say what was decided, as written, with their HMAC under a key derived
    # from the key-encryption key (api.decisions.integrity): an UPDATE of the plain columns is
    # caught, and names the column, for decisions no log entry covers. NULL on rows written
    # before rows carried it.
    row_mac: Mapped[str | None] = mapped_column(Text, nullable=True)


class DecisionActual(Base):
    """What really happened after one decision, as the application that asked reported it.

    One per decision. The decision's model, version, time, outcome and score are copied from
    its row (which never changes), so that the figures of a model and period
    (:func:`api.decisions.actuals.actual_figures`) read this table alone, by its index. No
    pseudonym: the figures are about the model, not the person. The item a person took up is
    not kept here, only its rank; the value reported is sealed in the log entry under the
    person's key.
    """

    __tablename__ = "decision_actual"
    __table_args__ = (
        Index("ix_decision_actual_model_name_decided_at", "model_name", "decided_at"),
        CheckConstraint("item_rank IS NULL OR item_rank >= 1", name="item_rank_positive"),
    )

    decision_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    # The decision's time: an actual that arrives late counts in the period of its decision.
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Fraud confirmed, the customer left, a recommended item taken up.
    positive: Mapped[bool] = mapped_column(Boolean)
    # A recommendation: the rank of the item taken up (null when none was).
    item_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_entry_id: Mapped[str] = mapped_column(String(32))


def decided_by_any(key_ids: Any) -> Exists:
    """Whether any decision was asked for by one of these keys, as a clause to embed.

    The application listing asks it of every application in one query (a correlated subquery
    of that application's keys); the decision domain owns the question, the caller the query.

    Parameters
    ----------
    key_ids : selectable or collection of str
        The keys, e.g. ``select(ApiKey.key_id).where(...)`` correlated to the caller's row.

    Returns
    -------
    Exists
        ``EXISTS (SELECT ... FROM decision WHERE application_key_id IN key_ids)``.
    """
    return exists().where(Decision.application_key_id.in_(key_ids))


class OversightMode(StrEnum):
    """Who decides for a served model (AI Act Art. 14(4)(e): a human can stop the system)."""

    # The model decides; policy alone sends a decision to a human first.
    AUTOMATED = "automated"
    # Every decision is held for a human before it has effect (review reason
    # ``human_oversight``).
    HUMAN_ONLY = "human_only"
    # No decision is taken: requests are refused with a 503 naming the reason.
    PAUSED = "paused"


_MODES = ", ".join(f"'{mode.value}'" for mode in OversightMode)


class ModelOversight(Base):
    """A served model's oversight mode, as an admin last set it; no row means automated.

    One row per model, changed in place: the history of every change is in the decision log
    (kind ``model_oversight``), with who changed it and why. Every worker reads the whole
    table, once a second (:mod:`api.decisions.oversight`).
    """

    __tablename__ = "model_oversight"
    __table_args__ = (CheckConstraint(f"mode IN ({_MODES})", name="mode_known"),)

    model_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    # The admin's API key id.
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_entry_id: Mapped[str] = mapped_column(String(32))
