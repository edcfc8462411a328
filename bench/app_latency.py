"""Click-to-video time of ``posetraj app`` in a headless browser: the tiny random PoseTraj, the translate
baseline, and a draft render of the drawn path.

Run from the repository root with the project's environment (needs the app and dev extras, Chromium and,
for render mode, bpy)::

    .venv/bin/python bench/app_latency.py --runs 3
    .venv/bin/python bench/app_latency.py --runs 1 --screenshot docs/app.png

It starts ``posetraj app`` with a tiny random SVD + ControlNet (``posetraj init-tiny``), opens the ``car``
example in Chromium, clicks a three-point trajectory and times, in the page, from the click on Generate /
Render to the moment the new video can play (its ``<video>`` reports data for the current frame). Defaults:
PoseTraj at 64x64 (the tiny model's size; SVD's 576x320 costs minutes per video for the random tiny model
on a CPU, which measures the model, not the app), 14 frames, 25 steps; translate at the image's 288x192;
render mode at the draft preset's 288x192 and 16 samples, 14 frames. The first PoseTraj request also loads
the model and is reported on its own ("cold"). The app runs with one torch thread (``--torch-threads``).
Numbers are wall seconds on whatever machine runs it; the results and the command are recorded in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CLICKS = [(80, 150), (150, 100), (230, 140)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_app(work: Path, port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_TEMP_DIR": str(work / "gradio"), "GRADIO_ANALYTICS_ENABLED": "False",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log = open(work / "app.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "posetraj", "app", "--port", str(port), "--svd", str(work / "svd"), "--controlnet",
         str(work / "cn"), "--out", str(work / "out")], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + 180
    while "Running on local URL" not in (work / "app.log").read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the app did not start:\n{(work / 'app.log').read_text()}")
        time.sleep(0.2)
    return process


def _timed(page, button: str, timeout_s: float) -> tuple[float, str]:
    """Seconds from clicking ``button`` to a playable new video, measured in the page; and the status line."""
    page.evaluate("""() => { window.__before = document.querySelector('#video video')?.src || '';
                             window.__t0 = performance.now(); }""")
    page.click(f"#{button}")
    page.wait_for_function(
        """() => { const v = document.querySelector('#video video');
                   const s = document.querySelector('#status').innerText;
                   if (s.startsWith('Error')) return true;
                   if (v && v.src && v.src !== window.__before && v.readyState >= 2) {
                       window.__t1 = window.__t1 || performance.now(); return true; }
                   return false; }""", timeout=timeout_s * 1000)
    status = page.locator("#status").inner_text().strip()
    if status.startswith("Error"):
        raise SystemExit(f"{button}: {status}")
    return page.evaluate("() => { const d = (window.__t1 - window.__t0) / 1000; window.__t1 = 0; return d; }"), status


def _move_last_point(page, run: int) -> None:
    """Redraw the last point one pixel further left per run: every request then has new output (Gradio serves
    identical files under one content-hashed URL, so an identical video would not reload)."""
    before = page.locator("#points textarea").input_value()
    page.click("#undo")
    page.wait_for_function("(b) => document.querySelector('#points textarea').value !== b", arg=before)
    x, y = CLICKS[-1]
    _click(page, x - run, y)
    drawn = page.locator("#points textarea").input_value()
    if drawn.count("→") != len(CLICKS) - 1:
        raise SystemExit(f"the drawing lost a point: {drawn}")


def _click(page, x: int, y: int) -> None:
    before = page.locator("#points textarea").input_value()
    page.locator("#canvas img").click(position={"x": x, "y": y})
    page.wait_for_function("(b) => document.querySelector('#points textarea').value !== b", arg=before)


def _set(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number], #{elem_id} textarea, #{elem_id} input").first
    box.fill(str(value))
    box.press("Tab")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed requests per mode (after the cold one)")
    parser.add_argument("--frames", type=int, default=14)
    parser.add_argument("--size", type=int, nargs=2, default=(64, 64), metavar=("W", "H"),
                        help="PoseTraj's generation size")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--torch-threads", type=int, default=1, help="OMP_NUM_THREADS of the app")
    parser.add_argument("--render-samples", type=int, default=16)
    parser.add_argument("--no-render", action="store_true", help="skip render mode (no bpy)")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the page after the last render")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, "-m", "posetraj", "init-tiny", str(work / "svd"), "--controlnet",
                        str(work / "cn")], check=True, capture_output=True, cwd=ROOT)
        port = _free_port()
        app = _start_app(work, port, args.torch_threads)
        results: dict[str, list[float]] = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1150})
                page.set_default_timeout(600_000)
                page.goto(f"http://127.0.0.1:{port}")
                page.click("#example input")
                page.get_by_role("option", name="car", exact=True).click()
                page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Ready')")
                for x, y in CLICKS:
                    _click(page, x, y)
                _set(page, "frames", args.frames)
                for elem_id, value in (("width", args.size[0]), ("height", args.size[1]), ("steps", args.steps)):
                    _set(page, elem_id, value)
                cold, status = _timed(page, "generate", 600)
                results["posetraj_tiny_cold"] = [cold]
                print(f"posetraj tiny, cold: {cold:.2f} s ({status})", file=sys.stderr)
                results["posetraj_tiny"] = []
                for run in range(1, args.runs + 1):
                    _move_last_point(page, run)
                    seconds, status = _timed(page, "generate", 600)
                    results["posetraj_tiny"].append(seconds)
                    print(f"posetraj tiny: {seconds:.2f} s ({status})", file=sys.stderr)
                page.locator("#model-kind label", has_text="Benchmark adapter").click()
                _set(page, "adapter", "translate")
                results["translate"] = []
                for run in range(args.runs + 1, 2 * args.runs + 1):
                    _move_last_point(page, run)
                    seconds, status = _timed(page, "generate", 600)
                    results["translate"].append(seconds)
                    print(f"translate: {seconds:.2f} s ({status})", file=sys.stderr)
                if not args.no_render:
                    page.get_by_role("tab", name="Render").click()
                    _set(page, "samples", args.render_samples)
                    results["render_draft"] = []
                    for run in range(args.runs):
                        _move_last_point(page, 2 * args.runs + run + 1)  # a new clip (and video) each time
                        seconds, status = _timed(page, "render", 900)
                        results["render_draft"].append(seconds)
                        print(f"draft render: {seconds:.2f} s ({status})", file=sys.stderr)
                if args.screenshot:
                    page.wait_for_timeout(1500)
                    page.screenshot(path=str(args.screenshot), full_page=True)
                browser.close()
        finally:
            app.send_signal(signal.SIGTERM)
            app.wait(timeout=60)
    summary = {name: {"runs": len(values), "median_s": round(statistics.median(values), 2),
                      "min_s": round(min(values), 2), "max_s": round(max(values), 2)}
               for name, values in results.items()}
    print(f"{'mode':<20} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, row in summary.items():
        print(f"{name:<20} {row['runs']:>4} {row['median_s']:>9.2f} {row['min_s']:>7.2f} {row['max_s']:>7.2f}")
    if args.json:
        args.json.write_text(json.dumps({"frames": args.frames, "size": list(args.size), "steps": args.steps,
                                         "render_samples": args.render_samples,
                                         "results": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
