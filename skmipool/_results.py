"""The pooled result object and its printed summary."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from skmipool._estimate import check_model_terms, check_variance_components
from skmipool._pool import (
    BootstrapMIComponents,
    RubinComponents,
    _check_dfcom,
    _coerce_covariances,
    _coerce_estimates,
    bootstrap_mi_pool,
    check_small_sample_df,
    combining_rule,
    validate_imputations,
)
from skmipool._scales import get_transform
from skmipool._validation import as_pandas, check_integer, check_real, real_array
from skmipool._wald import constraint_test, d1_test

__all__ = [
    "BootstrapMIResult",
    "PooledResult",
    "Summary",
    "how_many_imputations",
    "pool_estimates",
]


# White, Royston & Wood (2011), section 7.3: Monte Carlo error of an estimate < 10% of its SE
MC_ERROR_LIMIT = 0.1


def check_level(level) -> float:
    """Validate a confidence level in (0, 1)."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise TypeError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}.") from None
    if not 0.0 < value < 1.0:
        raise ValueError(
            f"level must lie strictly between 0 and 1 (0.95 for a 95% interval); got {level!r}."
        )
    return value


def t_quantile(p: float, df) -> np.ndarray:
    """Quantile of t(df); df = inf gives the normal quantile."""
    return stats.t.ppf(p, np.asarray(df, dtype=float))


def how_many_imputations(fmi, n_imputations: int, *, cv: float = 0.05, level: float = 0.95):
    """Number of imputations for a stable standard error (von Hippel 2020).

    Parameters
    ----------
    fmi : float or array-like
        Fraction of missing information estimated from a pilot of
        ``n_imputations`` imputations.
    n_imputations : int
        Number of imputations the FMI was estimated from.
    cv : float, default=0.05
        Target coefficient of variation of the standard error across
        repetitions of the whole imputation.
    level : float, default=0.95
        Confidence level of the upper bound of the FMI used by the two-stage rule.

    Returns
    -------
    int
        ``ceil(1 + 0.5 * (fmi_upper / cv)^2)``, the quadratic rule of von Hippel
        (2020, eq. 8) at the upper confidence bound of the FMI, computed on the
        logit scale with standard error ``sqrt(2 / M)`` (von Hippel 2020, eq. 11).
        The largest value over the FMIs given is returned.

    Examples
    --------
    >>> from skmipool import how_many_imputations
    >>> how_many_imputations(0.3, 20)
    41
    """
    f = np.atleast_1d(real_array("fmi", fmi))
    if f.size == 0 or np.any(np.isnan(f) | (f < 0) | (f > 1)):
        raise ValueError(f"fmi must be fractions in [0, 1] (at least one); got {fmi!r}.")
    f = np.clip(f, 1e-12, 1 - 1e-12)
    n_imputations = check_integer("n_imputations", n_imputations, 2)
    cv = check_real("cv", cv, low=0.0, low_open=True, high=math.inf, high_open=True)
    z = stats.norm.ppf(0.5 + check_level(level) / 2.0)
    logit_upper = np.log(f / (1 - f)) + z * math.sqrt(2.0 / n_imputations)
    f_upper = 1.0 / (1.0 + np.exp(-logit_upper))
    return int(np.ceil(1.0 + 0.5 * (f_upper.max() / cv) ** 2))


