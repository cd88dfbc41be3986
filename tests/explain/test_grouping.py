"""Grouping encoded columns back into original features."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from explain import InvalidInputError, group_values, identity_groups


def test_identity_grouping_changes_nothing() -> None:
    values = np.array([0.5, -1.0, 0.25])
    groups = identity_groups(["a", "b", "c"])
    assert groups == {"a": (0,), "b": (1,), "c": (2,)}
    assert_array_equal(group_values(values, groups), values)


def test_one_hot_blocks_are_summed_and_the_total_is_kept() -> None:
    # amount | colour one-hot (3 columns) | card_present
    values = np.array([0.5, 0.1, -0.4, 0.2, -1.0])
    groups = {"amount": [0], "colour": [1, 2, 3], "card_present": [4]}
    grouped = group_values(values, groups)
    assert_allclose(grouped, [0.5, -0.1, -1.0], atol=1e-15)
    assert_allclose(grouped.sum(), values.sum(), atol=1e-15)


def test_rows_are_grouped_independently_and_in_the_mappings_order() -> None:
    values = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    grouped = group_values(values, {"late": [2], "early": [0, 1]})
    assert_array_equal(grouped, [[3.0, 3.0], [6.0, 9.0]])


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"a": [0], "b": [1]}, "exactly one"),  # column 2 in no group
        ({"a": [0, 1], "b": [1, 2]}, "exactly one"),  # column 1 counted twice
        ({"a": [0, 1, 2], "b": []}, "no columns"),
        ({"a": [0, 1, 2, 3]}, "out of range"),
    ],
)
def test_groupings_that_lose_or_double_count_are_refused(
    groups: dict[str, list[int]], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        group_values(np.zeros(3), groups)


def test_values_of_more_than_two_dimensions_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        group_values(np.zeros((2, 2, 3)), identity_groups(["a", "b", "c"]))
