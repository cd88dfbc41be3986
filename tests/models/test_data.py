"""An operator's CSV is checked against its spec; every problem is named, in one go."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.data import DataError, read_csv, validate_frame
from models.spec import ModelSpec, load_spec
from tests.models.telco import write_telco_csv

TELCO_SPEC = Path(__file__).parents[2] / "docs" / "examples" / "telco_churn.yaml"


@pytest.fixture(scope="module")
def telco_spec() -> ModelSpec:
    return load_spec(TELCO_SPEC)


@pytest.fixture
def telco_csv(tmp_path: Path) -> Path:
    return write_telco_csv(tmp_path / "telco.csv", n=400)


def _rewrite(path: Path, edit: dict[str, tuple[int, str]] | None = None, drop: str = "") -> Path:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column, (row, value) in (edit or {}).items():
        frame.loc[row, column] = value
    if drop:
        frame = frame.drop(columns=[drop])
    frame.to_csv(path, index=False)
    return path


def test_telco_export_validates_with_blanks_and_yes_no(
    telco_spec: ModelSpec, telco_csv: Path
) -> None:
    frame = validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")
    assert set(frame["Churn"].unique()) == {0, 1}
    assert frame["Partner"].isin([0.0, 1.0]).all()
    assert frame["TotalCharges"].isna().any(), "blank totals stay missing, not zero"
    assert "customerID" not in frame.columns
    assert {"gender", "SeniorCitizen"} <= set(frame.columns)


def test_missing_column_is_named(telco_spec: ModelSpec, telco_csv: Path) -> None:
    _rewrite(telco_csv, drop="Contract")
    with pytest.raises(DataError, match="missing column 'Contract'"):
        validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")


def test_wrong_type_names_column_value_and_line(telco_spec: ModelSpec, telco_csv: Path) -> None:
    _rewrite(telco_csv, edit={"MonthlyCharges": (4, "twenty"), "Partner": (7, "maybe")})
    with pytest.raises(DataError) as info:
        validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")
    message = str(info.value)
    assert "column 'MonthlyCharges' should be numeric but has ['twenty'] (lines 6)" in message
    assert "column 'Partner' should be yes/no" in message and "lines 9" in message


def test_fraction_in_whole_number_column(telco_spec: ModelSpec, telco_csv: Path) -> None:
    _rewrite(telco_csv, edit={"tenure": (0, "3.5")})
    with pytest.raises(DataError, match="'tenure' should hold whole numbers"):
        validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")


def test_out_of_range_and_blank_where_not_allowed(telco_spec: ModelSpec, telco_csv: Path) -> None:
    _rewrite(telco_csv, edit={"MonthlyCharges": (2, "-5"), "tenure": (3, "")})
    with pytest.raises(DataError) as info:
        validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")
    assert "'MonthlyCharges' has values below its minimum 0" in str(info.value)
    assert "'tenure' has 1 blank values (lines 5)" in str(info.value)


def test_single_class_target(telco_spec: ModelSpec, telco_csv: Path) -> None:
    frame = pd.read_csv(telco_csv, dtype=str, keep_default_na=False)
    frame["Churn"] = "No"
    frame.to_csv(telco_csv, index=False)
    with pytest.raises(DataError, match="single class"):
        validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")


def test_empty_header_only_binary_and_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_csv(empty)
    header = tmp_path / "header.csv"
    header.write_text("customerID,Churn\n")
    with pytest.raises(DataError, match="header but no rows"):
        read_csv(header)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00\x14\x00")
    with pytest.raises(DataError, match=r"binary|UTF-8"):
        read_csv(binary)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('a,b\n1,2\n3,"4\n')
    with pytest.raises(DataError, match="unreadable CSV"):
        read_csv(ragged)
    with pytest.raises(DataError, match="no such file"):
        read_csv(tmp_path / "absent.csv")
