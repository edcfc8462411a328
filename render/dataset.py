"""Render many clips into one dataset folder, skipping finished clips and recording failures."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from render.clip_io import is_complete_clip
from render.errors import RenderError
from render.spec import ClipSpec, make_clip_spec

DATASET_SCHEMA_VERSION = 1
MANIFEST_NAME = "dataset.json"


@dataclass
class DatasetReport:
    root: Path
    rendered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def clips(self) -> list[str]:
        return sorted(self.rendered + self.skipped)


def plan_builtin_dataset(
    assets: Sequence[str],
    trajectories: Sequence[str],
    *,
    seeds: Iterable[int] = (0,),
    preset: str = "draft",
    **spec_options,
) -> list[ClipSpec]:
    """Every combination of built-in asset, trajectory family and seed, as clip specs."""
    return [
        make_clip_spec(f"builtin:{asset}", trajectory, preset=preset, seed=seed, **spec_options)
        for asset in assets
        for trajectory in trajectories
        for seed in seeds
    ]


def _write_manifest(root: Path, specs: Sequence[ClipSpec], report: DatasetReport) -> None:
    manifest = {
        "schema_version": DATASET_SCHEMA_VERSION,
        "clips": [
            {
                "clip_id": spec.clip_id,
                "asset": spec.asset,
                "trajectory": spec.trajectory.name,
                "pose_mode": spec.trajectory.pose_mode,
                "status": "failed" if spec.clip_id in report.failed else "ok",
                **({"error": report.failed[spec.clip_id]} if spec.clip_id in report.failed else {}),
            }
            for spec in specs
        ],
    }
    tmp = root / f".{MANIFEST_NAME}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(root / MANIFEST_NAME)


def render_dataset(specs: Sequence[ClipSpec], out_root: Path, *, progress: bool = True) -> DatasetReport:
    """Render each spec into ``out_root`` (finished clips are skipped) and write ``dataset.json``."""
    from tqdm import tqdm

    from render.pipeline import render_clip

    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    report = DatasetReport(root=out_root)
    bar = tqdm(specs, desc="render", unit="clip", disable=not progress, file=sys.stderr)
    for spec in bar:
        bar.set_postfix_str(spec.clip_id[:40])
        if is_complete_clip(out_root / spec.clip_id):
            report.skipped.append(spec.clip_id)
            continue
        try:
            render_clip(spec, out_root)
        except RenderError as exc:
            report.failed[spec.clip_id] = str(exc)
            bar.write(f"failed {spec.clip_id}: {exc}", file=sys.stderr)
            continue
        report.rendered.append(spec.clip_id)
    _write_manifest(out_root, specs, report)
    return report
