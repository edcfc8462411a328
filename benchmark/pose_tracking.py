"""Recover the object's pose in every frame of a video, for the pose-alignment metric.

What is used is what the suite knows before generation (:class:`PoseInputs`): the intrinsics, the
object's frame-0 pose, its frame-0 mask and its mesh. Nothing of the ground truth of later frames is
used, and every video (the ground-truth video included) goes through the same code.

Frame by frame, the mesh is fitted to the frame (:mod:`benchmark.pose_fit`), starting from several
hypotheses: the constant-velocity prediction (and the prediction moved parallel to the image onto the
pixels that look most like the object, ``align_radius_px``), the previous pose, the prediction turned
about the object's own up axis by ``hypothesis_angles_deg``, and the pose PnP gives on the point
tracker's tracks; the previous pose and the turned ones start moved onto the object's pixels as the
prediction is (``align_hypotheses``: in a fast first frame the object has moved too).
Each is refined on the blurred frame and scored by its appearance cost plus the region term; the best is
refined on the sharp frame. The point tracker (LK by default, CoTracker3 when configured) follows
points seeded on the object: they are the visible samples of the posed mesh that the frame confirms
(the pixel looks like the object, not like the background, and shows the colour the point had), so a
wrong pose cannot seed points on the floor. Their tracks enter the fit as a robust reprojection term
and as a PnP hypothesis; they are re-seeded when fewer than ``min_surviving`` of them are still trusted
by the tracker and visible on the fitted mesh. The object's colours, from the first frame, grow at every
key frame by the colours of sides the first frame did not show (:func:`learn_colours`): unknown, a car's
dark tyres seen from the side would count as the floor's shadow. Until a key frame has learned them, a
colour unlike the background and its shadow counts as the object (``PoseFitConfig.unseen_colour_distance``).

A frame's pose counts as failed when the fitted silhouette's pixels do not look like the object (mean
log-likelihood ratio below ``min_support``) or too few coloured surface points are visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmark.metrics.pose import MIN_PNP_POINTS, geodesic_deg, pnp_threshold_px, solve_pose
from benchmark.object_model import ObjectModel
from benchmark.pose_fit import (Background, FrameEvidence, ModelFitter, PoseFitConfig, cluster_colours, colour_pixels,
                                nearest_distance2, object_colours, rodrigues, sample_image, silhouette_separability)
from benchmark.trackers.base import frame0_queries

POSE_TRACKING_VERSION = 10  # bumped whenever the recovered poses change (cache keys)
SEED_MIN_LIKELIHOOD = 1.0  # object/background log-likelihood ratio a seeded point's pixel must reach
SEED_COLOUR_TOLERANCE = 1.5  # times the photometric Huber threshold: largest colour change of a seeded point
LEARN_EDGE_PX = 2  # new object colours are taken this far inside the fitted silhouette (its edge mixes in the floor)
LEARN_MIN_PIXELS = 4  # fewest pixels of a new colour cluster
NEW_COLOURS_PER_KEY_FRAME = 4


@dataclass(frozen=True)
class PoseTrackingConfig:
    fit: PoseFitConfig = field(default_factory=PoseFitConfig)
    hypothesis_angles_deg: tuple[float, ...] = (-40.0, -20.0, 20.0, 40.0)
    region_weight: float = 0.05  # weight of the region term when hypotheses are compared ...
    region_weight_separable: float = 0.5  # ... where the object's colours are separable from the background's
    track_points: int = 64  # points seeded for the point tracker
    min_surviving: float = 0.3  # re-seed once fewer than this share of the seeded points survive
    min_support: float = -1.0  # mean object/background log-likelihood over the fitted silhouette
    min_visible_points: int = 12
    align_radius_px: int = 6  # the prediction moved onto the object's pixels by up to this is fitted too (0: off) ...
    align_min_gain: float = 0.2  # ... when the move raises the silhouette's mean log-likelihood ratio by at least this
    align_hypotheses: bool = True  # the other hypotheses start moved onto the object's pixels the same way
    max_object_pixels: int = 1600  # frames are shrunk so that the frame-0 object covers at most this many pixels
    always_search: bool = False  # False: the other hypotheses only when the prediction is not confirmed:
    search_speed_deg: float = 8.0  # ... the object turns faster than this per frame,
    search_support_drop: float = 0.3  # ... or the fitted silhouette's mean log-likelihood fell by more than this,
    search_moved_deg: float = 2.0  # ... or the fit moved the prediction by more than this
    learn_colours: bool = True  # key frames add the object's colours the first frame did not show (learn_colours):
    new_colour_distance: float = 36.0  # ... farther than this (3 likelihood sigmas) from every known colour,
    new_colour_share: float = 0.03  # ... in clusters covering at least this share of the fitted silhouette,
    max_colours: int = 16  # ... up to this many colours in all


@dataclass(frozen=True)
class PoseInputs:
    """What the metric may know about a sample before generation."""

    K: np.ndarray  # (3, 3)
    pose0: np.ndarray  # (4, 4) object-to-camera at frame 0
    mask0: np.ndarray  # (H, W) bool, the object at frame 0
    model: ObjectModel
    camera0: np.ndarray | None = None  # (4, 4) world-to-camera at frame 0: where the floor (z = 0) is
    upright: bool = False  # the sample's motion only turns the object about the floor's normal (its pose mode)


@dataclass
class _Segment:
    """Points seeded at frame ``start`` and their tracks through the rest of the video."""

    start: int
    points: np.ndarray  # (N, 3) object frame
    tracks: np.ndarray  # (T - start, N, 2)
    alive: np.ndarray  # (N,) trusted and visible so far

    def observed(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        return self.points[self.alive], self.tracks[frame - self.start][self.alive]


def seed_points(fitter: ModelFitter, evidence: FrameEvidence, rotation: np.ndarray, translation: np.ndarray,
                count: int, check_colour: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Surface points to track from this frame: visible on the posed mesh, facing the camera, and
    confirmed by the frame itself (object-like pixel, and the point's remembered colour where it has
    one). Returns (object points (N, 3), pixels (N, 2)), at most ``count``, spread over the surface."""
    view = fitter.view(rotation, translation)
    uv, _ = fitter.project(rotation, translation, fitter.points)
    keep = view.visible & (view.facing > 0.3)
    keep &= sample_image(evidence.llr, uv) >= SEED_MIN_LIKELIHOOD
    app = fitter.appearance
    if check_colour:
        # a point must show the colour it had (where it has one); one never seen must be unlike the background
        known = keep & app.recent_ok
        seen = evidence.sample_level(len(evidence.levels) - 1, uv[known])[:, :3]
        agree = np.abs(seen - app.recent[-1, known]).max(axis=1) <= SEED_COLOUR_TOLERANCE * fitter.cfg.photometric_huber
        keep[np.flatnonzero(known)[~agree]] = False
    index = np.flatnonzero(keep)
    if len(index) > count:
        index = index[np.linspace(0, len(index) - 1, count).astype(int)]
    return fitter.points[index], uv[index]


