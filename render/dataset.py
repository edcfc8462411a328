"""Render many clips into one dataset folder, skipping finished clips and recording failures."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.atomic import write_json_atomic
from common.clip_format import is_complete_clip
from render.errors import RenderError
from render.spec import ClipSpec, make_clip_spec
from render.trajectories import sample_trajectory_spec

DATASET_SCHEMA_VERSION = 1
MANIFEST_NAME = "dataset.json"


@dataclass
class DatasetReport:
    root: Path
    rendered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    final: list[ClipSpec] = field(default_factory=list)  # per planned clip, the spec rendered (maybe redrawn)
    redrawn: dict[str, int] = field(default_factory=dict)  # final clip id -> attempt that rendered it

    @property
    def clips(self) -> list[str]:
        return sorted(self.rendered + self.skipped)


def plan_clips(
    assets: Sequence[str],
    trajectories: Sequence[str],
    *,
    seeds: Iterable[int] = (0,),
    pose_modes: Sequence[str] = ("yaw",),
    preset: str = "draft",
    **spec_options,
) -> list[ClipSpec]:
    """Every combination of asset reference (``builtin:NAME`` or a mesh path), trajectory family, pose
    mode and seed, as clip specs (assets outermost, seeds innermost)."""
    seeds = list(seeds)
    return [
        make_clip_spec(asset, trajectory, preset=preset, pose_mode=pose_mode, seed=seed, **spec_options)
        for asset in assets
        for trajectory in trajectories
        for pose_mode in pose_modes
        for seed in seeds
    ]


def plan_builtin_dataset(assets: Sequence[str], trajectories: Sequence[str], **options) -> list[ClipSpec]:
    """:func:`plan_clips` over built-in models given by name."""
    return plan_clips([f"builtin:{name}" for name in assets], trajectories, **options)


def _write_manifest(path: Path, planned: Sequence[ClipSpec], final: Sequence[ClipSpec], report: DatasetReport,
                    extra: dict | None = None) -> None:
    """``dataset.json`` (or a shard's manifest): one entry per planned clip, under its final clip id
    (a clip whose trajectory was redrawn has a new id; ``planned_clip_id`` keeps the plan's)."""
    clips = [manifest_entry(plan, spec, "failed" if spec.clip_id in report.failed else "ok",
                            report.failed.get(spec.clip_id)) for plan, spec in zip(planned, final)]
    write_json_atomic(path, {"schema_version": DATASET_SCHEMA_VERSION, **(extra or {}), "clips": clips})


def manifest_entry(planned: ClipSpec, final: ClipSpec, status: str, error: str | None = None) -> dict:
    """One clip of ``dataset.json``: ``final`` is ``planned`` or its redrawn replacement."""
    entry = {"clip_id": final.clip_id, "planned_clip_id": planned.clip_id, "asset": final.asset,
             "trajectory": final.trajectory.name, "pose_mode": final.trajectory.pose_mode, "status": status}
    return entry | ({"error": error} if error is not None else {})


def redraw_trajectory(spec: ClipSpec, attempt: int) -> ClipSpec:
    """The same clip with the trajectory's random parameters drawn again (a new, derived seed)."""
    traj = spec.trajectory
    redrawn = sample_trajectory_spec(
        traj.name, spec.seed + 1_000_003 * attempt, num_frames=traj.num_frames, fps=traj.fps,
        speed_profile=traj.speed_profile, pose_mode=traj.pose_mode,
    )
    return replace(spec, trajectory=redrawn, clip_id="")


Redraw = Callable[[ClipSpec, int], ClipSpec]


@dataclass(frozen=True)
class ClipOutcome:
    """How one planned clip ended: the spec last tried, its directory (None on failure), whether it was
    already complete, the redraw attempt that rendered it, and the error of a failure."""

    spec: ClipSpec
    path: Path | None
    skipped: bool = False
    attempt: int = 0
    error: RenderError | None = None


def render_with_redraws(spec: ClipSpec, out_root: Path, *, max_redraws: int = 0,
                        redraw: Redraw = redraw_trajectory) -> ClipOutcome:
    """Render ``spec`` (or find it complete) into ``out_root``; while its object would leave the frame, try
    ``redraw(spec, attempt)`` for attempts 1 .. ``max_redraws``. The framing check runs before path
    tracing, so a retry costs a fraction of a second. Failures come back in the outcome, not raised."""
    from render.pipeline import render_clip

    planned = spec
    for attempt in range(max_redraws + 1):
        if attempt:
            spec = redraw(planned, attempt)
        final = Path(out_root) / spec.clip_id
        if is_complete_clip(final):
            return ClipOutcome(spec, final, skipped=True, attempt=attempt)
        try:
            return ClipOutcome(spec, render_clip(spec, out_root), attempt=attempt)
        except RenderError as exc:
            if exc.code != "out_of_frame" or attempt == max_redraws:
                return ClipOutcome(spec, None, attempt=attempt, error=exc)
    raise AssertionError("unreachable")  # pragma: no cover


def render_dataset(
    specs: Sequence[ClipSpec], out_root: Path, *, redraws_out_of_frame: int = 0, redraw: Redraw = redraw_trajectory,
    progress: bool = True, desc: str = "render", stop_on_failure: bool = False,
    manifest_path: Path | None = None, manifest_extra: dict | None = None,
) -> DatasetReport:
    """Render each spec into ``out_root`` (finished clips are skipped) and write ``dataset.json`` (or
    ``manifest_path``, with ``manifest_extra`` fields: a farm shard's own manifest).

    The one driver of many clips: ``posetraj dataset``, farm shards and the benchmark's suite builder all
    render through it. A clip whose object would leave the frame is retried with ``redraw(spec, attempt)``
    up to ``redraws_out_of_frame`` times (default: the trajectory's parameters drawn again, see
    :func:`redraw_trajectory`). Failures are recorded and the rest goes on, unless ``stop_on_failure``.
    """
    from tqdm import tqdm

    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    report = DatasetReport(root=out_root)
    bar = tqdm(specs, desc=desc, unit="clip", disable=not progress, file=sys.stderr)
    for spec in bar:
        bar.set_postfix_str(spec.clip_id[:40])
        outcome = render_with_redraws(spec, out_root, max_redraws=redraws_out_of_frame, redraw=redraw)
        clip_id = outcome.spec.clip_id
        if outcome.error is not None:
            if stop_on_failure:
                raise outcome.error
            report.failed[clip_id] = str(outcome.error)
            bar.write(f"failed {clip_id}: {outcome.error}", file=sys.stderr)
        else:
            (report.skipped if outcome.skipped else report.rendered).append(clip_id)
            if outcome.attempt:
                report.redrawn[clip_id] = outcome.attempt
        report.final.append(outcome.spec)
    _write_manifest(manifest_path or out_root / MANIFEST_NAME, specs, report.final, report, manifest_extra)
    return report
