"""Exact TreeSHAP on the margin of a fitted tree ensemble: a binary classifier's log-odds, or a
regressor's predicted value in the target's own unit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from explain._errors import InvalidInputError, UnsupportedModelError
from explain._explanation import LOGIT, VALUE, Explanation, sigmoid

__all__ = ["TreeExplainer", "final_estimator"]

# A new explainer proves additivity against the model's own margin on a few synthetic rows before
# it serves: a shap or scikit-learn upgrade that changes tree internals then fails at model load,
# not silently in a person's explanation.
_SELF_CHECK_TOLERANCE = 1e-9


def final_estimator(model: Any) -> Any:
    """The estimator that makes the decision: the last step of a ``Pipeline``, else the model."""
    steps = getattr(model, "steps", None)
    if steps:
        return steps[-1][1]
    return model


def _unsupported_reason(estimator: Any) -> str | None:
    # Imported here, not at module level: scikit-learn takes seconds to import and `explain` is
    # imported by the CLI and the API before any model is loaded.
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    if isinstance(estimator, HistGradientBoostingRegressor):
        if not hasattr(estimator, "_predictors"):
            return "the model is not fitted"
        # Poisson and gamma losses predict exp(margin): the contributions would be in log units
        # while the person is shown a value.
        if estimator.loss not in ("squared_error", "absolute_error", "quantile"):
            return (
                f"loss {estimator.loss!r} has a log link; only identity-link losses are supported"
            )
        if estimator.is_categorical_ is not None and bool(np.any(estimator.is_categorical_)):
            return (
                "native categorical splits (categorical_features) are not explained exactly by "
                "shap; encode categories as ordinal codes"
            )
        return None
    if isinstance(estimator, GradientBoostingRegressor):
        if not hasattr(estimator, "estimators_"):
            return "the model is not fitted"
        return None
    if isinstance(estimator, HistGradientBoostingClassifier):
        if not hasattr(estimator, "_predictors"):
            return "the model is not fitted"
        if estimator.n_trees_per_iteration_ != 1:
            return "only binary classifiers are supported"
        # shap converts HGB trees from their numeric thresholds and ignores categorical bitsets,
        # so native categorical splits give wrong values (shap issue #3436; measured here: margin
        # off by more than 8 log-odds). Encode categories as ordinal numbers instead.
        if estimator.is_categorical_ is not None and bool(np.any(estimator.is_categorical_)):
            return (
                "native categorical splits (categorical_features) are not explained exactly by "
                "shap; encode categories as ordinal codes"
            )
        return None
    if isinstance(estimator, GradientBoostingClassifier):
        if not hasattr(estimator, "estimators_"):
            return "the model is not fitted"
        if len(estimator.classes_) != 2:
            return "only binary classifiers are supported"
        # The exponential loss has probability sigmoid(2 * margin): the score would be wrong.
        if estimator.loss != "log_loss":
            return f"loss {estimator.loss!r} is not log-odds; only log_loss is supported"
        return None
    return (
        f"{type(estimator).__name__} is not supported; expected a fitted "
        "HistGradientBoostingClassifier or GradientBoostingClassifier (binary), or a "
        "HistGradientBoostingRegressor or GradientBoostingRegressor"
    )


def _is_regressor(estimator: Any) -> bool:
    from sklearn.base import is_regressor

    return bool(is_regressor(estimator))


def _positive_class_values(raw: Any, n_rows: int, n_features: int) -> NDArray[np.float64]:
    """SHAP values of the positive class as an (n_rows, n_features) array.

    shap has returned binary classifiers' values as a 2-D array, a list of two arrays and a 3-D
    array with a trailing class axis, depending on the model and the version; all mean the same.
    """
    if isinstance(raw, list):
        raw = np.stack([np.asarray(r, dtype=np.float64) for r in raw], axis=-1)
    values = np.asarray(raw, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(1, -1)
    if values.ndim == 3:
        if values.shape[2] == 1:
            values = values[:, :, 0]
        elif values.shape[2] == 2:
            values = values[:, :, 1]
        else:
            raise UnsupportedModelError(f"expected one or two outputs, got {values.shape[2]}")
    if values.shape != (n_rows, n_features):
        raise UnsupportedModelError(
            f"shap returned values of shape {values.shape}, expected {(n_rows, n_features)}"
        )
    return values


def _positive_class_base(expected_value: Any) -> float:
    """The base value of the positive class from a scalar, a 1-element or a 2-element value."""
    base = np.asarray(expected_value, dtype=np.float64).ravel()
    if base.size == 1:
        return float(base[0])
    if base.size == 2:
        return float(base[1])
    raise UnsupportedModelError(f"expected one or two base values, got {base.size}")


class _Kernel:
    """shap's exact TreeSHAP routine (its C extension), called the way ``shap_values`` calls it.

    ``shap.TreeExplainer.shap_values`` re-checks and re-converts its input and reshapes its
    output on every call; for one row that is a tenth of the explanation's cost. For the case
    glassbox serves -- shap's own tree representation, path-dependent perturbation, one raw
    log-odds output -- this makes the same single call to ``_cext.dense_tree_shap`` on the tree
    arrays shap built, with the arguments ``shap_values`` would pass. Every other case goes
    through ``shap_values``; either way the explainer's load-time self-check proves additivity.
    """

    def __init__(self, explainer: Any, cext: Any, perturbation: int, transform: int) -> None:
        self._model = explainer.model
        self._cext = cext
        self._perturbation = perturbation
        self._transform = transform
        model = self._model
        limit = -1 if model.tree_limit is None else model.tree_limit
        self._tree_limit = model.values.shape[0] if limit < 0 else limit

    @classmethod
    def of(cls, explainer: Any) -> _Kernel | None:
        """The kernel for ``explainer`` (a ``shap.TreeExplainer``), or None if it does not fit."""
        try:
            from shap import _cext
            from shap.explainers._tree import feature_perturbation_codes, output_transform_codes
        except ImportError:
            return None
        model = explainer.model
        if not (
            model.model_type == "internal"
            and explainer.feature_perturbation == "tree_path_dependent"
            and explainer.data is None
            and model.num_outputs == 1
            and model.model_output == "raw"
            and model.get_transform() == "identity"
        ):
            return None
        return cls(
            explainer,
            _cext,
            feature_perturbation_codes["tree_path_dependent"],
            output_transform_codes["identity"],
        )

    def values(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """SHAP values of ``matrix``'s rows, shape (n_rows, n_features)."""
        model = self._model
        rows = np.ascontiguousarray(matrix, dtype=model.input_dtype)
        phi = np.zeros((rows.shape[0], rows.shape[1] + 1, 1))
        self._cext.dense_tree_shap(
            model.children_left,
            model.children_right,
            model.children_default,
            model.features,
            model.thresholds,
            model.threshold_types,
            model.values,
            model.node_sample_weight,
            model.max_depth,
            rows,
            np.isnan(rows),
            None,
            None,
            None,
            self._tree_limit,
            model.base_offset,
            phi,
            self._perturbation,
            self._transform,
            False,
        )
        return np.asarray(phi[:, :-1, 0], dtype=np.float64)


