"""Multilevel models of the chain: 2l.norm, 2l.pmm, 2l.lrd, 2l.bin and the 2lonly methods.

Level-1 columns (varying within clusters) are imputed from a linear mixed
model with a random intercept and optional random slopes,

    y_ci = x_ci'beta + z_ci'b_c + e_ci,   b_c ~ N(0, Psi),   e_ci ~ N(0, sigma_c^2),

whose parameters are drawn by a Gibbs sampler (Kasim & Raudenbush 1998;
van Buuren 2018, FIMD section 7.4; mice's ``mice.impute.2l.norm``). Level-2
columns (constant within clusters) are imputed once per cluster from the
cluster means of their predictors (mice's ``.imputation.level2``).

Every step of the sampler works on all clusters at once: the per-cluster
cross-products of the observed rows are segment sums (one sparse product
with the cluster indicator matrix), and the per-cluster q x q systems of the
random effects are stacked into (n_clusters, q, q) arrays for ``np.linalg``.
The fixed effects are drawn with the random effects integrated out (a
collapsed step: ``V_c^-1`` by the Woodbury identity), which mixes faster
than mice's draw of the fixed effects given the random effects.

One engine serves three models; they differ in the residual variance plugged
into it (:class:`CommonVariance`, one sigma^2; :class:`ClusterVariances`,
mice's heterogeneous sigma_c^2; :class:`UnitVariance`, the working model of
the logit) and in how they impute (normal draw, matching, Bernoulli draw).

References
----------
Kasim, R. M. and Raudenbush, S. W. (1998). Application of Gibbs sampling to
nested variance components models with heterogeneous within-group variance.
*Journal of Educational and Behavioral Statistics* 23, 93-116.
van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed. (FIMD),
chapter 7 (multilevel multiple imputation).
Enders, C. K., Mistler, S. A. and Keller, B. T. (2016). Multilevel multiple
imputation: A review and evaluation of joint modeling and chained equations
imputation. *Psychological Methods* 21, 222-240.
Schafer, J. L. and Yucel, R. M. (2002). Computational strategies for
multivariate linear mixed-effects models with missing values. *Journal of
Computational and Graphical Statistics* 11, 437-457.
Breslow, N. E. and Clayton, D. G. (1993). Approximate inference in
generalized linear mixed models. *Journal of the American Statistical
Association* 88, 9-25.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.linalg import cho_solve
from scipy.special import expit

from skmipool.impute._models import (
    PRIOR_SD_LOGIT,
    Moments,
    NormModel,
    PmmModel,
    _cholesky,
    bootstrap_rows,
    match_donors,
    select_predictors,
    sort_order,
)

__all__ = [
    "ClusterColumnData",
    "LevelTwoModel",
    "MixedLogitModel",
    "MixedLrdModel",
    "MixedNormModel",
    "MixedPmmModel",
    "cluster_gram",
]

# Gibbs steps at the first fit of a column (from starting values), then at every later
# fit, warm-started from the state the previous fit left (the chain's sweeps continue one
# sampler; mice's 2l.norm restarts 100 steps from fixed values at every call)
BURN_IN = 20
STEPS = 5
# 2l.pmm and 2l.lrd: rows with leverage 1 - LEVERAGE_TOL or more (a cluster with as many
# rows as random effects) have no residual of their own and do not donate
LEVERAGE_TOL = 1e-8
# 2l.bin: working weights p(1 - p) are kept above this (fitted probabilities of 0 or 1)
MIN_WEIGHT = 1e-8


# --------------------------------------------------------------------- the data


class ClusterColumnData:
    """One column's view of a clustered workspace, as a multilevel model's ``fit`` reads it.

    The models read rows of the *extended* design ``[D | cluster means of D |
    cluster code]`` (width 2 q + 1 for a design D of width q); ``cols`` are the
    extended columns of the column's level-1 predictors (design columns and
    cluster means), ``slopes`` those of them with a random slope, and
    ``design_cols`` the design columns of its predictors (for the cluster-level
    models, which read the cluster means of those columns).
    """

    def __init__(self, work, j, obs, mis, cols, slopes, design_cols, y_obs):
        self.work, self.j, self.obs, self.mis = work, j, obs, mis
        self.cols, self.slopes, self.design_cols, self.y_obs = cols, slopes, design_cols, y_obs
        self._rows_mis = None

    @property
    def rows_mis(self) -> np.ndarray:
        """The extended design's missing rows (the models' ``impute`` input)."""
        if self._rows_mis is None:
            self._rows_mis = self.work.extended(self.mis)
        return self._rows_mis

    @property
    def X_obs(self) -> np.ndarray:
        """The level-1 predictors of the observed rows (n_obs x len(cols))."""
        return self.work.extended(self.obs)[:, self.cols]

    @property
    def cluster_obs(self) -> np.ndarray:
        """Cluster codes of the observed rows."""
        return self.work.cluster[self.obs]

    @property
    def n_clusters(self) -> int:
        return self.work.n_clusters

    @property
    def design_width(self) -> int:
        return self.work.design.shape[1]

    def cluster_design(self) -> np.ndarray:
        """Cluster means of the whole design (n_clusters x q), over all rows."""
        return self.work.cluster_means()


def cluster_gram(A: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-cluster cross-products ``A_c'A_c`` as an (n_clusters, k, k) array.

    Segment sums over the rows of each cluster: one sparse product of the
    cluster indicator matrix with the products ``A[:, i] * A`` per column i
    (no loop over clusters; clusters without rows get zeros).
    """
    n, k = A.shape
    indicator = sparse.csr_matrix((np.ones(n), (cluster, np.arange(n))), shape=(n_clusters, n))
    out = np.empty((n_clusters, k, k))
    for i in range(k):
        out[:, i, :] = indicator @ (A * A[:, i : i + 1])
    return out


