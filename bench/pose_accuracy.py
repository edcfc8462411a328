"""Accuracy of the pose metric on posetraj-synth suites: the rotation error against the true 3D pose of
the oracle (the ground-truth video), of a perturbed oracle (noise sigma 3, 3x3 blur, H.264 re-encode:
benchmark.perturb, scored as a folder of videos) and of the static and translate baselines, per group.

The aim (docs/benchmark.md, "Pose alignment"): on the rotational group, the oracle and the perturbed
oracle at most 5 degrees mean, static and translate above 30. Build suites first, with seeds of your
choice, e.g. (default size 192x128, 32 frames, 8 clips: about a minute of rendering on 2 cores):

    .venv/bin/posetraj bench build-suite --kind posetraj-synth --seed 5101 --frames 32 --out suites/s5101
    .venv/bin/python bench/pose_accuracy.py suites/s5101 [suites/s5102 ...] [--json out.json] [--markdown]

``--markdown`` prints the table quoted in docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODELS = ("oracle", "perturbed-oracle", "static", "translate")
GROUPS = ("rotational", "translation_only")


def score_suite(suite_path: Path, work: Path, tracker: str | None) -> dict:
    """{model: summary} for the four models on one suite."""
    from benchmark.harness import RunConfig, run_benchmark
    from benchmark.perturb import write_perturbed_oracle
    from benchmark.suite import load_suite

    suite = load_suite(suite_path)
    perturbed = write_perturbed_oracle(suite, work / "perturbed-oracle")
    summaries = {}
    for name in MODELS:
        model = str(perturbed) if name == "perturbed-oracle" else name
        tick = time.perf_counter()
        summaries[name] = run_benchmark(RunConfig(suite=suite.path, model=model, out=work / "results" / name,
                                                  cache_dir=work / "cache", tracker=tracker, progress=False))
        summaries[name]["wall_s"] = time.perf_counter() - tick
    return summaries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suites", nargs="+", type=Path)
    parser.add_argument("--tracker", help="point tracker (default: the default tracker)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--markdown", action="store_true", help="print the docs table")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    report = []
    for suite_path in args.suites:
        with tempfile.TemporaryDirectory(prefix="pose-accuracy-") as tmp:
            summaries = score_suite(suite_path, Path(tmp), args.tracker)
        entry = {"suite": next(iter(summaries.values()))["suite"]["suite_version"], "path": str(suite_path),
                 "tracker": next(iter(summaries.values()))["tracker"]["tracker"], "models": {}}
        for name, summary in summaries.items():
            groups = summary["metrics"]["groups"]
            entry["models"][name] = {
                "wall_s": summary["wall_s"], "failed_samples": summary["num_failed"],
                **{group: {key: groups.get(group, {}).get(key) for key in ("rotation_error_deg", "pose_fail_rate")}
                   | {"n": groups.get(group, {}).get("n", {}).get("rotation_error_deg"),
                      "ci95": groups.get(group, {}).get("ci95", {}).get("rotation_error_deg")}
                   for group in GROUPS},
                "per_family": {fam: agg.get("rotation_error_deg") for fam, agg in summary["metrics"]["by_family"].items()},
            }
        report.append(entry)
        print(f"{entry['suite']} ({suite_path}), tracker {entry['tracker']}:")
        for name, m in entry["models"].items():
            rot, lin = m["rotational"], m["translation_only"]
            print(f"  {name:<17} rotational {_f(rot['rotation_error_deg'])} deg (n={rot['n']}, fail rate "
                  f"{_f(rot['pose_fail_rate'], 3)}), translation-only {_f(lin['rotation_error_deg'])} deg, "
                  f"{m['wall_s']:.0f} s; per family: "
                  + ", ".join(f"{fam} {_f(v)}" for fam, v in m["per_family"].items()), flush=True)
    if args.markdown:
        print("\n| suite | " + " | ".join(f"{m} rotational ° (fail rate)" for m in MODELS) + " | static / translate translation-only ° |")
        print("|---|" + "---|" * (len(MODELS) + 1))
        for e in report:
            cells = [f"{_f(e['models'][m]['rotational']['rotation_error_deg'])} "
                     f"({_f(e['models'][m]['rotational']['pose_fail_rate'], 3)})" for m in MODELS]
            lin = " / ".join(_f(e["models"][m]["translation_only"]["rotation_error_deg"]) for m in ("static", "translate"))
            print(f"| {e['suite']} | " + " | ".join(cells) + f" | {lin} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def _f(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