# --- exact TreeSHAP by per-leaf tables --------------------------------------------------------

# A leaf with k distinct features on its path has a table of 2^k * k values; beyond these the
# tables would cost more memory than they save time, and shap's routine explains the model.
_MAX_PATH_FEATURES = 16
_MAX_TABLE_VALUES = 8_000_000


def _product_game_tables(z: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    """SHAP values of every leaf path of ``z.shape[1]`` distinct features, for every pattern.

    Path-dependent TreeSHAP sums, over the leaves, the Shapley values of the product game
    ``f(S) = v * prod(o_j for j in S) * prod(z_j for j not in S)`` on the features of the
    leaf's path, where ``z_j`` is the fraction of the training data that follows the path's
    splits on feature ``j`` and ``o_j`` is 1 if the row follows all of them, else 0. The
    Shapley value of feature ``s`` is ``v * (o_s - z_s) * sum_m w(m) * c_m``, where
    ``w(m) = m! (k-1-m)! / k!`` and ``c_m`` is the coefficient of ``t^m`` in
    ``prod_{j != s} (z_j + o_j t)``. As the ``o_j`` are 0 or 1, each leaf has only ``2^k``
    cases: all are computed here, once per model.

    Parameters
    ----------
    z : ndarray of shape (n_leaves, k)
        Zero fractions of the leaves' distinct path features, in path order.
    v : ndarray of shape (n_leaves,)
        Leaf values.

    Returns
    -------
    ndarray of shape (n_leaves, 2**k, k)
        ``[leaf, pattern, j]``: the value of the leaf's ``j``-th feature when bit ``j`` of
        ``pattern`` is the row's ``o_j``.
    """
    n, k = z.shape
    patterns = ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(np.float64)
    weights = np.array(
        [math.factorial(m) * math.factorial(k - 1 - m) / math.factorial(k) for m in range(k)]
    )
    tables = np.empty((n, 2**k, k))
    for s in range(k):
        coefficients = np.zeros((n, 2**k, k))
        coefficients[:, :, 0] = 1.0
        for j in range(k):
            if j == s:
                continue
            shifted = np.zeros_like(coefficients)
            shifted[:, :, 1:] = coefficients[:, :, :-1]
            coefficients = z[:, j, None, None] * coefficients + patterns[None, :, j, None] * shifted
        tables[:, :, s] = (
            v[:, None] * (patterns[None, :, s] - z[:, s, None]) * (coefficients @ weights)
        )
    return tables


@numba.njit(cache=True, nogil=True)
def _table_shap(  # pragma: no cover - compiled; tested through _PathTables.values
    rows: NDArray[np.float64],
    node_feature: NDArray[np.int32],
    node_threshold: NDArray[np.float64],
    node_default_left: NDArray[np.bool_],
    leaf_steps: NDArray[np.int32],
    step_node: NDArray[np.int32],
    step_left: NDArray[np.bool_],
    step_bit: NDArray[np.int32],
    leaf_all: NDArray[np.int32],
    leaf_slots: NDArray[np.int32],
    slot_feature: NDArray[np.int32],
    leaf_table: NDArray[np.intp],
    table: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    goes_left = np.empty(node_feature.shape[0], dtype=np.bool_)
    for r in range(rows.shape[0]):
        for g in range(node_feature.shape[0]):
            value = rows[r, node_feature[g]]
            if np.isnan(value):
                goes_left[g] = node_default_left[g]
            else:
                goes_left[g] = value <= node_threshold[g]
        for leaf in range(leaf_all.shape[0]):
            missed = 0
            for step in range(leaf_steps[leaf], leaf_steps[leaf + 1]):
                if goes_left[step_node[step]] != step_left[step]:
                    missed |= step_bit[step]
            first = leaf_slots[leaf]
            k = leaf_slots[leaf + 1] - first
            base = leaf_table[leaf] + (leaf_all[leaf] ^ missed) * k
            for j in range(k):
                out[r, slot_feature[first + j]] += table[base + j]


@numba.njit(cache=True, nogil=True)
def _walk_margins(  # pragma: no cover - compiled; tested through TreeExplainer.margins
    rows: NDArray[np.float64],
    left: NDArray[np.int32],
    right: NDArray[np.int32],
    default: NDArray[np.int32],
    features: NDArray[np.int32],
    thresholds: NDArray[np.float64],
    leaf_values: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    for r in range(rows.shape[0]):
        total = 0.0
        for tree in range(left.shape[0]):
            node = 0
            while left[tree, node] >= 0:
                value = rows[r, features[tree, node]]
                if np.isnan(value):
                    node = default[tree, node]
                elif value <= thresholds[tree, node]:
                    node = left[tree, node]
                else:
                    node = right[tree, node]
            total += leaf_values[tree, node]
        out[r] += total


class _MarginWalker:
    """The model's margin for many rows by walking shap's tree arrays in a compiled loop.

    The counterfactual search scores a few hundred candidate rows per adverse decision; the
    estimator's own ``decision_function`` pays a Python call per tree (about 1.5 ms for the
    fraud model's 200 trees, even for one row), this a few microseconds per row. It reads the
    same arrays as :class:`_PathTables` (``x <= threshold`` splits, shap's default direction for
    a missing value), and the explainer's load-time self-check proves it gives the estimator's
    own margins, or it is not used.
    """

    def __init__(self, model: Any) -> None:
        self._arrays = (
            np.ascontiguousarray(model.children_left, dtype=np.int32),
            np.ascontiguousarray(model.children_right, dtype=np.int32),
            np.ascontiguousarray(model.children_default, dtype=np.int32),
            np.ascontiguousarray(model.features, dtype=np.int32),
            np.ascontiguousarray(model.thresholds, dtype=np.float64),
            np.ascontiguousarray(model.values[:, :, 0], dtype=np.float64),
        )
        self._offset = float(np.asarray(model.base_offset, dtype=np.float64).ravel()[0])
        # scikit-learn's own trees compare float32 inputs (a value a hair above a threshold in
        # float64 may fall on it in float32); its histogram boosting compares float64.
        self._float32 = np.dtype(getattr(model, "input_dtype", np.float64)) == np.float32

    @classmethod
    def of(cls, explainer: Any) -> _MarginWalker | None:
        """The walker for ``explainer`` (a ``shap.TreeExplainer``), or None for other splits."""
        model = explainer.model
        if model.values.ndim != 3 or model.values.shape[2] != 1:
            return None
        if np.asarray(model.base_offset).size != 1:
            return None
        if model.threshold_types is not None and np.any(model.threshold_types != 0):
            return None
        return cls(model)

    def probes(
        self, *, n_features: int, seed: int, missing: bool, n_rows: int = 256
    ) -> NDArray[np.float64]:
        """Rows that reach the splits' edges: each value a split's threshold on that column, a
        little above or below it, or missing where the model takes it -- what the self-check
        compares with the estimator."""
        left, _, _, features, thresholds, _ = self._arrays
        split = (left >= 0) & np.isfinite(thresholds)
        rng = np.random.default_rng(seed)
        rows = np.full((n_rows, n_features), np.nan if missing else 0.0)
        for column in range(n_features):
            edges = thresholds[split & (features == column)]
            if edges.size == 0:
                continue
            picked = rng.choice(edges, size=n_rows)
            above = np.nextafter(picked, np.inf)
            gone = np.full(n_rows, np.nan) if missing else np.nextafter(picked, -np.inf)
            kind = rng.integers(0, 5, size=n_rows)
            rows[:, column] = np.where(kind < 2, picked, np.where(kind < 4, above, gone))
        return rows

    def margins(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Margins of ``matrix``'s rows, shape (n_rows,)."""
        rows = np.ascontiguousarray(matrix, dtype=np.float64)
        if self._float32:
            rows = rows.astype(np.float32).astype(np.float64)
        out = np.full(rows.shape[0], self._offset)
        _walk_margins(rows, *self._arrays, out)
        return out


class _PathTables:
    """Exact path-dependent TreeSHAP by table look-up (the "Fast TreeSHAP v2" idea).

    TreeSHAP's value for one row is a sum over leaves of a product game on each leaf's path
    (:func:`_product_game_tables`), which depends on the row only through which of the path's
    distinct features the row follows. So the tables of every leaf are computed once when the
    model is loaded (about 2 MB for the fraud model's 200 trees of 15 leaves), and explaining a
    row is one pass over the split nodes, one over the path steps, and one look-up per leaf and
    feature: a compiled loop (numba), about a tenth of shap's recursive routine for one row,
    and without the GIL. The values are the same quantity shap computes, summed in another
    order: they agree with ``shap_values`` to about 1e-15 (tested), and the explainer's
    load-time self-check proves they add up to the model's own margin.

    It uses shap's tree arrays (shap decides thresholds, default directions and covers for
    each model kind) and serves models whose splits are all ``x <= threshold``; anything else
    goes through shap's routine.
    """

    def __init__(self, model: Any) -> None:
        left, right = model.children_left, model.children_right
        default, features = model.children_default, model.features
        thresholds, covers, values = model.thresholds, model.node_sample_weight, model.values
        nodes: dict[tuple[int, int], int] = {}
        node_feature: list[int] = []
        node_threshold: list[float] = []
        node_default_left: list[bool] = []
        leaf_steps, step_node, step_left, step_bit = [0], [], [], []
        leaf_all, leaf_slots, slot_feature = [], [0], []
        groups: dict[int, tuple[list[int], list[list[float]], list[float]]] = {}

        def node_id(tree: int, node: int) -> int:
            found = nodes.get((tree, node))
            if found is None:
                found = nodes[(tree, node)] = len(node_feature)
                node_feature.append(int(features[tree, node]))
                node_threshold.append(float(thresholds[tree, node]))
                node_default_left.append(bool(default[tree, node] == left[tree, node]))
            return found

        for tree in range(left.shape[0]):
            stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
            while stack:
                node, path = stack.pop()
                if left[tree, node] >= 0:
                    cover = float(covers[tree, node])
                    for child, went_left in ((left[tree, node], True), (right[tree, node], False)):
                        ratio = float(covers[tree, child]) / cover if cover > 0 else 0.0
                        stack.append((int(child), [*path, (node, went_left, ratio)]))
                    continue
                distinct: list[int] = []
                zero: list[float] = []
                for step_at, went_left, ratio in path:
                    feature = int(features[tree, step_at])
                    if feature not in distinct:
                        distinct.append(feature)
                        zero.append(1.0)
                    slot = distinct.index(feature)
                    zero[slot] *= ratio
                    step_node.append(node_id(tree, step_at))
                    step_left.append(went_left)
                    step_bit.append(1 << slot)
                if not distinct:  # a tree that is one leaf: part of the base value only
                    continue
                k = len(distinct)
                if k > _MAX_PATH_FEATURES:
                    raise _TooLargeError(f"a path has {k} distinct features")
                leaf_steps.append(len(step_node))
                leaf_all.append((1 << k) - 1)
                slot_feature.extend(distinct)
                leaf_slots.append(len(slot_feature))
                leaf_index, zs, vs = groups.setdefault(k, ([], [], []))
                leaf_index.append(len(leaf_all) - 1)
                zs.append(zero)
                vs.append(float(values[tree, node, 0]))

        sizes = np.array([(leaf_slots[i + 1] - leaf_slots[i]) for i in range(len(leaf_all))])
        sizes = sizes * (1 << sizes)
        if int(sizes.sum()) > _MAX_TABLE_VALUES:
            raise _TooLargeError(f"the tables would hold {int(sizes.sum())} values")
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        table = np.empty(int(sizes.sum()))
        for leaf_index, zs, vs in groups.values():
            tables = _product_game_tables(np.array(zs), np.array(vs)).reshape(len(leaf_index), -1)
            for row, leaf in enumerate(leaf_index):
                table[offsets[leaf] : offsets[leaf] + tables.shape[1]] = tables[row]
        # 32-bit indices (bits: k <= 16): the arrays a row walks stay small in the caches.
        self._arrays = (
            np.array(node_feature, dtype=np.int32),
            np.array(node_threshold, dtype=np.float64),
            np.array(node_default_left, dtype=np.bool_),
            np.array(leaf_steps, dtype=np.int32),
            np.array(step_node, dtype=np.int32),
            np.array(step_left, dtype=np.bool_),
            np.array(step_bit, dtype=np.int32),
            np.array(leaf_all, dtype=np.int32),
            np.array(leaf_slots, dtype=np.int32),
            np.array(slot_feature, dtype=np.int32),
            offsets,
            table,
        )

    @classmethod
    def of(cls, explainer: Any) -> _PathTables | None:
        """The tables for ``explainer`` (a ``shap.TreeExplainer``), or None if they do not fit."""
        model = explainer.model
        if _Kernel.of(explainer) is None or (
            model.threshold_types is not None and np.any(model.threshold_types != 0)
        ):
            return None
        try:
            return cls(model)
        except _TooLargeError:
            return None

    def values(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """SHAP values of ``matrix``'s rows, shape (n_rows, n_features)."""
        rows = np.ascontiguousarray(matrix, dtype=np.float64)
        out = np.zeros(rows.shape)
        _table_shap(rows, *self._arrays, out)
        return out


class _TooLargeError(Exception):
    """The model's trees would need tables too large to be worth it."""


class TreeExplainer:
    """Explains a fitted tree ensemble, one encoded row or many at a time.

    A binary classifier is explained on its log-odds margin and its score is the probability;
    a regressor on its predicted value, so that the base value and the contributions are in
    the target's unit (a lifetime value in euros) and add up to the prediction itself.

    Build it once when the model is loaded (building walks every tree, tens of milliseconds);
    :meth:`explain` then costs about one TreeSHAP pass over the trees.

    Parameters
    ----------
    model : Pipeline or estimator
        A fitted ``HistGradientBoostingClassifier`` or ``GradientBoostingClassifier`` (binary,
        log-loss), a ``HistGradientBoostingRegressor`` (identity-link loss) or
        ``GradientBoostingRegressor``, or a ``Pipeline`` ending in one. Only the final
        estimator is explained: rows given to :meth:`explain` are already encoded, one column
        per feature.
    feature_names : sequence of str
        The original features in the model's column order (``spec.feature_names``).

    Raises
    ------
    UnsupportedModelError
        If the model is of another kind, not fitted, not binary, uses native categorical splits,
        or fails the additivity self-check.

    Examples
    --------
    >>> explainer = TreeExplainer(pipeline, spec.feature_names)  # doctest: +SKIP
    >>> explanation = explainer.explain(encoded_row)  # doctest: +SKIP
    >>> explanation.score  # doctest: +SKIP
    0.83
    """

    def __init__(self, model: Any, feature_names: Sequence[str]) -> None:
        # Imported here for the same reason as scikit-learn above: shap takes seconds to import.
        import shap
        from sklearn.utils import get_tags

        estimator = final_estimator(model)
        reason = _unsupported_reason(estimator)
        if reason is not None:
            raise UnsupportedModelError(reason)
        names = tuple(feature_names)
        if estimator.n_features_in_ != len(names):
            raise UnsupportedModelError(
                f"the model takes {estimator.n_features_in_} columns but {len(names)} feature "
                "names were given"
            )
        self._estimator = estimator
        # How the margin reads: log-odds (a probability) or the predicted value itself.
        self.link: str = VALUE if _is_regressor(estimator) else LOGIT
        self._shap = shap.TreeExplainer(estimator)
        self._kernel = _PathTables.of(self._shap) or _Kernel.of(self._shap)
        self._walker = _MarginWalker.of(self._shap)
        self.feature_names: tuple[str, ...] = names
        # What computed the values, stored with every decision: the per-leaf tables (built
        # from shap's tree arrays) or shap's own routine.
        method = "treeshap-tables" if isinstance(self._kernel, _PathTables) else "treeshap"
        self.version: str = f"{method}-shap-{shap.__version__}"
        self.base_value: float = _positive_class_base(self._shap.expected_value)
        # scikit-learn's GradientBoostingClassifier refuses NaN; shap would route it somewhere.
        self._allows_missing = bool(get_tags(estimator).input_tags.allow_nan)
        self._self_check()

    @property
    def n_features(self) -> int:
        """Number of encoded columns a row must have."""
        return len(self.feature_names)

    def explain(self, x: ArrayLike) -> Explanation:
        """Explain one encoded row.

        Parameters
        ----------
        x : array-like of shape (n_features,)
            The encoded row: one float per feature, NaN for a missing value.

        Returns
        -------
        Explanation
            SHAP values, base value, margin and the score derived from them (no second predict).

        Raises
        ------
        InvalidInputError
            If the row has the wrong shape or holds infinities, or NaN for a model without
            missing-value support.
        """
        row = np.asarray(x, dtype=np.float64)
        if row.shape != (self.n_features,):
            raise InvalidInputError(
                f"expected one row of {self.n_features} values, got shape {row.shape}"
            )
        return self._explain_matrix(row.reshape(1, -1))[0]

    def explain_batch(self, X: ArrayLike) -> list[Explanation]:
        """Explain many encoded rows in one shap call.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Encoded rows, e.g. a recommender's candidate items for one person.

        Returns
        -------
        list of Explanation
            One per row, in order; identical to calling :meth:`explain` on each row.

        Raises
        ------
        InvalidInputError
            As for :meth:`explain`.
        """
        matrix = self._matrix(X)
        if matrix.shape[0] == 0:
            return []
        return self._explain_matrix(matrix)

    def margins(self, X: ArrayLike) -> NDArray[np.float64]:
        """The model's margin for many encoded rows, without explaining them.

        What a search over candidate rows needs (:func:`explain.counterfactual`): log-odds for a
        classifier, the predicted value for a regressor -- the margin :meth:`explain` gives, to
        rounding.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Encoded rows.

        Returns
        -------
        ndarray of shape (n_rows,)

        Raises
        ------
        InvalidInputError
            As for :meth:`explain`.
        """
        matrix = self._matrix(X)
        self._check_rows(matrix)
        if self._walker is not None:
            return self._walker.margins(matrix)
        return self._estimator_margins(matrix)

    def _matrix(self, X: ArrayLike) -> NDArray[np.float64]:
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise InvalidInputError(
                f"expected rows of {self.n_features} values, got shape {matrix.shape}"
            )
        return matrix

    def values(self, X: ArrayLike) -> NDArray[np.float64]:
        """The SHAP values of many encoded rows in one call, without the explanations.

        What a batch's executors compute and send back (:meth:`explanations` rebuilds the
        explanations from them).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Encoded rows.

        Returns
        -------
        ndarray of shape (n_rows, n_features)
            The positive class's SHAP values (a regressor's: its prediction's).

        Raises
        ------
        InvalidInputError
            As for :meth:`explain`.
        """
        matrix = self._matrix(X)
        self._check_rows(matrix)
        if matrix.shape[0] == 0:
            return np.zeros((0, self.n_features))
        return self._values(matrix)

    def _values(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        # check_additivity would run a second prediction per call; additivity is proven once at
        # load time (_self_check) and in the tests, and the score is derived from it.
        if self._kernel is not None:
            return self._kernel.values(matrix)
        raw = self._shap.shap_values(matrix, check_additivity=False)
        return _positive_class_values(raw, matrix.shape[0], self.n_features)

    def _estimator_margins(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        # A regressor's prediction is its margin (identity link); a classifier's is log-odds.
        raw = (
            self._estimator.predict(matrix)
            if self.link == VALUE
            else self._estimator.decision_function(matrix)
        )
        return np.asarray(raw, dtype=np.float64).ravel()

    def _check_rows(self, matrix: NDArray[np.float64]) -> None:
        if np.isinf(matrix).any():
            raise InvalidInputError("encoded rows must be finite numbers or NaN for missing")
        if not self._allows_missing and np.isnan(matrix).any():
            raise InvalidInputError("this model does not accept missing values (NaN)")

    def _explain_matrix(self, matrix: NDArray[np.float64]) -> list[Explanation]:
        self._check_rows(matrix)
        return self.explanations(self._values(matrix), matrix)

    def explanations(
        self, values: NDArray[np.float64], matrix: NDArray[np.float64]
    ) -> list[Explanation]:
        """The explanations of rows whose SHAP values this explainer computed elsewhere.

        A batch computes the values of a block of rows where the rows are (a Spark executor)
        and sends only the numbers back: the explanations built here from them are the ones
        :meth:`explain_batch` gives for the same rows, margin and score derived the same way.

        Parameters
        ----------
        values : ndarray of shape (n_rows, n_features)
            SHAP values from this explainer's :meth:`values`.
        matrix : ndarray of shape (n_rows, n_features)
            The encoded rows they explain.

        Returns
        -------
        list of Explanation
            One per row, in order.
        """
        margins = self.base_value + values.sum(axis=1)
        as_value = self.link == VALUE
        return [
            Explanation(
                values=values[i],
                base_value=self.base_value,
                margin=float(margins[i]),
                score=float(margins[i]) if as_value else sigmoid(float(margins[i])),
                data=matrix[i],
                feature_names=self.feature_names,
                explainer_version=self.version,
                link=self.link,
            )
            for i in range(matrix.shape[0])
        ]

    def _self_check(self) -> None:
        n = self.n_features
        probes = [np.zeros(n), np.ones(n), np.full(n, -1.0), np.full(n, 1e6), np.arange(n) * 0.5]
        if self._allows_missing:
            probes.append(np.full(n, np.nan))
        matrix = np.vstack(probes)
        explained = np.array([e.margin for e in self._explain_matrix(matrix)])
        expected = self._estimator_margins(matrix)
        if self._walker is not None:
            edges = self._walker.probes(n_features=n, seed=n, missing=self._allows_missing)
            walk_probes = np.vstack([matrix, edges])
            walked = self._walker.margins(walk_probes)
            walk_error = np.max(np.abs(walked - self._estimator_margins(walk_probes)))
            if float(walk_error) > _SELF_CHECK_TOLERANCE:
                # Tree arrays this walk does not read as the estimator does: its own predict.
                self._walker = None
        error = float(np.max(np.abs(explained - expected)))
        if error > _SELF_CHECK_TOLERANCE:
            raise UnsupportedModelError(
                f"SHAP values do not add up to the model's margin (error {error:.3g}); "
                "this model/shap combination cannot be explained exactly"
            )
