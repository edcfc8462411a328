"""Render a dataset plan on a Ray cluster: one Ray task per shard (docs/farm.md).

The tasks run :func:`render.farm.run_shard`, so everything the farm layer guarantees holds here too:
atomic clips, finished clips skipped, one live record per clip and one manifest per shard, merged by
:func:`render.farm.collect`. Every node must see the plan and the output folder at the same paths (a
shared file system) and have posetraj with the ``render`` extra installed. Ray is imported only here
(``pip install 'posetraj[farm]'``).
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from render.farm import DatasetStatus, FarmError, Shard, collect, load_plan
from render.process_control import deferred_interrupts
from render.workdirs import sweep

CONNECT_TIMEOUT_S = 10.0  # to reach a cluster's address before handing it to Ray (which retries for minutes)
CANCEL_GRACE_S = 15.0  # cancelled tasks stop their clip within seconds; then they are killed


@dataclass(frozen=True)
class RayConfig:
    num_shards: int
    cpus_per_shard: int = 1  # Ray CPUs reserved per task; also the task's render threads
    address: str | None = None  # None: connect to a running cluster if RAY_ADDRESS is set, else start one here
    max_retries: int = 2  # re-runs of a task whose worker process died (a re-run skips finished clips)
    clip_timeout_s: float | None = None  # None: the plan's

    def __post_init__(self) -> None:
        if self.num_shards < 1 or self.cpus_per_shard < 1 or self.max_retries < 0 \
                or (self.clip_timeout_s is not None and not self.clip_timeout_s > 0):
            raise FarmError(f"invalid Ray settings: {self}")


def _render_shard(plan_path: str, out: str, index: int, count: int, threads: int,
                  clip_timeout_s: float | None) -> dict:
    """Body of one Ray task: render one shard and report its counts. Ray's cancel raises
    KeyboardInterrupt here, which stops the clip being rendered and removes its work folder."""
    from render.farm import load_plan, run_shard

    report = run_shard(load_plan(Path(plan_path)), Path(out), Shard(index, count, "ray task"), threads=threads,
                       progress=False, clip_timeout_s=clip_timeout_s)
    return {"shard": index, "rendered": len(report.rendered), "skipped": len(report.skipped),
            "failed": len(report.failed)}


def cluster_address(config: RayConfig) -> str | None:
    """The address Ray will be given: ``config.address``, else ``RAY_ADDRESS``, else None (a local Ray)."""
    return config.address or os.environ.get("RAY_ADDRESS") or None


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in one line, naming ``address``, when nothing listens there (Ray itself retries for minutes
    and prints a page of C++ log lines). ``auto``/``local`` are left to Ray."""
    if address in ("auto", "local"):
        return
    host_port = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise FarmError(f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT, auto)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise FarmError(f"cannot reach the Ray cluster at {address} "
                        f"({exc.strerror or exc.__class__.__name__}); is it running?") from None


def render_with_ray(plan_path: Path, out: Path, config: RayConfig, *, progress: bool = True,
                    init_options: dict | None = None) -> DatasetStatus:
    """Submit one task per shard, wait for all of them (a progress bar of finished clips, from the clips'
    live records), and merge their manifests into ``dataset.json``. Interrupted (KeyboardInterrupt,
    :class:`render.process_control.Interrupted`), it cancels the tasks, which stop their clips and remove
    their work folders, and propagates."""
    try:
        import ray
    except ImportError:
        raise FarmError("Ray is not installed: pip install 'posetraj[farm]'") from None

    plan_path, out = Path(plan_path).resolve(), Path(out).resolve()
    plan = load_plan(plan_path)  # fail here, not in every task, when the plan is bad
    started_here = not ray.is_initialized()
    address = cluster_address(config)
    if started_here and address is not None:
        check_reachable(address)
    out.mkdir(parents=True, exist_ok=True)
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_options or {}))
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FarmError(f"cannot connect to Ray at {address or 'a new local instance'}: {first}") from None
    try:
        task = ray.remote(num_cpus=config.cpus_per_shard, max_retries=config.max_retries)(_render_shard)
        pending = [task.remote(str(plan_path), str(out), i, config.num_shards, config.cpus_per_shard,
                               config.clip_timeout_s) for i in range(config.num_shards)]
        try:
            _wait(ray, pending, plan, out, progress)
        except BaseException:
            _cancel(ray, pending)
            raise
    finally:
        if started_here:
            ray.shutdown()
        sweep(out, max_age_s=math.inf)  # work folders of this host's renderers whose task was killed
    return collect(plan, out)


def _wait(ray, pending: list, plan, out: Path, progress: bool, every_s: float = 1.0) -> None:
    """Wait for every task, re-raising a task's error; the bar counts clips, polled from the live records."""
    from tqdm import tqdm

    from render.live_status import FinishedClips

    finished = FinishedClips(out, (spec.clip_id for spec in plan.specs))
    with tqdm(total=finished.total, desc="ray", unit="clip", disable=not progress, file=sys.stderr) as bar:
        while pending:
            with deferred_interrupts():  # a signal lands between two bounded waits
                done, pending[:] = ray.wait(pending, num_returns=len(pending), timeout=every_s)
            ray.get(done)
            bar.update(max(0, finished.count() - bar.n))
            bar.set_postfix_str(f"{len(pending)} shard tasks running")


def _cancel(ray, pending: list) -> None:
    """Cancel the tasks still running: a KeyboardInterrupt in each (it stops its clip and removes the
    work folder), then a forced cancel of those still running after :data:`CANCEL_GRACE_S`."""
    for ref in pending:
        ray.cancel(ref, recursive=True)
    deadline = time.monotonic() + CANCEL_GRACE_S
    while pending and time.monotonic() < deadline:
        _, pending[:] = ray.wait(pending, num_returns=len(pending), timeout=0.5)
    for ref in pending:
        ray.cancel(ref, force=True)
