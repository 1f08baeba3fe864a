"""Treatment contrasts for categorical predictors, as R's ``lm`` codes a factor.

The default analysis of :class:`skmipool.MIPooledEstimator` is a linear
regression; when X has categorical, boolean or text columns it becomes
``Pipeline([("contrasts", TreatmentContrasts(levels)), ("ols", LinearRegression())])``
with the levels learnt from the *incomplete* X before imputation, so that every
completed dataset is coded with the same dummy columns and every imputation
reports the same terms.

Coding (R's ``contr.treatment``, Chambers & Hastie 1992, *Statistical Models
in S*, 2.3.2): a factor with levels l_1, ..., l_K gives the K - 1 indicator
columns 1{x = l_k}, k = 2..K, named ``x[T.l_k]`` as patsy and formulaic do; the
first level is the reference. Ordered categoricals are coded the same way (R
would use orthogonal polynomial contrasts, ``contr.poly``, for an ordered
factor; the fitted values and the joint test of the term are the same, the
individual coefficients differ).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "TreatmentContrasts",
    "default_analysis",
    "is_categorical",
    "learn_levels",
    "plain_value",
]


def is_categorical(column: pd.Series) -> bool:
    """Whether a column is a factor: categorical, boolean or anything not numeric."""
    dtype = column.dtype
    return pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype)


def _sorted_levels(values, name) -> list:
    try:
        return sorted(values)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise ValueError(
            f"column {name!r} mixes values of different types ({kinds}), so its levels have "
            f"no order. Convert it to one type, or to a pandas categorical "
            f"with the levels in the order you want (the first is the reference)."
        ) from None


def learn_levels(X: pd.DataFrame) -> dict[str, list]:
    """Levels of the categorical columns of X, the first being the reference.

    A pandas categorical keeps its dtype's categories in their order; a boolean
    or text column takes its sorted observed values (R's ``factor()`` default).
    Missing values are no level.
    """
    levels = {}
    for col in X.columns:
        column = X[col]
        if not is_categorical(column):
            continue
        if isinstance(column.dtype, pd.CategoricalDtype):
            levels[col] = list(column.dtype.categories)
        else:
            observed = pd.unique(column.dropna().to_numpy(dtype=object))
            levels[col] = _sorted_levels([plain_value(v) for v in observed], col)
    return levels


def plain_value(value):
    """numpy scalars as Python ones, so that ``True`` and ``np.True_`` are one level."""
    return value.item() if isinstance(value, np.generic) else value


def _check_levels_observed(X: pd.DataFrame, levels: dict[str, list]) -> None:
    """Every level must occur: a level in no row gives a dummy column of zeros."""
    for col, lv in levels.items():
        observed = {plain_value(v) for v in X[col].dropna().to_numpy(dtype=object)}
        unused = [v for v in lv if v not in observed]
        if unused:
            raise ValueError(
                f"column {col!r} has categories {unused} that occur in no row, so their "
                f"coefficients are not identified (R's lm reports them as NA). Remove them, "
                f"e.g. X[{col!r}] = X[{col!r}].cat.remove_unused_categories()."
            )
        if len(lv) < 2:
            raise ValueError(
                f"column {col!r} has a single level {lv}: it is constant, so its effect is not "
                f"identified. Drop it before fitting."
            )


def default_analysis(X):
    """The default analysis model for X: ``LinearRegression()``, with treatment
    contrasts in front when X has categorical, boolean or text columns."""
    if not isinstance(X, pd.DataFrame):
        return LinearRegression()
    levels = learn_levels(X)
    if not levels:
        return LinearRegression()
    _check_levels_observed(X, levels)
    return Pipeline([("contrasts", TreatmentContrasts(levels=levels)), ("ols", LinearRegression())])


class TreatmentContrasts(TransformerMixin, BaseEstimator):
    """Code categorical columns as treatment-contrast dummies; pass numeric ones through.

    Parameters
    ----------
    levels : dict, default=None
        ``{column: [level, ...]}`` for the categorical columns, the first level
        being the reference. None: learnt from the data given to ``fit``
        (see :func:`learn_levels`). Columns not named are numeric.

    Attributes
    ----------
    levels_ : dict
        The levels used, per categorical column.
    feature_sources_ : ndarray of int
        For each output column, the position of the input column it codes:
        which coefficients form one model term.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of str
        Input column names.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmipool._contrasts import TreatmentContrasts
    >>> X = pd.DataFrame({"age": ["a", "b", "c", "a"], "bmi": [20.0, 25.0, 30.0, 22.0]})
    >>> enc = TreatmentContrasts().fit(X)
    >>> list(enc.get_feature_names_out())
    ['age[T.b]', 'age[T.c]', 'bmi']
    >>> enc.transform(X)[:, :2].tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """

    def __init__(self, levels=None):
        self.levels = levels

    def fit(self, X, y=None):
        """Learn (or take) the levels and the output columns.

        Parameters
        ----------
        X : DataFrame
            The predictors.
        y : ignored

        Returns
        -------
        self : TreatmentContrasts
        """
        if not isinstance(X, pd.DataFrame):
            raise TypeError("TreatmentContrasts needs a DataFrame (its columns carry the levels).")
        validate_data(self, X, reset=True, skip_check_array=True)
        given = learn_levels(X) if self.levels is None else dict(self.levels)
        self.levels_ = {}
        for col in X.columns:
            if col in given:
                self.levels_[col] = [plain_value(v) for v in given[col]]
            elif is_categorical(X[col]):
                raise ValueError(
                    f"column {col!r} is not numeric but has no levels; give its levels in "
                    f"levels={{{col!r}: [...]}}."
                )
        names, sources = [], []
        for j, col in enumerate(X.columns):
            if col in self.levels_:
                coded = [f"{col}[T.{lv}]" for lv in self.levels_[col][1:]]
            else:
                coded = [str(col)]
            names += coded
            sources += [j] * len(coded)
        self._names_out = np.asarray(names, dtype=object)
        self.feature_sources_ = np.asarray(sources, dtype=int)
        return self

    def transform(self, X):
        """The design columns: dummies of the categorical columns, numeric ones as they are.

        Parameters
        ----------
        X : DataFrame
            Complete rows with the columns seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out)
        """
        check_is_fitted(self, "levels_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError("TreatmentContrasts needs a DataFrame (its columns carry the levels).")
        validate_data(self, X, reset=False, skip_check_array=True)
        parts = []
        for col in X.columns:
            column = X[col]
            if column.isna().any():
                raise ValueError(
                    f"column {col!r} has {int(column.isna().sum())} missing values; the "
                    f"analysis needs complete rows."
                )
            if col not in self.levels_:
                parts.append(column.to_numpy(dtype=float)[:, None])
                continue
            levels = self.levels_[col]
            values = [plain_value(v) for v in column.to_numpy(dtype=object)]
            index = {lv: k for k, lv in enumerate(levels)}
            unknown = sorted({str(v) for v in values if v not in index})
            if unknown:
                raise ValueError(
                    f"column {col!r} has levels {unknown} that were not among its levels when "
                    f"the model was fitted ({[str(v) for v in levels]}); the model has no "
                    f"coefficient for them. Recode them to known levels."
                )
            codes = np.fromiter((index[v] for v in values), dtype=int, count=len(values))
            # contr.treatment: indicator of level k for k = 2..K; level 1 is the reference
            parts.append((codes[:, None] == np.arange(1, len(levels))[None, :]).astype(float))
        return np.hstack(parts) if parts else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None):
        """Output names: ``col[T.level]`` for the dummies, the column name otherwise.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self, "levels_")
        return self._names_out.copy()
