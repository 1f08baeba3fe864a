"""Linear and generalized linear models on statsmodels, as scikit-learn estimators.

Covariances are statsmodels': the model-based ones (OLS: sigma² (Z'Z)^-1 with
sigma² = RSS / (n - p); GLM: the inverse Fisher information times the Pearson
dispersion, McCullagh & Nelder 1989, sections 2.5 and 9.3), White's
heteroskedasticity-consistent HC0-HC3 (MacKinnon & White 1985) and the
cluster-robust sandwich with the small-sample factor G/(G - 1) (n - 1)/(n - p)
(Cameron & Miller 2015, section II.C), the same as R's
``sandwich::vcovHC`` and ``sandwich::vcovCL(type = "HC1")``.

References
----------
MacKinnon, J. G. and White, H. (1985). Some heteroskedasticity-consistent
covariance matrix estimators with improved finite sample properties. *Journal
of Econometrics* 29, 305-325.
Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to
cluster-robust inference. *Journal of Human Resources* 50, 317-372.
McCullagh, P. and Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)
from statsmodels.tools import sm_exceptions

from skmipool.models._design import (
    FittedModelMixin,
    build_design,
    check_identified,
    cluster_codes,
)

__all__ = ["GLMRegressor", "LogitClassifier", "OLSRegressor", "PoissonRegressor"]

_FAMILIES = {
    "gaussian": sm.families.Gaussian,
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
    "gamma": sm.families.Gamma,
    "inverse_gaussian": sm.families.InverseGaussian,
}

_GLM_COV_TYPES = {"nonrobust", "HC0", "cluster"}


def check_target(estimator, y, n: int, numeric: bool = True) -> np.ndarray:
    """y as a 1-d array of length n; NaN and inf are errors naming y."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    y = check_array(y, ensure_2d=False, dtype=np.float64 if numeric else None, input_name="y")
    y = column_or_1d(y, warn=True)
    check_consistent_length(np.empty(n), y)
    return y


def cov_arguments(cov_type: str, cluster_values, cluster_param) -> tuple[str, dict | None]:
    """statsmodels' ``cov_type`` and ``cov_kwds`` for fit(); checks cluster and cov_type agree."""
    if cov_type == "cluster":
        if cluster_values is None:
            raise ValueError(
                'cov_type="cluster" needs the cluster ids: set cluster=<name or position of the '
                "column of X holding them>."
            )
        # G/(G-1) (n-1)/(n-p) small-sample factor (statsmodels' default, sandwich's HC1)
        return "cluster", {"groups": cluster_codes(cluster_values), "use_correction": True}
    if cluster_param is not None:
        raise ValueError(
            f"cluster={cluster_param!r} is set but cov_type={cov_type!r}. Set "
            f'cov_type="cluster" for cluster-robust standard errors, or drop cluster.'
        )
    return cov_type, None


def fit_glm_at_optimum(model, tol, max_iter, cov_type, cov_kwds):
    """IRLS, then one more pass from the estimate so that the covariance is taken at it.

    IRLS takes the weights of its last weighted least-squares step from the
    previous iterate; restarting from the converged estimate puts them at the
    estimate itself (the same refit that R's glm needs for its vcov to be exact).
    Returns the results and the number of iterations of the first pass.
    """
    first = model.fit(tol=tol, maxiter=max_iter)
    res = model.fit(
        start_params=first.params, tol=tol, maxiter=max_iter, cov_type=cov_type, cov_kwds=cov_kwds
    )
    return res, int(first.fit_history["iteration"])


def resolve_family(family):
    """A statsmodels family instance from a name or an instance."""
    if isinstance(family, str):
        try:
            return _FAMILIES[family]()
        except KeyError:
            raise ValueError(
                f"family={family!r} is not known; use one of {sorted(_FAMILIES)} or a "
                f"statsmodels family instance such as sm.families.Gamma(sm.families.links.Log())."
            ) from None
    if isinstance(family, sm.families.Family):
        return family
    raise TypeError(
        f"family must be a name ({sorted(_FAMILIES)}) or a statsmodels family instance; got "
        f"{type(family).__name__}."
    )


