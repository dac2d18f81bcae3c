"""Fixtures for the market tests: ``recorded_math`` skips a test whose expected bytes were
recorded on another machine when this CPU's NumPy rounds transcendental functions otherwise.

NumPy's ``log``/``exp`` take SIMD paths that differ between CPUs in the last bit, so a
digest recorded on one machine can move on another without any change of the code. The
probe below hashes those functions on a fixed grid; where it reads what it read on the
recording machine, the recorded digests are comparable.
"""

import hashlib

import numpy as np
import pytest

RECORDED_MATH_PROBE = "9072c3e669b0594cb79bb0c2b50efaebf9f7dea03308665042af0e888a42b2c9"


def math_probe() -> str:
    """Digest of NumPy's log, exp, sqrt, log1p and expm1 on a fixed grid."""
    x = np.linspace(0.01, 50.0, 200_003)
    h = hashlib.sha256()
    for f in (np.log, np.exp, np.sqrt, np.log1p, np.expm1):
        h.update(f(x).tobytes())
    return h.hexdigest()


@pytest.fixture
def recorded_math() -> None:
    """Skip unless NumPy's transcendental functions round as on the recording machine."""
    if math_probe() != RECORDED_MATH_PROBE:
        pytest.skip("this CPU rounds NumPy's log/exp differently from the recording machine")
