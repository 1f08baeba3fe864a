"""From fitted models to (estimate, covariance, dfcom): the input side of pooling."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from skmipool._adapters import coef_estimate, formula_model_terms, statsmodels_model_name
from skmipool._estimate import Estimate
from skmipool._mixed import is_mixedlm_results, mixedlm_estimate
from skmipool._pool import _check_dfcom, combining_rule
from skmipool._results import BootstrapMIResult, pool_estimates, to_inference_scale
from skmipool._scales import get_transform

__all__ = ["as_estimate", "pool", "register_adapter"]


class MissingDfcomWarning(UserWarning):
    """The complete-data df could not be found; a large sample was assumed."""


class EstimationSampleWarning(UserWarning):
    """The number of observations differs between the completed-data analyses."""


# ----------------------------------------------------------------------- adapters

_ADAPTERS: list[tuple[Callable[[object], bool], Callable[[object], Estimate]]] = []


def register_adapter(kind, extract: Callable[[object], Estimate]) -> None:
    """Teach :func:`pool` to read another kind of fitted model.

    Parameters
    ----------
    kind : type or callable
        A class (its instances are handled) or a predicate ``kind(fit) -> bool``.
    extract : callable
        ``extract(fit) -> Estimate``.

    Examples
    --------
    >>> from skmipool import Estimate, pool, register_adapter
    >>> class MyFit:
    ...     def __init__(self, coef):
    ...         self.coef = coef
    >>> register_adapter(MyFit, lambda f: Estimate([f.coef], [0.1], names=["b"]))
    >>> pool([MyFit(1.0), MyFit(1.2)], dfcom=None).estimate.round(2).tolist()
    [1.1]
    """
    predicate = (lambda fit: isinstance(fit, kind)) if isinstance(kind, type) else kind
    _ADAPTERS.insert(0, (predicate, extract))


def _is_statsmodels_results(fit) -> bool:
    return (
        type(fit).__module__.startswith("statsmodels")
        and hasattr(fit, "params")
        and hasattr(fit, "cov_params")
        and hasattr(fit, "model")
    )


def _is_phreg(fit) -> bool:
    from statsmodels.duration.hazard_regression import PHReg

    return isinstance(getattr(fit, "model", None), PHReg)


def _statsmodels_estimate(fit) -> Estimate:
    if is_mixedlm_results(fit):
        # fixed effects only; the variance components go apart (mitml's extra.pars)
        names = [str(n) for n in fit.model.exog_names]
        return mixedlm_estimate(fit, model_terms=formula_model_terms(fit.model, names))
    params = fit.params
    cov = fit.cov_params()
    if isinstance(params, pd.Series):
        names = [str(n) for n in params.index]
    else:
        names = list(getattr(fit.model, "exog_names", None) or [])
        if len(names) != np.size(params):
            names = [f"x{i}" for i in range(np.size(params))]
    if _is_phreg(fit):
        # mice 3.15 get.dfcom: max(nevent - p, 1) for coxph
        events = float(np.sum(fit.model.status))
        dfcom = max(events - np.size(params), 1.0)
        nobs = int(fit.model.exog.shape[0])
    else:
        df_resid = getattr(fit, "df_resid", None)
        dfcom = float(df_resid) if df_resid is not None and float(df_resid) > 0 else None
        nobs = int(fit.nobs) if getattr(fit, "nobs", None) is not None else None
    return Estimate(
        np.asarray(params, dtype=float),
        np.asarray(cov, dtype=float),
        names=names,
        dfcom=dfcom,
        nobs=nobs,
        loglike=getattr(fit, "llf", None),
        model_terms=formula_model_terms(fit.model, names),
        model=statsmodels_model_name(fit.model),
    )


def as_estimate(fit) -> Estimate:
    """Read the estimate, covariance and complete-data df from a fitted model.

    Parameters
    ----------
    fit : object
        A :class:`Estimate`, a statsmodels results object (OLS, WLS, GLM,
        Logit, Probit, Poisson, PHReg, ...), a tuple ``(estimator, X, y)`` of a
        fitted scikit-learn estimator and its data (LinearRegression,
        unpenalized LogisticRegression, Poisson/Gamma/TweedieRegressor with
        ``alpha=0``), an object with a ``get_estimate()`` method returning an
        :class:`Estimate`, or anything handled by an adapter added with
        :func:`register_adapter`.

    Returns
    -------
    Estimate
    """
    if isinstance(fit, Estimate):
        return fit
    if isinstance(fit, tuple) and len(fit) == 3 and hasattr(fit[0], "fit"):
        return coef_estimate(*fit)
    for predicate, extract in _ADAPTERS:
        if predicate(fit):
            return extract(fit)
    if hasattr(fit, "get_estimate") and callable(fit.get_estimate):
        return fit.get_estimate()
    if _is_statsmodels_results(fit):
        return _statsmodels_estimate(fit)
    raise TypeError(
        f"cannot read an estimate and covariance from {type(fit).__name__}. Pass statsmodels "
        f"results, skmipool.Estimate objects, fitted estimators with a get_estimate() method, "
        f"or register an adapter with skmipool.register_adapter."
    )


def resolve_dfcom(dfcom, estimates: Sequence[Estimate]) -> float:
    """The complete-data df to pool with: ``"auto"`` reads it from the analyses."""
    if isinstance(dfcom, str):
        if dfcom != "auto":
            raise ValueError(f'dfcom must be "auto", a positive number or None; got {dfcom!r}.')
        values = [e.dfcom for e in estimates]
        if any(v is None for v in values):
            i = next(i for i, v in enumerate(values) if v is None)
            warnings.warn(
                f"the complete-data degrees of freedom of imputation {i + 1} are unknown, so a "
                f"large sample (dfcom = inf) was assumed. Pass dfcom=<n - p> to use "
                f"Barnard & Rubin's small-sample df.",
                MissingDfcomWarning,
                stacklevel=3,
            )
            return np.inf
        if len(set(values)) > 1:
            warnings.warn(
                f"the complete-data df differ between imputations ({min(values):g} to "
                f"{max(values):g}); the smallest, {min(values):g}, is used. Pass dfcom= to choose.",
                EstimationSampleWarning,
                stacklevel=3,
            )
        return float(min(values))
    return _check_dfcom(dfcom)


def check_same_terms(estimates: Sequence[Estimate]) -> tuple[str, ...]:
    """All analyses must describe the same estimand: terms, order and scale."""
    ref = estimates[0].names
    for i, e in enumerate(estimates[1:], start=2):
        if e.names != ref:
            missing = [n for n in ref if n not in e.names]
            extra = [n for n in e.names if n not in ref]
            detail = (
                f"missing {missing}, extra {extra}"
                if missing or extra
                else "same terms in a different order"
            )
            owners = _model_terms_of(estimates[0], missing) + _model_terms_of(e, extra)
            where = f" in the model term(s) {sorted(set(owners))}" if owners else ""
            raise ValueError(
                f"imputation {i} reports other terms than imputation 1 ({detail}){where}. Rubin's "
                f"rules pool the same estimand in every imputation; refit so that all analyses "
                f"have identical terms. A step fitted on each completed dataset (e.g. a "
                f"OneHotEncoder in a Pipeline) met other levels in imputation {i}: give it the "
                f"levels (OneHotEncoder(categories=[...])), or impute the column as a categorical "
                f"so that only its observed levels are imputed."
            )
        if e.scale.name != estimates[0].scale.name:
            raise ValueError(
                f"imputation {i} is on the {e.scale.name!r} scale, imputation 1 on the "
                f"{estimates[0].scale.name!r} scale; all analyses must use the same scale."
            )
    return ref


def _model_terms_of(estimate: Estimate, coefficients) -> list[str]:
    """The model terms the coefficients belong to (none when the analysis does not say)."""
    terms = estimate.model_terms or ()
    return [t for t, cs in terms if any(c in cs for c in coefficients)]


def _first_differing(estimates: Sequence[Estimate], attribute: str):
    """(imputation number, value) of the first analysis whose ``attribute`` differs from
    imputation 1's, or None when all agree."""
    ref = getattr(estimates[0], attribute)
    for i, e in enumerate(estimates[1:], start=2):
        if getattr(e, attribute) != ref:
            return i, getattr(e, attribute)
    return None


