"""Compiled inner loops of the mesh fit (numba): the z-buffer rasterizer and the Levenberg-Marquardt
terms (cost, Gauss-Newton normal matrix and gradient in one pass over the points).

They replace chains of small numpy operations whose per-call overhead dominated the pose metric's time
(docs/performance.md). Each kernel is compiled on first use and cached on disk (``cache=True``: next to
this file, or in the user's cache directory where that is read-only), so a new process pays the
compilation once per machine, not per run.

Conventions as in :mod:`benchmark.pose_fit`: pixel centres at integer coordinates, the pose's 6 update
parameters are (translation, rotation about the object's centre), ordered t_x, t_y, t_z, w_x, w_y, w_z.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def rasterize_faces(uv, z, faces, width, height, near, cull_back_faces, face, depth, bary):
    """Fill ``face`` (H, W, -1 where empty), ``depth`` (0 where empty) and ``bary`` (H, W, 3,
    perspective-correct) with the nearest triangle over each pixel centre (see benchmark.rasterize)."""
    nearest = np.full((height, width), np.inf)
    for f in range(faces.shape[0]):
        ia, ib, ic = faces[f, 0], faces[f, 1], faces[f, 2]
        za, zb, zc = z[ia], z[ib], z[ic]
        if not (za > near and zb > near and zc > near):
            continue
        ax, ay, bx, by, cx, cy = uv[ia, 0], uv[ia, 1], uv[ib, 0], uv[ib, 1], uv[ic, 0], uv[ic, 1]
        x0 = max(np.floor(min(ax, bx, cx)), 0.0)
        x1 = min(np.ceil(max(ax, bx, cx)), width - 1.0)
        y0 = max(np.floor(min(ay, by, cy)), 0.0)
        y1 = min(np.ceil(max(ay, by, cy)), height - 1.0)
        if x1 < x0 or y1 < y0:
            continue
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if abs(area) <= 1e-12 or (cull_back_faces and area >= 0.0):
            continue  # degenerate, or turned away (outward triangles project clockwise with y down)
        # the barycentric weights of a and b are affine in the pixel
        k0, k1, k2 = (by - cy) / area, (cx - bx) / area, (bx * cy - by * cx) / area
        k3, k4, k5 = (cy - ay) / area, (ax - cx) / area, (cx * ay - cy * ax) / area
        for py in range(int(y0), int(y1) + 1):
            for px in range(int(x0), int(x1) + 1):
                w0 = k0 * px + k1 * py + k2
                w1 = k3 * px + k4 * py + k5
                w2 = 1.0 - w0 - w1
                if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                    continue
                p0, p1, p2 = w0 / za, w1 / zb, w2 / zc
                d = 1.0 / (p0 + p1 + p2)
                if d < nearest[py, px]:
                    nearest[py, px] = d
                    face[py, px] = f
                    depth[py, px] = d
                    bary[py, px, 0], bary[py, px, 1], bary[py, px, 2] = p0 * d, p1 * d, p2 * d


@njit(cache=True, inline="always")
def _project(R, t, K, x, y, z):
    """Camera point and pixel of one object point (division by a depth clamped to 1e-6)."""
    cx = R[0, 0] * x + R[0, 1] * y + R[0, 2] * z + t[0]
    cy = R[1, 0] * x + R[1, 1] * y + R[1, 2] * z + t[1]
    cz = R[2, 0] * x + R[2, 1] * y + R[2, 2] * z + t[2]
    inv = 1.0 / max(cz, 1e-6)
    u = (K[0, 0] * cx + K[0, 1] * cy + K[0, 2] * cz) * inv
    v = (K[1, 0] * cx + K[1, 1] * cy + K[1, 2] * cz) * inv
    return cx, cy, cz, u, v


@njit(cache=True, inline="always")
def _pixel_jacobian(K, t, cx, cy, cz, J):
    """d(u, v)/d(translation, rotation about ``t``) of a camera point, into J (2, 6)."""
    fx, fy = K[0, 0], K[1, 1]
    inv_z = 1.0 / cz
    x, y = cx * inv_z, cy * inv_z
    dx, dy, dz = cx - t[0], cy - t[1], cz - t[2]
    J[0, 0], J[0, 1], J[0, 2] = fx * inv_z, 0.0, -fx * x * inv_z
    J[1, 0], J[1, 1], J[1, 2] = 0.0, fy * inv_z, -fy * y * inv_z
    for row in range(2):
        a, b, c = J[row, 0], J[row, 1], J[row, 2]
        J[row, 3] = -b * dz + c * dy
        J[row, 4] = a * dz - c * dx
        J[row, 5] = -a * dy + b * dx


@njit(cache=True, inline="always")
def _huber(a, k):
    """Huber cost and IRLS weight of an absolute residual."""
    if a <= k:
        return 0.5 * a * a, 1.0
    return k * (a - 0.5 * k), k / max(a, 1e-12)


@njit(cache=True, inline="always")
def _accumulate(H, g, j, weight, weighted_residual):
    for a in range(6):
        g[a] += weighted_residual * j[a]
        for b in range(6):
            H[a, b] += weight * j[a] * j[b]


@njit(cache=True)
def photometric_term(R, t, K, xyz, image, point_of_row, targets, weights, huber, want_jacobian):
    """Appearance term: rows compare the colour (channels 0-2 of ``image`` (H, W, 9), bilinear, replicated
    border) at the projection of point ``xyz[point_of_row[r]]`` with ``targets[r]``; Huber cost weighted by
    ``weights[r]``. The image's channels 3-5 and 6-8 are its x and y gradients. Returns (cost, H, g)."""
    height, width = image.shape[0], image.shape[1]
    n = xyz.shape[0]
    samples = np.empty((n, 9))
    cams = np.empty((n, 3))
    for p in range(n):
        cx, cy, cz, u, v = _project(R, t, K, xyz[p, 0], xyz[p, 1], xyz[p, 2])
        cams[p, 0], cams[p, 1], cams[p, 2] = cx, cy, cz
        fu, fv = np.floor(u), np.floor(v)
        au, av = u - fu, v - fv
        u0 = min(max(fu, 0.0), width - 1.0)
        u1 = min(max(fu + 1.0, 0.0), width - 1.0)
        v0 = min(max(fv, 0.0), height - 1.0)
        v1 = min(max(fv + 1.0, 0.0), height - 1.0)
        i0, i1, j0, j1 = int(u0), int(u1), int(v0), int(v1)
        for c in range(9):
            top = image[j0, i0, c] * (1.0 - au) + image[j0, i1, c] * au
            bottom = image[j1, i0, c] * (1.0 - au) + image[j1, i1, c] * au
            samples[p, c] = top * (1.0 - av) + bottom * av
    cost = 0.0
    H = np.zeros((6, 6))
    g = np.zeros(6)
    point_w = np.zeros((n, 3))
    point_wr = np.zeros((n, 3))
    for r in range(point_of_row.shape[0]):
        p = point_of_row[r]
        for c in range(3):
            res = samples[p, c] - targets[r, c]
            rho, w = _huber(abs(res), huber)
            cost += weights[r] * rho
            point_w[p, c] += weights[r] * w
            point_wr[p, c] += weights[r] * w * res
    if want_jacobian:
        # per point, with G_c = (x gradient, y gradient) of channel c: H += Juv^T (sum_c w_c G_c^T G_c) Juv and
        # g += Juv^T sum_c (w r)_c G_c^T; upper triangle of H only, mirrored at the end
        Juv = np.empty((2, 6))
        for p in range(n):
            m00 = m01 = m11 = q0 = q1 = 0.0
            for c in range(3):
                gx, gy = samples[p, 3 + c], samples[p, 6 + c]
                w, wr = point_w[p, c], point_wr[p, c]
                m00 += w * gx * gx
                m01 += w * gx * gy
                m11 += w * gy * gy
                q0 += wr * gx
                q1 += wr * gy
            if m00 == 0.0 and m11 == 0.0 and q0 == 0.0 and q1 == 0.0:
                continue
            _pixel_jacobian(K, t, cams[p, 0], cams[p, 1], cams[p, 2], Juv)
            for a in range(6):
                ma0 = m00 * Juv[0, a] + m01 * Juv[1, a]  # (M Juv)[:, a]
                ma1 = m01 * Juv[0, a] + m11 * Juv[1, a]
                g[a] += q0 * Juv[0, a] + q1 * Juv[1, a]
                for b in range(a, 6):
                    H[a, b] += Juv[0, b] * ma0 + Juv[1, b] * ma1
        for a in range(6):
            for b in range(a):
                H[a, b] = H[b, a]
    return cost, H, g


