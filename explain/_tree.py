"""Exact TreeSHAP on the log-odds margin of a fitted binary tree ensemble."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from explain._errors import InvalidInputError, UnsupportedModelError
from explain._explanation import Explanation, sigmoid

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
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

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
        "HistGradientBoostingClassifier or GradientBoostingClassifier"
    )


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


class TreeExplainer:
    """Explains a fitted binary tree ensemble, one encoded row or many at a time.

    Build it once when the model is loaded (building walks every tree, tens of milliseconds);
    :meth:`explain` then costs about one TreeSHAP pass over the trees.

    Parameters
    ----------
    model : Pipeline or estimator
        A fitted ``HistGradientBoostingClassifier`` or ``GradientBoostingClassifier`` (binary,
        log-loss), or a ``Pipeline`` ending in one. Only the final estimator is explained: rows
        given to :meth:`explain` are already encoded, one column per feature.
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
        self._shap = shap.TreeExplainer(estimator)
        self._kernel = _Kernel.of(self._shap)
        self.feature_names: tuple[str, ...] = names
        self.version: str = f"treeshap-shap-{shap.__version__}"
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
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise InvalidInputError(
                f"expected rows of {self.n_features} values, got shape {matrix.shape}"
            )
        if matrix.shape[0] == 0:
            return []
        return self._explain_matrix(matrix)

    def _explain_matrix(self, matrix: NDArray[np.float64]) -> list[Explanation]:
        if np.isinf(matrix).any():
            raise InvalidInputError("encoded rows must be finite numbers or NaN for missing")
        if not self._allows_missing and np.isnan(matrix).any():
            raise InvalidInputError("this model does not accept missing values (NaN)")
        # check_additivity would run a second prediction per call; additivity is proven once at
        # load time (_self_check) and in the tests, and the score below is derived from it.
        if self._kernel is not None:
            values = self._kernel.values(matrix)
        else:
            raw = self._shap.shap_values(matrix, check_additivity=False)
            values = _positive_class_values(raw, matrix.shape[0], self.n_features)
        margins = self.base_value + values.sum(axis=1)
        return [
            Explanation(
                values=values[i],
                base_value=self.base_value,
                margin=float(margins[i]),
                score=sigmoid(float(margins[i])),
                data=matrix[i],
                feature_names=self.feature_names,
                explainer_version=self.version,
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
        expected = np.asarray(self._estimator.decision_function(matrix), dtype=np.float64).ravel()
        error = float(np.max(np.abs(explained - expected)))
        if error > _SELF_CHECK_TOLERANCE:
            raise UnsupportedModelError(
                f"SHAP values do not add up to the model's margin (error {error:.3g}); "
                "this model/shap combination cannot be explained exactly"
            )
