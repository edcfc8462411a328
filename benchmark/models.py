"""Models under test: anything callable as ``generate(image, trajectories, num_frames, fps) -> video``.

A model is named on the command line by
* a built-in baseline: ``oracle``, ``static``, ``translate``;
* ``package.module:function``;
* the name of an entry point in the group ``posetraj.adapters``;
* a folder of pre-generated videos ``<sample_id>.mp4`` (or ``<sample_id>/`` with PNG frames).

The callable receives ``image`` (H, W, 3) uint8 at the sample's native resolution, ``trajectories``
as a dict id -> (T, 2) float64 array of pixel positions in that image, ``num_frames`` and ``fps``; it
returns (T, H', W', 3) frames (uint8, or float in [0, 1]) as a numpy array or a torch tensor.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from benchmark.suite import Sample

ENTRY_POINT_GROUP = "posetraj.adapters"


class ModelError(ValueError):
    """A model specification cannot be resolved."""


class GenerationError(RuntimeError):
    """A model failed on one sample (the message names the sample)."""


@dataclass
class Model:
    """A resolved model: a name for reports, an identity for cache keys, and a per-sample generator."""

    name: str
    identity: dict
    generate_for: Callable[[Sample], object]
    needs_cache: bool = True  # False where the videos are files already (pre-generated folders, the oracle)

    @property
    def cache_key(self) -> str:
        import json

        return hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()


def _source_sha(obj: object) -> str | None:
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return None
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def callable_model(fn: Callable, name: str) -> Model:
    """Wrap a user callable. Its identity (the cache key of its videos) is its name, its module's source
    hash and ``fn.cache_key`` when present: a string, or a function returning one, that an adapter whose
    output depends on outside configuration (weights, sampler settings) sets to describe it."""

    def generate_for(sample: Sample) -> object:
        trajectories = {i: p.copy() for i, p in zip(sample.trajectories.ids, sample.trajectories.points)}
        return fn(sample.image(), trajectories, sample.num_frames, sample.fps)

    key = getattr(fn, "cache_key", None)
    identity = {"adapter": name, "source_sha256": _source_sha(fn), "cache_key": key() if callable(key) else key}
    return Model(name=name, identity=identity, generate_for=generate_for)


def _load_callable(spec: str) -> Callable:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"model {spec!r}: cannot import module {module_name!r} ({exc})") from None
    target: object = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ModelError(f"model {spec!r}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ModelError(f"model {spec!r}: {attr!r} is not callable")
    return target


def video_folder_model(folder: Path) -> Model:
    """Pre-generated videos, one per sample id."""
    from common.video import read_video

    def generate_for(sample: Sample) -> object:
        for candidate in (folder / f"{sample.id}.mp4", folder / f"{sample.id}.gif", folder / f"{sample.id}.webm"):
            if candidate.is_file():
                return read_video(candidate)
        frames_dir = folder / sample.id
        if frames_dir.is_dir():
            from PIL import Image

            paths = sorted(frames_dir.glob("*.png"))
            if paths:
                return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
        raise GenerationError(f"sample {sample.id}: no generated video in {folder} "
                              f"(expected {sample.id}.mp4 or {sample.id}/*.png)")

    return Model(name=folder.name, identity={"adapter": f"folder:{folder.resolve()}"}, generate_for=generate_for,
                 needs_cache=False)


def resolve_model(spec: str) -> Model:
    """Turn a command-line model name into a :class:`Model` (see the module docstring)."""
    from benchmark.baselines import BASELINE_VERSION, BASELINES

    if spec in BASELINES:
        # the oracle's video is the suite's own ground-truth file: caching it would copy the suite
        return Model(name=spec, identity={"adapter": f"baseline:{spec}", "version": BASELINE_VERSION},
                     generate_for=BASELINES[spec], needs_cache=spec != "oracle")
    if ":" in spec and not Path(spec).exists():
        return callable_model(_load_callable(spec), spec)
    if Path(spec).is_dir():
        return video_folder_model(Path(spec))
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return callable_model(ep.load(), f"{spec} ({ep.value})")
    raise ModelError(
        f"unknown model {spec!r}: use a baseline ({', '.join(BASELINES)}), 'module:function', a folder of "
        f"generated videos, or an entry point of group {ENTRY_POINT_GROUP!r}")


def resolve_callable(spec: str) -> Callable:
    """The generator callable (``generate(image, trajectories, num_frames, fps) -> video``) named by ``spec``,
    for tools that give a model one image rather than a suite sample: a baseline that needs no ground truth
    (``static``, ``translate``: :data:`benchmark.baselines.IMAGE_BASELINES`), ``module:function``, or an entry
    point of group ``posetraj.adapters``. Raises :class:`ModelError` with one line otherwise."""
    from benchmark.baselines import BASELINES, IMAGE_BASELINES

    spec = spec.strip()
    if spec in IMAGE_BASELINES:
        return IMAGE_BASELINES[spec]
    if spec in BASELINES:
        raise ModelError(f"baseline {spec!r} needs a benchmark sample's ground truth; for an image use "
                         f"{' or '.join(IMAGE_BASELINES)}")
    if ":" in spec:
        return _load_callable(spec)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return ep.load()
    raise ModelError(f"unknown model {spec!r}: use a baseline ({', '.join(IMAGE_BASELINES)}), 'module:function' "
                     f"or an entry point of group {ENTRY_POINT_GROUP!r}")


def uncached_model(identity: dict) -> Model | None:
    """The model of a results summary whose videos are files rather than cache entries (a folder of
    pre-generated videos, the oracle), rebuilt from its identity; None for every other model."""
    adapter = str(identity.get("adapter", ""))
    if adapter.startswith("folder:"):
        return video_folder_model(Path(adapter[len("folder:"):]))
    if adapter.startswith("baseline:"):
        baseline = resolve_model(adapter[len("baseline:"):])
        return None if baseline.needs_cache else baseline
    return None
