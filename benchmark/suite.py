"""Benchmark suites on disk: a manifest plus, per sample, the first frame, the conditioning
trajectories and whatever ground truth exists.

```
<suite>/
  suite.json                     manifest (schema_version, name, kind, suite_version, samples)
  samples/<id>/image.png         the conditioning image (first frame), native resolution
  samples/<id>/trajectories.json conditioning trajectories, DragAnything format {id: [[x, y], ...]}
  samples/<id>/clip/             posetraj-synth: the rendered clip (docs/clip_format.md)
  samples/<id>/object_mesh.npz   posetraj-synth: the object's mesh in its object frame (schema 2)
  samples/<id>/reference.mp4     real / custom suites: the real video, when the user provides one
  DONE                           completion marker, written last
```
The manifest format is described in docs/benchmark.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from common.atomic import write_json_atomic
from common.trajectories import Trajectories, read_trajectory_json

SUITE_SCHEMA_VERSION = 2
# schema 1 had no object_mesh.npz: the mesh of a posetraj-synth sample is then derived from its clip
READABLE_SCHEMA_VERSIONS = (1, 2)
MANIFEST_NAME = "suite.json"
MARKER_NAME = "DONE"
SUITE_KINDS = ("posetraj-synth", "real", "custom")


class SuiteError(ValueError):
    """A suite directory is missing, incomplete or malformed."""


@dataclass
class Sample:
    """One benchmark item: what a model is given, and the ground truth it is scored against."""

    root: Path
    record: dict
    _memo: dict = field(default_factory=dict, repr=False)

    def release(self) -> None:
        """Forget the decoded frames and loaded clip kept while this sample is being scored."""
        self._memo.clear()

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def family(self) -> str:
        return self.record.get("family") or "unknown"

    @property
    def rotational(self) -> bool | None:
        return self.record.get("rotational")

    @property
    def upright(self) -> bool:
        """Whether the sample's motion keeps the object upright (turning about the floor's normal only):
        its trajectory's pose mode is one of ``render.trajectories.UPRIGHT_POSE_MODES``."""
        from render.trajectories import UPRIGHT_POSE_MODES

        return self.record.get("pose_mode") in UPRIGHT_POSE_MODES

    @property
    def num_frames(self) -> int:
        return int(self.record["num_frames"])

    @property
    def fps(self) -> float:
        return float(self.record["fps"])

    @property
    def width(self) -> int:
        return int(self.record["width"])

    @property
    def height(self) -> int:
        return int(self.record["height"])

    def _path(self, key: str) -> Path | None:
        value = self.record.get(key)
        return None if value is None else self.root / value

    def image(self) -> np.ndarray:
        """(H, W, 3) uint8 conditioning image."""
        from PIL import Image

        path = self._path("image")
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
        except (OSError, TypeError) as exc:
            raise SuiteError(f"sample {self.id}: cannot read image {path} ({exc})") from None

    @cached_property
    def trajectories(self) -> Trajectories:
        """Conditioning trajectories, validated (already outlier-filtered when the suite was built)."""
        return read_trajectory_json(self._path("trajectories"), (self.width, self.height), outliers="keep")

    def clip(self):
        """The rendered ground-truth clip (posetraj-synth only), or None."""
        path = self._path("clip")
        if path is None:
            return None
        if "clip" not in self._memo:
            from common.clip_format import load_clip

            self._memo["clip"] = load_clip(path)
        return self._memo["clip"]

    def object_model(self):
        """The object's mesh in its object frame (:class:`benchmark.object_model.ObjectModel`), for the
        pose metric: the suite's ``object_mesh.npz``, or (schema-1 suites) derived from the clip's asset."""
        if "object_model" not in self._memo:
            from benchmark.object_model import ObjectModelError, object_model_from_clip, read_object_mesh

            path = self._path("object_mesh")
            try:
                if path is not None:
                    self._memo["object_model"] = read_object_mesh(path)
                elif self.clip() is not None:
                    self._memo["object_model"] = object_model_from_clip(self.clip())
                else:
                    raise SuiteError(f"sample {self.id} has no ground-truth clip, hence no object mesh")
            except ObjectModelError as exc:
                raise SuiteError(f"sample {self.id}: {exc}") from None
        return self._memo["object_model"]

    def ground_truth(self, *keys: str) -> dict[str, np.ndarray]:
        """Only the named arrays of the clip's annotations.npz (the clip is checked by ``clip()``);
        cheaper than ``clip().annotations``, which also decompresses depth and masks."""
        clip = self.clip()
        if clip is None:
            raise SuiteError(f"sample {self.id} has no ground-truth clip")
        from common.clip_format import ClipFormatError

        try:
            return clip.arrays(*keys)
        except ClipFormatError as exc:
            raise SuiteError(f"sample {self.id}: {exc}") from None

    def reference_frames(self) -> np.ndarray | None:
        """(T, H, W, 3) ground-truth video frames (first ``num_frames``), or None when there is none."""
        if "reference" not in self._memo:
            self._memo["reference"] = self._load_reference()
        return self._memo["reference"]

    def _load_reference(self) -> np.ndarray | None:
        clip = self.clip()
        if clip is not None:
            frames = clip.frames()
        elif self.record.get("reference_video"):
            from common.video import read_video

            frames = read_video(self._path("reference_video"))
        else:
            return None
        if len(frames) < self.num_frames:
            raise SuiteError(f"sample {self.id}: reference video has {len(frames)} frames, need {self.num_frames}")
        return frames[: self.num_frames]

    @property
    def content_hash(self) -> str:
        """Hash of everything a model sees and is scored against, recorded in the manifest."""
        return self.record["content_sha256"]