class PooledResult:
    """Estimates pooled over M imputations by Rubin's rules (or Reiter's, see ``rule``).

    Built by :func:`skmipool.pool_estimates`, :func:`skmipool.pool` and
    :class:`skmipool.MIPooledEstimator`; not meant to be constructed directly.
    Every property is a pandas object indexed by term name.

    Parameters
    ----------
    estimates : ndarray of shape (M, k)
    covariances : ndarray of shape (M, k) or (M, k, k)
    names : list of str
    dfcom : float
        Complete-data df (``inf`` for large samples).
    nobs : ndarray of shape (M,), optional
        Number of observations of each completed-data analysis.
    transform : Transform, optional
        Inference scale the estimates are on (identity by default); see
        :func:`skmipool.pool_estimates`.
    model_terms : mapping of term to coefficient names, optional
        The terms of the analysis model (see :meth:`wald_test_terms`).
    variance_components : DataFrame of shape (M, c), optional
        Each imputation's variance components (columns), reported by
        :attr:`variance_components`.
    rule : {"rubin1987", "reiter2003"}, default="rubin1987"
        Combining rule (see :func:`skmipool.pool_estimates`).

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool import pool_estimates
    >>> res = pool_estimates(np.array([1.0, 1.2, 0.9]), np.array([0.04, 0.05, 0.04]), dfcom=30)
    >>> res.conf_int().round(3)
          lower  upper
    term
    x0    0.383  1.684
    """

    def __init__(
        self,
        estimates,
        covariances,
        names,
        *,
        dfcom=np.inf,
        nobs=None,
        transform=None,
        model_terms=None,
        variance_components=None,
        rule="rubin1987",
    ):
        self._rule = combining_rule(rule)
        self._transform = get_transform(transform)
        self._q = np.asarray(estimates, dtype=float)
        self._u = np.asarray(covariances, dtype=float)
        self._names = pd.Index([str(n) for n in names], name="term")
        self._dfcom = float(dfcom)
        self._nobs = None if nobs is None else np.asarray(nobs)
        self._model_terms = (
            None if model_terms is None else check_model_terms(model_terms, list(self._names))
        )
        self._vc = _variance_component_frame(variance_components, self._q.shape[0])

    # ------------------------------------------------------------------ core
    @property
    def _full(self) -> bool:
        return self._u.ndim == 3

    @cached_property
    def _components(self) -> RubinComponents:
        diag = np.diagonal(self._u, axis1=1, axis2=2) if self._full else self._u
        return self._rule.pool(self._q, diag, self._dfcom)

    @cached_property
    def _matrices(self):
        u = self._u if self._full else np.apply_along_axis(np.diag, 1, self._u)
        _, ubar, b, t = self._rule.moments(self._q, u)
        return ubar, b, t

    def _series(self, values, name) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=float), index=self._names, name=name)

    def _frame(self, values) -> pd.DataFrame:
        return pd.DataFrame(values, index=self._names, columns=self._names.rename(None))

    # ------------------------------------------------------------ properties
    @property
    def terms(self) -> pd.Index:
        """Term names."""
        return self._names

    @property
    def n_imputations(self) -> int:
        """Number of imputations M."""
        return self._q.shape[0]

    @property
    def scale(self) -> str:
        """Name of the inference scale: where pooling happened and where the SE lives."""
        return self._transform.name

    @property
    def rule(self) -> str:
        """Combining rule: ``"rubin1987"`` (missing data) or ``"reiter2003"`` (synthetic data)."""
        return self._rule.name

    @property
    def inference_estimate(self) -> pd.Series:
        """Pooled estimate on the inference scale (equals ``estimate`` for identity)."""
        return self._series(self._components.qbar, "estimate")

    @property
    def dfcom(self) -> float:
        """Complete-data degrees of freedom used (``inf``: large sample)."""
        return self._dfcom

    @property
    def nobs(self):
        """Observations per completed-data analysis (array of length M) or None."""
        return None if self._nobs is None else self._nobs.copy()

    @property
    def estimates(self) -> pd.DataFrame:
        """The M completed-data estimates on the inference scale (rows: imputation 1..M)."""
        return pd.DataFrame(
            self._q,
            index=pd.RangeIndex(1, self.n_imputations + 1, name="imputation"),
            columns=self._names,
        )

    @property
    def variances(self) -> pd.DataFrame:
        """The M completed-data variances (diagonals of the covariances)."""
        diag = np.diagonal(self._u, axis1=1, axis2=2) if self._full else self._u
        return pd.DataFrame(
            diag,
            index=pd.RangeIndex(1, self.n_imputations + 1, name="imputation"),
            columns=self._names,
        )

    @property
    def covariances(self) -> np.ndarray:
        """The M completed-data covariance matrices, shape (M, k, k)."""
        return self._u.copy() if self._full else np.apply_along_axis(np.diag, 1, self._u)

    @property
    def has_full_covariances(self) -> bool:
        """True when full covariance matrices (not only variances) were pooled."""
        return self._full

    @property
    def estimate(self) -> pd.Series:
        """Pooled estimate Q̄, the mean of the M estimates (Rubin 1987, eq. 3.1.2).

        With a non-identity ``scale``: Q̄ mapped back to the reporting scale.
        """
        return self._series(self._transform.inverse(self._components.qbar), "estimate")

    @property
    def within(self) -> pd.Series:
        """Within-imputation variance Ū (diagonal)."""
        return self._series(self._components.ubar, "within")

    @property
    def between(self) -> pd.Series:
        """Between-imputation variance B (diagonal)."""
        return self._series(self._components.b, "between")

    @property
    def total(self) -> pd.Series:
        """Total variance T = Ū + (1 + 1/M) B (diagonal); Ū + B/M with rule="reiter2003"."""
        return self._series(self._components.t, "total")

    def _require_full(self, what: str) -> None:
        if not self._full and len(self._names) > 1:
            raise ValueError(
                f"{what} needs the within-imputation covariances between terms, but only "
                f"variances were pooled. Pass (M, k, k) covariance matrices to pool_estimates."
            )

    @property
    def within_cov(self) -> pd.DataFrame:
        """Within-imputation covariance matrix Ū (k x k); needs pooled covariance matrices."""
        self._require_full("within_cov")
        return self._frame(self._matrices[0])

    @property
    def between_cov(self) -> pd.DataFrame:
        """Between-imputation covariance matrix B (k x k)."""
        return self._frame(self._matrices[1])

    @property
    def total_cov(self) -> pd.DataFrame:
        """Total covariance matrix T = Ū + (1 + 1/M) B (k x k; Ū + B/M with rule="reiter2003");
        needs covariance matrices."""
        self._require_full("total_cov")
        return self._frame(self._matrices[2])

    @property
    def std_error(self) -> pd.Series:
        """Pooled standard error sqrt(T), on the inference scale (see ``scale``)."""
        return self._series(np.sqrt(self._components.t), "std_error")

    @property
    def statistic(self) -> pd.Series:
        """t statistic Q̄ / sqrt(T) on the inference scale, referred to t(df)."""
        c = self._components
        return self._series(c.qbar / np.sqrt(c.t), "statistic")

    @property
    def df(self) -> pd.Series:
        """Degrees of freedom: Rubin (1987) if dfcom is infinite, else Barnard & Rubin (1999).

        With ``rule="reiter2003"``: (M - 1)(1 + Ū / (B/M))² (Reiter 2003).
        """
        return self._series(self._components.df, "df")

    @property
    def p_value(self) -> pd.Series:
        """Two-sided p-value of Q̄ = 0 from the t(df) distribution."""
        c = self._components
        stat = np.abs(c.qbar / np.sqrt(c.t))
        return self._series(2.0 * stats.t.sf(stat, c.df), "p_value")

    @property
    def riv(self) -> pd.Series:
        """Relative increase in variance due to nonresponse, (1 + 1/M) B / Ū."""
        return self._series(self._components.riv, "riv")

    @property
    def lambda_(self) -> pd.Series:
        """Proportion of total variance due to missingness, (1 + 1/M) B / T."""
        return self._series(self._components.lambda_, "lambda")

    @property
    def fmi(self) -> pd.Series:
        """Fraction of missing information, (riv + 2/(df + 3)) / (riv + 1) as in mice 3.15."""
        return self._series(self._components.fmi, "fmi")

    @property
    def relative_efficiency(self) -> pd.Series:
        """Relative efficiency of M imputations against infinitely many, (1 + fmi/M)^-1."""
        c = self._components
        return self._series(1.0 / (1.0 + c.fmi / c.m), "relative_efficiency")

    # --------------------------------------------------------------- methods
    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals from the t(df) reference distribution.

        Parameters
        ----------
        level : float, default=0.95
            Confidence level in (0, 1).

        Returns
        -------
        DataFrame
            Columns ``lower`` and ``upper``, one row per term:
            Q̄ ± t_{df, (1 + level)/2} sqrt(T), mapped back to the reporting
            scale when ``scale`` is not the identity.
        """
        c = self._components
        half = t_quantile(0.5 + check_level(level) / 2.0, c.df) * np.sqrt(c.t)
        lower, upper = self._transform.interval(c.qbar - half, c.qbar + half)
        return pd.DataFrame({"lower": lower, "upper": upper}, index=self._names)

    def to_frame(self, level: float = 0.95, exponentiate: bool = False) -> pd.DataFrame:
        """Tidy table, one row per term (the columns of ``summary(pool(fit))`` in mice).

        Parameters
        ----------
        level : float, default=0.95
            Confidence level of ``conf_low`` / ``conf_high`` (t(df) quantiles).
        exponentiate : bool, default=False
            Report ``exp(estimate)`` and the exp of the interval limits (odds,
            rate or hazard ratios). ``std_error``, ``statistic`` and ``p_value``
            stay on the model (log) scale, as in mice. With a non-identity
            ``scale`` the estimate and interval are already back-transformed
            and the other columns are on the inference scale.

        Returns
        -------
        DataFrame
            Columns ``estimate, std_error, statistic, df, p_value, conf_low,
            conf_high, riv, lambda, fmi``.

        Examples
        --------
        >>> import numpy as np
        >>> from skmipool import pool_estimates
        >>> res = pool_estimates(np.array([0.5, 0.7, 0.6]), np.array([0.01, 0.012, 0.011]))
        >>> list(res.to_frame().columns)
        ['estimate', 'std_error', 'statistic', 'df', 'p_value', 'conf_low', 'conf_high', \
'riv', 'lambda', 'fmi']
        """
        ci = self.conf_int(level)
        est = self.estimate
        if exponentiate:
            if not self._transform.is_identity:
                raise ValueError(
                    f"exponentiate=True needs estimates on the identity (log-ratio) scale; this "
                    f"result was pooled on the {self.scale!r} scale and is already reported on "
                    f"its original scale."
                )
            est, ci = np.exp(est), np.exp(ci)
        return pd.DataFrame(
            {
                "estimate": est,
                "std_error": self.std_error,
                "statistic": self.statistic,
                "df": self.df,
                "p_value": self.p_value,
                "conf_low": ci["lower"],
                "conf_high": ci["upper"],
                "riv": self.riv,
                "lambda": self.lambda_,
                "fmi": self.fmi,
            }
        )

    def _without_imputation(self, j: int) -> PooledResult:
        """The same pooling on the M - 1 imputations other than imputation ``j`` (0-based)."""
        keep = np.arange(self.n_imputations) != j
        return PooledResult(
            self._q[keep],
            self._u[keep],
            list(self._names),
            dfcom=self._dfcom,
            transform=self._transform,
            rule=self._rule.name,
        )

    def mc_error(self, level: float = 0.95) -> pd.DataFrame:
        """Monte Carlo error of every pooled figure: how much it moves between runs of M.

        The jackknife over imputations (White, Royston & Wood 2011, section
        7.1; Stata's ``mi estimate, mcerror``): each figure f is recomputed
        without imputation j, for j = 1..M, and its Monte Carlo standard error
        is ``sqrt((M - 1) / M * sum_j (f_(-j) - mean_j f_(-j))**2)``. For the
        estimate on the inference scale this equals ``sqrt(B / M)`` exactly.
        White et al. suggest M large enough that the error of an estimate is
        below 10% of its standard error, of a p-value near 0.05 below 0.01.

        Parameters
        ----------
        level : float, default=0.95
            Confidence level of the interval limits whose error is reported.

        Returns
        -------
        DataFrame
            Indexed by term; columns ``estimate, std_error, df, p_value,
            conf_low, conf_high, fmi``: the Monte Carlo standard error of each
            (on the scale :meth:`to_frame` reports it).

        Raises
        ------
        ValueError
            With fewer than 3 imputations (a leave-one-out pool needs 2).

        Examples
        --------
        >>> import numpy as np
        >>> from skmipool import pool_estimates
        >>> q = np.array([1.0, 1.2, 0.9, 1.1])
        >>> res = pool_estimates(q, np.full(4, 0.04), dfcom=30)
        >>> err = res.mc_error()
        >>> bool(np.isclose(err.loc["x0", "estimate"], np.sqrt(q.var(ddof=1) / 4)))
        True
        """
        m = self.n_imputations
        if m < 3:
            raise ValueError(
                f"the jackknife Monte Carlo error needs at least 3 imputations (each "
                f"leave-one-out pool needs 2); this result has M = {m}."
            )
        columns = ["estimate", "std_error", "df", "p_value", "conf_low", "conf_high", "fmi"]
        level = check_level(level)
        loo = np.stack(
            [self._without_imputation(j).to_frame(level)[columns].to_numpy() for j in range(m)]
        )
        # an infinite df (B = 0 without imputation j) in every pool moves by 0, in some by inf
        infinite = np.isinf(loo)
        finite = np.where(infinite, 0.0, loo)
        # White, Royston & Wood (2011), section 7.1: jackknife variance over imputations
        err = np.sqrt((m - 1) / m * np.sum((finite - finite.mean(axis=0)) ** 2, axis=0))
        err = np.where(infinite.any(axis=0) & ~infinite.all(axis=0), np.inf, err)
        return pd.DataFrame(err, index=self._names, columns=columns)

    def _mc_error_ratio(self) -> pd.Series:
        """Monte Carlo error of each estimate relative to its SE: sqrt(B / M) / sqrt(T).

        sqrt(B / M) is the jackknife error of Q̄ (White, Royston & Wood 2011, section 7.1)
        on the inference scale, where the SE is sqrt(T).
        """
        c = self._components
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._series(np.sqrt(c.b / c.m / c.t), "mc_error_ratio")

    def wald_test(self, terms=None, value=0.0, *, restriction=None, constraints=None):
        """Test several parameters at once with the D1 statistic.

        Parameters
        ----------
        terms : list of str, optional
            Terms whose coefficients are tested jointly against ``value``.
            Default: all terms.
        value : float or array-like, default=0
            Hypothesised value(s) of ``restriction @ theta``.
        restriction : array-like of shape (r, k), optional
            Restriction matrix R for H0: R theta = value; overrides ``terms``.
        constraints : str or list of str, optional
            Constraints g(theta) = 0, tested jointly, e.g. ``"ReadDis / MathDis
            = 1"`` or ``["a - b", "a * c = 2"]`` (no ``=`` means ``= 0``):
            arithmetic (``+ - * / ^``, parentheses) of term names and numbers,
            parsed by a small grammar and never evaluated as code; term names
            with other characters go in backquotes, `` `age[T.40-59]` ``. Each
            imputation's estimates are mapped by g and its covariance by the
            delta method (exact Jacobian) before D1, as mitml's
            ``testConstraints``. Not combined with ``terms``, ``value`` or
            ``restriction``; the constraints apply on the inference scale.

        Returns
        -------
        MITestResult
            D1 of Li, Raghunathan & Rubin (1991) referred to F(r, df2), with
            Reiter's (2007) df2 when ``dfcom`` is finite and the LRR df2 otherwise.

        Raises
        ------
        ValueError
            Unknown terms, linearly dependent restrictions, a constraint outside
            the grammar (the message names the token and its position), or a
            result pooled with ``rule="reiter2003"`` (D1 is a test for missing
            data, not for partially synthetic data).

        Examples
        --------
        >>> import numpy as np
        >>> from skmipool import pool_estimates
        >>> rng = np.random.default_rng(0)
        >>> est = rng.normal([1.0, 0.5], 0.1, size=(5, 2))
        >>> cov = np.tile(np.diag([0.02, 0.03]), (5, 1, 1))
        >>> res = pool_estimates(est, cov, dfcom=50, names=["a", "b"])
        >>> res.wald_test(["a", "b"]).df1
        2

        A nonlinear constraint, tested by the delta method:

        >>> res.wald_test(constraints="a / b = 2").method
        'D1'
        """
        if constraints is not None:
            if terms is not None or restriction is not None or np.any(np.asarray(value) != 0):
                raise ValueError(
                    "constraints is not combined with terms, value or restriction; write the "
                    "hypothesised value into the constraint, e.g. 'a / b = 2'."
                )
            return constraint_test(self, constraints)
        return d1_test(self, terms=terms, value=value, restriction=restriction)

    @property
    def model_terms(self) -> dict[str, list[str]]:
        """The analysis model's terms and the coefficients of each.

        A categorical predictor is one term with one coefficient per dummy.
        When the fits did not say (e.g. statsmodels results without a formula),
        every coefficient is its own term.
        """
        if self._model_terms is None:
            return {n: [n] for n in self._names}
        return {term: list(coefs) for term, coefs in self._model_terms}

    @property
    def variance_components(self) -> pd.DataFrame | None:
        """The model's variance components, averaged over the imputations.

        Random-effect variances and covariances, the residual variance and the
        ICC of a mixed model, or the frailty variance of a Cox model: each
        is the mean of its M completed-data estimates (as mitml's
        ``testEstimates(..., extra.pars = TRUE)``), with the smallest and
        largest of them. They get no standard error, test or p-value: a
        variance is bounded below by 0, so a t-test against 0 is meaningless.
        None when the analyses have no variance components.

        Returns
        -------
        DataFrame or None
            Indexed by ``component``; columns ``estimate``, ``min``, ``max``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from skmipool import pool_estimates
        >>> vc = pd.DataFrame({"Group Var": [0.70, 0.74, 0.69], "Residual Var": [0.5, 0.52, 0.49]})
        >>> res = pool_estimates(
        ...     np.array([1.0, 1.2, 0.9]), np.array([0.04, 0.05, 0.04]), variance_components=vc
        ... )
        >>> res.variance_components.round(3)
                      estimate   min   max
        component
        Group Var        0.710  0.69  0.74
        Residual Var     0.503  0.49  0.52
        """
        if self._vc is None:
            return None
        table = pd.DataFrame(
            {
                "estimate": self._vc.mean(axis=0),
                "min": self._vc.min(axis=0),
                "max": self._vc.max(axis=0),
            }
        )
        table.index.name = "component"
        return table

    @property
    def variance_component_estimates(self) -> pd.DataFrame | None:
        """Each imputation's variance components: rows imputations 1..M, None if none."""
        return None if self._vc is None else self._vc.copy()

    def wald_test_terms(self) -> pd.DataFrame:
        """One pooled D1 test per term of the analysis model (an ANOVA-style table).

        A term's coefficients (all dummies of a categorical predictor, all
        spline columns of a variable) are tested jointly against 0 with
        :meth:`wald_test`, which equals ``compare(full, null, method="D1")``
        for the full model and the model without that term (the counterpart
        of ``mitml::testModels`` or ``mice::D1`` on nested fits, term by term).
        The intercept is not tested. Named after statsmodels'
        ``wald_test_terms``.

        Returns
        -------
        DataFrame
            Indexed by term, columns ``statistic`` (F), ``df1`` (number of
            coefficients), ``df2`` (Reiter's 2007 small-sample df when
            ``dfcom`` is finite, else Li, Raghunathan & Rubin's), ``p_value``
            (upper tail of F(df1, df2)) and ``riv``.

        Examples
        --------
        >>> import numpy as np
        >>> from skmipool import pool_estimates
        >>> rng = np.random.default_rng(0)
        >>> est = rng.normal([1.0, 0.5, 0.2, 0.1], 0.1, size=(5, 4))
        >>> cov = np.tile(np.diag([0.02, 0.03, 0.03, 0.01]), (5, 1, 1))
        >>> names = ["intercept", "age[T.40-59]", "age[T.60-99]", "bmi"]
        >>> terms = {"age": ["age[T.40-59]", "age[T.60-99]"], "bmi": ["bmi"]}
        >>> res = pool_estimates(est, cov, dfcom=20, names=names, model_terms=terms)
        >>> res.wald_test_terms()["df1"].tolist()
        [2, 1]
        """
        rows = {}
        for term, coefs in self.model_terms.items():
            test = self.wald_test(coefs)
            rows[term] = {
                "statistic": test.statistic,
                "df1": test.df1,
                "df2": test.df2,
                "p_value": test.p_value,
                "riv": test.riv,
            }
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "term"
        return table

    def summary(self, level: float = 0.95, exponentiate: bool = False) -> Summary:
        """Printable summary: the pooled table and a footer of MI diagnostics.

        The footer gives M, dfcom, the largest FMI, the smallest df, the smallest
        relative efficiency and the number of imputations von Hippel (2020)
        recommends (see :func:`how_many_imputations`).
        """
        return Summary(self, level=level, exponentiate=exponentiate)

    def __repr__(self) -> str:
        return (
            f"<PooledResult: {len(self._names)} terms, M={self.n_imputations}, "
            f"dfcom={self._dfcom:g}, scale={self.scale}>"
        )

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


class BootstrapMIResult(PooledResult):
    """Estimates pooled by bootstrap then impute (von Hippel & Bartlett 2021).

    B bootstrap resamples of the incomplete data, each imputed D times and
    analysed: the estimate is the grand mean of the B x D estimates, its
    variance and df come from their one-way ANOVA (see
    :func:`skmipool._pool.bootstrap_mi_pool`). Valid without a Bayesianly
    proper imputer and when the imputation and analysis models are
    uncongenial. Built by ``MIPooledEstimator(inference="bootstrap")``.

    The table, intervals and tests of single terms are those of
    :class:`PooledResult`. ``between`` is the variance between resamples and
    ``within`` the variance between the imputations of one resample; Rubin's
    ``riv``, ``lambda_``, ``fmi`` and ``relative_efficiency`` have no
    counterpart and are NaN. Tests of several parameters and the Monte Carlo
    error are Rubin's and refused.

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool import BootstrapMIResult
    >>> rng = np.random.default_rng(0)
    >>> q = rng.normal(1.0, 0.2, size=(50, 2, 1)) + rng.normal(0, 0.05, size=(50, 2, 1))
    >>> res = BootstrapMIResult(q, np.full((50, 2, 1), 0.04), ["x"])
    >>> res.estimate.round(2).tolist(), res.n_bootstrap, res.n_imputations_per_resample
    ([1.01], 50, 2)
    """

    def __init__(self, estimates, covariances, names, **kwargs):
        q = np.asarray(estimates, dtype=float)
        u = np.asarray(covariances, dtype=float)
        if q.ndim != 3:
            raise ValueError(f"estimates must have shape (B, D, k); got {q.shape}.")
        self._shape = q.shape[:2]
        flat = (q.shape[0] * q.shape[1],)
        super().__init__(
            q.reshape(flat + q.shape[2:]), u.reshape(flat + u.shape[2:]), names, **kwargs
        )

    @cached_property
    def _components(self) -> BootstrapMIComponents:
        return bootstrap_mi_pool(self._q.reshape(*self._shape, -1))

    @property
    def n_bootstrap(self) -> int:
        """Number of bootstrap resamples B."""
        return self._shape[0]

    @property
    def n_imputations_per_resample(self) -> int:
        """Number of imputations D of each resample."""
        return self._shape[1]

    def _refuse(self, what: str):
        raise ValueError(
            f"{what} is built on Rubin's within/between decomposition, which bootstrap then "
            f"impute does not have. Use the table's single-term tests and intervals, or "
            f'inference="rubin".'
        )

    def _require_full(self, what: str) -> None:
        self._refuse(what)

    @property
    def _matrices(self):
        self._refuse("a pooled covariance matrix (within_cov, between_cov, total_cov)")

    def wald_test(self, terms=None, value=0.0, *, restriction=None, constraints=None):
        """Refused: the D1 test of several parameters needs Rubin's decomposition."""
        self._refuse("wald_test")

    def wald_test_terms(self) -> pd.DataFrame:
        """Refused: see :meth:`wald_test`."""
        self._refuse("wald_test_terms")

    def mc_error(self, level: float = 0.95) -> pd.DataFrame:
        """Refused: the jackknife over imputations assumes Rubin's pooling."""
        self._refuse("mc_error")

    def _mc_error_ratio(self) -> pd.Series:
        return self._series(np.full(len(self._names), np.nan), "mc_error_ratio")

    def to_frame(self, level: float = 0.95, exponentiate: bool = False) -> pd.DataFrame:
        """The pooled table: Rubin's columns without riv, lambda and fmi (no counterpart)."""
        return super().to_frame(level, exponentiate).drop(columns=["riv", "lambda", "fmi"])

    def __repr__(self) -> str:
        return (
            f"<BootstrapMIResult: {len(self._names)} terms, B={self.n_bootstrap}, "
            f"D={self.n_imputations_per_resample}, scale={self.scale}>"
        )


class Summary:
    """Printable pooled table with an MI footer (``print`` gives text; notebooks HTML)."""

    def __init__(
        self,
        result: PooledResult,
        level: float = 0.95,
        exponentiate: bool = False,
        notes: dict | None = None,
    ):
        self.result = result
        self.notes = dict(notes or {})
        self.level = check_level(level)
        self.exponentiate = exponentiate
        self.table = result.to_frame(level=level, exponentiate=exponentiate)

    @property
    def footer(self) -> dict:
        """The MI diagnostics of the footer as a dict."""
        r = self.result
        if isinstance(r, BootstrapMIResult):
            return {
                "Method": "bootstrap then impute (von Hippel & Bartlett 2021)",
                "Bootstrap resamples (B)": r.n_bootstrap,
                "Imputations per resample (D)": r.n_imputations_per_resample,
                "Smallest df": float(r.df.min()),
                **self.notes,
            }
        if r.rule == "reiter2003":
            # partially synthetic data: no fraction of missing information (mice reports NA)
            return {
                "Synthetic datasets (M)": r.n_imputations,
                "Combining rule": "Reiter (2003), partially synthetic data",
                "Smallest df": float(r.df.min()),
                **self.notes,
            }
        return {
            "Imputations (M)": r.n_imputations,
            "Complete-data df": r.dfcom,
            "Largest FMI": float(r.fmi.max()),
            "Smallest df": float(r.df.min()),
            "Smallest relative efficiency": float(r.relative_efficiency.min()),
            "Recommended M (von Hippel 2020)": how_many_imputations(r.fmi.max(), r.n_imputations),
            **self.notes,
            **self._mc_footer(),
        }

    @property
    def title(self) -> str:
        """The method: Rubin's rules, Reiter's (synthetic data) or bootstrap then impute."""
        if isinstance(self.result, BootstrapMIResult):
            return "Multiple imputation: bootstrap then impute"
        if self.result.rule == "reiter2003":
            return "Partially synthetic data: Reiter's (2003) rules"
        return "Multiple imputation: Rubin's rules"

    def _mc_footer(self) -> dict:
        """The largest Monte Carlo error of an estimate, and a word when M is too small.

        White, Royston & Wood (2011, section 7.3) ask for a Monte Carlo error of each
        estimate below 10% of its standard error; it shrinks as 1/sqrt(M), so
        M * (ratio / 0.1)**2 imputations reach that.
        """
        ratio = self.result._mc_error_ratio()
        if not np.isfinite(ratio).any():
            return {}
        term = ratio.idxmax()
        out = {"Largest Monte Carlo error of an estimate": f"{ratio[term]:.2g} SE ({term})"}
        if ratio[term] > MC_ERROR_LIMIT:
            needed = math.ceil(self.result.n_imputations * (ratio[term] / MC_ERROR_LIMIT) ** 2)
            out["M too small for the reported digits"] = (
                f"use about {needed} imputations for a Monte Carlo error below "
                f"{MC_ERROR_LIMIT:g} SE (see mc_error())"
            )
        return out

    def _display_table(self) -> pd.DataFrame:
        lo, hi = f"[{(1 - self.level) / 2:g}", f"{(1 + self.level) / 2:g}]"
        t = self.table.rename(columns={"conf_low": lo, "conf_high": hi, "statistic": "t"})
        shown = ["estimate", "std_error", "t", "df", "p_value", lo, hi, "fmi"]
        return t[[c for c in shown if c in t.columns]]

    def _footer_lines(self) -> list[str]:
        lines = []
        for key, val in self.footer.items():
            if isinstance(val, float):
                val = "inf (large sample)" if math.isinf(val) else f"{val:.4g}"
            lines.append(f"{key}: {val}")
        return lines

    def __str__(self) -> str:
        title = self.title
        if not self.result._transform.is_identity:
            title += f" (pooled on the {self.result.scale} scale; SE and t on that scale)"
        if self.exponentiate:
            title += " (estimate and interval exponentiated)"
        body = self._display_table().to_string(float_format=lambda v: f"{v:.4g}")
        vc = self.result.variance_components
        if vc is not None:
            body += "\nVariance components (mean over imputations; no test):\n" + vc.to_string(
                float_format=lambda v: f"{v:.4g}"
            )
        width = max(len(line) for line in body.splitlines())
        width = max(width, len(title))
        rule = "=" * width
        return "\n".join(
            [title.center(width), rule, body, "-" * width, *self._footer_lines(), rule]
        )

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        table = self._display_table().to_html(float_format=lambda v: f"{v:.4g}")
        vc = self.result.variance_components
        if vc is not None:
            table += "<p>Variance components (mean over imputations; no test)</p>" + vc.to_html(
                float_format=lambda v: f"{v:.4g}"
            )
        foot = "<br>".join(html.escape(line) for line in self._footer_lines())
        return f"<div><b>{html.escape(self.title)}</b>{table}<p>{foot}</p></div>"


def pool_estimates(
    estimates,
    covariances,
    *,
    dfcom=None,
    names: Sequence[str] | None = None,
    transform=None,
    input_scale: str = "reporting",
    nobs=None,
    model_terms=None,
    variance_components=None,
    rule: str = "rubin1987",
):
    """Pool M sets of estimates and their (co)variances with Rubin's rules.

    Parameters
    ----------
    estimates : array-like of shape (M,) or (M, k), or DataFrame
        The estimate of each of k terms in each of M completed datasets.
        A DataFrame's columns become the term names.
    covariances : array-like of shape (M,), (M, k) or (M, k, k)
        The completed-data variances (shape (M,) or (M, k)) or full covariance
        matrices (shape (M, k, k)); told apart by their number of dimensions.
    dfcom : float, None or np.inf, default=None
        Complete-data degrees of freedom (``n - p`` for a linear model). None
        or ``np.inf`` means a large-sample analysis: Rubin's (1987) df is used.
        A finite value uses Barnard & Rubin's (1999) small-sample df.
    names : sequence of str, optional
        Term names; default the DataFrame's columns, else ``x0, x1, ...``.
    transform : None, str or (forward, inverse, derivative), default=None
        Inference scale: "identity" (None), "log" (ratios), "logit"
        (probabilities, AUC), "fisher_z" (correlations), "cloglog" (survival
        probabilities, log(-log S)), or a triple of callables. Pooling happens
        on that scale; ``estimate`` and ``conf_int`` are mapped back, the
        standard error stays on the inference scale.
    input_scale : {"reporting", "inference"}, default="reporting"
        Whether the inputs are on the reporting scale (then moved to the
        inference scale, with the delta method for the variances) or already
        on the inference scale (e.g. log odds with their variances).
    nobs : array-like of shape (M,), optional
        Observations used by each analysis, reported on the result.
    model_terms : mapping of term to coefficient names, optional
        The analysis model's terms, e.g. ``{"age": ["age[T.40-59]",
        "age[T.60-99]"]}``, for :meth:`PooledResult.wald_test_terms`.
    variance_components : DataFrame of shape (M, c), optional
        Each imputation's variance components (random-effect and residual
        variances, ICC, frailty variance), one column per component. They are
        averaged, not pooled by Rubin's rules (see
        :attr:`PooledResult.variance_components`).
    rule : {"rubin1987", "reiter2003"}, default="rubin1987"
        Combining rule. ``"rubin1987"``: Rubin's rules for multiply imputed
        missing data. ``"reiter2003"``: Reiter's (2003) rules for partially
        synthetic data (M synthetic versions of a dataset whose observed values
        were partly replaced by draws), ``T = Ū + B/M`` and
        ``df = (M - 1)(1 + Ū / (B/M))²``, as mice's ``pool.syn`` and
        ``pool.scalar(rule = "reiter2003")``; ``dfcom`` is not used, ``lambda``
        and ``fmi`` are NaN (mice: NA), ``riv`` is (1 + 1/M) B / Ū as mice
        reports it, and :meth:`PooledResult.wald_test` is refused.

    Returns
    -------
    PooledResult
        Pooled estimate, standard error, df, p-values (two-sided, t(df)),
        riv, lambda, fmi, relative efficiency and the pooled covariance
        matrices.

    Notes
    -----
    Q̄ = mean of the estimates, Ū = mean of the covariances,
    B = covariance of the estimates across imputations and
    T = Ū + (1 + 1/M) B (Rubin 1987, eq. 3.1.2-3.1.5).

    Examples
    --------
    >>> import numpy as np
    >>> from skmipool import pool_estimates
    >>> est = np.array([[1.0, 2.0], [1.2, 2.1], [0.9, 1.8]])
    >>> var = np.array([[0.04, 0.09], [0.05, 0.08], [0.04, 0.10]])
    >>> res = pool_estimates(est, var, dfcom=30, names=["a", "b"])
    >>> res.estimate.round(4).tolist()
    [1.0333, 1.9667]
    >>> res.std_error.round(4).tolist()
    [0.2728, 0.348]

    Correlations pooled on Fisher's z scale (FIMD 5.2), reported as r:

    >>> r = np.array([0.41, 0.45, 0.38])
    >>> res = pool_estimates(r, (1 - r**2) ** 2 / 97, transform="fisher_z")
    >>> round(float(res.estimate.iloc[0]), 4), res.scale
    (0.4137, 'fisher_z')

    Partially synthetic data (Reiter 2003): T = Ū + B/M instead of Ū + (1 + 1/M) B:

    >>> syn = pool_estimates([1.0, 1.2, 0.9], [0.04, 0.05, 0.04], rule="reiter2003")
    >>> round(float(syn.total.iloc[0]), 4), round(float(syn.df.iloc[0]), 2)
    (0.0511, 86.37)
    """
    rule = combining_rule(rule).name
    estimates, covariances = as_pandas(estimates), as_pandas(covariances)  # polars, pyarrow
    q, names = _coerce_estimates(estimates, names)
    m, k = q.shape
    if isinstance(covariances, pd.DataFrame) and k > 1:
        # variances given as a frame are matched to the terms by name, not position
        unknown = sorted(set(map(str, covariances.columns)) ^ set(names))
        if unknown:
            raise ValueError(
                f"the columns of covariances do not match the term names; differing: {unknown}."
            )
        covariances = covariances.set_axis(list(map(str, covariances.columns)), axis=1)[names]
    u, full = _coerce_covariances(covariances, m, k)
    validate_imputations(q, u, names, full)
    scale = get_transform(transform)
    if input_scale not in ("reporting", "inference"):
        raise ValueError(f'input_scale must be "reporting" or "inference"; got {input_scale!r}.')
    if input_scale == "reporting":
        q, u = to_inference_scale(q, u, scale, names, full)
    dfcom = _check_dfcom(dfcom)
    check_small_sample_df(q, u, names, dfcom)
    return PooledResult(
        q,
        u,
        names,
        dfcom=dfcom,
        nobs=nobs,
        transform=scale,
        model_terms=model_terms,
        variance_components=variance_components,
        rule=rule,
    )


def to_inference_scale(q, u, scale, names, full: bool, label: str = "imputation"):
    """Estimates on their reporting scale moved to ``scale``'s inference scale.

    Each row's values are checked against the scale's domain (the row named as
    ``label`` i), the covariances follow by the delta method, and the results are
    validated again. The identity scale returns its inputs.
    """
    if scale.is_identity:
        return q, u
    for i in range(q.shape[0]):
        scale.check_domain(q[i], where=f"{label} {i + 1}: ")
    q, u = scale.to_inference(q, u)
    validate_imputations(q, u, names, full)
    return q, u


def _variance_component_frame(components, m: int) -> pd.DataFrame | None:
    """Per-imputation variance components as an (M, c) frame with finite values."""
    if components is None:
        return None
    frame = pd.DataFrame(components)
    if frame.shape[0] != m:
        raise ValueError(
            f"variance_components has {frame.shape[0]} rows for {m} imputations: give one row "
            f"per imputation, one column per component."
        )
    for row in frame.itertuples(index=False):
        check_variance_components(zip(map(str, frame.columns), row, strict=True))
    frame = frame.astype(float).set_axis([str(c) for c in frame.columns], axis=1)
    frame.index = pd.RangeIndex(1, m + 1, name="imputation")
    frame.columns.name = "component"
    return frame
