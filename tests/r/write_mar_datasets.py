"""Write the datasets of the MAR coverage simulation for tests/r/mice_mar_coverage.R.

The slow coverage test of ChainedImputer (tests/test_chained_imputer.py) draws 500
datasets with ``mar_data(200, numpy.random.default_rng(2026))`` and, after each one, the
integer seed of its imputations. R cannot replay NumPy's generator, so this script
writes those datasets to one CSV file (columns rep, x1, x2, y) that the R script reads:

    python tests/r/write_mar_datasets.py /tmp/skmipool_mar.csv
    Rscript tests/r/mice_mar_coverage.R /tmp/skmipool_mar.csv

The R script records checksums of the data in its fixture; the test recomputes them,
so a fixture made from other datasets fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mar_simulation import mar_datasets

if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/skmipool_mar.csv"
    frames = [
        X.assign(y=y, rep=rep)[["rep", "x1", "x2", "y"]]
        for rep, (X, y, _seed) in enumerate(mar_datasets(500, n=200, seed=2026))
    ]
    out = pd.concat(frames, ignore_index=True)
    out.to_csv(path, index=False, float_format="%.17g", na_rep="NA")
    print(f"wrote {len(frames)} datasets, {len(out)} rows, to {path}")
    print(
        f"checksums: sum(y) = {out['y'].sum():.12g}, sum(x1 observed) = "
        f"{np.nansum(out['x1']):.12g}, missing x1 = {int(out['x1'].isna().sum())}"
    )
