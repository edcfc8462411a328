"""Build benchmark suites: posetraj-synth from rendered clips, real / custom from user folders."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.atomic import write_json_atomic
from benchmark.suite import SUITE_SCHEMA_VERSION, Suite, SuiteError, finish_suite, load_suite
from common.hashing import sha256_tree
from common.trajectories import TrajectoryFormatError, read_trajectory_json, write_trajectory_json
from common.video import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".gif")


def _tmp_dir(out: Path) -> Path:
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "samples").mkdir(parents=True)
    return tmp


def _publish(tmp: Path, out: Path, overwrite: bool) -> Suite:
    """Move the finished suite ``tmp`` into place at ``out`` and open it."""
    if out.exists():
        if not overwrite:
            shutil.rmtree(tmp)
            raise SuiteError(f"{out} already exists (pass overwrite=True / --overwrite to replace it)")
        stale = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(stale)
        tmp.rename(out)
        shutil.rmtree(stale)
    else:
        tmp.rename(out)
    return load_suite(out)


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, optimize=False, compress_level=6)


def conditioning_point_index(annotations: dict[str, np.ndarray]) -> int:
    """The surface point the conditioning trajectory follows, chosen as the field chooses entity points.

    DragAnything takes the deepest interior point of the frame-0 mask (arg-max of the L2 distance
    transform) and the track starting nearest to it; here the candidates are the ground-truth surface
    tracks visible at frame 0, preferring those visible in at least 80% of the frames.
    """
    import cv2

    mask = (annotations["mask"][0] == 1).astype(np.uint8)
    if not mask.any():
        raise SuiteError("the object is not visible in frame 0")
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
    visible = annotations["tracks_visible"]
    candidates = np.flatnonzero(visible[0] & (visible.mean(axis=0) >= 0.8))
    if candidates.size == 0:
        candidates = np.flatnonzero(visible[0])
    if candidates.size == 0:
        raise SuiteError("no ground-truth surface point is visible in frame 0")
    start = annotations["tracks_2d"][0, candidates].astype(np.float64)
    return int(candidates[np.argmin(((start - [col, row]) ** 2).sum(-1))])


def clip_sample_record(tmp: Path, clip_dir: Path, sample_id: str) -> dict:
    """Copy one rendered clip into a suite under construction and return its manifest record."""
    from common.clip_format import load_clip
    from render.trajectories import TRANSLATION_ONLY

    from benchmark.metrics.pose import geodesic_deg

    clip = load_clip(clip_dir)
    ann = clip.arrays("mask", "tracks_2d", "tracks_visible", "cam_w2c", "obj_to_world")
    base = tmp / "samples" / sample_id
    base.mkdir(parents=True)
    shutil.copytree(clip_dir, base / "clip")
    from benchmark.object_model import OBJECT_MESH_FILE, ObjectModelError, object_model_from_clip, write_object_mesh

    try:  # the pose metric fits this mesh to every frame (docs/benchmark.md, "Pose alignment")
        write_object_mesh(base / OBJECT_MESH_FILE, object_model_from_clip(clip))
    except ObjectModelError as exc:
        raise SuiteError(f"sample {sample_id}: {exc}") from None
    frames = clip.frames()
    _save_png(base / "image.png", frames[0])
    index = conditioning_point_index(ann)
    track = ann["tracks_2d"][:, index].astype(np.float64)
    write_json_atomic(base / "trajectories.json", {"1": track.tolist()})
    o2c = np.einsum("tij,tjk->tik", ann["cam_w2c"], ann["obj_to_world"])[:, :3, :3]
    family = clip.meta.get("trajectory", {}).get("name", "unknown")
    width, height = clip.size
    rel = f"samples/{sample_id}"
    return {
        "id": sample_id,
        "family": family,
        "rotational": family not in TRANSLATION_ONLY,
        "pose_mode": clip.meta.get("trajectory", {}).get("pose_mode"),
        "asset": clip.meta.get("asset", {}).get("uid") or clip.meta.get("asset", {}).get("path"),
        "num_frames": clip.num_frames,
        "fps": clip.fps,
        "width": width,
        "height": height,
        "image": f"{rel}/image.png",
        "trajectories": f"{rel}/trajectories.json",
        "clip": f"{rel}/clip",
        "object_mesh": f"{rel}/{OBJECT_MESH_FILE}",
        "reference_video": None,
        "conditioning_track_index": index,
        "rotation_angle_deg": float(geodesic_deg(o2c, o2c[:1]).max()),
        "content_sha256": sha256_tree([base]),
    }


def build_suite_from_clips(out: str | Path, clip_dirs: Iterable[Path], *, name: str = "posetraj-synth",
                           build_config: dict | None = None, overwrite: bool = False) -> Suite:
    """A posetraj-synth suite from already rendered clip directories (sample id = clip id)."""
    out = Path(out)
    tmp = _tmp_dir(out)
    try:
        records = [clip_sample_record(tmp, Path(c), Path(c).name) for c in clip_dirs]
        manifest = {"schema_version": SUITE_SCHEMA_VERSION, "name": name, "kind": "posetraj-synth",
                    "build_config": build_config or {}, "outliers": None, "samples": records}
        finish_suite(tmp, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, out, overwrite)


def add_clips_to_suite(suite_dir: str | Path, clip_dirs: Iterable[Path], *, name: str = "posetraj-synth") -> Suite:
    """Add rendered clips to the posetraj-synth suite at ``suite_dir`` (sample id = clip id), or create it.

    The suite is rebuilt beside itself from its own samples' clips plus the new ones and swapped in whole,
    so it gets a new ``suite_version`` and a reader never sees a half-written suite. A clip whose id is
    already a sample, a suite of another kind or an incomplete one is an error."""
    suite_dir = Path(suite_dir)
    clip_dirs = [Path(c) for c in clip_dirs]
    if not suite_dir.exists():
        return build_suite_from_clips(suite_dir, clip_dirs, name=name)
    suite = load_suite(suite_dir)
    if suite.kind != "posetraj-synth":
        raise SuiteError(f"{suite_dir}: clips can only be added to a posetraj-synth suite, this one is {suite.kind!r}")
    present = {sample.id for sample in suite.samples}
    for clip in clip_dirs:
        if clip.name in present:
            raise SuiteError(f"{suite_dir}: already has a sample {clip.name!r}")
    existing = [suite_dir / sample.record["clip"] for sample in suite.samples]
    tmp = _tmp_dir(suite_dir)
    try:
        records = [clip_sample_record(tmp, c, s.id) for c, s in zip(existing, suite.samples)]
        records += [clip_sample_record(tmp, c, c.name) for c in clip_dirs]
        manifest = {**suite.manifest, "schema_version": SUITE_SCHEMA_VERSION, "samples": records}
        finish_suite(tmp, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, suite_dir, overwrite=True)


@dataclass(frozen=True)
class SynthSuiteConfig:
    """What a posetraj-synth suite renders; the same config gives the same plan of clips."""

    num_samples: int = 8
    seed: int = 0
    width: int = 192
    height: int = 128
    num_frames: int = 24
    fps: float = 5.0
    samples_per_pixel: int = 4
    preset: str = "draft"
    name: str = "posetraj-synth"
    # families of the rotational samples, cycled (None: every rotational family, sorted)
    rotational_families: tuple[str, ...] | None = None
    control_share: float = 0.5  # share of translation-only control samples (0.5: every second sample)
    # a draw whose object its first frame hardly tells from the floor (first_frame_separability below this, a
    # white boat on a white floor) is drawn again, up to CAMOUFLAGE_REDRAWS times (0: never; docs/benchmark.md)
    min_separability: float = 0.35


def benchmark_assets(catalog: str | Path | None) -> list[str]:
    """Asset references of the benchmark split: the mesh paths of the catalog's usable rows
    (``status == 'ok'``) whose uid ``posetraj catalog split`` put in ``benchmark`` (a split disjoint from
    train / val / test), or every built-in asset when no catalog directory is given."""
    if catalog is None:
        from assets_catalog.builtin import builtin_names, builtin_uri

        return [builtin_uri(n) for n in builtin_names()]
    from assets_catalog.splits import split_assets

    try:
        return split_assets(Path(catalog), "benchmark")
    except ValueError as exc:
        raise SuiteError(str(exc)) from None


MAX_RENDER_ATTEMPTS = 5
CAMOUFLAGE_REDRAWS = 4


def plan_synth_suite(assets: list[str], config: SynthSuiteConfig, attempt: int = 0) -> list:
    """Clip specs for the suite: rotational families (cycled) and the translation-only control, a share
    ``control_share`` of the slots (by default every second one).

    Deterministic in ``config``; ``attempt`` k > 0 redraws every slot's trajectory seed (used for a slot
    whose draw leaves the camera's frame)."""
    from render.spec import make_clip_spec
    from render.trajectories import ROTATIONAL_FAMILIES, TRANSLATION_ONLY

    if not assets:
        raise SuiteError("no assets to build a suite from")
    rotational = sorted(ROTATIONAL_FAMILIES) if config.rotational_families is None else list(config.rotational_families)
    unknown = sorted(set(rotational) - ROTATIONAL_FAMILIES)
    if unknown or not rotational:
        raise SuiteError(f"rotational families must be some of {', '.join(sorted(ROTATIONAL_FAMILIES))}, got "
                         f"{', '.join(unknown) or 'none'}")
    if not 0.0 <= config.control_share < 1.0:
        raise SuiteError(f"control_share must be in [0, 1), got {config.control_share}")
    control = sorted(TRANSLATION_ONLY)
    rng = np.random.default_rng(config.seed)
    order = [assets[i] for i in rng.permutation(len(assets))]
    specs = []
    turning = controls = 0
    for i in range(config.num_samples):
        # slot i is a control when it crosses the next multiple of 1 / control_share (0.5: the odd slots)
        if np.floor((i + 1) * config.control_share) > np.floor(i * config.control_share):
            family, controls = control[controls % len(control)], controls + 1
        else:
            family, turning = rotational[turning % len(rotational)], turning + 1
        seed = int.from_bytes(hashlib.sha256(f"{config.seed}:{i}:{attempt}".encode()).digest()[:4], "little")
        specs.append(make_clip_spec(
            order[i % len(order)], family, preset=config.preset, num_frames=config.num_frames, fps=config.fps,
            width=config.width, height=config.height, samples=config.samples_per_pixel, seed=seed))
    return specs


