"""scikit-learn estimators backed by statsmodels, with the standard errors statisticians trust.

Each estimator keeps its statsmodels fit in ``results_`` and exposes
``coef_``, ``params_``, ``cov_``, ``nobs_``, the complete-data df ``dfcom_``
and ``loglike_``; its ``get_estimate()`` hands these to :func:`skmipool.pool`
and :class:`skmipool.MIPooledEstimator`, and :func:`skmipool.compare` reads
``results_`` for D2 (likelihood) and D3.

- :class:`OLSRegressor`: least squares; model-based, HC0-HC3 or cluster-robust covariance.
- :class:`GLMRegressor`: generalized linear models (gaussian, binomial, poisson, gamma, ...).
- :class:`PoissonRegressor`: the Poisson log-linear model.
- :class:`LogitClassifier`: binary logistic regression with ``predict_proba``.
- :class:`MixedLM`: linear mixed model (random intercept and slopes, REML or ML), R's ``lmer``.
- :class:`CoxPHRegressor`: Cox model, Efron or Breslow ties, strata, R's robust variance.
- :class:`FormulaModel`: any of these from an R-style formula on one DataFrame; formulas
  are parsed by skmipool's own grammar (never evaluated), and text outside it is a
  :class:`FormulaError` naming the token and its position.
"""

from skmipool.models._cox import CoxPHRegressor, concordance_index, cox_score_residuals
from skmipool.models._formula import FormulaModel
from skmipool.models._formula_grammar import FormulaError
from skmipool.models._glm import GLMRegressor, LogitClassifier, OLSRegressor, PoissonRegressor
from skmipool.models._mixed import MixedLM

__all__ = [
    "CoxPHRegressor",
    "FormulaError",
    "FormulaModel",
    "GLMRegressor",
    "LogitClassifier",
    "MixedLM",
    "OLSRegressor",
    "PoissonRegressor",
    "concordance_index",
    "cox_score_residuals",
]