@dataclass
class Suite:
    path: Path
    manifest: dict
    samples: list[Sample] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def version(self) -> str:
        return self.manifest["suite_version"]

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "suite_version": self.version, "path": str(self.path),
                "num_samples": len(self.samples), "outliers": self.manifest.get("outliers")}


def load_suite(path: str | Path) -> Suite:
    """Open a suite directory, checking its marker, schema version and sample files."""
    path = Path(path)
    if not (path / MANIFEST_NAME).is_file():
        raise SuiteError(f"{path}: not a benchmark suite (no {MANIFEST_NAME})")
    if not (path / MARKER_NAME).is_file():
        raise SuiteError(f"{path}: the suite is incomplete (no {MARKER_NAME} marker); rebuild it")
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text())
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path / MANIFEST_NAME}: not valid JSON ({exc})") from None
    version = manifest.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise SuiteError(f"{path}: suite schema version {version!r} is not supported (this reader knows "
                         f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
    if manifest.get("kind") not in SUITE_KINDS:
        raise SuiteError(f"{path}: unknown suite kind {manifest.get('kind')!r}")
    samples = [Sample(root=path, record=r) for r in manifest.get("samples", [])]
    for sample in samples:
        for key in ("image", "trajectories", "clip", "reference_video", "object_mesh"):
            rel = sample.record.get(key)
            if rel is not None and not (path / rel).exists():
                raise SuiteError(f"{path}: sample {sample.id} is missing its {key} ({rel})")
    if not samples:
        raise SuiteError(f"{path}: the suite has no samples")
    return Suite(path=path, manifest=manifest, samples=samples)


def finish_suite(out: Path, manifest: dict) -> Suite:
    """Give the manifest its content-derived ``suite_version``, write it and the marker last."""
    digest = hashlib.sha256()
    for record in manifest["samples"]:
        digest.update(record["id"].encode())
        digest.update(record["content_sha256"].encode())
    manifest["content_sha256"] = digest.hexdigest()
    manifest["suite_version"] = f"{manifest['name']}@{manifest['content_sha256'][:12]}"
    marker = out / MARKER_NAME
    if marker.exists():
        marker.unlink()
    write_json_atomic(out / MANIFEST_NAME, manifest)
    write_json_atomic(marker, {"schema_version": SUITE_SCHEMA_VERSION, "suite_version": manifest["suite_version"]})
    return load_suite(out)