def _track_segment(tracker, frames: np.ndarray, start: int, points: np.ndarray, pixels: np.ndarray) -> _Segment | None:
    if len(points) < MIN_PNP_POINTS or start >= len(frames) - 1:
        return None
    result = tracker.track(frames[start:], frame0_queries(pixels))
    return _Segment(start, points, np.asarray(result.tracks, np.float64), np.ones(len(points), bool)), \
        np.asarray(result.visibility, bool)


def track_poses(tracker, frames: np.ndarray, inputs: PoseInputs, config: PoseTrackingConfig | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, t, ok) object-to-camera per frame recovered from ``frames`` (see the module docstring).
    Frame 0 is the given pose."""
    config = config or PoseTrackingConfig()
    cfg = config.fit
    frames = np.asarray(frames)
    T, height, width = frames.shape[:3]
    if inputs.mask0.shape != (height, width) or not inputs.mask0.any():
        raise ValueError(f"the frame-0 object mask must be a non-empty {height}x{width} array, got "
                         f"{inputs.mask0.shape} with {int(inputs.mask0.sum())} object pixels")
    frames, K, mask0 = working_resolution(frames, inputs.K, inputs.mask0, config.max_object_pixels)
    T, height, width = frames.shape[:3]
    fitter = ModelFitter(inputs.model, K, width, height, cfg)
    if inputs.camera0 is not None:
        fitter.set_floor(inputs.camera0, inputs.pose0, inputs.upright)
    background = Background(frames, mask0)
    colours, separability = _first_frame_colours(frames[0], mask0, cfg)
    fitter.set_separability(separability)
    rot = np.tile(np.eye(3), (T, 1, 1))
    trans = np.zeros((T, 3))
    ok = np.zeros(T, dtype=bool)
    rot[0], trans[0], ok[0] = inputs.pose0[:3, :3], inputs.pose0[:3, 3], True
    roi = fitter.region_of_interest([(rot[0], trans[0])], margin=3 * cfg.line_half_length)
    evidence = FrameEvidence(frames[0], background, colours, cfg, roi)
    fitter.add_keyframe(evidence, rot[0], trans[0], anchor=True)
    segment, trusted = _reseed(tracker, frames, fitter, evidence, 0, rot[0], trans[0], config)
    threshold = pnp_threshold_px(width, height)
    history: list[float] = []  # silhouette support of the fitted frames (frame 1, without a velocity, searches)
    for k in range(1, T):
        fitter.new_frame()
        r_prev, t_prev = rot[k - 1], trans[k - 1]
        if k > 1:
            r_pred, t_pred = r_prev @ rot[k - 2].T @ r_prev, 2 * t_prev - trans[k - 2]
        else:
            r_pred, t_pred = r_prev, t_prev
        roi = fitter.region_of_interest([(r_prev, t_prev), (r_pred, t_pred)], margin=3 * cfg.line_half_length)
        evidence = FrameEvidence(frames[k], background, colours, cfg, roi)
        t_aligned = fitter.align_translation(evidence, r_pred, t_pred, config.align_radius_px, config.align_min_gain)
        aligned = None if t_aligned is t_pred else (r_pred, t_aligned)  # the same object: not moved
        observed = None
        if segment is not None:
            segment.alive &= trusted[k - segment.start]
            observed = segment.observed(k)
        r_k, t_k = _best_hypothesis(fitter, evidence, config, (r_pred, t_pred), (r_prev, t_prev), observed, K,
                                    threshold, history[-1] if history else None, aligned)
        rot[k], trans[k] = r_k, t_k
        support, _ = fitter.region_support(evidence, r_k, t_k)
        ok[k] = support >= config.min_support and fitter.visible_coloured(r_k, t_k) >= config.min_visible_points
        if ok[k]:
            history.append(support)
        if segment is not None:
            segment.alive &= _visible_on_mesh(fitter, segment.points, r_k, t_k)
        if ok[k] and fitter.needs_keyframe(r_k):
            fitter.add_keyframe(evidence, r_k, t_k)
            if config.learn_colours:
                colours = learn_colours(colours, frames[k], fitter.view(r_k, t_k).raster.mask, config)
        if ok[k] and (segment is None or segment.alive.sum() < config.min_surviving * len(segment.alive)):
            segment, trusted = _reseed(tracker, frames, fitter, evidence, k, r_k, t_k, config)
    return rot, trans, ok


def _best_hypothesis(fitter: ModelFitter, evidence: FrameEvidence, config: PoseTrackingConfig, predicted, previous,
                     observed, K: np.ndarray, threshold: float, last_support: float | None, aligned=None):
    """(R, t) fitted to the frame: the fitted prediction (or the fitted ``aligned`` one, the prediction moved
    onto the object's pixels, where that scores better) when it is confirmed (a slow turn, a silhouette as
    object-like as the last frame's, and little moved by the fit), else the best fitted hypothesis (module
    docstring) by appearance cost plus the weighted region term."""
    def fit(pose):
        return fitter.refine(evidence, pose[0], pose[1], tracks=observed)

    region_weight = fitter.separable_weight(config.region_weight, config.region_weight_separable)

    def score(pose):
        return (fitter.photometric_cost(evidence, pose[0], pose[1])
                + region_weight * fitter.region_energy(evidence, pose[0], pose[1]))

    best, best_score = fit(predicted), None
    if aligned is not None:
        candidate = fit(aligned)
        best_score, candidate_score = score(best), score(candidate)
        if candidate_score < best_score:
            best, best_score = candidate, candidate_score
    if not config.always_search and last_support is not None \
            and float(geodesic_deg(predicted[0], previous[0])) <= config.search_speed_deg:
        support = fitter.region_support(evidence, best[0], best[1])[0]
        if (support >= last_support - config.search_support_drop
                and float(geodesic_deg(best[0], predicted[0])) <= config.search_moved_deg):
            return best
    up = previous[0][:, 2]
    hypotheses = [previous] + [(rodrigues(up * np.radians(a)) @ predicted[0], predicted[1])
                               for a in config.hypothesis_angles_deg]
    if config.align_hypotheses:
        hypotheses = [(r, fitter.align_translation(evidence, r, t, config.align_radius_px, config.align_min_gain))
                      for r, t in hypotheses]
    if observed is not None and len(observed[0]) >= MIN_PNP_POINTS:
        pose = solve_pose(observed[0], observed[1], K, threshold, guess=predicted)
        if pose is not None:
            hypotheses.append(pose)
    if best_score is None:
        best_score = score(best)
    for pose in hypotheses:
        candidate = fit(pose)
        candidate_score = score(candidate)
        if candidate_score < best_score:
            best, best_score = candidate, candidate_score
    return best


def working_resolution(frames: np.ndarray, K: np.ndarray, mask0: np.ndarray, max_object_pixels: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames, intrinsics and frame-0 mask shrunk so that the frame-0 object covers at most
    ``max_object_pixels`` pixels (unchanged when it already does, or when the limit is 0). Pixel centres
    stay at integer coordinates: x' = (x + 0.5) s - 0.5."""
    import cv2

    area = int(mask0.sum())
    if not max_object_pixels or area <= max_object_pixels:
        return frames, np.asarray(K, float), mask0
    scale = float(np.sqrt(max_object_pixels / area))
    height, width = frames.shape[1:3]
    size = (max(8, int(round(width * scale))), max(8, int(round(height * scale))))
    sx, sy = size[0] / width, size[1] / height
    small = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
    K2 = np.asarray(K, float).copy()
    K2[0, 0], K2[0, 1], K2[0, 2] = K2[0, 0] * sx, K2[0, 1] * sx, (K2[0, 2] + 0.5) * sx - 0.5
    K2[1, 1], K2[1, 2] = K2[1, 1] * sy, (K2[1, 2] + 0.5) * sy - 0.5
    mask = cv2.resize(mask0.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
    return small, K2, mask


def first_frame_separability(frame0: np.ndarray, K: np.ndarray, mask0: np.ndarray,
                             config: PoseTrackingConfig | None = None) -> float:
    """How clearly the object differs from its floor in the first frame (0 to 1), as the pose tracking
    measures it (:func:`benchmark.pose_fit.silhouette_separability` at the working resolution): the
    weight of the silhouette follows it, and below ``config.fit.separable_from`` the object is camouflaged
    (a white boat on a white floor) and no video's pose can be measured well."""
    config = config or PoseTrackingConfig()
    frames, _, mask = working_resolution(np.asarray(frame0)[None], K, np.asarray(mask0, bool),
                                         config.max_object_pixels)
    return _first_frame_colours(frames[0], mask, config.fit)[1] if mask.any() else 0.0


def _first_frame_colours(frame0: np.ndarray, mask0: np.ndarray, cfg: PoseFitConfig) -> tuple[np.ndarray, float]:
    """The object's colours in the first frame (at the working resolution) and their separability from
    the floor around it: what the fit's likelihood ratio and silhouette weight are built from."""
    colours = object_colours(frame0, mask0, cfg.colour_clusters)
    return colours, silhouette_separability(frame0, mask0, colours, cfg.likelihood_sigma)


def learn_colours(colours: np.ndarray, frame: np.ndarray, silhouette: np.ndarray,
                  config: PoseTrackingConfig) -> np.ndarray:
    """``colours`` (k, 3), the object's colours, with the colours of a side the first frame did not show:
    clusters (:func:`benchmark.pose_fit.cluster_colours`, at most ``NEW_COLOURS_PER_KEY_FRAME``) of the
    pixels inside the fitted ``silhouette`` (H, W bool; shrunk by ``LEARN_EDGE_PX`` away from its blurred
    edge) that are farther than ``new_colour_distance`` from every known colour; each cluster kept when it
    covers at least ``new_colour_share`` of that interior and is itself that far from the colours kept
    before it; at most ``max_colours`` in all. Pixels on an edge between two of the object's colours show
    their mixture and may add it: a colour of the object all the same (not taking them would lose a car's
    tyres, a few pixels across)."""
    import cv2

    room = config.max_colours - len(colours)
    interior = cv2.erode(silhouette.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=LEARN_EDGE_PX) > 0
    if room <= 0 or interior.sum() < 4 * LEARN_MIN_PIXELS:
        return colours
    pixels = colour_pixels(frame)[interior]
    novel = pixels[nearest_distance2(pixels, colours) > config.new_colour_distance ** 2]
    min_count = max(config.new_colour_share * len(pixels), LEARN_MIN_PIXELS)
    count = min(NEW_COLOURS_PER_KEY_FRAME, room, int(len(novel) // min_count))
    if count < 1:
        return colours
    centres, labels = cluster_colours(novel, count)
    sizes = np.bincount(labels, minlength=len(centres))
    for index in np.argsort(-sizes, kind="stable"):  # the biggest first; one colour split in two is kept once
        if sizes[index] >= min_count and \
                nearest_distance2(centres[index][None], colours)[0] > config.new_colour_distance ** 2:
            colours = np.concatenate([colours, centres[index][None].astype(colours.dtype)])
    return colours


def _visible_on_mesh(fitter: ModelFitter, points: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Which object points the posed mesh shows (depth test against its raster)."""
    view = fitter.view(rotation, translation)
    uv, cam = fitter.project(rotation, translation, points)
    cols, rows = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    inside = (cols >= 0) & (cols < fitter.width) & (rows >= 0) & (rows < fitter.height)
    seen = view.raster.depth[np.clip(rows, 0, fitter.height - 1), np.clip(cols, 0, fitter.width - 1)]
    return inside & (seen > 0) & (np.abs(seen - cam[:, 2]) <= 0.01 + 0.01 * cam[:, 2])


def _reseed(tracker, frames, fitter, evidence, frame, rotation, translation, config):
    points, pixels = seed_points(fitter, evidence, rotation, translation, config.track_points)
    found = _track_segment(tracker, frames, frame, points, pixels)
    return (None, None) if found is None else found