def check_same_model(estimates: Sequence[Estimate]) -> None:
    """The analyses must be fits of one kind of model (class, family and link)."""
    odd = _first_differing(estimates, "model")
    if odd is not None:
        i, kind = odd
        ref = estimates[0].model
        raise ValueError(
            f"imputation {i} is a {kind or 'model of unknown kind'} fit, imputation 1 a "
            f"{ref or 'model of unknown kind'} fit; Rubin's rules pool one analysis "
            f"repeated on every completed dataset. Pass the fits of one model only."
        )


def check_same_model_terms(estimates: Sequence[Estimate]):
    """The analyses' model terms (None when the first does not say); they must agree."""
    ref = estimates[0].model_terms
    odd = _first_differing(estimates, "model_terms")
    if odd is not None:
        i, terms = odd
        raise ValueError(
            f"imputation {i} groups its coefficients into other model terms than "
            f"imputation 1 ({terms} against {ref}); all analyses must be the same model."
        )
    return ref


def check_same_variance_components(estimates: Sequence[Estimate]) -> pd.DataFrame | None:
    """Each imputation's variance components as an (M, c) frame; the same names in every fit."""
    first = estimates[0].variance_components
    names = None if first is None else [n for n, _ in first]
    for i, e in enumerate(estimates, start=1):
        these = None if e.variance_components is None else [n for n, _ in e.variance_components]
        if these != names:
            raise ValueError(
                f"imputation {i} has variance components {these}, imputation 1 has {names}: "
                f"the analyses are not the same model. Fit the same model to every imputation."
            )
    if names is None:
        return None
    return pd.DataFrame([dict(e.variance_components) for e in estimates], columns=names)


