"""Audit routes: verify the decision log, take and check signed checkpoints.

For auditors and admins (DPO, supervisory authority on inspection). The chain and the
checkpoints prove the log was not rewritten (SPEC §4), the decision rows' MACs and entries that
their plain columns were not changed; nothing here reads personal data.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from api.audit.checkpoints import create_checkpoint, export_checkpoint, verify_checkpoint
from api.audit.errors import CheckpointNotFoundError
from api.audit.schemas import (
    CheckpointDocument,
    CheckpointDocumentRead,
    CheckpointVerificationRead,
    LogVerificationRead,
)
from api.context import ContextDep, KekDep
from api.core.crypto import load_signing_key, public_key_bytes
from api.core.errors import NotFoundError, problem_responses
from api.core.routing import ApiRoute
from api.core.security import AuditorOrAdminDep
from api.decisions.integrity import verify_records

__all__ = ["router"]

router = APIRouter(
    route_class=ApiRoute, prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403)
)

# The routes are plain functions: verification reads the whole log, which belongs in the
# thread pool, not on the event loop.


@router.get("/verify", summary="Verify the decision log's hash chain and the decision rows")
def verify_decision_log(
    _: AuditorOrAdminDep, context: ContextDep, kek: KekDep
) -> LogVerificationRead:
    """Re-compute every entry's hash; name the first entry that does not fit, and why. Then
    check every decision's plain columns against its log entry and its row MAC; name each
    decision that does not match, and the columns."""
    with context.sessions() as session:
        return verify_records(session, kek=kek)


@router.post(
    "/checkpoints",
    status_code=status.HTTP_201_CREATED,
    summary="Sign a checkpoint of the log's size and head hash",
)
def create_log_checkpoint(_: AuditorOrAdminDep, context: ContextDep) -> CheckpointDocumentRead:
    """Sign the current size and head hash with the service's checkpoint key; return the
    exported document, to be kept outside the database."""
    signing_key = context.settings.checkpoint_signing_key.get_secret_value()
    with context.sessions() as session:
        checkpoint = create_checkpoint(session, signing_key=signing_key)
        document = export_checkpoint(session, checkpoint_id=checkpoint.checkpoint_id)
    return CheckpointDocumentRead.model_validate(document.model_dump())


@router.get(
    "/checkpoints/latest",
    summary="Export the latest checkpoint",
    responses=problem_responses(404),
)
def read_latest_checkpoint(_: AuditorOrAdminDep, context: ContextDep) -> CheckpointDocumentRead:
    """The most recent signed checkpoint, as an exported document."""
    with context.sessions() as session:
        try:
            document = export_checkpoint(session)
        except CheckpointNotFoundError:
            raise NotFoundError("No checkpoint has been taken yet.") from None
    return CheckpointDocumentRead.model_validate(document.model_dump())


@router.post(
    "/checkpoints/verify",
    summary="Check an exported checkpoint against the log",
    responses=problem_responses(422),
)
def verify_log_checkpoint(
    _: AuditorOrAdminDep, context: ContextDep, document: CheckpointDocument
) -> CheckpointVerificationRead:
    """Check that the document is signed by this service's checkpoint key and that the log
    still has the signed head at the signed size (no rewrite, no truncation).

    To check against a public key pinned elsewhere, use ``glassbox checkpoint verify``.
    """
    trusted = public_key_bytes(
        load_signing_key(context.settings.checkpoint_signing_key.get_secret_value())
    )
    with context.sessions() as session:
        result = verify_checkpoint(session, document=document, public_key=trusted)
    return CheckpointVerificationRead.model_validate(result.model_dump())
