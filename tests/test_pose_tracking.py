"""Pose recovery by fitting the object's mesh to every frame (benchmark/pose_tracking.py, pose_fit.py):
seeding of tracked points, recovery of a turning box, a frozen and an empty video, the point tracker's
wiring (LK and CoTracker3 with random weights). Clips are the exactly rendered textured box of
benchmark.synthetic_clips."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from benchmark.metrics.pose import geodesic_deg
from benchmark.object_model import box_model
from benchmark.pose_fit import (Background, FrameEvidence, ModelFitter, PoseFitConfig, object_colours, rodrigues,
                                silhouette_separability)
from benchmark.pose_tracking import PoseInputs, PoseTrackingConfig, learn_colours, seed_points, track_poses
from benchmark.synthetic_clips import SyntheticClipConfig, render_synthetic_clip
from benchmark.trackers import create_tracker
from common.clip_format import load_clip


def _clip(tmp_path, **overrides):
    config = replace(SyntheticClipConfig(width=192, height=128, num_frames=12, turn_deg=90.0), **overrides)
    clip = load_clip(render_synthetic_clip(tmp_path, "box", config))
    ann = clip.arrays("K", "cam_w2c", "obj_to_world", "bbox_extents", "mask")
    o2c = np.einsum("tij,tjk->tik", ann["cam_w2c"], ann["obj_to_world"])
    inputs = PoseInputs(K=ann["K"], pose0=o2c[0], mask0=ann["mask"][0] == 1, model=box_model(ann["bbox_extents"]),
                        camera0=ann["cam_w2c"][0])
    return clip.frames(), inputs, o2c, ann["mask"] == 1


class SpyTracker:
    """Forwards to a tracker and records the queries of every call."""

    def __init__(self, tracker) -> None:
        self.tracker, self.calls = tracker, []

    def track(self, video, queries):
        self.calls.append((len(video), np.asarray(queries).copy()))
        return self.tracker.track(video, queries)


def test_seeding_keeps_points_off_the_object_out_even_from_a_wrong_pose(tmp_path):
    """Re-seeding from a wrong pose estimate must not put points on the background: every seeded point
    lies on the object in that frame (the frame confirms it), however wrong the pose is. The former
    re-seeding projected the ground-truth-visible points with the estimated pose, so with this wrong
    pose all of them landed off the object."""
    frames, inputs, o2c, masks = _clip(tmp_path)
    cfg = PoseFitConfig()
    fitter = ModelFitter(inputs.model, inputs.K, 192, 128, cfg)
    background = Background(frames, inputs.mask0)
    colours = object_colours(frames[0], inputs.mask0, cfg.colour_clusters)
    fitter.add_keyframe(FrameEvidence(frames[0], background, colours, cfg), o2c[0, :3, :3], o2c[0, :3, 3], anchor=True)
    k = 8
    evidence = FrameEvidence(frames[k], background, colours, cfg)
    # the object and its one-pixel border (edge pixels mix object and background colours)
    near_object = cv2.dilate(masks[k].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    for turn_deg, shift in ((0.0, 0.0), (50.0, 0.6), (-90.0, 1.0), (180.0, 0.0)):
        rot = rodrigues(o2c[k, :3, 2] * np.radians(turn_deg)) @ o2c[k, :3, :3]
        trans = o2c[k, :3, 3] + np.array([shift, 0.0, 0.0])
        _, pixels = seed_points(fitter, evidence, rot, trans, count=64)
        cols, rows = np.rint(pixels[:, 0]).astype(int), np.rint(pixels[:, 1]).astype(int)
        on_object = near_object[np.clip(rows, 0, 127), np.clip(cols, 0, 191)]
        assert on_object.all(), (turn_deg, shift, int((~on_object).sum()))
        if turn_deg == 0.0:
            assert len(pixels) == 64  # from the right pose, the frame confirms plenty of points
        # where the wrong pose shows the mesh off the object, nothing is seeded there
        projected = fitter.project(rot, trans, fitter.points)[0][fitter.view(rot, trans).visible]
        pc, pr = np.rint(projected[:, 0]).astype(int), np.rint(projected[:, 1]).astype(int)
        inside = (pc >= 0) & (pc < 192) & (pr >= 0) & (pr < 128)
        if shift > 0:
            assert (~masks[k][pr[inside], pc[inside]]).mean() > 0.3  # the wrong pose mostly shows floor


def test_recovers_the_true_rotation_of_a_turning_box(tmp_path):
    frames, inputs, o2c, _ = _clip(tmp_path)
    rot, trans, ok = track_poses(create_tracker("lk"), frames, inputs)
    errors = geodesic_deg(rot, o2c[:, :3, :3])
    assert ok.all() and errors.max() < 2.0, errors.round(2)
    assert np.abs(trans - o2c[:, :3, 3]).max() < 0.1  # metres, at about 4 m (the depth is the loosest)


def test_a_frozen_video_is_recovered_as_not_rotating(tmp_path):
    frames, inputs, o2c, _ = _clip(tmp_path)
    frozen = np.repeat(frames[:1], len(frames), axis=0)
    rot, _, ok = track_poses(create_tracker("lk"), frozen, inputs)
    assert ok.all() and geodesic_deg(rot, o2c[:1, :3, :3]).max() < 1.0


def test_a_video_without_the_object_fails_its_frames(tmp_path):
    frames, inputs, _, _ = _clip(tmp_path)
    mask = cv2.dilate(inputs.mask0.astype(np.uint8), np.ones((5, 5), np.uint8))
    empty = cv2.inpaint(frames[0], mask, 3, cv2.INPAINT_TELEA)
    video = np.concatenate([frames[:1], np.repeat(empty[None], len(frames) - 1, axis=0)])
    _, _, ok = track_poses(create_tracker("lk"), video, inputs)
    assert ok[0] and not ok[1:].any()


def test_points_seeded_on_the_object_go_to_the_configured_tracker(tmp_path):
    frames, inputs, o2c, masks = _clip(tmp_path)
    spy = SpyTracker(create_tracker("lk"))
    track_poses(spy, frames, inputs, PoseTrackingConfig(max_object_pixels=0))  # at the clip's own size
    assert spy.calls, "the point tracker was not used"
    length, queries = spy.calls[0]
    assert length == len(frames) and (queries[:, 0] == 0).all()
    cols, rows = np.rint(queries[:, 1]).astype(int), np.rint(queries[:, 2]).astype(int)
    assert masks[0][rows, cols].all()


def test_pose_tracking_runs_on_cotracker3_tracks(tmp_path):
    """The wiring only: CoTracker3 with deterministic random weights (meaningless tracks) at a small
    working resolution; the real-weight accuracy was not measured (docs/benchmark.md)."""
    pytest.importorskip("torch")
    frames, inputs, o2c, _ = _clip(tmp_path, width=96, height=64, num_frames=6, turn_deg=20.0)
    tracker = create_tracker("cotracker3-offline", random_seed=0, visibility_threshold=0.0,
                             model_resolution=(64, 96), iters=1, support_grid_size=0, backward_tracking=False)
    spy = SpyTracker(tracker)
    rot, _, ok = track_poses(spy, frames, inputs)
    assert len(spy.calls) >= 1 and rot.shape == (6, 3, 3) and ok[0]
    assert geodesic_deg(rot, o2c[:, :3, :3]).max() < 5.0  # the mesh fit keeps random tracks from misleading it


def _disc_scene(object_rgb, floor_rgb, shade=0.0, seed=0):
    """A 96x64 noisy floor with a disc of ``object_rgb`` whose lower half is darkened by ``shade``."""
    rng = np.random.default_rng(seed)
    frame = np.clip(np.asarray(floor_rgb, float) + rng.normal(0, 6, (64, 96, 3)), 0, 255)
    rows, cols = np.mgrid[:64, :96]
    mask = (rows - 32) ** 2 + (cols - 48) ** 2 <= 15 ** 2
    obj = np.asarray(object_rgb, float) * np.where(rows > 32, 1.0 - shade, 1.0)[..., None]
    frame[mask] = np.clip(obj[mask] + rng.normal(0, 6, (int(mask.sum()), 3)), 0, 255)
    return frame.astype(np.uint8), mask


def test_silhouette_separability_tells_a_white_object_on_a_white_floor_from_a_brown_one():
    """The silhouette's weight follows how separable the object's colours are from the floor's: a white
    object on a white floor (shaded grey on one side, like the suites' boat) scores low, a brown one high,
    and the fitter weights the silhouette accordingly."""
    white, white_mask = _disc_scene((245, 245, 240), (240, 240, 238), shade=0.3)
    brown, brown_mask = _disc_scene((120, 80, 40), (240, 240, 238), shade=0.3)
    low = silhouette_separability(white, white_mask, object_colours(white, white_mask, 8))
    high = silhouette_separability(brown, brown_mask, object_colours(brown, brown_mask, 8))
    assert low < 0.5 < 0.85 < high, (low, high)
    cfg = PoseFitConfig()
    fitter = ModelFitter(box_model(np.array([1.0, 0.6, 0.5])), np.eye(3), 96, 64, cfg)
    fitter.set_separability(low)
    assert fitter.line_weight == pytest.approx(cfg.line_weight) and fitter.separable_share == 0.0
    fitter.set_separability(high)
    assert fitter.line_weight == pytest.approx(cfg.line_weight_separable) and fitter.separable_share == 1.0
    fitter.set_separability(0.5 * (cfg.separable_from + cfg.separable_at))
    assert fitter.line_weight == pytest.approx(0.5 * (cfg.line_weight + cfg.line_weight_separable))


def test_separability_survives_the_perturbation_of_an_object_with_a_near_white_part():
    """Half cream, half brown on a white floor (like the suites' animal): separable before and after the
    perturbed oracle's noise (sigma 3) and 3x3 blur; a fixed colour-distance rule called it 0 afterwards,
    since the noise brought the floor within its distance of the cream cluster."""
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[:64, :96]
    mask = (rows - 32) ** 2 + (cols - 48) ** 2 <= 15 ** 2
    frame = np.full((64, 96, 3), 254.0) + rng.normal(0, 1, (64, 96, 3))
    halves = np.where((rows < 32)[..., None], np.array([246.0, 242.0, 227.0]), np.array([150.0, 110.0, 60.0]))
    frame[mask] = halves[mask] + rng.normal(0, 1, (int(mask.sum()), 3))
    clean = np.clip(frame, 0, 255).astype(np.uint8)
    noisy = cv2.blur(np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.float32), (3, 3))
    perturbed = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    for image in (clean, perturbed):
        assert silhouette_separability(image, mask, object_colours(image, mask, 8)) > 0.85


def test_the_upright_prior_helps_upright_samples_and_does_not_hide_an_object_tipping_over(tmp_path):
    """Samples whose motion keeps the object upright (pose modes yaw and spin) are fitted with a prior
    towards the frame-0 attitude to the floor. A video in which the object tips over anyway (a model's
    failure) must still show it: of a 40-degree roll at least half is measured. Without the prior (a
    sample whose pose mode tilts the object) the roll is recovered fully."""
    frames, inputs, o2c, _ = _clip(tmp_path, num_frames=24, roll_deg=40.0)
    tracker = create_tracker("lk")
    free = geodesic_deg(track_poses(tracker, frames, replace(inputs, upright=False))[0], o2c[:, :3, :3])
    assert free.max() < 3.0, free
    rot = track_poses(tracker, frames, replace(inputs, upright=True))[0]
    floor_normal = inputs.camera0[:3, :3] @ np.array([0.0, 0.0, 1.0])
    tilt_deg = np.degrees(np.arccos(np.clip(rot[:, :, 2] @ floor_normal, -1.0, 1.0)))
    assert tilt_deg[-1] >= 20.0, tilt_deg  # the box's up axis tipped by 40 degrees; at least half is measured
    assert geodesic_deg(rot, o2c[:, :3, :3])[-1] <= 20.0
    upright_frames, upright_inputs, upright_o2c, _ = _clip(tmp_path / "upright", num_frames=24)
    kept = geodesic_deg(track_poses(tracker, upright_frames, replace(upright_inputs, upright=True))[0], upright_o2c[:, :3, :3])
    assert kept.max() < 3.0, kept


def test_the_prediction_is_moved_onto_the_object_before_fitting():
    """A prediction whose silhouette misses the object by (4, -3) pixels is shifted onto it (the object's
    pixels are those the likelihood ratio calls object); one already on it stays where it is."""
    from types import SimpleNamespace

    K = np.array([[150.0, 0.0, 95.5], [0.0, 150.0, 63.5], [0.0, 0.0, 1.0]])
    cfg = PoseFitConfig()
    fitter = ModelFitter(box_model(np.array([0.6, 0.4, 0.3])), K, 192, 128, cfg)
    rotation, translation = rodrigues(np.array([0.3, 0.5, 0.1])), np.array([0.05, -0.02, 3.0])
    depth = translation[2]
    truth = translation + depth * np.array([4.0 / K[0, 0], -3.0 / K[1, 1], 0.0])
    mask = fitter.view(rotation, truth).raster.mask
    evidence = SimpleNamespace(llr=np.where(mask, 3.0, -3.0).astype(np.float32))
    moved = fitter.align_translation(evidence, rotation, translation, radius=6, min_gain=0.2)
    centre = lambda t: (K @ t)[:2] / t[2]  # noqa: E731
    np.testing.assert_allclose(centre(moved) - centre(translation), [4.0, -3.0], atol=0.3)
    np.testing.assert_array_equal(fitter.align_translation(evidence, rotation, truth, radius=6, min_gain=0.2), truth)


@pytest.mark.parametrize("align", [True, False])
def test_the_other_hypotheses_start_moved_onto_the_object_too(align):
    """In a frame whose hypotheses are searched, the previous pose and the turned ones start moved onto the
    object's pixels as the prediction is (a fast first frame: the object turned and moved); with
    ``align_hypotheses`` off they start at the prediction's translation."""
    from types import SimpleNamespace

    from benchmark.pose_tracking import _best_hypothesis

    K = np.array([[150.0, 0.0, 95.5], [0.0, 150.0, 63.5], [0.0, 0.0, 1.0]])
    fitter = ModelFitter(box_model(np.array([0.6, 0.4, 0.3])), K, 192, 128, PoseFitConfig())
    rotation, translation = rodrigues(np.array([0.0, 0.0, 0.4])), np.array([0.05, -0.02, 3.0])
    truth = translation + translation[2] * np.array([5.0 / K[0, 0], -4.0 / K[1, 1], 0.0])
    evidence = SimpleNamespace(llr=np.where(fitter.view(rotation, truth).raster.mask, 3.0, -3.0).astype(np.float32))
    starts = []
    fitter.refine = lambda evidence, r, t, tracks=None: starts.append((r, t)) or (r, t)
    fitter.photometric_cost = lambda *args, **kwargs: 0.0
    fitter.region_energy = lambda *args: 0.0
    config = replace(PoseTrackingConfig(), align_hypotheses=align)
    _best_hypothesis(fitter, evidence, config, (rotation, translation), (rotation, translation), None, K, 3.0, None)
    hypotheses = starts[1:]  # after the prediction itself: the previous pose, then the turned ones
    assert len(hypotheses) == 1 + len(config.hypothesis_angles_deg)
    for _, start in hypotheses:
        if align:
            assert np.linalg.norm(start - truth) < 0.5 * np.linalg.norm(translation - truth), start
        else:
            np.testing.assert_array_equal(start, translation)


def _two_coloured_square() -> tuple[np.ndarray, np.ndarray]:
    """A 40x40 light floor with a 20x20 object: red on the left, dark grey on the right (a side the first
    frame did not show), a slightly different red in one corner (not a new colour) and a 3x3 blue speck;
    the silhouette is one pixel too big on every side, so its edge covers floor."""
    frame = np.full((40, 40, 3), 230, np.uint8)
    frame[10:30, 10:20] = (200, 30, 30)
    frame[10:14, 10:14] = (185, 40, 35)  # within the new-colour distance of the known red
    frame[10:30, 20:30] = (60, 60, 60)
    frame[25:28, 25:28] = (40, 60, 220)  # a new colour, but too small a share of the silhouette (9 px of 324)
    silhouette = np.zeros((40, 40), bool)
    silhouette[9:31, 9:31] = True
    return frame, silhouette


def test_key_frames_learn_the_colours_the_first_frame_did_not_show():
    frame, silhouette = _two_coloured_square()
    red, grey, blue = np.array([200.0, 30.0, 30.0]), np.array([60.0, 60.0, 60.0]), np.array([40.0, 60.0, 220.0])
    known = red[None].astype(np.float32)
    config = PoseTrackingConfig()
    learned = learn_colours(known, frame, silhouette, config)
    assert np.allclose(learned[0], red) and len(learned) > 1
    new = learned[1:]
    assert np.abs(new - grey).max(axis=1).min() <= 6.0, new  # the dark side is learned

    def off_red_to_grey(colour):  # distance to the mixtures of the two object colours (their shared edge)
        share = np.clip((colour - red) @ (grey - red) / ((grey - red) @ (grey - red)), 0.0, 1.0)
        return float(np.linalg.norm(colour - (red + share * (grey - red))))

    # nothing else: not the floor under the silhouette's edge, not the speck, not the other red
    assert all(off_red_to_grey(colour) <= 10.0 for colour in new), new
    assert np.linalg.norm(new - red, axis=1).min() > config.new_colour_distance, new
    # once known, the same frame adds nothing; nor when the colours are full
    assert len(learn_colours(learned, frame, silhouette, config)) == len(learned)
    assert learn_colours(known, frame, silhouette, replace(config, max_colours=1)).shape == (1, 3)
    # the speck is learned once it covers enough of the silhouette
    more = learn_colours(learned, frame, silhouette, replace(config, new_colour_share=0.005))
    assert len(more) == len(learned) + 1 and np.abs(more[-1] - blue).max() <= 20.0, more


def test_a_learned_colour_makes_its_pixels_count_as_the_object():
    """Where the likelihood explains an unknown colour as the floor's shadow (a negative log-likelihood
    ratio), learned it counts as the object. The defaults no longer take a grey this dark (26% of the floor)
    for a shadow, nor an unknown colour far from the floor and its shadow for the floor; a likelihood that
    does (shadows down to 35% of the floor, no cap on the object's colour distance) shows what learning
    does."""
    frame, silhouette = _two_coloured_square()
    background = Background(np.stack([np.full_like(frame, 230)] * 3), np.zeros((40, 40), bool))
    cfg = PoseFitConfig(shadow_floor=0.35, unseen_colour_distance=0.0)
    known = np.array([[200.0, 30.0, 30.0]], np.float32)
    before = FrameEvidence(frame, background, known, cfg).llr[12:28, 22:24]
    after = FrameEvidence(frame, background, learn_colours(known, frame, silhouette, PoseTrackingConfig()), cfg).llr[12:28, 22:24]
    assert before.max() < 0.0 and after.min() > 1.0, (before.max(), after.min())
    assert FrameEvidence(frame, background, known, PoseFitConfig()).llr[12:28, 22:24].min() > 1.0
