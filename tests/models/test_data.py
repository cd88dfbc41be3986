"""An operator's CSV is checked against its spec; every problem is named, in one go."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.data import DataError, read_csv, validate_frame
from models.spec import CsvOptions, ModelSpec, load_spec
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


# -- files written the way real exports are -------------------------------------------------


def _european(source: Path, target: Path, *, separator: str = ";") -> Path:
    """The same export as written by a spreadsheet in a decimal-comma locale."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    for column in ("MonthlyCharges", "TotalCharges"):
        frame[column] = frame[column].str.replace(".", ",", regex=False)
    frame.to_csv(target, index=False, sep=separator)
    return target


def test_semicolons_and_decimal_commas_read_as_the_comma_file(
    telco_spec: ModelSpec, telco_csv: Path, tmp_path: Path
) -> None:
    semicolons = _european(telco_csv, tmp_path / "telco-es.csv")
    assert "," in semicolons.read_text().splitlines()[1]  # "29,85": decimal commas in the file
    expected = validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")
    frame = validate_frame(read_csv(semicolons), telco_spec, source="telco-es.csv")
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["MonthlyCharges"].between(18, 120).all()


def test_a_churn_model_trains_on_a_semicolon_file(telco_csv: Path, tmp_path: Path) -> None:
    from models.training import TrainingFiles, train_from_files

    semicolons = _european(telco_csv, tmp_path / "telco-es.csv")
    result = train_from_files("churn", TrainingFiles(data=semicolons), spec_path=TELCO_SPEC)
    assert result.rows["train"] + result.rows["eval"] == 400
    assert 0.5 < result.metrics["roc_auc"] <= 1.0


@pytest.mark.parametrize("separator", ["\t", "|"])
def test_tabs_and_pipes_are_detected(telco_csv: Path, tmp_path: Path, separator: str) -> None:
    other = pd.read_csv(telco_csv, dtype=str, keep_default_na=False)
    other.to_csv(tmp_path / "telco.txt", index=False, sep=separator)
    frame = read_csv(tmp_path / "telco.txt")
    assert list(frame.columns) == list(other.columns)
    assert frame["MonthlyCharges"].tolist() == other["MonthlyCharges"].tolist()


def test_a_wrongly_declared_separator_gets_a_hint(telco_csv: Path, tmp_path: Path) -> None:
    semicolons = _european(telco_csv, tmp_path / "telco-es.csv")
    with pytest.raises(DataError) as info:
        read_csv(semicolons, options=CsvOptions(separator=","))
    (problem,) = info.value.problems
    assert "reads as one column" in problem
    assert 'declare csv: {separator: ";"} in the spec' in problem


def test_declared_decimal_point_keeps_commas_as_text(tmp_path: Path) -> None:
    path = tmp_path / "amounts.csv"
    path.write_text("id;amount;note\n1;12,5;a\n2;1.234,5;b\n3;7;c\n")
    assert read_csv(path)["amount"].tolist() == ["12.5", "1234.5", "7"]
    declared = read_csv(path, options=CsvOptions(separator=";", decimal="."))
    assert declared["amount"].tolist() == ["12,5", "1.234,5", "7"]
    commas = tmp_path / "quoted.csv"
    commas.write_text('id,amount\n1,"12,5"\n2,"3,25"\n')
    assert read_csv(commas)["amount"].tolist() == ["12,5", "3,25"]
    assert read_csv(commas, options=CsvOptions(decimal=","))["amount"].tolist() == ["12.5", "3.25"]


def test_a_misspelt_column_gets_did_you_mean(telco_spec: ModelSpec, telco_csv: Path) -> None:
    features = [
        f.model_copy(update={"name": "tenrue"}) if f.name == "tenure" else f
        for f in telco_spec.features
    ]
    features = [
        f.model_copy(update={"source_column": "monthlycharges"})
        if f.name == "MonthlyCharges"
        else f
        for f in features
    ]
    spec = telco_spec.model_copy(update={"features": features, "target": "churn"})
    with pytest.raises(DataError) as info:
        validate_frame(read_csv(telco_csv), spec, source="telco.csv")
    problems = info.value.problems
    assert problems[:3] == [
        "missing column 'tenrue' (did you mean 'tenure'?)",
        "missing column 'monthlycharges' (did you mean 'MonthlyCharges'?)",
        "missing column 'churn' (did you mean 'Churn'?)",
    ]
    assert problems[3].startswith("the file has columns ['customerID'")
    assert len(problems) == 4


def test_a_column_the_spec_already_reads_is_not_offered(
    telco_spec: ModelSpec, telco_csv: Path
) -> None:
    _rewrite(telco_csv, drop="TotalCharges")
    with pytest.raises(DataError) as info:
        validate_frame(read_csv(telco_csv), telco_spec, source="telco.csv")
    # MonthlyCharges is close in spelling but is another feature's column.
    assert info.value.problems[0] == "missing column 'TotalCharges'"
