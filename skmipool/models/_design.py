"""Design matrices and fitted attributes shared by the statsmodels-backed estimators.

The estimators take one X in which a few columns may play a special role: a
cluster id for cluster-robust covariance, a stratum label for Cox models.
Naming those columns (rather than passing arrays to ``fit``) keeps them inside
X, so they travel with the rows through imputation in
:class:`skmipool.MIPooledEstimator`; they are taken out of X before the design
matrix is built.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from skmipool._adapters import _check_full_rank, formula_model_terms, statsmodels_model_name
from skmipool._estimate import Estimate
from skmipool._validation import as_pandas

__all__ = ["Design", "FittedModelMixin", "build_design", "cluster_codes"]

INTERCEPT = "intercept"


class Design:
    """The numeric design of one fit: matrix, term names and the special columns."""

    def __init__(self, matrix: pd.DataFrame, special: dict[str, np.ndarray | None]):
        self.matrix = matrix
        self.special = special

    @property
    def names(self) -> list[str]:
        return [str(c) for c in self.matrix.columns]


def _locate(spec, X, role: str, is_frame: bool) -> int:
    """Position in X of the column a parameter such as ``cluster="cid"`` names."""
    n_cols = X.shape[1]
    if isinstance(spec, str):
        if not is_frame:
            raise ValueError(
                f"{role}={spec!r} names a column, but X has no column names. Pass X as a "
                f"DataFrame, or give the column's integer position ({role}=<int>)."
            )
        if spec not in X.columns:
            raise ValueError(
                f"{role}={spec!r} is not a column of X; the columns are {list(X.columns)}. "
                f"Keep the {role} column inside X (it is excluded from the design matrix)."
            )
        return int(X.columns.get_loc(spec))
    pos = int(spec)
    if not -n_cols <= pos < n_cols:
        raise ValueError(f"{role}={spec} is out of range for X with {n_cols} columns.")
    return pos % n_cols


def _special_values(X, pos: int, role: str, label) -> np.ndarray:
    values = X.iloc[:, pos] if isinstance(X, pd.DataFrame) else pd.Series(X[:, pos])
    if values.isna().any():
        raise ValueError(
            f"the {role} column {label!r} has {int(values.isna().sum())} missing values (NaN); "
            f"every row needs a {role} label. Fill or drop them before fitting."
        )
    return values.to_numpy()


def build_design(
    estimator,
    X,
    *,
    reset: bool,
    fit_intercept: bool = False,
    special: dict[str, object] | None = None,
) -> Design:
    """Validate X, take out the special columns and build the design matrix.

    Parameters
    ----------
    estimator : BaseEstimator
        Receives ``n_features_in_`` and ``feature_names_in_`` when ``reset``.
    X : DataFrame or array-like
        All columns, the special ones included.
    reset : bool
        True in ``fit``; False in ``predict`` (then X is checked against fit).
    fit_intercept : bool
        Prepend a column of ones named ``"intercept"``.
    special : dict, optional
        ``{role: column}`` with a column name or position (None: not used),
        e.g. ``{"cluster": "cid", "strata": None}``.

    Returns
    -------
    Design
        Term names are X's column names (``x0, x1, ...`` for arrays, by
        position in X) without the special columns.
    """
    special = {k: v for k, v in (special or {}).items() if v is not None}
    X = as_pandas(X)  # polars, pyarrow: column names kept
    if sparse.issparse(X):
        raise TypeError("sparse X is not supported; convert it with X.toarray().")
    is_frame = isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)
    if is_frame:
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        frame = X
    else:
        arr = validate_data(
            estimator, X, reset=reset, dtype=np.float64, ensure_min_samples=1 if not reset else 2
        )
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    positions = {role: _locate(spec, frame, role, is_frame) for role, spec in special.items()}
    if len(set(positions.values())) < len(positions):
        raise ValueError(f"the special columns {special} name the same column twice.")
    values = {
        role: _special_values(frame, pos, role, special[role]) for role, pos in positions.items()
    }
    keep = [j for j in range(frame.shape[1]) if j not in positions.values()]
    features = frame.iloc[:, keep]
    if is_frame:
        other = [
            str(c)
            for c, dt in features.dtypes.items()
            if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))
        ]
        if other:
            raise ValueError(
                f"columns {other} of X are not numeric. Encode them (e.g. pd.get_dummies with "
                f"drop_first=True) or use skmipool.models.FormulaModel, which expands "
                f"categorical columns into indicator terms."
            )
        if reset and features.shape[0] < 2:
            raise ValueError(
                f"X has {features.shape[0]} sample(s) (n_samples = {features.shape[0]}); "
                f"fitting needs at least 2 rows."
            )
        nan_cols = [str(c) for c in features.columns[features.isna().any(axis=0).to_numpy()]]
        if nan_cols:
            raise ValueError(
                f"X has missing values (NaN) in columns {nan_cols}; the model needs complete "
                f"data. Impute first, e.g. with skmipool.MIPooledEstimator around this estimator."
            )
        matrix = check_array(
            features, dtype=np.float64, ensure_min_features=0, ensure_min_samples=1
        )
    else:
        matrix = features.to_numpy()
    if matrix.shape[1] == 0 and not fit_intercept:
        raise ValueError(
            "X has no columns left for the design matrix once the special columns "
            f"{list(special.values())} are taken out; add predictors."
        )
    design = pd.DataFrame(matrix, columns=[str(c) for c in features.columns], index=frame.index)
    if fit_intercept:
        if INTERCEPT in design.columns:
            raise ValueError(
                f'X has a column named "{INTERCEPT}" and fit_intercept=True adds one: rename the '
                f"column or set fit_intercept=False."
            )
        design.insert(0, INTERCEPT, 1.0)
    return Design(design, values)


def cluster_codes(labels: np.ndarray) -> np.ndarray:
    """Integer codes 0..G-1 for arbitrary cluster labels (strings, floats, ...)."""
    codes, _ = pd.factorize(pd.Series(labels), sort=True)
    return codes.astype(np.int64)


def check_identified(design: Design) -> None:
    """Collinear or constant columns: name them and say what to do."""
    if design.matrix.shape[0] <= design.matrix.shape[1]:
        raise ValueError(
            f"{design.matrix.shape[0]} rows for {design.matrix.shape[1]} coefficients: the "
            f"model is not identified. Use fewer predictors or more data."
        )
    _check_full_rank(design.matrix.to_numpy(), design.names)


class FittedModelMixin:
    """Fitted attributes and :meth:`get_estimate` shared by the skmipool.models estimators.

    Subclasses call :meth:`_set_fitted` with the statsmodels results, the term
    names, the covariance to report and the complete-data df.
    """

    def _set_fitted(
        self,
        results,
        names,
        cov,
        dfcom,
        nobs,
        loglike,
        intercept,
        model_terms=None,
        *,
        params=None,
        variance_components=None,
        model_label=None,
    ) -> None:
        """Store the fit; ``intercept``: True (first term), False (``intercept_ = 0.0``), None.

        ``model_terms``: ``(term, its coefficient names)`` pairs when the caller
        knows them (a formula's terms); otherwise read from statsmodels' formula
        information, or one term per coefficient. ``params``: the coefficients
        when they are not ``results.params`` (a mixed model's fixed effects).
        ``variance_components`` (name -> value: a mixed model's, a frailty
        variance) are stored as ``variance_components_`` and handed to pooling
        apart from the coefficients; ``model_label`` (what kind of model, for
        pooling's check) defaults to the statsmodels model's name.
        """
        self._model_label = model_label
        params = np.asarray(results.params if params is None else params, dtype=float)
        names = [str(n) for n in names]
        self.results_ = results
        self.params_ = pd.Series(params, index=names, name="estimate")
        self.cov_ = pd.DataFrame(np.asarray(cov, dtype=float), index=names, columns=names)
        self.std_error_ = pd.Series(np.sqrt(np.diag(self.cov_)), index=names, name="std_error")
        self.nobs_ = int(nobs)
        self.dfcom_ = float(dfcom) if dfcom is not None else None
        self.loglike_ = float(loglike) if loglike is not None else None
        if variance_components is not None:
            self.variance_components_ = pd.Series(variance_components, name="estimate")
        elif hasattr(self, "variance_components_"):
            del self.variance_components_  # a refit without random effects
        self._model_terms = model_terms
        if self._model_terms is None:
            self._model_terms = formula_model_terms(results.model, names)
        if self._model_terms is None:
            features = names[1:] if intercept else names
            self._model_terms = tuple((n, (n,)) for n in features)
        if intercept:
            self.intercept_ = float(params[0])
            self.coef_ = params[1:]
        else:
            self.coef_ = params
            if intercept is not None:
                self.intercept_ = 0.0

    def _column_roles(self, columns) -> tuple[set[str], dict[str, str]]:
        """(predictor columns, ``{column: role}`` of the others) among the columns of X.

        The other roles are the outcome and special columns named by parameters
        (``time``, ``event``, ``strata``, ``cluster``, ``groups``); every other
        column is a predictor.
        """
        columns = [str(c) for c in columns]
        params = self.get_params(deep=False)
        roles = {}
        for role in ("time", "event", "strata", "cluster", "groups"):
            spec = params.get(role)
            if isinstance(spec, str):
                roles[spec] = role
            elif isinstance(spec, Integral) and -len(columns) <= spec < len(columns):
                roles[columns[spec]] = role  # a position, for array input
        return set(columns) - set(roles), roles

    def get_estimate(self) -> Estimate:
        """The estimates, their covariance, complete-data df, nobs and log-likelihood.

        This is what :func:`skmipool.pool` and :class:`skmipool.MIPooledEstimator`
        read from the fitted estimator.

        Returns
        -------
        skmipool.Estimate

        Examples
        --------
        >>> from skmipool.datasets import load_nhanes
        >>> from skmipool.models import OLSRegressor
        >>> df = load_nhanes().dropna()
        >>> est = OLSRegressor().fit(df[["age", "bmi"]], df["chl"]).get_estimate()
        >>> est.names, est.dfcom, est.nobs
        (('intercept', 'age', 'bmi'), 10.0, 13)
        """
        check_is_fitted(self, "results_")
        return Estimate(
            self.params_.to_numpy(),
            self.cov_.to_numpy(),
            names=tuple(self.params_.index),
            dfcom=self.dfcom_,
            nobs=self.nobs_,
            loglike=self.loglike_,
            model_terms=self._model_terms,
            model=f"{type(self).__name__}: "
            f"{self._model_label or statsmodels_model_name(self.results_.model)}",
            variance_components=getattr(self, "variance_components_", None),
        )