def check_same_nobs(estimates: Sequence[Estimate]) -> np.ndarray | None:
    """Warn when the estimation samples differ (Stata's mi estimate check)."""
    nobs = [e.nobs for e in estimates]
    if any(n is None for n in nobs):
        return None
    nobs = np.asarray(nobs)
    if np.unique(nobs).size > 1:
        warnings.warn(
            f"the number of observations differs between imputations ({nobs.min()} to "
            f"{nobs.max()}): the analyses were not fitted to the same rows, so the pooled "
            f"result mixes different estimation samples. Check for rows dropped by the model "
            f"(e.g. remaining missing values).",
            EstimationSampleWarning,
            stacklevel=3,
        )
    return nobs


def collect_estimates(fits) -> list[Estimate]:
    """Estimates from a sequence of fits, each failure naming its imputation."""
    if isinstance(fits, str | bytes) or not isinstance(fits, Sequence | np.ndarray):
        try:
            fits = list(fits)
        except TypeError:
            raise TypeError(
                f"fits must be a sequence of M fitted models; got {type(fits).__name__}."
            ) from None
    out = []
    for i, fit in enumerate(fits, start=1):
        try:
            out.append(as_estimate(fit))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"imputation {i}: {exc}") from exc
    if len(out) < 2:
        raise ValueError(
            f"Rubin's rules need at least 2 imputations to estimate the between-imputation "
            f"variance; got {len(out)} fit(s)."
        )
    failed = [
        i
        for i, fit in enumerate(fits, start=1)
        if is_mixedlm_results(fit) and not fit.converged  # GLMs: a tight tol reads as False
    ]
    if failed:
        which = ", ".join(map(str, failed))
        warnings.warn(
            f"the fits of imputation{'s' if len(failed) > 1 else ''} {which} (of {len(out)}) did "
            f"not converge; their estimates and standard errors may be inaccurate and so is the "
            f"pooled result. Refit them (another optimizer, more iterations, a simpler model).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return out


class _Stack(NamedTuple):
    """M analyses checked to be the same model, as arrays for pooling."""

    estimates: np.ndarray  # (M, k)
    covariances: np.ndarray  # (M, k, k)
    terms: tuple
    nobs: np.ndarray | None
    model_terms: tuple | None
    variance_components: pd.DataFrame | None


def stack_estimates(estimates: Sequence[Estimate], names=None, transform=None) -> _Stack:
    """Check that M analyses are one model (class, terms, scale, components) and stack them."""
    check_same_model(estimates)
    terms = check_same_terms(estimates)
    nobs = check_same_nobs(estimates)
    q = np.stack([e.estimate for e in estimates])
    u = np.stack([e.covariance for e in estimates])
    model_terms = check_same_model_terms(estimates)
    components = check_same_variance_components(estimates)
    if names is not None:
        if len(names) != len(terms):
            raise ValueError(
                f"names has {len(names)} entries but the fits have {len(terms)} terms."
            )
        renamed = dict(zip(terms, (str(n) for n in names), strict=True))
        terms = tuple(renamed.values())
        if model_terms is not None:
            model_terms = tuple((t, tuple(renamed[c] for c in cs)) for t, cs in model_terms)
    own_scale = estimates[0].scale
    if transform is not None and not own_scale.is_identity:
        raise ValueError(
            f"the estimates are already on the {own_scale.name!r} scale; drop transform= "
            f"(it would transform them twice)."
        )
    return _Stack(q, u, terms, nobs, model_terms, components)


def pool_bootstrap_mi(estimates: Sequence[Estimate], n_bootstrap: int, transform=None):
    """Pool B x D analyses of bootstrap-then-impute (resample by resample, in order).

    The checks are :func:`pool`'s; the arithmetic is
    :func:`skmipool._pool.bootstrap_mi_pool`. Estimates on their reporting scale
    move to ``transform``'s inference scale first (the delta method for the
    covariances, as :func:`pool_estimates` does).
    """
    stack = stack_estimates(estimates, None, transform)
    q, u = stack.estimates, stack.covariances
    scale = get_transform(transform) if transform is not None else estimates[0].scale
    if transform is not None:
        q, u = to_inference_scale(q, u, scale, list(stack.terms), u.ndim == 3, "analysis")
    n_imp = q.shape[0] // n_bootstrap
    return BootstrapMIResult(
        q.reshape(n_bootstrap, n_imp, -1),
        u.reshape(n_bootstrap, n_imp, *u.shape[1:]),
        list(stack.terms),
        nobs=stack.nobs,
        transform=scale,
        model_terms=stack.model_terms,
        variance_components=stack.variance_components,
    )


def pool(
    fits,
    *,
    dfcom="auto",
    names: Sequence[str] | None = None,
    transform=None,
    rule: str = "rubin1987",
):
    """Pool M fitted models with Rubin's rules, like ``mice::pool(with(imp, ...))``.

    Parameters
    ----------
    fits : sequence of fitted models
        One analysis per completed dataset: statsmodels results (OLS, WLS, GLM,
        Logit, Probit, Poisson, PHReg, ...), :class:`Estimate` objects,
        ``(estimator, X, y)`` tuples of fitted scikit-learn estimators and
        their completed data, or anything else :func:`as_estimate` reads.
    dfcom : "auto", float or None, default="auto"
        Complete-data degrees of freedom. ``"auto"`` reads the residual df
        (n - p) of linear, GLM and discrete models and ``max(events - p, 1)`` of
        Cox models (as mice 3.15); a model without one gives ``inf`` and a
        warning. A number overrides; None means a large sample (``inf``).
    names : sequence of str, optional
        Rename the terms (the fits' own names are checked for equality first).
    transform : None, str or triple, default=None
        Move estimates reported on their natural scale to an inference scale
        before pooling (see :func:`pool_estimates`). Estimates that carry a
        ``scale`` of their own (e.g. predictions on the logit scale) are
        pooled on it without a ``transform``.
    rule : {"rubin1987", "reiter2003"}, default="rubin1987"
        Combining rule: Rubin's rules for imputed missing data, or Reiter's
        (2003) rules for partially synthetic data, as ``mice::pool.syn`` (see
        :func:`pool_estimates`). ``dfcom`` is not used by ``"reiter2003"``.

    Returns
    -------
    PooledResult
        Its ``dfcom`` reports the value used.

    Raises
    ------
    ValueError
        Fewer than 2 fits, different terms or scales between fits, non-finite
        estimates or non-positive variances; the message names the imputation.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> from skmipool import pool
    >>> rng = np.random.default_rng(1)
    >>> X = sm.add_constant(rng.normal(size=(50, 1)))
    >>> fits = [sm.OLS(X @ [1.0, 2.0] + rng.normal(size=50), X).fit() for _ in range(3)]
    >>> res = pool(fits)
    >>> res.dfcom
    48.0
    >>> list(res.terms)
    ['const', 'x1']
    """
    rule = combining_rule(rule).name
    estimates = collect_estimates(fits)
    stack = stack_estimates(estimates, names, transform)
    if rule == "reiter2003" and isinstance(dfcom, str) and dfcom == "auto":
        dfcom_used = np.inf  # Reiter's df does not use dfcom: nothing to look up or warn about
    else:
        dfcom_used = resolve_dfcom(dfcom, estimates)
    own_scale = estimates[0].scale
    return pool_estimates(
        stack.estimates,
        stack.covariances,
        dfcom=dfcom_used,
        names=stack.terms,
        transform=transform if transform is not None else own_scale,
        input_scale="reporting" if transform is not None else "inference",
        nobs=stack.nobs,
        model_terms=stack.model_terms,
        variance_components=stack.variance_components,
        rule=rule,
    )
