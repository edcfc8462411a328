"""The tracker interface: registry, defaults, input validation, the oracle, light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.trackers import TRACKER_NAMES, TrackResult, create_tracker, default_tracker_name
from benchmark.trackers.lk import LKConfig
from benchmark.trackers.oracle import OracleConfig

REPO = Path(__file__).resolve().parent.parent


def test_registry_names_configs_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(TRACKER_NAMES) == {"cotracker3-offline", "cotracker3-online", "lk", "oracle"}
    with pytest.raises(ValueError, match="unknown tracker 'raft'"):
        create_tracker("raft")
    lk = create_tracker("lk", LKConfig(window_px=15), fb_threshold_px=0.5)
    assert lk.name == "lk" and lk.describe()["settings"] == {**LKConfig().__dict__, "window_px": 15, "fb_threshold_px": 0.5}
    with pytest.raises(TypeError, match="takes a LKConfig"):
        create_tracker("lk", OracleConfig())
    monkeypatch.delenv("POSETRAJ_COTRACKER3_CHECKPOINT", raising=False)
    assert default_tracker_name() == "lk"
    assert default_tracker_name("/models/scaled_offline.pth") == "cotracker3-offline"
    with pytest.raises(ValueError, match="set POSETRAJ_COTRACKER3_CHECKPOINT"):
        create_tracker("cotracker3-offline")
    monkeypatch.setenv("POSETRAJ_COTRACKER3_CHECKPOINT", "/nonexistent/scaled_offline.pth")
    assert default_tracker_name() == "cotracker3-offline"


def test_checkpoint_from_environment_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    missing = tmp_path / "scaled_online.pth"
    monkeypatch.setenv("POSETRAJ_COTRACKER3_ONLINE_CHECKPOINT", str(missing))
    with pytest.raises(ValueError, match=f"checkpoint {missing} does not exist"):
        create_tracker("cotracker3-online")


def test_video_and_query_validation() -> None:
    lk = create_tracker("lk")
    video = np.zeros((3, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        lk.track(video[..., 0], np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        lk.track(np.full((3, 16, 16, 3), 300.0), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="not \\[0, 1\\]"):
        lk.track(np.full((3, 16, 16, 3), 0.5), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="query 1 has frame 1.5"):
        lk.track(video, np.array([[0, 1, 1], [1.5, 2, 2]]))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        lk.track(video, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="visibility"):
        TrackResult(np.zeros((3, 2, 2), np.float32), np.zeros((3, 1), bool))


def test_oracle_matches_queries_to_annotated_points() -> None:
    tracks = np.zeros((4, 3, 2), np.float32)
    tracks[:, :, 0] = np.arange(4)[:, None] + np.array([0, 10, 20])
    tracks[:, :, 1] = 5
    visible = np.ones((4, 3), bool)
    visible[3, 2] = False
    oracle = create_tracker("oracle", tracks_2d=tracks, tracks_visible=visible, tolerance_px=0.5)
    queries = np.array([[2, 22.3, 5.0], [0, 0.0, 5.0]])
    result = oracle.track(np.zeros((4, 8, 32, 3), np.uint8), queries)
    np.testing.assert_array_equal(result.tracks, tracks[:, [2, 0]])
    np.testing.assert_array_equal(result.visibility, visible[:, [2, 0]])
    with pytest.raises(ValueError, match=r"query 0 \(t=1, x=5.00, y=5.00\) matches no annotated point within 0.5 px"):
        oracle.track(np.zeros((4, 8, 32, 3), np.uint8), np.array([[1, 5.0, 5.0]]))
    with pytest.raises(ValueError, match="video has 2 frames, annotations 4"):
        oracle.track(np.zeros((2, 8, 32, 3), np.uint8), queries[:0])
    with pytest.raises(ValueError, match="needs clip="):
        create_tracker("oracle")


def test_oracle_reads_a_clip(tmp_path: Path) -> None:
    from benchmark.synthetic_clips import SyntheticClipConfig, render_synthetic_clip
    from common.clip_format import load_clip

    path = render_synthetic_clip(tmp_path, "c", SyntheticClipConfig(num_frames=5, seed=1))
    clip = load_clip(path)
    tracks, visible = clip.annotations["tracks_2d"], clip.annotations["tracks_visible"]
    first = int(np.argmax(visible[:, 7]))
    oracle = create_tracker("oracle", clip=str(path))
    result = oracle.track(clip.frames(), np.array([[first, *tracks[first, 7]]]))
    np.testing.assert_array_equal(result.tracks[:, 0], tracks[:, 7])
    assert oracle.describe()["settings"]["clip"] == str(path)


def test_importing_the_package_is_light() -> None:
    code = "import sys, benchmark.trackers, benchmark.tapvid, benchmark.tracker_quality; print('torch' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
