"""Internal validation of prediction models with multiple imputation, without leakage.

Both functions resample first and impute second (Wahl et al. 2016's "Val-MI", the
strategy they recommend): in every training part the imputers are fitted on the
training rows only, and the held-out rows are completed by those fitted imputers with
the outcome treated as missing, so that no held-out outcome informs the predictors it
is compared with. Imputing the whole data set first ("MI-Val") lets the held-out
outcomes into the imputation model, and its figures are optimistic (Wahl et al. 2016;
the slow test ``tests/test_model_selection.py`` measures it).

References
----------
Efron, B. and Tibshirani, R. (1997). Improvements on cross-validation: the .632+
bootstrap method. *JASA* 92, 548-560.
Harrell, F. E. (2015). *Regression Modeling Strategies*, 2nd ed., section 5.3.5
(the optimism bootstrap; R's ``rms::validate``).
Wahl, S., Boulesteix, A.-L., Zierer, A., Thorand, B. and van de Wiel, M. A. (2016).
Assessment of predictive performance in incomplete data by combining internal
validation and multiple imputation. *BMC Medical Research Methodology* 16, 144.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils import check_random_state

from skmipool._estimator import MIPooledEstimator
from skmipool._fits import pool
from skmipool._results import PooledResult, check_level, check_real
from skmipool.metrics import (
    check_outcome,
    imputation_predictions,
    metric_list,
    outcome_indicator,
    pool_predictions,
    score_imputations,
)
from skmipool.models import FormulaModel

__all__ = ["BackwardSelection", "backward_selection", "bootstrap_validate", "cross_validate"]

# no-information value of an error-type metric for the .632+ rule (Efron & Tibshirani
# 1997, eq. 27): the AUC of a prediction unrelated to the outcome is 1/2
_LOSSES = {"roc_auc": lambda value: 1.0 - value, "brier": lambda value: value}


def _frame(X):
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))


def _series(y, index):
    return y if isinstance(y, pd.Series) else pd.Series(np.asarray(y), index=index)


def _task(estimator) -> str:
    return "classification" if is_classifier(estimator) else "regression"


def _quiet_fit(estimator, X, y):
    """A clone fitted on a training part; its warnings (FMI, ...) concern that part only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return clone(estimator).fit(X, y)


def _check_two_classes(y: pd.Series, where: str) -> None:
    classes = pd.unique(y)
    if classes.size < 2:
        raise ValueError(
            f"{where} has a single class ({classes[0]!r}): a classifier cannot be fitted or "
            f"its discrimination scored there. Use fewer folds (cv) or stratified folds."
        )


def cross_validate(
    estimator,
    X,
    y,
    *,
    cv=5,
    metrics: str | Sequence[str] | None = None,
    level: float = 0.95,
    auc_variance: str = "delong",
    random_state=None,
) -> pd.DataFrame:
    """Cross-validated, pooled performance of an MIPooledEstimator, imputing within folds.

    In every fold a clone of ``estimator`` is fitted on the training rows (its
    M imputers see those rows only, outcome included); imputation m's fitted
    imputer completes the held-out rows with the outcome treated as missing,
    and imputation m's model predicts them. The out-of-fold predictions of
    imputation m over all folds form one prediction per row; the M sets are
    scored against y and pooled with Rubin's rules on each metric's inference
    scale (:func:`skmipool.metrics.pool_predictions`).

    Parameters
    ----------
    estimator : MIPooledEstimator
        Unfitted (it is cloned for every fold), with an integer ``n_imputations``.
    X : DataFrame or array-like of shape (n, n_features)
        May contain NaN.
    y : array-like of shape (n,)
        Observed outcomes (no NaN): the held-out rows are scored against them.
    cv : int, cross-validation generator or iterable, default=5
        As in scikit-learn; an int gives stratified folds for a classifier,
        shuffled with ``random_state``.
    metrics : str or sequence of str, optional
        See :mod:`skmipool.metrics`.
    level : float, default=0.95
    auc_variance : {"delong", "hanley_mcneil"}, default="delong"
    random_state : int, RandomState instance or None, default=None
        Shuffles the folds of an int ``cv``.

    Returns
    -------
    DataFrame
        As :func:`skmipool.metrics.pool_scores`. The standard errors treat the
        out-of-fold predictions as fixed; they omit the variation of the
        fitted models between folds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_boys
    >>> from skmipool.model_selection import cross_validate
    >>> boys = load_boys().dropna(subset=["bmi"])
    >>> X, y = boys[["age", "hc", "tv"]], (boys["bmi"] > 18).astype(int)
    >>> mi = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=3, random_state=0)
    >>> cv = cross_validate(mi, X, y, cv=3, metrics=["roc_auc"], random_state=0)
    >>> bool(0.5 < cv.loc["roc_auc", "estimate"] < 1)
    True
    """
    level = check_level(level)
    task = _task(estimator)
    names = metric_list(metrics, task)
    X = _frame(X)
    y = _series(y, X.index)
    check_outcome(y, task)
    if not isinstance(estimator.n_imputations, int | np.integer):
        raise ValueError(
            f"cross_validate pools imputation m of every fold as one set of predictions, so "
            f"n_imputations must be an integer; got {estimator.n_imputations!r}."
        )
    if isinstance(cv, int | np.integer):
        splitter = StratifiedKFold if task == "classification" else KFold
        cv = splitter(n_splits=int(cv), shuffle=True, random_state=random_state)
    else:
        cv = check_cv(cv, y, classifier=task == "classification")
    m = int(estimator.n_imputations)
    predictions = np.full((m, len(y)), np.nan)
    fitted = None
    for k, (train, test) in enumerate(cv.split(X, y), start=1):
        if task == "classification":
            _check_two_classes(y.iloc[train], f"cv: the training part of fold {k}")
        fitted = _quiet_fit(estimator, X.iloc[train], y.iloc[train])
        for i, p in enumerate(imputation_predictions(fitted, X.iloc[test], "transform")):
            predictions[i, test] = p
    if np.isnan(predictions).any():
        raise ValueError("cv: some rows are in no test fold; use a partition of the rows.")
    return pool_predictions(
        list(predictions),
        outcome_indicator(fitted, y),
        names,
        task=task,
        level=level,
        auc_variance=auc_variance,
    )