def check_outcome_range(y: np.ndarray, family) -> None:
    """The outcome must lie in the family's support (else IRLS fails obscurely)."""
    name = type(family).__name__
    if isinstance(family, sm.families.Binomial):
        bad, need = (y < 0) | (y > 1), "between 0 and 1"
    elif isinstance(
        family, sm.families.Poisson | sm.families.Tweedie | sm.families.NegativeBinomial
    ):
        bad, need = y < 0, "non-negative"
    elif isinstance(family, sm.families.Gamma | sm.families.InverseGaussian):
        bad, need = y <= 0, "positive"
    else:
        return
    if bad.any():
        raise ValueError(
            f"the {name} family needs y {need}; {int(bad.sum())} values are not (e.g. "
            f"{y[bad][0]:g})."
        )


class _StatsmodelsLinear(FittedModelMixin, BaseEstimator):
    """Shared fit/predict plumbing of OLSRegressor and the GLM estimators."""

    def _design(self, X, reset: bool):
        return build_design(
            self,
            X,
            reset=reset,
            fit_intercept=self.fit_intercept,
            special={"cluster": self.cluster},
        )

    def _linear_predictor(self, X) -> np.ndarray:
        check_is_fitted(self, "results_")
        design = self._design(X, reset=False)
        return design.matrix.to_numpy() @ self.params_.to_numpy()

    def _fit_glm(self, design, y, family):
        cov_type, cov_kwds = cov_arguments(
            self.cov_type, design.special.get("cluster"), self.cluster
        )
        model = sm.GLM(y, design.matrix, family=family)
        with warnings.catch_warnings():
            # statsmodels' own convergence warning is replaced by ours below
            warnings.simplefilter("ignore", category=sm_exceptions.ConvergenceWarning)
            res, n_iter = fit_glm_at_optimum(model, self.tol, self.max_iter, cov_type, cov_kwds)
        if not getattr(res, "converged", True):
            warnings.warn(
                f"IRLS did not converge in max_iter={self.max_iter} iterations (tol={self.tol}); "
                f"the estimates and standard errors may be inaccurate. Increase max_iter, or "
                f"check for separation or collinearity.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.n_iter_ = n_iter
        n, p = design.matrix.shape
        # complete-data df: residual df n - p, as mice uses df.residual of glm
        self._set_fitted(res, design.names, res.cov_params(), n - p, n, res.llf, self.fit_intercept)
        return self


class OLSRegressor(RegressorMixin, _StatsmodelsLinear):
    """Ordinary least squares on statsmodels' OLS, with model-based or robust covariance.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Add a constant column named ``"intercept"``.
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"}, default="nonrobust"
        ``"nonrobust"``: sigma² (Z'Z)^-1 with sigma² = RSS / (n - p), R's
        ``vcov(lm)``. ``"HC0"``-``"HC3"``: White's heteroskedasticity-consistent
        sandwich and its small-sample variants (MacKinnon & White 1985), R's
        ``sandwich::vcovHC(type=)``. ``"cluster"``: cluster-robust sandwich with
        the factor G/(G - 1) (n - 1)/(n - p), R's ``sandwich::vcovCL(type = "HC1")``.
    cluster : str or int, default=None
        The column of X (name, or position for arrays) holding the cluster ids
        for ``cov_type="cluster"``. It is excluded from the design matrix, and
        being part of X it stays aligned with the rows through imputation.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        Slopes, in the order of X's columns (special columns excluded).
    intercept_ : float
        The intercept (0.0 when ``fit_intercept=False``).
    params_ : pandas.Series
        All estimates (intercept first) labelled with the term names.
    cov_ : pandas.DataFrame
        Covariance matrix of ``params_`` of the chosen ``cov_type``.
    std_error_ : pandas.Series
        Square roots of the diagonal of ``cov_``.
    nobs_ : int
        Number of observations.
    dfcom_ : float
        Complete-data degrees of freedom, the residual df n - p (as mice
        takes ``df.residual``; for cluster-robust covariance the effective
        df is nearer G - 1: pass ``dfcom=`` to the pooling to use that).
    loglike_ : float
        Gaussian log-likelihood at the estimates (sigma² = RSS / n), R's
        ``logLik(lm)``.
    results_ : statsmodels RegressionResultsWrapper
        The statsmodels fit (used by :func:`skmipool.compare` for D2 and D3).
    n_features_in_ : int
        Number of columns of X seen in fit (special columns included).
    feature_names_in_ : ndarray of str
        Column names of X (DataFrame input only).

    See Also
    --------
    skmipool.models.FormulaModel : the same model from an R-style formula.

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.models import OLSRegressor
    >>> df = load_nhanes().dropna()
    >>> ols = OLSRegressor(cov_type="HC3").fit(df[["age", "bmi"]], df["chl"])
    >>> ols.params_.round(3)
    intercept   -80.194
    age          53.069
    bmi           6.884
    Name: estimate, dtype: float64
    >>> ols.dfcom_, ols.nobs_
    (10.0, 13)
    """

    _parameter_constraints: ClassVar[dict] = {
        "fit_intercept": ["boolean"],
        "cov_type": [StrOptions({"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"})],
        "cluster": [str, Integral, None],
    }

    def __init__(self, fit_intercept=True, cov_type="nonrobust", cluster=None):
        self.fit_intercept = fit_intercept
        self.cov_type = cov_type
        self.cluster = cluster

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by least squares.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Predictors, plus the cluster column if ``cluster`` is set. No NaN.
        y : array-like of shape (n_samples,)
            Outcome.

        Returns
        -------
        self : OLSRegressor
        """
        design = self._design(X, reset=True)
        y = check_target(self, y, design.matrix.shape[0])
        check_identified(design)
        cov_type, cov_kwds = cov_arguments(
            self.cov_type, design.special.get("cluster"), self.cluster
        )
        res = sm.OLS(y, design.matrix).fit(cov_type=cov_type, cov_kwds=cov_kwds)
        n, p = design.matrix.shape
        self._set_fitted(res, design.names, res.cov_params(), n - p, n, res.llf, self.fit_intercept)
        return self

    def predict(self, X):
        """Fitted values Z b.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The columns seen in fit (the cluster column is ignored).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._linear_predictor(X)


class GLMRegressor(RegressorMixin, _StatsmodelsLinear):
    """Generalized linear model on statsmodels' GLM (IRLS), with model-based or robust covariance.

    Parameters
    ----------
    family : str or statsmodels family, default="gaussian"
        ``"gaussian"``, ``"binomial"``, ``"poisson"``, ``"gamma"``,
        ``"inverse_gaussian"`` (canonical links, as R's ``glm``), or a
        statsmodels family instance for another link, e.g.
        ``sm.families.Gamma(sm.families.links.Log())``.
    fit_intercept : bool, default=True
        Add a constant column named ``"intercept"``.
    cov_type : {"nonrobust", "HC0", "cluster"}, default="nonrobust"
        ``"nonrobust"``: inverse Fisher information times the Pearson
        dispersion (1 for binomial and Poisson), R's ``vcov(glm)``.
        ``"HC0"``: the sandwich, R's ``sandwich::vcovHC(type = "HC0")``.
        ``"cluster"``: cluster-robust sandwich with the factor
        G/(G - 1) (n - 1)/(n - p), R's ``sandwich::vcovCL(type = "HC1")``.
    cluster : str or int, default=None
        The column of X holding the cluster ids for ``cov_type="cluster"``;
        excluded from the design matrix.
    tol : float, default=1e-12
        IRLS convergence tolerance (relative change of the deviance). Tight, so
        that the covariance is evaluated at the converged estimate.
    max_iter : int, default=100
        Maximum number of IRLS iterations.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        Slopes on the link scale.
    intercept_ : float
        The intercept (0.0 when ``fit_intercept=False``).
    params_ : pandas.Series
        All estimates (intercept first) labelled with the term names.
    cov_ : pandas.DataFrame
        Covariance matrix of ``params_``.
    std_error_ : pandas.Series
        Standard errors.
    nobs_ : int
        Number of observations.
    dfcom_ : float
        Complete-data df: the residual df n - p, as mice uses for ``glm``.
    loglike_ : float
        Log-likelihood at the estimates (R's ``logLik(glm)``).
    results_ : statsmodels GLMResultsWrapper
        The statsmodels fit.
    n_iter_ : int
        Number of IRLS iterations.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X (DataFrame input only).

    Examples
    --------
    >>> from skmipool.datasets import load_stanford2
    >>> from skmipool.models import GLMRegressor
    >>> df = load_stanford2().dropna()
    >>> glm = GLMRegressor(family="binomial").fit(df[["age", "t5"]], df["status"])
    >>> glm.std_error_.round(4)
    intercept    0.7341
    age          0.0162
    t5           0.3070
    Name: std_error, dtype: float64
    """

    _parameter_constraints: ClassVar[dict] = {
        "family": [str, HasMethods(["loglike", "starting_mu"])],
        "fit_intercept": ["boolean"],
        "cov_type": [StrOptions(_GLM_COV_TYPES)],
        "cluster": [str, Integral, None],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        family="gaussian",
        fit_intercept=True,
        cov_type="nonrobust",
        cluster=None,
        tol=1e-12,
        max_iter=100,
    ):
        self.family = family
        self.fit_intercept = fit_intercept
        self.cov_type = cov_type
        self.cluster = cluster
        self.tol = tol
        self.max_iter = max_iter

    def _family(self):
        return resolve_family(self.family)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            family = self._family()
        except (TypeError, ValueError):
            return tags
        tags.target_tags.positive_only = not isinstance(family, sm.families.Gaussian)
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by iteratively reweighted least squares.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Predictors, plus the cluster column if ``cluster`` is set. No NaN.
        y : array-like of shape (n_samples,)
            Outcome (0/1 for binomial, counts for Poisson).

        Returns
        -------
        self
        """
        family = self._family()
        design = self._design(X, reset=True)
        y = check_target(self, y, design.matrix.shape[0])
        check_outcome_range(y, family)
        check_identified(design)
        return self._fit_glm(design, y, family)

    def predict(self, X):
        """Mean response: the inverse link of the linear predictor.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        eta = self._linear_predictor(X)
        return self.results_.model.family.link.inverse(eta)

    def score(self, X, y, sample_weight=None):
        """D², the fraction of deviance explained (as scikit-learn's GLMs).

        ``1 - D(y, mu) / D(y, mean(y))`` with the family's deviance D.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        mu = self.predict(X)
        y = check_target(self, y, mu.shape[0])
        w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        family = self.results_.model.family
        dev = family.deviance(y, mu, freq_weights=w)
        null = family.deviance(y, np.full_like(y, np.average(y, weights=w)), freq_weights=w)
        return float(1.0 - dev / null)


class PoissonRegressor(GLMRegressor):
    """Poisson log-linear model for counts, on statsmodels' GLM.

    The unpenalized maximum-likelihood fit with model-based (inverse Fisher
    information) standard errors, R's ``glm(family = poisson)``. Unlike
    scikit-learn's PoissonRegressor it has no penalty.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Add a constant column named ``"intercept"``.
    cov_type : {"nonrobust", "HC0", "cluster"}, default="nonrobust"
        ``"HC0"`` gives the sandwich often used for rate ratios of binary
        outcomes ("modified Poisson", Zou 2004).
    cluster : str or int, default=None
        The column of X holding the cluster ids for ``cov_type="cluster"``.
    tol : float, default=1e-12
        IRLS convergence tolerance.
    max_iter : int, default=100
        Maximum number of IRLS iterations.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        Log rate ratios.
    intercept_ : float
        The intercept (0.0 when ``fit_intercept=False``).
    params_ : pandas.Series
        All estimates labelled with the term names.
    cov_ : pandas.DataFrame
        Covariance matrix of ``params_``.
    std_error_ : pandas.Series
        Standard errors.
    nobs_ : int
        Number of observations.
    dfcom_ : float
        Complete-data df n - p.
    loglike_ : float
        Poisson log-likelihood at the estimates.
    results_ : statsmodels GLMResultsWrapper
        The statsmodels fit.
    n_iter_ : int
        Number of IRLS iterations.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X (DataFrame input only).

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.models import PoissonRegressor
    >>> df = load_nhanes().dropna()
    >>> pois = PoissonRegressor().fit(df[["age", "bmi"]], df["chl"])
    >>> pois.coef_.round(4)
    array([0.2821, 0.039 ])
    """

    _parameter_constraints: ClassVar[dict] = {
        k: v for k, v in GLMRegressor._parameter_constraints.items() if k != "family"
    }

    def __init__(
        self, fit_intercept=True, cov_type="nonrobust", cluster=None, tol=1e-12, max_iter=100
    ):
        self.fit_intercept = fit_intercept
        self.cov_type = cov_type
        self.cluster = cluster
        self.tol = tol
        self.max_iter = max_iter

    def _family(self):
        return sm.families.Poisson()


class LogitClassifier(ClassifierMixin, _StatsmodelsLinear):
    """Binary logistic regression on statsmodels' GLM (binomial, logit link).

    The unpenalized maximum-likelihood fit with inverse-Fisher-information
    standard errors, R's ``glm(family = binomial)``. The model is for the
    probability of the second class in ``classes_`` (sorted labels; for
    ``"no"``/``"yes"`` that is ``"yes"``, as R models the second factor level).

    Parameters
    ----------
    fit_intercept : bool, default=True
        Add a constant column named ``"intercept"``.
    cov_type : {"nonrobust", "HC0", "cluster"}, default="nonrobust"
        Model-based, sandwich or cluster-robust covariance (see GLMRegressor).
    cluster : str or int, default=None
        The column of X holding the cluster ids for ``cov_type="cluster"``.
    tol : float, default=1e-12
        IRLS convergence tolerance.
    max_iter : int, default=100
        Maximum number of IRLS iterations.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels; the model is for ``P(y = classes_[1])``.
    coef_ : ndarray of shape (1, n_terms)
        Log odds ratios (scikit-learn's shape for binary classifiers).
    intercept_ : ndarray of shape (1,)
        The intercept (zero when ``fit_intercept=False``).
    params_ : pandas.Series
        All estimates labelled with the term names.
    cov_ : pandas.DataFrame
        Covariance matrix of ``params_``.
    std_error_ : pandas.Series
        Standard errors.
    nobs_ : int
        Number of observations.
    dfcom_ : float
        Complete-data df n - p, as mice takes ``df.residual`` of ``glm``.
    loglike_ : float
        Binomial log-likelihood at the estimates.
    results_ : statsmodels GLMResultsWrapper
        The statsmodels fit.
    n_iter_ : int
        Number of IRLS iterations.
    n_features_in_ : int
        Number of columns of X seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X (DataFrame input only).

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes2
    >>> from skmipool.models import LogitClassifier
    >>> df = load_nhanes2().dropna()
    >>> clf = LogitClassifier().fit(df[["bmi", "chl"]], df["hyp"])
    >>> clf.classes_.tolist()
    ['no', 'yes']
    >>> clf.predict_proba(df[["bmi", "chl"]]).shape
    (13, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        k: v for k, v in GLMRegressor._parameter_constraints.items() if k != "family"
    }

    def __init__(
        self, fit_intercept=True, cov_type="nonrobust", cluster=None, tol=1e-12, max_iter=100
    ):
        self.fit_intercept = fit_intercept
        self.cov_type = cov_type
        self.cluster = cluster
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by iteratively reweighted least squares.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Predictors, plus the cluster column if ``cluster`` is set. No NaN.
        y : array-like of shape (n_samples,)
            Two class labels (numbers, strings, booleans or a categorical).

        Returns
        -------
        self : LogitClassifier
        """
        design = self._design(X, reset=True)
        labels = check_target(self, y, design.matrix.shape[0], numeric=False)
        check_classification_targets(labels)
        classes = _class_labels(y, labels)
        if classes.size != 2:
            raise ValueError(
                f"Only binary classification is supported: LogitClassifier is a binary model, "
                f"but y has {classes.size} class(es): "
                f"{classes.tolist()}. It needs exactly two classes (one class: nothing to "
                f"model; more: use a multinomial model, e.g. FormulaModel with "
                f"model=statsmodels.api.MNLogit)."
            )
        self.classes_ = classes
        y01 = (labels == classes[1]).astype(np.float64)
        check_identified(design)
        self._fit_glm(design, y01, sm.families.Binomial())
        self.coef_ = self.coef_.reshape(1, -1)
        self.intercept_ = np.atleast_1d(np.asarray(self.intercept_, dtype=float))
        return self

    def decision_function(self, X):
        """Linear predictor (log odds of ``classes_[1]``).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._linear_predictor(X)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """The more probable class.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]


def _class_labels(y_in, labels: np.ndarray) -> np.ndarray:
    """Sorted labels, or a categorical's own level order (R's factor levels)."""
    dtype = getattr(y_in, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):
        present = set(pd.unique(labels))
        return np.asarray([c for c in dtype.categories if c in present], dtype=object)
    return np.unique(labels)
