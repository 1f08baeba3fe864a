"""Estimands and covariances of fitted scikit-learn estimators.

A statsmodels results object carries its data; a scikit-learn estimator does
not, so these adapters take ``(estimator, X, y)`` and compute the
complete-data covariance of the intercept and coefficients.

References
----------
McCullagh, P. and Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed.,
sections 2.5 and 9.3 (Fisher information (Z' W Z) / phi with
W = (dmu/deta)^2 / V(mu); Pearson estimate of the dispersion phi).
Gould, W., Pitblado, J. and Poi, B. (2010). *Maximum Likelihood Estimation with
Stata*, 4th ed., section 1.4 (convergence by the scaled gradient g H^-1 g').
Golub, G. H. and Van Loan, C. F. (2013). *Matrix Computations*, 4th ed., section 5.3
(least squares by the normal equations or by QR, and their sensitivity).
Higham, N. J. (1988). FORTRAN codes for estimating the one-norm of a real or complex
matrix, with applications to condition estimation. *ACM TOMS* 14, 381-396 (LAPACK's
dpocon).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import linalg, sparse
from sklearn.base import OneToOneFeatureMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import VarianceThreshold
from sklearn.feature_selection._base import SelectorMixin
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    TweedieRegressor,
)
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    PolynomialFeatures,
    PowerTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
    TargetEncoder,
)
from sklearn.utils import get_tags

from skmipool._contrasts import TreatmentContrasts
from skmipool._estimate import Estimate

__all__ = [
    "NoStandardErrorError",
    "check_pipeline",
    "coef_estimate",
    "coef_names",
    "column_sources",
    "columns_are_terms",
    "design_derivative",
    "design_matrix",
    "formula_model_terms",
    "has_coef_adapter",
    "ignores_unknown_levels",
    "is_pipeline",
    "link_of",
    "no_standard_error",
    "pipeline_design",
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


def _features(estimator, X) -> np.ndarray:
    """The model's features of X as floats: a view of X when it already is one."""
    names = getattr(estimator, "feature_names_in_", None)
    if isinstance(X, pd.DataFrame) and names is not None:
        missing = [str(c) for c in names if c not in X.columns]
        extra = [str(c) for c in X.columns if c not in set(names)]
        if missing or extra:
            raise ValueError(
                f"the rows must have the model's features {list(map(str, names))}; missing "
                f"{missing}, unexpected {extra}."
            )
        if list(X.columns) != list(names):
            X = X[list(names)]  # match by name, not position
    A = np.asarray(X, dtype=float)
    n_features = getattr(estimator, "n_features_in_", A.shape[1])
    if A.ndim != 2 or A.shape[1] != n_features:
        raise ValueError(
            f"the rows have {A.shape[-1]} columns; the model was fitted on {n_features} features."
        )
    return A


class _Design:
    """The design Z = [1, X] (with an intercept) or X of a linear model, kept as X.

    Products with Z come from X and the sums of its columns, so the n x p matrix with the
    column of ones is only built when a check needs Z itself (a QR in a fallback path).
    """

    def __init__(self, X: np.ndarray, intercept: bool):
        self.X, self.intercept = X, bool(intercept)
        self.shape = (X.shape[0], X.shape[1] + self.intercept)

    def dot(self, beta: np.ndarray) -> np.ndarray:
        """Z beta."""
        if self.intercept:
            return self.X @ beta[1:] + beta[0]
        return self.X @ beta

    def rdot(self, v: np.ndarray) -> np.ndarray:
        """Z'v."""
        xv = self.X.T @ v
        return np.concatenate([[v.sum()], xv]) if self.intercept else xv

    def gram(self, sqrt_w: np.ndarray | None = None) -> np.ndarray:
        """Z' W Z with W = diag(sqrt_w^2) (W = I without weights)."""
        Xw = self.X if sqrt_w is None else self.X * sqrt_w[:, None]
        inner = Xw.T @ Xw  # one product of Xw with itself: exactly symmetric
        if not self.intercept:
            return inner
        ones = np.ones(self.shape[0]) if sqrt_w is None else sqrt_w
        cross = Xw.T @ ones  # X'W1
        return np.block([[np.atleast_2d(ones @ ones), cross[None, :]], [cross[:, None], inner]])

    def std(self) -> np.ndarray:
        """Standard deviations of the columns of Z (0 for the intercept)."""
        sd = self.X.std(axis=0)
        return np.concatenate([[0.0], sd]) if self.intercept else sd

    def array(self) -> np.ndarray:
        """Z itself: a new array with the intercept's column of ones, else X (not a copy)."""
        if not self.intercept:
            return self.X
        Z = np.empty(self.shape)
        Z[:, 0] = 1.0
        Z[:, 1:] = self.X
        return Z


