"""Linear mixed models on statsmodels' MixedLM, as a scikit-learn estimator.

One engine, :func:`fit_mixed`, fits a two-level model with a random intercept
and random slopes for one grouping column, by REML (the default, as lme4's
``lmer``) or ML; :class:`MixedLM` and :class:`FormulaModel`'s mixed models
both call it. The fixed effects, their covariance (R's ``vcov(lmer)``), the
variance components (mitml's names) and the complete-data df G - p are taken
from the fit by :mod:`skmipool._mixed`, which :func:`skmipool.pool` also uses
for statsmodels' own MixedLM results.

The optimizer is statsmodels' (profiled REML/ML likelihood over the
random-effect covariance, on the Cholesky scale) with BFGS to a gradient
tolerance of 1e-8, then CG if BFGS fails; that puts the estimates,
standard errors and variance components within 1e-6 (relative) of lme4 with a
tight optimizer on the popmis data (tests/test_mixed.py).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar, NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from statsmodels.regression.mixed_linear_model import MixedLM as _SMMixedLM
from statsmodels.regression.mixed_linear_model import MixedLMParams
from statsmodels.tools import sm_exceptions

from skmipool._mixed import INTERCEPT, fixed_effects_covariance, mixed_dfcom, variance_components
from skmipool.models._design import FittedModelMixin, build_design, check_identified
from skmipool.models._glm import check_target

__all__ = ["MixedFit", "MixedLM", "check_clusters", "fit_mixed"]

# optimizers tried in turn, both with the gradient tolerance ``tol``. Not L-BFGS: on the
# random-intercept popmis model statsmodels' L-BFGS stops at Psi = 0 and reports convergence.
_METHODS = ("bfgs", "cg")


class MixedFit(NamedTuple):
    """What :func:`fit_mixed` returns."""

    results: object  # statsmodels MixedLMResults
    cov_fe: np.ndarray  # sigma² (X'V⁻¹X)⁻¹, R's vcov(lmer)
    variance_components: pd.Series  # mitml's names
    dfcom: float  # G - p
    n_groups: int
    converged: bool


def check_clusters(labels, group: str, n_random: int) -> np.ndarray:
    """Cluster codes 0..G-1; refuses what identifies no random-effect variance.

    As lme4's checks (``lmerControl(check.nlev.gtr.1, check.nobs.vs.nlev,
    check.nobs.vs.nRE)``): at least two clusters, fewer clusters than
    observations, and more observations than random effects (G q).
    """
    values = pd.Series(labels)
    if values.isna().any():
        rows = np.flatnonzero(values.isna().to_numpy())[:5].tolist()
        raise ValueError(
            f"the cluster column {group!r} has {int(values.isna().sum())} missing values (rows "
            f"{rows}...); every row must belong to a cluster. skmipool does not impute cluster "
            f"membership (an id imputed as a number is no cluster): drop those rows, or fill "
            f"the column yourself before fitting."
        )
    codes, uniques = pd.factorize(values, sort=True)
    n, g = len(codes), len(uniques)
    if g < 2:
        raise ValueError(
            f"the cluster column {group!r} has a single cluster ({uniques[0]!r}): a random-effect "
            f"variance needs at least two clusters (lme4: 'grouping factors must have > 1 "
            f"sampled level'). Fit a model without random effects (OLSRegressor)."
        )
    if g >= n:
        raise ValueError(
            f"the cluster column {group!r} has one observation per cluster ({g} clusters, {n} "
            f"rows): the random intercept cannot be told apart from the residual (lme4: 'number "
            f"of levels of each grouping factor must be < number of observations'). Check the "
            f"column, or fit a model without random effects."
        )
    if n_random > 1 and n <= g * n_random:
        raise ValueError(
            f"{n} observations for {g} clusters x {n_random} random effects per cluster (column "
            f"{group!r}): the random slopes are not identified (lme4: 'number of observations "
            f"<= number of random effects'). Drop random slopes or use more data per cluster."
        )
    return codes.astype(np.int64)


def fit_mixed(
    endog,
    exog: pd.DataFrame,
    exog_re: pd.DataFrame,
    groups,
    *,
    group: str,
    reml: bool = True,
    tol: float = 1e-8,
    max_iter: int = 1000,
) -> MixedFit:
    """Fit a linear mixed model: y = X b + Z u + e, u ~ N(0, Psi) per cluster.

    Parameters
    ----------
    endog : array-like of shape (n,)
    exog : DataFrame of shape (n, p)
        Fixed-effects design, with its column names.
    exog_re : DataFrame of shape (n, q)
        Random-effects design; a column named ``"Intercept"`` of ones is the
        random intercept.
    groups : array-like of shape (n,)
        Cluster labels (no NaN).
    group : str
        Name of the grouping column, for the variance components' names and messages.
    reml : bool
        REML (lme4's default) or maximum likelihood.
    tol : float
        Gradient tolerance of BFGS.
    max_iter : int
        Maximum iterations of each optimizer.

    Returns
    -------
    MixedFit
    """
    codes = check_clusters(groups, group, exog_re.shape[1])
    model = _SMMixedLM(
        np.asarray(endog, dtype=float), exog, groups=codes, exog_re=exog_re, missing="raise"
    )
    with warnings.catch_warnings():
        # statsmodels' warnings (retrying, boundary, "Gradient optimization failed") are
        # replaced by one ConvergenceWarning of ours, worded the same in every imputation
        warnings.simplefilter("ignore", category=sm_exceptions.ConvergenceWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        try:
            for method in _METHODS:
                results = model.fit(reml=reml, method=[method], maxiter=max_iter, gtol=tol)
                if results.converged:
                    break
            converged = bool(results.converged)
            if not converged:
                results, converged = _polish(model, results, reml=reml, tol=tol, max_iter=max_iter)
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                f"the mixed model could not be fitted ({exc}): the random-effect covariance is "
                f"singular at the start. Drop random slopes, or check the cluster column "
                f"{group!r}."
            ) from exc
    converged = converged and bool(np.all(np.isfinite(results.fe_params)))
    if not converged:
        slopes = "random-slope " if exog_re.shape[1] > 1 else ""
        warnings.warn(
            f"the {'REML' if reml else 'ML'} fit of the {slopes}mixed model (clusters "
            f"{group!r}) did not converge; its estimates and standard errors may be "
            f"inaccurate. Simplify the random part (fewer random slopes), rescale the "
            f"predictors, or raise max_iter.",
            ConvergenceWarning,
            stacklevel=3,
        )
    cov_re = np.asarray(results.cov_re, dtype=float)
    scale = float(results.scale)
    return MixedFit(
        results=results,
        cov_fe=fixed_effects_covariance(model, cov_re, scale),
        variance_components=variance_components(cov_re, list(exog_re.columns), scale, group),
        dfcom=mixed_dfcom(model.n_groups, exog.shape[1]),
        n_groups=int(model.n_groups),
        converged=bool(converged),
    )


def _polish(model, results, *, reml: bool, tol: float, max_iter: int):
    """scipy's BFGS on statsmodels' profiled (RE)ML criterion, when statsmodels' own stops short.

    statsmodels' optimizer wrapper can stop with a large gradient (line-search
    failure; seen on stanford2's survival times in days), where scipy's BFGS on
    the same ``loglike`` and ``score`` reaches the optimum. It is run from
    where statsmodels stopped and from statsmodels' start (Psi = I); the better
    end is refitted by statsmodels to get its results object. Converged: the
    largest gradient entry (on the Cholesky scale) is below ``1e-4``.
    """
    k = model.k_re2
    start = MixedLMParams.from_components(np.zeros(model.k_fe), cov_re=np.eye(model.k_re))
    starts = [
        results.params_object.get_packed(use_sqrt=model.use_sqrt, has_fe=False),
        start.get_packed(use_sqrt=model.use_sqrt, has_fe=False),
    ]
    best = None
    for x0 in starts:
        try:
            found = minimize(
                lambda p: -model.loglike(p, profile_fe=True),
                x0[:k],
                jac=lambda p: -model.score(p, profile_fe=True),
                method="BFGS",
                options={"gtol": tol, "maxiter": max_iter},
            )
        except np.linalg.LinAlgError:
            continue
        if np.isfinite(found.fun) and (best is None or found.fun < best.fun):
            best = found
    if best is None or best.fun >= -results.llf:
        return results, False
    refit = model.fit(reml=reml, start_params=best.x, method=["bfgs"], maxiter=max_iter, gtol=tol)
    packed = refit.params_object.get_packed(use_sqrt=model.use_sqrt, has_fe=False)
    gradient = model.score(packed, profile_fe=True)
    return refit, bool(refit.converged or np.max(np.abs(gradient)) < 1e-4)


class MixedLM(RegressorMixin, FittedModelMixin, BaseEstimator):
    """Linear mixed model (random intercept and slopes) on statsmodels' MixedLM, R's ``lmer``.

    ``y = X b + Z u + e`` with ``u ~ N(0, Psi)`` for each cluster and
    ``e ~ N(0, sigma²)``. Z holds a column of ones (the random intercept) and
    the ``random_slopes`` columns; Psi is unstructured, as lme4's
    ``(1 + x | group)``. Fitted by REML (lme4's default) or ML.

    For multiple imputation the fixed effects are pooled by Rubin's rules with
    the complete-data df G - p (clusters minus fixed effects; see
    ``dfcom_``), and the variance components (``variance_components_``) are
    averaged over the imputations without a test, as mitml's
    ``testEstimates(..., extra.pars = TRUE)``.

    Parameters
    ----------
    groups : str or int
        The column of X (name, or position for arrays) holding the cluster
        ids. Required. It is excluded from the fixed-effects design; being a
        column of X it stays aligned with the rows through imputation. It must
        be complete (no NaN): cluster membership is not imputed.
    random_slopes : list of str or int, default=None
        Columns of X (names or positions) whose slopes vary between clusters,
        e.g. ``["sex"]`` for lme4's ``(1 + sex | school)``. They are also
        fixed effects. None: random intercept only, ``(1 | school)``.
    method : {"reml", "ml"}, default="reml"
        Restricted (lme4's ``REML = TRUE``) or full maximum likelihood. Use
        ``"ml"`` to compare models that differ in their fixed effects by
        likelihood.
    fit_intercept : bool, default=True
        Add a fixed intercept named ``"intercept"``.
    tol : float, default=1e-8
        Gradient tolerance of the optimizer (BFGS, then CG if BFGS fails).
    max_iter : int, default=1000
        Maximum number of iterations of each optimizer.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        Fixed slopes, in the order of X's columns (the groups column excluded).
    intercept_ : float
        The fixed intercept (0.0 when ``fit_intercept=False``).
    params_ : pandas.Series
        All fixed effects (intercept first) labelled with the term names.
    cov_ : pandas.DataFrame
        Covariance of ``params_``: sigma² (X' V⁻¹ X)⁻¹ at the estimated
        variance parameters, R's ``vcov(lmer)``.
    std_error_ : pandas.Series
        Square roots of the diagonal of ``cov_``.
    variance_components_ : pandas.Series
        Random-effect variances and covariances, residual variance and ICC,
        named as mitml names lme4's: ``"Intercept~~Intercept|school"``,
        ``"sex~~sex|school"``, ``"Intercept~~sex|school"``,
        ``"Residual~~Residual"``, ``"ICC|school"`` (the random-intercept
        variance over itself plus the residual variance). For an array X the
        group is named ``x<position>``.
    n_groups_ : int
        Number of clusters G.
    nobs_ : int
        Number of observations.
    dfcom_ : float
        Complete-data df of the fixed effects, ``max(G - p, 1)``: not more
        than the df of a cluster-level term (whose information comes from G
        cluster means), and conservative for within-cluster terms. mitml's
        default is a large sample; pass ``dfcom=`` to the pooling to change it.
    loglike_ : float
        The REML (``method="reml"``) or ML log-likelihood at the estimates,
        R's ``logLik(lmer)``.
    converged_ : bool
        Whether the optimizer converged (a ConvergenceWarning is raised if not).
    results_ : statsmodels MixedLMResultsWrapper
        The statsmodels fit.
    n_features_in_ : int
        Number of columns of X seen in fit (the groups column included).
    feature_names_in_ : ndarray of str
        Column names of X (DataFrame input only).

    See Also
    --------
    skmipool.models.FormulaModel : the same model from lme4 syntax,
        ``"popular ~ sex + texp + (1 | school)"``.

    Examples
    --------
    >>> from skmipool.datasets import load_popmis
    >>> from skmipool.models import MixedLM
    >>> df = load_popmis().dropna()
    >>> fit = MixedLM(groups="school").fit(df[["sex", "texp", "school"]], df["popular"])
    >>> fit.params_.round(3)
    intercept    3.592
    sex          0.866
    texp         0.092
    Name: estimate, dtype: float64
    >>> fit.variance_components_.round(3)
    Intercept~~Intercept|school    0.463
    Residual~~Residual             0.469
    ICC|school                     0.497
    Name: estimate, dtype: float64
    >>> fit.dfcom_
    97.0
    """

    _parameter_constraints: ClassVar[dict] = {
        "groups": [str, Integral, None],
        "random_slopes": [list, tuple, None],
        "method": [StrOptions({"reml", "ml"})],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        groups=None,
        random_slopes=None,
        method="reml",
        fit_intercept=True,
        tol=1e-8,
        max_iter=1000,
    ):
        self.groups = groups
        self.random_slopes = random_slopes
        self.method = method
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def _design(self, X, reset: bool):
        return build_design(
            self, X, reset=reset, fit_intercept=self.fit_intercept, special={"groups": self.groups}
        )

    def _slope_names(self, X, design) -> list[str]:
        """The design columns of ``random_slopes`` (names, or positions in X)."""
        columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
        out = []
        for spec in self.random_slopes or []:
            if isinstance(spec, str):
                name = spec
            elif isinstance(spec, Integral) and not isinstance(spec, bool):
                n_cols = self.n_features_in_
                if not -n_cols <= spec < n_cols:
                    raise ValueError(
                        f"random_slopes entry {spec} is out of range for X with {n_cols} columns."
                    )
                name = str(columns[spec]) if columns is not None else f"x{spec % n_cols}"
            else:
                raise TypeError(f"random_slopes must list column names or positions; got {spec!r}.")
            if name not in design.names or name == "intercept":
                raise ValueError(
                    f"random_slopes names {spec!r}, which is not a predictor column of X; the "
                    f"predictors are {design.names[1 if self.fit_intercept else 0 :]} (the groups "
                    f"column {self.groups!r} cannot have a random slope)."
                )
            if name in out:
                raise ValueError(f"random_slopes names {name!r} twice.")
            out.append(name)
        return out

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by REML or ML.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Predictors and the groups column. No NaN.
        y : array-like of shape (n_samples,)
            Outcome.

        Returns
        -------
        self : MixedLM
        """
        if self.groups is None:
            raise ValueError(
                "MixedLM needs groups=<name or position of the column of X holding the cluster "
                "ids>, e.g. MixedLM(groups='school')."
            )
        design = self._design(X, reset=True)
        y = check_target(self, y, design.matrix.shape[0])
        check_identified(design)
        slopes = self._slope_names(X, design)
        exog_re = pd.DataFrame({INTERCEPT: np.ones(design.matrix.shape[0])})
        for name in slopes:
            exog_re[name] = design.matrix[name].to_numpy()
        group = (
            str(self.groups)
            if isinstance(self.groups, str)
            else (str(X.columns[self.groups]) if isinstance(X, pd.DataFrame) else f"x{self.groups}")
        )
        fit = fit_mixed(
            y,
            design.matrix,
            exog_re,
            design.special["groups"],
            group=group,
            reml=self.method == "reml",
            tol=self.tol,
            max_iter=self.max_iter,
        )
        res = fit.results
        self._set_fitted(
            res,
            design.names,
            fit.cov_fe,
            fit.dfcom,
            design.matrix.shape[0],
            res.llf,
            self.fit_intercept,
            params=res.fe_params,
            variance_components=fit.variance_components,
        )
        self.n_groups_ = fit.n_groups
        self.converged_ = fit.converged
        return self

    def predict(self, X):
        """Population-level predictions X b (random effects at their mean, 0).

        R's ``predict(lmer_fit, re.form = NA)``: what the model predicts for a
        new cluster.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The columns seen in fit (the groups column is ignored).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "results_")
        design = self._design(X, reset=False)
        return design.matrix.to_numpy() @ self.params_.to_numpy()
