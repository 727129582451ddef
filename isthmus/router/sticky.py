"""Sticky assignment by weighted rendezvous (highest-random-weight) hashing.

Each variant scores ``-weight / ln(h)`` with ``h`` a stable hash of (key,
variant) in (0, 1); the highest score wins. A key keeps its variant while
the weights are unchanged, wins are in proportion to the weights, and when
weights change only the keys that must move do move (a key only ever moves
*to* a variant whose relative weight grew), with no state to store.
"""

from __future__ import annotations

import math
from hashlib import blake2b
from typing import Sequence

_SCALE = float(1 << 64)


def unit_hash(key: str, salt: str) -> float:
    """A stable hash of ``(key, salt)`` in the open interval (0, 1), the same in every process."""
    digest = blake2b(f"{salt}\0{key}".encode(), digest_size=8, person=b"isthmus-sticky").digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE


def rendezvous_pick(key: str, names: Sequence[str], weights: Sequence[int]) -> int:
    """Index of the variant ``key`` sticks to; zero-weight variants are never chosen."""
    best, best_score = -1, -math.inf
    for i, (name, weight) in enumerate(zip(names, weights, strict=True)):
        if weight <= 0:
            continue
        score = -weight / math.log(unit_hash(key, name))
        if score > best_score:
            best, best_score = i, score
    if best < 0:
        raise ValueError("total weight must be positive")
    return best
