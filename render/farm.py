"""Render one dataset on many machines: a plan file, deterministic shards, and launch files for SLURM
job arrays and Kubernetes Indexed Jobs (docs/farm.md).

A *plan* (``plan.json``) lists every clip spec of a dataset. Worker ``i`` of ``n`` renders the plan's
clips ``i, i + n, i + 2n, ...`` into the shared output folder. Clips are written atomically and finished
clips are skipped, so a worker that is killed and started again, or a shard that runs twice, never
leaves a half-written clip and never renders a finished one again. Each worker writes a live record per
clip (``status/<clip_id>.json``, :mod:`render.live_status`) and its own manifest,
``shards/shard-<i>-of-<n>.json``; :func:`collect` merges them into ``dataset.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.atomic import write_json_atomic
from common.clip_format import is_complete_clip
from render.dataset import DATASET_SCHEMA_VERSION, MANIFEST_NAME, DatasetReport, manifest_entry, render_dataset
from render.errors import RenderError
from render.live_status import age_s, read_records, worker_gone
from render.spec import ClipSpec, default_clip_timeout_s

PLAN_SCHEMA_VERSION = 1
PLAN_FIELDS = ("schema_version", "redraws_out_of_frame", "clip_timeout_s", "clips")
SHARDS_DIR = "shards"


class FarmError(ValueError):
    """A plan file or a shard request is malformed; the message names the file or value."""


@dataclass(frozen=True)
class DatasetPlan:
    """Every clip of a dataset, in a fixed order, how out-of-frame trajectories are retried, and the
    wall-clock limit of one clip (None: each clip's preset default, :func:`render.spec.default_clip_timeout_s`)."""

    specs: tuple[ClipSpec, ...]
    redraws_out_of_frame: int = 5
    clip_timeout_s: float | None = None

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for i, spec in enumerate(self.specs):
            if spec.clip_id in seen:
                raise FarmError(f"clips {seen[spec.clip_id]} and {i} have the same clip id {spec.clip_id!r}")
            seen[spec.clip_id] = i
        if isinstance(self.redraws_out_of_frame, bool) or not isinstance(self.redraws_out_of_frame, int) \
                or self.redraws_out_of_frame < 0:
            raise FarmError(f"redraws_out_of_frame must be an integer >= 0, got {self.redraws_out_of_frame!r}")
        if self.clip_timeout_s is not None and (
                isinstance(self.clip_timeout_s, bool) or not isinstance(self.clip_timeout_s, (int, float))
                or not math.isfinite(self.clip_timeout_s) or self.clip_timeout_s <= 0):
            raise FarmError(f"clip_timeout_s must be a number of seconds > 0, got {self.clip_timeout_s!r}")

    def to_dict(self) -> dict:
        timeout = {} if self.clip_timeout_s is None else {"clip_timeout_s": self.clip_timeout_s}
        return {"schema_version": PLAN_SCHEMA_VERSION, "redraws_out_of_frame": self.redraws_out_of_frame,
                **timeout, "clips": [spec.to_dict() for spec in self.specs]}

    def timeout_of(self, spec: ClipSpec) -> float:
        """The wall-clock limit of one clip of this plan, in seconds."""
        return self.clip_timeout_s or default_clip_timeout_s(spec)

    @property
    def digest(self) -> str:
        """Short hash of the plan's content: shard manifests record it so plans are never mixed."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def write_plan(plan: DatasetPlan, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, plan.to_dict())
    return path


def load_plan(path: Path) -> DatasetPlan:
    """Read and validate ``plan.json``; :class:`FarmError` names the file and the bad clip."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FarmError(f"{path}: plan file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FarmError(f"{path}: not a JSON plan ({exc})") from None
    if not isinstance(data, dict) or data.get("schema_version") != PLAN_SCHEMA_VERSION:
        version = data.get("schema_version") if isinstance(data, dict) else None
        raise FarmError(f"{path}: plan schema_version {version!r}, expected {PLAN_SCHEMA_VERSION}")
    unknown = [name for name in data if name not in PLAN_FIELDS]
    if unknown:
        raise FarmError(f"{path}: unknown plan field {unknown[0]!r} (a plan has {', '.join(PLAN_FIELDS)})")
    clips = data.get("clips")
    if not isinstance(clips, list) or not clips:
        raise FarmError(f"{path}: 'clips' must be a non-empty list")
    specs = []
    for i, clip in enumerate(clips):
        try:
            specs.append(ClipSpec.from_dict(clip))
        except (RenderError, TypeError, KeyError, ValueError, AttributeError) as exc:
            raise FarmError(f"{path}: clip {i}: {exc}") from None
    try:
        return DatasetPlan(tuple(specs), data.get("redraws_out_of_frame", 5), data.get("clip_timeout_s"))
    except FarmError as exc:
        raise FarmError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    source: str = "command line"  # where the index came from

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise FarmError(f"shard index {self.index} is not in [0, {self.count}) (from {self.source})")

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}-of-{self.count:05d}"

    def select(self, specs: Sequence[ClipSpec]) -> list[ClipSpec]:
        """This shard's clips: every ``count``-th spec starting at ``index`` (balanced, deterministic)."""
        return list(specs[self.index::self.count])


