"""ChainedImputer: multiple imputation by chained equations (mice) as a scikit-learn transformer.

The models (norm, pmm, logreg, polyreg, polr) live in :mod:`skmipool.impute._models`,
the multilevel ones (2l.norm, 2l.lrd, 2l.pmm, 2l.bin, 2lonly.*) in
:mod:`skmipool.impute._multilevel`, the dtype handling in
:mod:`skmipool.impute._columns`; this module holds the chain and the scikit-learn
plumbing.
"""

from __future__ import annotations

from collections.abc import Hashable
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skmipool._validation import as_pandas, copy_on_write
from skmipool.impute._columns import ColumnSpec, decode_column, encode_column, learn_spec
from skmipool.impute._models import (
    LogitModel,
    LrdModel,
    MidastouchModel,
    NormModel,
    PmmModel,
    PolrModel,
)
from skmipool.impute._multilevel import (
    MixedLogitModel,
    MixedLrdModel,
    MixedNormModel,
    MixedPmmModel,
    level_two_model,
)
from skmipool.impute._trees import TREE_METHODS, tree_model
from skmipool.impute._workspace import Workspace

__all__ = ["ChainedImputer"]

# numeric columns with at most this many distinct observed values default to pmm
FEW_DISTINCT_VALUES = 5
SINGLE_LEVEL = ("pmm", "lrd", "norm", "logreg", "polyreg", "polr", "midastouch")
LEVEL_ONE = ("2l.norm", "2l.pmm", "2l.lrd", "2l.bin")  # multilevel models of level-1 columns
LEVEL_TWO = ("2lonly.mean", "2lonly.norm", "2lonly.pmm")  # one value per cluster
METHODS = SINGLE_LEVEL + LEVEL_ONE + LEVEL_TWO + TREE_METHODS
# models that impute values (a delta adjustment shifts them), not levels
VALUE_METHODS = ("pmm", "lrd", "norm", "midastouch", "2l.norm", "2l.pmm", "2l.lrd", *LEVEL_TWO)
VISIT_SEQUENCES = ("roman", "arabic", "monotone", "revmonotone")
# rows of the completed data a fitted imputer keeps for transform (start values, models of the
# columns complete at fit): a bound, so that a fitted imputer does not grow with n
TRAINING_ROWS = 5000
MAX_LEVELS = 50  # mice's maxcat: a numeric column imputed as categories has at most 50 values


def _generator(random_state: np.random.RandomState) -> np.random.Generator:
    """A NumPy Generator seeded from the estimator's RandomState (fast normal draws)."""
    return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max, size=4))


class ChainedImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Multiple imputation by chained equations, with parameters drawn from their posterior.

    Each incomplete column is imputed in turn from the others by its own
    model, and the sweep over the columns is repeated ``max_iter`` times
    (fully conditional specification; van Buuren & Groothuis-Oudshoorn 2011,
    R's ``mice``). Every model draws its parameters from their posterior
    before it imputes, so the M completed datasets from M seeds differ as a
    proper imputation requires (Rubin 1987), unlike
    ``IterativeImputer(sample_posterior=True)``, which adds noise around point
    estimates. Categorical and boolean columns of a DataFrame are imputed as
    categories and returned with their dtype.

    Parameters
    ----------
    method : {"lrd", "pmm", "norm", "midastouch", "logreg", "polyreg", "polr", "cart", "rf", \
"2l.lrd", \
"2l.norm", "2l.pmm", "2l.bin", "2lonly.mean", "2lonly.norm", "2lonly.pmm"}, dict or None, \
default=None
        Imputation model per column:

        - ``"pmm"``: predictive mean matching (FIMD 3.4): a parameter draw,
          then the observed value of one of the ``donors`` observed rows with
          the closest predictions, among a bootstrap of the observed rows
          (``donor_bootstrap``). Imputations stay within the observed values.
        - ``"lrd"``: local residual draws (Schenker & Taylor 1996): pmm's
          parameter draw and bootstrapped donors, but the missing row gets its
          own prediction plus the donor's residual, clipped to the range of
          the observed values. Where donors are scarce (the tail that holds
          most missing values under MAR), pmm pulls its imputations toward the
          centre and biases the slopes; lrd does not (see Notes).
        - ``"norm"``: Bayesian linear regression, sigma and beta drawn from
          their posterior (FIMD Algorithm 3.1).
        - ``"midastouch"``: predictive mean matching with distance-weighted
          donors (Gaffert, Meinfelder & Bosch 2016; mice's ``midastouch``):
          a bootstrap-weighted fit, leave-one-out distances, and each donor
          drawn with probability proportional to its bootstrap weight times
          ``|distance|^-kappa``, kappa from the fit's R^2. Imputations are
          observed values. See Notes.
        - ``"logreg"``: logistic regression with a parameter draw, for
          columns with two levels.
        - ``"polyreg"``: multinomial logistic regression with a parameter
          draw, for unordered categories.
        - ``"polr"``: proportional-odds (ordered logit) model with a
          parameter draw, for ordered categoricals
          (``pd.CategoricalDtype(levels, ordered=True)``) only.
        - ``"cart"``: a regression (classification, for categorical columns)
          tree on a bootstrap of the observed rows, leaves of at least 5 rows;
          each missing row takes the value of a random donor from its leaf
          (Doove, van Buuren & Dusseldorp 2014; mice's ``cart``, which has
          no bootstrap). Keeps interactions and non-linearities that the
          linear models lose. Imputations are observed values.
        - ``"rf"``: a random forest of ``n_trees`` trees on a bootstrap of the
          observed rows; the donors are the observed rows sharing the missing
          row's leaf in any tree (mice's ``rf``; Shah et al. 2014).

        Multilevel methods, with ``cluster`` (see Notes, "Clustered data"):

        - ``"2l.norm"``: linear mixed model, random intercept (and the random
          slopes marked 2 in ``predictor_matrix``), every parameter drawn by
          Gibbs steps (mice's ``2l.norm``; ``heteroscedastic=True`` for its
          per-cluster residual variances).
        - ``"2l.lrd"``: local residual draws on that model: the row's own
          prediction (with its cluster's drawn random effect) plus a donor's
          within-cluster residual, clipped to the observed range.
        - ``"2l.pmm"``: predictive mean matching on the predictions of that
          model, with bootstrapped donors; imputations are observed values.
        - ``"2l.bin"``: random-intercept logistic model for two-level columns
          (approximate posterior draws, as mice's ``2l.bin``).
        - ``"2lonly.mean"``, ``"2lonly.norm"``, ``"2lonly.pmm"``: level-2
          columns (constant within clusters), imputed once per cluster from
          the cluster means of their predictors.

        None: ``"lrd"`` for numeric columns, ``"pmm"`` for numeric columns
        with at most 5 distinct observed values (codes and small counts keep
        observed values), ``"logreg"`` for boolean and
        two-level categorical columns, ``"polr"`` for ordered categoricals
        with more levels, ``"polyreg"`` for other categorical columns with
        more levels. With ``cluster``: ``"2lonly.pmm"`` for level-2 columns
        (constant within every cluster), ``"2l.bin"`` for two-valued level-1
        columns, ``"2l.lrd"`` for other numeric level-1 columns, ``"2l.pmm"``
        for those with at most 5 distinct observed values (the single-level
        rule, one level down; categorical ones with more levels keep their
        single-level default). A string sets
        the method of every numeric column (categorical columns keep their
        default; a ``"2l"`` string only the level-1 columns, a ``"2lonly"``
        string only the level-2 ones). A dict maps column names
        (or, for arrays, positions) to methods; other columns keep their
        default. ``"logreg"`` and ``"polyreg"`` also accept numeric columns
        with two (respectively at most 50) distinct values, imputed as those
        values.
    predictor_matrix : DataFrame, dict, array-like of shape (n_features, n_features) or None, \
default=None
        Which columns predict which: row i says which columns enter the model
        of column i. None: every other column (mice's ``make.predictorMatrix``).
        A DataFrame or a 0/1 array is indexed by target (rows) and predictor
        (columns); a dict maps a target column to a list of its predictors
        (other targets keep all columns). The diagonal is ignored. Categorical
        predictors enter as dummy codes. With ``cluster``, a 2 (mice's type 2)
        makes the predictor's coefficient random too (a random slope) in the
        ``2l`` models; the cluster column never predicts (mice's -2).
    visit_sequence : {"roman", "arabic", "monotone", "revmonotone"} or list, default="roman"
        Order in which each sweep visits the incomplete columns: left to
        right, right to left, by increasing or decreasing number of missing
        values (mice's names), or an explicit list of columns that names
        every incomplete column (complete columns in it are skipped; a column
        may appear twice).
    max_iter : int, default=10
        Number of sweeps of the chain. There is no stopping rule: judge
        convergence from ``trace_`` (``keep_trace=True``).
    donors : int, default=5
        Size of the donor pool of ``"pmm"`` and ``"lrd"`` (mice's ``donors``).
    donor_bootstrap : bool, default=True
        ``"pmm"`` and ``"lrd"`` match among an approximate Bayesian bootstrap of the
        observed rows, drawn anew at every fit (Rubin & Schenker 1986), so that
        the donors vary between imputations as the parameters do. This makes
        pmm's imputations proper where mice's ``pmm`` (``False``) is not: see
        Notes. Has no effect without ``sample_posterior`` or on other methods.
    sample_posterior : bool, default=True
        Draw parameters and imputations from their posterior (the proper
        imputation described above). False imputes deterministically:
        starting values are means and modes, ``norm`` imputes the fitted
        mean, ``pmm`` the nearest donor, ``logreg``/``polyreg``/``polr`` the
        most probable level. Such single imputations are improper: they understate
        the variance and are meant for point predictions only.
    ridge : float, default=1e-5
        Ridge penalty of the linear models, as a fraction of the diagonal of
        X'X (mice's ``ridge``); it keeps near-collinear regressions solvable.
    delta : dict or None, default=None
        Delta adjustment for sensitivity to data missing not at random
        (FIMD 9.2; mice's ``post`` idiom): ``{column: shift}``. After every
        draw, in every sweep and in ``transform``, the imputed values of a
        numeric column move by ``shift``; for a column imputed by a logistic
        model (boolean, categorical, or ``logreg``/``polyreg``/``polr``) the
        shift is added to the linear predictor: the log odds of each level
        against the first (``polr``: toward the higher levels). Only
        incomplete columns can be named. None or 0: no shift (the same draws,
        bit for bit). See :func:`skmipool.tipping_point`.
    cluster : column name (or position for arrays) or None, default=None
        The column that holds the cluster (level-2 unit) of each row, e.g.
        ``"school"``: it must be complete; it is not imputed, not a
        predictor, and comes back unchanged. Setting it switches the defaults
        to the multilevel methods (see ``method``).
    heteroscedastic : bool, default=False
        ``2l.norm``, ``2l.lrd`` and ``2l.pmm``: one residual variance per cluster with a
        hierarchical prior (Kasim & Raudenbush 1998), as mice's ``2l.norm``;
        False: one residual variance, as mice's ``2l.pan`` and ``2l.lmer``.
    cluster_means : bool, default=True
        The ``2l`` models also take the cluster means of their level-1
        predictors as predictors (Enders, Mistler & Keller 2016), which keeps
        the between-cluster part of the relations; mice leaves them out.
    n_trees : int, default=10
        Number of trees of ``"rf"`` (mice's ``ntree``).
    passive : dict or None, default=None
        Passive imputation of derived columns (mice's ``~ I(...)``):
        ``{column: function}``, e.g. ``{"bmi": lambda d: d.wgt / (d.hgt / 100) ** 2}``.
        The column is not modelled: whenever the chain visits it, and in
        ``transform``, its missing cells are set to ``function(d)`` at those
        rows, ``d`` the current completed data as a DataFrame (X's columns and
        dtypes; for arrays columns 0..p-1). Observed cells are kept. With a
        string ``visit_sequence`` passive columns come last in each sweep, so
        they agree exactly with their sources in the result; in an explicit
        list, place them after their sources. The passive column still
        predicts the other columns, its own sources included: as in mice, drop
        it from their predictors (``predictor_matrix``) when that makes the
        sources circular (the function is opaque, so its sources are not
        known here). ``methods_`` shows ``"passive"``.
    bounds : dict or None, default=None
        ``{column: (low, high)}``: imputed values of a numeric column are
        clipped into the range after every draw, after ``delta`` (mice's
        ``squeeze()`` in ``post``). Use ``-np.inf``/``np.inf`` for an open side.
    keep_trace : bool, default=False
        Keep the mean and standard deviation of the imputed values of each
        column after each sweep in ``trace_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the starting values and every draw. ``MIPooledEstimator`` gives
        each of its M clones its own integer seed.

    Attributes
    ----------
    methods_ : dict
        Column name -> method used (all columns; those complete at fit are
        modelled with it when they are missing in ``transform``).
    predictor_matrix_ : pandas.DataFrame
        Boolean predictor matrix used: rows are targets, columns predictors.
    visit_sequence_ : list
        Names of the incomplete columns in the order of one sweep.
    n_iter_ : int
        Number of sweeps run (``max_iter``).
    n_clusters_ : int or None
        Number of clusters seen at fit (None without ``cluster``).
    trace_ : pandas.DataFrame
        Only with ``keep_trace=True``: one row per sweep (index ``iteration``),
        columns ``("mean", column)`` and ``("sd", column)`` of the imputed
        cells of each incomplete column (category codes 0..K-1 for
        categorical columns). ``trace_["mean"].plot()`` draws the chains.
    random_state_ : RandomState instance
        The random state used by ``fit`` and advanced by every ``transform``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Feature names seen during fit (DataFrame input with string column
        names only).

    See Also
    --------
    skmipool.MIPooledEstimator : Imputes M times with clones of this imputer, fits and pools.
    sklearn.impute.IterativeImputer : Chained regressions without parameter draws.

    Notes
    -----
    Algorithm (van Buuren 2018, FIMD section 4.5.2): missing cells start as
    random draws from the observed values of their column; then each sweep
    fits every incomplete column's model to its observed rows, using the
    current completed values of its predictors, draws the parameters and
    imputes the missing rows. Predictors that are constant or collinear in
    the observed rows are left out of that model (mice's ``remove.lindep``).

    ``logreg`` and ``polyreg`` are one model (multinomial logit; logistic for
    two levels) fitted by Newton-Raphson under a weakly informative normal
    prior, sd 4 logits per standard deviation of each predictor, which keeps
    the estimates finite under perfect prediction and carries about the
    information of mice's augmentation (White, Daniel & Royston 2010); the
    coefficients are drawn from the normal approximation of their posterior.

    ``polr`` fits the proportional-odds model ``P(Y <= k | x) = logistic(theta_k
    - x'beta)`` (McCullagh 1980), as mice's ``polr`` (FIMD section 3.6), by
    Newton-Raphson (the log-likelihood is concave, Pratt 1981) under the same
    prior on the slopes, with one pseudo-observation spread over the levels
    at the predictors' mean that keeps the thresholds finite. Unlike mice's
    ``polr``, which imputes from the fitted parameters, it draws them from the
    normal approximation of their posterior (the thresholds through the first
    one and the logs of the increments, so they stay ordered), so that its
    imputations are proper. If the fit fails, the column is imputed by ``polyreg`` with a
    warning that names it, as mice falls back to ``multinom``.

    ``pmm`` keeps imputations within the observed values. Matching alone is
    improper in the way a simple hot deck is (Rubin & Schenker 1986): every
    imputation draws from the same observed rows, so the between-imputation
    variance misses the uncertainty about the distribution of the donors'
    values. ``donor_bootstrap=True`` (the default) matches among an
    approximate Bayesian bootstrap of the observed rows instead, drawn anew
    at every fit, which mice's ``pmm`` does not. In the MAR simulation of the
    tests (n = 200, 35% of x1 missing, rising with y; 500 replications, M = 5)
    the 95% interval of the x1 slope covers 0.946 of the time with SE/SD 0.99;
    with ``donor_bootstrap=False`` 0.910 and 0.87, as with R mice's ``pmm`` on
    the same datasets (0.916, 0.90); ``norm`` covers 0.94 (mice: 0.94). Where
    the observed values are sparse (the tail that a strong MAR mechanism
    empties) the donor pool reaches toward the centre, which there biases the
    slope by about -0.3 standard errors with or without the bootstrap.

    ``lrd``, the default for numeric columns, removes that bias: the donor is
    matched as in ``pmm`` (drawn parameters, bootstrapped donors), but
    contributes its residual ``y_i - x_i'b^`` to the recipient's own
    prediction ``x_j'b~`` (local residual draws, Schenker & Taylor 1996;
    Morris, White & Royston 2014), so the imputation follows the regression
    into the sparse tail while keeping the local shape of the residuals.
    Imputations are clipped to the range of the observed values, so bounded
    and skewed columns keep their support; they are not observed values
    (ask for ``pmm`` when they must be: numeric columns with at most 5
    distinct observed values, codes and small counts, get ``pmm`` by
    default). In the simulation above ``lrd`` covers 0.928 with SE/SD 0.95
    and bias +0.01 SD (pmm: -0.31 SD; norm -0.10 SD, but unbounded).

    ``midastouch`` follows Gaffert, Meinfelder & Bosch (2016): the observed
    rows get the counts ``omega`` of an approximate Bayesian bootstrap as
    weights, the regression is fitted by weighted least squares, and donor i
    and recipient j are compared with the coefficients fitted without donor
    i, ``d_ij = x_i'b(-i) - x_j'b(-i)`` (computed for all pairs at once by the
    Sherman-Morrison formula). The recipient draws donor i with probability
    proportional to ``omega_i |d_ij|^-kappa`` (Siddique & Belin 2008), with
    ``kappa = min((50 R^2 / (1 - R^2))^(3/8), 100)``. Each recipient weighs
    the 256 donors with the nearest predictions (all of them in samples with
    fewer observed rows; mice weighs every donor), so its cost grows as
    n_missing x 256 where ``pmm``'s grows as n log n. On the MAR simulation
    above it reproduces R mice's ``midastouch`` (coverage 0.924, mice 0.928;
    bias -0.43 SD, mice -0.42) and is more biased than ``pmm``: its weights
    reach further toward the centre from the sparse tail. No method that
    imputes observed values only (pmm with 1 to 10 donors, midastouch) met
    |bias| < 0.15 SD there (von Hippel 2025 reports the same bias of matching
    under MAR), which is why the default is ``lrd``.

    ``cart`` and ``rf`` (:mod:`skmipool.impute._trees`) fit scikit-learn
    trees (``cart``: ``min_samples_leaf=5`` as mice's ``minbucket``, rpart's
    ``cp = 1e-4`` as a minimum impurity decrease; ``rf``: ranger's minimum node
    sizes, all predictors per split for numeric columns) to a bootstrap of the
    observed rows, drawn anew at every fit, so that the trees and donors vary
    between imputations as a proper imputation requires (mice fits them to the
    observed rows as they are). ``rf`` draws uniformly from the multiset union
    of the row's leaves over the trees, as mice's ``sample(unlist(donors), 1)``.
    Without draws: no bootstrap, the donors' mean (most frequent level). In the
    tests' simulation (y = x1 + x2 + x1 x2 + e, n = 5000, 40% of y missing at
    random; 40 replications, M = 5) the pooled interaction coefficient (true 1)
    has bias -0.05 with ``cart``, -0.06 with ``rf`` and -0.29 with ``pmm``;
    the trees' smoothing bias falls with n (cart -0.19, rf -0.35 at n = 500).
    ``rf`` costs about 3-4 times ``cart``, ``cart`` about twice ``pmm``.

    **Clustered data.** With ``cluster``, level-1 columns are imputed from a
    linear mixed model ``y_ci = x_ci'beta + z_ci'b_c + e_ci``, ``b_c ~ N(0,
    Psi)``, whose parameters are drawn by a Gibbs sampler (Kasim & Raudenbush
    1998; FIMD 7.4; mice's ``2l.norm``): beta from its posterior with the random
    effects integrated out, then every cluster's b_c from its closed-form
    conditional, Psi from an inverse Wishart (flat prior, as mice), and the
    residual variance(s). Each step handles all clusters at once (segment sums
    and stacked q x q systems), without a loop over clusters; the first fit of
    a column runs 20 steps, later fits 5 from where the last one stopped.
    ``2l.bin`` linearises the logit at the current state (working response and
    weights, Breslow & Clayton 1993) and runs the same steps, an approximate
    draw. Level-2 columns are aggregated to one row per cluster (predictors as
    cluster means) and imputed by ``norm`` or ``pmm`` there, as mice's
    ``2lonly`` methods; a cluster where the column is partly observed keeps
    the observed value. In ``transform``, rows of a cluster seen at fit use its
    drawn random effect; rows of a new cluster get a draw from the random-effect
    distribution ``N(0, Psi*)`` (and, with ``heteroscedastic``, a residual
    variance from its prior); the cluster means are those of the data
    transformed. Single-level methods ignore the clusters.

    ``2l.pmm`` and ``2l.lrd`` match donors on ``x'beta^ + z'b~_c``, with each
    donor cluster's own least-squares effects b~_c, so that the donors'
    residuals are within-cluster residuals. Matched on the shrunken BLUP
    b^_c instead, the residuals keep ``sigma^2 / psi b^_c`` of their
    cluster's effect, rise with the prediction, and matching adds that
    share of the donor's cluster effect to the recipient's own drawn effect
    (first versions of 2l.pmm did: x slope +0.44 SD, tau^2 +6%). ``2l.lrd``
    adds the donor's residual reflated by ``1 / sqrt(1 - h_i)`` (h_i its
    leverage within its cluster) to the recipient's own prediction; it is
    the default for numeric level-1 columns for the reason ``lrd`` is at
    one level (pmm's pull toward the centre where donors are scarce). On the
    two-level MAR simulation of the tests (50 clusters x 6, x and y MAR on a
    level-2 w; 300 replications, M = 3): the default covers the x and w
    slopes 0.937 and 0.963 (x slope bias -0.002) with tau^2 bias +5.6%;
    ``2l.norm`` 0.913, 0.953, +6.2%; ``2l.pmm`` 0.897, 0.960 (x slope bias
    +0.032, +0.32 SD), +4.3%; single-level ``pmm`` shrinks tau^2 by 53%.

    ``fit_transform`` returns the completed data of the last sweep.
    ``transform`` imputes the missing cells of new data with the parameters
    drawn in the last sweep (for ``pmm``, the donors and their predictions of
    the last sweep) plus fresh draws: starting values are drawn from a
    random sample of at most 5000 rows of the completed training data, drawn
    at the end of fit, and rows with several missing cells are completed by
    ``max_iter`` sweeps with those parameters. A column complete at fit that
    is missing in ``transform`` is modelled then, with a parameter draw, from
    that sample: its posterior is that of 5000 rows, wider than the full
    data's for larger n, so these imputations stay proper but are less
    efficient. The fitted imputer keeps that sample (at most 5000 x
    n_features floats) and its models, not the completed data. Observed cells
    are never changed. Each call advances ``random_state_``.

    Array input is numeric and returns a float array; DataFrame input
    returns a DataFrame with the same index, columns and dtypes (imputed
    integer columns come back as float if ``norm`` or ``lrd``, the default for columns with
    more than 5 values, made them non-integer).

    References
    ----------
    Schenker, N. and Taylor, J. M. G. (1996). Partially parametric techniques
    for multiple imputation. *Computational Statistics & Data Analysis* 22,
    425-446.
    Morris, T. P., White, I. R. and Royston, P. (2014). Tuning multiple
    imputation by predictive mean matching and local residual draws. *BMC
    Medical Research Methodology* 14, 75.
    Gaffert, P., Meinfelder, F. and Bosch, V. (2016). Towards an MI-proper
    predictive mean matching. Discussion paper, University of Bamberg.
    Breslow, N. E. and Clayton, D. G. (1993). Approximate inference in
    generalized linear mixed models. *Journal of the American Statistical
    Association* 88, 9-25.
    Enders, C. K., Mistler, S. A. and Keller, B. T. (2016). Multilevel
    multiple imputation: A review and evaluation of joint modeling and chained
    equations imputation. *Psychological Methods* 21, 222-240.
    Kasim, R. M. and Raudenbush, S. W. (1998). Application of Gibbs sampling to
    nested variance components models with heterogeneous within-group
    variance. *Journal of Educational and Behavioral Statistics* 23, 93-116.
    McCullagh, P. (1980). Regression models for ordinal data. *Journal of the
    Royal Statistical Society, Series B* 42, 109-142.
    Pratt, J. W. (1981). Concavity of the log likelihood. *Journal of the
    American Statistical Association* 76, 103-106.
    Doove, L. L., van Buuren, S. and Dusseldorp, E. (2014). Recursive
    partitioning for missing data imputation in the presence of interaction
    effects. *Computational Statistics & Data Analysis* 72, 92-104.
    Shah, A. D., Bartlett, J. W., Carpenter, J., Nicholas, O. and Hemingway, H.
    (2014). Comparison of random forest and parametric imputation models for
    imputing missing data using MICE: a CALIBER study. *American Journal of
    Epidemiology* 179, 764-774.
    Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
    Rubin, D. B. and Schenker, N. (1986). Multiple imputation for interval
    estimation from simple random samples with ignorable nonresponse. *Journal
    of the American Statistical Association* 81, 366-374.
    Siddique, J. and Belin, T. R. (2008). Using an approximate Bayesian
    bootstrap to multiply impute nonignorable missing data. *Computational
    Statistics & Data Analysis* 53, 405-415.
    van Buuren, S. and Groothuis-Oudshoorn, K. (2011). mice: Multivariate
    Imputation by Chained Equations in R. *Journal of Statistical Software* 45(3).
    van Buuren, S. (2018). *Flexible Imputation of Missing Data*, 2nd ed. (FIMD).
    von Hippel, P. T. (2025). Imputing with predictive mean matching can be
    severely biased when values are missing at random. arXiv:2506.22981.
    White, I. R., Daniel, R. and Royston, P. (2010). Avoiding bias due to
    perfect prediction in multiple imputation of incomplete categorical
    variables. *Computational Statistics & Data Analysis* 54, 2267-2275.

    Examples
    --------
    >>> from skmipool.datasets import load_nhanes2
    >>> from skmipool.impute import ChainedImputer
    >>> df = load_nhanes2()  # age and hyp are categories
    >>> imp = ChainedImputer(random_state=0)
    >>> completed = imp.fit_transform(df)
    >>> int(completed.isna().sum().sum())
    0
    >>> completed.dtypes.equals(df.dtypes)
    True
    >>> imp.methods_
    {'age': 'polyreg', 'bmi': 'lrd', 'hyp': 'logreg', 'chl': 'lrd'}

    Multiple imputation and pooling in one step:

    >>> from skmipool import MIPooledEstimator
    >>> from skmipool.datasets import load_nhanes
    >>> df = load_nhanes()
    >>> mi = MIPooledEstimator(imputer=ChainedImputer(), n_imputations=5, random_state=0)
    >>> mi = mi.fit(df[["age", "bmi", "hyp"]], df["chl"])
    >>> list(mi.terms_)
    ['intercept', 'age', 'bmi', 'hyp']
    """

    _parameter_constraints: ClassVar[dict] = {
        "method": [StrOptions(set(METHODS)), dict, None],
        "predictor_matrix": ["array-like", dict, None],
        "visit_sequence": [StrOptions(set(VISIT_SEQUENCES)), list, tuple],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "donors": [Interval(Integral, 1, None, closed="left")],
        "donor_bootstrap": ["boolean"],
        "sample_posterior": ["boolean"],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "cluster": [Hashable, None],
        "heteroscedastic": ["boolean"],
        "cluster_means": ["boolean"],
        "keep_trace": ["boolean"],
        "delta": [dict, None],
        "n_trees": [Interval(Integral, 1, None, closed="left")],
        "passive": [dict, None],
        "bounds": [dict, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        method=None,
        *,
        predictor_matrix=None,
        visit_sequence="roman",
        max_iter=10,
        donors=5,
        donor_bootstrap=True,
        sample_posterior=True,
        ridge=1e-5,
        cluster=None,
        heteroscedastic=False,
        cluster_means=True,
        keep_trace=False,
        delta=None,
        n_trees=10,
        passive=None,
        bounds=None,
        random_state=None,
    ):
        self.method = method
        self.predictor_matrix = predictor_matrix
        self.visit_sequence = visit_sequence
        self.max_iter = max_iter
        self.donors = donors
        self.donor_bootstrap = donor_bootstrap
        self.sample_posterior = sample_posterior
        self.ridge = ridge
        self.cluster = cluster
        self.heteroscedastic = heteroscedastic
        self.cluster_means = cluster_means
        self.keep_trace = keep_trace
        self.delta = delta
        self.n_trees = n_trees
        self.passive = passive
        self.bounds = bounds
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Run the chain on X and keep the last sweep's parameters.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data with missing values as NaN (None/NA in object, string,
            category and nullable columns). Arrays must be numeric.
        y : None
            Ignored.

        Returns
        -------
        self : ChainedImputer
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Run the chain on X and return the completed data of its last sweep.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data with missing values.
        y : None
            Ignored.

        Returns
        -------
        DataFrame or ndarray of shape (n_samples, n_features)
            X completed: a DataFrame with X's index, columns and dtypes for
            DataFrame input, a float array otherwise.
        """
        data, values, missing = self._fit(X)
        return self._output(data, values, missing, share=True)

    def _fit(self, X):
        data = self._validate_input(X, reset=True)
        columns = None
        if isinstance(data, pd.DataFrame):
            self._names = list(data.columns)
            columns = [col for _, col in data.items()]  # each read makes a new Series: once
            self._specs = [learn_spec(c, col) for c, col in zip(self._names, columns, strict=True)]
        else:
            self._names = [f"x{j}" for j in range(data.shape[1])]
            self._specs = [ColumnSpec(c, "numeric") for c in self._names]
        self._positions = {c: j for j, c in enumerate(self._names)}
        self._cluster_col = (
            None if self.cluster is None else self._position(self.cluster, "cluster")
        )
        self._cluster_codes_fit, self._n_clusters = None, 0
        if self._cluster_col is not None:  # labels, not a predictor: a placeholder of zeros
            c = self._cluster_col
            self._specs[c] = ColumnSpec(self._names[c], "numeric", None, self._specs[c].dtype)
            self._cluster_codes_fit, self._n_clusters = self._cluster_codes(data, fit=True)
        values = self._encode(data, columns)
        missing = np.isnan(values)
        self._constant, self._level_two = self._level_two_columns(values)
        empty = [str(c) for c, m in zip(self._names, missing.all(axis=0), strict=True) if m]
        if empty:
            raise ValueError(
                f"columns {empty} are entirely missing: there is nothing to impute them from. "
                f"Drop them before imputing."
            )
        methods = self._resolve_methods(values, missing)
        self._deltas = self._resolve_delta(missing, methods)
        # a numeric model's imputed values move by delta; a logistic model's log odds do
        self._value_shift = {
            j: d for j, d in self._deltas.items() if methods[j] in VALUE_METHODS + TREE_METHODS
        }
        self._bounds = self._resolve_bounds()
        self._passive = self._resolve_passive(methods)
        predictors, slopes = self._resolve_predictor_matrix()
        visit = self._resolve_visit_sequence(missing)
        if isinstance(self.visit_sequence, str):  # passive columns after their sources
            visit = [j for j in visit if j not in self._passive] + [
                j for j in visit if j in self._passive
            ]
        # the column of X behind each design column (a categorical one has several)
        self._design_owner = np.repeat(np.arange(len(self._specs)), [s.width for s in self._specs])
        self._design_cols = [self._design_columns(predictors[j]) for j in range(len(self._specs))]
        self._clustered = {
            j: self._cluster_columns(j, methods[j], predictors[j], slopes[j])
            for j in range(len(self._specs))
            if methods[j] in LEVEL_ONE + LEVEL_TWO
        }

        self.random_state_ = check_random_state(self.random_state)
        rng = _generator(self.random_state_)
        draw = self._draw = self.sample_posterior  # transform draws as fit did
        incomplete = list(dict.fromkeys(visit))
        rows = {j: np.flatnonzero(missing[:, j]) for j in visit}  # the rows each column misses

        # design offsets: the observed means of numeric columns (precision of the moments)
        numeric = [s.kind == "numeric" for s in self._specs]
        self._offsets = np.array(
            [
                values[:, j].mean() if numeric[j] and j not in rows else 0.0
                for j in range(len(numeric))
            ]
        )
        models, cluster = {}, self._cluster_codes_fit
        for j in incomplete:
            # read once here, not kept through the chain (a take of the observed rows: several
            # times faster than a boolean mask)
            observed = values[:, j].take(np.flatnonzero(~missing[:, j]))
            self._offsets[j] = observed.mean() if numeric[j] else 0.0
            if j not in self._passive:
                models[j] = self._model(methods[j], j, observed)
            # starting values (mice: sample(y[ry], nmis, replace = TRUE))
            mis = rows[j]
            if methods[j] in LEVEL_TWO:  # one draw per cluster
                start = self._start(observed, j, self._n_clusters, rng)
                values[:, j][mis] = start[cluster[mis]]
            else:
                values[:, j][mis] = self._start(observed, j, mis.size, rng)
        moment_models = ("norm", "pmm", "lrd")  # their fits read the missing rows' moments
        work = Workspace(
            values,
            self._specs,
            self._offsets,
            cluster=cluster,
            n_clusters=self._n_clusters,
            missing=missing,
            track=[j for j in incomplete if methods[j] in moment_models],
            # the missing rows of the columns whose visits read the scratch arrays (ColumnData)
            scratch=[
                rows[j].size
                for j in incomplete
                if j not in self._passive and j not in self._clustered
            ],
        )
        self._derive_all(incomplete, data, values, missing, work, rows.get)

        trace = np.full((2, self.max_iter, len(incomplete)), np.nan)
        for it in range(self.max_iter):
            for j in visit:
                mis = rows[j]
                if j in self._passive:  # recomputed from the completed data (mice's ~I())
                    work.update(j, mis, self._post(j, self._derive(j, data, values, missing, mis)))
                    continue
                column = self._column(work, j, mis)
                models[j].fit(column, rng, draw)
                before = column.rows_mis
                imputed = self._post(j, models[j].impute(before, rng, draw))
                work.update(j, mis, imputed, before[:, : work.design.shape[1]])
            if self.keep_trace:
                for i, j in enumerate(incomplete):
                    trace[:, it, i] = _mean_sd(values[rows[j], j])

        self.methods_ = dict(zip(self._names, methods, strict=True))
        self.n_clusters_ = None
        if self._cluster_col is not None:
            self.methods_[self._names[self._cluster_col]] = ""  # not imputed (mice's "")
            self.n_clusters_ = self._n_clusters
        self.predictor_matrix_ = pd.DataFrame(
            np.where(slopes, 2, predictors.astype(int)) if slopes.any() else predictors,
            index=self._names,
            columns=self._names,
        )
        self.visit_sequence_ = [self._names[j] for j in visit]
        self.n_iter_ = self.max_iter
        if self.keep_trace:
            columns = pd.MultiIndex.from_product(
                [["mean", "sd"], [self._names[j] for j in incomplete]],
                names=["statistic", "column"],
            )
            index = pd.RangeIndex(1, self.max_iter + 1, name="iteration")
            self.trace_ = pd.DataFrame(
                np.concatenate([trace[0], trace[1]], axis=1), index=index, columns=columns
            )
        self._methods = methods
        self._models = models
        self._keep_training_rows(values, rng)
        return data, values, missing

    def _keep_training_rows(self, values, rng):
        """Keep a random sample of at most ``TRAINING_ROWS`` rows of the completed data.

        ``transform`` draws its start values from them and models the columns complete at
        fit on them. Drawn after the last sweep, so fit's results do not depend on it.
        """
        n = values.shape[0]
        if n > TRAINING_ROWS:
            rows = np.sort(rng.choice(n, TRAINING_ROWS, replace=False))
        else:
            rows = np.arange(n)
        self._training = values[rows]
        codes = self._cluster_codes_fit
        self._training_clusters = None if codes is None else codes[rows]
        self._cluster_codes_fit = None  # n codes, needed at fit only

    # ------------------------------------------------------------ transform

    def transform(self, X):
        """Impute the missing cells of X with the fitted parameters plus fresh draws.

        Draws are made as at fit: ``sample_posterior`` takes effect when the imputer is
        fitted (a predictive-mean model keeps the donor blocks of its setting).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data with the columns seen in fit; missing values as in fit.

        Returns
        -------
        DataFrame or ndarray of shape (n_samples, n_features)
            X completed (see Notes of the class): a DataFrame with X's index,
            columns and dtypes for DataFrame input, a float array otherwise.
        """
        check_is_fitted(self)
        data = self._validate_input(X, reset=False)
        values = self._encode(data)
        missing = np.isnan(values)
        seen = [self._positions[c] for c in self.visit_sequence_]
        todo = [
            j for j in dict.fromkeys(seen + list(range(values.shape[1]))) if missing[:, j].any()
        ]
        if not todo:
            return self._output(data, values, missing, share=True)
        todo = [j for j in todo if j not in self._passive] + [j for j in todo if j in self._passive]
        rng = _generator(self.random_state_)
        draw = self._draw  # sample_posterior as at fit: the fitted models' donor blocks follow it
        models = {j: self._models.get(j) for j in todo if j not in self._passive}
        if any(m is None for m in models.values()):
            train = Workspace(
                self._training.copy(),
                self._specs,
                self._offsets,
                cluster=self._training_clusters,
                n_clusters=self._n_clusters,
            )
            everything, nothing = np.arange(self._training.shape[0]), np.arange(0)
            for j, m in models.items():
                if m is None:  # complete at fit: model it now from the kept training rows
                    y = self._training[:, j]
                    column = self._column(train, j, nothing, everything, y)
                    models[j] = self._model(self._methods[j], j, y).fit(column, rng, draw)
        cluster, n_clusters = None, 0
        if self._cluster_col is not None:
            cluster, n_clusters = self._cluster_codes(data, fit=False)
        rows = {j: np.flatnonzero(missing[:, j]) for j in todo}
        for j in todo:
            values[rows[j], j] = self._start(self._training[:, j], j, rows[j].size, rng)
        work = Workspace(
            values,
            self._specs,
            self._offsets,
            moments=False,
            cluster=cluster,
            n_clusters=n_clusters,
        )
        self._derive_all(todo, data, values, missing, work, rows.get)
        # one sweep is exact when no row lacks more than one cell
        sweeps = 1 if missing.sum(axis=1).max() <= 1 else self.max_iter
        for _ in range(sweeps):
            for j in todo:
                if j in self._passive:
                    derived = self._derive(j, data, values, missing, rows[j])
                    work.update(j, rows[j], self._post(j, derived))
                    continue
                clustered = j in self._clustered
                D = work.extended(rows[j]) if clustered else work.rows(rows[j])
                work.update(j, rows[j], self._post(j, models[j].impute(D, rng, draw)))
        return self._output(data, values, missing, share=True)

    # -------------------------------------------------------------- helpers

    def _validate_input(self, X, reset: bool):
        """X as a DataFrame or a float array, after scikit-learn's checks."""
        X = as_pandas(X)  # polars, pyarrow: column names kept
        if sparse.issparse(X):
            raise TypeError(
                "sparse input is not supported: imputation needs the missing cells as NaN in a "
                "dense array or DataFrame. Convert with X.toarray()."
            )
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(
                    f"Found array with shape {X.shape}: X needs at least one row and one column."
                )
            if not X.columns.is_unique:
                dup = list(X.columns[X.columns.duplicated()].unique())
                raise ValueError(f"X has duplicated column names {dup}; rename them.")
            return X
        categorical = not reset and any(s.kind != "numeric" for s in self._specs)
        arr = validate_data(
            self,
            X,
            reset=reset,
            ensure_all_finite="allow-nan",
            dtype=None if categorical else np.float64,
        )
        if categorical:  # fitted on a DataFrame with categories: read the array as one
            return pd.DataFrame(arr, columns=pd.Index(self._names, dtype=object))
        return arr

    def _encode(self, data, columns=None) -> np.ndarray:
        """The data as floats and level codes, column-major: one column is contiguous.
        ``columns``: the frame's columns as Series, if the caller has them."""
        c = self._cluster_col
        if isinstance(data, pd.DataFrame):
            columns = [col for _, col in data.items()] if columns is None else columns
            values = np.empty(data.shape, order="F")
            for j, (s, col) in enumerate(zip(self._specs, columns, strict=True)):
                values[:, j] = 0.0 if j == c else encode_column(s, col)
            return values
        values = np.array(data, dtype=float, order="F")
        if c is not None:
            values[:, c] = 0.0
        return values

    def _cluster_codes(self, data, fit: bool) -> tuple[np.ndarray, int]:
        """Cluster codes of the rows and the number of clusters.

        At fit the codes number the sorted labels; in transform a label seen at fit keeps
        its code and new labels get the codes after those.
        """
        c = self._cluster_col
        name = self._names[c]
        raw = data.iloc[:, c] if isinstance(data, pd.DataFrame) else pd.Series(data[:, c])
        absent = int(raw.isna().sum())
        if absent:
            raise ValueError(
                f"cluster column {name!r} has {absent} missing values; every row needs its "
                f"cluster. Drop those rows or give them their cluster."
            )
        if fit:
            codes, labels = pd.factorize(raw, sort=True)
            if labels.size < 2:
                raise ValueError(
                    f"cluster column {name!r} holds a single cluster; multilevel imputation "
                    f"needs at least two. Impute without cluster= instead."
                )
            self._cluster_labels = labels
            return codes.astype(np.intp), labels.size
        codes = self._cluster_labels.get_indexer(raw)
        new = codes < 0
        n_new = 0
        if new.any():
            extra, uniques = pd.factorize(raw[new])
            codes[new] = len(self._cluster_labels) + extra
            n_new = uniques.size
        return codes.astype(np.intp), len(self._cluster_labels) + n_new

    def _level_two_columns(self, values) -> tuple[np.ndarray, np.ndarray]:
        """Which columns are constant within every cluster (among their observed values),
        and which of those are level-2 columns (constant and, in some cluster, observed
        twice: a column observed once per cluster at most tells nothing)."""
        p = values.shape[1]
        if self._cluster_col is None:
            return np.zeros(p, dtype=bool), np.zeros(p, dtype=bool)
        codes = self._cluster_codes_fit
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(self._n_clusters))
        sorted_values = values[order]
        hi = np.fmax.reduceat(sorted_values, starts, axis=0)  # fmax/fmin skip NaN
        lo = np.fmin.reduceat(sorted_values, starts, axis=0)
        constant = np.all((hi == lo) | np.isnan(hi), axis=0)
        repeated = (np.add.reduceat(~np.isnan(sorted_values), starts, axis=0) >= 2).any(axis=0)
        constant[self._cluster_col] = False
        return constant, constant & repeated

    def _cluster_columns(self, j, method, predictors, slopes) -> tuple[np.ndarray, np.ndarray]:
        """Extended design columns of a multilevel model's predictors, and those of them
        with random slopes.

        The extended design is ``[D | cluster means of D | cluster code]``; the level-1
        predictors (not constant within clusters) join with their cluster means
        (``cluster_means``; Enders, Mistler & Keller 2016) for the 2l methods.
        """
        q = int(sum(s.width for s in self._specs))
        own = self._design_cols[j]
        level1 = predictors & ~self._constant
        means = np.arange(0)
        if self.cluster_means and method in LEVEL_ONE:
            means = q + self._design_columns(level1)
        return np.concatenate([own, means]), self._design_columns(slopes & predictors)

    def _column(self, work, j, mis, obs=None, y_obs=None):
        """Column j's data for its model's ``fit``. Without ``obs``: the rows not missing
        in ``work.missing`` (with ``y_obs``, read when a model needs them)."""
        if j in self._clustered:
            if obs is None:
                obs = np.flatnonzero(~work.missing[:, j])
                y_obs = work.values[obs, j]
            cols, slopes = self._clustered[j]
            return work.cluster_column(j, obs, mis, cols, slopes, self._design_cols[j], y_obs)
        return work.column(j, mis, self._design_cols[j], obs, y_obs)

    def _output(self, data, values, missing, share: bool = False):
        """The completed data in the input's form.

        ``share``: ``values`` is not used afterwards, so the output may hold it
        (a frame of float64 columns wraps it without a copy). Complete columns
        are shared with ``data`` only where pandas copies on write.
        """
        if not isinstance(data, pd.DataFrame):
            return values
        floats = all(s.kind == "numeric" and s.dtype == np.float64 for s in self._specs)
        if share and floats and self._cluster_col is None:
            out = pd.DataFrame(values, index=data.index, columns=data.columns, copy=False)
            out.attrs = data.attrs.copy()
            return out
        out = data.copy(deep=not copy_on_write())
        for j in np.flatnonzero(missing.any(axis=0)):
            out.isetitem(
                j, decode_column(self._specs[j], data.iloc[:, j], values[:, j], missing[:, j])
            )
        return out

    def _position(self, key, param: str) -> int:
        try:
            if key in self._positions:
                return self._positions[key]
        except TypeError:
            pass
        arrays = self._names == [f"x{j}" for j in range(len(self._names))]
        if arrays and isinstance(key, Integral) and 0 <= key < len(self._names):
            return int(key)
        shown = [str(c) for c in self._names[:20]]
        raise ValueError(
            f"{param} names column {key!r}, which is not a column of X (columns: {shown}"
            f"{', ...' if len(self._names) > 20 else ''})."
        )

    def _default_method(self, spec: ColumnSpec) -> str:
        if spec.kind == "numeric":
            return "lrd"  # or pmm for few distinct values (_resolve_methods)
        if spec.n_levels <= 2:
            return "logreg"
        return "polr" if spec.ordered else "polyreg"

    def _resolve_methods(self, values, missing) -> list[str]:
        methods = [self._default_method(s) for s in self._specs]
        clustered = self._cluster_col is not None
        for j, spec in enumerate(self._specs):
            # a numeric column with few distinct values holds codes or small counts: pmm
            # keeps its imputations among the observed values; others get local residual draws
            # (with clusters, complete columns too: their method serves transform)
            if spec.kind == "numeric" and (missing[:, j].any() or clustered):
                distinct = _distinct_upto(values[:, j], FEW_DISTINCT_VALUES)
                methods[j] = "pmm" if distinct <= FEW_DISTINCT_VALUES else "lrd"
                if clustered:  # the same rule at level 1: 2l.lrd, or 2l.pmm for few values
                    methods[j] = "2l.pmm" if distinct <= FEW_DISTINCT_VALUES else "2l.lrd"
                    methods[j] = "2l.bin" if distinct == 2 else methods[j]
            elif clustered and spec.kind == "categorical" and spec.n_levels == 2:
                methods[j] = "2l.bin"
            if clustered and self._level_two[j]:
                methods[j] = "2lonly.pmm"
        if isinstance(self.method, str):
            # a 2l method goes to the numeric level-1 columns, a 2lonly method to the level-2
            # ones, any other to every numeric column
            def applies(j):
                if self.method in LEVEL_ONE:
                    return not self._level_two[j]
                return self._level_two[j] if self.method in LEVEL_TWO else True

            methods = [
                self.method
                if (s.kind == "numeric" or self.method in TREE_METHODS) and applies(j)
                else m
                for j, (s, m) in enumerate(zip(self._specs, methods, strict=True))
            ]
        elif isinstance(self.method, dict):
            for key, value in self.method.items():
                j = self._position(key, "method")
                if value not in METHODS:
                    raise ValueError(
                        f"method for column {key!r} is {value!r}; choose one of {list(METHODS)}."
                    )
                methods[j] = value
        for j, (spec, m) in enumerate(zip(self._specs, methods, strict=True)):
            if j == self._cluster_col:
                continue
            as_levels = spec.kind == "numeric" and m in ("logreg", "polyreg", "2l.bin")
            self._check_method(spec, m, values[~missing[:, j], j] if as_levels else None)
            self._check_level(spec, m, self._constant[j])
        if self._cluster_col is not None:
            methods[self._cluster_col] = ""
        return methods

    def _check_level(self, spec: ColumnSpec, method: str, constant: bool) -> None:
        """Multilevel methods need cluster=; 2lonly methods need a level-2 column."""
        name = spec.name
        if method in LEVEL_ONE + LEVEL_TWO and self._cluster_col is None:
            raise ValueError(
                f"method {method!r} for column {name!r} is a multilevel method: name the "
                f"column that holds the clusters, ChainedImputer(cluster=...)."
            )
        if method in LEVEL_TWO and not constant:
            raise ValueError(
                f"method {method!r} imputes a level-2 column, constant within each cluster, "
                f"but column {name!r} varies within some clusters of "
                f"{self._names[self._cluster_col]!r}. Use a 2l method ('2l.pmm', '2l.norm') or "
                f"make it constant within clusters."
            )

    @staticmethod
    def _check_method(spec: ColumnSpec, method: str, observed: np.ndarray) -> None:
        name = spec.name
        if method == "polr" and not spec.ordered:
            what = f"categorical ({spec.dtype})" if spec.kind == "categorical" else "numeric"
            raise ValueError(
                f"method 'polr' imputes ordered categories, but column {name!r} is {what}. "
                f"Make it an ordered categorical (pd.CategoricalDtype(levels, ordered=True)) "
                f"or use 'polyreg'."
            )
        if spec.kind == "categorical":
            if method in ("2l.bin", "2lonly.pmm") and spec.n_levels <= 2:
                return
            if method == "2l.bin":
                raise ValueError(
                    f"method '2l.bin' imputes columns with two levels, but column {name!r} has "
                    f"{spec.n_levels}. Use 'polyreg' or 'polr'."
                )
            if method in ("norm", "pmm", "lrd", "midastouch", *LEVEL_ONE, *LEVEL_TWO):
                raise ValueError(
                    f"method {method!r} for column {name!r} needs a numeric column, but {name!r} "
                    f"is categorical ({spec.dtype}, {spec.n_levels} levels). Use 'logreg' (two "
                    f"levels) or 'polyreg'."
                )
            if method == "logreg" and spec.n_levels > 2:
                raise ValueError(
                    f"method 'logreg' imputes columns with two levels, but column {name!r} has "
                    f"{spec.n_levels}. Use 'polyreg'."
                )
            return
        if method == "2l.bin" and np.unique(observed).size != 2:
            raise ValueError(
                f"method '2l.bin' imputes columns with two levels, but numeric column {name!r} "
                f"has {np.unique(observed).size} distinct observed values. Use '2l.pmm' or "
                f"'2l.norm'."
            )
        if method == "logreg" and np.unique(observed).size != 2:
            raise ValueError(
                f"method 'logreg' imputes columns with two levels, but numeric column {name!r} "
                f"has {np.unique(observed).size} distinct observed values. Use 'pmm' or 'norm'."
            )
        if method == "polyreg" and np.unique(observed).size > MAX_LEVELS:
            raise ValueError(
                f"method 'polyreg' treats each value of numeric column {name!r} as a category, "
                f"but it has {np.unique(observed).size} distinct observed values (at most "
                f"{MAX_LEVELS}). Use 'pmm' or 'norm'."
            )

    def _resolve_predictor_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Which columns predict which, and which of those get a random slope (2)."""
        matrix, slopes = self._read_predictor_matrix()
        np.fill_diagonal(matrix, False)
        if self._cluster_col is not None:  # the cluster labels are not a predictor (mice: -2)
            matrix[:, self._cluster_col] = False
            matrix[self._cluster_col, :] = False
        return matrix, slopes & matrix

    def _read_predictor_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        p = len(self._names)
        pm = self.predictor_matrix
        matrix = ~np.eye(p, dtype=bool)
        slopes = np.zeros((p, p), dtype=bool)
        if pm is None:
            return matrix, slopes
        if isinstance(pm, dict):
            for target, predictors in pm.items():
                i = self._position(target, "predictor_matrix")
                if isinstance(predictors, (str, bytes)) or not hasattr(predictors, "__iter__"):
                    raise ValueError(
                        f"predictor_matrix[{target!r}] must be a list of column names, got "
                        f"{predictors!r}."
                    )
                matrix[i] = False
                for k in predictors:
                    matrix[i, self._position(k, f"predictor_matrix[{target!r}]")] = True
        else:
            if isinstance(pm, pd.DataFrame):
                names = pd.Index(self._names)
                for axis, labels in (("index (targets)", pm.index), ("columns", pm.columns)):
                    absent = [str(c) for c in names.difference(labels, sort=False)]
                    extra = [str(c) for c in labels.difference(names, sort=False)]
                    if absent or extra or len(labels) != len(names):
                        raise ValueError(
                            f"predictor_matrix must have X's columns as its index and columns; "
                            f"its {axis} lack {absent} and have unknown labels {extra}."
                        )
                pm = pm.loc[self._names, self._names]
            values = np.asarray(pm)
            if values.shape != (p, p):
                raise ValueError(
                    f"predictor_matrix must have shape (n_features, n_features) = ({p}, {p}); "
                    f"got {values.shape}."
                )
            if values.dtype != bool:
                try:
                    numbers = values.astype(float)
                except (TypeError, ValueError):
                    numbers = np.full(values.shape, np.nan)
                allowed = (0.0, 1.0) if self._cluster_col is None else (0.0, 1.0, 2.0)
                if not np.isin(numbers, allowed).all():
                    raise ValueError(
                        "predictor_matrix must hold booleans or 0/1 (1: the column predicts the "
                        "row's column; 2, a random slope as well, needs cluster=)."
                    )
                slopes = numbers == 2.0
                values = numbers >= 1.0
            matrix = values.copy()
        return matrix, slopes

    def _resolve_visit_sequence(self, missing) -> list[int]:
        counts = [np.count_nonzero(m) for m in missing.T]  # a column at a time: contiguous
        incomplete = [j for j in range(missing.shape[1]) if counts[j]]
        seq = self.visit_sequence
        if isinstance(seq, str):
            if seq == "roman":
                return incomplete
            if seq == "arabic":
                return incomplete[::-1]
            sign = 1 if seq == "monotone" else -1
            return sorted(incomplete, key=lambda j: sign * counts[j])
        visit = [self._position(k, "visit_sequence") for k in seq]
        visit = [j for j in visit if counts[j]]
        omitted = [str(self._names[j]) for j in incomplete if j not in visit]
        if omitted:
            raise ValueError(
                f"visit_sequence omits the incomplete columns {omitted}: they would keep their "
                f"random starting values. Add them to the list."
            )
        return visit

    def _design_columns(self, row: np.ndarray) -> np.ndarray:
        """Design-matrix columns of the predictors flagged in a predictor-matrix row."""
        return np.flatnonzero(row[self._design_owner])

    def _resolve_delta(self, missing, methods) -> dict[int, float]:
        """``{position: shift}`` from ``delta``: named, incomplete columns, shifted by numbers."""
        if not self.delta:
            return {}
        out = {}
        for key, value in self.delta.items():
            j = self._position(key, "delta")
            if methods[j] == "2l.bin":
                raise ValueError(
                    f"delta for column {key!r}: its method '2l.bin' takes no log-odds shift; "
                    f"impute it with 'logreg' (method={{{key!r}: 'logreg'}}) to shift it."
                )
            if methods[j] in TREE_METHODS and self._specs[j].kind == "categorical":
                raise ValueError(
                    f"delta for column {key!r}: its method {methods[j]!r} draws levels from "
                    f"donors and takes no log-odds shift; impute it with 'logreg' or "
                    f"'polyreg' to shift it."
                )
            if not missing[:, j].any():
                raise ValueError(
                    f"delta names column {key!r}, which has no missing values: there are no "
                    f"imputations to shift. Remove it from delta."
                )
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
                kind = "log odds" if self._specs[j].kind == "categorical" else "values"
                raise TypeError(
                    f"delta for column {key!r} must be a finite number (the shift of its imputed "
                    f"{kind}); got {value!r}."
                )
            out[j] = float(value)
        return out

    def _post(self, j: int, imputed: np.ndarray) -> np.ndarray:
        """mice's ``post``: the delta shift of the imputed values, then the squeeze into bounds."""
        if j in self._value_shift:  # delta adjustment after each draw
            imputed = imputed + self._value_shift[j]
        if j in self._bounds:  # mice's squeeze(): clip into [low, high]
            imputed = np.clip(imputed, *self._bounds[j])
        return imputed

    def _resolve_bounds(self) -> dict[int, tuple[float, float]]:
        """``{position: (low, high)}`` from ``bounds``: numeric columns, ordered limits."""
        out = {}
        for key, value in (self.bounds or {}).items():
            j = self._position(key, "bounds")
            spec = self._specs[j]
            if spec.kind != "numeric" or j == self._cluster_col:
                raise ValueError(
                    f"bounds names column {key!r}, which is not numeric ({spec.dtype}): bounds "
                    f"squeeze numeric imputations into a range. Remove it from bounds."
                )
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"bounds for column {key!r} must be a pair of numbers (low, high); got "
                    f"{value!r}."
                ) from None
            if np.isnan(low) or np.isnan(high) or low > high:
                raise ValueError(
                    f"bounds for column {key!r} are ({low}, {high}): low must not exceed high "
                    f"(use -inf or inf for an open side)."
                )
            out[j] = (low, high)
        return out

    def _resolve_passive(self, methods) -> dict[int, Hashable]:
        """``{position: key}`` of the passive columns; they become method ``"passive"``."""
        out = {}
        for key, function in (self.passive or {}).items():
            j = self._position(key, "passive")
            if not callable(function):
                raise TypeError(
                    f"passive[{key!r}] must be a function of the completed data (a DataFrame) "
                    f"returning the column, e.g. lambda d: d.wgt / (d.hgt / 100) ** 2; got "
                    f"{function!r}."
                )
            for param in ("method", "delta"):
                given = getattr(self, param)
                if isinstance(given, dict) and key in given:
                    raise ValueError(
                        f"column {key!r} is passive (computed by passive[{key!r}]) and also "
                        f"named in {param}; remove it from one of them."
                    )
            if j == self._cluster_col:
                raise ValueError(f"passive names the cluster column {key!r}, which is complete.")
            out[j] = key
            methods[j] = "passive"
        return out

    def _derive(self, j, data, values, missing, rows) -> np.ndarray:
        """Passive column j at ``rows``, computed from the completed data as a DataFrame."""
        key = self._passive[j]
        frame = self._output(data, values, missing)
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(frame)  # array input: columns 0..p-1
        try:
            result = self.passive[key](frame)
        except Exception as exc:
            raise ValueError(
                f"passive[{key!r}] raised {type(exc).__name__}: {exc}. It is called with the "
                f"completed data as a DataFrame (columns {list(frame.columns)[:10]})."
            ) from exc
        result = result.to_numpy() if isinstance(result, pd.Series | pd.Index) else result
        if np.ndim(result) != 1 or len(result) != len(frame):
            shape = np.shape(result)
            raise ValueError(
                f"passive[{key!r}] returned shape {shape}; it must return one value per row "
                f"of X ({len(frame)})."
            )
        try:
            if isinstance(data, pd.DataFrame):
                new = encode_column(self._specs[j], pd.Series(result))[rows]
            else:
                new = np.asarray(result, dtype=float)[rows]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"passive[{key!r}] returned values that do not fit: {exc}") from None
        bad = ~np.isfinite(new)
        if bad.any():
            raise ValueError(
                f"passive[{key!r}] returned {int(bad.sum())} missing or infinite values for "
                f"rows it imputes (first at row {int(rows[np.argmax(bad)])}); its result must "
                f"be finite where column {key!r} is missing."
            )
        return new

    def _derive_all(self, columns, data, values, missing, work, rows_of) -> None:
        """Compute the passive columns once from the starting values (before any sweep)."""
        for j in columns:
            if j in self._passive:
                work.update(j, rows_of(j), self._derive(j, data, values, missing, rows_of(j)))

    def _model(self, method: str, j: int, observed: np.ndarray):
        spec = self._specs[j]
        shift = self._deltas.get(j, 0.0)  # only logistic models use it: log odds
        if method == "2l.norm":
            return MixedNormModel(self.ridge, self.heteroscedastic, spec.name)
        if method == "2l.pmm":
            return MixedPmmModel(
                self.ridge, self.donors, self.donor_bootstrap, self.heteroscedastic, spec.name
            )
        if method == "2l.lrd":
            return MixedLrdModel(
                self.ridge, self.donors, self.donor_bootstrap, self.heteroscedastic, spec.name
            )
        if method == "2l.bin":
            levels = None if spec.kind == "categorical" else np.unique(observed)
            return MixedLogitModel(levels, spec.name)
        if method in LEVEL_TWO:
            return level_two_model(method, self.ridge, self.donors, self.donor_bootstrap)
        if method in TREE_METHODS:
            categorical = spec.kind == "categorical"
            return tree_model(
                method, categorical, spec.n_levels if categorical else 0, self.n_trees
            )
        if method == "norm":
            return NormModel(self.ridge)
        if method == "pmm":
            return PmmModel(self.ridge, self.donors, self.donor_bootstrap)
        if method == "lrd":
            return LrdModel(self.ridge, self.donors, self.donor_bootstrap)
        if method == "polr":
            return PolrModel(spec.n_levels, spec.name, logit_shift=shift)
        if method == "midastouch":
            return MidastouchModel(self.ridge)
        if spec.kind == "categorical":
            return LogitModel(method, spec.n_levels, logit_shift=shift)
        levels = np.unique(observed)
        return LogitModel(method, levels.size, levels, logit_shift=shift)

    def _start(self, pool: np.ndarray, j: int, size: int, rng) -> np.ndarray:
        """Starting values: draws from ``pool``; without draws (``sample_posterior`` at fit)
        its mean or mode."""
        if self._draw:
            return pool[rng.integers(0, pool.size, size=size)]
        if self._specs[j].kind == "categorical":
            return np.full(size, float(np.bincount(pool.astype(np.intp)).argmax()))
        return np.full(size, pool.mean())


def _distinct_upto(x: np.ndarray, limit: int) -> int:
    """The number of distinct values of x other than NaN, exact up to ``limit``; above it,
    some number above ``limit``. A continuous column shows more than ``limit`` values in
    its first rows, which spares sorting all of them."""
    head = x[: 100 * (limit + 1)]
    head = np.unique(head[~np.isnan(head)])
    return head.size if head.size > limit else np.unique(x[~np.isnan(x)]).size


def _mean_sd(x: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for fewer than two values)."""
    if x.size < 2:
        return (float(x[0]) if x.size else np.nan), np.nan
    mean = x.mean()
    return float(mean), float(np.sqrt(np.sum((x - mean) ** 2) / (x.size - 1)))
