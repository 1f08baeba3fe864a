"""MIPooledEstimator: impute M times, fit M times, pool with Rubin's rules."""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import ClassVar, NamedTuple

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer
from sklearn.linear_model import LinearRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from skmipool._adapters import (
    check_pipeline,
    coef_estimate,
    coef_names,
    has_coef_adapter,
    ignores_unknown_levels,
    is_pipeline,
    no_standard_error,
    pipeline_design,
)
from skmipool._collinearity import check_observed_collinearity
from skmipool._contrasts import default_analysis, is_categorical, learn_levels, plain_value
from skmipool._estimate import Estimate
from skmipool._fits import pool, pool_bootstrap_mi
from skmipool._intervals import prediction_intervals
from skmipool._results import Summary, how_many_imputations
from skmipool._validation import as_pandas, copy_on_write
from skmipool._version import __version__
from skmipool.impute import ChainedImputer
from skmipool.impute._columns import identifier_like_columns

__all__ = [
    "DeterministicImputationWarning",
    "ImputationError",
    "InconsistentVersionWarning",
    "MIPooledEstimator",
]

_TARGET = "__skmipool_target__"
# warn when more than this share of the outcome / of a predictor is imputed (documented in
# MIPooledEstimator's Notes and the user guide's "Reliability" section)
OUTCOME_IMPUTED_LIMIT = 0.5
PREDICTOR_IMPUTED_LIMIT = 0.9


class ImputationError(ValueError):
    """An imputation or the analysis of one completed dataset failed.

    The message names the imputation and the stage; ``__cause__`` is the
    original exception.
    """


class InconsistentVersionWarning(UserWarning):
    """A pickled estimator is loaded with another skmipool version than it was saved with."""


class OutcomeOnlyImputationWarning(UserWarning):
    """Only the outcome is missing: under MAR its imputations add nothing (von Hippel 2007)."""


class DeterministicImputationWarning(UserWarning):
    """All M completed datasets are equal: the pooled SE ignores imputation uncertainty."""


