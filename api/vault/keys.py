"""The key vault: each subject's data keys, found, created and shredded.

A subject has one data key per retention category and calendar year (:class:`KeyId`), stored
wrapped by the key-encryption key (KEK) in ``subject_key``. Erasure (Art. 17) and retention wipe
wrapped keys (crypto-shredding), which makes everything sealed under them unreadable while the
log's ciphertexts and hash chain stay intact.

A batch's keys are found and created by one rule, :func:`fetch_data_keys`, whichever path asks:
a session (:func:`data_keys_for`) or the log writer's driver connection, each reading and writing
the rows through a :class:`KeyRows` of its own. The lookup also reports, in the same statement,
the subjects who restricted processing (Art. 18, asked of :mod:`api.rights.preferences`): the
writer refuses their new records without a query of its own per decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import (
    CompoundSelect,
    CursorResult,
    Engine,
    Integer,
    LargeBinary,
    Select,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from api.audit.checkpoints import signed_by_checkpoint_key
from api.core.crypto import (
    DecryptionError,
    KeyNotFoundError,
    KeyShredded,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from api.core.database import in_write_transaction, is_postgresql, write_transaction, writing
from api.rights.preferences import restricted_among
from api.vault.errors import ProcessingRestricted
from api.vault.models import SubjectKey

__all__ = [
    "ERASED_MARKER",
    "GENERAL_CATEGORY",
    "LEGACY_EPOCH",
    "KeyId",
    "KeyRows",
    "KeyState",
    "count_expired_keys",
    "data_key_for",
    "data_keys_for",
    "erased_with_live_keys",
    "fetch_data_keys",
    "key_lookup",
    "keys_open_stored_data",
    "scrub_storage",
    "shred_data_keys",
    "shred_expired_keys",
    "shred_subject_key",
    "subject_keys",
]

# A subject's key when nothing says otherwise, and (with epoch 0) the single key a subject had
# before keys were split by retention category: its wrap AAD is the old one.
GENERAL_CATEGORY = "general"
LEGACY_EPOCH = 0
# The row of this category marks an erasure request (Art. 17): no new key for that subject.
ERASED_MARKER = "*"
# Not a stored category: what the key lookup reports for a restricted subject.
_RESTRICTED = "!restricted"


class KeyId(NamedTuple):
    """Which data key: a subject's key for one retention category and calendar year."""

    pseudonym: str
    category: str = GENERAL_CATEGORY
    epoch: int = LEGACY_EPOCH


def _wrap_context(category: str, epoch: int) -> dict[str, Any]:
    if (category, epoch) == (GENERAL_CATEGORY, LEGACY_EPOCH):
        return {}
    return {"category": category, "epoch": epoch}


def _unwrap(kek: bytes, wrapped: bytes, key: KeyId) -> bytes:
    # A key of the general category and epoch 0 was wrapped before keys were split: old AAD.
    return unwrap_data_key(
        kek, wrapped, pseudonym=key.pseudonym, **_wrap_context(key.category, key.epoch)
    )


def _insert_subject_key_if_absent(
    session: Session, rows: list[dict[str, Any]] | None = None, **values: Any
) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: concurrent first uses of one key must not fail.
    dialect = postgresql if is_postgresql(session) else sqlite
    statement = dialect.insert(SubjectKey.__table__).on_conflict_do_nothing(
        index_elements=["pseudonym", "category", "epoch"]
    )
    session.connection().execute(statement, rows if rows is not None else [values])


# --- finding and creating keys --------------------------------------------------------------


