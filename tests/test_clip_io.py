"""Clip directories: atomic writes, round trips and clear errors on bad clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from common.clip_format import ClipFormatError, is_complete_clip, iter_clips, load_clip, write_clip
from common.video import read_video, write_video

T, H, W, N = 3, 16, 24, 5


def _annotations() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    eye = np.repeat(np.eye(4)[None], T, axis=0)
    return {
        "schema_version": np.int64(1),
        "K": np.eye(3), "cam_w2c": eye, "obj_to_world": eye, "bbox_extents": np.ones(3),
        "bbox_corners_world": rng.random((T, 8, 3)), "bbox_corners_2d": rng.random((T, 8, 2)),
        "center_2d": rng.random((T, 2)), "depth": rng.random((T, H, W)).astype(np.float32),
        "mask": np.zeros((T, H, W), np.uint16), "tracks_2d": rng.random((T, N, 2)).astype(np.float32),
        "tracks_visible": np.ones((T, N), bool), "tracks_xyz": rng.random((N, 3)).astype(np.float32),
    }


def _frames() -> np.ndarray:
    frames = np.zeros((T, H, W, 3), np.uint8)
    for t in range(T):
        frames[t, :, : 8 * (t + 1)] = 200
    return frames


def _write(root, clip_id="clip", **kwargs):
    meta = {"fps": 5.0, "num_frames": T, "width": W, "height": H}
    return write_clip(root, clip_id, frames=_frames(), annotations=_annotations(), meta=meta, **kwargs)


def test_round_trip(tmp_path):
    clip_dir = _write(tmp_path, write_png=True)
    assert is_complete_clip(clip_dir) and iter_clips(tmp_path) == [clip_dir]
    clip = load_clip(clip_dir)
    assert clip.meta["schema_version"] == 1 and clip.meta["clip_id"] == "clip"
    assert clip.size == (W, H) and clip.num_frames == T
    for key, value in _annotations().items():
        assert np.array_equal(clip.annotations[key], value), key
    assert np.array_equal(clip.frames(), _frames())  # lossless PNGs are preferred
    decoded = read_video(clip_dir / "rgb.mp4")
    assert decoded.shape == (T, H, W, 3)
    assert np.abs(decoded.astype(int) - _frames()).mean() < 8
    marker = json.loads((clip_dir / "DONE").read_text())
    assert set(marker["files"]) >= {"rgb.mp4", "meta.json", "annotations.npz", "frames/000000.png"}
    assert not list(tmp_path.glob(".clip.tmp-*"))


def test_read_video_matches_pyav_per_frame_conversion(tmp_path):
    """read_video shares one colour converter across frames; the pixels are PyAV's own rgb24 ones."""
    import av

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    write_video(tmp_path / "v.mp4", frames, fps=5.0)
    with av.open(str(tmp_path / "v.mp4")) as container:
        expected = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert np.array_equal(read_video(tmp_path / "v.mp4"), expected)


def test_existing_clip_is_kept(tmp_path):
    clip_dir = _write(tmp_path)
    before = (clip_dir / "DONE").read_text()
    with pytest.raises(FileExistsError, match="complete clip already exists"):
        _write(tmp_path)
    assert (clip_dir / "DONE").read_text() == before
    _write(tmp_path, overwrite=True)
    assert is_complete_clip(clip_dir)


def test_a_clip_finished_by_another_worker_meanwhile_is_kept(tmp_path, monkeypatch):
    """Two farm workers rendering the same clip: the one that publishes second keeps the first's copy."""
    import common.clip_format as clip_io

    real_write_video = clip_io.write_video
    other_meta = {"fps": 5.0, "num_frames": T, "width": W, "height": H, "writer": "other worker"}

    def write_video_while_another_worker_finishes(path, frames, fps):
        monkeypatch.setattr(clip_io, "write_video", real_write_video)
        write_clip(tmp_path, "clip", frames=_frames(), annotations=_annotations(), meta=other_meta)
        real_write_video(path, frames, fps)

    monkeypatch.setattr(clip_io, "write_video", write_video_while_another_worker_finishes)
    clip_dir = _write(tmp_path, clip_id="clip")
    assert is_complete_clip(clip_dir) and load_clip(clip_dir).meta["writer"] == "other worker"
    assert [p.name for p in tmp_path.iterdir()] == ["clip"]  # our temporary copy is gone


def test_failed_write_leaves_nothing_that_looks_complete(tmp_path):
    bad_frames = np.zeros((T, H, W + 1, 3), np.uint8)  # odd width: H.264 refuses it
    with pytest.raises(ValueError, match="even"):
        write_clip(tmp_path, "bad", frames=bad_frames, annotations=_annotations(),
                   meta={"fps": 5.0, "num_frames": T, "width": W + 1, "height": H})
    assert not (tmp_path / "bad").exists()
    assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_problem(tmp_path):
    clip_dir = _write(tmp_path)
    (clip_dir / "DONE").unlink()
    with pytest.raises(ClipFormatError, match="no DONE marker"):
        load_clip(clip_dir)
    assert iter_clips(tmp_path) == []

    clip_dir = _write(tmp_path, "v2")
    meta = json.loads((clip_dir / "meta.json").read_text())
    meta["schema_version"] = 2
    (clip_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ClipFormatError, match="schema version 2"):
        load_clip(clip_dir)

    clip_dir = _write(tmp_path, "short")
    arrays = _annotations()
    arrays["tracks_2d"] = arrays["tracks_2d"][:, :3]
    np.savez(clip_dir / "annotations.npz", **arrays)
    with pytest.raises(ClipFormatError, match="tracks_2d"):
        load_clip(clip_dir).annotations

    clip_dir = _write(tmp_path, "corrupt")
    (clip_dir / "rgb.mp4").write_bytes(b"not a video")
    with pytest.raises(ClipFormatError, match="cannot decode"):
        load_clip(clip_dir).frames()


def test_write_video_validates_input(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.float32), 5.0)