def _scores_on(fitted, X, y, names, task, completions) -> np.ndarray:
    """Each imputation's figure of each metric, shape (M, len(names))."""
    preds = imputation_predictions(fitted, X, completions)
    table = score_imputations(preds, outcome_indicator(fitted, y), names, task=task)
    return table[names].to_numpy()


def bootstrap_validate(
    estimator,
    X,
    y,
    *,
    n_bootstrap: int = 50,
    method: str = "0.632+",
    metrics: str | Sequence[str] | None = None,
    random_state=None,
) -> pd.DataFrame:
    """Bootstrap internal validation with imputation inside every resample (Val-MI).

    Each resample's rows are imputed M times and the model fitted
    (``keep_imputations`` on); its apparent figures come from its own
    completed data, its test figures from the rows left out of the resample
    (``"0.632+"``) or from all original rows (``"optimism"``), completed by
    the resample's imputers with the outcome treated as missing. Every figure
    is a mean over the M imputations.

    ``method="0.632+"`` (Efron & Tibshirani 1997), the estimate Wahl et al.
    (2016) found reliable with Val-MI: (1 - w) apparent + w out-of-bag, with
    w = 0.632 / (1 - 0.368 R) and R = (oob - app) / (gamma - app) the
    relative overfitting, gamma the no-information error (1/2 for 1 - AUC;
    mean over all pairs of (p_j - y_i)² for the Brier score). Error-type
    metrics only: ``roc_auc`` (as 1 - AUC) and ``brier``.
    ``method="optimism"``: Harrell's (2015, 5.3.5) optimism bootstrap as in
    ``rms::validate``: corrected = apparent - mean(apparent_b - test_b), any
    metric.

    Parameters
    ----------
    estimator : MIPooledEstimator
        Unfitted; cloned for the full data and every resample.
    X, y : data
        X may contain NaN; y must be complete.
    n_bootstrap : int, default=50
        Resamples B; the cost is (B + 1) fits of M imputations.
    method : {"0.632+", "optimism"}, default="0.632+"
    metrics : str or sequence of str, optional
        Default: ``roc_auc, brier`` for a classifier (with ``"optimism"``
        also the calibration intercept and slope), ``r2, rmse`` for a regressor
        (``"optimism"`` only).
    random_state : int or None
        Seeds the resamples.

    Returns
    -------
    DataFrame
        Indexed by metric: ``apparent`` (the full-data fit on its own
        completed data), ``test`` (mean out-of-bag or original-data figure of
        the resamples), ``optimism`` (apparent - corrected) and ``corrected``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_boys
    >>> from skmipool.model_selection import bootstrap_validate
    >>> boys = load_boys().dropna(subset=["bmi"])
    >>> X, y = boys[["age", "hc", "tv"]], (boys["bmi"] > 18).astype(int)
    >>> mi = MIPooledEstimator(LogisticRegression(C=np.inf), n_imputations=2, random_state=0)
    >>> val = bootstrap_validate(mi, X, y, n_bootstrap=3, random_state=0)
    >>> list(val.columns)
    ['apparent', 'test', 'optimism', 'corrected']
    """
    if method not in ("0.632+", "optimism"):
        raise ValueError(f'method must be "0.632+" or "optimism"; got {method!r}.')
    if not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 2:
        raise ValueError(f"n_bootstrap must be an integer of at least 2; got {n_bootstrap!r}.")
    task = _task(estimator)
    if metrics is None and method == "0.632+":
        metrics = ["roc_auc", "brier"] if task == "classification" else None
        if metrics is None:
            raise ValueError(
                'method="0.632+" needs an error-type metric (roc_auc, brier); for a regressor '
                'use method="optimism".'
            )
    names = metric_list(metrics, task)
    if method == "0.632+":
        other = [n for n in names if n not in _LOSSES]
        if other:
            raise ValueError(
                f'metrics: {other} have no no-information error for method="0.632+"; use '
                f'{sorted(_LOSSES)} or method="optimism".'
            )
    X = _frame(X)
    y = _series(y, X.index)
    check_outcome(y, task)
    keep = clone(estimator).set_params(keep_imputations=True)
    full = clone(keep).fit(X, y)
    apparent = _scores_on(full, X, y, names, task, "fit").mean(axis=0)
    rng = check_random_state(random_state)
    n = len(y)
    app_b, test_b = [], []
    for b in range(n_bootstrap):
        for _ in range(100):
            rows = rng.randint(0, n, size=n)
            out = np.setdiff1d(np.arange(n), rows)
            ok = out.size > 0
            if task == "classification":
                ok = ok and pd.unique(y.iloc[rows]).size == 2 and pd.unique(y.iloc[out]).size == 2
            if ok:
                break
        else:
            raise ValueError(
                f"resample {b + 1}: no resample in 100 tries had both classes in and out of "
                f"the bag; the data are too small or one class too rare."
            )
        Xb = X.iloc[rows].reset_index(drop=True)
        yb = y.iloc[rows].reset_index(drop=True)
        fitted = _quiet_fit(keep, Xb, yb)
        app_b.append(_scores_on(fitted, Xb, yb, names, task, "fit").mean(axis=0))
        test_rows = out if method == "0.632+" else np.arange(n)
        test_b.append(
            _scores_on(fitted, X.iloc[test_rows], y.iloc[test_rows], names, task, "transform").mean(
                axis=0
            )
        )
    app_b, test_b = np.array(app_b), np.array(test_b)
    test = test_b.mean(axis=0)
    if method == "optimism":
        # Harrell (2015), 5.3.5: optimism = mean over resamples of (apparent_b - test_b)
        optimism = (app_b - test_b).mean(axis=0)
        corrected = apparent - optimism
    else:
        corrected = np.array(
            [_632_plus(name, apparent[j], test[j], full, X, y) for j, name in enumerate(names)]
        )
        optimism = apparent - corrected
    return pd.DataFrame(
        {"apparent": apparent, "test": test, "optimism": optimism, "corrected": corrected},
        index=pd.Index(names),
    )


