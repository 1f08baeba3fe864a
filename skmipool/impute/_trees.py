"""Tree models of the chain: ``cart`` (one tree) and ``rf`` (a random forest).

Both impute by drawing a donor among the observed rows that share the missing
row's leaf (Doove, van Buuren & Dusseldorp 2014; mice's ``mice.impute.cart``
and ``mice.impute.rf``), so their imputations are observed values and keep the
interactions and non-linearities that the trees find. One engine,
:class:`TreeDonorModel`, serves both; they differ only in the scikit-learn
estimator it fits. Unlike mice, which fits its trees to the observed rows as
they are, each fit (with draws) first takes a bootstrap of the observed rows,
so that the trees and the donors vary between imputations as a proper
imputation requires (Rubin & Schenker 1986; the bootstrap of Doove et al. 2014,
section 2.2, and of Shah et al. 2014).

References
----------
Doove, L. L., van Buuren, S. and Dusseldorp, E. (2014). Recursive partitioning
for missing data imputation in the presence of interaction effects.
*Computational Statistics & Data Analysis* 72, 92-104.
Shah, A. D., Bartlett, J. W., Carpenter, J., Nicholas, O. and Hemingway, H.
(2014). Comparison of random forest and parametric imputation models for
imputing missing data using MICE: a CALIBER study. *American Journal of
Epidemiology* 179, 764-774.
Rubin, D. B. and Schenker, N. (1986). Multiple imputation for interval
estimation from simple random samples with ignorable nonresponse. *Journal
of the American Statistical Association* 81, 366-374.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmipool.impute._models import bootstrap_rows

__all__ = ["TREE_METHODS", "TreeDonorModel", "tree_model"]

TREE_METHODS = ("cart", "rf")
# mice.impute.cart: rpart's minbucket = 5 and cp = 1e-4 (a split must lower the lack of fit
# by cp times the root's; sklearn's min_impurity_decrease is weighted by the node's share)
CART_MIN_LEAF = 5
CART_CP = 1e-4
# mice.impute.rf through ranger: min.node.size 5 (regression) or 1 (classification), as
# sklearn's min_samples_leaf. ranger tries mtry = floor(sqrt(p)) predictors per split; here
# scikit-learn's defaults: all of them for regression (with two predictors, sqrt(p) = 1 left
# the interaction of the tests' simulation at -0.19 instead of -0.11 for n = 2000), sqrt(p)
# for classification
RF_MIN_LEAF = {False: 5, True: 1}
RF_MAX_FEATURES = {False: 1.0, True: "sqrt"}


def _seed(rng: np.random.Generator) -> int:
    """An integer seed for scikit-learn, drawn from the chain's generator."""
    return int(rng.integers(np.iinfo(np.int32).max))