def _free_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base`` with a numbered suffix: a column name not in ``taken``."""
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _default_imputer():
    return ChainedImputer()


def _default_estimator():
    return LinearRegression()


def _check_takes_categories(estimator, X) -> None:
    """A bare scikit-learn linear model cannot fit text: say so before imputing M times."""
    categorical = [str(c) for c in X.columns if is_categorical(X[c])]
    bare = type(estimator).__module__.startswith("sklearn.linear_model")
    if categorical and bare:
        raise ValueError(
            f"columns {categorical} of X are categorical, and {type(estimator).__name__} takes "
            f"numbers only. Encode them inside the analysis, after the imputation: "
            f'estimator=make_pipeline(ColumnTransformer([("cat", OneHotEncoder(drop="first"), '
            f'{categorical})], remainder="passthrough"), {type(estimator).__name__}(...)); or '
            f"leave estimator=None (a linear regression with treatment contrasts, as R's lm); "
            f"or use skmipool.models.FormulaModel."
        )


def _is_numeric_only_imputer(imputer) -> bool:
    return type(imputer).__module__.startswith("sklearn.impute")


# ----------------------------------------------------------------- the worker


class _Failure:
    """An exception raised in imputation m, carried back to the parent process."""

    def __init__(self, m: int, stage: str, exc: BaseException):
        self.m, self.stage, self.exc = m, stage, exc

    def raise_(self):
        raise ImputationError(
            f"imputation {self.m}: {self.stage} failed: {type(self.exc).__name__}: {self.exc}"
        ) from self.exc


def _bootstrap_estimate(estimator, X, y, point, n_bootstrap, rng) -> Estimate:
    """Nonparametric bootstrap covariance of ``point(fitted, X, y)`` within one dataset."""
    base = point(estimator, X, y)
    n = len(X)
    draws = np.empty((n_bootstrap, base.estimate.size))
    for b in range(n_bootstrap):
        rows = rng.integers(0, n, size=n)
        Xb = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
        yb = None if y is None else (y.iloc[rows] if isinstance(y, pd.Series) else y[rows])
        draws[b] = point(clone(estimator).fit(Xb, yb), Xb, yb).estimate
    cov = np.atleast_2d(np.cov(draws, rowvar=False))
    return Estimate(base.estimate, cov, names=base.names, dfcom=None, nobs=n)


def _coef_point(estimator, X, y) -> Estimate:
    """Intercept(s) and coefficients without a covariance (for the bootstrap).

    A coefficient matrix (one row per class or output) is flattened row by
    row; its terms are named ``feature[class]``.
    """
    if is_pipeline(estimator):  # the final step's coefficients on the preprocessed design
        design = pipeline_design(estimator, X)
        own = _coef_point(design.final, design.Z, y)
        names = [design.rename.get(n, n) for n in own.names]
        return Estimate(own.estimate, own.covariance, names=names)
    if callable(getattr(estimator, "get_estimate", None)):  # e.g. a formula model's terms
        own = estimator.get_estimate()
        return Estimate(own.estimate, np.eye(own.estimate.size), names=own.names)
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=float))
    names = coef_names(estimator, X)
    has_icpt = bool(getattr(estimator, "fit_intercept", False))
    features = names[1:] if has_icpt else names
    icpt = np.ravel(estimator.intercept_).astype(float) if has_icpt else np.empty(0)
    if coef.shape[0] == 1:
        return Estimate(np.concatenate([icpt, coef[0]]), np.eye(len(names)), names=names)
    labels = getattr(estimator, "classes_", range(coef.shape[0]))
    icpt_names = [f"intercept[{c}]" for c in labels] if has_icpt else []
    coef_terms = [f"{f}[{c}]" for c in labels for f in features]
    values = np.concatenate([icpt, coef.ravel()])
    return Estimate(values, np.eye(values.size), names=icpt_names + coef_terms)


def _bootstrap_rows(
    data: pd.DataFrame, rng: np.random.Generator, tries: int = 100, all_levels: bool = False
):
    """Row indices of a bootstrap resample in which every column has an observed value.

    With ``all_levels``, every observed level of every categorical column occurs too
    (a resample without a level has no coefficient for it).
    """
    observed = data.notna().to_numpy()
    n = observed.shape[0]
    codes = []
    if all_levels:
        for col in data.columns:
            if is_categorical(data[col]):
                values = pd.Categorical(data[col].astype(object))
                codes.append((values.codes, np.unique(values.codes[values.codes >= 0]).size))
    for _ in range(tries):
        rows = rng.integers(0, n, size=n)
        if not observed[rows].any(axis=0).all():
            continue
        if all(np.unique(c[rows][c[rows] >= 0]).size == k for c, k in codes):
            return rows
    what = "an observed value in every column" + (
        " and every level of the categorical columns" if all_levels else ""
    )
    raise ValueError(
        f"no bootstrap resample in {tries} tries had {what}; a column is almost entirely "
        f"missing or a level is very rare. Drop or merge it, or use "
        f'imputation_bootstrap=False / inference="rubin".'
    )


def uses_imputation_bootstrap(imputer, setting) -> bool:
    """Whether imputations fit the imputer on a bootstrap resample (see MIPooledEstimator)."""
    if setting != "auto":
        return bool(setting)
    return isinstance(imputer, IterativeImputer) and bool(imputer.sample_posterior)


@dataclass(frozen=True)
class _FitPlan:
    """What every imputation's worker needs to know besides the data and the models.

    Small: it is pickled with every task. The n-long arrays (the data, a given outcome)
    are arguments of their own, which a cluster backend sends once per fit (joblib's
    dask backend scatters them); the masks of the missing cells are recomputed.
    """

    x_is_frame: bool
    outcome_imputed: bool  # y is a column of the imputation frame, read back after imputing
    y_name: str | None
    estimand: object  # "coef" or a callable
    variance: str
    n_bootstrap: int
    missing: tuple  # the columns with missing cells
    bootstrap: bool  # fit the imputer on a bootstrap resample
    keep: bool  # return the completed data


class _Imputation(NamedTuple):
    """What the worker of imputation m returns."""

    imputer: object
    estimator: object
    estimate: Estimate
    imputed: dict  # column -> its imputed values
    messages: list  # (category, message) of the warnings raised
    completed: object  # the completed data (keep_imputations) or None


def _impute_and_fit(m, imputer, estimator, data, y, n_x, plan: _FitPlan, seed, resample=None):
    """Imputation m: impute, fit, extract the estimand.

    ``y``: the outcome when it is not imputed (or a classifier's labels), else None.
    With ``resample`` (a seed), the data are first replaced by a bootstrap resample of
    their rows (bootstrap then impute): the same seed gives the same rows to each of the
    resample's imputations.
    """
    if resample is not None:
        rows = _bootstrap_rows(data, np.random.default_rng([resample, 2]), all_levels=True)
        data = data.iloc[rows].reset_index(drop=True)
        y = None if y is None else np.asarray(y)[rows]
        plan = replace(plan, bootstrap=False)  # the resample already varies the model
    missing = {col: data[col].isna().to_numpy() for col in plan.missing}
    # warnings are collected per imputation and re-issued once by the parent; catch_warnings
    # is not thread-safe, so under a threading backend they pass through as they are
    in_main = threading.current_thread() is threading.main_thread()
    recorder = warnings.catch_warnings(record=True) if in_main else contextlib.nullcontext([])
    with recorder as caught:
        if in_main:
            warnings.simplefilter("always")
        imp = clone(imputer)
        if "random_state" in imp.get_params(deep=False):
            imp.set_params(random_state=seed)
        stage = "imputing the data"
        try:
            if plan.bootstrap:
                # fit on a bootstrap resample, complete the original rows: the imputation
                # model's parameters vary between imputations (mice's norm.boot; Efron 1994)
                rows = _bootstrap_rows(data, np.random.default_rng([seed, 1]))
                completed = imp.fit(data.iloc[rows]).transform(data)
            else:
                completed = imp.fit_transform(data)
            if sparse.issparse(completed):
                completed = completed.toarray()
            if np.shape(completed) != data.shape:
                raise ValueError(
                    f"the imputer returned shape {np.shape(completed)} for input of shape "
                    f"{data.shape}; it must keep every row and column (an all-missing column?)."
                )
            Xc = _completed_features(completed, data, n_x, plan.x_is_frame)
            yc = _completed_outcome(completed, data, y, n_x, plan)
            stage = "fitting the estimator"
            est = clone(estimator)
            if "random_state" in est.get_params(deep=False):
                est.set_params(random_state=seed)  # stochastic estimators: seeded as bagging does
            est = est.fit(Xc, yc)
            stage = "computing the estimand"
            estimate = _estimand(est, Xc, yc, plan, seed)
        except Exception as exc:
            # returned, not raised: the parent chains it, whatever the joblib backend
            return _Failure(m, stage, exc)
        imputed = {
            col: np.asarray(_column(completed, j))[missing[col]]
            for j, col in enumerate(data.columns)
            if col in missing
        }
    messages = [(w.category, str(w.message)) for w in caught]
    return _Imputation(imp, est, estimate, imputed, messages, completed if plan.keep else None)


def _column(completed, j):
    if isinstance(completed, pd.DataFrame):
        return completed.iloc[:, j].to_numpy()
    return np.asarray(completed)[:, j]


def _completed_features(completed, data, n_x: int, x_is_frame: bool):
    """The completed X: the first n_x columns, as a frame when X was one."""
    if isinstance(completed, pd.DataFrame) and x_is_frame:
        # a view under copy-on-write: the analysis cannot change the completed data
        Xc = completed.iloc[:, :n_x] if copy_on_write() else completed.iloc[:, :n_x].copy()
        if not Xc.columns.equals(data.columns[:n_x]):
            Xc = Xc.set_axis(data.columns[:n_x], axis=1)
        return Xc
    # an array X (numeric) gives the estimator an array, whatever the imputer returns
    Xc = np.asarray(completed)[:, :n_x].astype(float, copy=False)
    if x_is_frame:
        Xc = pd.DataFrame(Xc, columns=data.columns[:n_x], index=data.index)
    return Xc


def _completed_outcome(completed, data, y, n_x: int, plan: _FitPlan):
    """The outcome to fit: imputed (read from the completed data) or as given (``y``)."""
    y = np.asarray(_column(completed, n_x), dtype=float) if plan.outcome_imputed else y
    if y is not None and plan.y_name is not None and plan.x_is_frame:
        y = pd.Series(y, index=data.index, name=plan.y_name)
    return y


def _estimand(est, X, y, plan: _FitPlan, seed) -> Estimate:
    estimand = plan.estimand
    if plan.variance == "bootstrap":
        point = _coef_point if estimand == "coef" else estimand
        rng = np.random.default_rng(seed)
        return _bootstrap_estimate(est, X, y, point, plan.n_bootstrap, rng)
    if estimand == "coef":
        return coef_estimate(est, X, y)
    result = estimand(est, X, y)
    if not isinstance(result, Estimate):
        raise TypeError(
            f"the estimand callable must return a skmipool.Estimate; got {type(result).__name__}."
        )
    return result


# Rows compared first when looking for a second observed value of a non-numeric column:
# a column that varies almost always does so here, and the rest of it is then not read.
_HEAD = 1000


def _is_constant(column: pd.Series) -> bool:
    """Whether the observed values (NaN ignored) are one value: ``nunique(dropna=True) == 1``.

    O(n) and without the hashing of ``nunique``: numbers (numpy, nullable, pyarrow) and
    booleans by their least and largest observed value, a categorical by its codes (-1 for
    missing), anything else by equality with the first observed value, read in full only
    when the first ``_HEAD`` rows hold no other value.
    """
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        observed = codes[codes >= 0]
        return observed.size > 0 and observed.min() == observed.max()
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        values = column.to_numpy()
        if values.size == 0:
            return False
        if dtype.kind == "f":  # fmin/fmax skip NaN; NaN only when every value is
            low, high = np.fmin.reduce(values), np.fmax.reduce(values)
        else:
            low, high = values.min(), values.max()
        return bool(low == high)  # False for NaN == NaN: an entirely missing column
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        if pd.api.types.is_complex_dtype(dtype):
            return column.nunique(dropna=True) == 1
        low, high = column.min(skipna=True), column.max(skipna=True)
        return bool(pd.notna(low) and low == high)
    observed = column.notna().to_numpy()
    if not observed.any():
        return False
    first = column.iloc[int(observed.argmax())]
    try:
        for part in (slice(0, _HEAD), slice(0, None)):
            same = (column.iloc[part] == first).to_numpy(dtype=bool, na_value=False)
            if not (same | ~observed[part]).all():
                return False
    except (TypeError, ValueError):  # values that do not compare elementwise (lists, ...)
        return column.nunique(dropna=True) == 1
    return True


# column roles whose values are cluster ids: imputing one would invent clusters
CLUSTER_ROLES = ("groups", "cluster", "frailty")


def _check_complete_clusters(estimator, frame: pd.DataFrame) -> None:
    """Cluster columns must be complete: cluster membership is not imputed.

    The analysis says which columns hold clusters through ``_column_roles`` (a mixed
    model's ``groups`` or ``(1 | school)``, a Cox model's ``cluster``/``frailty``).
    The imputer would fill a missing cluster id like any number (school 37.4), so it
    is refused before imputing.
    """
    if not hasattr(estimator, "_column_roles"):
        return
    names = [str(c) for c in frame.columns]
    _, roles = estimator._column_roles(names)
    for spec in (c for c, role in roles.items() if role in CLUSTER_ROLES and c in names):
        column = frame.iloc[:, names.index(spec)]
        n_missing = int(column.isna().sum())
        if n_missing:
            rows = list(frame.index[column.isna().to_numpy()][:5])
            raise ValueError(
                f"the cluster column {spec!r} of {type(estimator).__name__} has {n_missing} "
                f"missing values (rows {rows}...). Clusters must be complete: the imputer would "
                f"fill a cluster id like any number and invent clusters. Drop those rows, or, if "
                f"the clusters are to be imputed, impute that column yourself (e.g. from a "
                f"known roster) before fitting."
            )


# ----------------------------------------------------------------- progress


def _progress(results, total: int, verbose: int):
    """Yield results, showing progress over the imputations on stderr when verbose."""
    if not verbose:
        yield from results
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        yield from tqdm(results, total=total, desc="imputations", file=sys.stderr)
        return
    for done, result in enumerate(results, start=1):
        print(f"\rimputations: {done}/{total}", end="", file=sys.stderr, flush=True)
        yield result
    print(file=sys.stderr)


# ----------------------------------------------------------------- estimator


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimators_"):
            return hasattr(self.estimators_[0], attr)
        return hasattr(self._base_estimator(), attr)

    return check


class MIPooledEstimator(MetaEstimatorMixin, BaseEstimator):
    """Multiple imputation as one scikit-learn step: impute M times, fit, pool.

    ``fit`` completes the data M times with clones of a stochastic imputer
    (each with its own seed), fits a clone of the estimator on every completed
    copy, takes the estimand and its covariance from each fit and pools them
    with Rubin's rules (:func:`skmipool.pool_estimates`).

    Parameters
    ----------
    estimator : estimator, default=None
        The analysis model, fitted on every completed dataset; a Pipeline
        puts encoders, scalers and spline bases after the imputation (see
        Notes). None means ``LinearRegression()``, with treatment contrasts
        for categorical, boolean and text columns of X (as R's ``lm``).
    imputer : transformer, default=None
        A stochastic imputer. None means
        :class:`skmipool.impute.ChainedImputer` with its defaults: mice's
        chained equations with parameter draws (proper imputations), numeric
        columns by predictive mean matching among bootstrapped donors,
        categorical, boolean and text columns by logistic models. Any imputer
        with ``fit``/``transform`` and ``random_state`` can be passed, e.g.
        ``IterativeImputer(sample_posterior=True)`` (numeric data only; see
        ``imputation_bootstrap``). Each clone gets its own ``random_state``
        drawn from ``random_state``.
    n_imputations : int or "auto", default=5
        Number of imputations M (at least 2). ``"auto"``: von Hippel's (2020)
        two-stage rule. A pilot of ``pilot_imputations`` imputations estimates
        the fraction of missing information; M = 1 + ½ (FMI_upper /
        ``target_cv``)², with FMI_upper the upper 95% bound of the largest
        FMI (:func:`skmipool.how_many_imputations`); then the imputations
        after the pilot are added. The seeds continue one sequence, so the
        result equals ``n_imputations=M`` with the same ``random_state``.
        ``n_imputations_`` records M, ``pilot_fmi_`` the pilot's FMI.
    pilot_imputations : int, default=20
        Size of the pilot when ``n_imputations="auto"`` (von Hippel suggests
        20); M is never below it.
    target_cv : float, default=0.05
        With ``n_imputations="auto"``: the coefficient of variation of the
        standard error across repetitions of the whole analysis to aim for.
    inference : {"rubin", "bootstrap"}, default="rubin"
        ``"rubin"``: M imputations pooled by Rubin's rules. ``"bootstrap"``:
        bootstrap then impute (von Hippel & Bartlett 2021; R's ``bootImpute``):
        ``n_bootstrap`` resamples of the rows, each imputed ``n_imputations``
        times (2 is usual) and analysed; the estimate is the mean of the B x D
        estimates, its variance and df come from their one-way ANOVA, and
        ``pooled_`` is a :class:`skmipool.BootstrapMIResult`. Valid without a
        Bayesianly proper imputer and when the imputation and analysis models
        are uncongenial; costs B x D fits. Rows are resampled, so an analysis
        with a cluster column is refused.
    imputation_bootstrap : "auto" or bool, default="auto"
        Fit each imputer clone on a bootstrap resample of the rows and then
        complete the original data, so that the imputation model's parameters
        vary between imputations (mice's ``norm.boot``; the bootstrap route to
        proper imputation, Little & Rubin 2002, 10.2.3). ``IterativeImputer``
        with ``sample_posterior=True`` draws predictive noise around point
        estimates only, so its B is too small and its intervals undercover (in
        the MAR simulation of the user guide: 0.905 coverage without, 0.95 with
        the bootstrap). ``"auto"`` bootstraps exactly that imputer; imputers
        that draw their parameters themselves (``skmipool.impute``) and
        deterministic ones are used as they are. The cost is one extra
        ``transform`` per imputation.
    estimand : "coef" or callable, default="coef"
        ``"coef"``: intercept and coefficients with their covariance (see
        Notes). A callable ``estimand(estimator, X, y) -> skmipool.Estimate``
        computes anything else from each fitted estimator and completed data.
    scale : None, str or (forward, inverse, derivative), default=None
        Inference scale for estimands reported on their natural scale
        ("log", "logit", "fisher_z", "cloglog"; see
        :func:`skmipool.pool_estimates`): estimates move there by the delta
        method, are pooled there and mapped back. Estimands from
        :mod:`skmipool.estimands` choose their scale themselves.
    variance : {"auto", "bootstrap"}, default="auto"
        ``"auto"``: the adapter's analytic covariance. ``"bootstrap"``: a
        nonparametric bootstrap within each imputation (``n_bootstrap``
        refits per imputation, so M x n_bootstrap fits in all).
    n_bootstrap : int, default=200
        Bootstrap replicates: the number of resamples B when
        ``inference="bootstrap"``; per imputation when ``variance="bootstrap"``.
    dfcom : "auto", float or None, default="auto"
        Complete-data degrees of freedom. ``"auto"``: n - p from the adapter;
        infinite for the bootstrap (it has no small-sample form). A number
        overrides; None or ``np.inf`` means a large sample.
    impute_target : bool, default=True
        Include the outcome in the imputation model (impute X together with
        y). Leaving it out biases the slopes of incompletely observed
        predictors toward zero (van Buuren 2018, FIMD section 6.2). Missing
        outcomes are imputed and analysed, as mice does; with
        ``impute_target=False`` missing outcomes are an error.
    random_state : int, RandomState instance or None, default=None
        Seeds the M imputations, the bootstrap resamples and, for estimators
        with a ``random_state`` parameter, each estimator clone (imputation m
        gives its imputer and its estimator the same derived seed).
    n_jobs : int, default=None
        Number of imputation/analysis pairs run in parallel by joblib; the
        active joblib backend decides where. Results do not depend on it.
    verbose : int, default=0
        0: silent. 1: a progress bar over the imputations on stderr (tqdm when
        installed, a plain counter otherwise). Higher values also pass
        ``verbose`` to joblib.
    keep_imputations : bool, default=False
        Keep the M completed datasets in ``imputations_``. Off by default:
        ``fit`` keeps the fitted imputers and estimators and the imputed cells.
        (A fitted ``ChainedImputer`` keeps its own completed training data for
        ``transform``, so with the default imputer memory grows by about one
        copy of the data per imputation either way.)

    Attributes
    ----------
    coef_ : ndarray
        Pooled coefficients, with the inner estimator's ``coef_`` shape (only
        for ``estimand="coef"``).
    intercept_ : float or ndarray
        Pooled intercept (0.0 with ``fit_intercept=False``), shaped like the
        inner estimator's (only for ``estimand="coef"`` and an inner estimator
        with an ``intercept_``; a formula model keeps its intercept in
        ``coef_``).
    pooled_ : PooledResult
        The pooled result: estimates, SEs, df, intervals, tests.
    terms_ : pandas.Index
        Term names (``intercept`` and the feature names for ``"coef"``; the
        design column names for a Pipeline or categorical predictors).
    estimates_ : pandas.DataFrame
        The M x k completed-data estimates.
    covariances_ : ndarray of shape (M, k, k)
        The completed-data covariance matrices.
    std_error_ : pandas.Series
        Pooled standard errors.
    df_ : pandas.Series
        Degrees of freedom (Barnard & Rubin 1999 when dfcom is finite).
    fmi_ : pandas.Series
        Fraction of missing information per term.
    riv_ : pandas.Series
        Relative increase in variance due to nonresponse.
    lambda_ : pandas.Series
        Proportion of the total variance due to missingness.
    relative_efficiency_ : pandas.Series
        Efficiency of M imputations relative to infinitely many.
    dfcom_ : float
        Complete-data df used (``inf``: large sample).
    n_imputations_ : int
        Number of imputations M (with ``n_imputations="auto"``, the M the rule chose).
    pilot_fmi_ : float
        With ``n_imputations="auto"`` only: the largest FMI of the pilot.
    estimators_ : list of estimators
        The M fitted estimators.
    imputers_ : list of transformers
        The M fitted imputers.
    imputations_ : list of DataFrame or ndarray
        The M completed datasets (X, and the outcome when it was imputed);
        only with ``keep_imputations=True``.
    classes_ : ndarray
        Class labels (classifiers only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Feature names seen during fit (DataFrame input only).

    Notes
    -----
    Coefficient covariances (``estimand="coef"``, ``variance="auto"``):
    LinearRegression: classical OLS; LogisticRegression without penalty
    (``C=np.inf``) and binary: inverse Fisher information;
    PoissonRegressor, GammaRegressor, TweedieRegressor with ``alpha=0``:
    inverse Fisher information times the Pearson dispersion; estimators with a
    ``get_estimate()`` method (e.g. :mod:`skmipool.models`): their own.

    Warnings a statistician would give: the outcome missing in more than 50%
    of the rows or a predictor in more than 90% (the results then rest on the
    imputation model); an FMI above 0.9 with fewer imputations than von
    Hippel's (2020) rule asks for; X without any missing value (nothing to
    impute: an encoder before the estimator may have turned NaN into a
    category).

    Pipelines: a scikit-learn ``Pipeline`` whose final step is one of these
    (e.g. ``make_pipeline(ColumnTransformer([("cat", OneHotEncoder(drop="first",
    sparse_output=False), ["age"]), ("sp", SplineTransformer(include_bias=False),
    ["bmi"])]), LinearRegression())``) is read as the final step's model on the
    design the fitted preprocessing makes (sparse output is made dense;
    ``LinearRegression`` solves sparse input iteratively, so prefer
    ``sparse_output=False`` for exact least squares). Term
    names come from ``get_feature_names_out``; the coefficients that code one
    input column (a OneHotEncoder's levels, a spline basis, a scaled column)
    form one model term for :meth:`PooledResult.wald_test_terms`, mapped
    exactly from the fitted steps (a ColumnTransformer's ``output_indices_``,
    an encoder's ``categories_``); a step that cannot be mapped exactly (e.g.
    PolynomialFeatures) makes each of its columns a term of its own. Each
    imputation fits its own preprocessing, so data-dependent parameters (a
    scaler's mean and SD, spline knots) are learnt per completed dataset. A
    step that learns from y (TargetEncoder, supervised feature selection) is
    refused with ``variance="auto"``, and a step that makes the terms differ
    between imputations (an encoder meeting a level in some imputations only)
    is an error naming the imputation and the model term. ``predict`` and the
    estimands of :mod:`skmipool.estimands` work through the pipeline; an
    average marginal effect is taken with respect to an input column,
    differentiating through the preprocessing.

    Categorical predictors in the default analysis: with ``estimator=None``,
    categorical, boolean and text columns are coded with treatment contrasts,
    the first level the reference (R's ``contr.treatment``), and the terms
    are named like R and patsy: ``age[T.40-59]``, ``flag[T.True]``. The
    levels are the pandas categorical dtype's categories, else the sorted
    observed values, learnt from the incomplete X before imputation so that
    every imputation has the same terms; a category that occurs in no row is
    an error. Ordered categoricals get treatment contrasts too (R's ``lm``
    would use polynomial contrasts: the same fit and joint test per term,
    other individual coefficients). ``predict`` refuses levels unseen in
    ``fit``, naming the column, unless the estimator's own OneHotEncoder has
    ``handle_unknown="ignore"``. A bare scikit-learn linear model given
    categorical X is refused before imputing, with the ways to encode it.

    Rows with a missing outcome are imputed and analysed, as in mice. Von
    Hippel's (2007) "multiple imputation, then deletion" instead drops them
    after imputation; do that by fitting on ``X[y.notna()]``.

    ``predict`` completes X with each fitted imputer (only when X has missing
    values; the outcome is treated as missing), predicts with the paired
    estimator and averages the M predictions. The imputers are copied before
    ``transform`` so that repeated calls give identical predictions.

    References
    ----------
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*.
    van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed.

    Examples
    --------
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> df = load_nhanes()
    >>> X, y = df[["age", "bmi", "hyp"]], df["chl"]
    >>> mi = MIPooledEstimator(n_imputations=5, random_state=0).fit(X, y)
    >>> list(mi.terms_)
    ['intercept', 'age', 'bmi', 'hyp']
    >>> mi.conf_int().shape
    (4, 2)

    Categorical predictors, as ``lm(chl ~ age + bmi + hyp)`` in R:

    >>> from skmipool.datasets import load_nhanes2
    >>> nh2 = load_nhanes2()
    >>> mi = MIPooledEstimator(n_imputations=5, random_state=1).fit(
    ...     nh2.drop(columns="chl"), nh2["chl"])
    >>> list(mi.terms_)
    ['intercept', 'age[T.40-59]', 'age[T.60-99]', 'bmi', 'hyp[T.yes]']
    >>> mi.pooled_.wald_test_terms()["df1"].to_dict()
    {'age': 2, 'bmi': 1, 'hyp': 1}

    A Pipeline as the analysis:

    >>> from sklearn.compose import ColumnTransformer
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
    >>> pipe = make_pipeline(
    ...     ColumnTransformer([
    ...         ("cat", OneHotEncoder(drop="first", sparse_output=False), ["age", "hyp"]),
    ...         ("num", StandardScaler(), ["bmi"])]),
    ...     LinearRegression())
    >>> mi = MIPooledEstimator(pipe, n_imputations=5, random_state=1).fit(
    ...     nh2.drop(columns="chl"), nh2["chl"])
    >>> list(mi.terms_)
    ['intercept', 'cat__age_40-59', 'cat__age_60-99', 'cat__hyp_yes', 'num__bmi']
    >>> list(mi.pooled_.model_terms)
    ['age', 'hyp', 'bmi']
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit"]), None],
        "imputer": [HasMethods(["fit_transform"]), None],
        "n_imputations": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "inference": [StrOptions({"rubin", "bootstrap"})],
        "pilot_imputations": [Interval(Integral, 2, None, closed="left")],
        "target_cv": [Interval(Real, 0, None, closed="neither")],
        "imputation_bootstrap": [StrOptions({"auto"}), "boolean"],
        "estimand": [StrOptions({"coef"}), callable],
        "scale": [None, str, tuple],
        "variance": [StrOptions({"auto", "bootstrap"})],
        "n_bootstrap": [Interval(Integral, 2, None, closed="left")],
        "dfcom": [
            StrOptions({"auto"}),
            Interval(Real, 0, None, closed="neither"),
            Options(Real, {np.inf}),
            None,
        ],
        "impute_target": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "keep_imputations": ["boolean"],
    }

    def __init__(
        self,
        estimator=None,
        imputer=None,
        *,
        n_imputations=5,
        pilot_imputations=20,
        target_cv=0.05,
        inference="rubin",
        imputation_bootstrap="auto",
        estimand="coef",
        scale=None,
        variance="auto",
        n_bootstrap=200,
        dfcom="auto",
        impute_target=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
        keep_imputations=False,
    ):
        self.estimator = estimator
        self.imputer = imputer
        self.n_imputations = n_imputations
        self.pilot_imputations = pilot_imputations
        self.target_cv = target_cv
        self.inference = inference
        self.imputation_bootstrap = imputation_bootstrap
        self.estimand = estimand
        self.scale = scale
        self.variance = variance
        self.n_bootstrap = n_bootstrap
        self.dfcom = dfcom
        self.impute_target = impute_target
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.keep_imputations = keep_imputations

    # ------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__()
        state["_skmipool_version"] = __version__
        return state

    def __setstate__(self, state):
        saved = state.pop("_skmipool_version", "unknown")
        if saved != __version__:
            warnings.warn(
                f"this MIPooledEstimator was pickled with skmipool {saved} and is loaded with "
                f"skmipool {__version__}; results may differ or break. Refit it with this "
                f"version, or install skmipool {saved} to use it.",
                InconsistentVersionWarning,
                stacklevel=2,
            )
        super().__setstate__(state)

    # ------------------------------------------------------------- helpers
    def _base_estimator(self):
        return self.estimator if self.estimator is not None else _default_estimator()

    def _analysis(self, X):
        """The analysis model to clone M times: the estimator, or the default for X.

        The default is ``LinearRegression()``; with categorical, boolean or
        text columns in X it is a Pipeline of treatment contrasts (levels
        learnt here, from the incomplete X, so every imputation gets the same
        terms) and ``LinearRegression()``.
        """
        return self.estimator if self.estimator is not None else default_analysis(X)

    def _base_imputer(self):
        return self.imputer if self.imputer is not None else _default_imputer()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self._base_estimator())
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.target_tags.required = inner.target_tags.required
        tags.input_tags.allow_nan = True
        return tags

    def _is_classifier(self) -> bool:
        return get_tags(self._base_estimator()).estimator_type == "classifier"

    def _validate_X(self, X, reset: bool):
        X = as_pandas(X)  # polars, pyarrow: column names kept
        if sparse.issparse(X):
            raise TypeError(
                "sparse input is not supported: imputation needs the missing cells as NaN in a "
                "dense array or DataFrame. Convert with X.toarray()."
            )
        if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[1] == 0:
                raise ValueError(f"X has no columns (shape {X.shape}); it needs features.")
            if reset and X.shape[0] < 2:
                raise ValueError(
                    f"X has {X.shape[0]} sample(s) (n_samples = {X.shape[0]}); fitting needs "
                    f"at least 2 rows."
                )
            numeric = X.select_dtypes(include=["number", "bool"])
            values = numeric.to_numpy(dtype=float)
            bad = np.isinf(values).any(axis=0)
            if bad.any():
                cols = list(numeric.columns[bad])
                raise ValueError(
                    f"X contains infinite values in columns {cols}. Replace them with NaN if "
                    f"they are missing values, or with finite values."
                )
            return X
        return validate_data(
            self,
            X,
            reset=reset,
            ensure_all_finite="allow-nan",
            dtype=np.float64,
            ensure_min_samples=2 if reset else 1,
        )

    def _check_columns(self, X, imputer, estimator) -> None:
        # only read: an array is wrapped, not copied (pandas 3 copies arrays by default)
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, copy=False)
        all_missing = frame.columns[frame.isna().all(axis=0)]
        if len(all_missing):
            raise ValueError(
                f"columns {[str(c) for c in all_missing]} of X are entirely missing: there is "
                f"nothing to impute them from. Drop them before fitting."
            )
        self._check_constant_columns(frame, estimator)
        ids = identifier_like_columns(X) if isinstance(X, pd.DataFrame) else []
        if ids:
            raise ValueError(
                f"columns {ids} of X are text with a different value in (almost) every row, "
                f"like names or ids: they cannot be imputed (a category per row) or predict "
                f"anything. Drop them from X (keep an id as the index)."
            )
        _check_complete_clusters(estimator, frame)
        if isinstance(X, pd.DataFrame) and self.estimator is not None:
            _check_takes_categories(estimator, X)
        if isinstance(X, pd.DataFrame) and _is_numeric_only_imputer(imputer):
            other = X.columns[~X.dtypes.map(pd.api.types.is_numeric_dtype)]
            if len(other):
                raise ValueError(
                    f"columns {[str(c) for c in other]} are not numeric and "
                    f"{type(imputer).__name__} imputes numbers only. Encode them (e.g. one-hot "
                    f"or category codes) or use skmipool.impute.ChainedImputer."
                )

    def _check_constant_columns(self, frame, estimator) -> None:
        """Constant predictors are an error (no coefficient); other constant columns a warning.

        A constant outcome or special column (an event indicator without censoring,
        one stratum) is valid data and passes in silence.
        """
        constant = [
            str(frame.columns[j]) for j in range(frame.shape[1]) if _is_constant(frame.iloc[:, j])
        ]
        if not constant:
            return
        if hasattr(estimator, "_column_roles"):  # skmipool.models: they say which is which
            predictors, roles = estimator._column_roles(map(str, frame.columns))
        elif is_pipeline(estimator) and self.estimator is not None:
            predictors, roles = None, {}  # a user's pipeline may drop or combine columns
        else:
            predictors, roles = {str(c) for c in frame.columns}, {}
        for col in constant:
            values = frame[col].dropna()
            if roles.get(col) == "event" and not values.astype(bool).any():
                raise ValueError(
                    f"the event column {col!r} has no events (every observed value is "
                    f"{plain_value(values.iloc[0])!r}): a Cox model has no estimate without "
                    f"events. Check the coding of {col!r} (1 or True = event)."
                )
        used = [c for c in constant if predictors is not None and c in predictors]
        if used and self.estimand == "coef":
            raise ValueError(
                f"columns {used} of X are constant: they are predictors of the analysis, whose "
                f"coefficients are then not identified (collinear with the intercept). Drop them "
                f"before fitting."
            )
        unused = [c for c in constant if c not in roles and c not in used]
        if unused:
            what = (
                "if the pipeline uses them, their coefficients are not identified"
                if predictors is None
                else "the analysis does not use them"
            )
            warnings.warn(
                f"columns {unused} of X are constant: they carry no information for the "
                f"imputation, and {what}. Drop them to silence this warning.",
                UserWarning,
                stacklevel=4,
            )

    def _validate_y(self, y, n: int):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y_in = y
        y = check_array(
            y, ensure_2d=False, ensure_all_finite="allow-nan", dtype=None, input_name="y"
        )
        y = column_or_1d(y, warn=True)
        check_consistent_length(np.empty(n), y)
        if y.dtype.kind in "fc" and np.isinf(y).any():
            raise ValueError(
                "Input y contains infinity: replace infinite values with NaN if they are missing."
            )
        missing = np.asarray(pd.isna(y))
        if missing.all():
            raise ValueError("y is entirely missing (all NaN): there is no outcome to analyse.")
        if self._is_classifier():
            check_classification_targets(y[~missing])
            classes = np.unique(y[~missing])
            if classes.size < 2:
                raise ValueError(
                    f"y has a single class ({classes[0]!r}); a classifier needs at least two "
                    f"classes."
                )
        else:
            y = y.astype(float)
        if missing.any() and not self.impute_target:
            raise ValueError(
                f"y has {int(missing.sum())} missing values and impute_target=False, so they "
                f"cannot be imputed. Set impute_target=True (mice's default: impute and analyse "
                f"them) or drop those rows."
            )
        if missing.any() and self._is_classifier():
            raise ValueError(
                f"y has {int(missing.sum())} missing class labels; imputing them needs an "
                f"imputer for categories. Drop those rows or impute y beforehand."
            )
        return y, getattr(y_in, "name", None)

    def _imputation_frame(self, X, y, y_name, outcome_in_X=False):
        """X (and, with impute_target, y coded as numbers) as one frame for the imputer."""
        if isinstance(X, pd.DataFrame):
            # the outcome column is added to the copy; under copy-on-write neither frame
            # can change the other, so the copy need not duplicate X's values
            frame = X.copy(deep=not copy_on_write())
        else:
            frame = pd.DataFrame(X)
        if not isinstance(X, pd.DataFrame):
            frame.columns = [f"x{i}" for i in range(frame.shape[1])]
        target_cols = []
        if self.impute_target and not outcome_in_X:
            if self._is_classifier():
                classes = np.unique(y)
                codes = pd.get_dummies(pd.Categorical(y, categories=classes), drop_first=True)
                taken = set(map(str, frame.columns))
                target_cols = [_free_name(f"{_TARGET}{i}", taken) for i in range(codes.shape[1])]
                for col, (_, values) in zip(target_cols, codes.items(), strict=True):
                    frame[col] = values.to_numpy(dtype=float)
            else:
                taken = set(map(str, frame.columns))
                target = str(y_name) if y_name is not None else _TARGET
                if target in taken:
                    target = _free_name(_TARGET, taken)
                frame[target] = y
                target_cols = [target]
        return frame, target_cols

    # ----------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Impute M times, fit the estimator on each completed dataset and pool.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Features with missing values as NaN.
        y : array-like of shape (n_samples,) or None
            Outcome; NaN allowed (imputed) when ``impute_target=True``. None
            for an estimator that reads its outcome from X (its
            ``target_tags.required`` is False, e.g. a formula model): then X
            is imputed as a whole, outcome included.

        Returns
        -------
        self : MIPooledEstimator
        """
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
            delattr(self, attr)  # nothing from an earlier fit survives (coef_, imputations_, ...)
        estimator = self._base_estimator()
        imputer = self._base_imputer()
        if self.estimand == "coef" and self.variance == "auto" and not has_coef_adapter(estimator):
            raise no_standard_error(estimator)
        if "random_state" not in imputer.get_params(deep=False):
            warnings.warn(
                f"{type(imputer).__name__} has no random_state parameter, so the M imputations "
                f"cannot be seeded: results will not be reproducible and a deterministic imputer "
                f"gives identical imputations. Use a stochastic imputer with random_state.",
                UserWarning,
                stacklevel=2,
            )
        X = self._validate_X(X, reset=True)
        y = as_pandas(y)
        self._check_columns(X, imputer, estimator)
        check_observed_collinearity(X, estimator, self.estimand)  # before imputing noise into it
        estimator = self._analysis(X)
        if is_pipeline(estimator) and self.estimand == "coef" and self.variance == "auto":
            check_pipeline(estimator)  # before imputing: a target encoder is refused at once
        self._levels = learn_levels(X) if isinstance(X, pd.DataFrame) else {}
        # an estimator that reads its outcome from X (e.g. a formula model) takes y=None
        outcome_in_X = y is None and not get_tags(estimator).target_tags.required
        if outcome_in_X:
            y_name = None
        else:
            y, y_name = self._validate_y(y, X.shape[0])
        if self._is_classifier() and not outcome_in_X:
            self.classes_ = np.unique(y)
        data, target_cols = self._imputation_frame(X, y, y_name, outcome_in_X)
        n_x = X.shape[1]
        masks = ((c, data[c].isna().to_numpy()) for c in data.columns)
        missing = {c: mask for c, mask in masks if mask.any()}
        plan = _FitPlan(
            x_is_frame=isinstance(X, pd.DataFrame),
            outcome_imputed=bool(target_cols) and not self._is_classifier(),
            y_name=y_name,
            estimand=self.estimand,
            variance=self.variance,
            n_bootstrap=self.n_bootstrap,
            missing=tuple(missing),
            bootstrap=uses_imputation_bootstrap(imputer, self.imputation_bootstrap),
            keep=self.keep_imputations,
        )
        self._warn_if_nothing_to_impute(missing, data.columns[:n_x])
        self._warn_if_mostly_imputed(missing, data, n_x, outcome_in_X)
        dfcom = self.dfcom
        if self.variance == "bootstrap" and isinstance(dfcom, str):
            dfcom = None  # the bootstrap has no small-sample df: large sample
        rng = check_random_state(self.random_state)
        y = None if plan.outcome_imputed else y  # an imputed outcome is read from the data
        if self.inference == "bootstrap":
            return self._fit_bootstrap_then_impute(
                rng, imputer, estimator, data, y, n_x, plan, target_cols
            )
        auto = self.n_imputations == "auto"
        if auto and not missing:
            raise ValueError(
                'n_imputations="auto" sets M from the fraction of missing information, but X '
                "and y have no missing values. Pass an integer n_imputations (or the incomplete "
                "data)."
            )
        # the seeds continue one sequence, so that "auto" ending at M equals n_imputations=M
        first = self.pilot_imputations if auto else self.n_imputations
        results = self._impute_and_fit_all(rng, first, imputer, estimator, data, y, n_x, plan)
        if auto:
            total = self._auto_imputations(results, dfcom)
            if total > first:
                more = self._impute_and_fit_all(
                    rng, total - first, imputer, estimator, data, y, n_x, plan, start=first
                )
                results += more
        self.imputers_ = [r.imputer for r in results]
        self.estimators_ = [r.estimator for r in results]
        if self.keep_imputations:
            self.imputations_ = [
                pd.DataFrame(r.completed, columns=data.columns, index=data.index)
                if not isinstance(r.completed, pd.DataFrame)
                else r.completed
                for r in results
            ]
        self._imputed_values = {col: np.stack([r.imputed[col] for r in results]) for col in missing}
        self._target_columns = target_cols
        self._reissue_warnings([r.messages for r in results])
        self._warn_if_deterministic(missing)
        self.pooled_ = pool([r.estimate for r in results], dfcom=dfcom, transform=self.scale)
        self._set_pooled_attributes()
        self._warn_if_unstable()
        return self

    def _check_bootstrap_inference(self, estimator, data) -> None:
        """What bootstrap then impute cannot do, said before any resample is drawn."""
        if self.variance == "bootstrap":
            raise ValueError(
                'inference="bootstrap" takes its variance from the spread of the estimates '
                'between resamples; variance="bootstrap" would bootstrap again inside each '
                'analysis. Use variance="auto" (the analyses\' own variances are not used).'
            )
        if self.n_imputations == "auto":
            raise ValueError(
                "n_imputations=\"auto\" is von Hippel's rule for Rubin's pooling; with "
                'inference="bootstrap" give the imputations per resample (2 is usual).'
            )
        if hasattr(estimator, "_column_roles"):
            _, roles = estimator._column_roles(map(str, data.columns))
            clustered = sorted(c for c, r in roles.items() if r in ("cluster", "groups", "frailty"))
            if clustered:
                raise ValueError(
                    f'inference="bootstrap" resamples rows, which breaks up the clusters in '
                    f"column(s) {clustered}: the bootstrap of clustered data must resample "
                    f'whole clusters, which skmipool does not do yet. Use inference="rubin".'
                )

    def _fit_bootstrap_then_impute(self, rng, imputer, estimator, data, y, n_x, plan, target_cols):
        """Bootstrap then impute (von Hippel & Bartlett 2021): B resamples, D imputations each.

        Resample b's rows come from its own seed, and imputation d of it has its own
        seed too, all drawn up front from ``rng``: the result is the same for any n_jobs.
        """
        self._check_bootstrap_inference(estimator, data)
        n_boot, n_imp = self.n_bootstrap, self.n_imputations
        top = np.iinfo(np.int32).max
        resample_seeds = rng.randint(top, size=n_boot)
        seeds = rng.randint(top, size=(n_boot, n_imp))
        tasks = (
            delayed(_impute_and_fit)(
                f"{d + 1} of bootstrap resample {b + 1}",
                imputer,
                estimator,
                data,
                y,
                n_x,
                plan,
                int(seeds[b, d]),
                resample=int(resample_seeds[b]),
            )
            for b in range(n_boot)
            for d in range(n_imp)
        )
        results = self._run(tasks, n_boot * n_imp)
        self.imputers_ = [r.imputer for r in results]
        self.estimators_ = [r.estimator for r in results]
        if self.keep_imputations:  # each resample has rows of its own: no original index
            self.imputations_ = [pd.DataFrame(r.completed, columns=data.columns) for r in results]
        self._imputed_values = {}  # each resample imputes other rows: nothing to stack
        self._target_columns = target_cols
        self._reissue_warnings([r.messages for r in results])
        estimates = [r.estimate for r in results]
        self.pooled_ = pool_bootstrap_mi(estimates, n_boot, transform=self.scale)
        self._set_pooled_attributes()
        return self

    def _impute_and_fit_all(
        self, rng, count, imputer, estimator, data, y, n_x, plan, start=0
    ) -> list[_Imputation]:
        """Imputations start + 1 .. start + count, each with the next seed of ``rng``."""
        seeds = rng.randint(np.iinfo(np.int32).max, size=count)
        tasks = (
            delayed(_impute_and_fit)(start + i + 1, imputer, estimator, data, y, n_x, plan, int(s))
            for i, s in enumerate(seeds)
        )
        return self._run(tasks, count)

    def _run(self, tasks, count: int) -> list[_Imputation]:
        """Run the workers with joblib (n_jobs, the active backend); raise the first failure."""
        parallel = Parallel(
            n_jobs=self.n_jobs, verbose=max(self.verbose - 1, 0), return_as="generator"
        )
        results = list(_progress(parallel(tasks), count, self.verbose))
        for r in results:
            if isinstance(r, _Failure):
                r.raise_()
        return results

    def _auto_imputations(self, pilot: list[_Imputation], dfcom) -> int:
        """von Hippel's (2020) two-stage rule: M from the pilot's FMI at its upper bound."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the final pool says whatever needs saying
            fmi = pool([r.estimate for r in pilot], dfcom=dfcom, transform=self.scale).fmi
        fmi = fmi[np.isfinite(fmi)]
        self.pilot_fmi_ = float(fmi.max()) if len(fmi) else 0.0
        # von Hippel (2020), eqs. 8 and 11: 1 + (fmi_upper / cv)^2 / 2
        needed = how_many_imputations(self.pilot_fmi_, len(pilot), cv=self.target_cv)
        return max(needed, len(pilot))

    def _reissue_warnings(self, per_imputation) -> None:
        """One warning per distinct message, naming the imputations it came from."""
        where = defaultdict(list)
        for m, messages in enumerate(per_imputation, start=1):
            for key in dict.fromkeys(messages):
                where[key].append(m)
        for (category, message), ms in where.items():
            which = (
                "all imputations"
                if len(ms) == len(per_imputation)
                else (f"imputation{'s' if len(ms) > 1 else ''} {', '.join(map(str, ms))}")
            )
            warnings.warn(
                f"{message} [in {which} of {len(per_imputation)}]", category, stacklevel=3
            )

    def _warn_if_nothing_to_impute(self, missing, x_columns) -> None:
        """Complete X: say so before M fits, with the likely cause (an earlier encoder)."""
        if any(c in missing for c in x_columns):
            return
        cause = (
            "If X had missing values before an earlier step, that step removed them: an encoder "
            "that makes NaN a category of its own turns multiple imputation into the "
            "missing-indicator method, and a SimpleImputer into single imputation, both with "
            "too small standard errors. Pass the incomplete X and put encoders inside the "
            "estimator (a Pipeline), after the imputation."
        )
        if not missing:
            warnings.warn(
                f"X and y have no missing values: every completed dataset is the data itself, "
                f"so B = 0 and the pooled result is the complete-data analysis. {cause}",
                DeterministicImputationWarning,
                stacklevel=4,
            )
            return
        n_y = int(sum(m.sum() for m in missing.values()))
        warnings.warn(
            f"X has no missing values, so only the outcome is imputed ({n_y} value(s)). "
            f"Imputed outcomes carry no information about the regression of y on X (von Hippel "
            f"2007, 'multiple imputation, then deletion'): fitting on the rows with an observed "
            f"y gives the same answer without the imputation noise. {cause}",
            OutcomeOnlyImputationWarning,
            stacklevel=4,
        )

    def _warn_if_mostly_imputed(self, missing, data, n_x: int, outcome_in_X: bool) -> None:
        """Say when the outcome (over 50%) or a predictor (over 90%) is mostly imputed.

        Then the results rest on the imputation model rather than on the data
        (van Buuren 2018, FIMD 6.2; von Hippel 2007 for imputed outcomes).
        """
        n = len(data)
        shares = {c: float(mask.mean()) for c, mask in missing.items()}
        outcome = [] if outcome_in_X else list(data.columns[n_x:])
        for col, share in shares.items():
            limit = OUTCOME_IMPUTED_LIMIT if col in outcome else PREDICTOR_IMPUTED_LIMIT
            if share <= limit:
                continue
            what = "the outcome" if col in outcome else f"column {col!r}"
            warnings.warn(
                f"{what} is missing in {round(share * n)} of {n} rows ({share:.0%}) and "
                f"imputed there: the results for it rest mostly on the imputation model, not on "
                f"observed data. Check that model (which variables predict {what}?), or drop "
                f"the rows with a missing outcome after imputing (von Hippel 2007).",
                UserWarning,
                stacklevel=4,
            )

    def _warn_if_unstable(self) -> None:
        """FMI above 0.9 with fewer imputations than von Hippel's (2020) rule asks for."""
        fmi = self.fmi_
        high = fmi[fmi > 0.9]
        if high.empty:
            return
        needed = how_many_imputations(high.max(), self.n_imputations_)
        if self.n_imputations_ >= needed:
            return
        warnings.warn(
            f"the fraction of missing information is {high.max():.2f} for "
            f"{list(high.index)}: with M = {self.n_imputations_} imputations the pooled SE "
            f"and df of these terms are unstable from one run to the next. Use about "
            f"n_imputations={needed} (von Hippel 2020), or reconsider the imputation model.",
            UserWarning,
            stacklevel=4,
        )

    def _warn_if_deterministic(self, missing) -> None:
        if not missing:
            return  # said before fitting (_warn_if_nothing_to_impute)
        same = all(
            all(np.array_equal(v[0], v[i]) for i in range(1, len(v)))
            for v in self._imputed_values.values()
        )
        if same:
            warnings.warn(
                f"all {len(self.imputers_)} imputations filled in identical values: the imputer "
                f"is deterministic (e.g. SimpleImputer or sample_posterior=False), so B = 0 and "
                f"the pooled SE ignores imputation uncertainty. Use a stochastic imputer such as "
                f"skmipool.impute.ChainedImputer() (the default).",
                DeterministicImputationWarning,
                stacklevel=4,
            )

    def _set_pooled_attributes(self) -> None:
        res = self.pooled_
        self.terms_ = res.terms
        self.estimates_ = res.estimates
        self.covariances_ = res.covariances
        self.std_error_ = res.std_error
        self.df_ = res.df
        self.fmi_ = res.fmi
        self.riv_ = res.riv
        self.lambda_ = res.lambda_
        self.relative_efficiency_ = res.relative_efficiency
        self.dfcom_ = res.dfcom
        self.n_imputations_ = res.n_imputations
        if self.estimand == "coef":
            inner = self.estimators_[0]
            if is_pipeline(inner):
                inner = inner[-1]  # the coefficients are the final step's
            values = res.estimate.to_numpy()
            icpt_shape = np.shape(getattr(inner, "intercept_", 0.0))
            has_icpt = bool(getattr(inner, "fit_intercept", False))
            n_icpt = int(np.prod(icpt_shape)) if has_icpt else 0
            self.coef_ = values[n_icpt:].reshape(np.shape(inner.coef_))
            if not hasattr(inner, "intercept_"):
                pass  # e.g. a formula model: the intercept is a term of coef_
            elif not has_icpt:
                self.intercept_ = np.zeros(icpt_shape) if icpt_shape else 0.0
            elif icpt_shape:
                self.intercept_ = values[:n_icpt].reshape(icpt_shape)
            else:
                self.intercept_ = float(values[0])

    # ------------------------------------------------------------ results
    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Pooled confidence intervals (t(df) quantiles); see PooledResult.conf_int."""
        check_is_fitted(self)
        return self.pooled_.conf_int(level)

    def summary(self, level: float = 0.95, exponentiate: bool = False):
        """Pooled summary table with the MI footer; see PooledResult.summary.

        With ``n_imputations="auto"`` the footer says how M was chosen.
        """
        check_is_fitted(self)
        notes = {}
        if self.n_imputations == "auto":
            notes["M chosen by"] = (
                f"von Hippel's (2020) two-stage rule: pilot of {self.pilot_imputations}, "
                f"largest FMI {self.pilot_fmi_:.3g}, target CV of the SE {self.target_cv:g}"
            )
        return Summary(self.pooled_, level=level, exponentiate=exponentiate, notes=notes)

    def complete(self, kind="long"):
        """The completed datasets, as mice's ``complete(imp, action)``.

        Needs ``keep_imputations=True`` at fit.

        Parameters
        ----------
        kind : {"long", "stacked", "list"} or int, default="long"
            ``"long"``: one DataFrame of the M completed datasets one below the
            other, led by the columns ``.imp`` (1..M) and ``.id`` (the row's
            position in the data given to fit, 1..n), as mice's
            ``complete(imp, "long")``; its index is a fresh 0..Mn-1 range.
            ``"stacked"``: the same rows without ``.imp`` and ``.id`` (mice's
            ``"stacked"``). ``"list"``: a list of the M DataFrames, each with
            the index of the data given to fit (mice's ``"all"``). An int
            ``m`` in 1..M: the m-th completed dataset (mice's ``action = m``).

        Returns
        -------
        DataFrame or list of DataFrame
            Copies: changing them leaves ``imputations_`` alone. The columns are
            X's (``x0``, ``x1``, ... for an array) followed by the outcome when
            it was part of the imputation. With ``inference="bootstrap"`` each
            dataset is a bootstrap resample, so ``.id`` counts the resample's rows.

        Examples
        --------
        >>> from skmipool import MIPooledEstimator
        >>> from skmipool.datasets import load_nhanes
        >>> df = load_nhanes()
        >>> mi = MIPooledEstimator(n_imputations=3, keep_imputations=True, random_state=0)
        >>> mi = mi.fit(df[["age", "bmi", "hyp"]], df["chl"])
        >>> long = mi.complete("long")
        >>> long.shape, list(long.columns)
        ((75, 6), ['.imp', '.id', 'age', 'bmi', 'hyp', 'chl'])
        >>> long.groupby(".imp")["bmi"].count().tolist()
        [25, 25, 25]
        >>> mi.complete(2).equals(mi.imputations_[1])
        True
        """
        check_is_fitted(self)
        if not hasattr(self, "imputations_"):
            raise ValueError(
                "complete() needs the completed datasets, which this estimator did not keep: "
                "refit with MIPooledEstimator(..., keep_imputations=True)."
            )
        frames = [d if isinstance(d, pd.DataFrame) else pd.DataFrame(d) for d in self.imputations_]
        m = len(frames)
        if isinstance(kind, Integral) and not isinstance(kind, bool):
            if not 1 <= kind <= m:
                raise ValueError(
                    f"kind={kind} is not an imputation: give an integer in 1..{m} (mice counts "
                    f"from 1; the incomplete data, mice's 0, is not kept)."
                )
            return frames[int(kind) - 1].copy()
        if kind == "list":
            return [f.copy() for f in frames]
        if kind == "stacked":
            return pd.concat(frames, ignore_index=True)
        if kind == "long":
            long = pd.concat(frames, ignore_index=True)
            sizes = [len(f) for f in frames]
            # mice's complete(imp, "long"): .imp = rep(idx, each = n), .id = rep(1:n, m)
            long.insert(0, ".id", np.concatenate([np.arange(1, k + 1) for k in sizes]))
            long.insert(0, ".imp", np.repeat(np.arange(1, m + 1), sizes))
            return long
        raise ValueError(
            f'kind must be "long", "stacked", "list" or an imputation number 1..{m}; got {kind!r}.'
        )

    # -------------------------------------------------------- predictions
    def _completed_X(self, X):
        """The M completed versions of X (the same X M times when nothing is missing)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, copy=False)
        self._check_known_levels(frame)
        if not frame.isna().to_numpy().any():
            return [X] * self.n_imputations_
        data = frame.copy()  # the imputers' input, with the outcome columns to fill
        for col in self._target_columns:
            data[col] = np.nan
        if not isinstance(X, pd.DataFrame):
            data.columns = [f"x{i}" for i in range(X.shape[1])] + self._target_columns
        out = []
        for imp in self.imputers_:
            # a copy keeps the fitted imputer's random state, so predictions repeat exactly
            completed = copy.deepcopy(imp).transform(data)
            out.append(
                _completed_features(completed, data, X.shape[1], isinstance(X, pd.DataFrame))
            )
        return out

    def _check_known_levels(self, frame) -> None:
        """Levels unseen in fit have no coefficient: name them before imputing."""
        for col, levels in getattr(self, "_levels", {}).items():
            known = set(levels)
            values = frame[col].dropna().to_numpy(dtype=object)
            unknown = sorted({str(v) for v in values if plain_value(v) not in known})
            if unknown and not ignores_unknown_levels(self.estimators_[0], col):
                raise ValueError(
                    f"column {col!r} has levels {unknown} that were not in the data the model "
                    f"was fitted on (levels: {[str(v) for v in levels]}), so the model has no "
                    f"coefficient for them (and the imputer never saw them). Recode them to "
                    f"known levels, or refit with data that contains them."
                )

    def predict(self, X):
        """Average of the M estimators' predictions on X completed by their imputers.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            May contain NaN.

        Returns
        -------
        ndarray of shape (n_samples,)
            Regressors: the mean prediction. Classifiers: the class with the
            highest mean predicted probability (majority vote without
            ``predict_proba``).
        """
        completed = self._completed_X(X)
        if self._is_classifier():
            if hasattr(self.estimators_[0], "predict_proba"):
                proba = self._mean_over(completed, "predict_proba")
                return self.classes_[np.argmax(proba, axis=1)]
            votes = np.stack(
                [e.predict(x) for e, x in zip(self.estimators_, completed, strict=True)]
            )
            return np.array([pd.Series(col).mode().iloc[0] for col in votes.T])
        return self._mean_over(completed, "predict")

    def _mean_over(self, completed, method):
        preds = [getattr(e, method)(x) for e, x in zip(self.estimators_, completed, strict=True)]
        return np.mean(np.stack(preds), axis=0)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Mean of the M estimators' class probabilities."""
        return self._mean_over(self._completed_X(X), "predict_proba")

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Mean of the M estimators' decision functions."""
        return self._mean_over(self._completed_X(X), "decision_function")

    def predict_interval(self, X, level: float = 0.95) -> pd.DataFrame:
        """Pooled predictions for new rows with confidence (and prediction) intervals.

        For linear models and GLMs (``estimand="coef"``): imputation m completes X
        with its fitted imputer (the outcome treated as missing) and gives the
        linear predictor eta_m = z_m' beta_m with variance z_m' V_m z_m; the M
        values are pooled with Rubin's rules (T = U + (1 + 1/M) B) and the
        t(df) interval is mapped through the inverse link (probabilities of
        ``classes_[1]`` for a logistic model, means for a log link). df is
        Satterthwaite's for T (U known to ``dfcom_`` df, B to M - 1), between
        M - 1 and ``dfcom_``: a missing predictor of the new row makes B the
        uncertainty about that individual, where Barnard and Rubin's df would
        fall below 1.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            New rows; may contain NaN.
        level : float, default=0.95
            Confidence level, in (0, 1).

        Returns
        -------
        DataFrame
            Indexed like X: ``estimate, lower, upper`` (response scale),
            ``std_error`` (sqrt T, link scale), ``df``, ``fmi``; for least
            squares (LinearRegression, OLSRegressor, a Gaussian GLM or formula
            model) also ``pi_lower, pi_upper``, the interval for a new
            individual's outcome, eta +/- t(df) sqrt(T + sigma²) with sigma²
            the residual variance averaged over the imputations.

        Examples
        --------
        >>> from skmipool import MIPooledEstimator
        >>> from skmipool.datasets import load_nhanes
        >>> df = load_nhanes()
        >>> mi = MIPooledEstimator(n_imputations=5, random_state=0).fit(
        ...     df[["age", "bmi"]], df["chl"])
        >>> new = df[["age", "bmi"]].iloc[:2]
        >>> list(mi.predict_interval(new).columns)
        ['estimate', 'lower', 'upper', 'std_error', 'df', 'fmi', 'pi_lower', 'pi_upper']
        """
        check_is_fitted(self)
        if self.estimand != "coef" or self.inference != "rubin":
            raise ValueError(
                "predict_interval pools the linear predictor from the coefficients: it needs "
                'estimand="coef" and inference="rubin".'
            )
        completed = self._completed_X(X)
        index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(completed[0]))
        return prediction_intervals(self.estimators_, completed, self.pooled_, level, index)

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers) or R² (regressors) of :meth:`predict`."""
        pred = self.predict(X)
        if self._is_classifier():
            return accuracy_score(y, pred, sample_weight=sample_weight)
        return r2_score(y, pred, sample_weight=sample_weight)
