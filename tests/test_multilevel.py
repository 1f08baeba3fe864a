"""Multilevel imputation: ChainedImputer(cluster=...) with the 2l and 2lonly methods.

The slow tests compare with R mice on popmis (tests/r/make_fixtures_multilevel.R writes
tests/fixtures/multilevel_r.json) and check coverage in a simulation of two-level data.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import load_fixture

from skmipool import MIPooledEstimator
from skmipool.datasets import load_popmis
from skmipool.impute import ChainedImputer
from skmipool.impute._multilevel import (
    ClusterMoments,
    CommonVariance,
    GibbsState,
    cluster_gram,
    gibbs_step,
    within_cluster_fit,
)
from skmipool.impute._workspace import Workspace
from skmipool.models import FormulaModel

# --------------------------------------------------------------------- the analysis


def pooled_mixed(data, imputer, formula, group, n_imputations, seed):
    """skmipool's own analysis: M imputations, a random-intercept REML fit of ``formula``
    (lme4 syntax, skmipool.models.MixedLM) to each, Rubin's rules for the fixed effects
    with dfcom = clusters - fixed effects, and the variance components averaged over the
    imputations (mitml's extra.pars). Returns the fixed effects (PooledResult), the mean
    random-intercept variance and the mean ICC."""
    mi = MIPooledEstimator(
        FormulaModel(formula), imputer=imputer, n_imputations=n_imputations, random_state=seed
    ).fit(data)
    pooled = mi.pooled_
    vc = pooled.variance_components["estimate"]
    return pooled, float(vc[f"Intercept~~Intercept|{group}"]), float(vc[f"ICC|{group}"])


# --------------------------------------------------------------------- small data


def two_level(seed, n_clusters=40, size=8, tau2=0.5, sigma2=1.0, missing=True):
    """y = 0.5 x + 0.5 w + b_c + e; x level 1 (ICC 0.2), w level 2; MAR: x and y missing
    with probabilities rising (x) and falling (y) with the observed w."""
    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(n_clusters), size)
    w = rng.standard_normal(n_clusters)[c]
    x = 0.5 * rng.standard_normal(n_clusters)[c] + rng.standard_normal(c.size)
    b = np.sqrt(tau2) * rng.standard_normal(n_clusters)[c]
    y = 0.5 * x + 0.5 * w + b + np.sqrt(sigma2) * rng.standard_normal(c.size)
    d = pd.DataFrame({"cluster": c, "y": y, "x": x, "w": w})
    if missing:
        d.loc[rng.random(c.size) < 1 / (1 + np.exp(1.0 - w)), "x"] = np.nan
        d.loc[rng.random(c.size) < 1 / (1 + np.exp(1.0 + w)), "y"] = np.nan
    return d


def test_defaults_and_levels():
    d = two_level(0)
    d["flag"] = (d["x"] > 0).astype(float).where(d["x"].notna())
    d["w2"] = d["w"].where(d["cluster"] % 5 != 0)  # level 2, missing in whole clusters
    d["const"] = 1.0
    d["count"] = np.clip(np.round(d["x"] + 1), 0, 3)  # few distinct values: 2l.pmm
    imp = ChainedImputer(cluster="cluster", max_iter=3, random_state=0)
    out = imp.fit_transform(d)
    assert imp.methods_ == {
        "cluster": "",
        "y": "2l.lrd",
        "x": "2l.lrd",
        "w": "2lonly.pmm",
        "flag": "2l.bin",
        "w2": "2lonly.pmm",
        "const": "2lonly.pmm",
        "count": "2l.pmm",
    }
    assert imp.n_clusters_ == 40
    assert not out.isna().any().any()
    pd.testing.assert_series_equal(out["cluster"], d["cluster"])
    assert set(out["flag"].unique()) <= {0.0, 1.0}
    assert set(out["count"].unique()) <= {0.0, 1.0, 2.0, 3.0}
    # level-2 columns come back constant within clusters
    assert (out.groupby("cluster")["w2"].nunique() == 1).all()
    observed = d["w2"].notna()
    np.testing.assert_array_equal(out.loc[observed, "w2"], d.loc[observed, "w2"])


def test_level_two_partially_missing_cluster_keeps_its_value():
    d = two_level(1, missing=False)
    d.loc[[0, 1, 2], "w"] = np.nan  # cluster 0: rows 0-7, five still observed
    out = ChainedImputer(cluster="cluster", max_iter=2, random_state=0).fit_transform(d)
    assert (out.loc[:7, "w"] == d.loc[3, "w"]).all()


def test_cluster_means_join_the_level_one_predictors():
    imp = ChainedImputer(cluster="cluster", max_iter=1, random_state=0).fit(two_level(2))
    q = 3  # design width: cluster placeholder, y, x, w -> 4 columns; x at 2, y at 1
    cols, slopes = imp._clustered[1]  # y: x, w and the cluster mean of x (not of w)
    assert list(cols) == [2, 3, q + 1 + 2] and slopes.size == 0
    imp = ChainedImputer(cluster="cluster", cluster_means=False, max_iter=1, random_state=0)
    assert list(imp.fit(two_level(2))._clustered[1][0]) == [2, 3]


def test_random_slopes_from_the_predictor_matrix():
    d = two_level(3)
    pm = pd.DataFrame(1, index=d.columns, columns=d.columns)
    pm.loc["y", "x"] = 2
    imp = ChainedImputer(
        cluster="cluster", method="2l.norm", predictor_matrix=pm, max_iter=2, random_state=0
    )
    out = imp.fit_transform(d)
    assert not out.isna().any().any()
    assert imp.predictor_matrix_.loc["y", "x"] == 2
    assert imp._models[1].state_.psi.shape == (2, 2)  # intercept and slope of x


def test_heteroscedastic_variances_differ_by_cluster():
    imp = ChainedImputer(
        cluster="cluster", method="2l.norm", heteroscedastic=True, max_iter=3, random_state=0
    )
    imp.fit(two_level(4))
    s2 = imp._models[1].state_.sigma2
    assert s2.shape == (40,) and s2.std() > 0


def test_error_messages():
    d = two_level(5)
    with pytest.raises(ValueError, match="cluster names column 'school'"):
        ChainedImputer(cluster="school").fit(d)
    bad = d.assign(cluster=d["cluster"].where(d.index != 3))
    with pytest.raises(ValueError, match="cluster column 'cluster' has 1 missing"):
        ChainedImputer(cluster="cluster").fit(bad)
    with pytest.raises(ValueError, match=r"'2l\.norm' for column 'y'.*cluster="):
        ChainedImputer(method={"y": "2l.norm"}).fit(d)
    with pytest.raises(ValueError, match="column 'x' varies within some clusters"):
        ChainedImputer(cluster="cluster", method={"x": "2lonly.pmm"}).fit(d)
    with pytest.raises(ValueError, match="'cluster' holds a single cluster"):
        ChainedImputer(cluster="cluster").fit(d.assign(cluster=1))
    pm = np.full((4, 4), 2)
    with pytest.raises(ValueError, match="2, a random slope as well, needs cluster="):
        ChainedImputer(predictor_matrix=pm).fit(d)
    with pytest.raises(ValueError, match=r"'2l\.bin' imputes columns with two levels"):
        ChainedImputer(cluster="cluster", method={"x": "2l.bin"}).fit(d)


def test_transform_new_clusters_draw_from_the_random_effect_distribution():
    """Known clusters keep their fitted random effect; a new cluster gets b ~ N(0, Psi):
    the means of 5 imputed rows of 200 new clusters vary as psi + sigma^2 / 5."""
    train = two_level(6, n_clusters=60, size=10, tau2=4.0, sigma2=0.25)
    imp = ChainedImputer(cluster="cluster", method="2l.norm", max_iter=5, random_state=0)
    imp.fit(train)
    state = imp._models[1].state_
    new = pd.DataFrame(
        {"cluster": np.repeat(np.arange(1000, 1200), 5), "y": np.nan, "x": 0.0, "w": 0.0}
    )
    out = imp.transform(new)
    spread = out.groupby("cluster")["y"].mean().var()
    expected = state.psi[0, 0] + state.sigma2[0] / 5
    # var of 200 cluster means: relative SE sqrt(2 / 199) = 0.10
    assert abs(spread / expected - 1) < 0.35, (spread, expected)
    # a known cluster: its rows centre on its fitted effect
    known = pd.DataFrame({"cluster": np.repeat([0, 1], 400), "y": np.nan, "x": 0.0, "w": 0.0})
    known.loc[:399, "w"] = train.loc[0, "w"]
    known.loc[400:, "w"] = train.loc[10, "w"]
    out = imp.transform(known)
    for rows in (slice(0, 399), slice(400, 799)):
        assert abs(out.loc[rows, "y"].mean() - fitted_mean(imp, known.loc[rows])) < 0.1
    assert imp._models[1].state_.b.shape == (60, 1)
    pd.testing.assert_series_equal(out["cluster"], known["cluster"])


def fitted_mean(imp, rows):
    """Predictive mean x'beta* + b_c* of the first row of ``rows`` under the fitted model."""
    values = imp._encode(rows)
    codes, n = imp._cluster_codes(rows, fit=False)
    work = Workspace(
        np.nan_to_num(values), imp._specs, imp._offsets, moments=False, cluster=codes, n_clusters=n
    )
    mean, _ = imp._models[1].predict(work.extended(np.arange(1)), np.random.default_rng(0), False)
    return float(mean[0])


def test_binary_level_one_column_keeps_its_cluster_structure():
    rng = np.random.default_rng(7)
    c = np.repeat(np.arange(50), 20)
    b = 1.5 * rng.standard_normal(50)[c]
    x = rng.standard_normal(c.size)
    y = (rng.random(c.size) < 1 / (1 + np.exp(-(b + 0.5 * x)))).astype(float)
    d = pd.DataFrame({"cluster": c, "y": y, "x": x})
    d.loc[rng.random(c.size) < 0.4, "y"] = np.nan
    miss = d["y"].isna()
    multi = ChainedImputer(cluster="cluster", max_iter=5, random_state=0).fit_transform(d)
    single = ChainedImputer(max_iter=5, random_state=0).fit_transform(d.drop(columns="cluster"))
    observed = d.groupby("cluster")["y"].mean()

    def agreement(out):
        return np.corrcoef(out.loc[miss].groupby(d.loc[miss, "cluster"])["y"].mean(), observed)[
            0, 1
        ]

    # the true cluster effects drive both the observed and imputed cluster proportions
    assert agreement(multi) > 0.5 > agreement(single) + 0.2
    assert set(multi["y"].unique()) == {0.0, 1.0}


def test_fixed_effect_step_is_generalised_least_squares():
    """The collapsed step's mean of beta equals GLS with V = sigma^2 I + Z Psi Z'
    computed densely, and the random effects' mean is the BLUP (without draws)."""
    rng = np.random.default_rng(8)
    G, n = 6, 40
    cluster = rng.integers(0, G, n)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    y = rng.standard_normal(n) + cluster
    z = np.array([0, 1])
    psi = np.array([[1.0, 0.3], [0.3, 0.5]])
    s2 = 0.7
    gram = cluster_gram(np.column_stack([X, y]), cluster, G)
    np.testing.assert_allclose(
        gram[2], np.column_stack([X, y])[cluster == 2].T @ np.column_stack([X, y])[cluster == 2]
    )
    m = ClusterMoments.from_gram(gram, z, np.bincount(cluster, minlength=G))
    state = GibbsState(np.zeros(3), np.zeros((G, 2)), psi, np.full(G, s2))
    new = gibbs_step(m, state, CommonVariance(), np.zeros(3), np.random.default_rng(0), False)
    Z = np.zeros((n, 2 * G))
    for c in range(G):
        Z[cluster == c, 2 * c : 2 * c + 2] = X[cluster == c][:, z]
    V = s2 * np.eye(n) + Z @ np.kron(np.eye(G), psi) @ Z.T
    Vi = np.linalg.inv(V)
    gls = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    np.testing.assert_allclose(new.beta, gls, rtol=1e-10)
    blup = np.kron(np.eye(G), psi) @ Z.T @ Vi @ (y - X @ gls)
    np.testing.assert_allclose(new.b.ravel(), blup, rtol=1e-8, atol=1e-12)


def test_within_cluster_residuals_are_orthogonal_to_the_random_effects():
    """The donors' residuals y - X beta^ - Z b~_c sum to zero against Z in every cluster
    (random intercept and slope); leverages are z_i'(Z_c'Z_c)^+ z_i."""
    rng = np.random.default_rng(9)
    G, n = 7, 60
    cluster = rng.integers(0, G, n)
    cluster[:2] = 6  # cluster 6: at least two rows
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    y = rng.standard_normal(n) + cluster
    z = np.array([0, 2])
    m = ClusterMoments.from_gram(
        cluster_gram(np.column_stack([X, y]), cluster, G), z, np.bincount(cluster, minlength=G)
    )
    beta = np.array([0.3, -0.2, 0.5])
    fitted, leverage = within_cluster_fit(m, beta, X, z, cluster)
    for c in range(G):
        rows = cluster == c
        Z = X[rows][:, z]
        np.testing.assert_allclose(Z.T @ (y[rows] - fitted[rows]), 0, atol=1e-9)
        np.testing.assert_allclose(leverage[rows], np.diag(Z @ np.linalg.pinv(Z.T @ Z) @ Z.T))


@pytest.mark.parametrize("method", ["2l.pmm", "2l.lrd"])
def test_donor_residuals_carry_no_cluster_effect(method):
    """Regression: 2l.pmm matched donors on x'beta^ + b^_c with the shrunken BLUP b^_c, whose
    residuals keep sigma^2 / psi b^_c of the cluster effect (Z_c'r_c = sigma^2 Psi^-1 b^_c),
    so they rose with the prediction (slope 0.19 for x, 0.12 for y) and matching added a
    share of the donor's cluster effect to the recipient's own drawn one: the x slope was
    biased by +0.04 (+0.44 SD) and the random-intercept variance by +6% (40 clusters x 8,
    60 replications). The donors' residuals now do not rise with their prediction."""
    imp = ChainedImputer(
        cluster="cluster", method=method, donor_bootstrap=False, max_iter=5, random_state=0
    )
    imp.fit(two_level(11, n_clusters=200, size=8))
    for j in (1, 2):  # y, x
        model = imp._models[j]
        pred = model.sorted_pred_
        residual = model.donor_values_ if method == "2l.lrd" else model.donor_values_ - pred
        slope = np.polyfit(pred, residual, 1)[0]
        assert abs(slope) < 0.03, (j, slope)


# --------------------------------------------------------------------- against R mice

SEEDS = range(1, 21)
POPMIS_DFCOM = 97  # 100 schools - 3 fixed effects, as in the R script
FORMULA = "popular ~ sex + texp + (1 | school)"


def _popmis_imputer(setup):
    names = list(load_popmis().columns)
    pm = pd.DataFrame(0, index=names, columns=names)
    if setup == "2l.norm":  # mice's 2l.norm: sex with a random slope, heterogeneous variances
        pm.loc["popular", "sex"] = 2
        return ChainedImputer(
            method={"popular": "2l.norm"},
            cluster="school",
            predictor_matrix=pm,
            heteroscedastic=True,
            cluster_means=False,
        )
    if setup == "2l.pan":  # random intercept, sex and texp fixed, one residual variance
        pm.loc["popular", ["sex", "texp"]] = 1
        return ChainedImputer(
            method={"popular": "2l.norm"},
            cluster="school",
            predictor_matrix=pm,
            cluster_means=False,
        )
    pm.loc["popular", ["sex", "texp", "teachpop"]] = 1  # single-level pmm, as mice's
    return ChainedImputer(method={"popular": "pmm"}, predictor_matrix=pm, donor_bootstrap=False)


@pytest.fixture(scope="module")
def popmis_runs():
    """Per setup and seed: the pooled fixed effects, their SEs and the mean ICC (M = 5,
    10 sweeps), pooled by skmipool's own MixedLM analysis with dfcom = 100 schools - 3
    fixed effects, the R script's. Measured cost: 34 s on one core (20 seeds x 3 setups x
    5 MixedLM fits of 2000 rows, 0.07 s each, plus the imputations)."""
    df = load_popmis()
    runs = {}
    for setup in ("2l.norm", "2l.pan", "pmm"):
        rows = []
        for seed in SEEDS:
            pooled, _, icc = pooled_mixed(df, _popmis_imputer(setup), FORMULA, "school", 5, seed)
            assert pooled.dfcom == POPMIS_DFCOM
            rows.append([*pooled.estimate, *pooled.std_error, icc])
        runs[setup] = np.array(rows)
    return runs


def _r_runs(setup):
    fixture = load_fixture("multilevel_r.json")["results"][setup]
    return np.array([[*r["estimate"], *r["se"], r["icc"]] for r in fixture])


@pytest.mark.slow
@pytest.mark.parametrize("setup", ["2l.norm", "2l.pan"])
def test_popmis_agrees_with_r_mice(popmis_runs, setup):
    """Mean over 20 seeds of the pooled fixed effects, SEs and ICC within 3.5 Monte Carlo
    SEs of R mice's (the SE of a difference of two means of 20 seeds; 3.5 keeps the
    family-wise error of the 14 comparisons near 0.7%). Cost: the popmis_runs fixture."""
    py, r = popmis_runs[setup], _r_runs(setup)
    diff = py.mean(axis=0) - r.mean(axis=0)
    mc_se = np.sqrt(py.var(axis=0, ddof=1) / len(py) + r.var(axis=0, ddof=1) / len(r))
    labels = ["b0", "b_sex", "b_texp", "se0", "se_sex", "se_texp", "icc"]
    summary = pd.DataFrame(
        {"python": py.mean(axis=0), "R": r.mean(axis=0), "z": diff / mc_se}, index=labels
    )
    print(f"\n{setup}\n{summary.round(4)}")
    assert np.all(np.abs(diff) <= 3.5 * mc_se), summary


@pytest.mark.slow
def test_popmis_single_level_pmm_shrinks_the_icc(popmis_runs):
    """Single-level pmm pools a smaller ICC than multilevel imputation (the issue's
    known direction), in Python as in R mice; Python's pmm ICC agrees with R's."""
    multi, single, r_single = popmis_runs["2l.pan"], popmis_runs["pmm"], _r_runs("pmm")
    assert single[:, -1].mean() < multi[:, -1].mean() - 0.05
    assert r_single[:, -1].mean() < _r_runs("2l.pan")[:, -1].mean() - 0.05
    mc_se = np.sqrt(single[:, -1].var(ddof=1) / 20 + r_single[:, -1].var(ddof=1) / 20)
    assert abs(single[:, -1].mean() - r_single[:, -1].mean()) <= 3.5 * mc_se


# --------------------------------------------------------------------- coverage

REPS = 300
TRUE_SLOPES = np.array([0.5, 0.5])
TAU2 = 0.5
SIM_CLUSTERS = 50
SIM_M = 3


def _simulate_method(datasets, make_imputer):
    """Pooled slopes of x and w, whether their 95% intervals (t reference, Barnard-Rubin
    df with dfcom = clusters - 3) cover the truth, and the mean random-intercept variance,
    per dataset; skmipool's own analysis (MIPooledEstimator, MixedLM)."""
    out = []
    for rep, d in enumerate(datasets):
        pooled, tau2, _ = pooled_mixed(
            d, make_imputer(), "y ~ x + w + (1 | cluster)", "cluster", SIM_M, rep
        )
        ci = pooled.conf_int()
        cover = (ci["lower"].to_numpy()[1:] <= TRUE_SLOPES) & (
            TRUE_SLOPES <= ci["upper"].to_numpy()[1:]
        )
        out.append([*cover, *pooled.estimate.to_numpy()[1:], tau2])
    return np.array(out)


@pytest.fixture(scope="module")
def simulated():
    """The datasets every arm of the coverage test imputes."""
    return [
        two_level(10_000 + rep, n_clusters=SIM_CLUSTERS, size=6, tau2=TAU2) for rep in range(REPS)
    ]


def _check_coverage(res, label):
    """Coverage of the x and w slopes within 2.58 binomial SEs of 0.95 (0.032 for 300
    replications) and the random-intercept variance's relative bias under 10%."""
    coverage, bias_tau2 = res[:, :2].mean(axis=0), res[:, 4].mean() / TAU2 - 1
    print(
        f"\n{label}: coverage x, w {coverage}, slope bias {res[:, 2:4].mean(axis=0) - 0.5}, "
        f"tau2 relative bias {bias_tau2:+.3f}"
    )
    tolerance = 2.58 * np.sqrt(0.95 * 0.05 / len(res))
    assert np.all(np.abs(coverage - 0.95) <= tolerance), (label, coverage)
    assert abs(bias_tau2) < 0.10, (label, bias_tau2)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:the fraction of missing information")  # M = 3 on purpose
def test_coverage_of_the_multilevel_default(simulated):
    """ChainedImputer(cluster=...) with no method (2l.lrd for x and y, 2lonly.pmm for w):
    300 replications of 50 clusters x 6 rows, MAR in x and y (M = 3, 5 sweeps).
    Single-level pmm on the first 30 replications is printed beside it and shrinks the
    random-intercept variance by far more. Measured cost: 153 s on one core (2 shared: 900
    imputations at 0.025 s and 900 MixedLM fits at 0.055 s, about 90 s; pmm on 100
    datasets about 60 s, cut to 30 since: about 18 s); the popmis fixture 54 s; the whole slow
    file about 260 s.
    Measured: coverage 0.937 (x), 0.963 (w), slope bias -0.002, -0.014; tau^2 bias +5.6%;
    pmm: coverage 0.90, 0.94, tau^2 -53%. (2l.pmm on the same 300 datasets, not run here:
    coverage 0.897 and bias +0.032 = +0.32 SD for x, pmm's pull toward the centre where
    donors are scarce; tau^2 +4.3%.)
    """
    res = _simulate_method(simulated, lambda: ChainedImputer(cluster="cluster", max_iter=5))
    no_cluster = {"y": ["x", "w"], "x": ["y", "w"]}  # the cluster labels predict nothing
    single = _simulate_method(
        simulated[:30],
        lambda: ChainedImputer(method="pmm", predictor_matrix=no_cluster, max_iter=5),
    )
    print(
        f"\npmm (single level, 30 reps): coverage {single[:, :2].mean(axis=0)}, "
        f"slope bias {single[:, 2:4].mean(axis=0) - 0.5}, "
        f"tau2 relative bias {single[:, 4].mean() / TAU2 - 1:+.3f}"
    )
    _check_coverage(res, "default (2l.lrd)")
    assert single[:, 4].mean() / TAU2 - 1 < -0.2


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:the fraction of missing information")
@pytest.mark.xfail(
    strict=False,
    reason="2l.norm under-covers the x slope on this design: 0.913 (M = 3; 0.923 with M = 5 "
    "in the earlier version of this test), below 0.95 - 0.032; not the default",
)
def test_coverage_of_2l_norm(simulated):
    """2l.norm on the same 300 datasets, as the default test. Measured cost: 91 s on one
    core (2 shared). Measured: coverage 0.913 (x), 0.953 (w), slope bias -0.008, -0.008;
    tau^2 bias +6.2%."""
    res = _simulate_method(
        simulated, lambda: ChainedImputer(cluster="cluster", method="2l.norm", max_iter=5)
    )
    _check_coverage(res, "2l.norm")
