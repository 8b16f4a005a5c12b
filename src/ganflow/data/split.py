"""The seeded train/test split rule, written into every manifest so it can be checked."""
from __future__ import annotations

import numpy as np


def split_rule(test_fraction: float, seed: int) -> str:
    return (f"numpy.random.default_rng({seed}).permutation(n) over ids sorted by name; "
            f"the first round(n * {test_fraction}) are test, the rest train")


def seeded_split(ids: list[str], test_fraction: float, seed: int) -> dict[str, str]:
    """Map each id to 'train' or 'test'; independent of the order ids are given in."""
    ordered = sorted(ids)
    n_test = int(round(len(ordered) * test_fraction))
    if len(ordered) >= 2:
        n_test = min(max(n_test, 1), len(ordered) - 1)  # both splits must be non-empty
    perm = np.random.default_rng(seed).permutation(len(ordered))
    test = {ordered[i] for i in perm[:n_test]}
    return {i: ("test" if i in test else "train") for i in ordered}
