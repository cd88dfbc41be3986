"""A batch's input file: read as CSV or Parquet, fingerprinted, and turned into requests.

Each row gets a stable key -- the file's SHA-256 and the row's own key (its id column, or its
position) -- from which the id of its decision or profile is derived: the same file scored again
names the same records, so a re-run writes nothing twice and a crashed run resumes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from models.spec import ModelSpec

__all__ = [
    "BatchFile",
    "BatchFileError",
    "BatchRow",
    "frame_features",
    "read_batch_file",
    "record_id",
]

_CHUNK = 1 << 20


class BatchFileError(ValueError):
    """The input file cannot be read, or lacks a column the batch needs."""


@dataclass(frozen=True)
class BatchRow:
    """One row of the file: its key, whom it is about, and the model's features."""

    key: str
    subject_ref: str
    features: dict[str, Any]


@dataclass(frozen=True)
class BatchFile:
    """The rows of a batch file and the fingerprint that names them."""

    path: Path
    sha256: str
    frame: pd.DataFrame
    key_column: str | None
    subject_column: str

    def __len__(self) -> int:
        return len(self.frame)

    def rows(self, spec: ModelSpec) -> Iterator[BatchRow]:
        """The rows in file order, each with the features ``spec`` declares (blanks left out,
        so that the model's own rule on missing values applies)."""
        keys = (
            self.frame[self.key_column].astype(str).tolist()
            if self.key_column is not None
            else [str(i) for i in range(len(self.frame))]
        )
        subjects = self.frame[self.subject_column].astype(str).tolist()
        records = frame_features(self.frame, spec)
        for key, subject, features in zip(keys, subjects, records, strict=True):
            yield BatchRow(key=key, subject_ref=subject, features=features)


def frame_features(frame: pd.DataFrame, spec: ModelSpec) -> list[dict[str, Any]]:
    """Each row's features as an application would send them: the columns ``spec`` declares,
    blanks left out (so that the model's own rule on missing values applies), numpy scalars as
    plain Python values. Both engines read a file's rows with it (a Spark executor, its part)."""
    names = [f.name for f in spec.features if f.name in frame.columns]
    records: list[dict[str, Any]] = [{} for _ in range(len(frame))]
    # A column at a time (a million rows: seconds less than a value at a time), each row's
    # features in the spec's order as before.
    for name in names:
        column = frame[name]
        values = column.tolist()  # Python scalars, except in an object column
        if column.dtype == object:
            values = [_plain(v) for v in values]
        key = str(name)
        for record, value in zip(records, values, strict=True):
            if not _blank(value):
                record[key] = value
    return records


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    # numpy scalars to the JSON types an application sends (validation is the API's own).
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_batch_file(
    path: Path, *, spec: ModelSpec, key_column: str | None, subject_column: str | None
) -> BatchFile:
    """Read a CSV or Parquet file of a batch.

    Parameters
    ----------
    path : Path
        ``.parquet`` (or ``.pq``) is read as Parquet, anything else as CSV.
    spec : ModelSpec
        The model's spec: its first id column is the default key and subject column.
    key_column : str, optional
        The column that names a row in the file (unique); the spec's id column by default, else
        the row's position.
    subject_column : str, optional
        The column of the application's reference for the person; the key column by default.

    Raises
    ------
    BatchFileError
        The file does not exist or cannot be read, a column is missing, or a key repeats.
    """
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except FileNotFoundError:
        raise BatchFileError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise BatchFileError(f"{path}: cannot be read: {exc}") from exc
    if key_column is None:
        key_column = next((c for c in spec.id_columns if c in frame.columns), None)
    subject_column = subject_column or key_column
    if subject_column is None:
        raise BatchFileError(
            f"{path}: name the column of the people's references (--subject-column); the spec's "
            f"id columns {spec.id_columns} are not in the file"
        )
    missing = [c for c in (key_column, subject_column) if c is not None and c not in frame.columns]
    if missing:
        raise BatchFileError(f"{path}: no column {', '.join(map(repr, missing))}")
    if key_column is not None and frame[key_column].duplicated().any():
        raise BatchFileError(f"{path}: the key column {key_column!r} repeats a value")
    return BatchFile(
        path=path,
        sha256=_sha256(path),
        frame=frame,
        key_column=key_column,
        subject_column=subject_column,
    )


def record_id(file_sha256: str, model: str, row_key: str) -> str:
    """The id of the record a row becomes: 32 hex characters of SHA-256 over the file's
    fingerprint, the model and the row's key; the same for every run of the same file."""
    return hashlib.sha256(f"{file_sha256}\x00{model}\x00{row_key}".encode()).hexdigest()[:32]
