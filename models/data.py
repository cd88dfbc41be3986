"""Reading an operator's CSV and checking it against the model's spec before any training.

A file that does not fit its spec is refused with every problem named (column, count, the first
offending lines), so an operator can fix the export in one go; nothing is trained or registered.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.encoding import parse_boolean
from models.spec import Feature, ModelSpec

__all__ = ["DataError", "line_numbers", "parse_target", "read_csv", "validate_frame"]

_EXAMPLES = 3


class DataError(ValueError):
    """A data file that cannot be used with its spec; ``problems`` lists each reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with every column as text, so that type checks see what the file really holds."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise DataError(name, ["no such file"])
    if path.stat().st_size == 0:
        raise DataError(name, ["the file is empty"])
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(65536)
    except UnicodeDecodeError as exc:
        raise DataError(
            name, [f"not a UTF-8 text file ({exc.reason} at byte {exc.start})"]
        ) from exc
    if "\x00" in sample:
        raise DataError(name, ["not a CSV file (binary content)"])
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(name, ["the file is empty"]) from exc
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError, ValueError) as exc:
        raise DataError(name, [f"unreadable CSV: {str(exc).strip()}"]) from exc
    if frame.empty:
        raise DataError(name, ["the file has a header but no rows"])
    frame.columns = [str(c).strip() for c in frame.columns]
    dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if dupes:
        raise DataError(name, [f"duplicate column names: {dupes}"])
    return frame


def line_numbers(mask: NDArray[np.bool_] | pd.Series) -> str:
    """The CSV lines where ``mask`` holds, as an operator counts them ("lines 2, 7 and 3 more")."""
    flags = np.asarray(mask, dtype=bool)
    # +2: one for the header line, one because people count lines from 1.
    rows = [str(i + 2) for i in np.flatnonzero(flags)[:_EXAMPLES]]
    more = int(flags.sum()) - len(rows)
    return "lines " + ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def _check_feature(feature: Feature, raw: pd.Series, problems: list[str]) -> pd.Series:
    """Validate one column and return it typed (float for numbers/booleans, str for categories)."""
    column = feature.column
    text = raw.astype(str).str.strip()
    blank = text.eq("") | text.str.lower().isin({"na", "nan", "null", "none"})
    if blank.any() and not feature.allow_missing:
        problems.append(
            f"column {column!r} has {int(blank.sum())} blank values ({line_numbers(blank)}); "
            "fill them or declare allow_missing: true for this feature"
        )
    if feature.type == "category":
        values = text.where(~blank, None)
        if feature.categories is not None:
            unknown = ~blank & ~text.isin(feature.categories)
            if unknown.any():
                seen = sorted(text[unknown].unique())[:_EXAMPLES]
                problems.append(
                    f"column {column!r} has values outside its categories {feature.categories}: "
                    f"{seen} ({line_numbers(unknown)})"
                )
        return values
    if feature.type == "boolean":
        parsed = text.map(parse_boolean).astype("float64")
        bad = ~blank & parsed.isna()
        if bad.any():
            seen = sorted(text[bad].unique())[:_EXAMPLES]
            problems.append(
                f"column {column!r} should be yes/no (or true/false, 1/0) but has {seen} "
                f"({line_numbers(bad)})"
            )
        return parsed
    numbers = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
    bad = ~blank & (numbers.isna() | ~np.isfinite(numbers.fillna(0.0)))
    if bad.any():
        seen = sorted(text[bad].unique())[:_EXAMPLES]
        problems.append(f"column {column!r} should be numeric but has {seen} ({line_numbers(bad)})")
        return numbers
    if feature.type == "integer":
        fractional = numbers.notna() & (numbers != np.floor(numbers.fillna(0.0)))
        if fractional.any():
            problems.append(
                f"column {column!r} should hold whole numbers but has fractions "
                f"({line_numbers(fractional)})"
            )
    if feature.minimum is not None:
        low = numbers < feature.minimum
        if low.any():
            problems.append(
                f"column {column!r} has values below its minimum {feature.minimum:g} "
                f"({line_numbers(low)})"
            )
    if feature.maximum is not None:
        high = numbers > feature.maximum
        if high.any():
            problems.append(
                f"column {column!r} has values above its maximum {feature.maximum:g} "
                f"({line_numbers(high)})"
            )
    return numbers


def parse_target(raw: pd.Series, positive_values: list[str]) -> pd.Series:
    """Map a target column to 1 (positive) / 0 (negative); blanks become NaN."""
    positive = {v.strip().lower() for v in positive_values}
    text = raw.astype(str).str.strip()
    lowered = text.str.lower()
    blank = text.eq("")
    return pd.Series(
        np.where(blank, math.nan, np.where(lowered.isin(positive), 1.0, 0.0)),
        index=raw.index,
        dtype="float64",
    )


def validate_frame(frame: pd.DataFrame, spec: ModelSpec, *, source: str) -> pd.DataFrame:
    """Check a raw (all-text) frame against a classifier spec and return it typed.

    The result has one column per spec feature (named as the feature), the target as 0/1 ints
    and, where present, the protected attributes as text. Id and other columns are dropped.

    Raises
    ------
    DataError
        Listing every problem found: missing columns, wrong types, out-of-range values, blanks
        where none are allowed, a blank or single-class target.
    """
    problems: list[str] = []
    required = [f.column for f in spec.features] + ([spec.target] if spec.target else [])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            source,
            [f"missing column {c!r}" for c in missing]
            + [f"the file has columns {list(frame.columns)}"],
        )
    out = pd.DataFrame(index=frame.index)
    for feature in spec.features:
        out[feature.name] = _check_feature(feature, frame[feature.column], problems)
    if spec.target:
        target = parse_target(frame[spec.target], spec.positive_values)
        if target.isna().any():
            problems.append(
                f"target column {spec.target!r} has {int(target.isna().sum())} blank values "
                f"({line_numbers(target.isna())})"
            )
        classes = set(target.dropna().unique())
        if len(classes) < 2:
            seen = sorted(frame[spec.target].astype(str).str.strip().unique())[:_EXAMPLES]
            problems.append(
                f"target column {spec.target!r} has a single class (values {seen}; positive "
                f"values are {spec.positive_values}): a model needs both outcomes to learn from"
            )
        out[spec.target] = target
    if problems:
        raise DataError(source, problems)
    if spec.target:
        out[spec.target] = out[spec.target].astype("int64")
    for attribute in spec.protected_attributes:
        if attribute in frame.columns:
            out[attribute] = frame[attribute].astype(str).str.strip()
    return out
