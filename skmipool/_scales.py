"""Inference scales: where Rubin's rules are applied, and the way back.

Rubin's rules assume the completed-data estimates are approximately normal.
For ratios, probabilities and correlations that holds on a transformed scale
(van Buuren 2018, FIMD section 5.2, Table 5.2; Marshall et al. 2009 for
survival probabilities), so the estimates are moved there, pooled, and the
estimate and interval are mapped back once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["Transform", "get_transform"]


@dataclass(frozen=True)
class Transform:
    """A monotone map from the reporting scale to the inference scale.

    Parameters
    ----------
    name : str
        Name shown on results ("logit", "log", ...).
    forward : callable
        Reporting scale -> inference scale.
    inverse : callable
        Inference scale -> reporting scale.
    derivative : callable
        d forward / d x, for the delta method.
    domain : tuple of float
        Open interval of valid reporting-scale values.
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    domain: tuple[float, float] = (-np.inf, np.inf)

    def __reduce__(self):
        # named scales pickle by name (their functions are lambdas)
        if _NAMED.get(self.name) is self:
            return (get_transform, (self.name,))
        return super().__reduce__()

    @property
    def is_identity(self) -> bool:
        return self.name == "identity"

    def check_domain(self, values, where: str = "") -> None:
        """Raise when a reporting-scale value lies outside the transform's domain."""
        values = np.asarray(values, dtype=float)
        lo, hi = self.domain
        bad = ~((values > lo) & (values < hi))
        if bad.any():
            first = values[bad].flat[0]
            raise ValueError(
                f"{where}the value {first} is outside the domain ({lo:g}, {hi:g}) of the "
                f"{self.name!r} scale. Choose a scale that fits the estimand."
            )

    def to_inference(self, estimate: np.ndarray, covariance: np.ndarray):
        """Estimate and covariance moved to the inference scale by the delta method.

        cov(f(q)) = J cov(q) J with J = diag(f'(q)) (FIMD eq. 5.3 in matrix form).
        """
        q = np.asarray(estimate, dtype=float)
        jac = np.asarray(self.derivative(q), dtype=float)
        cov = np.asarray(covariance, dtype=float)
        if cov.ndim == q.ndim:  # variances
            return self.forward(q), jac**2 * cov
        return self.forward(q), jac[..., :, None] * cov * jac[..., None, :]

    def interval(self, lower, upper):
        """Map an inference-scale interval back, keeping lower <= upper."""
        a, b = self.inverse(np.asarray(lower)), self.inverse(np.asarray(upper))
        return np.minimum(a, b), np.maximum(a, b)


def _cloglog(s):
    return np.log(-np.log(s))


_NAMED = {
    "identity": Transform("identity", lambda x: x, lambda x: x, np.ones_like),
    # log ratios (odds, rate, hazard ratios), variances
    "log": Transform("log", np.log, np.exp, lambda x: 1.0 / x, (0.0, np.inf)),
    # probabilities, AUC, C-index
    "logit": Transform(
        "logit", special.logit, special.expit, lambda p: 1.0 / (p * (1.0 - p)), (0.0, 1.0)
    ),
    # correlations: Fisher (1915) z, variance 1 / (n - 3)
    "fisher_z": Transform(
        "fisher_z", np.arctanh, np.tanh, lambda r: 1.0 / (1.0 - r**2), (-1.0, 1.0)
    ),
    # survival probabilities S: log(-log S), i.e. the cloglog of the event probability 1 - S
    # (Marshall, Billingham & Bryan 2009)
    "cloglog": Transform(
        "cloglog",
        _cloglog,
        lambda x: np.exp(-np.exp(x)),
        lambda s: 1.0 / (s * np.log(s)),
        (0.0, 1.0),
    ),
    # R² (Harel 2009): z = atanh(sqrt(R²)); back as tanh(z)² with R clamped at 0
    "r_squared": Transform(
        "r_squared",
        lambda r2: np.arctanh(np.sqrt(r2)),
        lambda z: np.tanh(np.maximum(z, 0.0)) ** 2,
        lambda r2: 1.0 / (2.0 * np.sqrt(r2) * (1.0 - r2)),
        (0.0, 1.0),
    ),
}


def get_transform(spec) -> Transform:
    """Resolve a scale given by name, Transform or (forward, inverse, derivative) triple.

    Parameters
    ----------
    spec : None, str, Transform or tuple of three callables
        None or "identity": no transform. Names: "log", "logit", "fisher_z",
        "cloglog".

    Returns
    -------
    Transform

    Examples
    --------
    >>> from skmipool._scales import get_transform
    >>> t = get_transform("logit")
    >>> float(t.inverse(t.forward(0.25)))
    0.25
    """
    if spec is None:
        return _NAMED["identity"]
    if isinstance(spec, Transform):
        return spec
    if isinstance(spec, str):
        try:
            return _NAMED[spec]
        except KeyError:
            raise ValueError(
                f"unknown scale {spec!r}; use one of {sorted(_NAMED)} or a "
                f"(forward, inverse, derivative) triple of callables."
            ) from None
    if isinstance(spec, tuple) and len(spec) == 3 and all(callable(f) for f in spec):
        forward, inverse, derivative = spec
        name = getattr(forward, "__name__", "custom")
        return Transform(name if name != "<lambda>" else "custom", forward, inverse, derivative)
    raise TypeError(
        f"transform must be None, a scale name, or a (forward, inverse, derivative) triple of "
        f"callables; got {spec!r}."
    )