def data_key_for(
    session: Session,
    *,
    pseudonym: str,
    kek: bytes,
    category: str = GENERAL_CATEGORY,
    epoch: int | None = None,
    create: bool = True,
) -> bytes:
    """Return one of a subject's data keys, creating it on first use.

    A new key is committed before it is returned -- in the caller's unit of work when called
    inside ``write_transaction`` (so it commits with whatever it protects), otherwise in a short
    transaction of its own: data sealed with a key whose creation later rolled back would be
    unreadable for good.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject's pseudonym.
    kek : bytes
        The 32-byte key-encryption key.
    category : str
        The retention category of what the key seals (a model spec's ``retention.category``).
    epoch : int, optional
        The calendar year (UTC) of what it seals; the current year when omitted.
    create : bool
        Create the key if the subject has none (False for read paths).

    Returns
    -------
    bytes
        The 32-byte data key.

    Raises
    ------
    KeyShredded
        If the key was erased (Art. 17, or its retention period ended), or -- when it does not
        exist -- the subject asked for erasure.
    KeyNotFoundError
        If ``create`` is False and the subject has no such key.
    """
    key = KeyId(pseudonym, category, datetime.now(UTC).year if epoch is None else epoch)
    table = SubjectKey.__table__.c
    rows = session.execute(
        select(table.category, table.epoch, table.wrapped_key).where(
            table.pseudonym == pseudonym,
            or_(
                and_(table.category == key.category, table.epoch == key.epoch),
                table.category == ERASED_MARKER,
            ),
        )
    ).all()
    found = {(row.category, row.epoch): row.wrapped_key for row in rows}
    if (key.category, key.epoch) in found:
        wrapped = found[(key.category, key.epoch)]
        if wrapped is None:
            raise KeyShredded(f"the data key {key} was erased")
        return _unwrap(kek, wrapped, key)
    if found:
        raise KeyShredded(f"the data of {pseudonym} was erased")
    if not create:
        raise KeyNotFoundError(f"no data key {key}")
    if in_write_transaction(session):
        return data_keys_for(session, keys=[key], kek=kek)[key]
    with Session(session.get_bind()) as own, write_transaction(own):
        return data_keys_for(own, keys=[key], kek=kek)[key]


def key_lookup(
    pseudonyms: BindParameter[Any], *, restrictions: bool
) -> Select[Any] | CompoundSelect[Any]:
    """Build the query of every key row of some subjects (all categories and years).

    Each row is ``(pseudonym, category, epoch, wrapped_key)``; the erasure marker is among them.
    With ``restrictions``, a subject who restricted processing (Art. 18) also gets a row of the
    pseudo-category that :func:`fetch_data_keys` refuses -- in the same round trip.

    Parameters
    ----------
    pseudonyms : BindParameter
        The subjects: expanding (a list) or, on PostgreSQL, an array (see
        :func:`api.rights.preferences.restricted_among`).
    restrictions : bool
        Also report restricted subjects.

    Returns
    -------
    Select or CompoundSelect
        The query; build it once, it costs more to build than to run.
    """
    table = SubjectKey.__table__.c
    among = (
        table.pseudonym.in_(pseudonyms)
        if pseudonyms.expanding
        else table.pseudonym == any_(pseudonyms)
    )
    keys = select(table.pseudonym, table.category, table.epoch, table.wrapped_key).where(among)
    if not restrictions:
        return keys
    return union_all(
        keys,
        restricted_among(pseudonyms).add_columns(
            literal(_RESTRICTED, String(32)), literal(0, Integer), sql_cast(null(), LargeBinary)
        ),
    )


_PSEUDONYMS: BindParameter[list[str]] = bindparam("pseudonyms", expanding=True)
# Built once: constructing an IN clause costs more than running it, once per group commit.
_KEYS_OF = key_lookup(_PSEUDONYMS, restrictions=False)
_KEYS_AND_RESTRICTIONS_OF = key_lookup(_PSEUDONYMS, restrictions=True)


def _resolve_keys(
    rows: Iterable[Sequence[Any]], wanted: Collection[KeyId], kek: bytes
) -> tuple[dict[KeyId, bytes], list[KeyId]]:
    """Find the wanted keys among the subjects' key rows, and name those still missing.

    Parameters
    ----------
    rows : iterable of (pseudonym, category, epoch, wrapped_key)
        What :func:`key_lookup` returned.
    wanted : collection of KeyId
        The keys asked for.
    kek : bytes
        The key-encryption key.

    Returns
    -------
    tuple of dict and list
        Each key found, unwrapped, and the keys that do not exist yet (sorted).

    Raises
    ------
    KeyShredded
        For a wiped key, or a subject who asked for erasure.
    ProcessingRestricted
        For a subject who restricted processing (reported by the lookup with restrictions).
    """
    stored: dict[KeyId, Any] = {}
    refused: dict[str, str] = {}
    for pseudonym, category, epoch, wrapped in rows:
        if category in (ERASED_MARKER, _RESTRICTED):
            refused.setdefault(pseudonym, category)
        else:
            stored[KeyId(pseudonym, category, int(epoch))] = wrapped
    found: dict[KeyId, bytes] = {}
    for key in wanted:
        if refused.get(key.pseudonym) == ERASED_MARKER:
            raise KeyShredded(f"the data of {key.pseudonym} was erased")
        if key.pseudonym in refused:
            raise ProcessingRestricted(f"processing of {key.pseudonym} is restricted")
        if key in stored:
            wrapped = stored[key]
            if wrapped is None:
                raise KeyShredded(f"the data key {key} was erased")
            found[key] = _unwrap(kek, bytes(wrapped), key)
    return found, sorted(set(wanted) - found.keys())