def _no_information_error(name: str, full, X, y) -> float:
    """gamma: the error when predictions and outcomes are unrelated (all pairs i, j)."""
    if name == "roc_auc":
        return 0.5  # 1 - AUC of an uninformative score
    preds = imputation_predictions(full, X, "fit")
    yy = outcome_indicator(full, y)
    # Efron & Tibshirani (1997), eq. 27: mean over i, j of L(y_i, p_j), per imputation
    return float(np.mean([np.mean((p[None, :] - yy[:, None]) ** 2) for p in preds]))


def _632_plus(name: str, apparent: float, oob: float, full, X, y) -> float:
    """The .632+ estimate of one metric (Efron & Tibshirani 1997, eqs. 28-32)."""
    loss = _LOSSES[name]
    err_app, err_oob = loss(apparent), loss(oob)
    gamma = _no_information_error(name, full, X, y)
    err_oob = min(err_oob, gamma)  # eq. 31: Err1' = min(Err1, gamma)
    rel = (err_oob - err_app) / (gamma - err_app) if gamma > err_app and err_oob > err_app else 0
    weight = 0.632 / (1.0 - 0.368 * rel)  # eq. 32
    err = (1.0 - weight) * err_app + weight * err_oob
    return loss(err)  # the maps 1 - x and x are their own inverses


# ----------------------------------------------------------- backward selection


@dataclass(frozen=True)
class BackwardSelection:
    """The path and the result of :func:`backward_selection`.

    Attributes
    ----------
    path : DataFrame
        One row per step: ``removed`` (the term), its pooled D1 ``statistic``,
        ``df1``, ``df2``, ``p_value``, and the ``formula`` after the step. The
        last row has ``removed`` None: the test of the term that stayed with
        the largest p-value (or no row when no term was eligible).
    formula : str
        The selected model's formula.
    pooled : PooledResult
        The selected model pooled over the same imputations.
    """

    path: pd.DataFrame
    formula: str
    pooled: PooledResult


