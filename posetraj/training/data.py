"""Training data: find the clips or real videos, cut random windows, and batch them across processes.

Rendered clips (``data.kind: clips``) are read through the clip reader (``common.clip_format``) from
``posetraj dataset`` output folders or clip folders: a random window of F frames, its frames fitted to the
training size (``framing.py``), with the projected 3D box drawn in for stage 1 (``data.target: boxes``,
``posetraj.boxes``), trajectories drawn from the dense surface tracks (``trajectory_sampling.py``) and
rasterised with ``posetraj.conditioning`` exactly as the pipeline does at inference, and, for the camera
module, the window's camera poses relative to its first frame (``models.camera.camera_vectors_from_w2c``).

Real videos (``data.kind: real``): ``<root>/<frames_dir>/<video>/`` frames (jpg or png) and
``<root>/<trajectories_dir>/<video>.json`` (DragAnything / PoseTraj JSON at the frames' resolution, read
with ``common.trajectories.read_trajectory_json``: outliers dropped as the benchmark harness drops them),
optionally ``<root>/<cameras_dir>/<video>.npz`` with per-frame world-to-camera poses (``cam_w2c`` (T, 4, 4),
or TRAM's ``pred_cam_R`` (T, 3, 3) and ``pred_cam_T`` (T, 3)).

A malformed sample (no completion marker, unreadable meta, corrupt video, non-finite tracks or poses, too few
frames, an unusable trajectory file) is skipped: the reason is logged once and counted in the run summary,
and the loader takes the next sample instead, so a long run never dies on one bad clip. ``data.strict`` turns
every such case into an error.

Randomness: :class:`WindowSampler` gives every sample a seed from (run seed, epoch, position); the window,
the trajectories and every random draw of the objective derive from it. A sample is therefore the same
whichever process, worker or batch it lands in, and a resumed run continues with exactly the samples an
uninterrupted run would have seen.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from common.clip_format import ANNOTATIONS_NAME, MARKER_NAME, META_NAME, VIDEO_NAME, ClipFormatError, load_clip
from common.trajectories import TrajectoryFormatError, outlier_points, read_trajectory_json, select_frames
from common.video import IMAGE_SUFFIXES, VideoDecodeError, read_frames_dir
from posetraj.training.config import DataConfig
from posetraj.training.framing import Fit

CLIP_ARRAYS = ("tracks_2d", "tracks_visible", "center_2d", "bbox_corners_2d")
MAX_CONSECUTIVE_SKIPS = 16


class SampleError(ValueError):
    """One training sample is malformed; ``reason`` says why (the message names the sample)."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        super().__init__(name if reason is None else f"{name}: {reason}")  # one argument: a re-raised message
        self.name, self.reason = name, reason if reason is not None else name


@dataclass(frozen=True)
class Source:
    """One clip or real video that windows are cut from."""

    kind: str  # "clip" | "real"
    name: str
    path: str  # clip folder | frames folder
    num_frames: int
    size: tuple[int, int]  # (width, height)
    trajectories: str | None = None  # real: the JSON file
    camera: str | None = None  # real: the camera file, when there is one
    assets: tuple[str, ...] = ()  # identities of what it shows (asset uid and sha256, or video id)


@dataclass
class SkipLog:
    """Malformed samples met so far: reason per sample name and how often each was met."""

    reasons: dict[str, str] = field(default_factory=dict)
    events: int = 0
    verbose: bool = True

    def add(self, name: str, reason: str) -> None:
        self.events += 1
        if name not in self.reasons:
            self.reasons[name] = reason
            if self.verbose:
                print(f"[train] skipped {name}: {reason}", file=sys.stderr)

    def summary(self) -> dict:
        return {"malformed_samples": len(self.reasons), "skip_events": self.events, "reasons": dict(self.reasons)}

    def state_dict(self) -> dict:
        return {"reasons": dict(self.reasons), "events": self.events}

    def load_state_dict(self, state: dict) -> None:
        self.reasons, self.events = dict(state["reasons"]), int(state["events"])


# ------------------------------------------------------------------------------------------------
# Finding the sources
# ------------------------------------------------------------------------------------------------

_CLIP_FILES = (META_NAME, ANNOTATIONS_NAME, VIDEO_NAME, MARKER_NAME)


def _looks_like_clip(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in _CLIP_FILES)