def build_synth_suite(out: str | Path, config: SynthSuiteConfig, *, catalog: str | Path | None = None,
                      render_root: str | Path | None = None, overwrite: bool = False, progress: bool = False) -> Suite:
    """Render (or reuse) the planned clips under ``render_root`` through the dataset driver
    (:func:`render.dataset.render_dataset`) and assemble the suite at ``out``.

    A slot whose trajectory draw cannot be framed by the camera (``out_of_frame``) is redrawn with the
    next attempt's plan (:func:`plan_synth_suite`), up to 4 times. A slot whose object is camouflaged in
    its first frame (:func:`benchmark.pose_tracking.first_frame_separability` below
    ``config.min_separability``: the pose of no video of it could be measured) is drawn again, scene and
    trajectory, up to ``CAMOUFLAGE_REDRAWS`` times; when every draw is camouflaged the most separable one
    is kept. All of it is deterministic in ``config``; the manifest's ``build_config`` lists each sample's
    separability and the camouflaged draws left out."""
    from dataclasses import asdict

    out = Path(out)
    render_root = Path(render_root) if render_root else out.parent / f"{out.name}-renders"
    assets = benchmark_assets(catalog)
    draws = CAMOUFLAGE_REDRAWS + 1 if config.min_separability > 0 else 1
    plans = [plan_synth_suite(assets, config, attempt) for attempt in range(MAX_RENDER_ATTEMPTS * draws)]
    chosen, redrawn = _render_draw(plans, 0, list(range(config.num_samples)), render_root, progress)
    separability = {slot: clip_separability(render_root / spec.clip_id) for slot, spec in chosen.items()}
    camouflaged: dict[str, float] = {}
    for draw in range(1, draws):
        weak = [slot for slot in chosen if separability[slot] < config.min_separability]
        if not weak:
            break
        if progress:
            print(f"[suite] {len(weak)} sample(s) camouflaged against the floor (separability below "
                  f"{config.min_separability}): drawing again ({draw}/{draws - 1})", file=sys.stderr)
        found, found_redrawn = _render_draw(plans, draw, weak, render_root, progress)
        for slot, spec in found.items():
            value = clip_separability(render_root / spec.clip_id)
            if value > separability[slot]:
                camouflaged[chosen[slot].clip_id] = separability[slot]
                chosen[slot], separability[slot] = spec, value
                if spec.clip_id in found_redrawn:
                    redrawn[spec.clip_id] = found_redrawn[spec.clip_id]
            else:
                camouflaged[spec.clip_id] = value
    clip_ids = [chosen[slot].clip_id for slot in range(config.num_samples)]
    build_config = asdict(config) | {"catalog": None if catalog is None else str(catalog), "clip_ids": clip_ids,
                                     "redrawn": {k: v for k, v in redrawn.items() if k in clip_ids},
                                     "separability": {chosen[s].clip_id: round(v, 4) for s, v in separability.items()},
                                     "camouflaged_draws": {k: round(v, 4) for k, v in camouflaged.items()}}
    return build_suite_from_clips(out, [render_root / c for c in clip_ids], name=config.name,
                                  build_config=build_config, overwrite=overwrite)