def within_cluster_fit(
    m: ClusterMoments, beta: np.ndarray, X: np.ndarray, z: np.ndarray, cluster: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Donors' predictions ``x_i'beta^ + z_i'b~_c`` with each cluster's own least-squares
    effects, and the leverages ``h_i = z_i'(Z_c'Z_c)^+ z_i`` of the rows.

    ``b~_c = (Z_c'Z_c)^+ Z_c'(y_c - X_c beta^)`` (the cluster's unshrunk effects, a
    pseudo-inverse where a cluster has fewer rows than random effects), so the residuals
    ``y_c - X_c beta^ - Z_c b~_c`` are orthogonal to Z_c within every cluster: the
    within-cluster residuals of a random-effects model (Hilden-Minton 1995; Loy &
    Hofmann 2014, the "level-1 least-squares residuals"). The shrunken BLUP b^_c would
    leave ``Z_c'(y_c - X_c beta^ - Z_c b^_c) = sigma^2 Psi^-1 b^_c`` in them: a share of
    the donor's cluster effect that matching on the prediction then adds to the
    recipient's own drawn effect. A residual's variance is ``sigma^2 (1 - h_i)``.
    """
    zr = m.zy - np.einsum("gji,j->gi", m.xz, beta)
    q = z.size
    zz_pinv = 1 / np.where(m.zz > 0, m.zz, np.inf) if q == 1 else np.linalg.pinv(m.zz)
    b = np.einsum("gij,gj->gi", zz_pinv, zr)
    Z = X[:, z]
    fitted = X @ beta + np.einsum("ij,ij->i", Z, b[cluster])
    leverage = np.einsum("ij,ijk,ik->i", Z, zz_pinv[cluster], Z)
    return fitted, leverage


@dataclass(frozen=True)
class ClusterMoments:
    """Per-cluster moments of the observed rows: the sufficient statistics of the sampler.

    ``gram`` holds ``[X, y]_c'[X, y]_c`` for each cluster c (X with the intercept
    column first); ``z`` are the columns of X with random effects (0, the
    intercept, first); ``n`` the rows per cluster.
    """

    n: np.ndarray
    xx: np.ndarray  # (G, p, p)
    xy: np.ndarray  # (G, p)
    yy: np.ndarray  # (G,)
    xz: np.ndarray  # (G, p, q)
    zz: np.ndarray  # (G, q, q)
    zy: np.ndarray  # (G, q)

    @classmethod
    def from_gram(cls, gram: np.ndarray, z: np.ndarray, n: np.ndarray) -> ClusterMoments:
        p = gram.shape[1] - 1
        xx, xy, yy = gram[:, :p, :p], gram[:, :p, p], gram[:, p, p]
        xz = xx[:, :, z]
        return cls(n=n, xx=xx, xy=xy, yy=yy, xz=xz, zz=xz[:, z, :], zy=xy[:, z])


# --------------------------------------------------------------------- the sampler


@dataclass(frozen=True)
class GibbsState:
    """One state of the sampler: fixed effects, random effects and variances.

    ``sigma2`` has one entry per cluster (all equal for a common variance);
    ``sigma2_0`` and ``theta`` are the hyperparameters of heterogeneous
    variances (Kasim & Raudenbush 1998), unused otherwise. ``beta_mean`` is
    the conditional posterior mean of beta at the last step (pmm's donors).
    """

    beta: np.ndarray
    b: np.ndarray
    psi: np.ndarray
    sigma2: np.ndarray
    sigma2_0: float = 1.0
    theta: float = 1.0
    beta_mean: np.ndarray | None = None


def _sym(A: np.ndarray) -> np.ndarray:
    return (A + np.swapaxes(A, -1, -2)) / 2


def _inverse(K: np.ndarray) -> np.ndarray:
    """Inverses of symmetric matrices (..., q, q); a reciprocal for q = 1 (the common random
    intercept, where np.linalg's per-call overhead would dominate)."""
    if K.shape[-1] == 1:
        return 1 / K
    return _sym(np.linalg.inv(K))


def _batched_normal(cov: np.ndarray, rng) -> np.ndarray:
    """One N(0, cov_c) draw per cluster from stacked covariances (G, q, q)."""
    q = cov.shape[-1]
    if q == 1:
        return np.sqrt(cov[:, :, 0]) * rng.standard_normal((cov.shape[0], 1))
    jitter = 1e-12 * np.maximum(np.trace(cov, axis1=1, axis2=2) / q, 1e-300)
    L = np.linalg.cholesky(cov + jitter[:, None, None] * np.eye(q))
    return np.einsum("gij,gj->gi", L, rng.standard_normal((cov.shape[0], q)))


def inverse_wishart(df: float, scale: np.ndarray, rng) -> np.ndarray:
    """A draw of Psi ~ IW(df, scale), i.e. Psi^-1 ~ Wishart(df, scale^-1) (Bartlett).

    ``Psi^-1 = C A A' C'`` with C the lower Cholesky factor of ``scale^-1``, A
    lower triangular, ``A_ii = sqrt(chi^2(df - i))`` and standard normal below
    the diagonal (Bartlett 1933). mice's 2l.norm draws ``inv.psi`` the same way
    (``rwishart(df, chol(solve(S)))``).
    """
    q = scale.shape[0]
    if q == 1:  # psi = S / chi^2(df)
        return scale / rng.chisquare(df)
    C = np.linalg.cholesky(np.linalg.inv(scale))
    A = np.tril(rng.standard_normal((q, q)), -1)
    A[np.diag_indices(q)] = np.sqrt(rng.chisquare(df - np.arange(q)))
    CA = C @ A
    return _sym(np.linalg.inv(CA @ CA.T))


class CommonVariance:
    """One residual variance for all clusters, prior p(sigma^2) ~ 1 / sigma^2.

    ``sigma^2 | rest = RSS / chi^2(n)`` (Schafer & Yucel 2002; pan's and
    2l.lmer's homoscedastic model). Without draws ``RSS / n`` (the ECM update,
    with the trace term of the random effects' posterior variance).
    """

    def initial(self, state: GibbsState, n: np.ndarray) -> GibbsState:
        return state

    def draw(self, state, ss, n, rng, draw):
        total = ss.sum()
        s2 = total / rng.chisquare(n.sum()) if draw else total / n.sum()
        return replace(state, sigma2=np.full(n.size, max(s2, 1e-300)))


class ClusterVariances:
    """Heterogeneous within-cluster variances (Kasim & Raudenbush 1998; mice's 2l.norm).

    ``1 / sigma_c^2 ~ Gamma(n_c / 2 + 1 / (2 theta), rate = ss_c / 2 + sigma_0^2 / (2 theta))``,
    then the hyperparameters: ``sigma_0^2 ~ Gamma(G / (2 theta) + 1, scale = 2 theta H / G)``
    with H the harmonic mean of the sigma_c^2, and ``1 / theta ~ Gamma(G / 2 - 1, scale =
    2 / (G (sigma_0^2 / H - log sigma_0^2 + log GM - 1)))`` with GM their geometric mean
    (mice's ``mice.impute.2l.norm``, the lines after ``inv.sigma2 <- rgamma``). A cluster
    without observed rows gets a draw from the prior, ``Gamma(1 / (2 theta), sigma_0^2 /
    (2 theta))``. Without draws: ``sigma_c^2 = ss_c / n_c`` shrunk toward sigma_0^2
    (the mode of the same conditional), hyperparameters kept.
    """

    def initial(self, state: GibbsState, n: np.ndarray) -> GibbsState:
        return replace(state, sigma2_0=float(state.sigma2[0]), theta=1.0)

    def draw(self, state, ss, n, rng, draw):
        G, theta, s0 = n.size, state.theta, state.sigma2_0
        shape = n / 2 + 1 / (2 * theta)
        rate = ss / 2 + s0 / (2 * theta)
        if not draw:
            return replace(state, sigma2=np.maximum(rate / np.maximum(shape - 1, 0.5), 1e-300))
        inv_s2 = np.maximum(rng.gamma(shape, 1 / rate), 1e-300)
        H = 1 / inv_s2.mean()
        s0 = rng.gamma(G / (2 * theta) + 1, 2 * theta * H / G)
        log_gm = np.mean(-np.log(inv_s2))
        spread = max(s0 / H - np.log(s0) + log_gm - 1, 1e-12)  # >= 0: GM >= H
        theta = 1 / rng.gamma(G / 2 - 1, 2 / (G * spread)) if G > 2 else theta
        return replace(state, sigma2=1 / inv_s2, sigma2_0=float(s0), theta=float(theta))


class UnitVariance:
    """The residual variances of the logit's working model are the known ``1 / w_i``: the
    row weights carry them, sigma^2 stays 1."""

    def initial(self, state: GibbsState, n: np.ndarray) -> GibbsState:
        return replace(state, sigma2=np.ones(n.size))

    def draw(self, state, ss, n, rng, draw):
        return state


def gibbs_step(m: ClusterMoments, state: GibbsState, residual, penalty, rng, draw) -> GibbsState:
    """One sweep of the sampler: beta | Psi, sigma; b | beta; Psi | b; sigma | beta, b.

    beta with b integrated out: ``V_c = sigma_c^2 I + Z_c Psi Z_c'``, whose inverse
    is ``(I - Z_c K_c^-1 Z_c') / sigma_c^2`` with ``K_c = Z_c'Z_c + sigma_c^2 Psi^-1``
    (Woodbury), so ``X'V^-1X = sum_c (X_c'X_c - X_c'Z_c K_c^-1 Z_c'X_c) / sigma_c^2``
    and likewise ``X'V^-1y``; beta ~ N(A^-1 r, A^-1) under a flat prior (plus
    the ridge ``penalty``). Then ``b_c | beta ~ N(K_c^-1 Z_c'(y_c - X_c beta),
    sigma_c^2 K_c^-1)`` (Kasim & Raudenbush 1998, eq. 11; mice's ``bees``), and
    ``Psi | b ~ IW(G - q - 1, sum_c b_c b_c')``, mice's
    ``rwishart(df = n.class - n.rc - 1, ...)`` (a flat prior on Psi). Without
    draws every draw is replaced by its conditional mean, the variances by ECM
    updates (Psi and sigma^2 with the posterior variance of b added).
    """
    G, q = m.zz.shape[0], m.zz.shape[1]
    psi_inv = _inverse(state.psi)
    s2 = state.sigma2
    K = m.zz + s2[:, None, None] * psi_inv
    K_inv = _inverse(K)
    xzk = m.xz @ K_inv  # X_c'Z_c K_c^-1
    w = 1 / s2
    A = np.einsum("g,gij->ij", w, m.xx - xzk @ np.swapaxes(m.xz, 1, 2))
    r = np.einsum("g,gi->i", w, m.xy - np.einsum("gij,gj->gi", xzk, m.zy))
    L = _cholesky(_sym(A) + np.diag(penalty))
    beta_mean = cho_solve((L, True), r, check_finite=False)
    beta = beta_mean
    if draw:
        beta = beta_mean + np.linalg.solve(L.T, rng.standard_normal(beta.size))
    # random effects given beta, all clusters at once
    b_mean = np.einsum("gij,gj->gi", K_inv, m.zy - np.einsum("gji,j->gi", m.xz, beta))
    b_cov = s2[:, None, None] * K_inv
    b = b_mean + _batched_normal(b_cov, rng) if draw else b_mean
    # Psi | b
    S = b.T @ b
    if draw:
        psi = inverse_wishart(
            max(G - q - 1, q), S + 1e-12 * np.eye(q) * max(np.trace(S), 1e-300), rng
        )
    else:
        psi = (S + b_cov.sum(axis=0)) / G
        psi = psi + 1e-12 * np.eye(q) * max(np.trace(psi), 1e-300)
    # residual sums of squares per cluster from the moments
    ss = (
        m.yy
        - 2 * m.xy @ beta
        - 2 * np.einsum("gi,gi->g", m.zy, b)
        + np.einsum("i,gij,j->g", beta, m.xx, beta)
        + 2 * np.einsum("i,gij,gj->g", beta, m.xz, b)
        + np.einsum("gi,gij,gj->g", b, m.zz, b)
    )
    ss = np.maximum(ss, 0.0)
    if not draw:
        ss = ss + np.einsum("gij,gji->g", m.zz, b_cov)
    state = replace(state, beta=beta, b=b, psi=psi, beta_mean=beta_mean)
    return residual.draw(state, ss, m.n, rng, draw)


# --------------------------------------------------------------------- level-1 models


@dataclass(frozen=True)
class _Level1Design:
    """The level-1 design of one fit: predictors kept, their means, random-effect columns."""

    cols: np.ndarray  # extended columns of the kept predictors
    mean: np.ndarray
    z: np.ndarray  # columns of [1, X - mean] with random effects, 0 first

    def matrix(self, D: np.ndarray) -> np.ndarray:
        """``[1, D[:, cols] - mean]`` for rows D of the extended design."""
        return np.column_stack([np.ones(D.shape[0]), D[:, self.cols] - self.mean])


def _level1_design(data: ClusterColumnData) -> tuple[_Level1Design, np.ndarray]:
    """Kept predictors (mice's remove.lindep, as the single-level models) and the design."""
    X = data.X_obs
    mean = X.mean(axis=0)
    Xc = X - mean
    kept = select_predictors(Xc.T @ Xc, np.einsum("ij,ij->j", X, X))
    slopes = 1 + np.flatnonzero(np.isin(data.cols[kept], data.slopes))  # after the intercept
    design = _Level1Design(data.cols[kept], mean[kept], np.concatenate([[0], slopes]))
    return design, np.column_stack([np.ones(X.shape[0]), Xc[:, kept]])


class MixedNormModel:
    """Linear mixed model with every parameter drawn by Gibbs steps (``2l.norm``).

    The model of the module docstring, random intercept plus the random slopes
    named in the predictor matrix (2 = random slope, mice's type 2), one
    residual variance or, with ``heteroscedastic``, one per cluster (mice's
    2l.norm). Each fit runs ``BURN_IN`` Gibbs steps at the first fit, then
    ``STEPS`` warm-started from the last state (:func:`gibbs_step`), and
    imputes ``y = x'beta* + z'b_c* + sigma_c* e`` from the last draw. Rows of a
    cluster unseen at fit (``transform``) get ``b ~ N(0, Psi*)`` and, with
    heterogeneous variances, a sigma^2 from its prior.
    """

    method = "2l.norm"
    clustered = True

    def __init__(self, ridge: float, heteroscedastic: bool = False, name=None):
        self.ridge = ridge
        self.heteroscedastic = heteroscedastic
        self.name = name
        self._state = None
        self._key = None

    def _residual(self):
        return ClusterVariances() if self.heteroscedastic else CommonVariance()

    def _penalty(self, X: np.ndarray) -> np.ndarray:
        # mice's ridge on the slopes (.norm.fix: ridge * diag(xtx)); the intercept is free
        penalty = self.ridge * np.einsum("ij,ij->j", X, X)
        penalty[0] = 0.0
        return penalty

    def _start(self, X, y, cluster, G, design, residual) -> GibbsState:
        """Starting values: pooled least squares, b = 0, Psi a quarter of the residual variance
        per unit of each random-effect column."""
        xx = X.T @ X
        L = _cholesky(xx + np.diag(self._penalty(X)))
        beta = cho_solve((L, True), X.T @ y)
        s2 = max(float(np.mean((y - X @ beta) ** 2)), 1e-12)
        z_scale = np.maximum(np.mean(X[:, design.z] ** 2, axis=0), 1e-12)
        q = design.z.size
        state = GibbsState(beta, np.zeros((G, q)), np.diag(s2 / 4 / z_scale), np.full(G, s2))
        return residual.initial(state, np.bincount(cluster, minlength=G))

    def _run(self, data, X, y, design, rng, draw, moments_of) -> GibbsState:
        """Gibbs steps from the saved state (or starting values); ``moments_of(state)``
        gives the moments at a state (fixed for a linear model, working for the logit)."""
        G = data.n_clusters
        residual = self._residual()
        key = (tuple(design.cols), tuple(design.z), G)
        state = self._state if self._key == key else None
        steps = STEPS
        if state is None:
            state, steps = self._start(X, y, data.cluster_obs, G, design, residual), BURN_IN
        penalty = self._penalty(X)
        for _ in range(steps):
            state = gibbs_step(moments_of(state), state, residual, penalty, rng, draw)
        self._state, self._key = state, key
        return state

    def fit(self, data, rng, draw):
        design, X = _level1_design(data)
        self.y_mean_ = float(data.y_obs.mean())
        y = data.y_obs - self.y_mean_
        cluster, G = data.cluster_obs, data.n_clusters
        gram = cluster_gram(np.column_stack([X, y]), cluster, G)
        m = ClusterMoments.from_gram(gram, design.z, np.bincount(cluster, minlength=G))
        state = self._run(data, X, y, design, rng, draw, lambda s: m)
        self.design_, self.state_ = design, state
        self._moments = m
        return self

    # prediction ---------------------------------------------------------------

    def _effects(self, cluster: np.ndarray, rng, draw) -> tuple[np.ndarray, np.ndarray]:
        """Random effects and residual variances of rows of clusters ``cluster``: those drawn
        at fit, or for clusters unseen at fit a draw from N(0, Psi) (zero without draws)."""
        s = self.state_
        G, q = s.b.shape
        b, s2 = np.empty((cluster.size, q)), np.empty(cluster.size)
        seen = cluster < G
        b[seen], s2[seen] = s.b[cluster[seen]], s.sigma2[cluster[seen]]
        if not seen.all():
            new, inverse = np.unique(cluster[~seen], return_inverse=True)
            b_new = np.zeros((new.size, q))
            s2_new = np.full(new.size, float(np.mean(s.sigma2)))
            if draw:
                b_new = rng.standard_normal((new.size, q)) @ np.linalg.cholesky(s.psi).T
                if self.heteroscedastic:  # the prior of Kasim & Raudenbush (1998)
                    a = 1 / (2 * s.theta)
                    s2_new = 1 / rng.gamma(a, 1 / (a * s.sigma2_0), size=new.size)
            b[~seen], s2[~seen] = b_new[inverse], s2_new[inverse]
        return b, s2

    def predict(self, D: np.ndarray, rng, draw) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean ``x'beta* + z'b_c*`` and residual variance of rows D of the
        extended design (the cluster code in its last column)."""
        X = self.design_.matrix(D)
        b, s2 = self._effects(D[:, -1].astype(np.intp), rng, draw)
        mean = self.y_mean_ + X @ self.state_.beta + np.einsum("ij,ij->i", X[:, self.design_.z], b)
        return mean, s2

    def impute(self, D, rng, draw):
        mean, s2 = self.predict(D, rng, draw)
        if draw:
            return mean + np.sqrt(s2) * rng.standard_normal(mean.size)
        return mean


class MixedPmmModel(MixedNormModel):
    """Predictive mean matching on the multilevel predictive mean (``2l.pmm``).

    The parameters are drawn as in :class:`MixedNormModel`. Observed rows are
    predicted with the conditional posterior means at the last state
    (``beta^ = A^-1 r`` and ``b^_c = K_c^-1 Z_c'(y_c - X_c beta^)``, the
    multilevel analogue of pmm's b-hat), missing rows with the drawn
    ``x'beta* + z'b_c*``; each missing row takes the observed value of a donor
    drawn among the ``donors`` closest predictions, over all clusters, among
    an approximate Bayesian bootstrap of the observed rows (as the
    single-level ``pmm``; Rubin & Schenker 1986). Imputations are observed
    values.
    """

    method = "2l.pmm"

    def __init__(self, ridge, donors, bootstrap=True, heteroscedastic=False, name=None):
        super().__init__(ridge, heteroscedastic, name)
        self.donors = donors
        self.bootstrap = bootstrap

    def fit(self, data, rng, draw):
        self._fit_donors(data, rng, draw)
        return self

    def _fit_donors(self, data, rng, draw) -> np.ndarray:
        """Fit, set the sorted donors, and return their leverages (2l.lrd's, at fit only:
        not kept, n_obs floats)."""
        super().fit(data, rng, draw)
        X = self.design_.matrix(data.work.extended(data.obs))
        fitted, leverage = within_cluster_fit(
            self._moments, self.state_.beta_mean, X, self.design_.z, data.cluster_obs
        )
        values = data.y_obs
        keep = np.flatnonzero(leverage < 1 - LEVERAGE_TOL)  # a donor with a residual of its own
        if keep.size == 0:  # every cluster saturated (one row each): all rows donate
            keep = np.arange(values.size)
        if draw and self.bootstrap:
            rows = keep[bootstrap_rows(keep.size, rng)]
            order = rows[sort_order(fitted[rows])]
        else:
            order = keep[sort_order(fitted[keep])]
        self.sorted_pred_ = fitted[order] + self.y_mean_
        self.donor_values_ = values[order]
        return leverage[order]

    def impute(self, D, rng, draw):
        mean, _ = self.predict(D, rng, draw)
        return self.donor_values_[match_donors(self.sorted_pred_, mean, self.donors, rng, draw)]


class MixedLrdModel(MixedPmmModel):
    """Local residual draws on the multilevel predictive mean (``2l.lrd``).

    The multilevel analogue of the single-level ``lrd``
    (:class:`~skmipool.impute._models.LrdModel`; Schenker & Taylor 1996): the
    donor is matched as in :class:`MixedPmmModel` (drawn parameters, donors an
    approximate Bayesian bootstrap of the observed rows, matched over all
    clusters), and the missing row gets its own predictive mean
    ``x'beta* + z'b_c*``, which carries its cluster's drawn random effect,
    plus the donor's residual ``y_i - x_i'beta^ - z_i'b^_c``, clipped to the
    range of the observed values. The cluster effect thus comes from the
    recipient's own cluster and only the level-1 residual from the donor, and
    the imputation follows the regression where donors are scarce (the tail a
    MAR mechanism empties), where pmm's donor values pull it toward the centre.
    """

    method = "2l.lrd"

    def fit(self, data, rng, draw):
        leverage = self._fit_donors(data, rng, draw)
        # the donors' within-cluster residuals, reflated to the residual variance: r_i has
        # variance sigma^2 (1 - h_i); r_i / sqrt(1 - h_i) has sigma^2 (Davison & Hinkley
        # 1997, eq. 6.9, modified residuals; Carpenter, Goldstein & Rasbash 2003 reflate the
        # residuals of a multilevel bootstrap likewise)
        residual = self.donor_values_ - self.sorted_pred_
        self.donor_values_ = residual / np.sqrt(1 - leverage)
        self.range_ = (float(data.y_obs.min()), float(data.y_obs.max()))
        return self

    def impute(self, D, rng, draw):
        mean, _ = self.predict(D, rng, draw)
        donor = match_donors(self.sorted_pred_, mean, self.donors, rng, draw)
        # Schenker & Taylor (1996): own prediction plus the donor's residual, clipped to the
        # observed range (as the single-level LrdModel)
        return np.clip(mean + self.donor_values_[donor], *self.range_)


class MixedLogitModel(MixedNormModel):
    """Random-intercept logistic model for binary columns (``2l.bin``), approximate draws.

    ``logit P(y = 1) = x'beta + z'b_c``, ``b_c ~ N(0, Psi)``. Each Gibbs step
    linearises the likelihood at the current state, as penalised
    quasi-likelihood does (Breslow & Clayton 1993): working response
    ``y~ = eta + (y - p) / w`` with weights ``w = p (1 - p)``, and draws
    beta, b and Psi from the linear mixed model of y~ with residual variances
    ``1 / w`` (:func:`gibbs_step` with :class:`UnitVariance`). The draws are
    those of a normal (Laplace) approximation around the conditional modes,
    not an exact posterior sampler; mice's ``2l.bin`` approximates too
    (``glmer`` estimates, then ``beta* ~ N(beta^, vcov)`` and a
    Wishart draw of Psi). The slopes carry the weakly informative prior of
    ``logreg`` (sd 4 logits per SD of the predictor) against separation.
    ``levels`` are the two values imputed for codes 0 and 1.
    """

    method = "2l.bin"

    def __init__(self, levels=None, name=None):
        super().__init__(0.0, False, name)
        self.levels = levels

    def _residual(self):
        return UnitVariance()

    def _penalty(self, X):
        # logreg's prior on each slope, N(0, (PRIOR_SD_LOGIT / sd(x))^2); the intercept is free
        return np.concatenate([[0.0], np.var(X[:, 1:], axis=0) / PRIOR_SD_LOGIT**2])

    def _start(self, X, y, cluster, G, design, residual):
        p = np.clip(y.mean(), 0.05, 0.95)
        beta = np.zeros(X.shape[1])
        beta[0] = np.log(p / (1 - p))
        state = GibbsState(beta, np.zeros((G, design.z.size)), np.eye(design.z.size), np.ones(G))
        return residual.initial(state, np.bincount(cluster, minlength=G))

    def fit(self, data, rng, draw):
        design, X = _level1_design(data)
        self.y_mean_ = 0.0
        y = (
            np.searchsorted(self.levels, data.y_obs).astype(float)
            if self.levels is not None
            else data.y_obs
        )
        cluster, G = data.cluster_obs, data.n_clusters
        n = np.bincount(cluster, minlength=G)

        def moments_of(state):
            eta = X @ state.beta + np.einsum("ij,ij->i", X[:, design.z], state.b[cluster])
            p = expit(eta)
            w = np.maximum(p * (1 - p), MIN_WEIGHT)
            working = eta + (y - p) / w
            root = np.sqrt(w)[:, None]
            gram = cluster_gram(np.column_stack([X, working]) * root, cluster, G)
            return ClusterMoments.from_gram(gram, design.z, n)

        state = self._run(data, X, y, design, rng, draw, moments_of)
        self.design_, self.state_ = design, state
        return self

    def impute(self, D, rng, draw):
        eta, _ = self.predict(D, rng, draw)
        p = expit(eta)
        codes = (rng.random(p.size) < p) if draw else (p > 0.5)
        codes = codes.astype(np.intp)
        return codes.astype(float) if self.levels is None else self.levels[codes]


# --------------------------------------------------------------------- level-2 models


class _ClusterLevelData:
    """A level-2 column's data at the cluster level, as :class:`NormModel` reads a column:
    one row per cluster with an observed value, the cluster means of the design."""

    def __init__(self, design: np.ndarray, observed: np.ndarray, cols, y_obs):
        self.design, self.obs, self.cols, self.y_obs = design, observed, cols, y_obs

    @property
    def design_width(self) -> int:
        return self.design.shape[1]

    @property
    def X_obs(self) -> np.ndarray:
        return self.design[np.ix_(self.obs, self.cols)]

    def moments(self) -> Moments:
        X, y = self.X_obs, self.y_obs
        mean, y_mean = X.mean(axis=0), float(y.mean())
        Xc, yc = X - mean, y - y_mean
        return Moments(
            n=y.size,
            x_mean=mean,
            y_mean=y_mean,
            sxx=Xc.T @ Xc,
            sxy=Xc.T @ yc,
            syy=float(yc @ yc),
            x_square=np.einsum("ij,ij->j", X, X),
        )

    def fitted(self, weights: np.ndarray) -> np.ndarray:
        return self.design[self.obs] @ weights

    def buffer(self, name: str, size: int, dtype=np.float64) -> np.ndarray:
        """A new array (one row per cluster: nothing worth keeping between fits)."""
        return np.empty(size, dtype)


class LevelTwoModel:
    """A level-2 column imputed once per cluster (``2lonly.mean``, ``2lonly.norm``,
    ``2lonly.pmm``).

    As mice's ``.imputation.level2``: the column and the predictors are
    aggregated to one row per cluster, the predictors as their cluster means
    (so a level-1 predictor enters as its cluster mean), and the single-level
    ``norm`` or ``pmm`` model is fitted to the clusters where the column is
    observed and imputes the others; every row of a cluster gets its
    cluster's value. A cluster with some rows observed keeps their value
    (mice stops with an error there). ``2lonly.mean`` gives a cluster without
    any observed row the mean over clusters (mice's leaves it missing): it is
    a single, improper imputation.
    """

    clustered = True

    def __init__(self, method: str, inner=None):
        self.method = method
        self.inner = inner

    def fit(self, data, rng, draw):
        G = data.n_clusters
        cluster = data.cluster_obs
        count = np.bincount(cluster, minlength=G)
        total = np.bincount(cluster, weights=data.y_obs, minlength=G)
        observed = count > 0
        values = np.full(G, np.nan)
        values[observed] = total[observed] / count[observed]
        self.values_, self.observed_ = values, observed
        self.q_ = data.design_width
        if self.inner is not None:
            level2 = _ClusterLevelData(
                data.cluster_design(), np.flatnonzero(observed), data.design_cols, values[observed]
            )
            self.inner.fit(level2, rng, draw)
        return self

    def impute(self, D, rng, draw):
        cluster = D[:, -1].astype(np.intp)
        unique, first, inverse = np.unique(cluster, return_index=True, return_inverse=True)
        G = self.values_.size
        out = np.empty(unique.size)
        known = unique < G
        known[known] = self.observed_[unique[known]]
        out[known] = self.values_[unique[known]]
        todo = ~known
        if todo.any():
            if self.inner is None:
                out[todo] = np.nanmean(self.values_)
            else:
                q = self.q_
                out[todo] = self.inner.impute(D[first[todo], q : 2 * q], rng, draw)
        return out[inverse]


def level_two_model(method: str, ridge: float, donors: int, bootstrap: bool) -> LevelTwoModel:
    """The 2lonly model named ``method``."""
    inner = {
        "2lonly.mean": None,
        "2lonly.norm": NormModel(ridge) if method == "2lonly.norm" else None,
        "2lonly.pmm": PmmModel(ridge, donors, bootstrap) if method == "2lonly.pmm" else None,
    }[method]
    return LevelTwoModel(method, inner)