def _clip_source(path: Path, config: DataConfig, needs: tuple[str, ...]) -> Source:
    try:
        clip = load_clip(path)
        if clip.num_frames < config.num_frames:
            raise SampleError(path.name, f"{clip.num_frames} frames, fewer than the {config.num_frames} of a window")
        for key in needs:
            if not clip.has_array(key):
                raise SampleError(path.name, f"{clip.annotations_path} has no {key!r} array")
    except ClipFormatError as exc:
        raise SampleError(path.name, str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SampleError):
            raise
        raise SampleError(path.name, f"{path / META_NAME}: unusable meta ({exc})") from None
    asset = clip.meta.get("asset") or {}
    ids = tuple(dict.fromkeys(str(v) for v in (asset.get("uid"), asset.get("sha256")) if v))  # uid first
    return Source("clip", path.name, str(path), clip.num_frames, clip.size, assets=ids)


def _clip_candidates(paths: list[str]) -> list[Path]:
    candidates = []
    for text in paths:
        path = Path(text)
        if not path.is_dir():
            raise FileNotFoundError(f"data.paths: {path} is not a folder")
        if _looks_like_clip(path):
            candidates.append(path)
        else:
            candidates += sorted(p for p in path.iterdir() if not p.name.startswith(".") and _looks_like_clip(p))
    return candidates