def _design_of(estimator, X) -> _Design:
    return _Design(_features(estimator, X), getattr(estimator, "fit_intercept", False))


def _design(estimator, X) -> np.ndarray:
    return _design_of(estimator, X).array()


def _check_full_rank(Z: np.ndarray | _Design, names: list[str]) -> np.ndarray:
    """Collinear columns make the covariance singular: say which columns, and what to do.

    Returns Z'Z, which the check computes anyway (the OLS information matrix).
    """
    design = Z if isinstance(Z, _Design) else _Design(np.asarray(Z), intercept=False)
    # Fast path: with its columns scaled to unit length, Z has singular values whose ratio
    # is sqrt(eig) of the correlation form of Z'Z; times the ratio of the column lengths it
    # bounds the relative size of the pivoted QR's diagonal. Far above the QR's rank
    # tolerance below (about n * 1e-16), Z has full rank without the QR.
    gram = design.gram()
    scale = np.sqrt(np.diag(gram))
    if scale.size and np.all(scale > 0):
        eig = np.linalg.eigvalsh(gram / np.outer(scale, scale))
        if eig[0] > 0 and np.sqrt(eig[0] / eig[-1]) * scale.min() / scale.max() > 1e-6:
            return gram
    Z = design.array()
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


# Largest Newton step, in standard errors, that a fitted estimator may leave untaken. A
# coefficient off by b standard errors lowers the coverage of its nominal 95% interval to
# Phi(1.96 - b) - Phi(-1.96 - b): 94.3% at b = 0.25. scikit-learn's lbfgs at its default
# tol=1e-4 stops well inside this: below 0.01 SE on every fit of the test suite, below
# 0.05 SE on simulated logistic/Poisson/Gamma fits up to n = 30 000; it reaches 0.2 SE only
# at n = 300 000 with a column of sd 0.01 (where a tighter tol is indeed needed).
STEP_TOLERANCE = 0.25


# The normal equations' rounding error grows with cond(Zw)^2, the QR's with cond(Zw)
# (Golub & Van Loan 2013, section 5.3). Below this reciprocal condition number of the
# unit-column Zw'Zw (cond(Zw) above about 1e4), or when its Cholesky fails, the step is
# taken from a QR of Zw; above it, cond(Zw)^2 eps < 1e-8: the two agree to about that.
_NORMAL_EQUATIONS_RCOND = 1e-8


class _UnitStep(NamedTuple):
    """Zw / length = QR (unit-length columns): Q'r, R and the column lengths."""

    g: np.ndarray  # Q'r
    r: np.ndarray  # R, upper triangular (the signs of its rows may differ from a QR's)
    length: np.ndarray


def _step_from_gram(gram: np.ndarray, score: np.ndarray) -> _UnitStep | None:
    """Q'r from the normal equations; None when they are too ill-conditioned to trust.

    With L = diag(column lengths of Zw), Zw L^-1 = QR and (Zw L^-1)'(Zw L^-1) = R'R, so R is
    the Cholesky factor of L^-1 Zw'Zw L^-1 (up to the signs of its rows, which cancel in
    R^-1 Q'r and in the row lengths of R^-1) and Q'r = R^-T L^-1 Zw'r (the method of normal
    equations, Golub & Van Loan 2013, section 5.3). Only p x p work after Zw'Zw and Zw'r.
    """
    length = np.sqrt(np.diag(gram))
    if not (length.size and np.all(length > 0) and np.all(np.isfinite(gram))):
        return None
    unit = gram / np.outer(length, length)
    try:
        r = linalg.cholesky(unit, lower=False)
    except linalg.LinAlgError:
        return None
    # LAPACK's estimate of 1 / cond_1 from the Cholesky factor (dpocon, Higham 1988)
    rcond, info = linalg.lapack.dpocon(r, np.abs(unit).sum(axis=0).max())
    if info != 0 or not rcond >= _NORMAL_EQUATIONS_RCOND:
        return None
    g = linalg.solve_triangular(r, score / length, trans="T")
    return _UnitStep(g, r, length)


