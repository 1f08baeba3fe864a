"""Performance measures of one completed dataset's predictions, with their variances.

Each measure returns a :class:`Score`: the figure as reported (an AUC, a Brier
score, ...) and the figure on its inference scale with its variance there, so that
:func:`skmipool.pool_estimates` can pool the M figures with Rubin's rules (Marshall
et al. 2009: pool where the figure is close to normal; Wahl et al. 2016 for the AUC).
The arithmetic only: numpy, scipy and statsmodels, nothing of skmipool above it.

References
----------
DeLong, E. R., DeLong, D. M. and Clarke-Pearson, D. L. (1988). Comparing the areas
under two or more correlated receiver operating characteristic curves: a
nonparametric approach. *Biometrics* 44, 837-845.
Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a
receiver operating characteristic (ROC) curve. *Radiology* 143, 29-36.
Harel, O. (2009). The estimation of R² and adjusted R² in incomplete data sets using
multiple imputation. *J. Applied Statistics* 36, 1109-1118.
Marshall, A., Altman, D. G., Holder, R. L. and Royston, P. (2009). Combining estimates
of interest in prognostic modelling studies after multiple imputation: current
practice and guidelines. *BMC Medical Research Methodology* 9, 57.
Steyerberg, E. W. (2019). *Clinical Prediction Models*, 2nd ed., chapter 15
(calibration-in-the-large and the calibration slope by logistic recalibration).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import statsmodels.api as sm
from scipy import special, stats

__all__ = ["METRICS", "Metric", "Score", "auc_delong", "auc_hanley_mcneil"]

# predicted probabilities are clipped this far from 0 and 1 before taking logits
_EPS = 1e-12


class Score(NamedTuple):
    """One completed dataset's figure: as reported, and on its inference scale."""

    value: float  # reporting scale (what scikit-learn's metric returns)
    inference: float  # on the metric's inference scale
    variance: float  # of ``inference``


class Metric(NamedTuple):
    """A performance measure: what it needs, where it is pooled, how it is computed."""

    name: str
    task: str  # "classification" (probabilities of the positive class) or "regression"
    scale: str  # inference scale (a name of skmipool._scales)
    compute: Callable[[np.ndarray, np.ndarray], Score]


def _auc_and_components(y: np.ndarray, p: np.ndarray):
    """AUC and DeLong's structural components V10 (positives) and V01 (negatives).

    V10_i = share of negatives ranked below positive i (ties count one half), V01_j =
    share of positives ranked above negative j (DeLong et al. 1988, section 3); with
    mid-ranks they come from three rankings (Sun & Xu 2014, "fast DeLong").
    """
    pos, neg = p[y], p[~y]
    n1, n0 = pos.size, neg.size
    rank_all = stats.rankdata(np.concatenate([pos, neg]))
    v10 = (rank_all[:n1] - stats.rankdata(pos)) / n0
    v01 = 1.0 - (rank_all[n1:] - stats.rankdata(neg)) / n1
    return float(v10.mean()), v10, v01


def auc_delong(y, p) -> tuple[float, float]:
    """AUC and its DeLong et al. (1988) variance S10/n1 + S01/n0."""
    auc, v10, v01 = _auc_and_components(np.asarray(y, dtype=bool), np.asarray(p, dtype=float))
    # DeLong et al. (1988), eq. 4 for one curve: var = S10 / n1 + S01 / n0
    return auc, float(v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size)


def auc_hanley_mcneil(y, p) -> tuple[float, float]:
    """AUC and its Hanley & McNeil (1982) variance."""
    y = np.asarray(y, dtype=bool)
    auc, _, _ = _auc_and_components(y, np.asarray(p, dtype=float))
    n1, n0 = int(y.sum()), int((~y).sum())
    # Hanley & McNeil (1982), eq. 2, with Q1 = A / (2 - A), Q2 = 2 A² / (1 + A)
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return auc, float(var)


def _logit_score(value: float, variance: float) -> Score:
    if not 0.0 < value < 1.0:
        return Score(value, np.nan, np.nan)  # AUC 0 or 1: no logit; the caller says so
    # delta method to the logit scale: var(logit A) = var(A) / (A (1 - A))²
    return Score(value, float(special.logit(value)), variance / (value * (1.0 - value)) ** 2)


def roc_auc_delong(y, p) -> Score:
    return _logit_score(*auc_delong(y, p))


def roc_auc_hanley_mcneil(y, p) -> Score:
    return _logit_score(*auc_hanley_mcneil(y, p))


def brier(y, p) -> Score:
    """Mean squared difference of probability and outcome; variance var((p - y)²) / n."""
    loss = (np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2
    value = float(loss.mean())
    return Score(value, value, float(loss.var(ddof=1) / loss.size))


def _logit_of(p) -> np.ndarray:
    return special.logit(np.clip(np.asarray(p, dtype=float), _EPS, 1.0 - _EPS))


def _fit_logistic(y, design, offset=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a perfect predictor is reported by its huge SE
        model = sm.GLM(
            np.asarray(y, dtype=float), design, family=sm.families.Binomial(), offset=offset
        )
        return model.fit()


def calibration_intercept(y, p) -> Score:
    """Calibration-in-the-large: a in logit P(y) = a + offset(logit p) (Steyerberg 2019, 15.2)."""
    lp = _logit_of(p)
    res = _fit_logistic(y, np.ones((lp.size, 1)), offset=lp)
    a, se = float(res.params[0]), float(res.bse[0])
    return Score(a, a, se**2)


def calibration_slope(y, p) -> Score:
    """Calibration slope: b in logit P(y) = a + b logit p (Cox 1958; Steyerberg 2019, 15.2)."""
    lp = _logit_of(p)
    res = _fit_logistic(y, np.column_stack([np.ones(lp.size), lp]))
    b, se = float(res.params[1]), float(res.bse[1])
    return Score(b, b, se**2)


def r2(y, pred) -> Score:
    """1 - SSE / SST (scikit-learn's r2_score), pooled on Harel's (2009) Fisher z scale."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    value = 1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    # Harel (2009), eq. 3: z = atanh(R), var 1 / (n - 3); a negative R² enters as
    # -sqrt(|R²|), as in pool_r_squared and mice >= 3.18
    z = float(np.arctanh(np.sign(value) * np.sqrt(min(abs(value), 1.0 - _EPS))))
    return Score(float(value), z, 1.0 / (y.size - 3.0))


def rmse(y, pred) -> Score:
    """Root mean squared error, pooled on the log scale."""
    sq = (np.asarray(y, dtype=float) - np.asarray(pred, dtype=float)) ** 2
    mse = float(sq.mean())
    var_mse = float(sq.var(ddof=1) / sq.size)
    # delta method: log RMSE = log(MSE) / 2, so var = var(MSE) / (4 MSE²)
    return Score(float(np.sqrt(mse)), 0.5 * float(np.log(mse)), var_mse / (4.0 * mse**2))


METRICS = {
    "roc_auc": Metric("roc_auc", "classification", "logit", roc_auc_delong),
    "brier": Metric("brier", "classification", "identity", brier),
    "calibration_intercept": Metric(
        "calibration_intercept", "classification", "identity", calibration_intercept
    ),
    "calibration_slope": Metric(
        "calibration_slope", "classification", "identity", calibration_slope
    ),
    "r2": Metric("r2", "regression", "r_squared", r2),
    "rmse": Metric("rmse", "regression", "log", rmse),
}
