"""The Lucas-Kanade fallback tracker on synthetic videos with exact ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.tapvid import first_visible_queries, tapvid_metrics
from benchmark.trackers import create_tracker
from benchmark.trackers.synthetic import moving_patch_video


def _static(queries: np.ndarray, num_frames: int) -> np.ndarray:
    return np.repeat(queries[None, :, 1:], num_frames, axis=0)


def test_lk_follows_a_moving_rotating_patch() -> None:
    clip = moving_patch_video(num_frames=12, height=96, width=128, num_points=48, seed=0)
    queries, used = first_visible_queries(clip.tracks, clip.visible)
    result = create_tracker("lk").track(clip.video, queries)
    gt, gt_visible = clip.tracks[:, used], clip.visible[:, used]
    lk = tapvid_metrics(queries[:, 0], gt, gt_visible, result.tracks, result.visibility)
    assert lk.aj > 0.7 and lk.delta_avg > 0.85 and lk.oa > 0.9
    # on the moving half (patch points) a tracker that does not move scores far lower
    moving = slice(0, 24)
    lk_moving = tapvid_metrics(queries[moving, 0], gt[:, moving], gt_visible[:, moving], result.tracks[:, moving], result.visibility[:, moving])
    still = tapvid_metrics(
        queries[moving, 0], gt[:, moving], gt_visible[:, moving], _static(queries[moving], 12), np.ones((12, 24), bool)
    )
    assert lk_moving.delta_avg > still.delta_avg + 0.5


def test_lk_tracks_backward_from_a_later_query_frame() -> None:
    clip = moving_patch_video(num_frames=10, seed=1)
    patch = np.arange(clip.tracks.shape[1] // 2)
    queries = np.concatenate([np.full((len(patch), 1), 6.0), clip.tracks[6, patch]], axis=1).astype(np.float32)
    result = create_tracker("lk").track(clip.video, queries)
    errors = np.linalg.norm(result.tracks - clip.tracks[:, patch], axis=-1)
    assert np.median(errors[:6]) < 0.5 and np.median(errors[7:]) < 0.5
    np.testing.assert_allclose(result.tracks[6], queries[:, 1:])
    assert result.visibility[6].all() and result.visibility[:6].mean() > 0.8


def test_forward_backward_check_flags_untrackable_points() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)  # no frame-to-frame correspondence
    queries = np.stack([np.zeros(30), rng.uniform(8, 56, 30), rng.uniform(8, 56, 30)], axis=1)
    result = create_tracker("lk").track(noise, queries)
    assert result.visibility[0].all() and result.visibility[1:].mean() < 0.3
    assert result.confidence is None and result.tracks.dtype == np.float32


def test_lk_gives_the_same_tracks_for_uint8_and_float_videos(monkeypatch: pytest.MonkeyPatch) -> None:
    clip = moving_patch_video(num_frames=8, height=64, width=96, num_points=20, seed=3)
    queries, _ = first_visible_queries(clip.tracks, clip.visible)
    tracker = create_tracker("lk")
    seen: list[np.dtype] = []
    inner = tracker._track
    monkeypatch.setattr(tracker, "_track", lambda video, q: (seen.append(video.dtype), inner(video, q))[1])
    from_uint8 = tracker.track(clip.video, queries)
    from_float = tracker.track(clip.video.astype(np.float32), queries)
    assert seen == [np.uint8, np.float32]  # a uint8 video reaches LK without a float copy
    np.testing.assert_array_equal(from_uint8.tracks, from_float.tracks)
    np.testing.assert_array_equal(from_uint8.visibility, from_float.visibility)


def test_lk_on_a_rendered_like_clip_beats_a_static_tracker(tmp_path: Path) -> None:
    """A clip in our clip format (box moving and turning, occlusions from the depth test)."""
    from benchmark.synthetic_clips import SyntheticClipConfig, render_synthetic_clip
    from benchmark.tracker_quality import clip_queries, read_dataset, score

    render_synthetic_clip(tmp_path, "box", SyntheticClipConfig(width=128, height=96, num_frames=10, seed=3))
    (clip,) = read_dataset(tmp_path)
    queries, used = clip_queries(clip, 96, seed=0, index=0)
    result = create_tracker("lk").track(clip.frames, queries)
    lk = score(clip, queries, used, result.tracks, result.visibility, native=True)
    still = score(clip, queries, used, _static(queries, 10), np.ones((10, len(used)), bool), native=True)
    assert lk.delta_avg > 2 * still.delta_avg and lk.aj > 2 * still.aj and lk.aj > 0.2


@pytest.mark.blender
def test_lk_on_a_blender_rendered_clip_beats_a_static_tracker(tmp_path: Path) -> None:
    """A real render (built-in car, draft preset). LK is weak on these flat-shaded assets, but well above
    a tracker that does not move."""
    pytest.importorskip("bpy", reason="bpy is installed by the 'render' extra")
    from benchmark.tracker_quality import clip_queries, read_dataset, score
    from render.pipeline import render_clip
    from render.spec import make_clip_spec

    spec = make_clip_spec("builtin:car", "line", seed=0, preset="draft", num_frames=8, width=128, height=96, samples=4)
    (clip,) = read_dataset(render_clip(spec, tmp_path))
    queries, used = clip_queries(clip, 128, seed=0, index=0)
    result = create_tracker("lk").track(clip.frames, queries)
    lk = score(clip, queries, used, result.tracks, result.visibility, native=True)
    still = score(clip, queries, used, _static(queries, 8), np.ones((8, len(used)), bool), native=True)
    assert lk.delta_avg > 1.8 * still.delta_avg and lk.aj > 1.5 * still.aj