class KeyRows(Protocol):
    """Where :func:`fetch_data_keys` reads and writes key rows, inside a write transaction."""

    def select(self, pseudonyms: Sequence[str], *, restrictions: bool) -> Iterable[Sequence[Any]]:
        """Run :func:`key_lookup` for these subjects."""
        ...

    def insert_absent(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Insert ``subject_key`` rows, skipping any already stored.

        True only if every row was inserted and no other transaction can have stored one of
        these keys since the lookup (so the new keys are the stored ones); False to re-read.
        """
        ...


def fetch_data_keys(
    rows: KeyRows, *, keys: Collection[KeyId], kek: bytes, refuse_restricted: bool
) -> dict[KeyId, bytes]:
    """Return several data keys, creating the missing ones: the one rule of both paths.

    Parameters
    ----------
    rows : KeyRows
        The session's or the writer connection's access to ``subject_key``.
    keys : collection of KeyId
        The keys.
    kek : bytes
        The key-encryption key.
    refuse_restricted : bool
        Refuse subjects whose processing is restricted (Art. 18): new records about them.

    Returns
    -------
    dict of KeyId to bytes
        Each 32-byte data key.

    Raises
    ------
    KeyShredded
        If any of the keys was erased, or its subject asked for erasure (Art. 17).
    ProcessingRestricted
        With ``refuse_restricted``, if any of the subjects restricted processing (Art. 18).
    """
    wanted = set(keys)
    pseudonyms = sorted({key.pseudonym for key in wanted})
    found, missing = _resolve_keys(
        rows.select(pseudonyms, restrictions=refuse_restricted), wanted, kek
    )
    if not missing:
        return found
    now = datetime.now(UTC)
    fresh = {key: new_data_key() for key in missing}
    created = rows.insert_absent(
        [
            {
                "pseudonym": key.pseudonym,
                "category": key.category,
                "epoch": key.epoch,
                "wrapped_key": wrap_data_key(
                    kek, dek, pseudonym=key.pseudonym, **_wrap_context(key.category, key.epoch)
                ),
                "created_at": now,
            }
            for key, dek in fresh.items()
        ]
    )
    if created:
        found.update(fresh)
    else:
        # Another transaction may have won the race for some of them: use whichever is stored.
        again = rows.select(sorted({key.pseudonym for key in missing}), restrictions=False)
        more, _ = _resolve_keys(again, missing, kek)
        found.update(more)
    return found


class _SessionKeyRows:
    """Key rows through a session's connection (Core: this runs once per group commit, and
    the ORM's result machinery costs more than the query)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def select(self, pseudonyms: Sequence[str], *, restrictions: bool) -> Iterable[Sequence[Any]]:
        lookup = _KEYS_AND_RESTRICTIONS_OF if restrictions else _KEYS_OF
        return self._session.connection().execute(lookup, {"pseudonyms": list(pseudonyms)}).all()

    def insert_absent(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        _insert_subject_key_if_absent(self._session, rows=[dict(row) for row in rows])
        # Another worker may have stored some of them first (the lookup ran before we wrote).
        return False


def data_keys_for(
    session: Session,
    *,
    keys: Collection[KeyId],
    kek: bytes,
    refuse_restricted: bool = False,
) -> dict[KeyId, bytes]:
    """Return several data keys, creating the missing ones, in two statements.

    The group-commit writer's path: one lookup for a whole batch instead of one per decision.
    Call it inside ``write_transaction`` so new keys commit with what they protect.

    Parameters
    ----------
    session : Session
        Inside ``write_transaction``.
    keys : collection of KeyId
        The keys: subject, retention category and year.
    kek : bytes
        The key-encryption key.
    refuse_restricted : bool
        Refuse subjects whose processing is restricted (Art. 18): new records about them.

    Returns
    -------
    dict of KeyId to bytes
        Each 32-byte data key.

    Raises
    ------
    KeyShredded
        If any of the keys was erased, or its subject asked for erasure (Art. 17).
    ProcessingRestricted
        With ``refuse_restricted``, if any of the subjects restricted processing (Art. 18).
    """
    return fetch_data_keys(
        _SessionKeyRows(session), keys=keys, kek=kek, refuse_restricted=refuse_restricted
    )


# --- shredding -----------------------------------------------------------------------------


def _mark_erased(session: Session, pseudonym: str, now: datetime) -> None:
    _insert_subject_key_if_absent(
        session,
        pseudonym=pseudonym,
        category=ERASED_MARKER,
        epoch=LEGACY_EPOCH,
        wrapped_key=None,
        created_at=now,
        shredded_at=now,
    )


def shred_subject_key(session: Session, *, pseudonym: str) -> bool:
    """Erase every data key of a subject (crypto-shredding, Art. 17) and mark them erased.

    Every field sealed under the keys becomes unreadable for good; the log's ciphertexts and
    hashes stay, so the chain still verifies. The erasure marker keeps new keys from being
    created for the subject later by mistake. On PostgreSQL the old row versions are
    physically removed by the next VACUUM of ``subject_key``.

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction`` -- the
        place to append the erasure's ``rights_request`` entry atomically with it.
    pseudonym : str
        The subject's pseudonym.

    Returns
    -------
    bool
        True if a key was wiped now, False if there was none or all were already wiped.
    """
    now = datetime.now(UTC)
    with writing(session):
        wiped = session.execute(
            update(SubjectKey)
            .where(SubjectKey.pseudonym == pseudonym, SubjectKey.shredded_at.is_(None))
            .values(wrapped_key=None, shredded_at=now)
        )
        _mark_erased(session, pseudonym, now)
        return bool(cast("CursorResult[Any]", wiped).rowcount)


def shred_data_keys(
    session: Session,
    *,
    pseudonym: str,
    keys: Collection[tuple[str, int]],
    mark_erased: bool = False,
    now: datetime | None = None,
) -> int:
    """Erase some of a subject's data keys: those not under a legal hold (Art. 17(3)).

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    pseudonym : str
        The subject's pseudonym.
    keys : collection of (category, epoch)
        The keys to wipe.
    mark_erased : bool
        Also mark the subject as erased: no new key will be created for them.
    now : datetime, optional
        The time of the erasure (the current time by default).

    Returns
    -------
    int
        How many keys were wiped now.
    """
    when = now or datetime.now(UTC)
    wiped = 0
    with writing(session):
        for category, epoch in sorted(set(keys)):
            result = session.execute(
                update(SubjectKey)
                .where(
                    SubjectKey.pseudonym == pseudonym,
                    SubjectKey.category == category,
                    SubjectKey.epoch == epoch,
                    SubjectKey.shredded_at.is_(None),
                )
                .values(wrapped_key=None, shredded_at=when)
            )
            wiped += cast("CursorResult[Any]", result).rowcount
        if mark_erased:
            _mark_erased(session, pseudonym, when)
    return wiped


def shred_expired_keys(
    session: Session,
    *,
    category: str,
    through_epoch: int,
    exclude: Collection[str] = (),
    now: datetime | None = None,
) -> int:
    """Erase every subject's keys of one category up to a year (retention).

    Parameters
    ----------
    session : Session
        Without an open transaction (committed here), or inside ``write_transaction``.
    category : str
        The retention category.
    through_epoch : int
        The last expired year: keys of this year and before are wiped.
    exclude : collection of str
        Pseudonyms under a legal hold (an open case), whose keys are kept.
    now : datetime, optional
        The time of the erasure.

    Returns
    -------
    int
        How many keys were wiped.
    """
    query = (
        update(SubjectKey)
        .where(*_expired(category, through_epoch, exclude))
        .values(wrapped_key=None, shredded_at=now or datetime.now(UTC))
    )
    with writing(session):
        return cast("CursorResult[Any]", session.execute(query)).rowcount


def count_expired_keys(
    session: Session, *, category: str, through_epoch: int, exclude: Collection[str] = ()
) -> int:
    """How many keys :func:`shred_expired_keys` would wipe (a retention dry run).

    Parameters
    ----------
    session : Session
        The session.
    category, through_epoch, exclude
        As for :func:`shred_expired_keys`.

    Returns
    -------
    int
        The number of live keys of the category up to that year, held subjects' aside.
    """
    query = select(func.count()).where(*_expired(category, through_epoch, exclude))
    return session.execute(query).scalar_one()


def _expired(category: str, through_epoch: int, exclude: Collection[str]) -> list[Any]:
    # The one rule of "expired": a live key of the category up to the year, not under a hold.
    clauses: list[Any] = [
        SubjectKey.category == category,
        SubjectKey.epoch <= through_epoch,
        SubjectKey.shredded_at.is_(None),
    ]
    if exclude:
        clauses.append(SubjectKey.pseudonym.not_in(sorted(exclude)))
    return clauses


class KeyState(NamedTuple):
    """One of a subject's keys as an erasure plan sees it: which, and whether already wiped."""

    category: str
    epoch: int
    shredded_at: datetime | None


def subject_keys(session: Session, *, pseudonym: str) -> list[KeyState]:
    """Every key a subject has (all categories and years), wiped ones included.

    Parameters
    ----------
    session : Session
        The session.
    pseudonym : str
        The subject.

    Returns
    -------
    list of KeyState
        Ordered by category and year; the erasure marker is not a key and is left out.
    """
    rows = session.execute(
        select(SubjectKey.category, SubjectKey.epoch, SubjectKey.shredded_at)
        .where(SubjectKey.pseudonym == pseudonym, SubjectKey.category != ERASED_MARKER)
        .order_by(SubjectKey.category, SubjectKey.epoch)
    ).all()
    return [KeyState(row.category, int(row.epoch), row.shredded_at) for row in rows]


def erased_with_live_keys(session: Session) -> list[str]:
    """The people who asked for erasure and still have a key a legal hold kept.

    Parameters
    ----------
    session : Session
        The session.

    Returns
    -------
    list of str
        Their pseudonyms, sorted.
    """
    marked = select(SubjectKey.pseudonym).where(SubjectKey.category == ERASED_MARKER)
    rows = session.scalars(
        select(SubjectKey.pseudonym)
        .where(
            SubjectKey.pseudonym.in_(marked),
            SubjectKey.category != ERASED_MARKER,
            SubjectKey.shredded_at.is_(None),
        )
        .distinct()
        .order_by(SubjectKey.pseudonym)
    ).all()
    return list(rows)


def scrub_storage(engine: Engine) -> None:
    """Push wiped keys out of the database's files after a shredding commit.

    SQLite keeps the pages a transaction replaced in the ``-wal`` file until a checkpoint
    resets it: ``wal_checkpoint(TRUNCATE)`` copies the new pages into the main file (where
    ``secure_delete`` has zeroed the old cells) and empties the WAL. PostgreSQL keeps the
    old row versions until VACUUM.

    Parameters
    ----------
    engine : Engine
        The service's engine.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM subject_key")
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


# --- start-up ------------------------------------------------------------------------------


def keys_open_stored_data(
    session: Session, *, kek: bytes, checkpoint_signing_key: bytes
) -> dict[str, bool]:
    """Whether these keys are the ones the stored data was written under, from the data itself.

    For a database that kept no secrets check yet (written before there was one): one stored
    subject data key must unwrap under the KEK, and the newest checkpoint must be signed by the
    checkpoint key. Each is True when there is nothing stored to try it on.

    Parameters
    ----------
    session : Session
        A session on the service's database.
    kek : bytes
        The key-encryption key.
    checkpoint_signing_key : bytes
        The raw Ed25519 checkpoint signing key.

    Returns
    -------
    dict of str to bool
        ``{"key_encryption_key": ..., "checkpoint_signing_key": ...}``.
    """
    stored = session.execute(
        select(SubjectKey.pseudonym, SubjectKey.category, SubjectKey.epoch, SubjectKey.wrapped_key)
        .where(SubjectKey.wrapped_key.is_not(None))
        .limit(1)
    ).first()
    opens = True
    if stored is not None and stored.wrapped_key is not None:
        try:
            _unwrap(kek, stored.wrapped_key, KeyId(stored.pseudonym, stored.category, stored.epoch))
        except DecryptionError:
            opens = False
    return {
        "key_encryption_key": opens,
        "checkpoint_signing_key": signed_by_checkpoint_key(
            session, signing_key=checkpoint_signing_key
        ),
    }
