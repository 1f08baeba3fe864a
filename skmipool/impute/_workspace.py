"""The data during the chain: values, design matrix and its running cross-products.

The linear models need only the moments of their observed rows. The
workspace keeps ``D'D`` and ``D'1`` of the whole design matrix D up to date
(updated from the rows a column's imputation changes) and gets the
observed rows' moments by subtracting those of the missing rows, so that
fitting ``norm`` never passes over the observed rows and ``pmm`` passes once
(its fitted values). The missing rows' moments of each tracked column are
kept up to date the same way, from the rows that an update changes and that
column misses, so that a sweep does not recompute them: with p columns to
impute, a sweep costs sum over pairs of columns of (rows missing in both) x q
instead of p x (missing rows) x q^2.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from skmipool.impute._columns import ColumnSpec
from skmipool.impute._models import ROW_BLOCK, Moments, submatrix
from skmipool.impute._multilevel import ClusterColumnData

__all__ = ["ColumnData", "Workspace", "update_cross_products"]


def update_cross_products(grams, sums, before, block, cols, mask) -> None:
    """Update cross-products ``D_t'D_t`` and ``D_t'1`` in place when the design columns
    ``cols`` of some rows change; ``D_t`` are the rows of D where ``mask[:, t]``.

    ``grams`` (T, q, q) and ``sums`` (T, q) hold the T sets' cross-products; ``before``
    the rows that change, at full width, before the change; ``block`` their new ``cols``
    values; ``mask`` (rows x T) which of them belong to each set (None: one set, all of
    them). With Δ = block -
    before[:, C] and M_t = diag(mask[:, t]): ``D_t'D_t[:, C] += B'M_t Δ``, then
    ``D_t'D_t[C, C] += Δ'M_t(B[:, C] + Δ)`` (the new C'C minus the old is
    ``B_C'Δ + Δ'B_C + Δ'Δ`` over the set's rows), the rows C by symmetry, and
    ``D_t'1[C] += 1'M_t Δ``: one matrix product for all sets at once.
    """
    delta = block - before[:, cols]
    # rows x T: M_t Δ_a (without a mask, the one set's Δ_a itself)
    masked = [
        delta[:, a : a + 1] if mask is None else np.multiply(mask, delta[:, a : a + 1])
        for a in range(delta.shape[1])
    ]
    for a, c in enumerate(range(cols.start, cols.stop)):
        grams[:, :, c] += (before.T @ masked[a]).T
        sums[:, c] += _column_sums(masked[a])
    for a, c in enumerate(range(cols.start, cols.stop)):  # D'D[C_b, C_a] += Δ_b'M_t block_a
        for b, d in enumerate(range(cols.start, cols.stop)):
            grams[:, d, c] += block[:, a] @ masked[b]
    grams[:, cols, :] = grams[:, :, cols].transpose(0, 2, 1)


# narrowest design whose missing-row cross-products are kept up to date (see Workspace)
TRACK_MIN_WIDTH = 32


def tracking_pays(q: int, tracked: int) -> bool:
    """Whether running missing-row moments of ``tracked`` columns beat recomputing them on a
    design of q columns (see Workspace): wide designs, few tracked columns."""
    return q >= max(TRACK_MIN_WIDTH, 2 * (tracked + 1))


def _column_sums(X: np.ndarray) -> np.ndarray:
    """``1'X``: a matrix-vector product, several times faster than ``X.sum(axis=0)`` on a
    tall row-major X."""
    return np.ones(X.shape[0]) @ X


class Workspace:
    """Values (n, p) and design matrix (n, q) of the completed data.

    ``values`` holds numbers and category codes. The design holds numeric
    columns minus a fixed offset (their observed mean at fit, so that the
    cross-products lose no precision to large means) and categorical columns
    as K - 1 dummies; a model's predictors are a fixed set of design columns.
    Imputing a column writes its missing rows in both and, with
    ``moments=True``, updates the cross-products.

    The models read rows of the design at full width (``rows``): a gather of
    whole rows is several times faster than one of rows and some columns, and
    a model's predictions are one product with its coefficients placed in a
    vector of length q (zero for the columns it does not use).

    With ``cluster`` (codes 0..n_clusters - 1 of each row), the multilevel
    models read rows of the extended design ``[D | cluster means of D |
    cluster code]`` (``extended``); the cluster means are recomputed after
    each update, when first read.

    ``track`` names columns whose missing rows' moments (``D_mis'D_mis`` and
    ``D_mis'1``, rows where ``missing[:, j]``) are kept up to date as well,
    for :meth:`ColumnData.moments`. They take q^2 floats each and are kept
    only while all of them together are no larger than the design; beyond
    that each fit recomputes its own.
    """

    def __init__(
        self,
        values: np.ndarray,
        specs: list[ColumnSpec],
        offsets: np.ndarray,
        moments: bool = True,
        cluster: np.ndarray | None = None,
        n_clusters: int = 0,
        missing: np.ndarray | None = None,
        track=(),
        scratch=(),
    ):
        self.values, self.specs, self.offsets = values, specs, offsets
        self.cluster, self.n_clusters = cluster, n_clusters
        self._means = None
        if cluster is not None:  # cluster means as one sparse product: rows weighted 1 / n_c
            n = values.shape[0]
            count = np.maximum(np.bincount(cluster, minlength=n_clusters), 1)
            self._averaging = sparse.csr_matrix(
                (1.0 / count[cluster], (cluster, np.arange(n))), shape=(n_clusters, n)
            )
        widths = [spec.width for spec in specs]
        self.starts = np.cumsum([0, *widths])[:-1]
        n, q = values.shape[0], sum(widths)
        self.design = np.empty((n, q))
        # D = values - offsets at once for numbers and binary codes (a 0/1 code is its own
        # dummy), by row blocks below; wider dummy blocks column by column here
        direct = all(w == 1 for w in widths)
        if not direct:
            for j in range(len(specs)):
                self.design[:, self._block(j)] = self._encode(j, values[:, j])
        # cross-products of all rows (set 0) and of each tracked column's missing rows
        track = list(track) if moments and missing is not None else []
        # kept when they fit in the design's memory and pay: an update of T + 1 sets costs
        # a product of the changed rows with q x (T + 1) columns, a fit without them the
        # q x q cross-product of its missing rows; on narrow designs the second is as cheap
        # (measured: q = 10, T = 3 is 7% faster without; q = 200 faster with)
        if len(track) * q > n or not tracking_pays(q, len(track)):
            track = []
        self.missing, self._track = missing, {j: t + 1 for t, j in enumerate(track)}
        # row-major: an update reads the rows it writes, all tracked columns at once
        self._track_missing = np.ascontiguousarray(missing[:, track]) if track else None
        self._grams = self._sums = None
        # scratch arrays, made at the size of the column with the most missing (observed)
        # rows among those whose visits use them (``scratch``: their numbers of missing
        # rows), so that none is made twice
        self._buffers: dict[str, np.ndarray] = {}
        self.most_missing = max(scratch, default=0)
        self.most_observed = n - min(scratch, default=0)
        if moments:
            self._grams, self._sums = (
                np.zeros((1 + len(track), q, q)),
                np.zeros((1 + len(track), q)),
            )
        for start in range(0, n, ROW_BLOCK):  # one pass over D, each block used while cached
            D = self.design[start : start + ROW_BLOCK]
            if direct:
                np.subtract(values[start : start + ROW_BLOCK], offsets, out=D)
            if not moments:
                continue
            self._grams[0] += D.T @ D
            self._sums[0] += _column_sums(D)
            for t in range(1, len(track) + 1):
                B = D[self._track_missing[start : start + ROW_BLOCK, t - 1]]
                self._grams[t] += B.T @ B
                self._sums[t] += _column_sums(B)

    def _block(self, j: int) -> slice:
        """The design columns of column j, as a slice."""
        return slice(self.starts[j], self.starts[j] + self.specs[j].width)

    def _encode(self, j: int, new: np.ndarray) -> np.ndarray:
        """Design columns (rows x width) of values ``new`` of column j."""
        spec = self.specs[j]
        if spec.kind == "numeric":
            return (new - self.offsets[j])[:, None]
        return (new[:, None] == np.arange(1, spec.n_levels)).astype(float)

    def rows(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``design[rows]`` at full width (a copy, into ``out`` if given). The rows are
        valid: ``mode="clip"`` skips the check, without which ``take`` writes ``out``
        through a temporary copy."""
        return self.design.take(rows, axis=0, out=out, mode="clip")

    def buffer(self, name: str, size: int, dtype=np.float64, capacity: int = 0) -> np.ndarray:
        """A scratch array of ``size`` entries, the same memory at every call with ``name``
        (made with room for ``capacity``, grown when too small): the chain's temporaries
        of n rows are made once, not at every visit (each new array of n rows costs page
        faults as well as memory)."""
        held = self._buffers.get(name)
        if held is None or held.size < size or held.dtype != dtype:
            held = self._buffers[name] = np.empty(max(size, capacity), dtype)
        return held[:size]

    def cluster_means(self) -> np.ndarray:
        """Means of the design columns over the rows of each cluster (n_clusters x q)."""
        if self._means is None:
            self._means = self._averaging @ self.design
        return self._means

    def extended(self, rows: np.ndarray) -> np.ndarray:
        """Rows of ``[D | cluster means of D | cluster code]`` (width 2 q + 1)."""
        cluster = self.cluster[rows]
        return np.hstack([self.design[rows], self.cluster_means()[cluster], cluster[:, None]])

    @property
    def gram(self) -> np.ndarray | None:
        """``D'D`` of the whole design (None without moments)."""
        return None if self._grams is None else self._grams[0]

    @property
    def sums(self) -> np.ndarray | None:
        """``D'1`` of the whole design (None without moments)."""
        return None if self._sums is None else self._sums[0]

    def missing_moments(self, j: int):
        """``(D_mis'D_mis, D_mis'1)`` over the rows column j misses, if tracked, else None."""
        t = self._track.get(j)
        return None if t is None else (self._grams[t], self._sums[t])

    def update(self, j: int, rows: np.ndarray, new: np.ndarray, before=None) -> None:
        """Write the imputed values of column j into its rows ``rows``.

        With cross-products, those of column j's design columns change only in
        the rows written (:func:`update_cross_products`); a tracked column's
        missing-row moments change in the rows written that it misses.
        ``before``: the rows at full width before the write, if the caller has
        them (``ColumnData.rows_mis``).
        """
        cols = self._block(j)
        block = self._encode(j, new)
        if self.gram is not None and before is None:
            before = self.rows(rows)
        # a column at a time: the scatter into one column is about twice as fast as the
        # two-dimensional one
        self.values[:, j][rows] = new
        if block.shape[1] == 1:
            self.design[:, cols.start][rows] = block[:, 0]
        else:
            self.design[rows, cols] = block
        self._means = None
        if self.gram is None:
            return
        mask = None  # D'D alone: every row written counts
        if self._track:  # and the rows written that each tracked column misses
            mask = np.empty((rows.size, 1 + len(self._track)))
            mask[:, 0] = 1.0
            mask[:, 1:] = self._track_missing.take(rows, axis=0)
        update_cross_products(self._grams, self._sums, before, block, cols, mask)

    def predictors(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.design[np.ix_(rows, cols)]

    def column(self, j, mis, cols, obs=None, y_obs=None) -> ColumnData:
        return ColumnData(self, j, mis, cols, obs, y_obs)

    def cluster_column(self, j, obs, mis, cols, slopes, design_cols, y_obs) -> ClusterColumnData:
        return ClusterColumnData(self, j, obs, mis, cols, slopes, design_cols, y_obs)


class ColumnData:
    """One column's view of the workspace, as its model's ``fit`` reads it.

    Parameters
    ----------
    work : Workspace
    j : int
        The column imputed.
    mis : ndarray of int
        Its missing rows.
    cols : ndarray of int
        Design columns of its predictors.
    obs, y_obs : ndarray, optional
        Its observed rows and values. By default the rows where
        ``work.missing[:, j]`` is False and their values, found when a model
        first reads them (``norm`` never does), so that the chain keeps only the
        missing rows of each column.
    """

    def __init__(self, work: Workspace, j: int, mis, cols, obs=None, y_obs=None):
        self.work, self.j, self.mis, self.cols = work, j, mis, cols
        self._obs, self._y_obs = obs, y_obs
        self._rows_mis = None

    @property
    def obs(self) -> np.ndarray:
        """The observed rows."""
        if self._obs is None:
            self._obs = np.flatnonzero(~self.work.missing[:, self.j])
        return self._obs

    def _observed(self, x: np.ndarray) -> np.ndarray:
        """The observed rows' entries of an n-vector x (by the mask when no row index is
        held: no n_obs integers made for it)."""
        if self._obs is None:
            return x[~self.work.missing[:, self.j]]
        return x.take(self._obs)

    @property
    def y_obs(self) -> np.ndarray:
        """The observed values (never changed by the chain)."""
        if self._y_obs is None:
            self._y_obs = self._observed(self.work.values[:, self.j])
        return self._y_obs

    @property
    def rows_mis(self) -> np.ndarray:
        """The design's missing rows at full width, as they are before this column's
        imputation (the models' ``impute`` input; ``Workspace.update``'s ``before``).
        A scratch array of the workspace, valid until the next column's visit."""
        if self._rows_mis is None:
            q = self.design_width
            room = self.work.most_missing * q
            out = self.work.buffer("missing rows", self.mis.size * q, capacity=room)
            out = out.reshape(self.mis.size, q)
            self._rows_mis = self.work.rows(self.mis, out=out)
        return self._rows_mis

    def buffer(self, name: str, size: int, dtype=np.float64, capacity=None) -> np.ndarray:
        """A scratch array of the workspace (:meth:`Workspace.buffer`), by default with room
        for the observed rows of any column, valid during this column's visit."""
        room = self.work.most_observed if capacity is None else capacity
        return self.work.buffer(name, size, dtype, room)

    @property
    def design_width(self) -> int:
        """Number of columns of the whole design matrix."""
        return self.work.design.shape[1]

    @property
    def X_obs(self) -> np.ndarray:
        """The predictors of the observed rows (n_obs x predictors)."""
        return self.work.predictors(self.obs, self.cols)

    def moments(self) -> Moments:
        """Moments of the observed rows: those of all rows minus those of the missing rows."""
        work = self.work
        both = np.append(self.cols, work.starts[self.j])
        tracked = work.missing_moments(self.j)
        if tracked is None:
            # by blocks of rows: no copy of the missing rows' columns beside the scratch
            # arrays (one block up to 32 768 missing rows; beyond, the sums of the blocks
            # round differently from one product, by about 1e-16 relative)
            gram_mis, sums_mis = np.zeros((both.size, both.size)), np.zeros(both.size)
            for start in range(0, self.mis.size, ROW_BLOCK):
                B = self.rows_mis[start : start + ROW_BLOCK].take(both, axis=1)
                gram_mis += B.T @ B
                sums_mis += _column_sums(B)
        else:
            gram_mis, sums_mis = submatrix(tracked[0], both), tracked[1].take(both)
        gram = submatrix(work.gram, both) - gram_mis
        n = work.design.shape[0] - self.mis.size  # observed rows
        mean = (work.sums.take(both) - sums_mis) / n
        centred = gram - n * np.outer(mean, mean)
        return Moments(
            n=n,
            x_mean=mean[:-1],
            y_mean=float(mean[-1] + work.offsets[self.j]),
            sxx=centred[:-1, :-1],
            sxy=centred[:-1, -1],
            syy=float(centred[-1, -1]),
            x_square=np.diag(gram)[:-1],
        )

    def fitted(self, weights: np.ndarray) -> np.ndarray:
        """``D_obs @ weights`` for full-width weights: one product with the whole design
        (the same numbers whatever the rows and BLAS threads), into a scratch array of n
        rows whose observed rows are then moved to its front by blocks; valid during this
        visit."""
        design = self.work.design
        n = design.shape[0]
        if self._obs is not None:
            out = self.buffer("fitted", self._obs.size)
            return (design @ weights).take(self._obs, out=out, mode="clip")
        full = np.matmul(design, weights, out=self.buffer("fitted", n, capacity=n))
        observed, at = ~self.work.missing[:, self.j], 0
        for start in range(0, n, ROW_BLOCK):  # at <= start: the front is already read
            block = slice(start, start + ROW_BLOCK)
            kept = full[block][observed[block]]
            full[at : at + kept.size] = kept
            at += kept.size
        return full[:at]