@njit(cache=True)
def point_term(R, t, K, points, normals, targets, weights, huber, want_jacobian):
    """Geometric term of object ``points`` (N, 3) against target pixels (N, 2): along the unit image
    ``normals`` (N, 2) when given (one residual per point), else in x and y (two); Huber cost weighted by
    ``weights`` (N,). Returns (cost, H, g)."""
    along_normal = normals.shape[0] == points.shape[0]
    cost = 0.0
    H = np.zeros((6, 6))
    g = np.zeros(6)
    Juv = np.empty((2, 6))
    j = np.empty(6)
    for p in range(points.shape[0]):
        cx, cy, cz, u, v = _project(R, t, K, points[p, 0], points[p, 1], points[p, 2])
        if want_jacobian:
            _pixel_jacobian(K, t, cx, cy, cz, Juv)
        if along_normal:
            res = (u - targets[p, 0]) * normals[p, 0] + (v - targets[p, 1]) * normals[p, 1]
            rho, w = _huber(abs(res), huber)
            cost += weights[p] * rho
            if want_jacobian:
                for a in range(6):
                    j[a] = normals[p, 0] * Juv[0, a] + normals[p, 1] * Juv[1, a]
                _accumulate(H, g, j, weights[p] * w, weights[p] * w * res)
        else:
            for axis in range(2):
                res = (u if axis == 0 else v) - targets[p, axis]
                rho, w = _huber(abs(res), huber)
                cost += weights[p] * rho
                if want_jacobian:
                    _accumulate(H, g, Juv[axis], weights[p] * w, weights[p] * w * res)
    return cost, H, g


