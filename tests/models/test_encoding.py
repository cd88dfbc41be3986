"""The encoder: categories learned from the file, and the "other" bucket a spec may declare."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from models.data import DataError
from models.encoding import SpecEncoder

FEATURES = [("contract", "category", None), ("months", "integer", None)]


def _frame(contracts: Sequence[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"contract": contracts, "months": range(len(contracts))})


TRAINING = _frame(["Monthly"] * 12 + ["Yearly"] * 10 + ["Quarterly"] * 2 + ["Weekly"] + [None])


def test_learned_categories_leave_an_unseen_value_unknown() -> None:
    encoder = SpecEncoder(FEATURES).fit(TRAINING)
    assert encoder.categories_ == {"contract": ["Monthly", "Quarterly", "Weekly", "Yearly"]}
    assert encoder.other_codes_ == {}
    row = encoder.encode_row({"contract": "Biennial", "months": 3})
    assert math.isnan(row[0])
    assert math.isnan(encoder.transform(_frame(["Biennial"]))[0, 0])


def test_rare_and_unseen_values_share_the_other_bucket() -> None:
    encoder = SpecEncoder(FEATURES, other={"contract": 5}).fit(TRAINING)
    # Seen at least five times: kept; Quarterly (2) and Weekly (1) are pooled into "other".
    assert encoder.categories_ == {"contract": ["Monthly", "Yearly"]}
    assert encoder.other_values_ == {"contract": ["Quarterly", "Weekly"]}
    other = encoder.other_codes_["contract"]
    assert other == 2.0
    matrix = encoder.transform(_frame(["Monthly", "Weekly", "Quarterly", "Biennial", None, " "]))
    np.testing.assert_array_equal(matrix[:4, 0], [0.0, other, other, other])
    # Missing stays missing: the bucket is for values, not for blanks.
    assert math.isnan(matrix[4, 0]) and math.isnan(matrix[5, 0])
    # The hot path encodes a row exactly as the frame path does.
    for value in ["Monthly", "Weekly", "Biennial"]:
        row = encoder.encode_row({"contract": value, "months": 1})
        assert row[0] == encoder.transform(_frame([value]))[0, 0]
    assert encoder.decode_value("contract", 1.0) == "Yearly"
    assert encoder.decode_value("contract", other) is None


def test_a_declared_list_with_a_bucket_pools_its_rare_values() -> None:
    declared = [("contract", "category", ["Monthly", "Yearly", "Quarterly", "Weekly", "Daily"])]
    encoder = SpecEncoder(declared, other={"contract": 5}).fit(TRAINING)
    assert encoder.categories_ == {"contract": ["Monthly", "Yearly"]}
    assert encoder.encode_row({"contract": "Daily"})[0] == encoder.other_codes_["contract"]


def test_a_bucket_with_nothing_to_learn_from_is_refused_by_name() -> None:
    with pytest.raises(DataError) as refused:
        SpecEncoder(FEATURES, other={"contract": 2}).fit(_frame(["Monthly"] * 5 + ["Yearly"] * 5))
    (problem,) = refused.value.problems
    assert problem.startswith("feature 'contract': no value is seen fewer than 2 times")
    assert "raise other.min_count" in problem and "remove other" in problem


def test_an_encoder_saved_before_the_bucket_existed_still_loads() -> None:
    encoder = SpecEncoder(FEATURES).fit(TRAINING)
    state = cast(dict[str, Any], encoder.__getstate__())
    for name in ("other", "other_codes_", "other_values_"):
        state.pop(name)
    restored = SpecEncoder.__new__(SpecEncoder)
    restored.__setstate__(state)
    assert restored.get_params()["other"] is None
    assert restored.encode_row({"contract": "Yearly", "months": 2})[0] == 3.0
