"""Reading an operator's CSV and checking it against the model's spec before any training.

A file that does not fit its spec is refused with every problem named (column, count, the first
offending lines), so an operator can fix the export in one go; nothing is trained or registered.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.encoding import parse_boolean
from models.spec import CsvOptions, Feature, Label, ModelSpec

__all__ = [
    "DataError",
    "detect_separator",
    "line_numbers",
    "missing_column_problems",
    "parse_target",
    "read_csv",
    "validate_frame",
]

_EXAMPLES = 3


class DataError(ValueError):
    """A data file that cannot be used with its spec; ``problems`` lists each reason."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


_SEPARATORS = (",", ";", "\t", "|")
_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}
# "12,5" and "1.234,5": numbers written with a decimal comma (and points between thousands).
_DECIMAL_COMMA = r"^([+-]?)(\d+|\d{1,3}(?:\.\d{3})+),(\d+)$"


def _yaml_separator(separator: str) -> str:
    return '"\\t"' if separator == "\t" else f'"{separator}"'


def detect_separator(sample: str) -> str:
    """The separator of a CSV among , ; tab and |, from its first lines (a comma if unsure).

    The header decides when only one candidate appears in it; otherwise :class:`csv.Sniffer`
    looks for the candidate that splits every line the same way.
    """
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end in the middle of a line
    header = lines[0] if lines else ""
    present = [s for s in _SEPARATORS if s in header]
    if len(present) == 1:
        return present[0]
    try:
        sniffed = csv.Sniffer().sniff(
            "\n".join(lines[:50]), delimiters="".join(present or _SEPARATORS)
        )
    except csv.Error:
        return max(present, key=header.count) if present else ","
    return sniffed.delimiter


def _decimal_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """Rewrite "12,5" as "12.5" (and "1.234,5" as "1234.5") so that numbers parse."""
    out = frame.copy()
    for column in out.columns:
        text = out[column]
        found = text.str.match(_DECIMAL_COMMA)
        if found.any():
            out[column] = text.where(
                ~found,
                text.str.replace(_DECIMAL_COMMA, r"\1\2.\3", regex=True).str.replace(
                    r"\.(?=\d{3}[.])", "", regex=True
                ),
            )
    return out


def read_csv(path: str | Path, *, options: CsvOptions | None = None) -> pd.DataFrame:
    """Read a CSV with every column as text, so that type checks see what the file really holds.

    Parameters
    ----------
    path : str or Path
        The file.
    options : CsvOptions, optional
        The spec's ``csv`` section. A separator it does not declare is detected among
        ``, ; tab |``; the decimal mark is a comma when the separator is not one (numbers such as
        "12,5" are then rewritten "12.5"), unless the spec declares it. ``separator: whitespace``
        splits lines on runs of spaces or tabs; ``header: false`` names the columns by position
        (``columns``), and every line must then have one value per column.

    Raises
    ------
    DataError
        The file is missing, empty, not UTF-8 text, not a CSV, has no rows or duplicate column
        names, or its header reads as one column (the separator to declare is named); a
        positional file with a line of the wrong length (its line number is named).
    """
    path = Path(path)
    name = str(path)
    options = options or CsvOptions()
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
    if options.separator == "whitespace" or not options.header:
        frame = _read_positional(path, options)
        decimal = options.decimal or ("," if options.separator not in (",", None) else ".")
        return _decimal_commas(frame) if decimal == "," else frame
    separator = options.separator or detect_separator(sample)
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(name, ["the file is empty"]) from exc
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError, ValueError) as exc:
        raise DataError(name, [f"unreadable CSV: {str(exc).strip()}"]) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    merged = _merged_header(list(frame.columns), separator)
    if merged:
        raise DataError(name, [merged])
    if frame.empty:
        raise DataError(name, ["the file has a header but no rows"])
    dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if dupes:
        raise DataError(name, [f"duplicate column names: {dupes}"])
    decimal = options.decimal or ("," if separator != "," else ".")
    return _decimal_commas(frame) if decimal == "," else frame


def _split_lines(path: Path, options: CsvOptions) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        if options.separator == "whitespace":
            return [line.split() for line in handle]
        # Without a header the separator is detected from the rows themselves.
        text = handle.read()
    separator = options.separator or detect_separator(text[:65536])
    return [
        [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), delimiter=separator)
    ]


