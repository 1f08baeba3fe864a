"""The data during the chain: values, design matrix and its running cross-products.

The linear models need only the moments of their observed rows. The
workspace keeps ``D'D`` and ``D'1`` of the whole design matrix D up to date
(a column's rows and columns are recomputed when it is imputed) and gets the
observed rows' moments by subtracting those of the missing rows, so that
fitting ``norm`` never passes over the observed rows and ``pmm`` passes once
(its fitted values).
"""

from __future__ import annotations

import numpy as np

from skmipool.impute._columns import ColumnSpec
from skmipool.impute._models import Moments

__all__ = ["ColumnData", "Workspace"]


class Workspace:
    """Values (n, p) and design matrix (n, q) of the completed data.

    ``values`` holds numbers and category codes. The design holds numeric
    columns minus a fixed offset (their observed mean at fit, so that the
    cross-products lose no precision to large means) and categorical columns
    as K - 1 dummies; a model's predictors are a fixed set of design columns.
    Imputing a column writes its missing rows in both and, with
    ``moments=True``, refreshes the cross-products.
    """

    def __init__(
        self,
        values: np.ndarray,
        specs: list[ColumnSpec],
        offsets: np.ndarray,
        moments: bool = True,
    ):
        self.values, self.specs, self.offsets = values, specs, offsets
        widths = [spec.width for spec in specs]
        self.starts = np.cumsum([0, *widths])[:-1]
        self.design = np.empty((values.shape[0], sum(widths)))
        everything = np.arange(values.shape[0])
        for j in range(len(specs)):
            self._write(j, everything, values[:, j])
        self.gram = self.design.T @ self.design if moments else None
        self.sums = self.design.sum(axis=0) if moments else None

    def columns_of(self, j: int) -> np.ndarray:
        """The design columns of column j."""
        return np.arange(self.starts[j], self.starts[j] + self.specs[j].width)

    def _write(self, j: int, rows: np.ndarray, new: np.ndarray) -> None:
        spec, start = self.specs[j], self.starts[j]
        if spec.kind == "numeric":
            self.design[rows, start] = new - self.offsets[j]
        elif spec.width:
            levels = np.arange(1, spec.n_levels)
            self.design[rows, start : start + spec.width] = new[:, None] == levels

    def update(self, j: int, rows: np.ndarray, new: np.ndarray) -> None:
        """Write the imputed values of column j into its missing rows.

        The rows and columns of j in ``D'D`` and ``D'1`` are recomputed over all
        rows (one matrix-vector product per design column of j; faster here
        than an update from the changed rows, whose gathers cost more).
        """
        self.values[rows, j] = new
        self._write(j, rows, new)
        if self.gram is not None:
            cols = self.columns_of(j)
            block = self.design[:, cols]
            cross = self.design.T @ block
            self.gram[:, cols] = cross
            self.gram[cols, :] = cross.T
            self.sums[cols] = block.sum(axis=0)

    def predictors(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self.design[np.ix_(rows, cols)]

    def column(self, j, obs, mis, cols, y_obs) -> ColumnData:
        return ColumnData(self, j, obs, mis, cols, y_obs)


class ColumnData:
    """One column's view of the workspace, as its model's ``fit`` reads it.

    Parameters
    ----------
    work : Workspace
    j : int
        The column imputed.
    obs, mis : ndarray of int
        Its observed and missing rows.
    cols : ndarray of int
        Design columns of its predictors.
    y_obs : ndarray
        Its observed values.
    """

    def __init__(self, work: Workspace, j: int, obs, mis, cols, y_obs):
        self.work, self.j, self.obs, self.mis, self.cols, self.y_obs = (
            work,
            j,
            obs,
            mis,
            cols,
            y_obs,
        )
        self._X_mis = None

    @property
    def X_mis(self) -> np.ndarray:
        if self._X_mis is None:
            self._X_mis = self.work.predictors(self.mis, self.cols)
        return self._X_mis

    @property
    def X_obs(self) -> np.ndarray:
        return self.work.predictors(self.obs, self.cols)

    def moments(self) -> Moments:
        """Moments of the observed rows: those of all rows minus those of the missing rows."""
        work, target = self.work, self.work.starts[self.j]
        both = np.append(self.cols, target)
        D_mis = work.predictors(self.mis, both)
        self._X_mis = D_mis[:, :-1]
        gram = work.gram[np.ix_(both, both)] - D_mis.T @ D_mis
        n = self.obs.size
        mean = (work.sums[both] - D_mis.sum(axis=0)) / n
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

    def fitted(self, kept: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """``X_obs[:, kept] @ coef`` as one product with the whole design matrix."""
        full = np.zeros(self.work.design.shape[1])
        full[self.cols[kept]] = coef
        return (self.work.design @ full)[self.obs]
