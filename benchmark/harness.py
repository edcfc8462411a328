"""Score one model on one suite: run the :class:`~benchmark.scoring.Scorer` over every sample (here or in
worker processes), aggregate, and write per-sample results (Parquet) and a summary (JSON)."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmark.aggregate import summarize
from benchmark.cache import ArrayCache
from benchmark.models import Model, resolve_model
from benchmark.pose_tracking import PoseTrackingConfig
from benchmark.scoring import Scorer, lpips_model, make_tracker
from benchmark.suite import SuiteError, load_suite
from common.atomic import write_atomic, write_json_atomic

RESULTS_SCHEMA_VERSION = 2  # 2: pose metrics against the 3D ground truth, with n / ci95 per group
SAMPLES_FILE = "samples.parquet"
SUMMARY_FILE = "summary.json"


@dataclass
class RunConfig:
    """What ``posetraj bench run`` scores and where it writes."""

    suite: Path
    model: str
    out: Path
    tracker: str | None = None  # None: the default tracker
    tracker_config: dict = field(default_factory=dict)
    cache_dir: Path | None = None  # None: <out>/../.cache
    lpips_weights: Path | None = None  # folder with alexnet-owt-7be5be79.pth and alex.pth
    fid_weights: Path | None = None  # inception-2015-12-05.pt
    fvd_weights: Path | None = None  # i3d_torchscript.pt
    pose: PoseTrackingConfig = field(default_factory=PoseTrackingConfig)
    regenerate: bool = False  # ignore cached videos of this model (they are replaced)
    objmc_grid: int = 0  # > 0: an N x N grid, each trajectory taking the grid track nearest its start
    objmc_protocol: str = "direct"  # or "draganything": DragAnything's published grid protocol (docs/benchmark.md)
    progress: bool = True
    workers: int = 1  # > 1: generate in this process, then track and score samples in that many processes
    label: str | None = None  # the model's name in results and on the leaderboard (None: the adapter's own name)


def objmc_queries(config: RunConfig) -> str:
    """How the ObjMC trajectories were obtained, as recorded in summaries and on the leaderboard."""
    if config.objmc_protocol == "draganything":
        return "draganything (grid 100x100, per video nearest to entity centres)"
    return f"grid {config.objmc_grid}x{config.objmc_grid}" if config.objmc_grid else "direct"


def code_version() -> str:
    """The posetraj version, plus the git commit of the source tree when it is a checkout ("+dirty" when
    it has uncommitted changes)."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("posetraj")  # the distribution's version: benchmark never imports the model package
    except PackageNotFoundError:
        __version__ = "unknown"
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+git.{commit}{'.dirty' if dirty else ''}"


def write_parquet_atomic(path: Path, rows: list[dict]) -> None:
    """Per-sample rows as a Parquet table, written atomically."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False), suffix=".parquet")


def run_benchmark(config: RunConfig, *, model: Model | None = None, tracker=None) -> dict:
    """Score ``config.model`` on ``config.suite``; write ``samples.parquet`` and ``summary.json`` into
    ``config.out`` and return the summary. Failed samples are listed, never silently dropped."""
    from tqdm import tqdm

    started = time.perf_counter()
    if config.workers > 1 and tracker is not None:
        raise ValueError("with workers > 1 the tracker must be the one the configuration names "
                         "(tracker, tracker_config): each process builds its own")
    suite = load_suite(config.suite)
    model = model or resolve_model(config.model)
    tracker = tracker or make_tracker(config.tracker, config.tracker_config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(config.cache_dir) if config.cache_dir else out.parent / ".bench-cache"
    for path, what in ((config.fid_weights, "FID Inception"), (config.fvd_weights, "FVD I3D")):
        if path is not None and not Path(path).is_file():
            from benchmark.metrics.feature_nets import MissingWeightsError

            raise MissingWeightsError(f"{what} weights not found at {path} (never downloaded; see docs/benchmark.md)")
    scorer = Scorer(suite, model, tracker, ArrayCache(cache_dir), lpips_model(config), config.pose, config.regenerate,
                    config.objmc_grid, config.objmc_protocol)
    name = config.label or model.name  # in results and on the leaderboard
    rows, generated, references = [], [], []
    want_sets = bool(config.fid_weights or config.fvd_weights)
    if config.workers > 1:
        from benchmark.workers import score_in_workers

        if want_sets:
            raise ValueError("FID / FVD need every video in one process: run them with workers = 1")
        rows = score_in_workers(config, scorer, cache_dir)
    else:
        for sample in tqdm(suite.samples, desc=f"bench {name}", unit="sample", file=sys.stderr,
                           disable=not config.progress):
            row, frames, reference = scorer.score(sample)
            rows.append(row)
            if want_sets and frames is not None and reference is not None:
                generated.append(frames)
                references.append(reference)
    summary = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "run_date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "suite": suite.describe(),
        "objmc_queries": objmc_queries(config),
        "model": {"name": name, "identity": model.identity},
        "tracker": scorer.tracker_info,
        "num_samples": len(rows),
        "num_failed": sum(r["status"] != "ok" for r in rows),
        "failures": [{"sample_id": r["sample_id"], "error": r["error"]} for r in rows if r["status"] != "ok"],
        "complete": all(r["status"] == "ok" for r in rows),
        "metrics": summarize(rows),
        "cache_dir": str(cache_dir.resolve()),
        "weights": {"lpips": str(config.lpips_weights) if config.lpips_weights else None,
                    "fid": str(config.fid_weights) if config.fid_weights else None,
                    "fvd": str(config.fvd_weights) if config.fvd_weights else None},
    }
    summary["metrics"]["set_level"] = _set_metrics(config, generated, references)
    summary["timing"] = asdict(scorer.timing) | {"total_s": time.perf_counter() - started}
    provenance = {"suite_version": suite.version, "adapter": str(model.identity.get("adapter")),
                  "tracker": scorer.tracker_info.get("tracker"),
                  "tracker_weights_sha256": scorer.tracker_info.get("weights_sha256"),
                  "objmc_queries": summary["objmc_queries"]}
    write_parquet_atomic(out / SAMPLES_FILE, [row | provenance for row in rows])
    write_json_atomic(out / SUMMARY_FILE, summary)
    return summary


def _set_metrics(config: RunConfig, generated: list[np.ndarray], references: list[np.ndarray]) -> dict:
    """FID over all frames and FVD over whole videos, when their weights were given."""
    out: dict = {}
    if not (config.fid_weights or config.fvd_weights):
        return out
    if len(generated) < 2:
        raise SuiteError("FID / FVD need at least 2 scored samples with a ground-truth video")
    from common.hashing import sha256_file
    from benchmark.metrics.feature_nets import fid, fvd, load_torchscript

    if config.fid_weights:
        net = load_torchscript(config.fid_weights, "FID Inception")
        out["fid"] = fid(net, np.concatenate(generated), np.concatenate(references))
        out["fid_weights_sha256"] = sha256_file(config.fid_weights)
    if config.fvd_weights:
        net = load_torchscript(config.fvd_weights, "FVD I3D")
        out["fvd"] = fvd(net, generated, references)
        out["fvd_weights_sha256"] = sha256_file(config.fvd_weights)
    return out
