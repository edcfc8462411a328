"""Every mesh file of a folder through ``posetraj render`` at a tiny size, as a new user would run it:
each file in its own process, counted as ok / clean error / crash / hang, with the per-file reason.

Run from the repository root with the project's environment, e.g.::

    .venv/bin/python bench/asset_corpus.py --make-test-files /tmp/corpus /tmp/corpus
    .venv/bin/python bench/asset_corpus.py ~/meshes --json /tmp/corpus.json
    .venv/bin/python bench/asset_corpus.py ~/meshes --repo /tmp/old-checkout   # the renderer of another checkout

- ok: exit 0 and a complete clip;
- clean error: exit 1 with one last line ``error: <code>: <reason>``, a ``failures/<clip_id>.json`` record
  and no clip or work folder left behind;
- crash: anything else (a traceback, a signal, a clean-looking error that left files or no record);
- hang: no exit within ``--timeout`` seconds (the process group is killed).

``--make-test-files DIR`` first writes the files of tests/asset_files.py (cameras and lights in glTF,
skinned and animated meshes, several scenes, Draco, alpha and emission, units, NaN vertices, point
clouds, ...) into DIR. Results and the command that produced them are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common.clip_format import is_complete_clip  # noqa: E402

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".fbx", ".ply", ".stl", ".usd", ".usda", ".usdc", ".usdz")
ERROR_LINE = re.compile(r"^error: ([a-z_]+): (.*)$")


def _terminate(signum, frame):  # SIGTERM: leave through the normal exit path, so the running child is killed
    raise SystemExit(128 + signum)


def mesh_files(folders: list[Path]) -> list[Path]:
    """Mesh files under ``folders`` (recursive), sorted; a .bin or texture beside a .gltf is not one."""
    found = set()
    for folder in folders:
        found.update(p.resolve() for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
    return sorted(found)


def run_one(path: Path, out: Path, args: argparse.Namespace) -> dict:
    """Render ``path`` into ``out`` in a child ``posetraj render`` and classify the outcome."""
    command = [sys.executable, "-m", "posetraj", "render", "--asset", str(path), "--trajectory", args.trajectory,
               "--preset", "draft", "--frames", str(args.frames), "--width", str(args.width), "--height",
               str(args.height), "--samples", str(args.samples), "--device", "CPU", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(args.repo), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=args.repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"outcome": "hang", "code": "", "reason": f"no exit within {args.timeout:g} s",
                "seconds": time.perf_counter() - started}
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    seconds = time.perf_counter() - started
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    leftovers = [p.name for p in out.iterdir() if p.name not in ("failures", ".assets")] if out.is_dir() else []
    if process.returncode == 0:
        clip = Path(stdout.strip().splitlines()[-1]) if stdout.strip() else None
        complete = clip is not None and is_complete_clip(clip)
        return {"outcome": "ok" if complete else "crash", "code": "", "seconds": seconds,
                "reason": "" if complete else "exit 0 without a complete clip"}
    match = ERROR_LINE.match(last)
    records = list((out / "failures").glob("*.json")) if (out / "failures").is_dir() else []
    if process.returncode == 1 and match and records and not leftovers:
        return {"outcome": "clean error", "code": match.group(1), "reason": match.group(2), "seconds": seconds}
    why = last or f"exit {process.returncode}"
    if process.returncode < 0:
        why = f"killed by signal {-process.returncode}: {why}"
    elif match and not records:
        why = f"no failure record: {why}"
    elif match and leftovers:
        why = f"left {leftovers[:3]}: {why}"
    return {"outcome": "crash", "code": match.group(1) if match else "", "reason": why, "seconds": seconds}


def markdown(rows: list[dict], root_of) -> str:
    counts = {o: sum(r["outcome"] == o for r in rows) for o in ("ok", "clean error", "crash", "hang")}
    lines = [" / ".join(f"{n} {o}" for o, n in counts.items()) + f" ({len(rows)} files)", "",
             "| file | outcome | code | reason | s |", "|---|---|---|---|---|"]
    for row in rows:
        reason = re.sub(r"\s+", " ", row["reason"].replace(row["path"], root_of(row["path"])))[:140].replace("|", "\\|")
        lines.append(f"| {root_of(row['path'])} | {row['outcome']} | {row['code']} | {reason} | {row['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders of mesh files (searched recursively)")
    parser.add_argument("--make-test-files", type=Path, help="write tests/asset_files.py's files into this folder")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose posetraj renders (default: this one)")
    parser.add_argument("--trajectory", default="half_circle")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a file counts as a hang")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    folders = list(args.folders)
    if args.make_test_files:
        sys.path.insert(0, str(REPO / "tests"))
        import asset_files

        asset_files.make_corpus(args.make_test_files)
        folders.append(args.make_test_files)
    files = mesh_files(folders)
    if not files:
        parser.error("no mesh files found")
    rows = []
    with tempfile.TemporaryDirectory(prefix="asset-corpus-") as scratch:
        for index, path in enumerate(files):
            row = {"path": str(path), **run_one(path, Path(scratch) / f"{index:04d}", args)}
            rows.append(row)
            print(f"[{index + 1}/{len(files)}] {row['outcome']:<11} {path.name}: {row['code']} {row['reason'][:100]}",
                  file=sys.stderr)
    roots = [str(Path(f).resolve()) for f in folders]

    def root_of(path: str) -> str:
        for root in roots:
            if path.startswith(root):
                return path[len(root):].lstrip("/")
        return path

    print(markdown(rows, root_of))
    if args.json:
        args.json.write_text(json.dumps({"repo": str(args.repo), "settings": {
            "trajectory": args.trajectory, "frames": args.frames, "width": args.width, "height": args.height,
            "samples": args.samples, "timeout_s": args.timeout}, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
