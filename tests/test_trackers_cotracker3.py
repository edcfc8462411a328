"""CoTracker3: parity with stored upstream outputs, checkpoint loading and errors, predictor conventions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmark.trackers import create_tracker  # noqa: E402
from benchmark.trackers.cotracker3.checkpoint import CheckpointError, deterministic_state_dict, load_weights  # noqa: E402
from benchmark.trackers.cotracker3.model import CoTracker3, CoTracker3Architecture  # noqa: E402
from benchmark.trackers.cotracker3.predictor import PredictorSettings, grid_queries, predict  # noqa: E402

pytestmark = pytest.mark.torch

FIXTURE = Path(__file__).parent / "fixtures" / "cotracker3" / "upstream_outputs.npz"


@pytest.fixture(scope="module")
def fixture() -> dict:
    with np.load(FIXTURE, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["meta"] = json.loads(str(arrays["meta"]))
    return arrays


def _video(meta: dict, frames: int) -> np.ndarray:
    rng = np.random.default_rng(meta["video_seed"])
    return rng.integers(0, 256, size=(frames, meta["height"], meta["width"], 3), dtype=np.uint8)


def _model(meta: dict, online: bool) -> CoTracker3:
    arch = CoTracker3Architecture(window_len=16 if online else 60, model_resolution=tuple(meta["model_resolution"]))
    model = CoTracker3(online, arch).eval()
    model.load_state_dict(deterministic_state_dict(model, meta["weight_seed"]), strict=True)
    return model


def _model_inputs(meta: dict, queries: np.ndarray, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    height, width = meta["model_resolution"]
    video = torch.from_numpy(_video(meta, frames)).float().permute(0, 3, 1, 2)
    video = torch.nn.functional.interpolate(video, (height, width), mode="bilinear", align_corners=True)[None]
    scaled = torch.from_numpy(queries).clone()[None]
    scaled[..., 1:] *= torch.tensor([(width - 1) / (meta["width"] - 1), (height - 1) / (meta["height"] - 1)])
    return video, scaled


@pytest.mark.parametrize("variant", ["offline", "online"])
def test_network_matches_upstream_fixture(fixture: dict, variant: str) -> None:
    meta = fixture["meta"]
    frames = meta[f"{variant}_frames"]
    model = _model(meta, online=variant == "online")
    video, queries = _model_inputs(meta, fixture["queries"], frames)
    with torch.no_grad():
        coords, vis, conf = model(video, queries, iters=meta["iters"])
    np.testing.assert_allclose(coords[0].numpy(), fixture[f"{variant}_model_coords"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(vis[0].numpy(), fixture[f"{variant}_model_vis_logits"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(conf[0].numpy(), fixture[f"{variant}_model_conf_logits"], atol=1e-4, rtol=0)


def test_offline_predictor_matches_upstream_fixture(fixture: dict) -> None:
    """Resize, support grid, backward tracking, query correction and the 0.9 threshold, end to end."""
    meta = fixture["meta"]
    tracker = create_tracker(
        "cotracker3-offline", random_seed=meta["weight_seed"], model_resolution=tuple(meta["model_resolution"])
    )
    result = tracker.track(_video(meta, meta["offline_frames"]), fixture["queries"])
    np.testing.assert_allclose(result.tracks, fixture["offline_predictor_tracks"], atol=1e-3, rtol=0)
    np.testing.assert_array_equal(result.visibility, fixture["offline_predictor_visible"])
    assert result.confidence is not None and result.confidence.shape == result.visibility.shape


def test_strict_checkpoint_loading_and_errors(tmp_path: Path) -> None:
    arch = CoTracker3Architecture(window_len=16, model_resolution=(32, 32))
    online = CoTracker3(True, arch)
    state = deterministic_state_dict(online, 3)
    path = tmp_path / "scaled_online.pth"
    torch.save(state, path)
    assert "updateformer.virual_tracks" in state and state["time_emb"].shape == (1, 16, 1110)
    assert len(state) == 188
    fresh = CoTracker3(True, arch)
    load_weights(fresh, path, "cotracker3-online")
    assert torch.equal(fresh.updateformer.virual_tracks, state["updateformer.virual_tracks"])

    offline = CoTracker3(False, CoTracker3Architecture(window_len=60, model_resolution=(32, 32)))
    with pytest.raises(CheckpointError, match=r"is cotracker3-online \(time_emb length 16\), expected cotracker3-offline \(60\)"):
        load_weights(offline, path, "cotracker3-offline")

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pth could not be read"):
        load_weights(fresh, truncated, "cotracker3-online")

    del state["corr_mlp.fc1.weight"]
    broken = tmp_path / "missing.pth"
    torch.save({"model": state}, broken)  # the {"model": ...} wrapper is unwrapped
    with pytest.raises(CheckpointError, match=r"1 missing keys \['corr_mlp.fc1.weight'\]"):
        load_weights(fresh, broken, "cotracker3-online")


def test_tracker_reports_checkpoint_and_batches(tmp_path: Path) -> None:
    arch = CoTracker3Architecture(window_len=60, model_resolution=(32, 32))
    path = tmp_path / "scaled_offline.pth"
    torch.save(deterministic_state_dict(CoTracker3(False, arch), 5), path)
    tracker = create_tracker("cotracker3-offline", checkpoint=str(path), model_resolution=(32, 32), iters=2)
    info = tracker.describe()
    assert info["tracker"] == "cotracker3-offline" and info["weights"] == str(path) and len(info["weights_sha256"]) == 64
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, (4, 24, 40, 3), dtype=np.uint8) for _ in range(2)]
    queries = np.array([[0, 4.0, 5.0], [2, 20.0, 10.0]], np.float32)
    batched = tracker.track_batch(videos, [queries, queries])
    single = tracker.track(videos[1], queries)
    np.testing.assert_allclose(batched[1].tracks, single.tracks, atol=1e-3)
    # the query frame returns the query itself, visible
    np.testing.assert_allclose(single.tracks[2, 1], [20.0, 10.0], atol=1e-5)
    assert single.visibility[0, 0] and single.visibility[2, 1]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tracker.track(videos[0].astype(np.float32) / 255.0, queries)
    with pytest.raises(ValueError, match="query 0 has frame 7"):
        tracker.track(videos[0], np.array([[7, 1.0, 1.0]], np.float32))


def test_query_chunks_and_bfloat16_stay_close() -> None:
    """Splitting queries into passes (memory bound) and bf16 autocast change results only slightly."""
    model = CoTracker3(False, CoTracker3Architecture(window_len=60, model_resolution=(32, 32))).eval()
    model.load_state_dict(deterministic_state_dict(model, 2), strict=True)
    video = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (1, 4, 3, 32, 32)).astype(np.float32))
    queries = grid_queries(3, 32, 32, 0, (32, 32))[None]
    whole = predict(model, video, queries, PredictorSettings(iters=2, support_grid_size=0))
    split = predict(model, video, queries, PredictorSettings(iters=2, support_grid_size=0, point_frame_budget=4 * 4))
    assert split[0].shape == whole[0].shape == (1, 4, 9, 2)
    assert float((split[0] - whole[0]).abs().max()) < 2.0
    half = predict(model, video, queries, PredictorSettings(iters=2, support_grid_size=0), torch.bfloat16)
    assert torch.isfinite(half[0]).all() and float((half[0] - whole[0]).abs().max()) < 2.0