def _read_positional(path: Path, options: CsvOptions) -> pd.DataFrame:
    """A file split on runs of whitespace, or without a header row (its columns named by the
    spec, in order): every line must have as many values as there are columns."""
    name = str(path)
    try:
        rows = _split_lines(path, options)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(name, [f"unreadable file: {exc}"]) from exc
    numbered = [(i + 1, row) for i, row in enumerate(rows) if row]  # blank lines are skipped
    if options.header:
        if not numbered:
            raise DataError(name, ["the file is empty"])
        columns = numbered[0][1]
        numbered = numbered[1:]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise DataError(name, [f"duplicate column names: {dupes}"])
    else:
        columns = list(options.columns or [])
    if not numbered:
        raise DataError(name, ["the file has no rows"])
    wrong = [(line, len(row)) for line, row in numbered if len(row) != len(columns)]
    if wrong:
        shown = ", ".join(f"line {line} has {count}" for line, count in wrong[:_EXAMPLES])
        more = f" and {len(wrong) - _EXAMPLES} more lines" if len(wrong) > _EXAMPLES else ""
        raise DataError(
            name,
            [
                f"every line needs {len(columns)} values, one per column {columns}, but "
                f"{shown} values{more}"
            ],
        )
    frame = pd.DataFrame([row for _, row in numbered], columns=columns, dtype=str)
    # Where each row stands in the file, so that problems name the line an operator sees.
    frame.attrs["lines"] = [line for line, _ in numbered]
    return frame


def _merged_header(columns: list[str], separator: str) -> str | None:
    """A hint when the whole header was read as one column: the file uses another separator."""
    if len(columns) != 1:
        return None
    header = columns[0]
    others = [s for s in _SEPARATORS if s != separator and s in header]
    if not others:
        return None
    likely = max(others, key=header.count)
    return (
        f"the header reads as one column {header!r}: the file looks separated by "
        f"{_SEPARATOR_NAMES[likely]}, not {_SEPARATOR_NAMES[separator]}; declare "
        f"csv: {{separator: {_yaml_separator(likely)}}} in the spec"
    )


def missing_column_problems(columns: Sequence[str], required: Iterable[str]) -> list[str]:
    """One problem per required column the file lacks, with the closest name it has, then the
    file's columns once; empty when nothing is missing.

    A column the spec already reads is not offered as the match of another.
    """
    present = set(columns)
    wanted = list(dict.fromkeys(required))
    missing = [c for c in wanted if c not in present]
    if not missing:
        return []
    free = [c for c in columns if c not in set(wanted)]
    by_lower = {c.lower(): c for c in reversed(free)}
    problems = []
    for column in missing:
        match = by_lower.get(column.lower())
        if match is None:
            close = difflib.get_close_matches(column.lower(), list(by_lower), n=1, cutoff=0.6)
            match = by_lower[close[0]] if close else None
        hint = f" (did you mean {match!r}?)" if match else ""
        problems.append(f"missing column {column!r}{hint}")
    return [*problems, f"the file has columns {list(columns)}"]