def _step_from_qr(Zw: np.ndarray, pearson: np.ndarray) -> _UnitStep:
    """Q'r from a Householder QR of Zw with unit-length columns: stable, O(n p^2) and n x p."""
    length = np.linalg.norm(Zw, axis=0)  # unit columns: the QR is immune to the data's units
    q, r = linalg.qr(Zw / length, mode="economic")
    return _UnitStep(q.T @ pearson, r, length)


def _unit_step(design: _Design, sqrt_w, pearson, gram) -> _UnitStep:
    """Q'r and R of Zw = diag(sqrt_w) Z with unit columns: normal equations, else a QR."""
    score = design.rdot(pearson if sqrt_w is None else sqrt_w * pearson)  # Zw'r
    step = _step_from_gram(gram, score)
    if step is None:  # ill-conditioned: the QR of Zw itself
        Z = design.array()
        step = _step_from_qr(Z if sqrt_w is None else Z * sqrt_w[:, None], pearson)
    return step


def _check_solves_score(
    est, design: _Design, sqrt_w, pearson, *, gram, fitted, phi, names, remedy: str
) -> None:
    """Refuse coefficients that do not solve their estimating equations.

    The score of a GLM is U = Z' diag(dmu/deta / V) (y - mu) (McCullagh & Nelder 1989,
    eq. 2.13); with Zw = diag(sqrt(W)) Z, W = (dmu/deta)^2 / V, it is Zw' r for the Pearson
    residuals r = (y - mu) / sqrt(V). The Fisher-scoring step delta = (Zw'Zw)^-1 Zw' r
    measured in the metric of the covariance phi (Zw'Zw)^-1 has length
    sqrt(delta' Cov^-1 delta) = ||Q'r|| / sqrt(phi), Q from the QR of Zw: Stata's scaled
    gradient g H^-1 g' (Gould et al. 2010), scale-free and an upper bound on |c'delta| /
    SE(c'beta) for every contrast c. Zero at the MLE; for OLS (W = 1, V = 1) delta is
    exactly the distance to the least-squares solution. ``phi=None``: OLS, phi estimated
    from the least-squares residual sum of squares ||r||^2 - ||Q'r||^2 (Pythagoras).
    ``fitted``: the fitted values on the scale of ``pearson``; residuals below sqrt(eps)
    times their size are rounding error (an exact fit), and phi is kept above that level.
    ``sqrt_w``: sqrt(W), None for unit weights (OLS). ``gram``: Zw'Zw, the information
    matrix the caller has formed. ``remedy``: the skmipool.models estimator the error
    suggests.
    """
    beta = _params(est)
    n, p = design.shape
    g, r, length = _unit_step(design, sqrt_w, pearson, gram)
    if phi is None:
        phi = max(pearson @ pearson - g @ g, 0.0) / max(n - p, 1)
    phi = max(phi, np.finfo(float).eps * np.mean(fitted**2))
    if not phi > 0 or np.sqrt(g @ g / phi) <= STEP_TOLERANCE:
        return
    r_inv = linalg.solve_triangular(r, np.eye(r.shape[0]))
    delta = (r_inv @ g) / length
    se = np.sqrt(phi) * np.linalg.norm(r_inv, axis=1) / length
    steps = np.abs(delta) / se
    worst = [j for j in np.argsort(-steps) if steps[j] > STEP_TOLERANCE] or [int(np.argmax(steps))]
    moves = ", ".join(
        f"{names[j]}: {beta[j]:.4g} -> {beta[j] + delta[j]:.4g} ({steps[j]:.3g} SE)"
        for j in worst[:5]
    )
    raise ValueError(
        f"the fitted coefficients do not solve the model's estimating equations (normal "
        f"equations or likelihood score), so they are not the estimates the standard errors "
        f"describe: a Newton step from them moves {moves}. "
        f"{_solver_advice(est, names, design, remedy)}"
    )


