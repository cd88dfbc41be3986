"""Errors of the decision domain, mapped to problem+json by the one handler in ``api.core``."""

from __future__ import annotations

from collections.abc import Sequence

from api.core.crypto import DecryptionError
from api.core.errors import PROBLEM_BASE, ConflictError, NotFoundError, ServiceUnavailableError

__all__ = [
    "ActualExistsError",
    "DecisionIntegrityError",
    "DecisionNotFoundError",
    "ModelPausedError",
    "ProfileModelError",
    "SubjectErasedError",
    "SubjectObjectedError",
    "SubjectRestrictedError",
]


class DecisionNotFoundError(NotFoundError):
    """No decision with that id for this caller."""


class SubjectErasedError(ConflictError):
    """The subject's data key was erased (Art. 17)."""


class SubjectRestrictedError(ConflictError):
    """The subject restricted processing (Art. 18): no new decision about them."""

    type_ = PROBLEM_BASE + "subject-restricted"
    title = "Processing restricted"


class SubjectObjectedError(ConflictError):
    """The subject objected (Art. 21) to the processing this model does."""

    type_ = PROBLEM_BASE + "subject-objected"
    title = "Objection to processing"


class ProfileModelError(ConflictError):
    """The model builds profiles (no legal effect, no contest): they are asked for at
    ``/v1/profiles/{model}``, not taken as decisions."""

    type_ = PROBLEM_BASE + "profile-model"
    title = "A profile model"


class ActualExistsError(ConflictError):
    """What really happened after this decision was reported already: one per decision."""

    type_ = PROBLEM_BASE + "actual-exists"
    title = "Actual already recorded"


class ModelPausedError(ServiceUnavailableError):
    """An admin paused the model (AI Act Art. 14(4)(e)): it takes no decision until resumed.

    The detail names the model and the admin's reason, so that the application can tell its
    people why nothing was decided.
    """

    type_ = PROBLEM_BASE + "model-paused"
    title = "Model paused"


class DecisionIntegrityError(DecryptionError):
    """A decision's plain columns no longer say what was decided: changed in storage.

    A :class:`~api.core.crypto.DecryptionError`, so that it is answered like any stored record
    that fails its integrity check (500 ``stored-data-integrity``, an integrity alarm) and a
    reader that lists records can catch both alike.

    Attributes
    ----------
    decision_id : str
        The decision.
    columns : tuple of str
        The columns that do not match their log entry or MAC.
    """

    def __init__(self, decision_id: str, columns: Sequence[str], reason: str) -> None:
        super().__init__(f"decision {decision_id}: {reason}")
        self.decision_id = decision_id
        self.columns = tuple(columns)