def line_numbers(mask: NDArray[np.bool_] | pd.Series, lines: Sequence[int] | None = None) -> str:
    """The CSV lines where ``mask`` holds, as an operator counts them ("lines 2, 7 and 3 more").

    ``lines`` gives each row's line in the file where it is not simply the row after a header
    (a file without one, blank lines skipped).
    """
    flags = np.asarray(mask, dtype=bool)
    # +2: one for the header line, one because people count lines from 1.
    rows = [
        str(lines[i] if lines is not None else i + 2) for i in np.flatnonzero(flags)[:_EXAMPLES]
    ]
    more = int(flags.sum()) - len(rows)
    return "lines " + ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def _check_feature(
    feature: Feature, raw: pd.Series, problems: list[str], lines: Sequence[int] | None = None
) -> pd.Series:
    """Validate one column and return it typed (float for numbers/booleans, str for categories)."""
    column = feature.column
    text = raw.astype(str).str.strip()
    blank = text.eq("") | text.str.lower().isin({"na", "nan", "null", "none"})
    if blank.any() and not feature.allow_missing:
        problems.append(
            f"column {column!r} has {int(blank.sum())} blank values "
            f"({line_numbers(blank, lines)}); fill them or declare allow_missing: true for "
            "this feature"
        )
    if feature.type == "category":
        values = text.where(~blank, None)
        if feature.categories is not None:
            unknown = ~blank & ~text.isin(feature.categories)
            if unknown.any():
                seen = sorted(text[unknown].unique())[:_EXAMPLES]
                problems.append(
                    f"column {column!r} has values outside its categories {feature.categories}: "
                    f"{seen} ({line_numbers(unknown, lines)})"
                )
        return values
    if feature.type == "boolean":
        parsed = text.map(parse_boolean).astype("float64")
        bad = ~blank & parsed.isna()
        if bad.any():
            seen = sorted(text[bad].unique())[:_EXAMPLES]
            problems.append(
                f"column {column!r} should be yes/no (or true/false, 1/0) but has {seen} "
                f"({line_numbers(bad, lines)})"
            )
        return parsed
    numbers = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
    bad = ~blank & (numbers.isna() | ~np.isfinite(numbers.fillna(0.0)))
    if bad.any():
        seen = sorted(text[bad].unique())[:_EXAMPLES]
        problems.append(
            f"column {column!r} should be numeric but has {seen} ({line_numbers(bad, lines)})"
        )
        return numbers
    if feature.type == "integer":
        fractional = numbers.notna() & (numbers != np.floor(numbers.fillna(0.0)))
        if fractional.any():
            problems.append(
                f"column {column!r} should hold whole numbers but has fractions "
                f"({line_numbers(fractional, lines)})"
            )
    if feature.minimum is not None:
        low = numbers < feature.minimum
        if low.any():
            problems.append(
                f"column {column!r} has values below its minimum {feature.minimum:g} "
                f"({line_numbers(low, lines)})"
            )
    if feature.maximum is not None:
        high = numbers > feature.maximum
        if high.any():
            problems.append(
                f"column {column!r} has values above its maximum {feature.maximum:g} "
                f"({line_numbers(high, lines)})"
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


# What a target column may hold when the spec does not say which values are positive.
_BOOLEAN_TARGET = {"0", "1", "true", "false", "yes", "no"}


def _target_coding_problems(
    raw: pd.Series, spec: ModelSpec, lines: Sequence[int] | None
) -> list[str]:
    """A target whose coding the spec does not give: read as 0/1 it would be silently wrong
    (the classic credit data codes good 1 and bad 2: "1" would be read as the positive class)."""
    text = raw.astype(str).str.strip()
    lowered = text.str.lower()
    given = text.ne("")
    name = spec.target
    if spec.negative_values is not None:
        known = {v.strip().lower() for v in [*spec.positive_values, *spec.negative_values]}
        stray = given & ~lowered.isin(known)
        if stray.any():
            return [
                f"target column {name!r} has values that are neither positive "
                f"{spec.positive_values} nor negative {spec.negative_values}: "
                f"{sorted(text[stray].unique())[:_EXAMPLES]} ({line_numbers(stray, lines)})"
            ]
        return []
    if "positive_values" in spec.model_fields_set:
        return []
    stray = given & ~lowered.isin(_BOOLEAN_TARGET)
    if not stray.any():
        return []
    seen = sorted(text[given].unique())[:_EXAMPLES]
    return [
        f"target column {name!r} holds {seen}, not yes/no or 1/0: declare in the spec which "
        f'values mean the outcome to predict (positive_values, e.g. ["{seen[-1]}"]) and '
        "the others (negative_values)"
    ]


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
    lines = frame.attrs.get("lines")
    required = [f.column for f in spec.features] + ([spec.target] if spec.target else [])
    missing = missing_column_problems(list(frame.columns), required)
    if missing:
        raise DataError(source, missing)
    out = pd.DataFrame(index=frame.index)
    for feature in spec.features:
        out[feature.name] = _check_feature(feature, frame[feature.column], problems, lines)
    if spec.target and spec.kind == "lifetime_value":
        # A value to predict, not a class: a number, never blank, never negative.
        label = Label(en=spec.target, es=spec.target)
        value = Feature(name=spec.target, type="number", minimum=0.0, label=label)
        out[spec.target] = _check_feature(value, frame[spec.target], problems, lines)
        if problems:
            raise DataError(source, problems)
        for attribute in spec.protected_attributes:
            if attribute in frame.columns:
                out[attribute] = frame[attribute].astype(str).str.strip()
        return out
    if spec.target:
        target = parse_target(frame[spec.target], spec.positive_values)
        if target.isna().any():
            problems.append(
                f"target column {spec.target!r} has {int(target.isna().sum())} blank values "
                f"({line_numbers(target.isna(), lines)})"
            )
        problems.extend(_target_coding_problems(frame[spec.target], spec, lines))
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
