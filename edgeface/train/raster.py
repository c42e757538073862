"""A z-buffered triangle rasteriser and vertex normals, compiled by numba.

Why not OpenGL: CI and most training machines have no display or GPU driver, and the meshes are
small (49k triangles of a pixel or two at 128 px), so a compiled loop over triangles renders a
face in about a millisecond on one core. One code path serves the CPU and the GPU machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def vertex_normals(vertices, triangles):
    """Area-weighted unit normals of a (V, 3) float32 mesh."""
    normals = np.zeros_like(vertices)
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        e1x, e1y, e1z = (
            vertices[b, 0] - vertices[a, 0],
            vertices[b, 1] - vertices[a, 1],
            vertices[b, 2] - vertices[a, 2],
        )
        e2x, e2y, e2z = (
            vertices[c, 0] - vertices[a, 0],
            vertices[c, 1] - vertices[a, 1],
            vertices[c, 2] - vertices[a, 2],
        )
        n0 = e1y * e2z - e1z * e2y
        n1 = e1z * e2x - e1x * e2z
        n2 = e1x * e2y - e1y * e2x
        for k in range(3):
            v = triangles[t, k]
            normals[v, 0] += n0
            normals[v, 1] += n1
            normals[v, 2] += n2
    for v in range(normals.shape[0]):
        norm = np.sqrt(normals[v, 0] ** 2 + normals[v, 1] ** 2 + normals[v, 2] ** 2)
        if norm > 0:
            normals[v] /= norm
        else:
            normals[v, 2] = 1.0
    return normals


@njit(cache=True, nogil=True)
def rasterize(xy, depth, colors, triangles, two_sided, height, width):
    """Draw triangles with per-vertex colours, nearest depth wins.

    xy: (V, 2) pixel coordinates with pixel (i, j)'s centre at (j + 0.5, i + 0.5); depth: (V,)
    distance from the camera (smaller is nearer); colors: (V, C). Triangles facing away from the
    camera are skipped unless marked `two_sided` (the mouth and eye interiors are seen from inside).
    Returns the colour image (H, W, C), the depth buffer (inf where empty) and the triangle index
    per pixel (-1 where empty). Colour and depth are interpolated linearly in the image, which is
    exact enough for triangles of a few pixels.
    """
    channels = colors.shape[1]
    image = np.zeros((height, width, channels), np.float32)
    zbuf = np.full((height, width), np.inf, np.float32)
    tbuf = np.full((height, width), -1, np.int32)
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        ax, ay, bx, by, cx, cy = xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1], xy[c, 0], xy[c, 1]
        if max(ax, bx, cx) < 0 or min(ax, bx, cx) > width or max(ay, by, cy) < 0 or min(ay, by, cy) > height:
            continue  # off the crop: most of the back of the head
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        # ICT winds its outer surfaces so that a face turned to the camera has negative area here
        if area >= 0 if not two_sided[t] else abs(area) < 1e-12:
            continue
        inv = 1.0 / area
        # barycentric weights are affine in x and y: step them instead of recomputing per pixel
        dw0dx, dw1dx = (by - cy) * inv, (cy - ay) * inv
        # sort the corners by y: the long edge top->bottom bounds one side of every row
        tx, ty, mx, my, bx_, by_ = ax, ay, bx, by, cx, cy
        if ty > my:
            tx, ty, mx, my = mx, my, tx, ty
        if my > by_:
            mx, my, bx_, by_ = bx_, by_, mx, my
            if ty > my:
                tx, ty, mx, my = mx, my, tx, ty
        y0 = max(int(np.ceil(ty - 0.5)), 0)
        y1 = min(int(np.floor(by_ - 0.5)), height - 1)
        for y in range(y0, y1 + 1):
            py = y + 0.5
            xl = tx + (py - ty) * (bx_ - tx) / (by_ - ty) if by_ > ty else tx
            if py < my:
                xs = tx + (py - ty) * (mx - tx) / (my - ty) if my > ty else mx
            else:
                xs = mx + (py - my) * (bx_ - mx) / (by_ - my) if by_ > my else mx
            lo, hi = min(xl, xs), max(xl, xs)
            x0 = max(int(np.ceil(lo - 0.5)), 0)
            x1 = min(int(np.floor(hi - 0.5)), width - 1)
            if x0 > x1:
                continue
            px = x0 + 0.5
            w0 = ((bx - px) * (cy - py) - (by - py) * (cx - px)) * inv
            w1 = ((cx - px) * (ay - py) - (cy - py) * (ax - px)) * inv
            for x in range(x0, x1 + 1):
                u = min(max(w0, 0.0), 1.0)
                v = min(max(w1, 0.0), 1.0 - u)
                w = 1.0 - u - v
                z = u * depth[a] + v * depth[b] + w * depth[c]
                if z < zbuf[y, x]:
                    zbuf[y, x] = z
                    tbuf[y, x] = t
                    for k in range(channels):
                        image[y, x, k] = u * colors[a, k] + v * colors[b, k] + w * colors[c, k]
                w0 += dw0dx
                w1 += dw1dx
    return image, zbuf, tbuf


@njit(cache=True, nogil=True)
def shade(albedo, specular, normals, positions, ambient, sky, light_dirs, light_colours, shininess):
    """Per-vertex linear radiance: ambient brighter from above (sky), Lambert lights and Blinn-Phong
    highlights. Camera space: the camera sits at the origin, so the view vector is -position."""
    out = np.empty_like(albedo)
    for v in range(albedo.shape[0]):
        nx, ny, nz = normals[v, 0], normals[v, 1], normals[v, 2]
        px, py, pz = positions[v, 0], positions[v, 1], positions[v, 2]
        inv = 1.0 / np.sqrt(px * px + py * py + pz * pz)
        vx, vy, vz = -px * inv, -py * inv, -pz * inv
        up = 1.0 + sky * ny
        r, g, b = ambient[0] * up, ambient[1] * up, ambient[2] * up
        highlight = 0.0
        for i in range(light_dirs.shape[0]):
            lx, ly, lz = light_dirs[i, 0], light_dirs[i, 1], light_dirs[i, 2]
            ndl = nx * lx + ny * ly + nz * lz
            if ndl <= 0:
                continue
            r += ndl * light_colours[i, 0]
            g += ndl * light_colours[i, 1]
            b += ndl * light_colours[i, 2]
            hx, hy, hz = lx + vx, ly + vy, lz + vz
            hn = np.sqrt(hx * hx + hy * hy + hz * hz) + 1e-9
            ndh = (nx * hx + ny * hy + nz * hz) / hn
            if ndh > 0:
                highlight += ndh ** shininess[i] * (light_colours[i, 0] + light_colours[i, 1] + light_colours[i, 2]) / 3
        gloss = 0.8 * specular[v] * highlight
        out[v, 0] = albedo[v, 0] * r + gloss
        out[v, 1] = albedo[v, 1] * g + gloss
        out[v, 2] = albedo[v, 2] * b + gloss
    return out