def shard_from_environment(num_shards: int | None, env: Mapping[str, str] = os.environ) -> Shard:
    """The shard of this worker from its scheduler: a SLURM job array task (``SLURM_ARRAY_TASK_ID``
    relative to ``SLURM_ARRAY_TASK_MIN``; the count is ``SLURM_ARRAY_TASK_COUNT`` unless ``num_shards``
    is given) or a Kubernetes Indexed Job pod (``JOB_COMPLETION_INDEX``; ``num_shards`` required)."""

    def number(name: str) -> int:
        try:
            return int(env[name])
        except ValueError:
            raise FarmError(f"environment variable {name}={env[name]!r} is not an integer") from None

    if "SLURM_ARRAY_TASK_ID" in env:
        first = number("SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
        count = num_shards or (number("SLURM_ARRAY_TASK_COUNT") if "SLURM_ARRAY_TASK_COUNT" in env else None)
        if count is None:
            raise FarmError("SLURM_ARRAY_TASK_COUNT is not set: pass --num-shards")
        return Shard(number("SLURM_ARRAY_TASK_ID") - first, count, "SLURM_ARRAY_TASK_ID")
    if "JOB_COMPLETION_INDEX" in env:
        if not num_shards:
            raise FarmError("JOB_COMPLETION_INDEX is set but the number of shards is not: pass --num-shards")
        return Shard(number("JOB_COMPLETION_INDEX"), num_shards, "JOB_COMPLETION_INDEX")
    raise FarmError("no shard given: pass --shard-index and --num-shards, or run inside a SLURM job array "
                    "or a Kubernetes Indexed Job")


def run_shard(plan: DatasetPlan, out: Path, shard: Shard, *, threads: int = 0, progress: bool = True,
              clip_timeout_s: float | None = None) -> DatasetReport:
    """Render ``shard``'s clips of ``plan`` into ``out`` and write the shard's manifest; ``threads > 0``
    fixes the render threads of this worker (the clips' ids and the plan stay the same) and
    ``clip_timeout_s`` overrides the plan's limit per clip."""
    out = Path(out)
    (out / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    specs = shard.select(plan.specs)
    if threads > 0:
        specs = [replace(spec, settings=replace(spec.settings, threads=threads)) for spec in specs]
    return render_dataset(
        specs, out, redraws_out_of_frame=plan.redraws_out_of_frame, progress=progress,
        manifest_path=out / SHARDS_DIR / f"{shard.name}.json", clip_timeout_s=clip_timeout_s or plan.clip_timeout_s,
        manifest_extra={"plan_digest": plan.digest, "shard": {"index": shard.index, "count": shard.count}},
        worker=shard.name,
    )


@dataclass(frozen=True)
class RunningClip:
    """A clip that a worker is rendering now, as its live record says."""

    clip_id: str
    age_s: float
    owner: str  # <host>-<pid> of the worker
    worker: str  # its shard
    timeout_s: float

    def __str__(self) -> str:
        stuck = f", past its {self.timeout_s:g} s timeout: stuck, or its worker lost?" if self.age_s > self.timeout_s \
            else ""
        return f"  running for {_duration(self.age_s)}: {self.clip_id} ({self.worker or 'worker'} on {self.owner}{stuck})"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass(frozen=True)
class DatasetStatus:
    ok: int
    failed: int
    pending: int
    manifest: Path
    running: tuple[RunningClip, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return self.pending == 0 and not self.running

    def __str__(self) -> str:
        line = (f"dataset: {self.ok} ok, {self.failed} failed, {len(self.running)} running, {self.pending} pending "
                f"-> {self.manifest}")
        return "\n".join([line, *(str(clip) for clip in self.running)])


def collect(plan: DatasetPlan, out: Path) -> DatasetStatus:
    """Merge what the workers reported about ``plan`` in ``out`` into ``out/dataset.json``.

    Every planned clip is listed once: ``ok`` when its directory (under its final id, if it was redrawn)
    is complete, ``running`` when a worker's record says so (with the clip's age; past its timeout it is
    flagged: stuck, or a worker on another host was lost), ``failed`` with the error when the last attempt
    failed, ``pending`` otherwise (never started, interrupted, its worker on this host gone, or its folder
    deleted). Sources: the live per-clip records (:mod:`render.live_status`), written as each
    clip starts and ends, and the shard manifests; manifests of another plan (another ``plan_digest``)
    are ignored.
    """
    out = Path(out)
    reported: dict[str, dict] = {}
    for path in sorted((out / SHARDS_DIR).glob("shard-*.json")):
        try:
            manifest = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FarmError(f"{path}: not a JSON shard manifest ({exc})") from None
        if manifest.get("plan_digest") != plan.digest:
            continue
        for entry in manifest.get("clips", []):
            previous = reported.get(entry["planned_clip_id"])
            if previous is None or previous["status"] != "ok":  # a success wins over an earlier failure
                reported[entry["planned_clip_id"]] = entry
    records = read_records(out, [spec.clip_id for spec in plan.specs])
    clips, running = [], []
    for spec in plan.specs:
        record, entry = records.get(spec.clip_id), reported.get(spec.clip_id)
        finals = [spec.clip_id, *(r["clip_id"] for r in (record, entry) if r is not None and r.get("clip_id"))]
        done = next((clip_id for clip_id in finals if is_complete_clip(out / clip_id)), None)
        if done is not None:
            clips.append(manifest_entry(spec, spec, "ok") | {"clip_id": done})  # a redraw keeps asset and family
        elif record is not None and record["state"] == "running" and not worker_gone(record):
            running.append(RunningClip(record.get("clip_id", spec.clip_id), age_s(record), record.get("owner", "?"),
                                       record.get("worker", ""), float(record.get("timeout_s", plan.timeout_of(spec)))))
            clips.append(manifest_entry(spec, spec, "running") | {"clip_id": running[-1].clip_id})
        elif record is not None and record["state"] == "failed":
            clips.append(manifest_entry(spec, spec, "failed", record.get("error")) | {"clip_id": record["clip_id"]})
        elif record is None and entry is not None and entry["status"] == "failed":
            clips.append(entry)
        else:
            clips.append(manifest_entry(spec, spec, "pending"))
    path = out / MANIFEST_NAME
    write_json_atomic(path, {"schema_version": DATASET_SCHEMA_VERSION, "plan_digest": plan.digest, "clips": clips})
    count = {status: sum(c["status"] == status for c in clips) for status in ("ok", "failed", "pending")}
    return DatasetStatus(count["ok"], count["failed"], count["pending"], path, tuple(running))


@dataclass(frozen=True)
class LaunchConfig:
    """What a farm job needs besides the plan: resources per worker and how to start ``posetraj``."""

    num_shards: int
    cpus: int = 4
    memory: str = "8G"
    time_limit: str = "24:00:00"  # SLURM only
    command: str = "posetraj"  # how the workers run the CLI (e.g. /opt/venv/bin/posetraj)
    max_parallel: int = 0  # 0: no limit (SLURM: %N throttle; Kubernetes: parallelism = num_shards)

    def __post_init__(self) -> None:
        if self.num_shards < 1 or self.cpus < 1 or self.max_parallel < 0:
            raise FarmError(f"invalid launch settings: {self}")


def _worker_command(config: LaunchConfig, plan_path: Path | str, out: Path | str) -> list[str]:
    return [*shlex.split(config.command), "dataset", "render", "--plan", str(plan_path), "--out", str(out),
            "--num-shards", str(config.num_shards), "--threads", str(config.cpus), "--no-progress"]


def slurm_script(plan_path: Path, out: Path, config: LaunchConfig, *, partition: str | None = None) -> str:
    """An ``sbatch`` script running one array task per shard; resubmitting it resumes the dataset."""
    throttle = f"%{config.max_parallel}" if config.max_parallel else ""
    lines = [
        "#!/bin/bash",
        "#SBATCH --job-name=posetraj-render",
        f"#SBATCH --array=0-{config.num_shards - 1}{throttle}",
        f"#SBATCH --cpus-per-task={config.cpus}",
        f"#SBATCH --mem={config.memory}",
        f"#SBATCH --time={config.time_limit}",
        "#SBATCH --output=posetraj-render-%A_%a.log",  # in the submission folder: it exists before the task
        "#SBATCH --requeue",
        *([f"#SBATCH --partition={partition}"] if partition else []),
        "set -euo pipefail",
        "exec " + shlex.join(_worker_command(config, plan_path, out)),
    ]
    return "\n".join(lines) + "\n"


def kubernetes_job(plan_path: str, out: str, config: LaunchConfig, *, image: str, volume_claim: str,
                   mount_path: str = "/data", name: str = "posetraj-render") -> str:
    """A Kubernetes Indexed Job (YAML): one completion per shard, the plan and output on a shared volume
    (``plan_path`` and ``out`` are paths inside the container, under ``mount_path``)."""
    import yaml

    memory = config.memory if config.memory.endswith("i") else config.memory + "i"  # 8G -> 8Gi
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completionMode": "Indexed",
            "completions": config.num_shards,
            "parallelism": config.max_parallel or config.num_shards,
            "backoffLimitPerIndex": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "render",
                        "image": image,
                        "command": _worker_command(config, plan_path, out),
                        "resources": {"requests": {"cpu": str(config.cpus), "memory": memory},
                                      "limits": {"memory": memory}},
                        "volumeMounts": [{"name": "data", "mountPath": mount_path}],
                    }],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": volume_claim}}],
                },
            },
        },
    }
    return yaml.safe_dump(job, sort_keys=False)