def _eligible(terms: list[str], keep: set[str]) -> list[str]:
    """Terms that may go: not kept, and not inside a higher-order term that stays.

    R's ``drop1`` and psfmi respect marginality: ``a`` stays while ``a:b`` is in the
    model.
    """
    parts = {t: set(t.split(":")) for t in terms}
    return [
        t for t in terms if t not in keep and not any(u != t and parts[t] < parts[u] for u in terms)
    ]


def backward_selection(estimator, *, p_remove: float = 0.157, keep: Sequence[str] = ()):
    """Backward elimination by pooled D1 p-values over the same imputations (psfmi_lr).

    Starting from the fitted model, each step pools the analysis over the kept
    completed data sets, tests every eligible term with the pooled D1 (all of a
    factor's dummies together; :meth:`PooledResult.wald_test_terms`) and
    removes the term with the largest p-value when it exceeds ``p_remove``.
    The imputations are not redone: every model is fitted to the same M
    completed data sets, as psfmi's ``psfmi_lr(method = "D1")``. Selection by
    Rubin's rules on Wald tests is what Wood, White & Royston (2008) recommend
    among the MI selection strategies; its p-values after selection are still
    too small, and the whole selection must be repeated inside each resample to
    validate the selected model.

    Parameters
    ----------
    estimator : MIPooledEstimator
        Fitted with ``keep_imputations=True`` and a
        :class:`skmipool.models.FormulaModel` analysis.
    p_remove : float, default=0.157
        Remove a term while its pooled p-value is above this (0.157: the AIC
        criterion for one df, psfmi's default).
    keep : sequence of str
        Terms never removed.

    Returns
    -------
    BackwardSelection

    Examples
    --------
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes2
    >>> from skmipool.model_selection import backward_selection
    >>> from skmipool.models import FormulaModel
    >>> mi = MIPooledEstimator(
    ...     FormulaModel("chl ~ age + bmi + hyp"), n_imputations=10, keep_imputations=True,
    ...     random_state=1,
    ... ).fit(load_nhanes2())
    >>> sel = backward_selection(mi, p_remove=0.157)
    >>> sel.path["removed"].tolist()
    ['hyp', None]
    >>> sel.formula
    'chl ~ age + bmi + hyp - hyp'
    """
    if not isinstance(estimator, MIPooledEstimator) or not hasattr(estimator, "pooled_"):
        raise TypeError(
            "backward_selection needs a fitted MIPooledEstimator (fit it first, with "
            "keep_imputations=True and a FormulaModel analysis)."
        )
    analysis = estimator.estimators_[0]
    if not isinstance(analysis, FormulaModel):
        raise TypeError(
            f"backward_selection removes terms from a formula; the analysis is "
            f"{type(analysis).__name__}. Use MIPooledEstimator(FormulaModel(...))."
        )
    completed = getattr(estimator, "imputations_", None)
    if completed is None:
        raise ValueError(
            "backward_selection refits every model on the same completed data sets; fit the "
            "estimator with keep_imputations=True."
        )
    p_remove = check_real("p_remove", p_remove, low=0.0, high=1.0)
    keep = {str(k) for k in ([keep] if isinstance(keep, str) else keep)}
    formula = analysis.formula
    params = analysis.get_params()
    unknown = keep - set(estimator.pooled_.model_terms)
    if unknown:
        raise ValueError(
            f"keep names {sorted(unknown)}, which are not terms of the model; its terms are "
            f"{list(estimator.pooled_.model_terms)}."
        )
    rows, pooled = [], estimator.pooled_
    while True:
        tests = pooled.wald_test_terms()
        candidates = _eligible(list(tests.index), keep)
        if not candidates:
            break
        worst = tests.loc[candidates, "p_value"].idxmax()
        test = tests.loc[worst]
        if test["p_value"] <= p_remove:
            rows.append({"removed": None, **test[["statistic", "df1", "df2", "p_value"]]})
            rows[-1]["formula"] = formula
            break
        formula = f"{formula} - {worst}"
        fits = [clone(analysis).set_params(**{**params, "formula": formula}) for _ in completed]
        pooled = pool(
            [f.fit(c) for f, c in zip(fits, completed, strict=True)], dfcom=estimator.dfcom
        )
        row = {"removed": worst, **test[["statistic", "df1", "df2", "p_value"]]}
        rows.append({**row, "formula": formula})
    path = pd.DataFrame(rows, columns=["removed", "statistic", "df1", "df2", "p_value", "formula"])
    path["removed"] = pd.Series([r["removed"] for r in rows], dtype=object)  # None stays None
    path.index = pd.RangeIndex(1, len(path) + 1, name="step")
    return BackwardSelection(path, formula, pooled)
