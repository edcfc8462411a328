"""Benchmark: catalog build throughput (assets per second), first build vs cached rebuild.

Generates ``--count`` meshes of mixed sizes (12 to ~80k faces; GLB, PLY, STL and OBJ) into a temp
folder, then in one run: builds the catalog from scratch (hash + trimesh statistics in a process pool)
and rebuilds it unchanged (hashes and statistics reused). Prints both rates side by side.

    .venv/bin/python bench/catalog_build.py                # 1,000 meshes, all CPU cores
    .venv/bin/python bench/catalog_build.py --count 200 --workers 1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assets_catalog.catalog import BuildConfig, build_catalog  # noqa: E402

FORMATS = ("glb", "glb", "ply", "stl", "obj")


def generate_meshes(folder: Path, count: int, seed: int) -> dict[str, int]:
    """Write ``count`` meshes of mixed sizes; returns {size class: count}."""
    import numpy as np
    import trimesh

    rng = np.random.default_rng(seed)
    classes = {"small": 0, "medium": 0, "large": 0}
    for kind in classes:
        (folder / kind).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        draw = rng.random()
        if draw < 0.6:  # small: 12-960 faces
            kind = "small"
            mesh = [trimesh.creation.box(extents=rng.uniform(0.2, 2.0, 3)),
                    trimesh.creation.cylinder(radius=rng.uniform(0.1, 1), height=rng.uniform(0.2, 2),
                                              sections=int(rng.integers(8, 64))),
                    trimesh.creation.icosphere(subdivisions=int(rng.integers(0, 3)))][i % 3]
        elif draw < 0.9:  # medium: ~5k-20k faces
            kind = "medium"
            mesh = trimesh.creation.icosphere(subdivisions=int(rng.integers(4, 6)))
        else:  # large: ~80k faces
            kind = "large"
            mesh = trimesh.creation.icosphere(subdivisions=6)
        mesh.apply_scale(rng.uniform(0.1, 3.0, 3))
        classes[kind] += 1
        fmt = FORMATS[i % len(FORMATS)] if kind != "large" else "glb"
        mesh.export(folder / kind / f"mesh_{i:05d}.{fmt}")
    return classes


def _cpu() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def timed_build(config: BuildConfig) -> dict:
    cpu0, t0 = _cpu(), time.perf_counter()
    df, report = build_catalog(config)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    return {"rows": report.rows, "failed": report.failed, "stats_computed": report.stats_computed,
            "stats_cached": report.stats_cached, "hashed": report.hashed, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "assets_per_s": round(report.rows / wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="number of generated meshes (default 1000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="stats processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as tmp:
        folder = Path(tmp) / "meshes"
        folder.mkdir()
        t0 = time.perf_counter()
        classes = generate_meshes(folder, args.count, args.seed)
        generate_s = time.perf_counter() - t0
        config = BuildConfig(catalog_dir=Path(tmp) / "catalog", objaverse_root=None, local_dirs=(folder,),
                             include_builtin=False, workers=args.workers, progress=False)
        first = timed_build(config)
        cached = timed_build(config)
    result = {"count": args.count, "workers": args.workers, "size_classes": classes,
              "generate_s": round(generate_s, 2), "first_build": first, "cached_rebuild": cached,
              "speedup": round(first["wall_s"] / cached["wall_s"], 1)}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{args.count} meshes ({classes}), {args.workers} workers; generated in {generate_s:.1f} s")
        print(f"{'build':<16}{'wall s':>9}{'CPU s':>9}{'assets/s':>10}{'computed':>10}{'cached':>8}")
        for name, r in (("first build", first), ("cached rebuild", cached)):
            print(f"{name:<16}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}{r['assets_per_s']:>10.1f}"
                  f"{r['stats_computed']:>10}{r['stats_cached']:>8}")
        print(f"cached rebuild is {result['speedup']}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