def _scale_note(design: _Design, names) -> tuple[str, str] | None:
    """The largest and smallest column (by standard deviation) when they differ by 1e4 or more."""
    sd = design.std()
    cols = [j for j in range(sd.size) if sd[j] > 0]
    if len(cols) < 2:
        return None
    big, small = max(cols, key=lambda j: sd[j]), min(cols, key=lambda j: sd[j])
    if sd[big] < 1e4 * sd[small]:
        return None
    ratio = f"{sd[big] / sd[small]:.0e}"
    return names[big], f"{names[big]!r} varies {ratio} times more than {names[small]!r}"


def _solver_advice(est, names, design: _Design, remedy: str) -> str:
    scales = _scale_note(design, names)
    if isinstance(est, LinearRegression):
        cause = (
            f"LinearRegression's least-squares solver treats directions with singular values "
            f"below tol={est.tol:g} times the largest as zero"
        )
    else:
        cause = (
            f"{type(est).__name__}(solver={getattr(est, 'solver', None)!r}, "
            f"tol={getattr(est, 'tol', None)!r}) stopped before the maximum of the likelihood"
        )
    if scales is None:
        return (
            f"{cause}. Rescale the columns (e.g. StandardScaler in a Pipeline), drop or combine "
            f"nearly collinear columns, or use {remedy}."
        )
    return (
        f"{cause}, and {scales[1]}. Rescale the column {scales[0]!r} (e.g. other units, or "
        f"StandardScaler in a Pipeline), or use {remedy}."
    )


def _linear_regression(est, X, y) -> Estimate:
    # Classical OLS: sigma² = RSS / (n - p), cov = sigma² (Z'Z)^-1
    if getattr(est, "positive", False):
        raise ValueError(
            "LinearRegression(positive=True) is a constrained estimator: its classical OLS "
            'standard errors are invalid. Use variance="bootstrap" or positive=False.'
        )
    names = coef_names(est, X)
    design = _design_of(est, X)
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError("coefficient standard errors are supported for a single outcome only.")
    gram = _check_full_rank(design, names)
    beta = _params(est)
    n, p = design.shape
    if n <= p:
        raise ValueError(f"{n} rows for {p} coefficients: no residual degrees of freedom.")
    fitted = design.dot(beta)
    resid = y - fitted
    ols = "skmipool.models.OLSRegressor"  # below: the normal equations Z'(y - Z beta) = 0
    _check_solves_score(
        est, design, None, resid, gram=gram, fitted=fitted, phi=None, names=names, remedy=ols
    )
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
    design = _design_of(est, X)
    _check_full_rank(design, names)
    beta = _params(est)
    eta = design.dot(beta)
    _check_separation(eta, np.asarray(y) == est.classes_[1])
    prob = 1.0 / (1.0 + np.exp(-eta))
    w = prob * (1.0 - prob)  # binomial variance; logit link: dmu/deta = V(mu)
    positive = (np.asarray(y) == est.classes_[1]).astype(float)
    sqrt_w = np.sqrt(w)
    pearson = (positive - prob) / sqrt_w
    info = design.gram(sqrt_w)  # Z'WZ
    logit = "skmipool.models.LogitClassifier"
    _check_solves_score(
        est,
        design,
        sqrt_w,
        pearson,
        gram=info,
        fitted=prob,
        phi=1.0,
        names=names,
        remedy=logit,
    )
    cov = _inverse_information(info, names, "Fisher")
    n, p = design.shape
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
    design = _design_of(est, X)
    _check_full_rank(design, names)
    beta = _params(est)
    eta = design.dot(beta)
    mu = np.exp(eta) if log_link else eta
    y = np.asarray(y, dtype=float)
    var_mu = mu**power  # Tweedie variance function V(mu) = mu^power
    dmu = mu if log_link else np.ones_like(mu)
    n, p = design.shape
    # dispersion: 1 for Poisson, else Pearson chi² / (n - p) (McCullagh & Nelder 1989, eq. 9.12)
    phi = 1.0 if power == 1.0 else np.sum((y - mu) ** 2 / var_mu) / (n - p)
    w = dmu**2 / var_mu
    pearson, fitted = (y - mu) / np.sqrt(var_mu), mu / np.sqrt(var_mu)
    sqrt_w = np.sqrt(w)
    info = design.gram(sqrt_w)  # Z'WZ
    glm = "skmipool.models.GLMRegressor"
    _check_solves_score(
        est,
        design,
        sqrt_w,
        pearson,
        gram=info,
        fitted=fitted,
        phi=phi,
        names=names,
        remedy=glm,
    )
    cov = phi * _inverse_information(info, names, "Fisher")
    terms = _sklearn_model_terms(names, est)
    return Estimate(beta, cov, names=names, dfcom=float(n - p), nobs=n, model_terms=terms)


