"""Imputers for multiple imputation.

:class:`ChainedImputer` imputes by chained equations with parameters drawn
from their posterior (R's ``mice``: ``pmm``, ``norm``, ``logreg``,
``polyreg``, ``polr``, ``cart``, ``rf``, passive columns; for clustered data
``2l.norm``, ``2l.lrd``, ``2l.pmm``, ``2l.bin`` and ``2lonly.*`` with ``cluster=``),
keeps categorical and boolean columns as such, and drops into
:class:`skmipool.MIPooledEstimator` and scikit-learn pipelines.
"""

from skmipool.impute._chained import ChainedImputer

__all__ = ["ChainedImputer"]
