"""grid_experiment: refit an MIPooledEstimator over a grid of settings, one tidy table."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from skmipool._estimator import MIPooledEstimator
from skmipool._results import PooledResult, check_level

__all__ = ["grid_experiment"]

_RESULT_COLUMNS = ["term", "estimate", "std_error", "df", "fmi", "conf_low", "conf_high"]


def _grid_dicts(param_grid) -> list[dict]:
    """The grid as a list of dicts, as ParameterGrid reads it."""
    if isinstance(param_grid, ParameterGrid):
        return list(param_grid.param_grid)
    if isinstance(param_grid, Mapping):
        return [param_grid]
    return list(param_grid)


def _parameter_names(grids: list[dict]) -> list[str]:
    """Every parameter named in the grid, in the order the user wrote them."""
    return list(dict.fromkeys(key for grid in grids for key in grid))


def _check_estimator(estimator) -> None:
    if isinstance(estimator, MIPooledEstimator):
        return
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise TypeError(
            f"estimator must be an (unfitted) skmipool.MIPooledEstimator; got "
            f"{type(estimator).__name__}. Wrap the analysis model: "
            f"MIPooledEstimator(estimator=..., imputer=...)."
        )


_EXAMPLES = {
    "imputer": "imputer=ChainedImputer()",
    "estimator": "estimator=LinearRegression()",
}


def _parameters_used(estimator, setting: dict) -> dict:
    """All (deep) parameters of the estimator with ``setting`` applied.

    Fails before any fit when a setting names a parameter the estimator cannot take.
    """
    top = estimator.get_params(deep=False)
    for key in setting:
        head, _, rest = key.partition("__")
        if rest and head not in setting and top.get(head, ...) is None:
            example = _EXAMPLES.get(head, f"{head}=...")
            raise ValueError(
                f"param_grid sets {key!r} but the estimator's {head!r} is None (its default "
                f"is built only at fit time). Pass the {head} explicitly, e.g. "
                f"MIPooledEstimator({example})."
            )
    try:
        return clone(estimator).set_params(**setting).get_params(deep=True)
    except ValueError as exc:
        raise ValueError(f"param_grid: {exc}") from exc


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)


def _fit_setting(estimator, setting, X, y, level, where):
    """Fit one setting; return its pooled table and the fit time in seconds."""
    start = time.perf_counter()
    try:
        fitted = clone(estimator).set_params(**setting).fit(X, y)
    except Exception as exc:
        _add_note(exc, f"in grid_experiment, {where}: {setting}")
        raise
    elapsed = time.perf_counter() - start
    pooled = getattr(fitted, "pooled_", None)
    if not isinstance(pooled, PooledResult):
        raise TypeError(
            f"estimator must be a skmipool.MIPooledEstimator (or set a PooledResult as "
            f"pooled_ in fit); the fitted {type(fitted).__name__} has no pooled_."
        )
    return pooled.to_frame(level=level), elapsed


def grid_experiment(
    estimator, param_grid, X, y, *, level: float = 0.95, n_jobs: int | None = None
) -> pd.DataFrame:
    """Fit an MIPooledEstimator for every setting of a parameter grid: a sensitivity table.

    Each setting of ``ParameterGrid(param_grid)`` is applied to a clone of
    ``estimator`` with ``set_params`` and fitted on ``X, y``; the pooled
    results are stacked into one tidy table.

    Parameters
    ----------
    estimator : MIPooledEstimator
        The estimator to vary, unfitted (it is cloned for every setting). To
        vary the imputer's parameters (``imputer__max_iter``, ...) pass the
        imputer explicitly: the default ``imputer=None`` has no parameters.
    param_grid : dict or list of dicts
        Parameter names of ``estimator`` (nested ones as ``imputer__max_iter``)
        mapped to lists of values, as in :class:`sklearn.model_selection.ParameterGrid`;
        a list of such dicts explores each grid in turn.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features with missing values as NaN, passed to every ``fit``.
    y : array-like of shape (n_samples,) or None
        Outcome, passed to every ``fit``.
    level : float, default=0.95
        Confidence level of ``conf_low`` / ``conf_high`` (pooled t(df) intervals).
    n_jobs : int, default=None
        Number of settings fitted in parallel by joblib (the active joblib
        backend decides where). Each fit also uses the ``n_jobs`` set on
        ``estimator`` for its M imputations. Results do not depend on it.

    Returns
    -------
    DataFrame
        One row per setting and term: a column per grid parameter (values as
        given; where one grid of a list does not set a parameter, the value the
        fit used, e.g. the estimator's own, or NaN if it has no such parameter), then
        ``term, estimate, std_error, df, fmi, conf_low, conf_high`` (see
        :meth:`PooledResult.to_frame`) and ``fit_time``, the seconds taken by
        that setting's ``fit``. Settings come in ``ParameterGrid`` order.

    Notes
    -----
    With an integer ``random_state`` on ``estimator`` every setting draws the
    same imputation seeds, so the table is reproducible and differences
    between rows with the same M reflect the settings rather than a new random
    draw (common random numbers). Seeds are drawn per imputation, so settings
    with different M share their first imputations' seeds.

    Examples
    --------
    >>> from sklearn.experimental import enable_iterative_imputer
    >>> from sklearn.impute import IterativeImputer
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool._grid import grid_experiment
    >>> from skmipool.datasets import load_nhanes
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(imputer=IterativeImputer(sample_posterior=True), random_state=0)
    >>> table = grid_experiment(
    ...     mi, {"n_imputations": [2, 3]}, df[["age", "bmi", "hyp"]], df["chl"]
    ... )
    >>> table.shape
    (8, 9)
    >>> list(table.columns[:3])
    ['n_imputations', 'term', 'estimate']
    """
    _check_estimator(estimator)
    level = check_level(level)
    grids = _grid_dicts(param_grid)
    names = _parameter_names(grids)
    settings = list(ParameterGrid(grids))
    if not settings or not names:
        raise ValueError(
            f"param_grid is empty ({param_grid!r}): give at least one parameter with a list "
            f"of values, e.g. {{'n_imputations': [5, 20]}}."
        )
    used = [_parameters_used(estimator, setting) for setting in settings]

    n = len(settings)
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_setting)(estimator, setting, X, y, level, f"setting {i + 1} of {n}")
        for i, setting in enumerate(settings)
    )
    frames = []
    for params_used, (table, elapsed) in zip(used, results, strict=True):
        table = table.rename_axis("term").reset_index()
        table["term"] = table["term"].astype(str)
        rows = table[_RESULT_COLUMNS].assign(fit_time=elapsed)
        params = pd.DataFrame(
            {name: [params_used.get(name, float("nan"))] * len(rows) for name in names},
            dtype=object,
        )
        frames.append(pd.concat([params, rows], axis=1))
    out = pd.concat(frames, ignore_index=True)
    # object columns holding only numbers (or strings, booleans) get their natural dtype
    out[names] = out[names].infer_objects()
    return out
