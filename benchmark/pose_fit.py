"""Fitting the object's known mesh to one video frame: the measurement behind the pose metric.

Three kinds of evidence, all from the video being scored plus what the suite knows before generation
(the mesh, the intrinsics, the frame-0 pose and the frame-0 object mask):

* **appearance**: surface points of the mesh carry the colours they showed in *key frames* of this
  video (frame 0 with its true pose, then frames whose pose was fitted); a pose is good when the points
  it makes visible show those colours again. Colours are compared as chromaticity plus a down-weighted
  intensity, which changes less than RGB when a face turns towards or away from the light.
* **silhouette**: a per-pixel log-likelihood ratio "object vs background" from the distance to the
  object's colours (clusters of its frame-0 pixels) against the distance to the background (the
  video's temporal median, frame 0 outside the object; a darker copy of the background counts as
  background, for shadows). Along the outward normal of each contour pixel of the posed mesh the most
  likely object/background boundary is searched (sub-pixel), and contour points move towards it,
  weighted by how clearly both sides are classified.
* **region**: the sum of the likelihood ratio over the pixels the posed mesh covers; it compares
  hypotheses far apart, where the local terms do not reach.

The pose is refined by Levenberg-Marquardt on the appearance and silhouette terms (plus optional point
tracks, a weak prior on the translation and the floor priors), coarse (blurred) to fine. All image coordinates use pixel
centres at integer positions (docs/conventions.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.fit_kernels import (boundary_search, colour_feature_image, likelihood_ratio, photometric_term, point_term,
                                   prior_terms, visible_samples, with_gradients)
from benchmark.object_model import ObjectModel
from benchmark.rasterize import Raster, rasterize

STEP_TOLERANCE_RAD = 3.5e-3  # a Levenberg-Marquardt step smaller than this (0.2 deg) and ...
STEP_TOLERANCE_M = 5e-3  # ... this (a depth change of ~0.1% at 5 m) ends the iterations
_NO_NORMALS = np.zeros((0, 2))  # point_term's normals for a term without them (residuals in x and y)
_ZERO3 = np.zeros(3)


@dataclass(frozen=True)
class PoseFitConfig:
    surface_points: int = 3000  # mesh samples carrying colours
    max_photometric_points: int = 100000  # visible coloured points used per appearance term (thinned evenly)
    blur_sigmas: tuple[float, ...] = (0.7,)  # coarse-to-fine blur levels of the appearance term
    iterations: tuple[int, ...] = (8,)  # LM iterations per level and outer iteration
    outer_iterations: int = 2  # visibility, colours and silhouette targets are re-derived this often per level
    intensity_weight: float = 0.35  # weight of intensity against chromaticity (both on a 0-255 scale)
    photometric_huber: float = 8.0
    keyframe_every_deg: float = 15.0  # a new key frame once the pose turned this far from the last one
    anchor_weight: float = 0.5  # weight of frame-0 colours beside the latest key frame's
    min_facing: float = 0.2  # cosine between the surface normal and the view ray to take a point's colour
    colour_clusters: int = 8  # object colours from frame 0
    likelihood_sigma: float = 12.0  # colour noise of the object/background likelihood, 0-255 units
    likelihood_clip: float = 4.0
    shadow_floor: float = 0.55  # darkest shadow taken as background: this fraction of the background (a car's
    # dark tyres on a white floor are darker than that, so they are not explained as its shadow)
    shadow_penalty: float = 8.0  # extra colour distance of a shadow explanation
    # the object may show colours not yet known (a side the first frame did not show): a pixel's distance to
    # the object's colours counts at most this much (4 likelihood sigmas), so that a pixel unlike both its
    # background and that background's shadow counts as the object (0: no cap)
    unseen_colour_distance: float = 48.0
    line_half_length: int = 5  # pixels searched on each side of a contour pixel
    line_weight: float = 0.3  # silhouette weight where object and background colours are not separable ...
    line_weight_separable: float = 1.0  # ... and where they are (silhouette_separability, per video)
    separable_from: float = 0.5  # separability where the weight starts to grow from line_weight ...
    separable_at: float = 0.85  # ... and where it reaches line_weight_separable
    contrast_window: int = 3  # pixels on each side of a boundary that must be classified clearly
    contrast_scale: float = 2.0
    translation_prior: float = 400.0  # per squared metre of translation away from the starting estimate
    floor_height_prior: float = 400.0  # per squared metre of the object's centre leaving its frame-0 height ...
    upright_height_prior: float = 4000.0  # ... for an upright object (its motion keeps the centre's height exactly)
    tilt_prior: float = 600.0  # per squared radian of an upright object tilting away from its frame-0 attitude
    track_weight: float = 0.0  # weight of tracked points as a reprojection term (0: tracks only propose poses)
    track_huber_px: float = 2.0


def rodrigues(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(theta) * kx + (1.0 - np.cos(theta)) * (kx @ kx)


def sample_image(image: np.ndarray, uv: np.ndarray, border: float | None = None) -> np.ndarray:
    """Bilinear samples of ``image`` (H, W[, C]) at ``uv`` (..., 2); replicated or constant borders."""
    import cv2

    if uv.shape[0] == 0:
        return np.zeros(uv.shape[:-1] + image.shape[2:], np.float32)
    flat = uv.reshape(-1, 2).astype(np.float32)
    out = []
    for start in range(0, len(flat), 32000):  # cv2.remap maps are limited to 32767 columns
        chunk = flat[start:start + 32000]
        mode = dict(borderMode=cv2.BORDER_REPLICATE) if border is None else dict(
            borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        out.append(cv2.remap(image, chunk[None, :, 0], chunk[None, :, 1], cv2.INTER_LINEAR, **mode)[0])
    return np.concatenate(out).reshape(uv.shape[:-1] + image.shape[2:])


def colour_features(frame: np.ndarray, intensity_weight: float) -> np.ndarray:
    """(H, W, 3) float32: two chromaticity channels and the weighted intensity, all on a 0-255 scale."""
    return colour_feature_image(np.ascontiguousarray(frame), float(intensity_weight))


def _close(ra: np.ndarray, ta: np.ndarray, rb: np.ndarray, tb: np.ndarray, deg: float = 1.5, metres: float = 0.005) -> bool:
    """Whether two poses are within ``deg`` of rotation and ``metres`` of translation."""
    cos = (np.trace(ra.T @ rb) - 1.0) / 2.0
    return bool(cos >= np.cos(np.radians(deg)) and np.linalg.norm(ta - tb) <= metres)


def _blurred_levels(image: np.ndarray, sigmas: tuple[float, ...]) -> list[np.ndarray]:
    """Per blur level, the blurred (H, W, 3) image and its x and y gradients stacked as (H, W, 9), so
    that one bilinear lookup reads all three."""
    import cv2

    return [with_gradients(cv2.GaussianBlur(image, (0, 0), sigma) if sigma > 0 else image) for sigma in sigmas]


class Background:
    """The background of one video: its temporal median, and frame 0 outside the frame-0 object (where
    frame 0 shows the background); inside the frame-0 object the median is trusted only where it
    differs from frame 0 (the object left), elsewhere the background is unknown."""

    def __init__(self, frames: np.ndarray, mask0: np.ndarray, tolerance: float = 20.0) -> None:
        import cv2

        median = np.median(frames, axis=0).astype(np.float32)
        first = frames[0].astype(np.float32)
        inside = cv2.dilate(mask0.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        self.image = np.where(inside[..., None], median, first)
        self.known = ~inside | (np.abs(median - first).max(axis=2) > tolerance)


def object_colours(frame: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    """(k, 3) RGB cluster centres of the object's pixels (:func:`colour_pixels`, :func:`cluster_colours`)."""
    return cluster_colours(colour_pixels(frame)[mask], count)[0]


