"""skmipool: multiple imputation with Rubin's rules, as scikit-learn estimators and functions.

The numerical core (:func:`pool_estimates`, :func:`pool`) reproduces R's
``mice::pool`` (mice 3.15) and ``mitml::testModels``; the estimator
:class:`MIPooledEstimator` imputes M times, fits and pools in one step.
"""

from skmipool._constraints import ConstraintError
from skmipool._estimate import Estimate
from skmipool._estimator import (
    DeterministicImputationWarning,
    ImputationError,
    InconsistentVersionWarning,
    MIPooledEstimator,
    OutcomeOnlyImputationWarning,
)
from skmipool._fits import as_estimate, pool, register_adapter
from skmipool._grid import grid_experiment
from skmipool._pool import barnard_rubin_df
from skmipool._results import (
    BootstrapMIResult,
    PooledResult,
    Summary,
    how_many_imputations,
    pool_estimates,
)
from skmipool._scales import Transform
from skmipool._sensitivity import TippingPointResult, tipping_point
from skmipool._tests import combine_chi_square, compare, pool_r_squared
from skmipool._version import __version__
from skmipool._wald import MITestResult

_SUBMODULES = (
    "datasets",
    "estimands",
    "explore",
    "impute",
    "metrics",
    "model_selection",
    "models",
    "plotting",
    "simulate",
)


def __getattr__(name):
    # skmipool.models, skmipool.plotting, ... load on first use (matplotlib stays optional)
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"skmipool.{name}")
    raise AttributeError(f"module 'skmipool' has no attribute {name!r}")


__all__ = [
    "BootstrapMIResult",
    "ConstraintError",
    "DeterministicImputationWarning",
    "Estimate",
    "ImputationError",
    "InconsistentVersionWarning",
    "MIPooledEstimator",
    "MITestResult",
    "OutcomeOnlyImputationWarning",
    "PooledResult",
    "Summary",
    "TippingPointResult",
    "Transform",
    "__version__",
    "as_estimate",
    "barnard_rubin_df",
    "combine_chi_square",
    "compare",
    "grid_experiment",
    "how_many_imputations",
    "pool",
    "pool_estimates",
    "pool_r_squared",
    "register_adapter",
    "tipping_point",
]
