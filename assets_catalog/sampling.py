"""Seeded sampling stratified by category, so a render plan draws a balanced set of objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assets_catalog.splits import unit_hash

if TYPE_CHECKING:
    import pandas as pd

SAMPLING_MODES = ("balanced", "proportional")


def _allocate(sizes: dict[str, int], n: int, mode: str) -> dict[str, int]:
    """How many rows to take from each category (sum = min(n, total))."""
    total = sum(sizes.values())
    n = min(n, total)
    if mode == "proportional":
        exact = {c: n * s / total for c, s in sizes.items()}
        take = {c: int(v) for c, v in exact.items()}
        # largest remainders get the leftover rows; ties broken by category name
        for c in sorted(exact, key=lambda c: (-(exact[c] - take[c]), c))[: n - sum(take.values())]:
            take[c] += 1
        return take
    # balanced: equal shares, categories smaller than their share give the rest to the others
    take = dict.fromkeys(sizes, 0)
    left = n
    open_cats = sorted(sizes)
    while left > 0 and open_cats:
        share, extra = divmod(left, len(open_cats))
        for i, c in enumerate(open_cats):
            add = min(share + (1 if i < extra else 0), sizes[c] - take[c])
            take[c] += add
            left -= add
        open_cats = [c for c in open_cats if take[c] < sizes[c]]
    return take


def sample_stratified(df: "pd.DataFrame", n: int, seed: int, by: str = "category",
                      mode: str = "balanced") -> "pd.DataFrame":
    """``n`` rows of ``df`` (all if fewer), stratified by column ``by``; deterministic for a seed.

    ``balanced`` gives every category the same number of rows where it has enough; ``proportional``
    follows the catalog's category frequencies. Within a category the rows are ordered by a seeded
    stable hash of their uid, so the result does not depend on the row order of ``df``. An empty
    category value is its own stratum.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; choices: {', '.join(SAMPLING_MODES)}")
    if n < 0:
        raise ValueError(f"sample size must be >= 0, got {n}")
    keys = df[by].fillna("").astype(str)
    sizes = keys.value_counts().to_dict()
    take = _allocate(sizes, n, mode)
    rank = df["uid"].map(lambda u: unit_hash("sample", str(seed), str(u)))
    picked = []
    for category, count in sorted(take.items()):
        if count:
            members = rank[keys == category].sort_values(kind="stable")
            picked.extend(members.index[:count])
    return df.loc[picked]
