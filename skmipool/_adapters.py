"""Estimands and covariances of fitted scikit-learn estimators.

A statsmodels results object carries its data; a scikit-learn estimator does
not, so these adapters take ``(estimator, X, y)`` and compute the
complete-data covariance of the intercept and coefficients.

References
----------
McCullagh, P. and Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed.,
sections 2.5 and 9.3 (Fisher information (Z' W Z) / phi with
W = (dmu/deta)^2 / V(mu); Pearson estimate of the dispersion phi).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg

from skmipool._estimate import Estimate

__all__ = [
    "NoStandardErrorError",
    "coef_estimate",
    "coef_names",
    "design_matrix",
    "formula_model_terms",
    "has_coef_adapter",
    "link_of",
    "no_standard_error",
]


class NoStandardErrorError(TypeError):
    """The estimator has no analytic standard errors skmipool can compute."""


def _feature_names(estimator, X) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    return [f"x{i}" for i in range(np.shape(X)[1])]


def coef_names(estimator, X) -> list[str]:
    """Term names: ``intercept`` (when fitted) then the feature names."""
    names = _feature_names(estimator, X)
    return (["intercept"] if getattr(estimator, "fit_intercept", False) else []) + names


def _design(estimator, X) -> np.ndarray:
    names = getattr(estimator, "feature_names_in_", None)
    if isinstance(X, pd.DataFrame) and names is not None:
        missing = [str(c) for c in names if c not in X.columns]
        extra = [str(c) for c in X.columns if c not in set(names)]
        if missing or extra:
            raise ValueError(
                f"the rows must have the model's features {list(map(str, names))}; missing "
                f"{missing}, unexpected {extra}."
            )
        X = X[list(names)]  # match by name, not position
    Z = np.asarray(X, dtype=float)
    n_features = getattr(estimator, "n_features_in_", Z.shape[1])
    if Z.ndim != 2 or Z.shape[1] != n_features:
        raise ValueError(
            f"the rows have {Z.shape[-1]} columns; the model was fitted on {n_features} features."
        )
    if getattr(estimator, "fit_intercept", False):
        Z = np.column_stack([np.ones(Z.shape[0]), Z])
    return Z


def _check_full_rank(Z: np.ndarray, names: list[str]) -> np.ndarray:
    """Collinear columns make the covariance singular: say which columns, and what to do.

    Returns Z'Z, which the check computes anyway (the OLS information matrix).
    """
    # Fast path: with its columns scaled to unit length, Z has singular values whose ratio
    # is sqrt(eig) of the correlation form of Z'Z; times the ratio of the column lengths it
    # bounds the relative size of the pivoted QR's diagonal. Far above the QR's rank
    # tolerance below (about n * 1e-16), Z has full rank without the QR.
    gram = Z.T @ Z
    scale = np.sqrt(np.diag(gram))
    if scale.size and np.all(scale > 0):
        eig = np.linalg.eigvalsh(gram / np.outer(scale, scale))
        if eig[0] > 0 and np.sqrt(eig[0] / eig[-1]) * scale.min() / scale.max() > 1e-6:
            return gram
    _, r, piv = linalg.qr(Z, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    tol = diag.max() * max(Z.shape) * np.finfo(float).eps if diag.size else 0.0
    rank = int((diag > tol).sum())
    if rank < Z.shape[1]:
        dropped = [names[i] for i in piv[rank:]]
        raise ValueError(
            f"the design matrix has rank {rank} < {Z.shape[1]} columns: {dropped} are linear "
            f"combinations of the other columns (collinear or constant), so their coefficients "
            f"and standard errors are not identified. Drop those columns before fitting."
        )
    return gram


def formula_model_terms(model, names) -> tuple | None:
    """Model terms of a statsmodels model fitted from a formula.

    The formula engine's design information says which design columns each
    formula term produced (a factor's dummies, a spline's basis): patsy's
    ``term_name_slices`` or formulaic's ``term_indices`` (statsmodels keeps it
    as ``model.data.model_spec``, or ``design_info`` before 0.15). The
    intercept is no term to test. None for a model built from arrays.
    """
    data = getattr(model, "data", None)
    info = getattr(data, "model_spec", None) or getattr(data, "design_info", None)
    if info is None:
        return None
    columns = list(getattr(info, "column_names", []))
    names = list(names)
    if len(columns) != len(names):
        return None  # e.g. PHReg drops the intercept column the formula engine built
    if hasattr(info, "term_name_slices"):  # patsy
        index = range(len(columns))
        groups = [(str(t), list(index[cols])) for t, cols in info.term_name_slices.items()]
    elif hasattr(info, "term_indices"):  # formulaic
        groups = [(str(t), list(cols)) for t, cols in info.term_indices.items()]
    else:
        return None
    return tuple(
        (term, tuple(names[i] for i in cols))
        for term, cols in groups
        if cols and term not in ("Intercept", "1")
    )


def _sklearn_model_terms(names: list[str], estimator) -> tuple:
    """Every feature of a plain scikit-learn linear model is a term; the intercept is not."""
    features = names[1:] if getattr(estimator, "fit_intercept", False) else names
    return tuple((n, (n,)) for n in features)


def _params(estimator) -> np.ndarray:
    coef = np.ravel(np.asarray(estimator.coef_, dtype=float))
    if getattr(estimator, "fit_intercept", False):
        return np.concatenate([np.ravel(estimator.intercept_).astype(float), coef])
    return coef


def _inverse_information(info: np.ndarray, names: list[str], what: str) -> np.ndarray:
    try:
        cov = linalg.inv(info)
    except linalg.LinAlgError:
        cov = None
    if cov is None or not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        raise ValueError(
            f"the {what} information matrix is singular, so standard errors of {names} cannot be "
            f"computed (separated or collinear data). Drop or combine the offending columns."
        )
    return (cov + cov.T) / 2.0


def _linear_regression(est, X, y) -> Estimate:
    # Classical OLS: sigma² = RSS / (n - p), cov = sigma² (Z'Z)^-1
    if getattr(est, "positive", False):
        raise ValueError(
            "LinearRegression(positive=True) is a constrained estimator: its classical OLS "
            'standard errors are invalid. Use variance="bootstrap" or positive=False.'
        )
    names = coef_names(est, X)
    Z = _design(est, X)
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError("coefficient standard errors are supported for a single outcome only.")
    gram = _check_full_rank(Z, names)
    beta = _params(est)
    n, p = Z.shape
    if n <= p:
        raise ValueError(f"{n} rows for {p} coefficients: no residual degrees of freedom.")
    resid = y - Z @ beta
    sigma2 = resid @ resid / (n - p)
    cov = sigma2 * _inverse_information(gram, names, "OLS")
    terms = _sklearn_model_terms(names, est)
    return Estimate(beta, cov, names=names, dfcom=float(n - p), nobs=n, model_terms=terms)


def _is_unpenalized_logistic(est) -> bool:
    penalty = getattr(est, "penalty", None)
    return penalty is None or penalty == "none" or np.isinf(getattr(est, "C", 1.0))


def _logistic_regression(est, X, y) -> Estimate:
    if not _is_unpenalized_logistic(est):
        raise ValueError(
            f"{est!r} is penalized (C={est.C}): the penalty shrinks the coefficients, so the "
            f"inverse-Fisher standard errors would be invalid and the pooled intervals wrong. "
            f"Use LogisticRegression(C=np.inf) (penalty=None before scikit-learn 1.8), or "
            f'variance="bootstrap" for the penalized model.'
        )
    if getattr(est, "class_weight", None) is not None:
        raise ValueError(
            f"LogisticRegression(class_weight={est.class_weight!r}) maximises a weighted "
            f"likelihood, so the inverse Fisher information is not its covariance. Use "
            f'class_weight=None, or variance="bootstrap".'
        )
    if len(est.classes_) != 2:
        raise ValueError(
            f"coefficient standard errors are supported for binary LogisticRegression only; "
            f"this one has {len(est.classes_)} classes. Use skmipool.models or "
            f'variance="bootstrap".'
        )
    names = coef_names(est, X)
    Z = _design(est, X)
    _check_full_rank(Z, names)
    beta = _params(est)
    eta = Z @ beta
    _check_separation(eta, np.asarray(y) == est.classes_[1])
    prob = 1.0 / (1.0 + np.exp(-eta))
    w = prob * (1.0 - prob)  # binomial variance; logit link: dmu/deta = V(mu)
    cov = _inverse_information(Z.T @ (Z * w[:, None]), names, "Fisher")
    n, p = Z.shape
    terms = _sklearn_model_terms(names, est)
    return Estimate(beta, cov, names=names, dfcom=float(n - p), nobs=n, model_terms=terms)


def _check_separation(eta: np.ndarray, positive: np.ndarray) -> None:
    """Refuse (quasi-)complete separation: the MLE is infinite, so no SE exists.

    Complete separation: a linear predictor that orders every positive above
    every negative (Albert & Anderson 1984). Quasi-complete: fitted
    probabilities of exactly 0 or 1 (|eta| > 30) for some rows.
    """
    complete = positive.any() and (~positive).any() and eta[positive].min() > eta[~positive].max()
    if complete or np.any(np.abs(eta) > 30):
        raise ValueError(
            "perfect separation: the features predict the outcome (almost) perfectly, so the "
            "maximum-likelihood coefficients are infinite and their standard errors undefined. "
            "Drop or combine the separating features, or use a penalized model with "
            'variance="bootstrap" (Firth-type penalties are the usual remedy).'
        )


def _tweedie_power(est) -> float:
    from sklearn.linear_model import GammaRegressor, PoissonRegressor

    if isinstance(est, PoissonRegressor):
        return 1.0
    if isinstance(est, GammaRegressor):
        return 2.0
    return float(est.power)


def _glm_regression(est, X, y) -> Estimate:
    if getattr(est, "alpha", 0.0) != 0.0:
        raise ValueError(
            f"{est!r} is penalized (alpha={est.alpha}): its Fisher-information standard errors "
            f'would be invalid. Use alpha=0, or variance="bootstrap".'
        )
    power = _tweedie_power(est)
    link = getattr(est, "link", "auto")
    log_link = link == "log" or (link == "auto" and power > 0)
    names = coef_names(est, X)
    Z = _design(est, X)
    _check_full_rank(Z, names)
    beta = _params(est)
    eta = Z @ beta
    mu = np.exp(eta) if log_link else eta
    y = np.asarray(y, dtype=float)
    var_mu = mu**power  # Tweedie variance function V(mu) = mu^power
    dmu = mu if log_link else np.ones_like(mu)
    n, p = Z.shape
    # dispersion: 1 for Poisson, else Pearson chi² / (n - p) (McCullagh & Nelder 1989, eq. 9.12)
    phi = 1.0 if power == 1.0 else np.sum((y - mu) ** 2 / var_mu) / (n - p)
    w = dmu**2 / var_mu
    cov = phi * _inverse_information(Z.T @ (Z * w[:, None]), names, "Fisher")
    terms = _sklearn_model_terms(names, est)
    return Estimate(beta, cov, names=names, dfcom=float(n - p), nobs=n, model_terms=terms)


def _sklearn_glm(estimator):
    """(adapter, link) for the scikit-learn linear models skmipool reads, else None."""
    from sklearn.linear_model import (
        GammaRegressor,
        LinearRegression,
        LogisticRegression,
        PoissonRegressor,
        TweedieRegressor,
    )

    if isinstance(estimator, LinearRegression):
        return _linear_regression, "identity"
    if isinstance(estimator, LogisticRegression):
        return _logistic_regression, "logit"
    if isinstance(estimator, PoissonRegressor | GammaRegressor):
        return _glm_regression, "log"
    if isinstance(estimator, TweedieRegressor):
        if estimator.link == "auto":
            return _glm_regression, "identity" if estimator.power <= 0 else "log"
        return _glm_regression, estimator.link
    return None


def _adapter_for(estimator):
    known = _sklearn_glm(estimator)
    if known is not None:
        return known[0]
    if callable(getattr(estimator, "get_estimate", None)):
        return lambda est, X, y: est.get_estimate()
    return None


def link_of(estimator) -> str:
    """Name of the estimator's link function: "identity", "logit" or "log".

    Read from a ``link_`` attribute when the estimator has one, else from the
    scikit-learn class (LinearRegression: identity; LogisticRegression:
    logit; Poisson/Gamma: log; Tweedie: its ``link``).
    """
    own = getattr(estimator, "link_", None)
    if isinstance(own, str):
        return own
    known = _sklearn_glm(estimator)
    if known is None:
        raise TypeError(
            f"the link function of {type(estimator).__name__} is unknown; give the estimator a "
            f'link_ attribute ("identity", "logit" or "log").'
        )
    return known[1]


def design_matrix(estimator, X) -> np.ndarray:
    """Design matrix of X for the estimator's coefficients (intercept first).

    An estimator with a ``design_matrix(X)`` method (e.g. a formula model)
    builds its own.
    """
    own = getattr(estimator, "design_matrix", None)
    if callable(own):
        return np.asarray(own(X), dtype=float)
    return _design(estimator, X)


def has_coef_adapter(estimator) -> bool:
    """Whether skmipool can compute coefficient standard errors for this estimator."""
    return _adapter_for(estimator) is not None


def coef_estimate(estimator, X, y) -> Estimate:
    """Intercept and coefficients of a fitted estimator with their covariance.

    Parameters
    ----------
    estimator : fitted estimator
        LinearRegression (classical OLS covariance), LogisticRegression without
        penalty (binary; inverse Fisher information), PoissonRegressor,
        GammaRegressor or TweedieRegressor with ``alpha=0`` (inverse Fisher
        information times the Pearson dispersion), or any estimator with a
        ``get_estimate()`` method returning a :class:`skmipool.Estimate`.
    X, y : array-like
        The data the estimator was fitted on.

    Returns
    -------
    Estimate
        With ``dfcom = n - p``.
    """
    adapter = _adapter_for(estimator)
    if adapter is None:
        raise no_standard_error(estimator)
    return adapter(estimator, X, y)


def no_standard_error(estimator) -> NoStandardErrorError:
    """The error for an estimator without an adapter: it lists what to do instead."""
    return NoStandardErrorError(
        f"skmipool cannot compute standard errors for {type(estimator).__name__}. Options: "
        f'variance="bootstrap" (nonparametric bootstrap within each imputation); '
        f"estimand=callable(estimator, X, y) returning a skmipool.Estimate; an estimator "
        f"from skmipool.models; or a get_estimate() method on the estimator."
    )


def statsmodels_model_name(model) -> str:
    """What kind of model a statsmodels model is: class, and for a GLM its family and link.

    Pooling compares these names, so that M OLS fits and M logistic fits passed
    together are refused instead of pooled into one table.
    """
    name = type(model).__name__
    family = getattr(model, "family", None)
    if family is None:
        return name
    link = type(getattr(family, "link", None)).__name__.lower()
    return f"{name}({type(family).__name__}, {link})"