@njit(cache=True, inline="always")
def _bilinear_constant(image, u, v, border):
    """Bilinear sample of a 2D ``image`` at (u, v), ``border`` outside it."""
    height, width = image.shape
    fu, fv = np.floor(u), np.floor(v)
    au, av = u - fu, v - fv
    i0, j0 = int(fu), int(fv)
    total = 0.0
    for dj in range(2):
        for di in range(2):
            i, j = i0 + di, j0 + dj
            value = image[j, i] if 0 <= i < width and 0 <= j < height else border
            total += value * (au if di else 1.0 - au) * (av if dj else 1.0 - av)
    return total


@njit(cache=True)
def boundary_search(uv, normals, llr, covered, half_length, clip, window, contrast_scale):
    """For contour pixels ``uv`` (N, 2) of a posed silhouette ``covered`` (H, W, 0/1 float) with outward unit
    ``normals`` (N, 2): the likeliest object/background boundary along the normal on the log-likelihood ratio
    ``llr`` (H, W; ``-clip`` outside the image), searched ``half_length`` pixels to each side. Samples inside
    count while they stay on this part of the silhouette, samples outside while they stay off it; the edge
    maximises (object evidence before it) - (after it), refined to the sign change of the ratio. Returns
    each point's target pixel (N, 2) and weight (N,): how clearly both sides of the edge are classified
    (mean ratio over ``window`` samples each side, divided by ``contrast_scale``, clipped to 1, squared)."""
    count = 2 * half_length + 1
    n = uv.shape[0]
    targets = np.empty((n, 2))
    weights = np.empty(n)
    values = np.empty(count)
    cumulative = np.empty(count + 1)
    for p in range(n):
        for s in range(count):
            step = s - half_length
            u, v = uv[p, 0] + step * normals[p, 0], uv[p, 1] + step * normals[p, 1]
            values[s] = _bilinear_constant(llr, u, v, -clip)
            cumulative[s] = _bilinear_constant(covered, u, v, 0.0)  # coverage, reused below
        # inner samples (half_length back to 0) while covered, outer ones (onwards) while not
        on = True
        for s in range(half_length, -1, -1):
            on = on and cumulative[s] > 0.5
            if not on:
                values[s] = 0.0
        off = True
        for s in range(half_length + 1, count):
            off = off and not cumulative[s] > 0.5
            if not off:
                values[s] = 0.0
        cumulative[0] = 0.0
        for s in range(count):
            cumulative[s + 1] = cumulative[s] + values[s]
        best, j = -np.inf, 0
        for s in range(count + 1):
            energy = 2.0 * cumulative[s] - cumulative[count]  # object before the boundary, background after
            if energy > best:
                best, j = energy, s
        edge = -half_length - 0.5 + j
        if 0 < j <= count - 1:
            a, b = values[j - 1], values[j]
            if a > 0.0 and b < 0.0:
                edge = (j - 1 - half_length) + a / (a - b)
        sum_in, n_in, sum_out, n_out = 0.0, 0, 0.0, 0
        for s in range(max(j - window, 0), j):
            sum_in += values[s]
            n_in += 1
        for s in range(j, min(j + window, count)):
            sum_out += values[s]
            n_out += 1
        contrast = min(sum_in / n_in, -sum_out / n_out) if n_in and n_out else 0.0
        weights[p] = min(max(contrast / contrast_scale, 0.0), 1.0) ** 2
        # the contour pixel's centre lies half a pixel inside the silhouette's edge
        targets[p, 0] = uv[p, 0] + (edge - 0.5) * normals[p, 0]
        targets[p, 1] = uv[p, 1] + (edge - 0.5) * normals[p, 1]
    return targets, weights