def _real_sources(config: DataConfig, skips: SkipLog, strict: bool) -> list[Source]:
    from PIL import Image

    sources = []
    for text in config.paths:
        root = Path(text)
        traj_dir, frames_root = root / config.trajectories_dir, root / config.frames_dir
        if not traj_dir.is_dir() or not frames_root.is_dir():
            raise FileNotFoundError(f"data.paths: {root} needs {config.frames_dir}/ and {config.trajectories_dir}/ "
                                    f"(real videos: a frames folder per video and its trajectory JSON)")
        if config.video_list:
            ids = [line.strip() for line in Path(config.video_list).read_text().splitlines() if line.strip()]
        else:
            ids = sorted(p.stem for p in traj_dir.glob("*.json"))
        for vid in ids:
            try:
                json_path, frames = traj_dir / f"{vid}.json", frames_root / vid
                if not json_path.is_file():
                    raise SampleError(vid, f"{json_path}: trajectory file not found")
                files = sorted(p for p in frames.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
                    if frames.is_dir() else []
                if len(files) < config.num_frames:
                    raise SampleError(vid, f"{frames}: {len(files)} frames, fewer than the {config.num_frames} of a window")
                try:
                    with Image.open(files[0]) as image:
                        size = image.size
                except OSError as exc:
                    raise SampleError(vid, f"{files[0]}: cannot read frame ({exc})") from None
            except SampleError as exc:
                if strict:
                    raise
                skips.add(exc.name, exc.reason)
                continue
            camera = root / config.cameras_dir / f"{vid}.npz"
            sources.append(Source("real", vid, str(frames), len(files), size, str(json_path),
                                  str(camera) if camera.is_file() else None, (f"video:{vid}",)))
    return sources


def scan_sources(config: DataConfig, skips: SkipLog, needs_camera: bool = False) -> list[Source]:
    """Every usable source of ``config.paths``; malformed ones go to ``skips`` (an error with ``strict``)."""
    if not config.paths:
        raise ValueError("data.paths is empty: give dataset folders or clip folders (clips), or roots (real)")
    if config.kind == "real":
        sources = _real_sources(config, skips, config.strict)
    else:
        needs = CLIP_ARRAYS + (("bbox_corners_world", "cam_w2c") if config.target == "boxes" else ()) \
            + (("cam_w2c",) if needs_camera else ())
        sources = []
        for path in _clip_candidates(config.paths):
            try:
                sources.append(_clip_source(path, config, tuple(dict.fromkeys(needs))))
            except SampleError as exc:
                if config.strict:
                    raise
                skips.add(exc.name, exc.reason)
    if not sources:
        raise ValueError(f"no usable training samples in {', '.join(config.paths)} "
                         f"({len(skips.reasons)} malformed: {'; '.join(list(skips.reasons.values())[:3])})")
    counts = Counter(s.name for s in sources)  # two roots with the same clip id: keep names unique
    return [replace(s, name=f"{s.name}@{i}") if counts[s.name] > 1 else s for i, s in enumerate(sources)]


# ------------------------------------------------------------------------------------------------
# Windows
# ------------------------------------------------------------------------------------------------


def item_rngs(seed: int) -> tuple[np.random.Generator, int, int]:
    """A sample's data generator and the seeds of its encoding and objective torch generators."""
    states = np.random.SeedSequence([seed, 7]).generate_state(2, dtype=np.uint64)
    return np.random.default_rng([seed, 0]), int(states[0]), int(states[1])


class WindowDataset:
    """``dataset[(index, seed)]`` -> one training window of source ``index`` (a dict of numpy arrays).

    Keys: ``conditioning`` (F, C, H, W) float32, ``camera`` (F, 12) float32 (zeros without camera),
    ``seed``, ``name``, ``start``, ``skipped`` (malformed samples met on the way), and either ``pixels``
    (F, H, W, 3) uint8 or, with a latent cache, ``latent_mean``/``latent_std`` (F, 4, h, w),
    ``image_latent`` (4, h, w) and ``image_embedding`` (D,).
    """

    def __init__(self, sources: list[Source], config: DataConfig, encoding: str = "segments",
                 use_camera: bool = False, cache=None) -> None:
        from posetraj.conditioning import ConditioningConfig

        self.sources, self.config, self.use_camera, self.cache = sources, config, use_camera, cache
        self.conditioning = ConditioningConfig(encoding=encoding)
        self.size = (config.width, config.height)

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        skipped: list[tuple[str, str]] = []
        for attempt in range(min(MAX_CONSECUTIVE_SKIPS, len(self.sources))):
            source = self.sources[(index + attempt) % len(self.sources)]
            try:
                item = self.load(source, seed)
            except SampleError as exc:
                if self.config.strict:
                    raise
                skipped.append((exc.name, exc.reason))
                continue
            item["skipped"] = skipped
            return item
        raise RuntimeError(f"{len(skipped)} consecutive training samples are malformed (last: {skipped[-1][0]}: "
                           f"{skipped[-1][1]}); check the data")

    def load(self, source: Source, seed: int) -> dict:
        """The window of ``source`` that ``seed`` picks; :class:`SampleError` when the sample is malformed."""
        rng, _, _ = item_rngs(seed)
        if source.kind == "real":
            traj, start, camera = self._real_window(source, rng)
        else:
            traj, start, camera, clip = self._clip_window(source, rng)
        fit = Fit.make(source.size, self.size, self.config.resize)
        item = {"seed": seed, "name": source.name, "start": start, "camera": camera,
                "conditioning": self._conditioning(fit.trajectories(traj))}
        if self.cache is not None:
            entry = self.cache.load(source)
            window = slice(start, start + self.config.num_frames)
            item.update(latent_mean=entry["mean"][window], latent_std=entry["std"][window],
                        image_latent=entry["image_latent"][start], image_embedding=entry["clip"][start])
        else:
            frames = self.source_frames(source, clip if source.kind == "clip" else None)
            item["pixels"] = fit.frames(frames[start:start + self.config.num_frames])
        return item

    def source_frames(self, source: Source, clip=None) -> np.ndarray:
        """Every frame of ``source`` at its own size (stage 1: with the 3D box drawn in), (T, h, w, 3) uint8."""
        try:
            if source.kind == "real":
                frames = read_frames_dir(Path(source.path))
            else:
                clip = clip or load_clip(Path(source.path))
                frames = clip.frames()
                if self.config.target == "boxes":
                    from posetraj.boxes import draw_clip_boxes

                    frames = draw_clip_boxes(clip.path, frames)
        except (ClipFormatError, VideoDecodeError, FileNotFoundError) as exc:
            raise SampleError(source.name, str(exc)) from None
        if frames.shape[0] < source.num_frames or frames.shape[2:0:-1] != source.size:
            raise SampleError(source.name, f"frames {frames.shape} do not match {source.num_frames} frames of "
                                           f"{source.size[0]}x{source.size[1]}")
        return frames

    def _conditioning(self, traj) -> np.ndarray:
        from posetraj.conditioning import encode_trajectories

        encoded, _ = encode_trajectories(traj, self.config.num_frames, self.size[0], self.size[1], self.conditioning)
        return encoded

    def _clip_window(self, source: Source, rng: np.random.Generator):
        from posetraj.training.trajectory_sampling import sample_surface_trajectories

        frames = self.config.num_frames
        try:
            clip = load_clip(Path(source.path))
            keys = CLIP_ARRAYS + (("cam_w2c",) if self.use_camera else ())
            arrays = clip.arrays(*keys)
        except ClipFormatError as exc:
            raise SampleError(source.name, str(exc)) from None
        for key, array in arrays.items():
            if not np.isfinite(array).all():
                raise SampleError(source.name, f"{clip.annotations_path}: non-finite values in {key!r}")
        traj, start = None, 0
        for _ in range(4):  # a window whose first frame shows no tracked point: try another start
            start = int(rng.integers(0, source.num_frames - frames + 1))
            traj = sample_surface_trajectories(
                arrays["tracks_2d"], arrays["tracks_visible"], arrays["center_2d"], arrays["bbox_corners_2d"],
                source.size, start, frames, rng, min_points=self.config.min_points, max_points=self.config.max_points,
                min_visible_fraction=self.config.min_visible_fraction)
            if traj is not None:
                break
        if traj is None:
            raise SampleError(source.name, "no tracked surface point is visible at the start of the windows tried")
        camera = np.zeros((frames, 12), np.float32)
        if self.use_camera:
            from posetraj.models.camera import camera_vectors_from_w2c

            camera = camera_vectors_from_w2c(arrays["cam_w2c"][start:start + frames])
        return traj, start, camera, clip

    def _real_window(self, source: Source, rng: np.random.Generator):
        frames = self.config.num_frames
        try:
            traj = read_trajectory_json(source.trajectories, source.size, outliers=self.config.outliers)
        except TrajectoryFormatError as exc:
            raise SampleError(source.name, str(exc)) from None
        length = min(traj.num_frames, source.num_frames)
        if length < frames:
            raise SampleError(source.name, f"{source.trajectories}: {traj.num_frames} trajectory frames, fewer than "
                                           f"the {frames} of a window")
        start = int(rng.integers(0, length - frames + 1))
        traj = select_frames(traj, frames, start)
        if self.config.max_points is not None:  # a subset, among the points on the frame at the window's start
            inside = ~outlier_points(traj.points[:, :1], source.size)[:, 0]
            candidates = np.flatnonzero(inside) if inside.any() else np.arange(traj.num_points)
            upper = min(self.config.max_points, candidates.size)
            count = int(rng.integers(min(self.config.min_points, upper), upper + 1))
            traj = traj.subset(np.isin(np.arange(traj.num_points), rng.choice(candidates, size=count, replace=False)))
        camera = np.zeros((frames, 12), np.float32)
        if self.use_camera and source.camera is not None:
            from posetraj.training.camera_poses import CameraPoseError, relative_camera_vectors

            try:
                camera = relative_camera_vectors(source.camera, start, frames)
            except CameraPoseError as exc:
                raise SampleError(source.name, str(exc)) from None
        return traj, start, camera


# ------------------------------------------------------------------------------------------------
# Sampling positions across processes, and batching
# ------------------------------------------------------------------------------------------------


class WindowSampler:
    """Infinite batches of ``(index, seed)`` for one process (a ``DataLoader`` batch sampler).

    Global position p (samples consumed by all processes together) is sample ``p mod n`` of epoch
    ``p // n``'s permutation (seeded by (seed, epoch)), with seed (seed, epoch, p mod n). Each optimiser
    micro-step consumes ``batch_size * world_size`` positions: process r takes the r-th block of
    ``batch_size``. One process with batch 2B therefore sees exactly the samples two processes with batch B
    see, and ``start`` resumes at a saved position.
    """

    def __init__(self, num_sources: int, batch_size: int, world_size: int = 1, rank: int = 0, seed: int = 0,
                 start: int = 0) -> None:
        self.n, self.batch_size, self.world_size, self.rank = num_sources, batch_size, world_size, rank
        self.seed, self.start = seed, start
        self._epoch, self._order = -1, np.arange(0)

    def position(self, p: int) -> tuple[int, int]:
        epoch, j = divmod(p, self.n)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n)
        seed = int(np.random.SeedSequence([self.seed, epoch, j]).generate_state(1)[0])
        return int(self._order[j]), seed

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        p = self.start
        while True:
            first = p + self.rank * self.batch_size
            yield [self.position(q) for q in range(first, first + self.batch_size)]
            p += self.batch_size * self.world_size


def collate(items: list[dict]) -> dict:
    """Stack arrays (as torch tensors); names, starts and skipped samples stay lists."""
    import torch

    batch: dict = {"name": [i["name"] for i in items], "start": [i["start"] for i in items],
                   "seed": [i["seed"] for i in items], "skipped": [s for i in items for s in i["skipped"]]}
    for key in items[0]:
        if key not in batch:
            batch[key] = torch.from_numpy(np.stack([np.asarray(i[key]) for i in items]))
    return batch
