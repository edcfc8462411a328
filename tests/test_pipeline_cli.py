"""`posetraj init-tiny`, `posetraj generate` end to end, and the benchmark adapter, on tiny models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import PIL.Image  # noqa: E402

from posetraj import adapters  # noqa: E402
from posetraj.commands.main import main  # noqa: E402
from common.video import read_video  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    assert main(["init-tiny", str(root / "svd"), "--controlnet", str(root / "cn"), "--num-frames", "8"]) == 0
    return root


def test_init_tiny_writes_diffusers_layout(tiny, capsys):
    svd = tiny / "svd"
    for part in ("unet", "vae", "image_encoder", "scheduler", "feature_extractor"):
        assert (svd / part).is_dir()
    assert (tiny / "cn" / "diffusion_pytorch_model.safetensors").is_file()
    total = sum(p.stat().st_size for p in svd.rglob("*") if p.is_file())
    assert 1e6 < total < 20e6
    assert main(["init-tiny", str(svd)]) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err


def test_generate_from_a_clip_directory(tiny, tmp_path, capsys):
    image = tmp_path / "first.png"
    PIL.Image.fromarray(np.full((48, 80, 3), 120, np.uint8)).save(image)
    clip = tmp_path / "clip"
    clip.mkdir()
    center = np.stack([np.linspace(5, 70, 10), np.linspace(40, 8, 10)], axis=1)
    np.savez(clip / "annotations.npz", schema_version=np.int64(1), center_2d=center)
    (clip / "meta.json").write_text(json.dumps({"schema_version": 1, "width": 80, "height": 48}))
    out = tmp_path / "out" / "video.mp4"
    code = main(["generate", "--image", str(image), "--trajectory", str(clip), "--svd", str(tiny / "svd"),
                 "--controlnet", str(tiny / "cn"), "--out", str(out), "--width", "64", "--height", "64",
                 "--num-frames", "8", "--steps", "2", "--device", "cpu", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == 8 and summary["points"] == 1
    video = read_video(out)
    overlay = read_video(tmp_path / "out" / "video_overlay.mp4")
    assert video.shape == overlay.shape == (8, 64, 64, 3)
    assert np.abs(video.astype(int) - overlay.astype(int)).max() > 50  # the trajectory is drawn


def test_generate_from_real_drag_json_and_odd_sizes(tiny, tmp_path, shared_data):
    image = tmp_path / "first.png"
    PIL.Image.fromarray(np.zeros((72, 128, 3), np.uint8)).save(image)
    track = shared_data / "vipseg_cotracker_tracks" / "691_Licrf2MwB-k.json"
    out = tmp_path / "v.mp4"
    code = main(["generate", "--image", str(image), "--trajectory", str(track), "--trajectory-size", "1280x720",
                 "--svd", str(tiny / "svd"), "--out", str(out), "--overlay", str(tmp_path / "o.mp4"),
                 "--width", "72", "--height", "40", "--num-frames", "8", "--steps", "2", "--device", "cpu"])
    assert code == 0
    assert read_video(out).shape == (8, 40, 72, 3)
    assert read_video(tmp_path / "o.mp4").shape == (8, 40, 72, 3)


def test_generate_reports_bad_inputs(tiny, tmp_path, capsys):
    code = main(["generate", "--image", str(tmp_path / "none.png"), "--trajectory", "x.json", "--svd",
                 str(tiny / "svd"), "--out", str(tmp_path / "v.mp4")])
    assert code == 2 and "image not found" in capsys.readouterr().err
    image = tmp_path / "i.png"
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    (tmp_path / "t.json").write_text("{}")
    code = main(["generate", "--image", str(image), "--trajectory", str(tmp_path / "t.json"), "--svd",
                 str(tiny / "svd"), "--out", str(tmp_path / "v.mp4")])
    assert code == 2 and "non-empty" in capsys.readouterr().err


def test_benchmark_adapter(tiny, monkeypatch, tmp_path):
    monkeypatch.setattr(adapters, "_config", None)
    monkeypatch.setattr(adapters, "_pipe", None)
    monkeypatch.delenv("POSETRAJ_SVD", raising=False)
    image = np.full((48, 80, 3), 200, np.uint8)
    trajectories = {"1": np.stack([np.linspace(5, 60, 8), np.full(8, 20.0)], 1)}
    with pytest.raises(RuntimeError, match="POSETRAJ_SVD"):
        adapters.generate(image, trajectories, 8, 7)
    monkeypatch.setenv("POSETRAJ_SVD", str(tiny / "svd"))
    monkeypatch.setenv("POSETRAJ_CONTROLNET", str(tiny / "cn"))
    monkeypatch.setenv("POSETRAJ_SIZE", "64x64")
    monkeypatch.setenv("POSETRAJ_STEPS", "2")
    monkeypatch.setenv("POSETRAJ_DEVICE", "cpu")
    video = adapters.generate(image, trajectories, 8, 7)
    assert video.shape == (8, 48, 80, 3) and video.dtype == np.uint8
    adapters.configure(tiny / "svd", tiny / "cn", device="cpu", width=64, height=64, num_inference_steps=2)
    again = adapters.generate(image, np.asarray(trajectories["1"]), 8, 7)
    assert np.array_equal(video, again)
    # the model is conditioned on the fps id it was trained with (its config), not on the suite's fps (5);
    # fps_id / POSETRAJ_FPS_ID replace it
    trained = tmp_path / "cn_fps9"
    shutil.copytree(tiny / "cn", trained)
    config = json.loads((trained / "config.json").read_text())
    (trained / "config.json").write_text(json.dumps({**config, "fps_id": 9}))
    seen: list[int] = []
    pipe_call = type(adapters._pipe).__call__
    monkeypatch.setattr(type(adapters._pipe), "__call__", lambda self, *a, **k: (seen.append(k["fps"]), pipe_call(self, *a, **k))[1])
    adapters.generate(image, trajectories, 8, 5)
    adapters.configure(tiny / "svd", trained, device="cpu", width=64, height=64, num_inference_steps=2)
    adapters.generate(image, trajectories, 8, 5)
    adapters.configure(tiny / "svd", trained, device="cpu", width=64, height=64, num_inference_steps=2, fps_id=6)
    adapters.generate(image, trajectories, 8, 5)
    assert seen == [6, 9, 6]
    # the harness's cache key follows the weights and the settings
    keys = set()
    for folder, steps in ((tiny / "cn", 2), (trained, 2), (trained, 3)):
        adapters.configure(tiny / "svd", folder, device="cpu", width=64, height=64, num_inference_steps=steps)
        keys.add(adapters.generate.cache_key())
    assert len(keys) == 3
    monkeypatch.setenv("POSETRAJ_FPS_ID", "6")
    assert adapters._config_from_env().settings.fps_id == 6