@njit(cache=True)
def colour_feature_image(frame, intensity_weight):
    """(H, W, 3) float32 of an (H, W, 3) RGB frame: two chromaticity channels and the weighted intensity,
    all on a 0-255 scale (benchmark.pose_fit.colour_features)."""
    height, width = frame.shape[0], frame.shape[1]
    out = np.empty((height, width, 3), np.float32)
    for y in range(height):
        for x in range(width):
            r, g, b = np.float32(frame[y, x, 0]), np.float32(frame[y, x, 1]), np.float32(frame[y, x, 2])
            total = r + g + b
            scale = np.float32(255.0) / (total + np.float32(30.0))
            out[y, x, 0], out[y, x, 1] = r * scale, g * scale
            out[y, x, 2] = total / np.float32(3.0) * np.float32(intensity_weight)
    return out


@njit(cache=True)
def with_gradients(image):
    """(H, W, 9): the (H, W, 3) ``image``, then its x and y central differences (half the difference of
    the two neighbours; 0 on the border rows and columns, as a mirrored border gives)."""
    height, width = image.shape[0], image.shape[1]
    out = np.zeros((height, width, 9), np.float32)
    for y in range(height):
        for x in range(width):
            for c in range(3):
                out[y, x, c] = image[y, x, c]
                if 0 < x < width - 1:
                    out[y, x, 3 + c] = np.float32(0.5) * (image[y, x + 1, c] - image[y, x - 1, c])
                if 0 < y < height - 1:
                    out[y, x, 6 + c] = np.float32(0.5) * (image[y + 1, x, c] - image[y - 1, x, c])
    return out


@njit(cache=True)
def likelihood_ratio(image, background, known, colours, sigma, clip, shadow_floor, shadow_penalty, unseen=0.0):
    """(H, W) float32 object/background log-likelihood ratio of the (H, W, 3) ``image`` (see
    benchmark.pose_fit.FrameEvidence): squared distance to the nearest object colour (``colours`` (k, 3))
    against the squared distance to the ``background`` or to a shadow on it (the background darkened by a
    factor in [shadow_floor, 1], ``shadow_penalty`` farther), over 2 sigma^2, clipped to +-``clip``; 0
    where the background is not ``known``. With ``unseen`` > 0 the distance to the object's colours counts
    at most ``unseen``: a colour the object has not shown yet is as likely as one that far from its known
    ones, so a pixel far from both the background and its shadow counts as the object."""
    height, width = image.shape[0], image.shape[1]
    out = np.empty((height, width), np.float32)
    farthest_obj2 = unseen * unseen if unseen > 0.0 else np.inf
    for y in range(height):
        for x in range(width):
            if not known[y, x]:
                out[y, x] = 0.0
                continue
            r, g, b = image[y, x, 0], image[y, x, 1], image[y, x, 2]
            d_obj2 = farthest_obj2
            for k in range(colours.shape[0]):
                dr, dg, db = r - colours[k, 0], g - colours[k, 1], b - colours[k, 2]
                d_obj2 = min(d_obj2, dr * dr + dg * dg + db * db)
            br, bg, bb = background[y, x, 0], background[y, x, 1], background[y, x, 2]
            dot = r * br + g * bg + b * bb
            bg2 = br * br + bg * bg + bb * bb
            sq = r * r + g * g + b * b
            d_bg = np.sqrt(max(sq - 2.0 * dot + bg2, 0.0))
            scale = min(max(dot / max(bg2, 1.0), shadow_floor), 1.0)
            d_shadow = np.sqrt(max(sq - 2.0 * scale * dot + scale * scale * bg2, 0.0)) + shadow_penalty
            d_bg = min(d_bg, d_shadow)
            out[y, x] = min(max((d_bg * d_bg - d_obj2) / (2.0 * sigma * sigma), -clip), clip)
    return out


