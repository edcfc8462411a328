"""Render a dataset plan on a Ray cluster: one Ray task per shard (docs/farm.md).

The tasks run :func:`render.farm.run_shard`, so everything the farm layer guarantees holds here too:
atomic clips, finished clips skipped, one manifest per shard, merged by :func:`render.farm.collect`.
Every node must see the plan and the output folder at the same paths (a shared file system) and have
posetraj with the ``render`` extra installed. Ray is imported only here (``pip install 'posetraj[farm]'``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from render.farm import DatasetStatus, FarmError, Shard, collect, load_plan


@dataclass(frozen=True)
class RayConfig:
    num_shards: int
    cpus_per_shard: int = 1  # Ray CPUs reserved per task; also the task's render threads
    address: str | None = None  # None: connect to a running cluster if RAY_ADDRESS is set, else start one here
    max_retries: int = 2  # re-runs of a task whose worker process died (a re-run skips finished clips)

    def __post_init__(self) -> None:
        if self.num_shards < 1 or self.cpus_per_shard < 1 or self.max_retries < 0:
            raise FarmError(f"invalid Ray settings: {self}")


def _render_shard(plan_path: str, out: str, index: int, count: int, threads: int) -> dict:
    """Body of one Ray task: render one shard and report its counts."""
    from render.farm import load_plan, run_shard

    report = run_shard(load_plan(Path(plan_path)), Path(out), Shard(index, count, "ray task"), threads=threads,
                       progress=False)
    return {"shard": index, "rendered": len(report.rendered), "skipped": len(report.skipped),
            "failed": len(report.failed)}


def render_with_ray(plan_path: Path, out: Path, config: RayConfig, *, progress: bool = True,
                    init_options: dict | None = None) -> DatasetStatus:
    """Submit one task per shard, wait for all of them, and merge their manifests into ``dataset.json``."""
    try:
        import ray
    except ImportError:
        raise FarmError("Ray is not installed: pip install 'posetraj[farm]'") from None
    from tqdm import tqdm

    plan_path, out = Path(plan_path).resolve(), Path(out).resolve()
    plan = load_plan(plan_path)  # fail here, not in every task, when the plan is bad
    out.mkdir(parents=True, exist_ok=True)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.address, include_dashboard=False, log_to_driver=False, **(init_options or {}))
    try:
        task = ray.remote(num_cpus=config.cpus_per_shard, max_retries=config.max_retries)(_render_shard)
        pending = [task.remote(str(plan_path), str(out), i, config.num_shards, config.cpus_per_shard)
                   for i in range(config.num_shards)]
        with tqdm(total=len(pending), desc="ray shards", unit="shard", disable=not progress, file=sys.stderr) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for result in ray.get(done):
                    bar.set_postfix_str(f"shard {result['shard']}: {result['rendered']} rendered, "
                                        f"{result['failed']} failed")
                    bar.update(1)
    finally:
        if started_here:
            ray.shutdown()
    return collect(plan, out)