def colour_pixels(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: the frame as its colours are clustered (slightly blurred against noise)."""
    import cv2

    return cv2.GaussianBlur(frame.astype(np.float32), (0, 0), 0.5)


def cluster_colours(pixels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means (deterministic) of ``pixels`` (N, 3) into at most ``count`` clusters: (centres (k, 3),
    the cluster of each pixel (N,))."""
    import cv2

    pixels = np.ascontiguousarray(pixels, np.float32)
    k = max(1, min(count, len(pixels)))
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, labels, centres = cv2.kmeans(pixels, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    return centres, labels.ravel()


def silhouette_separability(frame: np.ndarray, mask: np.ndarray, object_centres: np.ndarray,
                            likelihood_sigma: float = 12.0) -> float:
    """How clearly the object's colours differ from the background's around it, in frame 0 (0 to 1): the
    smaller of the share of object pixels that a likelihood ratio classifies as object and the share of
    the pixels of a ring of background around the object that it classifies as background. A pixel is
    classified clearly when its squared distance to the nearest colour of the other side exceeds that to
    its own side's by 2 ``likelihood_sigma``^2 (a log-likelihood ratio of 1, as in :class:`FrameEvidence`);
    the object's colours are ``object_centres`` (:func:`object_colours` of the masked pixels), the ring's
    are clustered the same way. A white boat on a white floor scores near 0; a brown animal there near 1,
    also after noise and blur."""
    import cv2

    m = mask.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    ring = (cv2.dilate(m, kernel, iterations=6) > 0) & ~(cv2.dilate(m, kernel, iterations=2) > 0)
    if not mask.any() or not ring.any():
        return 0.0
    image = colour_pixels(frame)
    object_px, ring_px = image[mask], image[ring]
    object_centres = np.asarray(object_centres, np.float32)
    ring_centres = cluster_colours(ring_px, 8)[0]
    margin = 2.0 * likelihood_sigma ** 2
    object_clear = nearest_distance2(object_px, ring_centres) - nearest_distance2(object_px, object_centres) > margin
    ring_clear = nearest_distance2(ring_px, object_centres) - nearest_distance2(ring_px, ring_centres) > margin
    return float(min(object_clear.mean(), ring_clear.mean()))


def nearest_distance2(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N,) squared distance of each of ``pixels`` (N, 3) to the nearest of ``centres`` (k, 3)."""
    pixels, centres = np.asarray(pixels, np.float32), np.asarray(centres, np.float32)
    d2 = (pixels * pixels).sum(1)[:, None] - 2.0 * pixels @ centres.T + (centres * centres).sum(1)[None]
    return np.maximum(d2.min(axis=1), 0.0)


class FrameEvidence:
    """One frame prepared for fitting, inside ``roi`` = (x0, x1, y0, y1) (half-open; the whole frame when
    None): blurred colour features with gradients (``levels``, per blur level (h, w, 9): features, x
    gradient, y gradient) over the region grown by the blur's reach, whose pixel (0, 0) is the frame's
    ``origin`` (read them with :meth:`sample_level`), and the object/background log-likelihood ratio
    ``llr`` (H, W; background outside the region)."""

    def __init__(self, frame: np.ndarray, background: Background, colours: np.ndarray, cfg: PoseFitConfig,
                 roi: tuple[int, int, int, int] | None = None) -> None:
        height, width = frame.shape[:2]
        x0, x1, y0, y1 = roi or (0, width, 0, height)
        reach = int(np.ceil(4.0 * max(cfg.blur_sigmas, default=0.0))) + 2  # blur and gradient kernels
        lx0, lx1, ly0, ly1 = max(x0 - reach, 0), min(x1 + reach, width), max(y0 - reach, 0), min(y1 + reach, height)
        if lx1 <= lx0 or ly1 <= ly0:
            lx0, lx1, ly0, ly1 = 0, width, 0, height
        self.origin = np.array([lx0, ly0], np.float64)
        self.levels = _blurred_levels(colour_features(frame[ly0:ly1, lx0:lx1], cfg.intensity_weight), cfg.blur_sigmas)
        self.llr = np.full((height, width), -cfg.likelihood_clip, np.float32)
        if x1 <= x0 or y1 <= y0:
            return
        pad = 2  # for the blur
        px0, px1, py0, py1 = max(x0 - pad, 0), min(x1 + pad, width), max(y0 - pad, 0), min(y1 + pad, height)
        image = colour_pixels(frame[py0:py1, px0:px1])[y0 - py0:y1 - py0, x0 - px0:x1 - px0]  # as the colours were clustered
        self.llr[y0:y1, x0:x1] = likelihood_ratio(
            np.ascontiguousarray(image), np.ascontiguousarray(background.image[y0:y1, x0:x1], np.float32),
            np.ascontiguousarray(background.known[y0:y1, x0:x1]), np.ascontiguousarray(colours, np.float32),
            cfg.likelihood_sigma, cfg.likelihood_clip, cfg.shadow_floor, cfg.shadow_penalty,
            cfg.unseen_colour_distance)

    def sample_level(self, level: int, uv: np.ndarray) -> np.ndarray:
        """Bilinear samples (..., 9) of blur level ``level`` at frame pixels ``uv`` (..., 2)."""
        return sample_image(self.levels[level], uv - self.origin)

    def level_intrinsics(self, K: np.ndarray) -> np.ndarray:
        """``K`` moved so that it projects into the levels' pixels instead of the frame's."""
        shifted = np.array(K, np.float64)
        shifted[:2, 2] -= self.origin
        return shifted


@dataclass
class _Photometric:
    """The appearance term of one set of targets: the points used (object frame, (N, 3)); per row the index
    of its point (R,) (the rows of the latest key frame's set, then frame 0's); per blur level the target
    colour of each row (levels, R, 3); each row's weight (R,)."""

    xyz: np.ndarray
    point_of_row: np.ndarray
    targets: np.ndarray
    weights: np.ndarray


@dataclass
class View:
    """The mesh posed at (R, t): its raster, which surface samples are visible, and its contour."""

    rotation: np.ndarray
    translation: np.ndarray
    raster: Raster
    visible: np.ndarray  # (M,) bool, surface samples seen (depth test, facing the camera)
    facing: np.ndarray  # (M,) cosine between normal and the ray to the camera


class Appearance:
    """Colours of the surface samples per blur level: from the latest key frame and from frame 0."""

    def __init__(self, num_points: int, num_levels: int) -> None:
        self.recent = np.zeros((num_levels, num_points, 3), np.float32)
        self.recent_ok = np.zeros(num_points, bool)
        self.anchor = np.zeros((num_levels, num_points, 3), np.float32)
        self.anchor_ok = np.zeros(num_points, bool)
        self.last_rotation: np.ndarray | None = None

    def add_keyframe(self, evidence: FrameEvidence, view: View, uv: np.ndarray, min_facing: float,
                     anchor: bool = False) -> None:
        good = view.visible & (view.facing > min_facing)
        for level in range(len(evidence.levels)):
            values = evidence.sample_level(level, uv[good])[:, :3]
            self.recent[level, good] = values
            if anchor:
                self.anchor[level, good] = values
        # points seen now take this frame's colours; points not seen keep older ones
        self.recent_ok = (self.recent_ok & ~view.visible) | good
        if anchor:
            self.anchor_ok |= good
        self.last_rotation = view.rotation


class ModelFitter:
    """Fits the posed mesh to frames of one video (see the module docstring)."""

    def __init__(self, model: ObjectModel, K: np.ndarray, width: int, height: int, cfg: PoseFitConfig) -> None:
        self.model, self.K, self.width, self.height, self.cfg = model, np.asarray(K, float), width, height, cfg
        points, normals, _ = model.surface_samples(cfg.surface_points, seed=0)
        self.points, self.normals = np.ascontiguousarray(points, np.float64), np.ascontiguousarray(normals, np.float64)
        self.cull = model.cull_back_faces
        # the floor priors' arguments of fit_kernels.prior_terms: the floor's normal and a point of it (camera
        # frame), the object centre's frame-0 height above it and that prior's weight; for upright objects the
        # object-frame direction along the floor's normal and the tilt prior's weight (0: off)
        self.floor_terms: tuple[np.ndarray, np.ndarray, float, float, np.ndarray, float] = (
            _ZERO3, _ZERO3, 0.0, 0.0, _ZERO3, 0.0)
        self.appearance = Appearance(len(self.points), len(cfg.blur_sigmas))
        self.separable_share = 0.0  # 0: object and background colours not separable, 1: separable
        self._views: dict[bytes, View] = {}

    def set_separability(self, separability: float) -> None:
        """How separable the object's colours are from the background's (:func:`silhouette_separability`),
        as a share from 0 (up to ``separable_from``) to 1 (from ``separable_at``) that the silhouette's
        weights follow (:meth:`separable_weight`)."""
        cfg = self.cfg
        share = (separability - cfg.separable_from) / max(cfg.separable_at - cfg.separable_from, 1e-9)
        self.separable_share = float(np.clip(share, 0.0, 1.0))

    def separable_weight(self, low: float, high: float) -> float:
        """``low`` for a video whose object is not separable from its background, ``high`` for one that is."""
        return low + self.separable_share * (high - low)

    @property
    def line_weight(self) -> float:
        return self.separable_weight(self.cfg.line_weight, self.cfg.line_weight_separable)

    def set_floor(self, world_to_camera: np.ndarray, pose0: np.ndarray, upright: bool = False) -> None:
        """The floor (the world's z = 0 plane) seen by the static frame-0 camera, and the object's frame-0
        height above it, for the floor-height prior; with ``upright`` (the sample's motion keeps the object's
        attitude to the floor: it only turns about the floor's normal), also the tilt prior."""
        cfg = self.cfg
        normal = np.ascontiguousarray(world_to_camera[:3, :3] @ np.array([0.0, 0.0, 1.0]), np.float64)
        point = np.ascontiguousarray(world_to_camera[:3, 3], np.float64)
        height = float(normal @ (pose0[:3, 3] - point))
        self.floor_terms = (normal, point, height, float(cfg.upright_height_prior if upright else cfg.floor_height_prior),
                            pose0[:3, :3].T @ normal if upright else _ZERO3, float(cfg.tilt_prior) if upright else 0.0)

    # ---------------------------------------------------------------- geometry
    def project(self, rotation: np.ndarray, translation: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cam = points @ rotation.T + translation
        z = np.maximum(cam[:, 2:3], 1e-6)
        return (cam @ self.K.T)[:, :2] / z, cam

    def view(self, rotation: np.ndarray, translation: np.ndarray) -> View:
        key = rotation.tobytes() + translation.tobytes()
        if (hit := self._views.get(key)) is not None:
            return hit
        raster = rasterize(self.model.vertices, self.model.faces, rotation, translation, self.K, self.width, self.height,
                           cull_back_faces=self.cull)
        visible, facing = visible_samples(rotation, translation, self.K, self.points, self.normals, raster.depth)
        view = View(rotation, translation, raster, visible, facing)
        if len(self._views) > 64:
            self._views.clear()
        self._views[key] = view
        return view

    def region_of_interest(self, poses: list[tuple[np.ndarray, np.ndarray]], margin: int) -> tuple[int, int, int, int]:
        """(x0, x1, y0, y1): the bounding box of the mesh posed at ``poses``, grown by ``margin`` pixels and
        a quarter of its own size on each side, clipped to the image."""
        cols, rows = [], []
        for rotation, translation in poses:
            uv, cam = self.project(rotation, translation, self.model.vertices)
            uv = uv[cam[:, 2] > 1e-3]
            if len(uv):
                cols += [uv[:, 0].min(), uv[:, 0].max()]
                rows += [uv[:, 1].min(), uv[:, 1].max()]
        if not cols:
            return 0, self.width, 0, self.height
        grow_x = margin + 0.25 * (max(cols) - min(cols))
        grow_y = margin + 0.25 * (max(rows) - min(rows))
        x0, x1 = int(np.floor(min(cols) - grow_x)), int(np.ceil(max(cols) + grow_x)) + 1
        y0, y1 = int(np.floor(min(rows) - grow_y)), int(np.ceil(max(rows) + grow_y)) + 1
        return max(x0, 0), min(x1, self.width), max(y0, 0), min(y1, self.height)

    def new_frame(self) -> None:
        """Forget the posed views of the previous frame."""
        self._views.clear()

    def contour(self, view: View) -> tuple[np.ndarray, np.ndarray]:
        """Object points (N, 3) on the silhouette (boundary pixels of the raster) and outward image normals."""
        import cv2

        mask = view.raster.mask.astype(np.uint8)
        rows, cols = np.nonzero(mask - cv2.erode(mask, np.ones((3, 3), np.uint8)))
        if rows.size == 0:
            return np.zeros((0, 3)), np.zeros((0, 2))
        smooth = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)
        normal = -np.stack([cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)[rows, cols],
                            cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)[rows, cols]], axis=1)
        length = np.linalg.norm(normal, axis=1)
        ok = length > 1e-6
        points = view.raster.object_points(self.model.vertices, self.model.faces, rows[ok], cols[ok])
        return points, normal[ok] / length[ok, None]

    # ---------------------------------------------------------------- evidence
    def add_keyframe(self, evidence: FrameEvidence, rotation: np.ndarray, translation: np.ndarray,
                     anchor: bool = False) -> None:
        uv, _ = self.project(rotation, translation, self.points)
        self.appearance.add_keyframe(evidence, self.view(rotation, translation), uv, self.cfg.min_facing, anchor)

    def needs_keyframe(self, rotation: np.ndarray) -> bool:
        from benchmark.metrics.pose import geodesic_deg

        last = self.appearance.last_rotation
        return last is None or float(geodesic_deg(rotation, last)) > self.cfg.keyframe_every_deg

    def align_translation(self, evidence: FrameEvidence, rotation: np.ndarray, translation: np.ndarray,
                          radius: int, min_gain: float) -> np.ndarray:
        """The translation moved (at the object's depth, parallel to the image) so that the posed silhouette
        covers the pixels that look most like the object: the shift of at most ``radius`` pixels that
        maximises the log-likelihood ratio summed over the silhouette, if it beats no shift by ``min_gain``
        per silhouette pixel; else ``translation`` itself (the same object)."""
        import cv2

        raster = self.view(rotation, translation).raster
        rows, cols = np.nonzero(raster.mask)
        if rows.size == 0 or radius <= 0:
            return translation
        y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        padded = np.pad(evidence.llr, radius, constant_values=-self.cfg.likelihood_clip)
        window = padded[y0:y1 + 2 * radius, x0:x1 + 2 * radius]
        scores = cv2.matchTemplate(window, raster.mask[y0:y1, x0:x1].astype(np.float32), cv2.TM_CCORR)
        dy, dx = np.unravel_index(int(np.argmax(scores)), scores.shape)
        if scores[dy, dx] < scores[radius, radius] + min_gain * rows.size:
            return translation
        depth = float(raster.depth[rows, cols].mean())
        return translation + depth * np.array([(dx - radius) / self.K[0, 0], (dy - radius) / self.K[1, 1], 0.0])

    def region_energy(self, evidence: FrameEvidence, rotation: np.ndarray, translation: np.ndarray) -> float:
        """Minus the summed object/background log-likelihood ratio over the pixels the posed mesh covers."""
        return -float(evidence.llr[self.view(rotation, translation).raster.mask].sum())

    def region_support(self, evidence: FrameEvidence, rotation: np.ndarray, translation: np.ndarray) -> tuple[float, int]:
        """Mean log-likelihood ratio over the covered pixels (how object-like the posed silhouette's
        pixels look) and their number."""
        mask = self.view(rotation, translation).raster.mask
        count = int(mask.sum())
        return (float(evidence.llr[mask].mean()) if count else -self.cfg.likelihood_clip), count

    def visible_coloured(self, rotation: np.ndarray, translation: np.ndarray) -> int:
        return int((self.view(rotation, translation).visible & self.appearance.recent_ok).sum())

    def _boundary_targets(self, evidence: FrameEvidence, view: View):
        """Contour points, their outward normals, target pixels on the likeliest boundary and weights."""
        points, normal = self.contour(view)
        if len(points) == 0:
            return None
        cfg = self.cfg
        uv, _ = self.project(view.rotation, view.translation, points)
        normal = np.ascontiguousarray(normal, np.float64)
        target, weight = boundary_search(uv, normal, evidence.llr, view.raster.mask.astype(np.float64),
                                         cfg.line_half_length, cfg.likelihood_clip, cfg.contrast_window,
                                         cfg.contrast_scale)
        return points, normal, target, weight

    # ---------------------------------------------------------------- refinement
    def _photometric_terms(self, view: View, anchor: bool = True) -> "_Photometric | None":
        """The appearance term's data (:class:`_Photometric`): rows compare with the latest key frame's
        colours (weight 1 in total) and with frame 0's (``anchor_weight`` in total), over the visible
        points that have them, each set thinned evenly to at most ``max_photometric_points``."""
        app, cfg = self.appearance, self.cfg
        sets = [(app.recent, view.visible & app.recent_ok, 1.0)]
        if cfg.anchor_weight and anchor:
            sets.append((app.anchor, view.visible & app.anchor_ok, cfg.anchor_weight))
        chosen = []
        for colours, use, weight in sets:
            index = np.flatnonzero(use)
            if len(index) > cfg.max_photometric_points:
                index = index[np.linspace(0, len(index) - 1, cfg.max_photometric_points).astype(int)]
            if len(index):
                chosen.append((colours, index, weight))
        if not chosen:
            return None
        points = np.unique(np.concatenate([index for _, index, _ in chosen]))
        point_of_row = np.concatenate([np.searchsorted(points, index) for _, index, _ in chosen])
        targets = np.concatenate([colours[:, index] for colours, index, _ in chosen], axis=1)
        # each set weighs ``weight`` in total, spread over its rows and their 3 channels
        weights = np.concatenate([np.full(len(index), weight / (3 * len(index))) for _, index, weight in chosen])
        return _Photometric(np.ascontiguousarray(self.points[points]), point_of_row, targets, weights)

    def _cost(self, rotation, translation, level, evidence, photometric, boundary, tracks, prior_t, want_jacobian):
        cfg = self.cfg
        cost, H, g = prior_terms(rotation, translation, prior_t, float(cfg.translation_prior), *self.floor_terms)
        if photometric is not None:
            c, h, gr = photometric_term(rotation, translation, evidence.level_intrinsics(self.K), photometric.xyz,
                                        evidence.levels[level], photometric.point_of_row, photometric.targets[level],
                                        photometric.weights, cfg.photometric_huber, want_jacobian)
            cost, H, g = cost + c, H + h, g + gr
        for points, normal, target, weight, huber, total in (boundary, tracks):
            if points is None or len(points) == 0:
                continue
            c, h, gr = point_term(rotation, translation, self.K, points, _NO_NORMALS if normal is None else normal,
                                  target, weight * (total / len(points)), huber, want_jacobian)
            cost, H, g = cost + c, H + h, g + gr
        return cost, H, g

    def refine(self, evidence: FrameEvidence, rotation: np.ndarray, translation: np.ndarray,
               levels: tuple[int, ...] | None = None, tracks: tuple[np.ndarray, np.ndarray] | None = None,
               iterations: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Levenberg-Marquardt from (R, t) on the appearance, silhouette and track terms; ``tracks`` are
        (object points (N, 3), tracked pixels (N, 2)) of this frame."""
        cfg = self.cfg
        prior_t = translation.copy()
        levels = tuple(range(len(cfg.blur_sigmas))) if levels is None else levels
        iterations = iterations or cfg.iterations
        none = (None, None, None, None, 0.0, 0.0)
        track_term = none if tracks is None or len(tracks[0]) == 0 else (
            np.ascontiguousarray(tracks[0], np.float64), None, np.ascontiguousarray(tracks[1], np.float64),
            np.ones(len(tracks[0])), cfg.track_huber_px, cfg.track_weight * 64.0)
        targets = None  # (R, t) the visibility, colours and boundary targets were derived at, and those terms
        for level in levels:
            for outer in range(cfg.outer_iterations):
                if targets is not None and _close(targets[0], targets[1], rotation, translation):
                    if outer:
                        break  # the last pass hardly moved: new targets would be the same
                else:
                    view = self.view(rotation, translation)
                    boundary = none
                    if self.line_weight:
                        found = self._boundary_targets(evidence, view)
                        if found is not None:
                            boundary = (*found, 1.5, self.line_weight * 64.0)
                    targets = (rotation, translation, self._photometric_terms(view), boundary)
                photometric, boundary = targets[2], targets[3]
                args = (level, evidence, photometric, boundary, track_term, prior_t)
                cost, H, g = self._cost(rotation, translation, *args, True)
                damping = 1e-3
                for _ in range(iterations[min(level, len(iterations) - 1)]):
                    try:
                        dx = -np.linalg.solve(H + damping * (np.diag(np.diag(H)) + 1e-9 * np.eye(6)), g)
                    except np.linalg.LinAlgError:
                        break
                    r_new, t_new = rodrigues(dx[3:]) @ rotation, translation + dx[:3]
                    new = self._cost(r_new, t_new, *args, True)
                    small = np.abs(dx[3:]).max() < STEP_TOLERANCE_RAD and np.abs(dx[:3]).max() < STEP_TOLERANCE_M
                    if new[0] < cost:
                        rotation, translation, damping = r_new, t_new, max(damping / 3.0, 1e-6)
                        cost, H, g = new
                    else:
                        damping *= 8.0
                    if small:
                        break  # converged (or a tiny step that did not help)
        return rotation, translation

    def photometric_cost(self, evidence: FrameEvidence, rotation: np.ndarray, translation: np.ndarray,
                         anchor: bool = True) -> float:
        """Appearance cost at the coarsest level (comparable between hypotheses of one frame); without
        ``anchor``, against the latest key frame's colours only."""
        photometric = self._photometric_terms(self.view(rotation, translation), anchor)
        none = (None, None, None, None, 0.0, 0.0)
        return self._cost(rotation, translation, 0, evidence, photometric, none, none, translation, False)[0]
