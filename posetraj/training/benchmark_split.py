"""Keep the benchmark split out of training: refuse data that shares assets with a benchmark suite.

A rendered training clip is identified by its asset's uid and mesh sha256 (``meta.json``); a suite sample by
the asset in its manifest record and its ground-truth clip's ``meta.json``. Real training videos and the
samples of real / custom suites are identified by their video id. One shared identity is enough to refuse.
"""

from __future__ import annotations

from pathlib import Path

from posetraj.training.data import Source


class BenchmarkOverlapError(ValueError):
    """Training data shares assets with a benchmark suite."""


def suite_identities(suite_path: str | Path) -> dict[str, str]:
    """``{identity: sample id}`` of every sample of a benchmark suite."""
    from benchmark.suite import load_suite
    from common.clip_format import ClipFormatError

    suite = load_suite(suite_path)
    identities: dict[str, str] = {}
    for sample in suite.samples:
        found = {str(sample.record["asset"])} if sample.record.get("asset") else set()
        try:
            clip = sample.clip()
        except ClipFormatError:
            clip = None
        if clip is not None:
            asset = clip.meta.get("asset") or {}
            found |= {str(v) for v in (asset.get("uid"), asset.get("sha256")) if v}
        if suite.kind in ("real", "custom"):
            found.add(f"video:{sample.id}")
        for identity in found:
            identities.setdefault(identity, sample.id)
    return identities


def check_disjoint(sources: list[Source], suites: list[str]) -> None:
    """Raise :class:`BenchmarkOverlapError` when a source shares an asset with a sample of one of ``suites``."""
    for suite in suites:
        benchmark = suite_identities(suite)
        shared: dict[str, list[str]] = {}
        for source in sources:
            matches = [identity for identity in source.assets if identity in benchmark]
            if matches:
                shared.setdefault(matches[0], []).append(source.name)
        if shared:
            parts = [f"{identity} ({len(names)} training sample{'s' * (len(names) > 1)}, e.g. {names[0]}; suite sample "
                     f"{benchmark[identity]})" for identity, names in sorted(shared.items())]
            raise BenchmarkOverlapError(
                f"training data shares assets with benchmark suite {suite}: {'; '.join(parts)}. Training data must "
                f"never include the benchmark split: render it from other assets (the catalog's train split, or "
                f"posetraj dataset plan --builtins train)")
