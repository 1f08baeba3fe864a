"""Columns in and out of the chain: numbers and category codes in, original dtypes out.

The chain works on one float matrix: numeric columns as they are, categorical
(category, object/string, boolean) columns as codes 0..K-1 indexing their
observed levels, NaN where missing. This module learns each column's kind and
levels at fit, encodes frames into that matrix, and writes imputed values back
into a frame with the original dtypes.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as pdt

__all__ = ["ColumnSpec", "decode_column", "encode_column", "learn_spec"]

_NUMERIC_OBJECTS = {"integer", "floating", "mixed-integer-float", "decimal"}


@dataclass(frozen=True)
class ColumnSpec:
    """What the chain needs to know about one column.

    ``kind`` is "numeric" (enters other models as itself) or "categorical"
    (enters as K - 1 dummy codes, level 0 the reference); ``levels`` are the
    observed levels of a categorical column, in the order of their codes;
    ``dtype`` is the column's dtype, restored on output; ``as_bool`` marks an
    object column of booleans, returned as ``bool``.
    """

    name: Hashable
    kind: str
    levels: np.ndarray | None = None
    dtype: object = np.dtype(float)
    as_bool: bool = False

    @property
    def n_levels(self) -> int:
        return 0 if self.levels is None else len(self.levels)

    @property
    def ordered(self) -> bool:
        """Whether the column is an ordered pandas categorical."""
        return isinstance(self.dtype, pd.CategoricalDtype) and bool(self.dtype.ordered)

    @property
    def width(self) -> int:
        """Number of design columns: 1 for numeric, K - 1 dummies for categorical."""
        return 1 if self.kind == "numeric" else max(self.n_levels - 1, 0)


def _unsupported(name, dtype) -> ValueError:
    return ValueError(
        f"column {name!r} has dtype {dtype}; ChainedImputer imputes numeric, boolean and "
        f"categorical (category, object or string) columns. Convert it (e.g. a date to a "
        f"number) or drop it."
    )


def _sorted_levels(values: np.ndarray) -> np.ndarray:
    levels = pd.unique(values)
    try:
        levels = np.sort(levels)
    except TypeError:  # mixed types: keep the order of appearance
        pass
    return np.asarray(levels, dtype=object)


def learn_spec(name: Hashable, col: pd.Series) -> ColumnSpec:
    """The kind, levels and dtype of a training column."""
    dtype = col.dtype
    if pdt.is_numeric_dtype(dtype) and not pdt.is_bool_dtype(dtype):
        if pdt.is_complex_dtype(dtype):
            raise _unsupported(name, dtype)
        return ColumnSpec(name, "numeric", None, dtype)
    observed = col[col.notna()]
    if isinstance(dtype, pd.CategoricalDtype):
        present = np.unique(observed.cat.codes.to_numpy())
        return ColumnSpec(name, "categorical", np.asarray(dtype.categories[present]), dtype)
    if pdt.is_bool_dtype(dtype):
        levels = np.array([v for v in (False, True) if (observed == v).any()], dtype=bool)
        return ColumnSpec(name, "categorical", levels, dtype)
    if pdt.is_object_dtype(dtype) or pdt.is_string_dtype(dtype):
        inferred = pdt.infer_dtype(observed, skipna=True)
        if inferred == "boolean":
            levels = np.array([v for v in (False, True) if (observed == v).any()], dtype=bool)
            return ColumnSpec(name, "categorical", levels, dtype, as_bool=True)
        if inferred in _NUMERIC_OBJECTS:
            return ColumnSpec(name, "numeric", None, dtype)
        return ColumnSpec(name, "categorical", _sorted_levels(observed.to_numpy()), dtype)
    raise _unsupported(name, dtype)


def encode_column(spec: ColumnSpec, col: pd.Series) -> np.ndarray:
    """Floats (numeric) or level codes (categorical) with NaN where missing."""
    if spec.kind == "numeric":
        try:
            if col.dtype == np.float64:  # the common case, without pandas' conversions
                values = col.to_numpy(dtype=float, copy=False)  # read only: callers copy
            else:
                values = pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"column {spec.name!r} was numeric when the imputer was fitted but holds "
                f"values that are not numbers now ({exc})."
            ) from None
        if np.isinf(values).any():
            raise ValueError(
                f"column {spec.name!r} contains infinite values. Replace them with NaN if they "
                f"are missing, or with finite values."
            )
        return values
    missing = col.isna().to_numpy()
    codes = np.full(len(col), np.nan)
    found = pd.Index(spec.levels).get_indexer(col[~missing].to_numpy(dtype=object))
    if (found < 0).any():
        unknown = pd.unique(col[~missing].to_numpy(dtype=object)[found < 0])
        raise ValueError(
            f"column {spec.name!r} has levels {list(unknown[:5])} that were not observed when "
            f"the imputer was fitted (known: {list(spec.levels)}). Refit on data that contains "
            f"them, or recode them."
        )
    codes[~missing] = found
    return codes


def decode_column(spec: ColumnSpec, col: pd.Series, values: np.ndarray, missing: np.ndarray):
    """The column with its missing cells replaced, in the column's original dtype.

    ``values`` is the completed column as encoded (floats or codes).
    """
    if spec.kind == "numeric":
        if spec.dtype == np.float64:
            return values
        if pdt.is_object_dtype(spec.dtype):
            out = col.copy()
            out.iloc[np.flatnonzero(missing)] = values[missing]
            return out
        try:  # float32, nullable Int64 / Float64 ...; "norm" can make integers non-integer
            return pd.Series(values, index=col.index).astype(spec.dtype)
        except (TypeError, ValueError):
            return values
    codes = values.astype(np.intp)
    if isinstance(spec.dtype, pd.CategoricalDtype):
        category_codes = spec.dtype.categories.get_indexer(spec.levels)
        return pd.Categorical.from_codes(category_codes[codes], dtype=spec.dtype)
    if spec.as_bool or spec.dtype == bool:
        return spec.levels[codes].astype(bool)
    out = col.copy()
    out.iloc[np.flatnonzero(missing)] = spec.levels[codes[missing]]
    return out


def identifier_like_columns(frame: pd.DataFrame) -> list[str]:
    """Text or categorical columns with a different value in (almost) every row.

    Names, ids and free text: imputing them as categories would fit a model with
    a level per row, and as predictors they identify rows instead of predicting.
    A column counts when it has at least 10 observed values and more than
    max(20, half of them) distinct ones.
    """
    bad = []
    for col in frame.columns:
        values = frame[col].dropna()
        if pdt.is_numeric_dtype(values) or pdt.is_bool_dtype(values) or len(values) < 10:
            continue
        if values.nunique() > max(20, 0.5 * len(values)):
            bad.append(str(col))
    return bad
