"""The pose metric's compiled inner loops (benchmark/fit_kernels.py), each against an independent
reference: a brute-force rasterizer, finite differences of the cost, and images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.fit_kernels import (boundary_search, likelihood_ratio, photometric_term, point_term, prior_terms,
                                   visible_samples, with_gradients)
from benchmark.object_model import box_model
from benchmark.pose_fit import rodrigues
from benchmark.rasterize import rasterize

K = np.array([[60.0, 0.0, 31.5], [0.0, 60.0, 23.5], [0.0, 0.0, 1.0]])


def brute_force_raster(vertices, faces, rotation, translation, width, height):
    """Per pixel centre, every triangle tested by signed areas; the nearest (perspective depth) kept."""
    cam = vertices @ rotation.T + translation
    uv = (cam @ K.T)[:, :2] / cam[:, 2:3]
    face = np.full((height, width), -1)
    depth = np.full((height, width), np.inf)
    ys, xs = np.mgrid[0:height, 0:width]
    pixel = np.stack([xs, ys], -1).astype(float)
    for f, (a, b, c) in enumerate(faces):
        pa, pb, pc = uv[a], uv[b], uv[c]

        def cross(p, q, r):
            return (q[0] - p[0]) * (r[..., 1] - p[1]) - (q[1] - p[1]) * (r[..., 0] - p[0])

        area = cross(pa, pb, pc[None])[0]
        w0, w1 = cross(pb, pc, pixel) / area, cross(pc, pa, pixel) / area
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        d = 1.0 / (w0 / cam[a, 2] + w1 / cam[b, 2] + w2 / cam[c, 2])
        nearer = inside & (d < depth)
        face[nearer], depth[nearer] = f, d[nearer]
    return face, np.where(face >= 0, depth, 0.0)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_rasterizer_matches_a_brute_force_one(seed):
    rng = np.random.default_rng(seed)
    model = box_model((0.6, 0.4, 0.3))
    rotation = rodrigues(rng.normal(0.0, 1.5, 3))
    translation = np.array([rng.normal(0, 0.1), rng.normal(0, 0.1), rng.uniform(1.5, 2.5)])
    raster = rasterize(model.vertices, model.faces, rotation, translation, K, 64, 48)
    face, depth = brute_force_raster(model.vertices, model.faces, rotation, translation, 64, 48)
    # pixels on a shared edge may go to either triangle: compare coverage and depth, and faces elsewhere
    assert raster.mask.sum() > 100
    assert (raster.mask == (face >= 0)).mean() > 0.995
    both = raster.mask & (face >= 0)
    np.testing.assert_allclose(raster.depth[both], depth[both], rtol=1e-9)
    assert (raster.face[both] == face[both]).mean() > 0.97


def _finite_difference(cost, rotation, translation, eps=1e-6):
    grad = np.zeros(6)
    for i in range(6):
        step = np.zeros(6)
        step[i] = eps
        plus = cost(rodrigues(step[3:]) @ rotation, translation + step[:3])
        minus = cost(rodrigues(-step[3:]) @ rotation, translation - step[:3])
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("along_normal", [True, False])
def test_point_term_gradient_is_the_cost_gradient(along_normal):
    rng = np.random.default_rng(5)
    points = rng.normal(0.0, 0.2, (40, 3))
    normals = rng.normal(size=(40, 2))
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True) if along_normal else np.zeros((0, 2))
    rotation, translation = rodrigues(np.array([0.2, -0.4, 0.1])), np.array([0.05, -0.02, 2.0])
    targets = (points @ rotation.T + translation) @ K.T
    targets = targets[:, :2] / targets[:, 2:3] + rng.normal(0.0, 3.0, (40, 2))  # some beyond the Huber knee
    weights = rng.uniform(0.5, 1.5, 40)

    def cost(r, t):
        return point_term(r, t, K, points, normals, targets, weights, 2.0, False)[0]

    value, H, g = point_term(rotation, translation, K, points, normals, targets, weights, 2.0, True)
    assert value == pytest.approx(cost(rotation, translation))
    np.testing.assert_allclose(g, _finite_difference(cost, rotation, translation), rtol=1e-4, atol=1e-6)
    assert np.allclose(H, H.T) and np.linalg.eigvalsh(H).min() >= -1e-9


def test_prior_gradient_is_the_cost_gradient():
    normal = np.array([0.0, -0.92, 0.39])
    normal /= np.linalg.norm(normal)
    point, up = np.array([0.1, 1.2, 4.0]), rodrigues(np.array([0.3, -0.2, 0.5])).T @ normal
    rotation, translation = rodrigues(np.array([0.25, 0.1, -0.3])), np.array([0.2, -0.1, 5.0])
    args = (np.array([0.1, 0.0, 4.8]), 400.0, normal, point, 0.3, 4000.0, up, 600.0)

    def cost(r, t):
        return prior_terms(r, t, *args)[0]

    value, H, g = prior_terms(rotation, translation, *args)
    assert value > 1.0
    np.testing.assert_allclose(g, _finite_difference(cost, rotation, translation), rtol=1e-5, atol=1e-6)
    assert np.allclose(H, H.T) and np.linalg.eigvalsh(H).min() >= -1e-9
    assert prior_terms(rotation, translation, args[0], 0.0, normal, point, 0.3, 0.0, up, 0.0)[0] == 0.0


def test_photometric_term_on_a_linear_image_has_the_exact_gradient():
    """On an image linear in x and y, bilinear samples and central differences are exact, so the
    Gauss-Newton gradient equals the cost's gradient; rows of one point share its Jacobian."""
    ys, xs = np.mgrid[0:48, 0:64].astype(np.float32)
    base = np.stack([2.0 * xs + ys, 0.5 * xs - 1.5 * ys + 100.0, xs + 3.0 * ys], -1).astype(np.float32)
    image = with_gradients(base)
    rng = np.random.default_rng(9)
    xyz = rng.normal(0.0, 0.1, (30, 3))
    point_of_row = np.concatenate([np.arange(30), np.arange(0, 30, 2)])  # two sets sharing points
    targets = rng.uniform(20.0, 120.0, (len(point_of_row), 3)).astype(np.float32)
    weights = rng.uniform(0.01, 0.03, len(point_of_row))
    rotation, translation = rodrigues(np.array([0.1, 0.3, -0.2])), np.array([0.0, 0.0, 2.0])

    def cost(r, t):
        return photometric_term(r, t, K, xyz, image, point_of_row, targets, weights, 8.0, False)[0]

    value, H, g = photometric_term(rotation, translation, K, xyz, image, point_of_row, targets, weights, 8.0, True)
    assert value > 0 and value == pytest.approx(cost(rotation, translation))
    np.testing.assert_allclose(g, _finite_difference(cost, rotation, translation, 1e-5), rtol=1e-3, atol=1e-4)