class TreeDonorModel:
    """Donors from the leaves of a tree or a forest fitted to the observed rows.

    ``fit`` takes (with draws) a bootstrap of the observed rows, fits the
    estimator to it and keeps, for every leaf of every tree, the bootstrap
    rows that fall in it: their values sorted by (tree, leaf), with each
    leaf's first position and size. ``impute`` finds each missing row's leaf
    in every tree; its donors are the multiset union of those leaves (mice's
    ``rf``: ``sample(unlist(donors), 1)``). A donor is drawn uniformly from
    that multiset by choosing a tree with probability proportional to the
    size of the row's leaf in it and then a row of that leaf uniformly:
    a loop over the trees, none over the rows. With one tree this is
    mice's ``cart`` (a random donor from the leaf; for a categorical
    column, a level with the leaf's class proportions).

    Without draws: no bootstrap, and the mean of the donors' values
    (numeric) or their most frequent level (categorical).

    Parameters
    ----------
    estimator : sklearn tree or forest
        Unfitted; its ``random_state`` is set from the chain's generator at every fit.
    categorical : bool
        The column holds level codes 0..K-1 (a classifier is fitted).
    n_levels : int
        K, for categorical columns.
    cp : float
        Complexity parameter: a split must lower the impurity by ``cp`` times the
        root's (rpart's ``cp``, as scikit-learn's weighted ``min_impurity_decrease``).
    """

    def __init__(self, estimator, categorical: bool, n_levels: int = 0, cp: float = 0.0):
        self.estimator = estimator
        self.categorical = categorical
        self.n_levels = n_levels
        self.cp = cp

    def _predictors(self, X: np.ndarray) -> np.ndarray:
        # no predictors: one constant column, one leaf (mice.impute.cart: cbind(x, 1))
        return X if X.shape[1] else np.ones((X.shape[0], 1))

    def fit(self, data, rng, draw):
        self.cols_ = np.asarray(data.cols)
        X, y = self._predictors(data.X_obs), np.asarray(data.y_obs, dtype=float)
        if draw:  # a bootstrap per fit: the trees and donors vary between imputations
            rows = bootstrap_rows(y.size, rng)
            X, y = X[rows], y[rows]
        decrease = self.cp * _impurity(y, self.categorical)
        self.estimator.set_params(random_state=_seed(rng), min_impurity_decrease=decrease)
        fitted = self.estimator.fit(X, y)
        leaves = _leaves(fitted, X)  # (n, n_trees) node ids
        n_trees = leaves.shape[1]
        # one key per (tree, leaf): node ids are below the tree's node count
        self.width_ = int(leaves.max()) + 1
        keys = (leaves + self.width_ * np.arange(n_trees)).ravel(order="F")
        order = np.argsort(keys, kind="stable")
        self.keys_, self.starts_, self.counts_ = np.unique(
            keys[order], return_index=True, return_counts=True
        )
        self.donor_values_ = np.tile(y, n_trees)[order]
        self.fitted_ = fitted
        return self

    def impute(self, D, rng, draw):
        m = D.shape[0]
        if m == 0:
            return np.zeros(0)
        leaves = _leaves(self.fitted_, self._predictors(D[:, self.cols_]))
        n_trees = leaves.shape[1]
        # every leaf holds a row of the tree's training sample, so each key is found
        index = np.searchsorted(self.keys_, leaves + self.width_ * np.arange(n_trees))
        counts, starts = self.counts_[index], self.starts_[index]  # (m, n_trees)
        if not draw:
            return self._central(index, counts)
        # a uniform draw from the multiset union of the row's leaves: tree t with
        # probability counts[t] / sum(counts), then a uniform row of that leaf
        cum = np.cumsum(counts, axis=1)
        u = rng.random(m) * cum[:, -1]
        tree = np.minimum((cum <= u[:, None]).sum(axis=1), n_trees - 1)
        pick = np.arange(m)
        offset = np.minimum(
            (rng.random(m) * counts[pick, tree]).astype(np.intp), counts[pick, tree] - 1
        )
        return self.donor_values_[starts[pick, tree] + offset]

    def _central(self, index, counts):
        """The donors' mean (numeric) or most frequent level, over the multiset union of
        the leaves ``index`` (m x n_trees) of each row."""
        if not self.categorical:
            totals = np.add.reduceat(self.donor_values_, self.starts_)
            return totals[index].sum(axis=1) / counts.sum(axis=1)
        # level counts of every leaf: (n_leaves, K)
        segment = np.repeat(np.arange(self.starts_.size), self.counts_)
        table = np.zeros((self.starts_.size, self.n_levels))
        np.add.at(table, (segment, self.donor_values_.astype(np.intp)), 1.0)
        return np.argmax(table[index].sum(axis=1), axis=1).astype(float)


def _impurity(y: np.ndarray, categorical: bool) -> float:
    """The root node's impurity: Gini for levels, variance for values."""
    if categorical:
        p = np.bincount(y.astype(np.intp)) / y.size
        return float(1.0 - p @ p)
    return float(np.var(y))


def _leaves(fitted, X: np.ndarray) -> np.ndarray:
    """Leaf ids of the rows of X, one column per tree."""
    leaves = fitted.apply(X)
    return leaves.reshape(X.shape[0], -1)


def tree_model(method: str, categorical: bool, n_levels: int, n_trees: int) -> TreeDonorModel:
    """The donor model of ``cart`` (one tree on all predictors) or ``rf`` (a forest)."""
    if method == "cart":
        kind = DecisionTreeClassifier if categorical else DecisionTreeRegressor
        return TreeDonorModel(kind(min_samples_leaf=CART_MIN_LEAF), categorical, n_levels, CART_CP)
    kind = RandomForestClassifier if categorical else RandomForestRegressor
    # each tree on its own bootstrap of the rows it is given (ranger's default)
    estimator = kind(
        n_estimators=n_trees,
        min_samples_leaf=RF_MIN_LEAF[categorical],
        max_features=RF_MAX_FEATURES[categorical],
    )
    return TreeDonorModel(estimator, categorical, n_levels)
