"""``posetraj app`` in a real headless browser (the system Chromium driven by playwright): clicks on the image
draw trajectories, Generate shows a video of the right frame count with the tiny random PoseTraj and with a
baseline, Render shows a tiny draft render along the drawn path, bad inputs show their messages (no stuck
spinner, the server keeps serving), JSON import / export, localhost binding and SIGTERM."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("torch")

from common.clip_format import load_clip  # noqa: E402
from common.trajectories import Trajectories, rescale, write_trajectory_json  # noqa: E402
from common.video import read_video  # noqa: E402
from posetraj.commands.main import main  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.torch,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TESTS = Path(__file__).resolve().parent
EXAMPLE_SIZE = (288, 192)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app as its users start it (``posetraj app``) with a tiny random SVD + ControlNet."""
    root = tmp_path_factory.mktemp("app")
    assert main(["init-tiny", str(root / "svd"), "--controlnet", str(root / "cn"), "--num-frames", "8"]) == 0
    catalog = ["--catalog-dir", str(root / "catalog")]  # the built-in models as a catalog's train split
    assert main(["catalog", "build", *catalog, "--no-objaverse", "--workers", "1", "--no-progress"]) == 0
    assert main(["catalog", "split", *catalog]) == 0
    port = _free_port()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(root / "gradio"), "GRADIO_ANALYTICS_ENABLED": "False",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    log = open(root / "app.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "posetraj", "app", "--port", str(port), "--svd", str(root / "svd"), "--controlnet",
         str(root / "cn"), "--out", str(root / "out"), "--catalog", str(root / "catalog"), "--catalog-split", "train"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180
    while "Running on local URL" not in (root / "app.log").read_text():
        assert process.poll() is None, (root / "app.log").read_text()
        assert time.monotonic() < deadline, "the app did not start within 180 s"
        time.sleep(0.2)
    yield {"url": f"http://127.0.0.1:{port}", "port": port, "process": process, "root": root}
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(app, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(60_000)
    page.goto(app["url"])
    page.wait_for_selector("#example")
    yield page
    page.close()


def _open_example(page, name: str) -> None:
    page.click("#example input")
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Ready')")
    page.wait_for_selector("#canvas img")


def _click(page, points) -> None:
    """Click image pixels (x, y) of the canvas: Gradio maps a click to round((client - offset) / scale)."""
    for x, y in points:
        before = page.locator("#points textarea").input_value()
        page.wait_for_function("() => { const i = document.querySelector('#canvas img'); "
                               "return i !== null && i.complete && i.naturalWidth > 0; }")
        geometry = page.evaluate("""() => { const img = document.querySelector('#canvas img');
            const r = img.getBoundingClientRect();
            return [r.width, r.height, img.naturalWidth, img.naturalHeight]; }""")
        width, height, natural_w, natural_h = geometry
        scale = min(width / natural_w, height / natural_h, 1.0)
        offset_x, offset_y = (width - natural_w * scale) / 2, (height - natural_h * scale) / 2
        page.locator("#canvas img").click(position={"x": offset_x + x * scale, "y": offset_y + y * scale})
        page.wait_for_function("(before) => document.querySelector('#points textarea').value !== before", arg=before)


def _set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number], #{elem_id} input:not([type]), #{elem_id} textarea").first
    box.fill(str(value))
    box.press("Tab")


def _press(page, button: str, outcome: str, timeout_s: float = 240, progress: str | None = None) -> str:
    """Click a button and wait for the status line to start with ``outcome`` (or "Error"); return it. With
    ``progress``, first wait for the progress display to show that text."""
    page.evaluate("() => { document.querySelector('#status').dataset.seen = document.querySelector('#status').innerText; }")
    page.click(f"#{button}")
    if progress is not None:
        page.wait_for_function("""(text) => { const e = document.querySelector('#status .progress-level-inner');
                                              return e !== null && e.innerText.includes(text); }""", arg=progress)
    page.wait_for_function(
        """() => { const s = document.querySelector('#status'); const t = s.innerText.trim();
                   return t !== s.dataset.seen && !t.includes('%') && /^(Generated|Rendered|Suite|Exported|Imported|Error|Drawing)/.test(t); }""",
        timeout=timeout_s * 1000)
    text = page.locator("#status").inner_text().strip()
    spinning = page.evaluate("""() => ['#status', '#video', '#overlay', '#downloads'].map(
        id => document.querySelectorAll(id + ' [data-testid=status-tracker]:not(.hide)').length)""")
    assert spinning == [0, 0, 0, 0], f"a progress display is still shown after {text!r}"
    assert text.startswith(outcome), text
    return text


def _video(page, elem_id: str, tmp_path: Path) -> np.ndarray:
    src = page.locator(f"#{elem_id} video").get_attribute("src")
    path = tmp_path / f"{elem_id}-{time.monotonic_ns()}.mp4"
    path.write_bytes(page.request.get(src).body())
    return read_video(path)


def _download(page, name: str) -> bytes:
    link = page.locator(f'#downloads a[download="{name}"]')
    return page.request.get(link.get_attribute("href")).body()


def test_generate_with_the_tiny_posetraj_and_with_a_baseline(page, tmp_path):
    _open_example(page, "car")
    clicks = [(80, 150), (150, 100), (230, 140)]
    _click(page, clicks)
    assert page.locator("#points textarea").input_value() == "1: (80, 150) → (150, 100) → (230, 140)"
    _set_number(page, "frames", 6)
    for elem_id, value in (("width", 64), ("height", 64), ("steps", 2), ("fps", 7), ("motion", 100)):
        _set_number(page, elem_id, value)
    status = _press(page, "generate", "Generated", progress="%")  # the progress display shows the stage
    assert "6 frames, 64x64" in status
    assert _video(page, "video", tmp_path).shape == (6, 64, 64, 3)
    import av

    with av.open(io.BytesIO(_download(page, "video.mp4"))) as container:
        assert container.streams.video[0].average_rate == 7  # the fps id typed in the page
    assert _video(page, "overlay", tmp_path).shape == (6, 64, 64, 3)
    drawn = json.loads(_download(page, "trajectories.json"))
    assert list(drawn) == ["1"] and len(drawn["1"]) == 6 and drawn["1"][0] == [80.0, 150.0]

    page.click("#new-trajectory")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('drawing trajectory 2')")
    _click(page, [(40, 60), (70, 30)])
    assert page.locator("#points textarea").input_value().splitlines()[1] == "2: (40, 60) → (70, 30)"
    page.locator("#model-kind label", has_text="Benchmark adapter").click()
    page.fill("#adapter textarea, #adapter input", "translate")
    status = _press(page, "generate", "Generated")
    assert "6 frames, 288x192" in status
    video = _video(page, "video", tmp_path)
    assert video.shape == (6, 192, 288, 3)
    assert sorted(json.loads(_download(page, "trajectories.json"))) == ["1", "2"]


def test_bad_inputs_show_their_messages_and_the_server_keeps_serving(page, tmp_path):
    _open_example(page, "chair")
    _click(page, [(100, 100)])
    assert "trajectory 1 has one point: click at least two points" in _press(page, "generate", "Error")
    _click(page, [(180, 120)])
    page.fill("#svd textarea, #svd input", "/nonexistent/svd")
    assert "missing weights: the SVD folder /nonexistent/svd does not exist" in _press(page, "generate", "Error")
    page.locator("#model-kind label", has_text="Benchmark adapter").click()
    page.fill("#adapter textarea, #adapter input", "app_models:raising")
    assert ("model 'app_models:raising' raised RuntimeError: this model always fails"
            in _press(page, "generate", "Error"))
    page.fill("#adapter textarea, #adapter input", "app_models:short")
    assert "generated video has 13 frames, expected 14" in _press(page, "generate", "Error")
    page.fill("#adapter textarea, #adapter input", "benchmark.baselines:static_frames")
    assert "14 frames" in _press(page, "generate", "Generated")  # the same server, still serving
    assert _video(page, "video", tmp_path).shape[0] == 14
    page.click("#undo")
    page.wait_for_function("() => !document.querySelector('#points textarea').value.includes('→')")
    assert "trajectory 1 has one point" in _press(page, "generate", "Error")


def test_render_mode_renders_the_object_along_the_drawn_path(page, app, tmp_path):
    pytest.importorskip("bpy")
    _open_example(page, "boat")
    clicks = [(100, 120), (150, 100), (200, 120)]
    _click(page, clicks)
    page.get_by_role("tab", name="Render").click()
    assert page.locator("#asset input").input_value() == "builtin:boat"  # the example's model
    page.click("#pose-mode input")
    page.get_by_role("option", name="bank", exact=True).click()
    _set_number(page, "frames", 6)
    _set_number(page, "render-width", 96)
    _set_number(page, "samples", 2)
    status = _press(page, "render", "Rendered", progress="rendering with Blender")
    assert "6 frames, 96x64" in status
    assert _video(page, "video", tmp_path).shape == (6, 64, 96, 3)
    assert _video(page, "overlay", tmp_path).shape == (6, 64, 96, 3)
    clip_dir = Path(status.split("clip ", 1)[1].split(" (", 1)[0])
    clip = load_clip(clip_dir)
    assert clip.meta["asset"]["uid"] == "builtin-boat"
    assert clip.meta["trajectory"]["pose_mode"] == "bank" and clip.meta["trajectory"]["name"] == "spline"
    start = rescale(Trajectories.from_dict({"0": np.array(clicks, float)}, EXAMPLE_SIZE), clip.size).points[0]
    ground = clip.arrays("ground_2d")["ground_2d"]
    assert np.abs(ground[0] - start[0]).max() < 0.01 and np.abs(ground[-1] - start[-1]).max() < 0.01
    assert "(1 samples" in _press(page, "add-to-suite", "Suite")
    assert (app["root"] / "out" / "suite" / "suite.json").is_file()

    page.click("#clear")
    page.wait_for_function("() => document.querySelector('#points textarea').value.startsWith('no trajectory')")
    _click(page, [(4, 100), (60, 100)])  # the car would overhang the left edge
    catalog_car = str(app["root"] / "catalog" / "builtin" / "car.glb")
    page.click("#asset input")
    page.get_by_role("option", name=catalog_car, exact=True).click()  # a catalog asset, offered by --catalog
    error = _press(page, "render", "Error")
    assert "render failed: out_of_frame:" in error and "left edge" in error
    failure = json.loads(next((app["root"] / "out" / "clips" / "failures").glob("car_spline_*.json")).read_text())
    assert failure["asset"] == catalog_car


def test_upload_and_trajectory_json_import_and_export(page, tmp_path):
    from PIL import Image

    Image.fromarray(np.full((90, 160, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    page.locator("#upload input[type=file]").set_input_files(str(tmp_path / "photo.png"))
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Ready: 160x90 image')")
    _click(page, [(10, 80), (150, 10)])
    assert page.locator("#points textarea").input_value() == "1: (10, 80) → (150, 10)"
    page.click("#undo")  # then quick clicks (100 ms apart), none waiting for the last: each one counts
    for x in (20, 40, 60, 80, 100):
        page.wait_for_timeout(100)
        page.locator("#canvas img").click(position={"x": x, "y": 50})
    page.wait_for_function("() => (document.querySelector('#points textarea').value.match(/→/g) || []).length >= 5")
    page.wait_for_timeout(500)
    assert page.locator("#points textarea").input_value() == (
        "1: (10, 80) → (20, 50) → (40, 50) → (60, 50) → (80, 50) → (100, 50)")
    _open_example(page, "plane")
    tracks = {"a": np.stack([np.linspace(20, 200, 9), np.linspace(150, 40, 9)], axis=1),
              "b": np.stack([np.linspace(250, 150, 9), np.full(9, 60.0)], axis=1)}
    source = write_trajectory_json(tmp_path / "in.json", Trajectories.from_dict(tracks, EXAMPLE_SIZE))
    page.locator("#import input[type=file]").set_input_files(str(source))
    page.wait_for_function("() => document.querySelector('#status').innerText.startsWith('Imported')")
    assert "[from file]" in page.locator("#points textarea").input_value()
    assert page.locator("#frames input[type=number]").input_value() == "9"
    _press(page, "export", "Exported")
    href = page.locator('#exported a[download="trajectories.json"]').get_attribute("href")
    exported = json.loads(page.request.get(href).body())
    assert sorted(exported) == ["1", "2"]
    assert np.abs(np.array(exported["1"]) - tracks["a"]).max() < 1e-6
    assert np.abs(np.array(exported["2"]) - tracks["b"]).max() < 1e-6


def test_the_app_listens_on_localhost_only(app):
    listening = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) == app["port"]:
            listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, not 0.0.0.0


def _renders_of(root: Path) -> list[int]:
    """Process ids of ``posetraj render`` children writing under the app's ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"render" in command and any(str(root).encode() in part for part in command) and b"--clip-id" in command:
            found.append(int(entry.name))
    return found


def test_sigterm_stops_the_app_and_its_render(app, page):
    """Last test of the module: SIGTERM in the middle of a render ends the render and then the server."""
    process = app["process"]
    if importlib.util.find_spec("bpy") is not None:
        _open_example(page, "car")
        _click(page, [(120, 120), (170, 110)])
        page.get_by_role("tab", name="Render").click()
        _set_number(page, "frames", 64)
        _set_number(page, "samples", 4096)  # minutes of path tracing: still running when the signal comes
        page.click("#render")
        page.wait_for_function("""() => { const e = document.querySelector('#status .progress-level-inner');
                                          return e !== null && e.innerText.includes('rendering with Blender'); }""")
        deadline = time.monotonic() + 60
        while not _renders_of(app["root"]):
            assert time.monotonic() < deadline, "no render process found"
            time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while _renders_of(app["root"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _renders_of(app["root"]) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", app["port"]), timeout=2).close()
