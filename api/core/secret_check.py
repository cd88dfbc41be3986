"""A start refuses secrets that do not open the data already in its database.

Three things a service writes cannot be used under other keys: the subjects' data keys are
wrapped under the key-encryption key (every sealed record would read as "altered in storage"),
pseudonyms are HMACs under the pseudonym key and its namespace (a person's new decisions would be
filed under a stranger's name, and their rights requests would find nothing), and the subject
tokens already handed out and the checkpoints already exported are signed under the token and
checkpoint keys (every link would answer 401, every checkpoint would fail as if the log had been
rewritten). The webhook key is left out: nothing stored depends on it, and applications rotate it
with the service.

On the first start the database keeps, per secret, an HMAC of a fixed label under that secret:
it shows whether a later start has the same key and nothing else (the key cannot be recovered
from it). A later start with another key stops with the name of the secret, never its value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from api.core.database import Base, write_transaction
from api.core.settings import Settings
from api.core.timestamps import UTCDateTime

__all__ = [
    "CHECKED_SECRETS",
    "SecretCheck",
    "SecretMismatchError",
    "check_secrets",
    "secret_check_value",
]

# Each checked secret and the settings that must stay with it (the environment variables named
# when they do not match).
CHECKED_SECRETS: Final = MappingProxyType(
    {
        "key_encryption_key": ("key_encryption_key",),
        "pseudonym_key": ("pseudonym_key", "pseudonym_namespace"),
        "token_signing_key": ("token_signing_key",),
        "checkpoint_signing_key": ("checkpoint_signing_key",),
    }
)
_LABEL = b"glassbox secret check v1\x00"


class SecretCheck(Base):
    """What the secrets of the first start looked like: an HMAC of a fixed label, per secret."""

    __tablename__ = "secret_check"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    check_value: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SecretMismatchError(RuntimeError):
    """The secrets given are not those the database's data was written under.

    Parameters
    ----------
    names : list of str
        The checked secrets (keys of :data:`CHECKED_SECRETS`) that differ.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = names
        variables = " / ".join(
            "GLASSBOX_" + setting.upper() for name in names for setting in CHECKED_SECRETS[name]
        )
        super().__init__(
            f"{variables} {'does' if len(names) == 1 else 'do'} not match the "
            f"{'secret' if len(names) == 1 else 'secrets'} this database's data was written "
            "under; start with the same secrets as before (nothing was changed)"
        )


def secret_check_value(settings: Settings, name: str) -> str:
    """The check value of one secret: hex HMAC-SHA256 of a fixed label under it.

    Parameters
    ----------
    settings : Settings
        The service's settings.
    name : str
        A key of :data:`CHECKED_SECRETS`.

    Returns
    -------
    str
        64 hex digits; equal for equal secrets (and namespace), telling nothing of the key.
    """
    key, *context = CHECKED_SECRETS[name]
    message = _LABEL + name.encode("ascii")
    for setting in context:
        message += b"\x00" + str(getattr(settings, setting)).encode("utf-8")
    secret = getattr(settings, key).get_secret_value()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def check_secrets(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    probe: Callable[[Session], Mapping[str, bool]] | None = None,
) -> list[str]:
    """Compare the secrets with those the database's data was written under; record them if new.

    Parameters
    ----------
    sessions : sessionmaker of Session
        Sessions on the service's database (migrated).
    settings : Settings
        The settings the service is starting with.
    probe : callable, optional
        For a database that has no check of some secret yet (written before there were
        checks): tries the secrets on the stored data itself and says, per secret, whether they
        open it. A secret found wrong is refused rather than recorded.

    Returns
    -------
    list of str
        The secrets recorded now (all of them on a database's first start, none after).

    Raises
    ------
    SecretMismatchError
        When any checked secret differs from the one recorded; nothing is written then.
    """
    expected = {name: secret_check_value(settings, name) for name in CHECKED_SECRETS}
    try:
        return _compare_or_record(sessions, expected, probe)
    except IntegrityError:
        # Two workers starting together both found nothing and both recorded: the second insert
        # failed on the primary key, and now compares with what the first one wrote.
        return _compare_or_record(sessions, expected, probe)


def _compare_or_record(
    sessions: sessionmaker[Session],
    expected: dict[str, str],
    probe: Callable[[Session], Mapping[str, bool]] | None,
) -> list[str]:
    with sessions() as session, write_transaction(session):
        rows = session.execute(select(SecretCheck.name, SecretCheck.check_value)).tuples()
        stored = dict(rows.all())
        wrong = [
            name
            for name, value in expected.items()
            if name in stored and not hmac.compare_digest(stored[name], value)
        ]
        if wrong:
            raise SecretMismatchError(wrong)
        missing = [name for name in expected if name not in stored]
        if missing and probe is not None:
            opens = probe(session)
            wrong = [name for name in missing if not opens.get(name, True)]
            if wrong:
                raise SecretMismatchError(wrong)
        now = datetime.now(UTC)
        session.add_all(
            SecretCheck(name=name, check_value=expected[name], recorded_at=now) for name in missing
        )
    return missing
