"""Short fingerprints of exact bytes: equal digests mean bit-identical arrays."""

from __future__ import annotations

import hashlib

import numpy as np


def digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