def test_gradients_are_central_differences_and_zero_on_the_border():
    ys, xs = np.mgrid[0:5, 0:7].astype(np.float32)
    out = with_gradients(np.stack([xs * xs, 3.0 * ys, xs + ys], -1).astype(np.float32))
    np.testing.assert_allclose(out[2, 1:-1, 3], 2.0 * xs[2, 1:-1])  # d(x^2)/dx by central differences
    np.testing.assert_allclose(out[1:-1, 3, 7], 3.0)
    assert (out[:, [0, -1], 3:6] == 0).all() and (out[[0, -1], :, 6:9] == 0).all()


def test_boundary_search_finds_the_edge_and_trusts_only_clear_ones():
    """A silhouette covering x <= 17 against an object that really ends between x = 20 and 21: the
    contour pixel (17, 10) moves to the ratio's zero crossing, half a pixel inside it."""
    llr = np.where(np.arange(64)[None, :] <= 20, 3.0, -3.0).astype(np.float32).repeat(48, 0)
    covered = np.zeros((48, 64))
    covered[:, :18] = 1.0
    uv, normal = np.array([[17.0, 10.0]]), np.array([[1.0, 0.0]])
    target, weight = boundary_search(uv, normal, llr, covered, 5, 4.0, 3, 2.0)
    np.testing.assert_allclose(target, [[20.0, 10.0]])
    assert weight[0] == 1.0
    _, weight = boundary_search(uv, normal, np.zeros_like(llr), covered, 5, 4.0, 3, 2.0)
    assert weight[0] == 0.0  # nothing tells object from background: no pull


def test_likelihood_ratio_classifies_object_background_shadow_and_unknown():
    background = np.full((1, 4, 3), 200.0, np.float32)
    image = np.array([[[30, 90, 40], [200, 200, 200], [100, 100, 100], [30, 90, 40]]], np.float32)
    known = np.array([[True, True, True, False]])
    colours = np.array([[30, 90, 40], [250, 0, 0]], np.float32)
    llr = likelihood_ratio(image, background, known, colours, 12.0, 4.0, 0.35, 8.0)
    assert llr[0, 0] == 4.0  # an object colour on a light floor
    assert llr[0, 1] == -4.0  # the floor itself
    assert llr[0, 2] < -3.0  # the floor in a shadow at half brightness
    assert llr[0, 3] == 0.0  # background unknown there


def test_an_unseen_colour_unlike_its_background_counts_as_the_object():
    """A yellow bow the first frame did not show, on a cream floor: far from the known (white, blue) object
    colours, farther still from the floor and from its shadow. Without the cap on the object's colour
    distance the ratio calls it floor; with it, object. The floor and its shadow stay background."""
    background = np.full((1, 3, 3), [235.0, 228.0, 220.0], np.float32)
    image = np.array([[[225, 190, 40], [235, 228, 220], [120, 116, 112]]], np.float32)
    known = np.ones((1, 3), bool)
    colours = np.array([[245, 245, 245], [60, 110, 220]], np.float32)
    without = likelihood_ratio(image, background, known, colours, 12.0, 4.0, 0.35, 8.0)
    capped = likelihood_ratio(image, background, known, colours, 12.0, 4.0, 0.35, 8.0, 48.0)
    assert without[0, 0] < -3.0
    assert capped[0, 0] == 4.0
    assert capped[0, 1] == without[0, 1] < -3.0  # the floor (near white: not clipped)
    assert capped[0, 2] < -3.0  # the floor in shadow
    # a colour near a known one is scored as before: the cap only bounds distances beyond it
    near = np.array([[[240, 240, 240]]], np.float32)
    assert likelihood_ratio(near, background[:, :1], known[:, :1], colours, 12.0, 4.0, 0.35, 8.0, 48.0)[0, 0] == \
        likelihood_ratio(near, background[:, :1], known[:, :1], colours, 12.0, 4.0, 0.35, 8.0)[0, 0]


def test_visible_samples_see_the_front_of_a_box_and_not_its_back():
    model = box_model((0.4, 0.4, 0.4))
    points = np.array([[0.0, 0.0, -0.2], [0.0, 0.0, 0.2], [0.05, 0.05, -0.2]])
    normals = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    rotation, translation = np.eye(3), np.array([0.0, 0.0, 2.0])
    raster = rasterize(model.vertices, model.faces, rotation, translation, K, 64, 48)
    visible, facing = visible_samples(rotation, translation, K, points, normals, raster.depth)
    assert visible.tolist() == [True, False, True]
    assert facing[0] == pytest.approx(1.0) and facing[1] == pytest.approx(-1.0)
