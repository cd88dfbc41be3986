"""``glassbox train credit`` on a file in the classic credit-data layout: a bad file is refused
with the line and column at fault, and nothing is trained or registered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from models.spec import load_spec
from tests.api.cli.conftest import invoke
from tests.models.credit_codes import COLUMNS, credit_codes_rows

SPEC = Path(__file__).parents[3] / "docs" / "examples" / "credit_codes.yaml"
Rows = list[list[str]]


def _set(row: int, column: str, value: str) -> Callable[[Rows], Rows]:
    def change(rows: Rows) -> Rows:
        rows[row][COLUMNS.index(column)] = value
        return rows

    return change


def _drop_last_value(row: int) -> Callable[[Rows], Rows]:
    def change(rows: Rows) -> Rows:
        rows[row] = rows[row][:-1]
        return rows

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Line numbers count from 1: the file has no header row.
        (_drop_last_value(4), ["every line needs 21 values, one per column", "line 5 has 20"]),
        (
            _set(2, "checking_status", "A15"),
            ["column 'checking_status' has values outside", "['A15'] (lines 3)"],
        ),
        (
            _set(6, "duration", "12m"),
            ["column 'duration' should be numeric but has ['12m'] (lines 7)"],
        ),
        (
            _set(9, "class", "0"),
            ["target column 'class' has values that are neither positive", "['0'] (lines 10)"],
        ),
    ],
    ids=["column count", "unknown code", "not a number", "target coding"],
)
def test_a_bad_file_is_refused_naming_the_line_and_column(
    tmp_path: Path, change: Callable[[Rows], Rows], expected: list[str]
) -> None:
    rows = change(credit_codes_rows(300))
    data = tmp_path / "applicants.data"
    data.write_text("".join(" ".join(row) + "\n" for row in rows))
    code, output = invoke(
        "train", "credit", "--data", str(data), "--spec", str(SPEC), "--home", str(tmp_path)
    )
    text = " ".join(output.split())
    assert code == 2, output
    for words in expected:
        assert words in text, text
    assert "Nothing was trained or registered." in text and "Traceback" not in output
    assert not (tmp_path / "mlflow.db").exists()


def test_a_target_coded_1_2_needs_its_coding_in_the_spec(tmp_path: Path) -> None:
    # Read as yes/no, "1" (a good credit) would silently become the outcome to predict.
    raw = load_spec(SPEC).model_dump(mode="json", exclude_defaults=True)
    del raw["positive_values"], raw["negative_values"]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    data = tmp_path / "applicants.data"
    data.write_text("".join(" ".join(row) + "\n" for row in credit_codes_rows(300)))
    code, output = invoke(
        "train", "credit", "--data", str(data), "--spec", str(spec), "--home", str(tmp_path)
    )
    text = " ".join(output.split())
    assert code == 2, output
    assert "target column 'class' holds ['1', '2'], not yes/no or 1/0" in text
    assert "positive_values" in text
    assert not (tmp_path / "mlflow.db").exists()


def test_a_file_with_a_header_is_refused_when_the_spec_says_none(tmp_path: Path) -> None:
    data = tmp_path / "applicants.data"
    data.write_text(
        " ".join(COLUMNS) + "\n" + "".join(" ".join(r) + "\n" for r in credit_codes_rows(300))
    )
    code, output = invoke(
        "train", "credit", "--data", str(data), "--spec", str(SPEC), "--home", str(tmp_path)
    )
    text = " ".join(output.split())
    assert code == 2, output
    # The header's names are read as a row: its codes and numbers are named on line 1.
    assert "(lines 1)" in text
    assert not (tmp_path / "mlflow.db").exists()
