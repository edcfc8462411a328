"""Render many clips into one dataset folder, skipping finished clips and recording failures."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from common.atomic import write_json_atomic
from common.clip_format import is_complete_clip
from render.clip_process import ClipProcess
from render.errors import RenderError
from render.fitting import FitPolicy, is_drawn
from render.live_status import read_record, running_elsewhere, write_record
from render.spec import ClipSpec, default_clip_timeout_s, make_clip_spec
from render.trajectories import sample_trajectory_spec
from render.workdirs import sweep

DATASET_SCHEMA_VERSION = 1
MANIFEST_NAME = "dataset.json"


@dataclass
class DatasetReport:
    root: Path
    rendered: list[str] = field(default_factory=list)  # published by this run
    skipped: list[str] = field(default_factory=list)  # complete already, or published by another worker meanwhile
    published_elsewhere: list[str] = field(default_factory=list)  # of skipped: published while this run rendered them
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


def _write_manifest(path: Path, planned: Sequence[ClipSpec], outcomes: Mapping[str, ClipOutcome],
                    extra: dict | None = None) -> None:
    """``dataset.json`` (or a shard's manifest): one entry per planned clip that ended (all of them, unless
    the run was interrupted), under its final clip id (a clip whose trajectory was redrawn has a new id;
    ``planned_clip_id`` keeps the plan's)."""
    clips = []
    for spec in planned:
        outcome = outcomes.get(spec.clip_id)
        if outcome is not None:
            error = None if outcome.error is None else str(outcome.error)
            clips.append(manifest_entry(spec, outcome.spec, "failed" if error else "ok", error))
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
    already complete (``skipped``; ``published_elsewhere`` when another worker published it while this one
    rendered it), the redraw attempt that rendered it, and the error of a failure."""

    spec: ClipSpec
    path: Path | None
    skipped: bool = False
    published_elsewhere: bool = False
    attempt: int = 0
    error: RenderError | None = None


def render_with_redraws(spec: ClipSpec, out_root: Path, renderer: ClipProcess, *, timeout_s: float,
                        max_redraws: int = 0, redraw: Redraw = redraw_trajectory, worker: str = "") -> ClipOutcome:
    """Render ``spec`` (or find it complete) into ``out_root`` with ``renderer``, stopping each attempt after
    ``timeout_s`` seconds; while its object would leave the frame, try ``redraw(spec, attempt)`` for
    attempts 1 .. ``max_redraws``. The framing check runs before path tracing, so a retry costs a
    fraction of a second. When every redraw of a drawn trajectory leaves the frame (an object large for the
    frame), a last attempt renders the planned clip with its path scaled down to fit
    (:mod:`render.fitting`; ``meta.json``'s ``fit`` says so). A trajectory given by hand is never changed.
    The clip's live record says ``running`` meanwhile (:mod:`render.live_status`). Failures come back in
    the outcome, not raised."""
    planned, started = spec, time.time()
    for attempt in range(max_redraws + 1):
        if attempt:
            spec = redraw(planned, attempt)
        final = Path(out_root) / spec.clip_id
        if is_complete_clip(final):
            return ClipOutcome(spec, final, skipped=True, attempt=attempt)
        write_record(out_root, planned.clip_id, "running", clip_id=spec.clip_id, attempt=attempt, worker=worker,
                     started_at=started, timeout_s=timeout_s)
        result = renderer.render(spec, out_root, timeout_s=timeout_s)
        if result.status != "failed":
            exists = result.status == "exists"
            return ClipOutcome(spec, result.path, skipped=exists, published_elsewhere=exists, attempt=attempt)
        if result.error.code != "out_of_frame" or not is_drawn(planned):
            return ClipOutcome(spec, None, attempt=attempt, error=result.error)  # a given path is never redrawn
        if attempt == max_redraws:
            break
    if max_redraws == 0:
        return ClipOutcome(spec, None, attempt=max_redraws, error=result.error)
    write_record(out_root, planned.clip_id, "running", clip_id=planned.clip_id, attempt=max_redraws + 1,
                 worker=worker, started_at=started, timeout_s=timeout_s)
    scaled = renderer.render(planned, out_root, timeout_s=timeout_s, fit=FitPolicy(max_redraws=0))
    if scaled.status == "failed":
        return ClipOutcome(planned, None, attempt=max_redraws + 1, error=scaled.error)
    exists = scaled.status == "exists"
    return ClipOutcome(planned, scaled.path, skipped=exists, published_elsewhere=exists, attempt=max_redraws + 1)


def render_dataset(
    specs: Sequence[ClipSpec], out_root: Path, *, redraws_out_of_frame: int = 0, redraw: Redraw = redraw_trajectory,
    progress: bool = True, desc: str = "render", stop_on_failure: bool = False,
    manifest_path: Path | None = None, manifest_extra: dict | None = None, clip_timeout_s: float | None = None,
    worker: str = "",
) -> DatasetReport:
    """Render each spec into ``out_root`` (finished clips are skipped) and write ``dataset.json`` (or
    ``manifest_path``, with ``manifest_extra`` fields: a farm shard's own manifest).

    The one driver of many clips: ``posetraj dataset``, farm shards and the benchmark's suite builder all
    render through it. Clips render in a child process (:class:`render.clip_process.ClipProcess`), each
    stopped after ``clip_timeout_s`` seconds (default: :func:`render.spec.default_clip_timeout_s`) and
    recorded as failed with reason ``timeout``. A clip whose object would leave the frame is retried with
    ``redraw(spec, attempt)`` up to ``redraws_out_of_frame`` times (default: the trajectory's parameters
    drawn again, see :func:`redraw_trajectory`). Failures are recorded and the rest goes on, unless
    ``stop_on_failure``. Each clip's live record (:mod:`render.live_status`) is written when it starts
    and ends; a clip that another live worker is rendering is put at the back of the queue (and rendered
    here too if still unfinished then: the first copy published wins). Stale work folders are removed
    first. An interruption (KeyboardInterrupt, :class:`render.process_control.Interrupted`) stops the
    clip being rendered, removes its work folder, marks it ``interrupted``, writes the manifest of the
    clips that ended, and propagates.
    """
    from tqdm import tqdm

    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    timeouts = {spec.clip_id: clip_timeout_s or default_clip_timeout_s(spec) for spec in specs}
    sweep(out_root, max_age_s=max(timeouts.values(), default=0.0))
    report = DatasetReport(root=out_root)
    outcomes: dict[str, ClipOutcome] = {}
    queue, deferred = deque(specs), set()
    current: ClipSpec | None = None
    bar = tqdm(total=len(specs), desc=desc, unit="clip", disable=not progress, file=sys.stderr)
    try:
        with ClipProcess() as renderer:
            while queue:
                spec = queue.popleft()
                if queue and spec.clip_id not in deferred and not is_complete_clip(out_root / spec.clip_id) \
                        and running_elsewhere(read_record(out_root, spec.clip_id), timeouts[spec.clip_id]):
                    deferred.add(spec.clip_id)  # another worker is on it: come back to it last
                    queue.append(spec)
                    continue
                bar.set_postfix_str(spec.clip_id[:40])
                current = spec
                outcome = render_with_redraws(spec, out_root, renderer, timeout_s=timeouts[spec.clip_id],
                                              max_redraws=redraws_out_of_frame, redraw=redraw, worker=worker)
                current = None
                outcomes[spec.clip_id] = outcome
                _account(report, spec, outcome, worker)
                if outcome.error is not None:
                    if stop_on_failure:
                        raise outcome.error
                    bar.write(f"failed {outcome.spec.clip_id}: {outcome.error}", file=sys.stderr)
                bar.update(1)
    except BaseException:
        if current is not None:
            # the signal can land after the clip was published and before it was recorded: a complete clip
            # is recorded ok (a rerun skips it and lists it in the manifest)
            state = "ok" if is_complete_clip(out_root / current.clip_id) else "interrupted"
            write_record(out_root, current.clip_id, state, clip_id=current.clip_id, worker=worker)
        raise
    finally:
        bar.close()
        report.final = [outcomes[spec.clip_id].spec for spec in specs if spec.clip_id in outcomes]
        _write_manifest(manifest_path or out_root / MANIFEST_NAME, specs, outcomes, manifest_extra)
    return report


def _account(report: DatasetReport, planned: ClipSpec, outcome: ClipOutcome, worker: str) -> None:
    """Count one ended clip in ``report`` and write its final live record."""
    clip_id, out_root = outcome.spec.clip_id, report.root
    fields = {"clip_id": clip_id, "attempt": outcome.attempt, "worker": worker}
    if outcome.error is not None:
        report.failed[clip_id] = str(outcome.error)
        write_record(out_root, planned.clip_id, "failed", code=outcome.error.code, error=str(outcome.error), **fields)
        return
    if outcome.skipped:
        report.skipped.append(clip_id)
        if outcome.published_elsewhere:
            report.published_elsewhere.append(clip_id)
        previous = read_record(out_root, planned.clip_id)
        if previous is None or previous["state"] != "ok":  # keep the record of the worker that published it
            write_record(out_root, planned.clip_id, "ok", published_here=False, **fields)
    else:
        report.rendered.append(clip_id)
        write_record(out_root, planned.clip_id, "ok", published_here=True, **fields)
    if outcome.attempt:
        report.redrawn[clip_id] = outcome.attempt
