"""What a fitted linear mixed model hands to pooling: fixed effects apart from variance components.

A statsmodels ``MixedLMResults`` packs the fixed effects and the random-effect
covariance parameters into one ``params`` vector with one covariance matrix
(the inverse Hessian of all of them). Pooling that vector would give the
variance components a t-test and mix their (strongly skewed) sampling
distribution into Rubin's rules. As mitml's ``testEstimates(...,
extra.pars = TRUE)`` does, the fixed effects are pooled by Rubin's rules and
the variance components are only averaged over the imputations; this module
splits a fit into the two.

- Fixed-effect covariance: sigma² (X' V⁻¹ X)⁻¹ with V = I + Z Psi Z' per
  cluster (Psi the random-effect covariance over sigma²), the generalized
  least-squares covariance at the (RE)ML variance parameters, which is R's
  ``vcov(lmer)`` (Bates et al. 2015, eq. 54, lme4's ``vcov.merMod``).
  statsmodels' ``bse_fe`` differs: it inverts the full Hessian, whose
  fixed-by-variance block is not zero in finite samples.
- Variance components under mitml's names (``mitml:::.getMisc.merMod``):
  ``"Intercept~~Intercept|school"``, ``"sex~~sex|school"``,
  ``"Intercept~~sex|school"`` (variances first, then covariances in R's
  column-major order of the upper triangle), ``"Residual~~Residual"`` and,
  with a random intercept, ``"ICC|school"`` = tau00 / (tau00 + sigma²),
  computed in each imputation and then averaged (as mitml).
- Complete-data df: G - p, the number of clusters minus the number of fixed
  effects (see :func:`mixed_dfcom`).

References
----------
Bates, D., Mächler, M., Bolker, B. and Walker, S. (2015). Fitting linear
mixed-effects models using lme4. *Journal of Statistical Software* 67(1).
Grund, S., Robitzsch, A. and Lüdtke, O. mitml: Tools for multiple imputation
in multilevel modeling, R package 0.4 (``testEstimates``, ``.getMisc.merMod``).
Snijders, T. A. B. and Bosker, R. J. (2012). *Multilevel Analysis*, 2nd ed.
Sage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skmipool._adapters import statsmodels_model_name
from skmipool._estimate import Estimate

__all__ = [
    "fixed_effects_covariance",
    "is_mixedlm_results",
    "mixed_dfcom",
    "mixedlm_estimate",
    "variance_components",
]

INTERCEPT = "Intercept"
# names statsmodels gives a random intercept (a column of ones in exog_re)
_INTERCEPT_NAMES = {"Intercept", "(Intercept)", "const", "intercept", "Group", "Group Var"}


def mixed_dfcom(n_groups: int, n_fixed: int) -> float:
    """Complete-data df of a linear mixed model's fixed effects: ``max(G - p, 1)``.

    The df of a t-test of a fixed effect in a two-level model lie between
    about G - q - 1 for a cluster-level predictor (q cluster-level predictors;
    its information comes from G cluster means) and about n - p for a
    within-cluster one (Snijders & Bosker 2012, sec. 6.1; the
    "between-within" df of SAS PROC MIXED, DDFM=BETWITHIN). Rubin's rules take
    one scalar dfcom for all terms, so the rule that never overstates the df of
    a cluster-level term is the smaller one, G - p: conservative for level-1
    terms (their df is capped near G - p where n - p would be nearer the
    truth). mitml's default is a large sample (df.com = NULL); pass
    ``dfcom=None`` for it, or ``dfcom=<number>`` for another choice.
    """
    return float(max(n_groups - n_fixed, 1))


def fixed_effects_covariance(model, cov_re: np.ndarray, scale: float) -> np.ndarray:
    """sigma² (X' V⁻¹ X)⁻¹: R's ``vcov(lmer)`` from a statsmodels MixedLM at its estimates.

    Per cluster V = I + Z Psi Z' with Psi = cov_re / sigma²; by Woodbury
    V⁻¹ = I - Z (I + Psi Z'Z)⁻¹ Psi Z', which needs no inverse of Psi (a
    variance at 0, on the boundary, is allowed).
    """
    psi = np.asarray(cov_re, dtype=float) / scale
    q = psi.shape[0]
    k = model.k_fe
    xtvix = np.zeros((k, k))
    for x, z in zip(model.exog_li, model.exog_re_li, strict=True):
        xz = x.T @ z
        inner = np.eye(q) + psi @ (z.T @ z)
        xtvix += x.T @ x - xz @ np.linalg.solve(inner, psi @ xz.T)
    return scale * np.linalg.inv(xtvix)


def variance_components(
    cov_re: pd.DataFrame | np.ndarray, names, scale: float, group: str
) -> pd.Series:
    """The random-effect (co)variances, residual variance and ICC under mitml's names.

    Parameters
    ----------
    cov_re : array of shape (q, q)
        Random-effect covariance matrix on the data scale.
    names : sequence of str
        Names of the q random effects (``"Intercept"`` for the random intercept).
    scale : float
        Residual variance sigma².
    group : str
        Name of the grouping column.

    Returns
    -------
    pandas.Series
        Named as ``mitml:::.getMisc.merMod`` names lme4's ``VarCorr``.
    """
    cov = np.asarray(cov_re, dtype=float)
    names = [str(n) for n in names]
    out = {f"{n}~~{n}|{group}": cov[i, i] for i, n in enumerate(names)}
    # R's which(upper.tri(vc), arr.ind = TRUE): column-major order of the upper triangle
    for j in range(len(names)):
        for i in range(j):
            out[f"{names[i]}~~{names[j]}|{group}"] = cov[i, j]
    out["Residual~~Residual"] = float(scale)
    if INTERCEPT in names:
        tau00 = cov[names.index(INTERCEPT), names.index(INTERCEPT)]
        out[f"ICC|{group}"] = tau00 / (tau00 + scale)  # mitml: iv / (iv + rv), per imputation
    return pd.Series(out, name="estimate", dtype=float)


def is_mixedlm_results(fit) -> bool:
    """Whether ``fit`` is a statsmodels MixedLMResults (or its wrapper)."""
    from_module = type(fit).__module__ == "statsmodels.regression.mixed_linear_model"
    return from_module and hasattr(fit, "fe_params") and hasattr(fit, "cov_re")


def _re_names_and_group(model) -> tuple[list[str], str]:
    """Random-effect names (a column of ones is the ``"Intercept"``) and the group's name.

    statsmodels names a formula model's random intercept after its groups
    column (``groups="school"`` gives ``"school"``), so that name is the group's;
    otherwise the group is called ``"group"``.
    """
    raw = [str(n) for n in (getattr(model.data, "exog_re_names", None) or [])]
    if len(raw) != model.k_re:
        raw = [f"re{i}" for i in range(model.k_re)]
    ones = np.all(model.exog_re == 1.0, axis=0)
    group = "group"
    names = []
    for name, is_ones in zip(raw, ones, strict=True):
        if is_ones:
            if name not in _INTERCEPT_NAMES:
                group = name
            names.append(INTERCEPT)
        else:
            names.append(name)
    return names, group


def mixedlm_estimate(
    results, *, re_names=None, group=None, names=None, model_terms=None, model=None
) -> Estimate:
    """The :class:`Estimate` of a statsmodels MixedLM fit: fixed effects, variance components.

    Parameters
    ----------
    results : MixedLMResults
    re_names, group : optional
        Names of the random effects and of the grouping column; read from the
        model when not given.
    names : sequence of str, optional
        Fixed-effect names (default statsmodels' ``exog_names``).
    model_terms : optional
        Passed to :class:`Estimate`.
    model : str, optional
        The model label (default statsmodels' ``"MixedLM(REML)"`` or ``"MixedLM(ML)"``).
    """
    m = results.model
    if m.k_vc:
        raise ValueError(
            "the MixedLM has variance components given by vc_formula/exog_vc; skmipool pools "
            "models with one grouping factor and random intercepts/slopes (re_formula) only. "
            "Refit without vc_formula, or pool an Estimate built by hand."
        )
    found_names, found_group = _re_names_and_group(m)
    re_names = found_names if re_names is None else list(re_names)
    group = found_group if group is None else group
    fe = np.asarray(results.fe_params, dtype=float)
    if names is None:
        names = [str(n) for n in m.exog_names]
    cov_re = np.asarray(results.cov_re, dtype=float)
    scale = float(results.scale)
    cov = fixed_effects_covariance(m, cov_re, scale)
    components = variance_components(cov_re, re_names, scale, group)
    label = model or statsmodels_model_name(m)
    llf = getattr(results, "llf", None)
    return Estimate(
        fe,
        cov,
        names=names,
        dfcom=mixed_dfcom(m.n_groups, m.k_fe),
        nobs=int(m.nobs),
        loglike=float(llf) if llf is not None and np.isfinite(llf) else None,
        model_terms=model_terms,
        model=label,
        variance_components=components,
    )