@njit(cache=True)
def visible_samples(R, t, K, points, normals, depth):
    """Which surface samples (``points``, outward ``normals``, (N, 3) object frame) the posed mesh shows:
    in the image, in front of the camera, at the depth of the raster's ``depth`` (H, W; 0 where empty) at
    their nearest pixel (within 1 cm + 1 %) and facing the camera. Returns (visible (N,) bool, facing (N,):
    the cosine between the normal and the ray to the camera)."""
    height, width = depth.shape
    n = points.shape[0]
    visible = np.zeros(n, np.bool_)
    facing = np.empty(n)
    for p in range(n):
        cx, cy, cz, u, v = _project(R, t, K, points[p, 0], points[p, 1], points[p, 2])
        nx = R[0, 0] * normals[p, 0] + R[0, 1] * normals[p, 1] + R[0, 2] * normals[p, 2]
        ny = R[1, 0] * normals[p, 0] + R[1, 1] * normals[p, 1] + R[1, 2] * normals[p, 2]
        nz = R[2, 0] * normals[p, 0] + R[2, 1] * normals[p, 1] + R[2, 2] * normals[p, 2]
        facing[p] = -(nx * cx + ny * cy + nz * cz) / max(np.sqrt(cx * cx + cy * cy + cz * cz), 1e-12)
        col, row = np.rint(u), np.rint(v)
        if not (0.0 <= col < width and 0.0 <= row < height and cz > 0.0 and facing[p] > 0.0):
            continue
        seen = depth[int(row), int(col)]
        visible[p] = seen > 0.0 and abs(seen - cz) <= 0.01 + 0.01 * cz
    return visible, facing


@njit(cache=True)
def prior_terms(R, t, prior_t, translation_weight, floor_normal, floor_point, floor_height, height_weight,
                floor_up, tilt_weight):
    """The fit's priors as (cost, H, g): the translation near ``prior_t``; the centre at ``floor_height``
    above the floor (unit ``floor_normal`` through ``floor_point``, camera frame); ``R floor_up`` along the
    floor's normal (an upright object's attitude). A weight of 0 switches a prior off."""
    H = np.zeros((6, 6))
    g = np.zeros(6)
    cost = 0.0
    for i in range(3):
        d = t[i] - prior_t[i]
        cost += 0.5 * translation_weight * d * d
        H[i, i] += translation_weight
        g[i] += translation_weight * d
    if height_weight:
        r = -floor_height
        for i in range(3):
            r += floor_normal[i] * (t[i] - floor_point[i])
        cost += 0.5 * height_weight * r * r
        for i in range(3):
            g[i] += height_weight * r * floor_normal[i]
            for j in range(3):
                H[i, j] += height_weight * floor_normal[i] * floor_normal[j]
    if tilt_weight:
        # e = R a - n; d(e)/d(w) = -[R a]x, so J^T J = |u|^2 I - u u^T and J^T e = u x e with u = R a
        u = R @ floor_up
        e = u - floor_normal
        cost += 0.5 * tilt_weight * (e[0] * e[0] + e[1] * e[1] + e[2] * e[2])
        uu = u[0] * u[0] + u[1] * u[1] + u[2] * u[2]
        cross = np.array([u[1] * e[2] - u[2] * e[1], u[2] * e[0] - u[0] * e[2], u[0] * e[1] - u[1] * e[0]])
        for i in range(3):
            g[3 + i] += tilt_weight * cross[i]
            for j in range(3):
                H[3 + i, 3 + j] += tilt_weight * ((uu if i == j else 0.0) - u[i] * u[j])
    return cost, H, g