def _sklearn_glm(estimator):
    """(adapter, link) for the scikit-learn linear models skmipool reads, else None."""
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


# ----------------------------------------------------------------- pipelines
#
# A Pipeline(preprocessing..., final) is read as the final step's model on the design the
# fitted preprocessing makes: the coefficients and covariance come from the final step's
# adapter applied to that design, the names from the preprocessing's get_feature_names_out,
# and the model terms from an exact map of each design column to the input column it codes.


def is_pipeline(estimator) -> bool:
    """Whether the estimator is a scikit-learn Pipeline (preprocessing, then a model)."""
    return isinstance(estimator, Pipeline)


class PipelineDesign(NamedTuple):
    """The final step of a fitted pipeline and the design its preprocessing makes."""

    final: object  # the fitted final step
    Z: object  # the final step's input (dense), what it was fitted on
    rename: dict  # the final step's feature names -> the preprocessing's output names
    terms: tuple  # ((input column, (output name, ...)), ...): the model terms


def _input_names(estimator, n: int) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(c) for c in names] if names is not None else [f"x{i}" for i in range(n)]


def _one_hot_sources(enc: OneHotEncoder) -> np.ndarray:
    counts = []
    infrequent = getattr(enc, "infrequent_categories_", None)
    for i, cats in enumerate(enc.categories_):
        k = len(cats)
        if infrequent is not None and infrequent[i] is not None:
            k -= len(infrequent[i]) - 1  # the infrequent levels share one column
        if enc.drop_idx_ is not None and enc.drop_idx_[i] is not None:
            k -= 1
        counts.append(k)
    return np.repeat(np.arange(len(counts)), counts)


