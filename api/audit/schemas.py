"""Value objects of the decision log: what goes in, what comes out, what verification says."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.ids import new_id
from api.core.inputs import INT64_MAX, Integer, Text

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointDocument",
    "CheckpointDocumentRead",
    "CheckpointRead",
    "CheckpointVerification",
    "CheckpointVerificationRead",
    "DecisionRowProblem",
    "EntryKind",
    "LogEntryCreate",
    "LogEntryRead",
    "LogVerificationRead",
    "VerifyResult",
    "new_entry_id",
]

CHECKPOINT_FORMAT: Final = "glassbox.checkpoint.v1"
_HEX64 = r"^[0-9a-f]{64}$"
_HEX32 = r"^[0-9a-f]{32}$"


def new_entry_id() -> str:
    """Return a fresh random entry id (32 hex characters).

    Returns
    -------
    str
        A time-ordered id in hex (:func:`api.core.ids.new_id`).
    """
    return new_id()


class EntryKind(StrEnum):
    """What a log entry records (SPEC §4: every significant step)."""

    DECISION = "decision"
    NOTICE = "notice"
    CONTEST = "contest"
    CASE_TRANSITION = "case_transition"
    HUMAN_OUTCOME = "human_outcome"
    RIGHTS_REQUEST = "rights_request"
    RETENTION = "retention"
    CHECKPOINT = "checkpoint"
    # An admin handed a model to humans, paused it or gave it back (AI Act Art. 14(4)(e)).
    MODEL_OVERSIGHT = "model_oversight"
    # What really happened after a decision, as its application reported it.
    DECISION_ACTUAL = "decision_actual"
    # An admin changed the version of a model every worker serves (reload, promotion, rollback).
    MODEL_VERSION = "model_version"
    # A profile built about a person (lifetime value, propensity, segment): no legal effect,
    # recorded so that the person can know it exists and what it says (Art. 15(1)(h)).
    PROFILE = "profile"
    # A periodic report of a model: its SHA-256, signed with the checkpoint key.
    REPORT = "report"


class LogEntryCreate(BaseModel):
    """An entry to append.

    ``body`` holds non-personal metadata and, under ``"sealed"``, the base64 ciphertexts of
    personal fields (see ``api.vault.sealing.seal_entry``). Personal data must never be put
    into it in plaintext.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: str = Field(default_factory=new_entry_id, pattern=_HEX32)
    kind: EntryKind
    subject_pseudonym: str | None = Field(default=None, pattern=_HEX64)
    body: dict[str, Any] = Field(default_factory=dict)


class LogEntryRead(BaseModel):
    """An entry as stored, with its place in the chain."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    seq: int
    entry_id: str
    entry_at: datetime
    kind: str
    subject_pseudonym: str | None
    body: str
    prev_hash: str
    entry_hash: str

    def body_data(self) -> dict[str, Any]:
        """Parse the stored canonical body.

        Returns
        -------
        dict
            The body's JSON object (floats appear as their repr strings).
        """
        data: dict[str, Any] = json.loads(self.body)
        return data


class VerifyResult(BaseModel):
    """Outcome of re-computing the hash chain.

    ``size`` and ``head_hash`` describe the intact prefix: the whole log when ``ok``, the
    entries before ``first_bad_seq`` otherwise.
    """

    model_config = ConfigDict(frozen=True)

    ok: bool
    size: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None


class CheckpointRead(BaseModel):
    """A stored checkpoint."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    checkpoint_id: int
    size: int
    head_hash: str
    created_at: datetime
    signature: bytes
    public_key: bytes
    public_key_id: str


class CheckpointDocument(BaseModel):
    """A checkpoint exported for safekeeping outside the database (JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["glassbox.checkpoint.v1"] = CHECKPOINT_FORMAT
    size: Integer = Field(ge=0, le=INT64_MAX)
    head_hash: str = Field(pattern=_HEX64)
    # Room for what glassbox writes (an ISO time, a key id, base64 of 32 and 64 bytes), no more.
    created_at: Annotated[str, Text(64)]
    public_key_id: Annotated[str, Text(128)]
    public_key: Annotated[str, Text(256)]
    signature: Annotated[str, Text(512)]


class CheckpointVerification(BaseModel):
    """Outcome of checking an exported checkpoint against the log."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    reason: str | None = None


# --- API responses --------------------------------------------------------------------------


class DecisionRowProblem(BaseModel):
    """A decision whose plain columns do not match its log entry or its row MAC."""

    model_config = ConfigDict(frozen=True)

    decision_id: str
    columns: list[str]
    reason: str


class LogVerificationRead(VerifyResult):
    """``GET /v1/audit/verify``: the chain re-computed, the first bad entry if any, and the
    decision rows checked against their entries and MACs.

    ``ok`` is false when either the chain or a decision row fails. ``decisions_unverified``
    counts rows written before rows carried a MAC that no entry covers either.
    """

    decisions_checked: int = 0
    decisions_unverified: int = 0
    bad_decisions: list[DecisionRowProblem] = Field(default_factory=list)


class CheckpointDocumentRead(CheckpointDocument):
    """A signed checkpoint as exported: keep it outside the database to detect rewrites."""


class CheckpointVerificationRead(CheckpointVerification):
    """``POST /v1/audit/checkpoints/verify``: whether the document still holds for the log."""