def _render_draw(plans: list[list], draw: int, slots: list[int], render_root: Path, progress: bool
                 ) -> tuple[dict[int, object], dict[str, int]]:
    """Render draw ``draw`` of ``slots``: attempts ``draw * MAX_RENDER_ATTEMPTS`` .. of the plans (the later
    ones for a trajectory that leaves the frame). Returns {slot: spec rendered} and the report's
    ``redrawn`` (clip id: attempt)."""
    from render.dataset import render_dataset

    first = draw * MAX_RENDER_ATTEMPTS
    specs = [plans[first][slot] for slot in slots]
    slot_of = {spec.clip_id: slot for slot, spec in zip(slots, specs)}
    report = render_dataset(specs, render_root, redraws_out_of_frame=MAX_RENDER_ATTEMPTS - 1,
                            redraw=lambda spec, attempt: plans[first + attempt][slot_of[spec.clip_id]],
                            progress=progress, desc="render suite" if draw == 0 else f"render suite, draw {draw + 1}",
                            stop_on_failure=True)
    return dict(zip(slots, report.final)), dict(report.redrawn)


def clip_separability(clip_dir: Path) -> float:
    """:func:`benchmark.pose_tracking.first_frame_separability` of a rendered clip's first frame."""
    from benchmark.pose_tracking import first_frame_separability
    from common.clip_format import load_clip

    clip = load_clip(clip_dir)
    arrays = clip.arrays("K", "mask")
    return first_frame_separability(clip.frames()[0], arrays["K"], arrays["mask"][0] == 1)