def column_sources(step, n_in: int) -> np.ndarray | None:
    """For each output column of a fitted transformer, the input column it codes.

    Exact for the transformers whose output columns each code one input
    column: one-to-one transformers (the scalers; ``OneToOneFeatureMixin``),
    OneHotEncoder (``categories_`` minus the dropped and merged infrequent
    levels, feature by feature), SplineTransformer (the same number of basis
    functions per feature), treatment contrasts, and Pipelines and
    ColumnTransformers made of these (``output_indices_`` and each
    transformer's input columns). None for anything else (PolynomialFeatures
    mixes columns; an unknown transformer cannot be mapped): then every
    design column is a model term of its own.
    """
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return np.arange(n_in)
    if isinstance(step, TreatmentContrasts):
        return np.asarray(step.feature_sources_)
    if isinstance(step, Pipeline):
        src = np.arange(n_in)
        for _, inner in step.steps:
            mapped = column_sources(inner, len(src))
            if mapped is None:
                return None
            src = src[mapped]
        return src
    if isinstance(step, ColumnTransformer):
        n_out = max((s.stop for s in step.output_indices_.values()), default=0)
        out = np.full(n_out, -1)
        inputs = getattr(step, "_transformer_to_input_indices", None)
        if inputs is None:
            return None
        for name, trans, _ in step.transformers_:
            where = step.output_indices_[name]
            if where.stop == where.start:
                continue  # dropped
            cols = np.asarray(inputs[name], dtype=int)
            mapped = column_sources(trans, len(cols))
            if mapped is None or len(mapped) != where.stop - where.start:
                return None
            out[where] = cols[mapped]
        return out if (out >= 0).all() else None
    if isinstance(step, OneHotEncoder):
        src = _one_hot_sources(step)
    elif isinstance(step, SplineTransformer):
        n_out = int(step.n_features_out_)
        src = np.repeat(np.arange(n_in), n_out // n_in) if n_out % n_in == 0 else None
    elif isinstance(step, OneToOneFeatureMixin) or (
        isinstance(step, FunctionTransformer) and step.feature_names_out == "one-to-one"
    ):
        src = np.arange(n_in)
    else:
        return None
    try:
        n_names = len(step.get_feature_names_out())
    except Exception:  # - without names, the map cannot be checked
        return None
    return src if src is not None and len(src) == n_names else None


def _steps_of(step):
    """Every transformer inside a (possibly nested) Pipeline, ColumnTransformer or FeatureUnion."""
    if isinstance(step, Pipeline):
        for name, inner in step.steps:
            yield from (
                ((f"{name}", s) for _, s in _steps_of(inner))
                if _is_composite(inner)
                else [(name, inner)]
            )
    elif isinstance(step, ColumnTransformer):
        trans = getattr(step, "transformers_", step.transformers)
        for name, inner, _ in trans:
            yield from _steps_of(inner) if _is_composite(inner) else [(name, inner)]
    elif isinstance(step, FeatureUnion):
        for name, inner in step.transformer_list:
            yield from _steps_of(inner) if _is_composite(inner) else [(name, inner)]


def _is_composite(step) -> bool:
    return isinstance(step, Pipeline | ColumnTransformer | FeatureUnion)


def _learns_from_y(step) -> bool:
    if isinstance(step, str) or step is None:
        return False
    if isinstance(step, TargetEncoder):
        return True
    if isinstance(step, SelectorMixin) and not isinstance(step, VarianceThreshold):
        return True  # SelectKBest, SelectFromModel, RFE, ...: selected by their fit to y
    return bool(get_tags(step).target_tags.required)


def check_pipeline(pipe) -> None:
    """Refuse a preprocessing step that learns from y: the design would depend on y.

    The analytic covariances treat the design as fixed; a target encoder or a
    supervised feature selector fitted on y makes it random in y, and the
    standard errors come out too small.
    """
    steps = [(n, s) for n, s in pipe.steps[:-1] if not _is_composite(s)]
    steps += [ns for _, s in pipe.steps[:-1] if _is_composite(s) for ns in _steps_of(s)]
    for name, step in steps:
        if _learns_from_y(step):
            raise ValueError(
                f"the pipeline step {name!r} ({type(step).__name__}) learns from the outcome y, "
                f"so the design matrix depends on y and the analytic standard errors, which "
                f"treat the design as fixed, would be too small. Encode without y (e.g. "
                f'OneHotEncoder(drop="first")), or use variance="bootstrap", which refits the '
                f"whole pipeline on every resample."
            )


def pipeline_design(pipe, X) -> PipelineDesign:
    """The final step of a fitted pipeline, its (dense) design for X, names and terms."""
    final = pipe[-1]
    pre = pipe[:-1] if len(pipe.steps) > 1 else None
    Z = pre.transform(X) if pre is not None else X
    if sparse.issparse(Z):
        Z = Z.toarray()
    inner_names = _feature_names(final, Z)
    n_in = np.shape(X)[1]
    out_names = inner_names
    if pre is not None:
        try:
            out_names = [str(n) for n in pre.get_feature_names_out()]
        except Exception:  # - a step without names: keep the final step's names
            out_names = inner_names
        if len(out_names) != len(inner_names):
            out_names = inner_names
    sources = column_sources(pre, n_in) if pre is not None else np.arange(n_in)
    if sources is not None and len(sources) == len(out_names):
        inputs = _input_names(pipe, n_in)
        groups: dict[str, list[str]] = {}
        for name, j in zip(out_names, sources, strict=True):
            groups.setdefault(inputs[j], []).append(name)
        terms = tuple((t, tuple(cs)) for t, cs in groups.items())
    else:  # not mappable exactly: every design column is a term of its own
        terms = tuple((n, (n,)) for n in out_names)
    return PipelineDesign(final, Z, dict(zip(inner_names, out_names, strict=True)), terms)


def _pipeline_estimate(pipe, X, y) -> Estimate:
    check_pipeline(pipe)
    design = pipeline_design(pipe, X)
    inner = coef_estimate(design.final, design.Z, y)
    names = list(inner.names)
    slopes = [n for n in names if n != "intercept"]
    if not all(n in design.rename for n in slopes):
        return inner  # the final step names its own terms (e.g. a formula): keep them
    renamed = [design.rename.get(n, n) for n in names]
    if len(set(renamed)) != len(renamed):
        twice = sorted({n for n in renamed if renamed.count(n) > 1})
        raise ValueError(
            f"the pipeline's design has duplicate column names {twice}; give its steps "
            f"distinct output names (e.g. ColumnTransformer(verbose_feature_names_out=True))."
        )
    used = set(renamed)
    terms = tuple((t, cs) for t, cs in design.terms if all(c in used for c in cs))
    return Estimate(
        inner.estimate,
        inner.covariance,
        names=renamed,
        dfcom=inner.dfcom,
        nobs=inner.nobs,
        loglike=inner.loglike,
        scale=inner.scale,
        model_terms=terms,
        model=inner.model,
    )


def ignores_unknown_levels(estimator, column: str) -> bool:
    """Whether the estimator's own encoder of ``column`` accepts unseen levels.

    True when the first encoder the column meets in a Pipeline (directly, or
    through a ColumnTransformer) is a OneHotEncoder with ``handle_unknown``
    other than ``"error"`` (it codes an unseen level as all zeros).
    """
    if isinstance(estimator, OneHotEncoder):
        return estimator.handle_unknown != "error"
    if isinstance(estimator, Pipeline):
        return bool(estimator.steps) and ignores_unknown_levels(estimator.steps[0][1], column)
    if isinstance(estimator, ColumnTransformer):
        names = list(getattr(estimator, "feature_names_in_", []))
        inputs = getattr(estimator, "_transformer_to_input_indices", {})
        for name, trans, _ in estimator.transformers_:
            if column in names and names.index(column) in inputs.get(name, []):
                return ignores_unknown_levels(trans, column)
    return False


# Transformers through which a numeric input column moves smoothly (differentiable almost
# everywhere), so that dZ/dx by finite differences is the derivative of the design.
_SMOOTH = (
    StandardScaler,
    MinMaxScaler,
    MaxAbsScaler,
    RobustScaler,
    PowerTransformer,
    SplineTransformer,
    PolynomialFeatures,
)


def _check_smooth(step, cols: set[int], n_in: int, feature: str) -> set[int]:
    """The output columns of a fitted step that depend on input columns ``cols``.

    Raises when such a column passes through a step that is not differentiable
    in it (an encoder, a binning, an unknown transformer).
    """
    if not cols or step is None or (isinstance(step, str) and step == "passthrough"):
        return set(cols)
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            n_next = _n_out(inner, n_in)
            cols, n_in = _check_smooth(inner, cols, n_in, feature), n_next
        return cols
    if isinstance(step, ColumnTransformer):
        out: set[int] = set()
        for name, trans, _ in step.transformers_:
            where = step.output_indices_[name]
            inputs = list(step._transformer_to_input_indices[name])
            mine = {inputs.index(j) for j in cols if j in inputs}
            if where.stop > where.start and mine:
                out |= {where.start + k for k in _check_smooth(trans, mine, len(inputs), feature)}
        return out
    if isinstance(step, TreatmentContrasts):
        names = list(step.feature_names_in_)
        if any(names[j] in step.levels_ for j in cols):
            raise ValueError(
                f"{feature!r} is categorical: it has no derivative. Compare predictions at "
                f"its levels (skmipool.estimands.predictions) instead."
            )
        return {k for k, j in enumerate(step.feature_sources_) if j in cols}
    if isinstance(step, PolynomialFeatures):
        powers = step.powers_
        return {k for k in range(powers.shape[0]) if powers[k, sorted(cols)].any()}
    if isinstance(step, _SMOOTH) or (
        isinstance(step, FunctionTransformer)
        and step.func is None
        and step.feature_names_out == "one-to-one"
    ):
        return {k for k, j in enumerate(column_sources(step, n_in)) if j in cols}
    raise ValueError(
        f"the average marginal effect of {feature!r} would differentiate the design through "
        f"{type(step).__name__}, which skmipool cannot differentiate (an encoder or an unknown "
        f"transformer). Supported on the way: scalers, SplineTransformer, PolynomialFeatures, "
        f"ColumnTransformer, passthrough."
    )


def _n_out(step, n_in: int) -> int:
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return n_in
    return len(step.get_feature_names_out())


def design_derivative(estimator, X, feature, names) -> tuple[str, np.ndarray]:
    """The derivative of the design matrix of X with respect to one feature.

    For a plain model the feature is a term (a name in ``names``, the
    coefficient names, or a position among the terms after the intercept),
    and its design column is the feature itself: the derivative is a unit
    vector. For a Pipeline the feature is an input column, and dZ/dx is taken
    through the fitted preprocessing by central differences,
    (Z(x + h) - Z(x - h)) / 2h (exact up to rounding for linear steps such as
    scalers; error O(h^2) for splines, except at a boundary knot with constant
    extrapolation, where it averages the inner and the flat slope); steps that
    are not differentiable in the feature (encoders) are refused.

    Returns
    -------
    (label, ndarray of shape (n_rows, n_coefficients))
    """
    names = list(names)
    if not is_pipeline(estimator):
        key = feature if isinstance(feature, str) else names[feature + (names[0] == "intercept")]
        if key not in names:
            raise KeyError(f"feature {feature!r} is not a term of the model; terms: {names}.")
        D = np.zeros((np.shape(X)[0], len(names)))
        D[:, names.index(key)] = 1.0
        return key, D
    inputs = _input_names(estimator, np.shape(X)[1])
    key = feature if isinstance(feature, str) else inputs[feature]
    if key not in inputs:
        raise KeyError(
            f"{feature!r} is not an input column of the pipeline; its marginal effect is taken "
            f"with respect to an input column: {inputs}."
        )
    j = inputs.index(key)
    if len(estimator.steps) > 1:
        _check_smooth(estimator[:-1], {j}, len(inputs), key)
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
    x = frame.iloc[:, j].to_numpy(dtype=float)
    # central differences: truncation error O(h^2), rounding error O(eps / h)
    h = 1e-5 * (float(np.std(x)) or 1.0)
    up, down = frame.copy(), frame.copy()
    up[frame.columns[j]] = x + h
    down[frame.columns[j]] = x - h
    if not isinstance(X, pd.DataFrame):
        up, down = up.to_numpy(), down.to_numpy()
    D = (design_matrix(estimator, up) - design_matrix(estimator, down)) / (2.0 * h)
    return key, D


def _adapter_for(estimator):
    if is_pipeline(estimator):
        return _pipeline_estimate if _adapter_for(estimator[-1]) is not None else None
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
    if is_pipeline(estimator):
        return link_of(estimator[-1])
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
    builds its own; a Pipeline's design is its final step's design of the
    fitted preprocessing's output.
    """
    if is_pipeline(estimator):
        design = pipeline_design(estimator, X)
        return design_matrix(design.final, design.Z)
    own = getattr(estimator, "design_matrix", None)
    if callable(own):
        return np.asarray(own(X), dtype=float)
    return _design(estimator, X)


def columns_are_terms(estimator) -> bool:
    """Whether every numeric column of X is one term of the estimator's coefficients.

    True for the scikit-learn linear models the adapters read (LinearRegression,
    LogisticRegression, Poisson/Gamma/TweedieRegressor), alone or after steps that map
    each numeric column affinely to one column (the scalers, treatment contrasts,
    passthrough), which keep a linear relation between columns; False for other
    preprocessing (it may drop, combine or expand columns) and other estimators.
    """
    if is_pipeline(estimator):
        affine = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler, TreatmentContrasts)
        steps = [step for _, step in estimator.steps[:-1]]
        if not all(s is None or s == "passthrough" or isinstance(s, affine) for s in steps):
            return False
        estimator = estimator[-1]
    return _sklearn_glm(estimator) is not None


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
        ``get_estimate()`` method returning a :class:`skmipool.Estimate`; or
        a Pipeline whose final step is one of these: its coefficients are
        read on the design the fitted preprocessing makes, named by the
        preprocessing's ``get_feature_names_out``, with one model term per
        input column (see :func:`column_sources`).
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
    estimate = adapter(estimator, X, y)
    if estimate.model is None:  # pooling refuses fits of different kinds (check_same_model)
        final = estimator[-1] if is_pipeline(estimator) else estimator
        link = _sklearn_glm(final)
        kind = type(final).__name__ + (f"({link[1]})" if link is not None else "")
        estimate = dataclasses.replace(estimate, model=kind)
    return estimate


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
    if name == "MixedLM":  # REML and ML fits estimate different variance components
        return f"MixedLM({'REML' if model.reml else 'ML'})"
    family = getattr(model, "family", None)
    if family is None:
        return name
    link = type(getattr(family, "link", None)).__name__.lower()
    return f"{name}({type(family).__name__}, {link})"
