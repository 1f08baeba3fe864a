"""FormulaModel: an R-style formula on one DataFrame, fitted with statsmodels.

The formula is parsed by skmipool's grammar (``_formula_grammar``), the design
matrix is built from its terms (``_formula_design``), and statsmodels fits the
matrix; nothing the user wrote is evaluated.

``MIPooledEstimator(FormulaModel("chl ~ age + bmi")).fit(df)`` reads like R's
``pool(with(mice(df), lm(chl ~ age + bmi)))``: the outcome is a column of the
DataFrame, so the whole frame, outcome included, is imputed and each completed
copy is handed to the formula.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from statsmodels.discrete.discrete_model import BinaryModel
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.tools import sm_exceptions

from skmipool._adapters import _check_full_rank
from skmipool._validation import as_pandas
from skmipool.models._cox import CoxPHRegressor, _as_event, _as_time, cox_dfcom, fit_phreg
from skmipool.models._design import FittedModelMixin, cluster_codes
from skmipool.models._formula_design import Design, learn_design, outcome_values
from skmipool.models._formula_grammar import (
    Formula,
    FormulaError,
    Name,
    Number,
    RandomPart,
    Response,
    Special,
    SurvResponse,
    parse_formula,
    read_random_effect,
)
from skmipool.models._glm import check_outcome_range, fit_glm_at_optimum, resolve_family
from skmipool.models._mixed import fit_mixed

__all__ = ["FormulaModel", "parse_model_formula"]

_MODELS = ("ols", "logit", "poisson", "glm", "cox", "mixed")


def parse_model_formula(text: str, kind: str) -> Formula:
    """Parse a formula and check that the model kind supports what it uses.

    One check for :class:`FormulaModel` and the ``skmipool fit`` command, so
    that a formula is refused before any imputation runs.

    Parameters
    ----------
    text : str
        The formula.
    kind : str
        ``"ols"``, ``"logit"``, ``"poisson"``, ``"glm"``, ``"cox"``,
        ``"mixed"`` or ``"class"`` (a statsmodels model class). ``"ols"`` with
        a random-effect term is the linear mixed model, as ``"mixed"``.

    Returns
    -------
    Formula

    Raises
    ------
    FormulaError
        Outside the grammar, or a term the model does not support.
    """
    formula = parse_formula(text)
    shown = "a statsmodels model class" if kind == "class" else repr(kind)
    if formula.random and kind == "cox":
        formula = _random_intercept_as_frailty(formula)
    check_random_effects(formula, kind, shown)
    if kind != "cox":
        if formula.specials:
            special = formula.specials[0]
            raise FormulaError(
                text,
                special.pos,
                special.role,
                f"the term {special.role}({special.column}) is Cox-formula syntax (as in R's "
                f"coxph). For model={shown} pass cluster=<column> with cov_type='cluster' "
                f"instead.",
            )
        if isinstance(formula.response, SurvResponse):
            raise FormulaError(
                text,
                1,
                "Surv",
                f"Surv(time, event) is the outcome of a Cox model; pass model='cox' (got "
                f"model={shown})",
            )
    elif not isinstance(formula.response, SurvResponse):
        raise FormulaError(
            text,
            1,
            formula.response.label,
            f"a Cox formula needs the outcome as Surv(time, event), e.g. "
            f"'Surv(time, status) ~ age + t5'; got {formula.response.label!r} on the left of '~'",
        )
    if not formula.terms and (kind == "cox" or not formula.intercept):
        raise FormulaError(
            text, len(text) + 1, "end of formula", "the formula has no predictors right of '~'"
        )
    return formula


def _random_intercept_as_frailty(formula: Formula) -> Formula:
    """coxme's ``(1 | g)`` in a Cox formula: R coxph's Gaussian frailty, ``frailty(g, "gaussian")``.

    The model is coxme's, but the variance is chosen as coxph's Gaussian frailty
    chooses it (a REML-type equation), not by coxme's integrated likelihood.
    """
    effect = formula.random[0]
    group = effect.group
    simple = (
        len(formula.random) == 1
        and not effect.uncorrelated
        and isinstance(effect.expr, Number)
        and effect.expr.value == 1
        and isinstance(group, Name)
    )
    if not simple or formula.special("frailty") is not None:
        raise FormulaError(
            formula.text,
            effect.pos,
            f"({effect.label})",
            "a Cox formula takes one random intercept (1 | group), read as a Gaussian shared "
            "frailty (coxme's model), and no frailty() term beside it; random slopes are not "
            "supported",
        )
    frailty = Special("frailty", group.name, effect.pos, "gaussian")
    return replace(formula, specials=(*formula.specials, frailty), random=())


def check_random_effects(formula: Formula, kind: str, shown: str) -> RandomPart | None:
    """The random-effect term of a linear mixed model (lme4 syntax), or None.

    One term with one grouping column, ``(1 | g)``, ``(x | g)``,
    ``(1 + x | g)``, ``(0 + x | g)``; a linear model only (``"ols"`` or
    ``"mixed"``). Anything else is a FormulaError naming the term.
    """
    text = formula.text
    if not formula.random:
        if kind == "mixed":
            raise FormulaError(
                text,
                len(text) + 1,
                "end of formula",
                "model='mixed' needs a random-effect term in lme4 syntax, e.g. "
                "'popular ~ sex + texp + (1 | school)'",
            )
        return None
    effect = formula.random[0]
    if kind not in ("ols", "mixed"):
        raise FormulaError(
            text,
            effect.pos,
            f"({effect.label})",
            f"random-effect terms such as ({effect.label}) make a linear mixed model "
            f"(model='mixed', R's lmer) or, in a Cox model, a Gaussian frailty; generalized "
            f"linear mixed models are not supported for model={shown}. Fit without the term, or "
            f"with cluster-robust standard errors (cluster=<column>)",
        )
    if len(formula.random) > 1:
        extra = formula.random[1]
        raise FormulaError(
            text,
            extra.pos,
            f"({extra.label})",
            "only one random-effect term is supported: one grouping column with its random "
            "intercept and slopes together, e.g. (1 + sex | school)",
        )
    if effect.uncorrelated:
        raise FormulaError(
            text,
            effect.pos,
            f"({effect.label})",
            "uncorrelated random effects (||) are not supported; write (1 + x | group) for "
            "correlated random intercept and slopes",
        )
    if formula.specials:
        special = formula.specials[0]
        raise FormulaError(
            text,
            special.pos,
            special.role,
            f"{special.role}() does not go with a random-effect term: the mixed model "
            f"already models the clustering",
        )
    return read_random_effect(text, effect)


class FormulaModel(FittedModelMixin, BaseEstimator):
    """A statsmodels model from an R-style formula, fitted on one DataFrame.

    The outcome is a column of the frame, so ``fit`` takes no y and
    ``MIPooledEstimator(FormulaModel(...)).fit(df)`` imputes the whole frame
    (outcome included, as mice does) and fits the formula on each completed
    copy.

    The formula is parsed by skmipool's own grammar and never evaluated (patsy
    and formulaic run formula terms as Python); the design matrix is built
    from the parsed terms and statsmodels fits that matrix. Text outside the
    grammar raises :class:`FormulaError` naming the token and its position.
    The grammar (R's):

    - columns: ``age``, ``log.bmi`` (names as in R), `` `age group` ``
      (backquotes for any other name); ``x.y`` is one name, not an attribute;
    - ``a + b``, ``a - b`` (remove), ``a:b``, ``a*b`` (``a + b + a:b``),
      ``a/b`` (``a + a:b``), ``(a + b + c)^2``; ``- 1`` or ``+ 0``: no intercept;
    - ``I(...)``: arithmetic ``+ - * / ^ **``, unary minus, numbers, columns
      and the transforms ``log``, ``log1p``, ``exp``, ``sqrt`` (also usable as
      terms; ``np.log`` etc. are accepted spellings);
    - ``C(col)``, ``C(col, ref=level)`` (`` ref=`40-59` `` for an odd level):
      treatment contrasts against the reference level;
    - ``scale(x)`` (mean and SD, n - 1, learnt at fit) and ``poly(x, degree)``
      (R's orthogonal polynomials, basis learnt at fit);
    - Cox only: ``Surv(time, event)`` as the outcome, ``cluster(col)``,
      ``strata(col)``, a shared frailty ``frailty(col)`` (gamma, as R) or
      ``frailty(col, distribution = "gaussian")``, and coxme's ``(1 | col)``,
      read as the Gaussian frailty (its variance chosen as R's ``coxph``
      chooses it, not by coxme's integrated likelihood); see
      :class:`CoxPHRegressor`;
    - linear mixed models only: one random-effect term in lme4 syntax,
      ``(1 | school)`` (random intercept), ``(1 + sex | school)`` or
      ``(sex | school)`` (random intercept and slope, correlated),
      ``(0 + sex | school)`` (random slope only). The formula then fits R's
      ``lmer`` (see :class:`MixedLM`); ``(x || g)``, several bar terms and
      nested groupings are refused.

    No other call, no string literal, subscript or keyword is accepted. Terms
    are ordered as R orders them (main effects, then interactions) and named
    as patsy names them: ``Intercept``, ``age[T.40-59]`` for the levels of a
    categorical column (text, category or bool), ``np.log(bmi)``,
    ``age[T.40-59]:bmi``, ``poly(x, 2)[1]``. A categorical column's dummies
    form one model term for :meth:`PooledResult.wald_test_terms`.

    Parameters
    ----------
    formula : str
        ``"chl ~ age + bmi"``. For ``model="cox"`` the outcome is written as in
        R's survival package, ``"Surv(time, status) ~ age + t5"``, and the
        right-hand side may hold one ``cluster(cid)`` term (cluster-robust
        covariance, as R's ``coxph``) and one ``strata(g)`` term.
    model : {"ols", "logit", "poisson", "glm", "cox", "mixed"} or statsmodels model class, \
default="ols"
        ``"ols"``: least squares (R's ``lm``), or with a random-effect term
        the linear mixed model. ``"mixed"``: the linear mixed model, R's
        ``lmer`` (the formula must have a random-effect term); fixed effects
        pooled with dfcom = clusters - fixed effects, variance components
        averaged (see :class:`MixedLM`). ``"logit"``: binomial GLM with
        logit link (R's ``glm(family = binomial)``); a two-level text, boolean
        or categorical outcome models the second level (R's factor rule).
        ``"poisson"``: Poisson GLM. ``"glm"``: GLM of ``family``. ``"cox"``:
        Cox model (see :class:`CoxPHRegressor`). A statsmodels model class
        (e.g. ``sm.Probit``, ``sm.NegativeBinomial``) is fitted as
        ``cls(outcome, design).fit(**fit_kwargs)`` on the formula's design.
    family : str or statsmodels family, default=None
        For ``model="glm"`` (required) or a GLM class: ``"gaussian"``,
        ``"binomial"``, ``"poisson"``, ``"gamma"``, ``"inverse_gaussian"`` or a
        family instance.
    cov_type : str, default="nonrobust"
        ``"nonrobust"`` (model-based), ``"HC0"``-``"HC3"`` (OLS; GLMs:
        ``"HC0"``), ``"cluster"`` (with ``cluster``), and for Cox
        ``"robust"`` (R's ``coxph(robust = TRUE)``). A ``cluster()`` term in a
        Cox formula implies ``"cluster"``.
    cluster : str, default=None
        Column of the frame with the cluster ids for ``cov_type="cluster"``.
    strata : str, default=None
        Cox only: column of the frame with stratum labels (or a ``strata()``
        term in the formula).
    ties : {"efron", "breslow"}, default="efron"
        Cox only: handling of tied event times (Efron: R's default).
    fit_kwargs : dict, default=None
        Extra arguments to the statsmodels ``fit`` call of a model class.
    reml : bool, default=True
        Mixed models only: REML (lme4's default) or maximum likelihood.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        All estimates, the intercept included when the formula has one.
    params_ : pandas.Series
        ``coef_`` labelled with the formula's term names.
    cov_ : pandas.DataFrame
        Covariance of ``params_``.
    std_error_ : pandas.Series
        Standard errors.
    nobs_ : int
        Number of observations.
    dfcom_ : float or None
        Complete-data df: the residual df n - p (Cox: ``max(events - p, 1)``;
        mixed models: clusters - fixed effects, ``max(G - p, 1)``); None when
        the model has none (then pooling assumes a large sample).
    loglike_ : float or None
        Log-likelihood (Cox: log partial likelihood) at the estimates.
    frailty_variance_ : float
        Cox with ``frailty(g)`` or ``(1 | g)`` only: the frailty variance,
        as :class:`CoxPHRegressor`'s; absent otherwise.
    frailty_at_bound_ : bool
        Cox with a frailty only: whether the variance is at its lower bound 0.
    classes_ : ndarray of shape (2,)
        The outcome's levels when a binomial outcome was coded (second =
        modelled); absent otherwise.
    variance_components_ : pandas.Series
        Mixed models: random-effect (co)variances, residual variance and ICC
        under mitml's names (see :class:`MixedLM`); Cox models with a frailty:
        the frailty variance. Absent otherwise.
    results_ : statsmodels results
        The statsmodels fit.
    n_features_in_ : int
        Number of columns of the frame seen in fit.
    feature_names_in_ : ndarray of str
        Column names of the frame seen in fit.

    Examples
    --------
    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> from skmipool.models import FormulaModel
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(FormulaModel("chl ~ age + bmi"), random_state=1).fit(df)
    >>> list(mi.terms_)
    ['Intercept', 'age', 'bmi']
    >>> fm = FormulaModel("Surv(time, status) ~ age + t5 + cluster(id)", model="cox")
    >>> from skmipool.datasets import load_stanford2
    >>> list(fm.fit(load_stanford2().dropna()).params_.index)
    ['age', 't5']
    >>> from skmipool.datasets import load_popmis
    >>> mixed = FormulaModel("popular ~ sex + texp + (1 | school)").fit(load_popmis().dropna())
    >>> mixed.variance_components_.round(3).to_dict()
    {'Intercept~~Intercept|school': 0.463, 'Residual~~Residual': 0.469, 'ICC|school': 0.497}
    """

    _parameter_constraints: ClassVar[dict] = {
        "formula": [str],
        "model": [StrOptions(set(_MODELS)), type],
        "family": [str, sm.families.Family, None],
        "cov_type": [StrOptions({"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster", "robust"})],
        "cluster": [str, None],
        "strata": [str, None],
        "ties": [StrOptions({"efron", "breslow"})],
        "fit_kwargs": [dict, None],
        "reml": ["boolean"],
    }

    def __init__(
        self,
        formula,
        model="ols",
        *,
        family=None,
        cov_type="nonrobust",
        cluster=None,
        strata=None,
        ties="efron",
        fit_kwargs=None,
        reml=True,
    ):
        self.formula = formula
        self.model = model
        self.family = family
        self.cov_type = cov_type
        self.cluster = cluster
        self.strata = strata
        self.ties = ties
        self.fit_kwargs = fit_kwargs
        self.reml = reml

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # the outcome is a column of X
        return tags

    def _kind(self) -> str:
        if isinstance(self.model, str):
            return self.model
        if isinstance(self.model, type) and issubclass(self.model, PHReg):
            return "cox"
        if not hasattr(self.model, "from_formula"):
            raise TypeError(
                f"model={self.model!r} has no from_formula method; pass one of {list(_MODELS)} "
                f"or a statsmodels model class such as statsmodels.api.Probit."
            )
        return "class"

    # ----------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the formula on the DataFrame X (the outcome is one of its columns).

        Parameters
        ----------
        X : DataFrame
            All variables of the formula (and the cluster/strata columns). No
            missing values in the columns the formula uses.
        y : None
            Not used: the formula names the outcome.

        Returns
        -------
        self : FormulaModel
        """
        if y is not None:
            raise ValueError(
                f"FormulaModel reads the outcome from the formula {self.formula!r}: call "
                f"fit(df) with the outcome as a column of df, and no y."
            )
        X = as_pandas(X)  # polars, pyarrow: column names kept
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"FormulaModel needs a pandas DataFrame with the formula's columns; got "
                f"{type(X).__name__}."
            )
        validate_data(self, X, reset=True, skip_check_array=True)
        kind = self._kind()
        if self.fit_kwargs and kind != "class":
            raise ValueError(
                f"fit_kwargs is passed to the fit of a statsmodels model class; model="
                f"{self.model!r} is fitted by skmipool. Pass e.g. model=statsmodels.api.GLM."
            )
        formula = parse_model_formula(self.formula, kind)
        self._check_columns(formula, X)
        random = check_random_effects(formula, kind, repr(kind))
        if random is not None:
            self._fit_mixed(X, formula, random)
            return self
        special = {s.role: s.column for s in formula.specials}
        cluster, strata = self._special_columns(special, X, kind)
        cov_type = "cluster" if "cluster" in special else self.cov_type
        self._check_cov_type(kind, cov_type, cluster)
        self._check_complete(X, formula, [cluster, strata])
        frailty = formula.special("frailty")
        if frailty is not None:
            self._check_complete(X, formula, [frailty.column])
            if cov_type != "nonrobust":
                raise ValueError(
                    f"cov_type={cov_type!r} with a frailty term: a frailty model reports R's "
                    f"model-based covariance (fit$var); drop cluster() and cov_type."
                )
        if kind == "cox":
            self._fit_cox(X, formula, cluster, strata, cov_type, frailty)
        else:
            self._fit_regression(X, kind, formula, cluster, cov_type)
        return self

    def _column_roles(self, columns) -> tuple[set[str], dict[str, str]]:
        """(predictor columns, ``{column: role}`` of the others): read from the formula.

        The outcome (roles ``time`` and ``event`` for ``Surv()``, else
        ``outcome``), the special columns (``cluster()``, ``strata()``,
        ``frailty()``, the ``cluster``/``strata`` parameters) and a mixed
        model's grouping column (``groups``, from ``(1 | school)``) have roles;
        the other columns the formula names are predictors. Columns the formula
        does not name are neither.
        """
        formula = parse_model_formula(self.formula, self._kind())
        roles = {read_random_effect(formula.text, e).group: "groups" for e in formula.random}
        roles.update({s.column: s.role for s in formula.specials})
        roles.update({c: r for r, c in (("cluster", self.cluster), ("strata", self.strata)) if c})
        response = formula.response
        if isinstance(response, SurvResponse):
            roles.update({response.time: "time", response.event: "event"})
        elif response is not None:
            roles.update(dict.fromkeys(response.columns, "outcome"))
        return set(formula.columns) - set(roles), roles

    def _check_columns(self, formula: Formula, X) -> None:
        for column, pos in zip(formula.columns, formula.positions, strict=True):
            if column not in X.columns:
                raise FormulaError(
                    formula.text,
                    pos,
                    column,
                    f"column {column!r} is not in the DataFrame; its columns are "
                    f"{[str(c) for c in X.columns]}",
                )

    def _special_columns(self, special, X, kind):
        cluster = special.get("cluster", None)
        strata = special.get("strata", None)
        for role, from_param in (("cluster", self.cluster), ("strata", self.strata)):
            if from_param is not None and role in special:
                raise ValueError(
                    f"{role} is given twice: {role}={from_param!r} and a {role}() term in the "
                    f"formula. Keep one."
                )
        cluster = cluster if cluster is not None else self.cluster
        strata = strata if strata is not None else self.strata
        if strata is not None and kind != "cox":
            raise ValueError(f"strata is for Cox models only; model={self.model!r}.")
        for role, col in (("cluster", cluster), ("strata", strata)):
            if col is not None and col not in X.columns:
                raise ValueError(
                    f"the {role} column {col!r} is not in the DataFrame; its columns are "
                    f"{list(X.columns)}."
                )
        return cluster, strata

    def _check_cov_type(self, kind, cov_type, cluster):
        allowed = {
            "ols": {"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"},
            "cox": {"nonrobust", "robust", "cluster"},
            "class": {"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"},
        }.get(kind, {"nonrobust", "HC0", "cluster"})
        if cov_type not in allowed:
            raise ValueError(
                f"cov_type={cov_type!r} is not available for model={self.model!r}; choose one "
                f"of {sorted(allowed)}."
            )
        if cov_type == "cluster" and cluster is None:
            raise ValueError(
                'cov_type="cluster" needs the cluster ids: set cluster=<column name>'
                + (" or add a cluster(<column>) term to the formula." if kind == "cox" else ".")
            )
        if cluster is not None and cov_type != "cluster":
            raise ValueError(
                f"cluster={cluster!r} is set but cov_type={cov_type!r}. Set cov_type='cluster' "
                f"for cluster-robust standard errors, or drop cluster."
            )

    def _check_complete(self, X, formula: Formula, extra, exclude=()):
        used = set(formula.columns) | {c for c in extra if c is not None}
        used -= set(exclude)
        missing = [str(c) for c in X.columns if c in used and X[c].isna().any()]
        if missing:
            raise ValueError(
                f"columns {missing} used by the formula have missing values (NaN); the model "
                f"needs complete data. Impute first: MIPooledEstimator(FormulaModel(...)).fit(df)."
            )

    def _binary_outcome(self, X, response: Response):
        """R's rule for a factor outcome of a binomial GLM: model the second level."""
        name = response.name
        if name is None or name not in X.columns:
            return X
        col = X[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            return X
        if isinstance(col.dtype, pd.CategoricalDtype):
            present = set(col.dropna())
            levels = [c for c in col.cat.categories if c in present]
        else:
            levels = sorted(pd.unique(col.dropna()))
        if len(levels) != 2:
            raise ValueError(
                f"the outcome {name!r} of a binomial model needs two levels; it has "
                f"{len(levels)}: {[str(v) for v in levels]}."
            )
        self.classes_ = np.asarray(levels, dtype=object)
        data = X.copy()
        data[name] = (col == levels[1]).astype(np.float64)
        return data

    def _fit_regression(self, X, kind, formula: Formula, cluster, cov_type):
        family = None
        if kind in ("logit", "poisson"):
            family = sm.families.Binomial() if kind == "logit" else sm.families.Poisson()
        elif kind == "glm":
            if self.family is None:
                raise ValueError('model="glm" needs family=, e.g. family="gamma".')
            family = resolve_family(self.family)
        elif self.family is not None:
            family = resolve_family(self.family)
        if isinstance(family, sm.families.Binomial) or (
            kind == "class" and issubclass(self.model, BinaryModel)
        ):
            X = self._binary_outcome(X, formula.response)
        endog = outcome_values(formula.response, X)
        design = learn_design(formula, X)
        exog = design.matrix(X)
        _check_full_rank(exog.to_numpy(), design.names)
        if family is not None:
            # as R's glm: "y values must be 0 <= y <= 1" for binomial, >= 0 for poisson, ...
            check_outcome_range(endog.to_numpy(), family)
        cov_kwds = None
        if cov_type == "cluster":
            cov_kwds = {"groups": cluster_codes(X[cluster].to_numpy()), "use_correction": True}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=sm_exceptions.ConvergenceWarning)
            if kind == "ols":
                model = sm.OLS(endog, exog, missing="raise")
                res = model.fit(cov_type=cov_type, cov_kwds=cov_kwds)
            elif kind in ("logit", "poisson", "glm"):
                model = sm.GLM(endog, exog, family=family, missing="raise")
                res, _ = fit_glm_at_optimum(model, 1e-12, 100, cov_type, cov_kwds)
            else:
                res = self._fit_class(endog, exog, family, cov_type, cov_kwds)
        converged = getattr(res, "converged", None)
        if converged is None and getattr(res, "mle_retvals", None):
            converged = res.mle_retvals.get("converged", True)
        if converged is False:
            warnings.warn(
                f"the fit of {self.formula!r} did not converge; estimates and standard errors "
                f"may be inaccurate.",
                ConvergenceWarning,
                stacklevel=3,
            )
        df_resid = getattr(res, "df_resid", None)
        dfcom = float(df_resid) if df_resid is not None and float(df_resid) > 0 else None
        self._design = design
        self._set_fitted(
            res,
            design.names,
            np.asarray(res.cov_params()),
            dfcom,
            int(res.nobs),
            getattr(res, "llf", None),
            intercept=None,
            model_terms=design.model_terms,
        )

    def _fit_mixed(self, X, formula: Formula, random: RandomPart):
        """The linear mixed model, R's ``lmer(formula, REML = reml)``."""
        if self.cov_type != "nonrobust" or self.cluster is not None or self.strata is not None:
            raise ValueError(
                "a mixed model's standard errors are model-based (cov_type='nonrobust'): the "
                "random effects model the clustering. Drop cov_type, cluster and strata."
            )
        if self.family is not None:
            raise ValueError(
                "family= is for GLMs; the mixed model is linear and Gaussian (lmer). Drop family."
            )
        # the cluster column is checked by check_clusters (its own message for NaN)
        self._check_complete(X, formula, [], exclude=[random.group])
        endog = outcome_values(formula.response, X)
        design = learn_design(formula, X)
        exog = design.matrix(X)
        _check_full_rank(exog.to_numpy(), design.names)
        re_design = learn_design(random.formula, X)
        fit = fit_mixed(
            endog,
            exog,
            re_design.matrix(X),
            X[random.group].to_numpy(),
            group=random.group,
            reml=self.reml,
        )
        self._design = design
        self._set_fitted(
            fit.results,
            design.names,
            fit.cov_fe,
            fit.dfcom,
            X.shape[0],
            fit.results.llf,
            intercept=None,
            model_terms=design.model_terms,
            params=fit.results.fe_params,
            variance_components=fit.variance_components,
        )

    def _fit_class(self, endog, exog, family, cov_type, cov_kwds):
        kwargs = {"family": family} if family is not None else {}
        model = self.model(endog, exog, missing="raise", **kwargs)
        fit_kwargs = dict(self.fit_kwargs or {})
        params = inspect.signature(model.fit).parameters
        if "disp" in params and "disp" not in fit_kwargs:
            fit_kwargs["disp"] = 0
        if cov_type != "nonrobust":
            fit_kwargs.setdefault("cov_type", cov_type)
            if cov_kwds is not None:
                fit_kwargs.setdefault("cov_kwds", cov_kwds)
        return model.fit(**fit_kwargs)

    def _fit_cox(self, X, formula: Formula, cluster, strata, cov_type, frailty=None):
        surv = formula.response
        time = _as_time(X[surv.time].to_numpy(), f"(column {surv.time!r})")
        event = _as_event(X[surv.event].to_numpy(), f"(column {surv.event!r})")
        if not event.any():
            raise ValueError(f"column {surv.event!r} has no events: the Cox model has no estimate.")
        # as R's coxph: factors coded as with an intercept, which the baseline hazard absorbs
        design = learn_design(formula, X, coding_intercept=True, intercept_column=False)
        exog = design.matrix(X)
        strata_values = None if strata is None else X[strata].to_numpy()
        for stale in ("frailty_variance_", "frailty_at_bound_"):
            self.__dict__.pop(stale, None)
        if frailty is not None:
            # CoxPHRegressor's frailty fit: one estimator, one engine
            cox = CoxPHRegressor(ties=self.ties, frailty=frailty.distribution, groups="__g__")
            frame = exog.assign(__g__=X[frailty.column].to_numpy())
            if strata is not None:
                cox.set_params(strata="__s__")
                frame = frame.assign(__s__=strata_values)
            cox.fit(frame, np.column_stack([time, event]))
            self._design = design
            self._set_fitted(
                cox.results_,
                design.names,
                cox.cov_.to_numpy(),
                cox.dfcom_,
                X.shape[0],
                cox.loglike_,
                intercept=None,
                model_terms=design.model_terms,
                variance_components={"frailty variance": cox.frailty_variance_},
                model_label=f"{frailty.distribution} frailty",
            )
            self.frailty_variance_ = cox.frailty_variance_
            self.frailty_at_bound_ = cox.frailty_at_bound_
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=sm_exceptions.ValueWarning)
            model = PHReg(
                pd.Series(time, index=X.index, name=surv.time),
                exog,
                status=event.astype(np.float64),
                ties=self.ties,
                strata=None if strata is None else cluster_codes(strata_values),
                missing="raise",
            )
        groups = {
            "nonrobust": None,
            "robust": np.arange(X.shape[0]),
            "cluster": None if cluster is None else X[cluster].to_numpy(),
        }[cov_type]
        results, _ = fit_phreg(model, groups, strata_values)
        names = design.names
        self._design = design
        self._set_fitted(
            results,
            names,
            results.cov_params(),
            cox_dfcom(int(event.sum()), len(names)),
            X.shape[0],
            results.llf,
            intercept=None,
            model_terms=design.model_terms,
        )

    # ------------------------------------------------------------- predict
    def predict(self, X):
        """Predictions of the statsmodels fit on new data.

        OLS: fitted values; GLMs: mean response (a probability for logit);
        Cox: the linear predictor x'b (not centred). The design is rebuilt
        from the formula's terms with what the fit learnt (levels, ``scale``
        and ``poly`` parameters).

        Parameters
        ----------
        X : DataFrame
            The columns the formula's right-hand side uses (the outcome and
            other columns may be absent).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "results_")
        X = as_pandas(X)  # polars, pyarrow: column names kept
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"FormulaModel.predict needs a DataFrame; got {type(X).__name__}.")
        # no column check against fit: the formula picks its columns, the outcome may be absent
        design: Design = self._design
        exog = design.matrix(X).to_numpy()
        if hasattr(self, "variance_components_"):
            return exog @ self.params_.to_numpy()  # mixed: population level, lme4's re.form = NA
        if isinstance(self.results_.model, PHReg):
            pred = self.results_.predict(exog=exog, transform=False, pred_type="lhr")
            return np.asarray(pred.predicted_values, dtype=float)
        return np.asarray(self.results_.predict(exog, transform=False), dtype=float)