def _find_media(src: Path, stem: str) -> tuple[Path | None, Path | None]:
    """(image, video) for one sample id: ``<id>.png|jpg``, ``<id>/`` frames, ``<id>.mp4`` ..."""
    frames_dir = src / stem
    if frames_dir.is_dir():
        frames = sorted(p for p in frames_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if frames:
            return frames[0], frames_dir
    for suffix in IMAGE_SUFFIXES:
        if (src / f"{stem}{suffix}").is_file():
            return src / f"{stem}{suffix}", None
    for suffix in VIDEO_SUFFIXES:
        if (src / f"{stem}{suffix}").is_file():
            return None, src / f"{stem}{suffix}"
    return None, None


def build_folder_suite(src: str | Path, out: str | Path, *, kind: str = "custom", name: str | None = None,
                       num_frames: int = 14, fps: float = 7.0, outliers: str = "drop", margin: float = 0.1,
                       overwrite: bool = False) -> Suite:
    """A real-video or custom suite from ``src``: per sample ``<id>.json`` (DragAnything format) and
    either ``<id>.png``/``.jpg`` (first frame), a folder ``<id>/`` of frames or a video ``<id>.mp4``.

    Trajectories are read at the image's native resolution; outliers are handled by ``outliers``
    ('keep' reproduces the field, 'drop' removes diverged trajectories, 'error' refuses the file).
    Samples whose trajectories are shorter than ``num_frames`` are skipped and listed in the manifest.
    """
    from PIL import Image

    from common.video import read_frames_dir, read_video, write_video

    src, out = Path(src), Path(out)
    if kind not in ("real", "custom"):
        raise ValueError(f"kind must be 'real' or 'custom', got {kind!r}")
    json_files = sorted(src.glob("*.json"))
    if not json_files:
        raise SuiteError(f"{src}: no trajectory files (*.json)")
    tmp = _tmp_dir(out)
    records, skipped = [], []
    try:
        for traj_path in json_files:
            sample_id = traj_path.stem
            image_path, video_path = _find_media(src, sample_id)
            if image_path is None and video_path is None:
                raise SuiteError(f"{src}: sample {sample_id} has trajectories but no image, frames folder or video")
            reference = None
            if video_path is not None and video_path.is_dir():
                reference = read_frames_dir(video_path, IMAGE_SUFFIXES)
            elif video_path is not None:
                reference = read_video(video_path)
            first = reference[0] if reference is not None else np.asarray(Image.open(image_path).convert("RGB"))
            height, width = first.shape[:2]
            try:
                traj = read_trajectory_json(traj_path, (width, height), outliers=outliers, margin=margin)
            except TrajectoryFormatError as exc:
                if "every trajectory is an outlier" in str(exc):
                    skipped.append({"id": sample_id, "reason": str(exc)})
                    continue
                raise
            if traj.num_frames < num_frames:
                skipped.append({"id": sample_id, "reason": f"{traj.num_frames} trajectory frames < {num_frames}"})
                continue
            if reference is not None and len(reference) < num_frames:
                skipped.append({"id": sample_id, "reason": f"{len(reference)} video frames < {num_frames}"})
                continue
            base = tmp / "samples" / sample_id
            base.mkdir(parents=True)
            _save_png(base / "image.png", first)
            write_trajectory_json(base / "trajectories.json", traj, num_frames)
            rel = f"samples/{sample_id}"
            if reference is not None:
                even = reference[:num_frames, : height - height % 2, : width - width % 2]
                if even.shape[1:3] != (height, width):
                    raise SuiteError(f"{src}: sample {sample_id}: reference video size {width}x{height} must be even")
                write_video(base / "reference.mp4", even, fps, crf=0)
            records.append({
                "id": sample_id, "family": kind, "rotational": None, "num_frames": num_frames, "fps": fps,
                "width": width, "height": height, "image": f"{rel}/image.png",
                "trajectories": f"{rel}/trajectories.json", "clip": None,
                "reference_video": f"{rel}/reference.mp4" if reference is not None else None,
                "dropped_trajectories": list(traj.dropped), "content_sha256": sha256_tree([base]),
            })
        if not records:
            raise SuiteError(f"{src}: no usable samples ({len(skipped)} skipped)")
        manifest = {"schema_version": SUITE_SCHEMA_VERSION, "name": name or src.name, "kind": kind,
                    "build_config": {"source": str(src), "num_frames": num_frames, "fps": fps},
                    "outliers": {"policy": outliers, "margin": margin}, "skipped": skipped, "samples": records}
        finish_suite(tmp, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, out, overwrite)
