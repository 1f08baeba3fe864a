"""Pooled performance of prediction models fitted by multiple imputation.

Each imputation's fitted model predicts that imputation's completed data; each
of the M sets of predictions is scored against the observed outcome, and the M
scores are pooled with Rubin's rules on the scale where they are close to normal
(Marshall et al. 2009; Wahl et al. 2016): the AUC on the logit scale, R² on
Fisher's z scale (Harel 2009), the RMSE on the log scale; the Brier score and the
calibration intercept and slope as they are.

==========================  ==============  =========================================
metric                      scale           per-imputation figure and variance
==========================  ==============  =========================================
``roc_auc``                 logit           AUC (c-statistic), DeLong et al. (1988)
                                            variance (or Hanley & McNeil 1982)
``brier``                   identity        mean (p - y)², var((p - y)²) / n
``calibration_intercept``   identity        a in logit P(y) = a + offset(logit p)
``calibration_slope``       identity        b in logit P(y) = a + b logit p
``r2``                      Fisher z        1 - SSE/SST, var(z) = 1 / (n - 3)
``rmse``                    log             sqrt(MSE), var(MSE) / (4 MSE²) on log
==========================  ==============  =========================================

The calibration intercept and slope are Steyerberg's (2019, ch. 15) logistic
recalibration: intercept 0 and slope 1 for a calibrated model, a slope below 1
for predictions that are too extreme (overfitting). Their variances are those of
the recalibration model's maximum likelihood fit.

These are apparent figures when the model is scored on the data it was fitted on:
use :func:`skmipool.model_selection.cross_validate` or
:func:`skmipool.model_selection.bootstrap_validate` for figures corrected for
optimism.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from skmipool import MIPooledEstimator
>>> from skmipool.datasets import load_boys
>>> from skmipool.metrics import pool_scores
>>> boys = load_boys().dropna(subset=["bmi"])
>>> X, y = boys[["age", "hc", "tv"]], (boys["bmi"] > 18).astype(int)
>>> mi = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=5,
...                        random_state=0).fit(X, y)
>>> scores = pool_scores(mi, X, y)
>>> list(scores.index)
['roc_auc', 'brier', 'calibration_intercept', 'calibration_slope']
>>> list(scores.columns)
['estimate', 'std_error', 'conf_low', 'conf_high', 'df', 'fmi', 'scale']
>>> bool(0.5 < scores.loc["roc_auc", "estimate"] < 1)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from skmipool._performance import METRICS, Score, roc_auc_hanley_mcneil
from skmipool._results import check_level, pool_estimates

__all__ = [
    "METRIC_NAMES",
    "calibration_table",
    "pool_predictions",
    "pool_scores",
    "score_imputations",
]

METRIC_NAMES = tuple(METRICS)
_DEFAULT = {
    "classification": ("roc_auc", "brier", "calibration_intercept", "calibration_slope"),
    "regression": ("r2", "rmse"),
}
_AUC_VARIANCES = ("delong", "hanley_mcneil")


def metric_list(metrics, task: str) -> list[str]:
    """The metric names to compute, checked against the task of the model."""
    if metrics is None:
        return list(_DEFAULT[task])
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown metric(s) {unknown}; choose from {list(METRICS)}.")
    wrong = [m for m in names if METRICS[m].task != task]
    if wrong:
        what = "a classifier's probabilities" if task == "regression" else "numbers"
        raise ValueError(
            f"metrics: {wrong} score {what}, but the model is a "
            f"{'regressor' if task == 'regression' else 'classifier'}; use "
            f"{list(_DEFAULT[task])} for it."
        )
    if not names:
        raise ValueError("metrics is empty: name at least one metric.")
    return names


def check_outcome(y, task: str) -> np.ndarray:
    """y as an array: complete, and with two classes for classification metrics."""
    values = np.asarray(pd.Series(np.asarray(y, dtype=object)).to_numpy())
    missing = pd.isna(values)
    if missing.any():
        raise ValueError(
            f"y has {int(missing.sum())} missing value(s): scoring compares predictions with "
            f"observed outcomes, so y must be complete. Score the rows with an observed y "
            f"(X[y.notna()], y[y.notna()])."
        )
    if task == "classification":
        classes = pd.unique(values)
        if classes.size != 2:
            raise ValueError(
                f"y has {classes.size} class(es) ({list(classes)[:5]}); the classification "
                f"metrics need exactly two (events and non-events)."
            )
    return values


def score_imputations(
    predictions, y, metrics=None, *, task: str = "classification", auc_variance: str = "delong"
) -> pd.DataFrame:
    """Each imputation's scores: the figures scikit-learn would give, one row per imputation.

    Parameters
    ----------
    predictions : sequence of M array-likes of shape (n,)
        Imputation m's predictions: probabilities of the positive class
        (``task="classification"``) or predicted values.
    y : array-like of shape (n,)
        Observed outcomes; for classification 0/1 or booleans (1 = event).
    metrics : str or sequence of str, optional
        Names from :data:`METRIC_NAMES`; default all of the task's.
    task : {"classification", "regression"}, default="classification"
    auc_variance : {"delong", "hanley_mcneil"}, default="delong"
        The variance of each AUC.

    Returns
    -------
    DataFrame
        Rows ``1..M``; a column per metric on its reporting scale.

    Examples
    --------
    >>> from skmipool.metrics import score_imputations
    >>> score_imputations([[0.2, 0.7, 0.6, 0.4]], [0, 1, 1, 0], "roc_auc")
                roc_auc
    imputation
    1               1.0
    """
    return pd.DataFrame(
        {
            name: [s.value for s in scores]
            for name, scores in _scores(predictions, y, metrics, task, auc_variance).items()
        },
        index=pd.RangeIndex(1, len(list(predictions)) + 1, name="imputation"),
    )


def _scores(predictions, y, metrics, task, auc_variance) -> dict[str, list[Score]]:
    if task not in _DEFAULT:
        raise ValueError(f'task must be "classification" or "regression"; got {task!r}.')
    if auc_variance not in _AUC_VARIANCES:
        raise ValueError(f"auc_variance must be one of {_AUC_VARIANCES}; got {auc_variance!r}.")
    names = metric_list(metrics, task)
    y = check_outcome(y, task)
    if task == "classification":
        y = y.astype(float).astype(bool)
    else:
        y = y.astype(float)
    preds = [np.asarray(p, dtype=float).ravel() for p in predictions]
    if len(preds) == 0:
        raise ValueError("predictions is empty: give one prediction vector per imputation.")
    for m, p in enumerate(preds, start=1):
        if p.shape != y.shape:
            raise ValueError(f"imputation {m}: {p.size} predictions for {y.size} outcomes.")
        if not np.isfinite(p).all():
            raise ValueError(f"imputation {m}: the predictions contain NaN or infinite values.")
    out = {}
    for name in names:
        compute = METRICS[name].compute
        if name == "roc_auc" and auc_variance == "hanley_mcneil":
            compute = roc_auc_hanley_mcneil
        out[name] = [compute(y, p) for p in preds]
    return out


def pool_predictions(
    predictions,
    y,
    metrics=None,
    *,
    task: str = "classification",
    level: float = 0.95,
    auc_variance: str = "delong",
) -> pd.DataFrame:
    """Score M sets of predictions against y and pool each metric with Rubin's rules.

    Parameters
    ----------
    predictions : sequence of M array-likes of shape (n,)
        Imputation m's predictions of the n outcomes (probabilities of the
        positive class for classification).
    y : array-like of shape (n,)
        The observed outcomes (no NaN).
    metrics : str or sequence of str, optional
        Names from :data:`METRIC_NAMES`. Default: ``roc_auc, brier,
        calibration_intercept, calibration_slope`` for classification,
        ``r2, rmse`` for regression.
    task : {"classification", "regression"}, default="classification"
    level : float, default=0.95
        Confidence level of the intervals.
    auc_variance : {"delong", "hanley_mcneil"}, default="delong"
        The completed-data variance of the AUC: DeLong et al. (1988)
        (nonparametric) or Hanley & McNeil (1982) (exponential model).

    Returns
    -------
    DataFrame
        Indexed by metric, columns ``estimate, std_error, conf_low, conf_high,
        df, fmi, scale``. ``estimate`` and the interval are on the reporting
        scale (an AUC, R², ...); ``std_error`` is on the inference scale named
        in ``scale``, where the interval is t(df) based (df: Rubin 1987, large
        sample) and is then mapped back.

    Examples
    --------
    >>> from skmipool.metrics import pool_predictions
    >>> y = [0, 0, 1, 1, 0, 1, 0, 1]
    >>> preds = [[.1, .4, .35, .8, .2, .9, .6, .7], [.2, .3, .45, .7, .1, .8, .5, .9]]
    >>> pool_predictions(preds, y, "brier").round(3)[["estimate", "std_error"]]
           estimate  std_error
    brier     0.123      0.059
    """
    level = check_level(level)
    scores = _scores(predictions, y, metrics, task, auc_variance)
    rows = {}
    for name, per_imputation in scores.items():
        rows[name] = _pool_metric(name, per_imputation, level)
    return pd.DataFrame(rows).T.astype(
        {c: float for c in ("estimate", "std_error", "conf_low", "conf_high", "df", "fmi")}
    )


def _pool_metric(name: str, scores: list[Score], level: float) -> dict:
    scale = METRICS[name].scale
    q = np.array([s.inference for s in scores])
    u = np.array([s.variance for s in scores])
    if not (np.isfinite(q).all() and np.isfinite(u).all() and (u > 0).all()):
        bad = int(np.argmax(~(np.isfinite(q) & np.isfinite(u) & (u > 0)))) + 1
        raise ValueError(
            f"{name}: imputation {bad} gives {scores[bad - 1].value:g}, which has no finite "
            f"variance on the {scale} scale (an AUC of 0 or 1 separates the classes "
            f"perfectly; a constant prediction has no calibration slope)."
        )
    # one function holds Rubin's rules: the figures enter on their inference scale
    res = pool_estimates(q, u, names=[name], transform=scale, input_scale="inference")
    ci = res.conf_int(level)
    return {
        "estimate": float(res.estimate.iloc[0]),
        "std_error": float(res.std_error.iloc[0]),
        "conf_low": float(ci["lower"].iloc[0]),
        "conf_high": float(ci["upper"].iloc[0]),
        "df": float(res.df.iloc[0]),
        "fmi": float(res.fmi.iloc[0]),
        "scale": scale,
    }


def _fit_completions(estimator, X):
    """The M completed datasets of the fit, when X is the data the estimator was fitted on.

    Only with ``keep_imputations=True``: X must have the fit's index and columns and
    agree with every observed cell of the kept completed data.
    """
    kept = getattr(estimator, "imputations_", None)
    if kept is None or not isinstance(X, pd.DataFrame):
        return None
    first = kept[0]
    if not (first.index.equals(X.index) and set(X.columns) <= set(first.columns)):
        return None
    observed = X.notna()
    for col in X.columns:
        rows = observed[col].to_numpy()
        if not np.array_equal(
            first[col].to_numpy()[rows].astype(object), X[col].to_numpy()[rows].astype(object)
        ):
            return None
    return [frame[list(X.columns)] for frame in kept]


def imputation_predictions(estimator, X, completions: str = "auto") -> list[np.ndarray]:
    """Imputation m's model on imputation m's completed X, for every m.

    Classifiers give the probability of ``classes_[1]``, regressors their prediction.
    ``completions``: ``"transform"`` completes X with imputation m's fitted imputer,
    the outcome treated as missing; ``"fit"`` takes the completed datasets of the fit
    (``keep_imputations=True``, X the data it was fitted on), whose imputations used
    the outcome; ``"auto"``: ``"fit"`` when possible, else ``"transform"``.
    """
    check_is_fitted(estimator, "estimators_")
    if completions not in ("auto", "fit", "transform"):
        raise ValueError(f'completions must be "auto", "fit" or "transform"; got {completions!r}.')
    completed = None if completions == "transform" else _fit_completions(estimator, X)
    if completed is None and completions == "fit":
        raise ValueError(
            'completions="fit" scores the completed datasets of the fit: fit the estimator '
            "with keep_imputations=True and pass the X it was fitted on (same index and "
            "observed values)."
        )
    if completed is None:
        completed = estimator._completed_X(X)
    if is_classifier(estimator):
        return [
            e.predict_proba(x)[:, 1] for e, x in zip(estimator.estimators_, completed, strict=True)
        ]
    return [
        np.asarray(e.predict(x), dtype=float)
        for e, x in zip(estimator.estimators_, completed, strict=True)
    ]


def outcome_indicator(estimator, y) -> np.ndarray:
    """y as 1 for ``classes_[1]`` (the class whose probability is scored), else 0."""
    if not is_classifier(estimator):
        return np.asarray(y, dtype=float)
    values = check_outcome(y, "classification")
    unknown = sorted({str(v) for v in values} - {str(c) for c in estimator.classes_})
    if unknown:
        raise ValueError(
            f"y has labels {unknown} that the model was not fitted on (classes "
            f"{list(estimator.classes_)})."
        )
    return (values == estimator.classes_[1]).astype(float)


def pool_scores(
    estimator,
    X,
    y,
    metrics: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    auc_variance: str = "delong",
    completions: str = "auto",
) -> pd.DataFrame:
    """Pooled performance of a fitted MIPooledEstimator on (X, y).

    Imputation m's fitted model predicts imputation m's completed X, the M
    sets of predictions are scored against y, and each metric is pooled with
    Rubin's rules on its inference scale (see the module docstring).

    Which completed X: on new data, X completed by imputation m's fitted
    imputer with the outcome treated as missing (it must not inform the
    predictors of the rows it is compared with). On the data the model was
    fitted on, with ``keep_imputations=True``, the fit's own completed
    datasets (the apparent performance psfmi's ``pool_performance``
    reports); their imputations used the outcome, so the figures are
    optimistic twice over (overfitting, and the outcome in the imputation:
    Wahl et al. 2016's "MI-Val"). Internal validation corrects both:
    :func:`skmipool.model_selection.cross_validate`,
    :func:`skmipool.model_selection.bootstrap_validate`.

    Parameters
    ----------
    estimator : fitted MIPooledEstimator
        A classifier with ``predict_proba`` for the classification metrics
        (the probability of ``classes_[1]`` is scored), or a regressor.
    X : DataFrame or array-like of shape (n, n_features)
        May contain NaN.
    y : array-like of shape (n,)
        Observed outcomes: no NaN.
    metrics : str or sequence of str, optional
        Default: ``roc_auc, brier, calibration_intercept, calibration_slope``
        for a classifier, ``r2, rmse`` for a regressor.
    level : float, default=0.95
        Confidence level.
    auc_variance : {"delong", "hanley_mcneil"}, default="delong"
        Completed-data variance of the AUC.
    completions : {"auto", "fit", "transform"}, default="auto"
        ``"fit"``: the fit's completed datasets (needs ``keep_imputations=True``
        and the X of the fit); ``"transform"``: X completed by the fitted
        imputers, outcome missing; ``"auto"``: ``"fit"`` when possible.

    Returns
    -------
    DataFrame
        See :func:`pool_predictions`.

    Examples
    --------
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.metrics import pool_scores
    >>> df = load_nhanes().dropna(subset=["chl"])
    >>> mi = MIPooledEstimator(n_imputations=5, random_state=0).fit(
    ...     df[["age", "bmi"]], df["chl"])
    >>> list(pool_scores(mi, df[["age", "bmi"]], df["chl"]).index)
    ['r2', 'rmse']
    """
    level = check_level(level)
    task = "classification" if is_classifier(estimator) else "regression"
    names = metric_list(metrics, task)
    check_outcome(y, task)
    if task == "classification" and not hasattr(estimator, "predict_proba"):
        raise TypeError(
            f"the classification metrics {names} score probabilities, and the inner "
            f"estimator has no predict_proba."
        )
    predictions = imputation_predictions(estimator, X, completions)
    return pool_predictions(
        predictions,
        outcome_indicator(estimator, y),
        names,
        task=task,
        level=level,
        auc_variance=auc_variance,
    )


def calibration_table(
    estimator, X, y, *, n_bins: int = 10, completions: str = "auto"
) -> pd.DataFrame:
    """Observed against predicted risk by groups of predicted risk, averaged over imputations.

    In each imputation the rows are split into ``n_bins`` groups of equal size
    by that imputation's predicted probability; the group's mean prediction
    and observed event rate are averaged over the M imputations, group by group
    (the grouped calibration plot of Steyerberg 2019, ch. 15, pooled as the
    mean of the M curves).

    Parameters
    ----------
    estimator : fitted MIPooledEstimator (a classifier)
    X, y : data
        X may contain NaN; y complete, two classes.
    n_bins : int, default=10
        Number of groups (deciles of risk by default).
    completions : {"auto", "fit", "transform"}, default="auto"
        See :func:`pool_scores`.

    Returns
    -------
    DataFrame
        One row per group: ``predicted``, ``observed`` (means over the
        imputations), ``observed_min``, ``observed_max`` (their range over the
        imputations) and ``n``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_boys
    >>> from skmipool.metrics import calibration_table
    >>> boys = load_boys().dropna(subset=["bmi"])
    >>> X, y = boys[["age", "hc"]], (boys["bmi"] > 18).astype(int)
    >>> mi = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=3,
    ...                        random_state=0).fit(X, y)
    >>> calibration_table(mi, X, y, n_bins=5).shape
    (5, 5)
    """
    if not is_classifier(estimator):
        raise ValueError(
            "calibration_table compares predicted risks with events: it needs a classifier."
        )
    if not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ValueError(f"n_bins must be an integer of at least 2; got {n_bins!r}.")
    check_outcome(y, "classification")
    events = outcome_indicator(estimator, y)
    if n_bins > events.size:
        raise ValueError(f"n_bins={n_bins} groups for {events.size} rows: use fewer groups.")
    predicted, observed, counts = [], [], None
    for p in imputation_predictions(estimator, X, completions):
        groups = np.array_split(np.argsort(p, kind="stable"), n_bins)
        predicted.append([p[g].mean() for g in groups])
        observed.append([events[g].mean() for g in groups])
        counts = [g.size for g in groups]
    predicted, observed = np.array(predicted), np.array(observed)
    return pd.DataFrame(
        {
            "predicted": predicted.mean(axis=0),
            "observed": observed.mean(axis=0),
            "observed_min": observed.min(axis=0),
            "observed_max": observed.max(axis=0),
            "n": counts,
        },
        index=pd.RangeIndex(1, n_bins + 1, name="group"),
    )
