"""Applications and the pseudonym scope each one finds its people in.

A person is known to glassbox only as a keyed pseudonym of the application's ``subject_ref``
(:func:`api.core.crypto.pseudonymise`). The namespace of that pseudonym is the application's
*scope*, so two applications that send the same ``subject_ref`` get two unrelated pseudonyms:
one cannot take a decision about the other's customer and, with the subject token it receives,
read, export, contest, restrict or erase what the other recorded (broken object-level
authorisation across applications).

Scopes
    ``app:<name>``
        The default: the application's people are its own.
    ``group:<group>``
        Set by an admin for applications that share a customer base (a shop and its CRM): the
        same ``subject_ref`` is then one person across the group, and that person's token sees
        exactly the group's decisions.
    ``legacy``
        Keys created before scopes existed all shared one namespace; their applications keep
        it (the bare ``pseudonym_namespace``), so the pseudonyms already recorded still match.

An application is distinct from its keys: a key rotated within the same application keeps its
scope, so it keeps reaching the same people. The scope is read with the key at authentication
(:class:`api.core.security.KeyStore`), so the decision hot path pays no extra query.

Regrouping
    Changing the scope of an application that already has decisions would split its people:
    their earlier decisions stay under the old pseudonym, new ones get a new one, and a token
    sees only one half. :func:`set_pseudonym_scope` therefore refuses it (409) unless forced.
    Other workers use a changed scope within the key cache's TTL, as with a revocation, so
    regroup an application before it goes live.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.core.crypto import pseudonymise
from api.core.database import writing
from api.core.errors import ConflictError, InvalidRequestError, NotFoundError
from api.core.models import ApiKey, Application
from api.core.timestamps import as_utc
from api.decisions.models import decided_by_any

if TYPE_CHECKING:
    from api.core.security import Principal  # security imports this module
    from api.core.settings import Settings

__all__ = [
    "APPLICATION_NAME_PATTERN",
    "LEGACY_SCOPE",
    "ApplicationRead",
    "ApplicationRegroupError",
    "application_name_for",
    "asked_by",
    "group_scope",
    "list_applications",
    "own_scope",
    "pseudonym_namespace",
    "resolve_application",
    "set_pseudonym_scope",
    "subject_pseudonym",
]

APPLICATION_NAME_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,63}$"
LEGACY_SCOPE: Final = "legacy"
_NAME = re.compile(APPLICATION_NAME_PATTERN)
_OWN, _GROUP = "app", "group"


class ApplicationRegroupError(ConflictError):
    """409: the application has decisions, and a new scope would split its people."""


def own_scope(name: str) -> str:
    """The scope of an application that shares its people with no other one."""
    return f"{_OWN}:{name}"


def group_scope(group: str) -> str:
    """The scope shared by the applications of a group."""
    return f"{_GROUP}:{group}"


def pseudonym_namespace(base: str, scope: str | None) -> str:
    """The namespace to pseudonymise an application's ``subject_ref`` in.

    Parameters
    ----------
    base : str
        ``settings.pseudonym_namespace``: the organisation's namespace.
    scope : str
        The application's pseudonym scope.

    Returns
    -------
    str
        ``base`` itself for the legacy scope (the pseudonyms recorded before scopes existed),
        ``"{base}/{scope}"`` for every other one.

    Raises
    ------
    ValueError
        For no scope: falling back to a shared namespace would reopen one application's people
        to every other one.
    """
    if not scope:
        raise ValueError("an application key without a pseudonym scope")
    return base if scope == LEGACY_SCOPE else f"{base}/{scope}"


def subject_pseudonym(settings: Settings, *, subject_ref: str, principal: Principal) -> str:
    """Whom an application's ``subject_ref`` names: its keyed pseudonym in the caller's scope.

    The one rule, for a decision and for a fresh link alike: the same ``subject_ref`` sent by an
    application outside that scope is another person, whose token reaches none of these
    decisions.

    Parameters
    ----------
    settings : Settings
        The pseudonym key and the organisation's namespace.
    subject_ref : str
        The application's reference for the person.
    principal : Principal
        The application asking (its pseudonym scope).

    Returns
    -------
    str
        The pseudonym.
    """
    return pseudonymise(
        settings.pseudonym_key.get_secret_value(),
        subject_ref,
        namespace=pseudonym_namespace(settings.pseudonym_namespace, principal.pseudonym_scope),
    )


def application_name_for(key_name: str) -> str:
    """An application name made from a key's name: ``"Checkout service"`` -> ``checkout-service``.

    Parameters
    ----------
    key_name : str
        The key's name.

    Returns
    -------
    str
        Lower case, runs of other characters as one hyphen, at most 64 characters.
    """
    slug = re.sub(r"[^a-z0-9_-]+", "-", key_name.lower()).strip("-_")
    if not slug[:1].isalpha():
        slug = f"app-{slug}".rstrip("-")
    return slug[:64].rstrip("-_")


class ApplicationRead(BaseModel):
    """An application: its name, its pseudonym scope and how far it is in use."""

    model_config = ConfigDict(frozen=True)

    name: str
    pseudonym_scope: str
    created_at: Annotated[datetime, AfterValidator(as_utc)]
    active_keys: int
    has_decisions: bool


def asked_by(session: Session, *, key_id: str, principal: Principal) -> bool:
    """Tell whether the key ``key_id`` belongs to the calling application.

    A decision belongs to the application that asked for it, not to one of its keys: after a
    rotation the new key reads back what the old one asked for. Another application's key, a
    group member's included, never does (a group shares people, not decisions).

    Parameters
    ----------
    session : Session
        The session.
    key_id : str
        The key recorded with the decision.
    principal : Principal
        The caller.

    Returns
    -------
    bool
        True for the same key, or another key of the caller's application.
    """
    if key_id == principal.key_id:
        return True  # the common case costs no query
    if principal.application is None:
        return False
    owner = session.scalar(select(ApiKey.application).where(ApiKey.key_id == key_id))
    return owner == principal.application


def _invalid(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid {field}.", errors=[{"field": field, "message": message}])


def resolve_application(
    session: Session, *, application: str | None, key_name: str
) -> tuple[str, str]:
    """The application a new application key belongs to, created when it is new.

    Parameters
    ----------
    session : Session
        Inside ``writing``: the application row is added in the key's transaction.
    application : str or None
        An application's name: the key joins it if it exists (a rotation: same people), or
        starts it with a scope of its own. None: a new application named after the key.
    key_name : str
        The key's name.

    Returns
    -------
    tuple of str and str
        The application's name and its pseudonym scope.

    Raises
    ------
    InvalidRequestError
        If the name is malformed, or no application was named and one named after the key
        exists already (joining it must be asked for by name: it shares its people).
    """
    name = application if application is not None else application_name_for(key_name)
    if not _NAME.match(name):
        raise _invalid("application", "must match " + APPLICATION_NAME_PATTERN)
    scope = session.scalar(select(Application.pseudonym_scope).where(Application.name == name))
    if scope is not None and application is None:
        raise _invalid(
            "application",
            f"an application named {name!r} exists; name it to add a key to it",
        )
    if scope is None:
        scope = own_scope(name)
        session.add(Application(name=name, pseudonym_scope=scope, created_at=datetime.now(UTC)))
        session.flush()
    return name, scope


def _reads(session: Session, names: Sequence[str] | None = None) -> list[ApplicationRead]:
    active = (
        select(func.count())
        .where(ApiKey.application == Application.name, ApiKey.revoked_at.is_(None))
        .correlate(Application)
        .scalar_subquery()
    )
    keys_of_app = (
        select(ApiKey.key_id).where(ApiKey.application == Application.name).correlate(Application)
    )
    # A decision is where a person first gets a pseudonym: none means nobody to split.
    decided = decided_by_any(keys_of_app).correlate(Application)
    query = select(Application, active, decided).order_by(Application.name)
    if names is not None:
        query = query.where(Application.name.in_(names))
    return [
        ApplicationRead(
            name=row.name,
            pseudonym_scope=row.pseudonym_scope,
            created_at=row.created_at,
            active_keys=count,
            has_decisions=bool(used),
        )
        for row, count, used in session.execute(query).all()
    ]


def list_applications(session: Session) -> list[ApplicationRead]:
    """Every application, by name.

    Parameters
    ----------
    session : Session
        The session.

    Returns
    -------
    list of ApplicationRead
        The applications with their scopes.
    """
    return _reads(session)


def _check_scope(session: Session, scope: str) -> None:
    if scope == LEGACY_SCOPE:
        return
    kind, _, name = scope.partition(":")
    if kind not in {_OWN, _GROUP} or not _NAME.match(name):
        raise _invalid(
            "pseudonym_scope",
            "must be app:<application>, group:<name> or legacy (names: "
            f"{APPLICATION_NAME_PATTERN})",
        )
    # Another application's own scope: only one that exists, or a later one of that name
    # would start out sharing these people.
    if kind == _OWN and session.get(Application, name) is None:
        raise _invalid("pseudonym_scope", "names no application")


def set_pseudonym_scope(
    session: Session, *, names: Sequence[str], scope: str, force: bool = False
) -> list[ApplicationRead]:
    """Move applications to a pseudonym scope: group them, or give one back its own.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    names : sequence of str
        The applications.
    scope : str
        ``group:<group>``, ``app:<application>`` (join that application's people) or
        ``legacy``.
    force : bool
        Move applications that already have decisions too, splitting their people (see the
        module's docstring).

    Returns
    -------
    list of ApplicationRead
        The applications, by name, as they are now.

    Raises
    ------
    NotFoundError
        If an application does not exist.
    InvalidRequestError
        If the scope is malformed or names no application.
    ApplicationRegroupError
        If an application whose scope would change has decisions and ``force`` is false.
    """
    wanted = sorted(set(names))
    with writing(session):
        _check_scope(session, scope)
        current = {
            row.name: row
            for row in session.scalars(
                select(Application).where(Application.name.in_(wanted)).with_for_update()
            )
        }
        missing = [name for name in wanted if name not in current]
        if missing:
            raise NotFoundError(f"No application is named {', '.join(missing)}.")
        moving = [name for name in wanted if current[name].pseudonym_scope != scope]
        if moving and not force:
            used = [read.name for read in _reads(session, moving) if read.has_decisions]
            if used:
                raise ApplicationRegroupError(
                    f"{', '.join(used)} already took decisions under another scope; moving "
                    "them would split their people (earlier decisions keep the old "
                    "pseudonym). Force it only if that is intended."
                )
        for name in moving:
            current[name].pseudonym_scope = scope
        session.flush()
        return _reads(session, wanted)
