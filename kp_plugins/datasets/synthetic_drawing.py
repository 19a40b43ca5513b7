"""Drawing one image of synthetic people: the pixels and the person
annotations of every figure in it, in memory (writing and caching splits of
such images is :mod:`kp_plugins.datasets.synthetic_people`).

What an image holds:

- a cluttered background: a colour gradient, low-frequency colour noise and
  5-20 random shapes (rectangles, discs, ellipses, thick lines, polygons);
- 1-4 articulated figures (``min_people``/``max_people``; crowds of many
  smaller figures with ``layout='grid'``) with human
  proportions (head 1/8 of the height, torso 0.30, upper arm 0.19, forearm
  0.15, thigh and shin 0.25 of the standing height ``L``), joint angles sampled
  in plausible ranges, per-segment foreshortening, an in-plane lean and a body
  yaw (front, back, profile) that the head follows;
- limbs drawn as tapered quads with round caps and a darker outline. **The
  figure's left limbs and left ear take warm hues (red to yellow), its right
  limbs and right ear cool hues (cyan to blue)**, so left and right are
  visible in the image and a horizontal flip (which swaps the labels through
  ``flip_indices``) keeps the label 'left' on the warm limbs;
- a head whose face patch, eyes and nose turn with the head yaw: a figure
  seen from the back shows no eyes or nose, a profile hides the far eye and
  ear;
- pixel noise and, sometimes, a slight blur.

Annotations (one per figure, see :func:`render_image`):

- ``keypoints``: ``[x, y, v] * 17`` in pixel coordinates (OpenCV's: the
  centre of pixel ``(i, j)`` is ``(i, j)``). ``v = 0`` with ``(0, 0)`` for a
  point outside the image or a face point turned away from the camera;
  ``v = 1`` for a point inside the image that a figure drawn later covers;
  ``v = 2`` otherwise. A figure's own limbs never make its points ``v = 1``.
- ``bbox``: ``[x, y, w, h]``, the extent of the figure's whole silhouette
  (occluded parts included, so every labelled point lies inside), clipped to
  the image.
- ``area``: pixel count of that silhouette inside the image (COCO uses the
  segmentation area; MMPose's fallback of ``0.53 * w * h`` is not used).
- ``num_keypoints``: number of points with ``v > 0``; ``iscrowd = 0``.
"""
import colorsys
from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

# Bump when the drawing or the annotation rules change: it is part of the
# cache key, so old caches are never reused for a different generator.
GENERATOR_VERSION = 1

#: COCO's 17 person keypoints, in COCO's order (the index constants below).
NUM_KEYPOINTS = 17
KEYPOINT_NAMES = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle')
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16

# Hue families (OpenCV-free, colorsys hue in [0, 1)).
_LEFT_HUES = ((0.95, 1.0), (0.0, 0.15))      # red, orange, yellow
_RIGHT_HUES = ((0.47, 0.70), )               # cyan, azure, blue
_SKIN_TONES = ((224, 200, 255), (170, 200, 240), (120, 160, 210),
               (90, 120, 180), (60, 85, 140), (40, 60, 100))  # BGR
_SUBPIXEL_SHIFT = 4                          # cv2 fixed point: 1/16 pixel
_SCALE = 1 << _SUBPIXEL_SHIFT


def _hsv_bgr(h: float, s: float, v: float) -> Tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(b * 255), int(g * 255), int(r * 255)


def _family_colour(rng: np.random.Generator, ranges) -> Tuple[int, int, int]:
    lo, hi = ranges[rng.integers(len(ranges))]
    return _hsv_bgr(rng.uniform(lo, hi), rng.uniform(0.55, 1.0), rng.uniform(0.45, 1.0))


def _fixed(pts: np.ndarray) -> np.ndarray:
    """Float pixel coordinates (..., 2) -> cv2 fixed-point int32."""
    return np.round(np.asarray(pts, np.float64) * _SCALE).astype(np.int32)


class _Canvas:
    """Draws shapes on the image (anti-aliased) and, when a figure is being
    drawn, the same shapes on that figure's binary mask (no anti-aliasing)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.mask: Optional[np.ndarray] = None

    def poly(self, pts: np.ndarray, colour, outline=None) -> None:
        p = _fixed(pts).reshape(-1, 1, 2)
        cv2.fillPoly(self.image, [p], colour, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        if outline is not None:
            cv2.polylines(self.image, [p], True, outline, 1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        if self.mask is not None:
            cv2.fillPoly(self.mask, [p], 1, cv2.LINE_8, _SUBPIXEL_SHIFT)

    def disc(self, centre, radius: float, colour) -> None:
        c = tuple(int(v) for v in _fixed(centre))
        r = max(int(round(radius * _SCALE)), _SCALE // 2)
        cv2.circle(self.image, c, r, colour, -1, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        if self.mask is not None:
            cv2.circle(self.mask, c, r, 1, -1, cv2.LINE_8, _SUBPIXEL_SHIFT)

    def segment(self, a, b, wa: float, wb: float, colour, outline) -> None:
        """Tapered limb from ``a`` (full width ``wa``) to ``b`` (``wb``)."""
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        d = b - a
        n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-6)
        quad = np.stack([a + n * wa / 2, b + n * wb / 2, b - n * wb / 2, a - n * wa / 2])
        self.disc(a, wa / 2, colour)
        self.disc(b, wb / 2, colour)
        self.poly(quad, colour, outline)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Gradient + low-frequency colour noise + random shapes, (h, w, 3) uint8."""
    ang = rng.uniform(0, 2 * np.pi)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    t = xs * np.cos(ang) + ys * np.sin(ang)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    c1 = rng.uniform(0, 255, 3).astype(np.float32)
    c2 = rng.uniform(0, 255, 3).astype(np.float32)
    img = c1 + (c2 - c1) * t[..., None]
    blobs = rng.normal(0, rng.uniform(10, 45), (rng.integers(3, 9), rng.integers(3, 9), 3))
    img += cv2.resize(blobs.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255, out=img).astype(np.uint8)

    canvas = _Canvas(img)
    size = float(min(w, h))
    for _ in range(int(rng.integers(5, 21))):
        colour = _hsv_bgr(rng.uniform(), rng.uniform(0, 1), rng.uniform(0.1, 1))
        kind = rng.integers(5)
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        s = size * rng.uniform(0.03, 0.35)
        if kind == 0:  # rotated rectangle
            a = rng.uniform(0, np.pi)
            u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
            sx, sy = s * rng.uniform(0.3, 1), s * rng.uniform(0.3, 1)
            c = np.array([cx, cy])
            canvas.poly(np.stack([c + u * sx + v * sy, c - u * sx + v * sy,
                                  c - u * sx - v * sy, c + u * sx - v * sy]), colour)
        elif kind == 1:
            canvas.disc((cx, cy), s * 0.5, colour)
        elif kind == 2:
            axes = (int(s * 0.6) + 1, int(s * rng.uniform(0.1, 0.4)) + 1)
            cv2.ellipse(img, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360,
                        colour, -1, cv2.LINE_AA)
        elif kind == 3:  # thick line, limb-like clutter
            a = rng.uniform(0, 2 * np.pi)
            p2 = (cx + s * np.cos(a), cy + s * np.sin(a))
            canvas.segment((cx, cy), p2, size * rng.uniform(0.01, 0.05),
                           size * rng.uniform(0.01, 0.05), colour, None)
        else:  # random polygon
            n = int(rng.integers(3, 7))
            ang_s = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = s * rng.uniform(0.3, 0.7, n)
            canvas.poly(np.stack([cx + rad * np.cos(ang_s), cy + rad * np.sin(ang_s)], 1), colour)
    return img


@dataclass
class _Figure:
    keypoints: np.ndarray            # (17, 2) float, image pixels
    face_visible: np.ndarray         # (17,) bool: False for face points turned away
    mask: np.ndarray                 # (h, w) uint8, 1 = silhouette


def _rot(v: np.ndarray, a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _draw_figure(rng: np.random.Generator, canvas: _Canvas, w: int, h: int,
                 hip_centre: np.ndarray, stature: float) -> _Figure:
    """Sample one articulated figure and draw it; returns its keypoints,
    face-point visibility and silhouette mask."""
    L = stature
    # ---- global pose -----------------------------------------------------
    mode = rng.uniform()
    if mode < 0.45:
        yaw = rng.normal(0, 0.35)                     # facing the camera
    elif mode < 0.7:
        yaw = np.pi + rng.normal(0, 0.35)             # seen from the back
    else:
        yaw = rng.uniform(-np.pi, np.pi)              # anything, profiles included
    cos_yaw, sin_yaw = np.cos(yaw), np.sin(yaw)
    roll = rng.normal(0, 0.12) if rng.uniform() < 0.9 else rng.uniform(-1.2, 1.2)
    lean = float(np.clip(rng.normal(0, 0.2), -0.7, 0.7))
    up = _rot(np.array([0.0, -1.0]), roll + lean)      # hip -> shoulders
    down = -up
    lateral = np.array([-up[1], up[0]])               # image +x when upright
    # lateral direction of the figure's own left side (front view: image right)
    left_dir = lateral * cos_yaw
    depth_w = 0.45                                     # body thickness / breadth

    def fore() -> float:  # out-of-plane foreshortening of one segment
        return 1.0 if rng.uniform() < 0.6 else rng.uniform(0.55, 1.0)

    kp = np.zeros((NUM_KEYPOINTS, 2))
    sho_c = hip_centre + up * 0.30 * L * fore()
    kp[L_SHO], kp[R_SHO] = sho_c + left_dir * 0.105 * L, sho_c - left_dir * 0.105 * L
    kp[L_HIP], kp[R_HIP] = hip_centre + left_dir * 0.08 * L, hip_centre - left_dir * 0.08 * L

    def side(sign: float) -> np.ndarray:
        """Unit vector pointing away from the body on the ``sign`` side (+1
        left, -1 right); in profile the limb swings forward or back."""
        if abs(cos_yaw) > 0.35:
            return lateral * np.sign(cos_yaw) * sign
        return lateral * (1.0 if rng.uniform() < 0.5 else -1.0)

    def bend(v: np.ndarray, angle: float) -> np.ndarray:
        return _rot(v, angle if rng.uniform() < 0.5 else -angle)

    for sign, sho, elb, wri in ((1, L_SHO, L_ELB, L_WRI), (-1, R_SHO, R_ELB, R_WRI)):
        raise_ang = rng.uniform(-0.45, 2.9) if rng.uniform() < 0.5 else abs(rng.normal(0.25, 0.35))
        upper = np.cos(raise_ang) * down + np.sin(raise_ang) * side(sign)
        kp[elb] = kp[sho] + upper * 0.186 * L * fore()
        flex = rng.uniform(0, 2.6) if rng.uniform() < 0.5 else abs(rng.normal(0, 0.35))
        kp[wri] = kp[elb] + bend(upper, flex) * 0.146 * L * fore()
    for sign, hip, knee, ank in ((1, L_HIP, L_KNEE, L_ANK), (-1, R_HIP, R_KNEE, R_ANK)):
        spread = rng.normal(0.1, 0.15) if rng.uniform() < 0.8 else rng.uniform(-0.35, 1.7)
        thigh = np.cos(spread) * down + np.sin(spread) * side(sign)
        kp[knee] = kp[hip] + thigh * 0.245 * L * fore()
        flex = abs(rng.normal(0, 0.3)) if rng.uniform() < 0.8 else rng.uniform(0, 1.9)
        kp[ank] = kp[knee] + bend(thigh, flex) * 0.246 * L * fore()

    # ---- head: a sphere whose face points turn with the head yaw ----------
    head_up = _rot(up, rng.normal(0, 0.2))
    neck = sho_c + up * 0.03 * L
    r = 0.062 * L
    head_c = neck + head_up * (0.045 * L + r)
    head_lat = np.array([-head_up[1], head_up[0]])
    head_yaw = yaw + rng.normal(0, 0.3)
    # (azimuth from the face centre toward the person's left, elevation,
    #  radius in head radii, min depth cosine to be visible)
    face_pts = {NOSE: (0.0, -0.25, 1.12, 0.0), L_EYE: (0.42, 0.12, 0.95, 0.2),
                R_EYE: (-0.42, 0.12, 0.95, 0.2), L_EAR: (np.pi / 2, 0.0, 1.0, -0.4),
                R_EAR: (-np.pi / 2, 0.0, 1.0, -0.4)}
    face_visible = np.ones(NUM_KEYPOINTS, bool)
    depth = {}
    for k, (az, el, rad, min_cos) in face_pts.items():
        a = az + head_yaw
        x = rad * r * np.sin(a) * np.cos(el)
        y = -rad * r * np.sin(el)
        kp[k] = head_c + head_lat * x - head_up * y
        depth[k] = np.cos(a) * np.cos(el)
        face_visible[k] = depth[k] > min_cos

    # ---- colours ---------------------------------------------------------
    left_col = [_family_colour(rng, _LEFT_HUES) for _ in range(2)]   # arm, leg
    right_col = [_family_colour(rng, _RIGHT_HUES) for _ in range(2)]
    torso_col = _hsv_bgr(rng.uniform(), rng.uniform(0, 0.6), rng.uniform(0.2, 0.95))
    skin = tuple(int(c) for c in np.clip(np.array(_SKIN_TONES[rng.integers(len(_SKIN_TONES))])
                                         + rng.normal(0, 10, 3), 0, 255))
    hair = _hsv_bgr(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.5))

    def darker(c):
        return tuple(int(v * 0.55) for v in c)

    # ---- draw: far limbs, torso, head, near limbs ------------------------
    mask = np.zeros((h, w), np.uint8)
    canvas.mask = mask
    left_near = sin_yaw >= 0 if abs(sin_yaw) > 0.2 else rng.uniform() < 0.5

    def leg(sign):
        hip, knee, ank = (L_HIP, L_KNEE, L_ANK) if sign > 0 else (R_HIP, R_KNEE, R_ANK)
        col = (left_col if sign > 0 else right_col)[1]
        canvas.segment(kp[hip], kp[knee], 0.095 * L, 0.065 * L, col, darker(col))
        canvas.segment(kp[knee], kp[ank], 0.065 * L, 0.042 * L, col, darker(col))
        canvas.disc(kp[ank], 0.028 * L, darker(col))

    def arm(sign):
        sho, elb, wri = (L_SHO, L_ELB, L_WRI) if sign > 0 else (R_SHO, R_ELB, R_WRI)
        col = (left_col if sign > 0 else right_col)[0]
        canvas.segment(kp[sho], kp[elb], 0.062 * L, 0.048 * L, col, darker(col))
        canvas.segment(kp[elb], kp[wri], 0.048 * L, 0.034 * L, col, darker(col))
        canvas.disc(kp[wri], 0.025 * L, skin)

    near, far = (1, -1) if left_near else (-1, 1)
    leg(far)
    leg(near)
    half_breadth = abs(cos_yaw) + depth_w * abs(sin_yaw)
    sho_half, hip_half = 0.13 * L * half_breadth, 0.11 * L * half_breadth
    canvas.poly(np.stack([sho_c + lateral * sho_half, hip_centre + lateral * hip_half,
                          hip_centre - lateral * hip_half, sho_c - lateral * sho_half]),
                torso_col, darker(torso_col))
    canvas.segment(sho_c, head_c, 0.05 * L, 0.045 * L, skin, None)
    # ears behind the skull first, then the skull, face, front ears
    ear_cols = {L_EAR: left_col[0], R_EAR: right_col[0]}
    for k in (L_EAR, R_EAR):
        if depth[k] <= 0:
            canvas.disc(kp[k], 0.28 * r, ear_cols[k])
    canvas.disc(head_c, r, hair)
    face_dir = np.sin(head_yaw)
    if np.cos(head_yaw) > -0.2:  # some of the face shows
        face_c = head_c + head_lat * (0.35 * r * face_dir) + head_up * (-0.15 * r)
        canvas.disc(face_c, 0.72 * r, skin)
    for k in (L_EAR, R_EAR):
        if depth[k] > 0:
            canvas.disc(kp[k], 0.28 * r, ear_cols[k])
    for k in (L_EYE, R_EYE):
        if face_visible[k]:
            canvas.disc(kp[k], max(0.14 * r, 0.8), (25, 25, 25))
    if face_visible[NOSE]:
        canvas.disc(kp[NOSE], max(0.16 * r, 0.8), darker(skin))
    arm(far)
    arm(near)
    canvas.mask = None
    return _Figure(keypoints=kp, face_visible=face_visible, mask=mask)


#: Width / height of the cell a figure gets in the ``'grid'`` layout.
_CELL_ASPECT = 0.6
#: Layouts of the figures in an image (:func:`render_image`).
LAYOUTS = ('random', 'grid')


def crowd_grid(num_people: int, img_size: Tuple[int, int]) -> Tuple[int, int, float]:
    """The grid of the ``'grid'`` layout: ``(rows, cols, cell_stature)``, the
    rows x cols cells (at least ``num_people``) that give the tallest
    figures, a cell's figure height being ``min(cell_h, cell_w / 0.6)``."""
    w, h = img_size
    best = (1, 1, 0.0)
    for rows in range(1, num_people + 1):
        cols = -(-num_people // rows)
        stature = min(h / rows, w / cols / _CELL_ASPECT)
        if stature > best[2]:
            best = (rows, cols, stature)
    return best


def _grid_places(rng: np.random.Generator, n_people: int, w: int, h: int
                 ) -> List[Tuple[np.ndarray, float]]:
    """``(hip, stature)`` of each figure of the ``'grid'`` layout: figures in
    randomly chosen cells of :func:`crowd_grid`, 70-90% of the cell's
    stature, hips near the cell centre (a figure spans about half its
    stature above and below the hips)."""
    rows, cols, cell_stature = crowd_grid(n_people, (w, h))
    cell_w, cell_h = w / cols, h / rows
    places = []
    for cell in rng.permutation(rows * cols)[:n_people]:
        row, col = divmod(int(cell), cols)
        stature = cell_stature * rng.uniform(0.7, 0.9)
        hip = np.array([(col + 0.5 + rng.uniform(-0.15, 0.15)) * cell_w,
                        (row + 0.5 + rng.uniform(-0.05, 0.05)) * cell_h])
        places.append((hip, stature))
    return places


def render_image(rng: np.random.Generator, img_size: Tuple[int, int],
                 min_people: int = 1, max_people: int = 4, layout: str = 'random'
                 ) -> Tuple[np.ndarray, List[dict]]:
    """Draw one image.

    Symbols: ``P`` figures in the image, ``K = 17`` keypoints.

    Args:
        rng (np.random.Generator): the image's own random stream.
        img_size (tuple[int, int]): ``(w, h)``.
        min_people (int), max_people (int): figure count range.
        layout (str): ``'random'``: figures of 35-95% of the image height
            anywhere (the training sets); ``'grid'``: crowd scenes, one
            figure per cell of a grid (:func:`crowd_grid`), so figures get
            smaller as ``P`` grows (32 fit in 640x480 at about 100 pixels
            tall) and every figure's hips are inside the image.

    Returns:
        tuple:
        - image (np.ndarray): ``(h, w, 3)`` uint8, BGR.
        - people (list[dict]): in drawing order (later figures are in front),
          each with ``keypoints`` ``(K, 3)`` float ``[x, y, v]`` (``(0, 0, 0)``
          when unlabelled), ``bbox`` ``[x, y, w, h]``, ``area`` (silhouette
          pixels in the image), ``num_keypoints``, ``occluded_by`` ``(K,)`` int
          (index of the first later figure covering the point, -1 if none),
          ``mask`` ``(h, w)`` uint8 silhouette, ``raw_keypoints`` ``(K, 2)``
          (every point, off-image ones included) and ``face_visible`` ``(K,)``
          bool (False for face points turned away from the camera).
    """
    w, h = img_size
    image = _background(rng, w, h)
    canvas = _Canvas(image)
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    n_people = int(rng.integers(min_people, max_people + 1))
    figures: List[_Figure] = []
    if layout == 'grid':
        for hip, stature in _grid_places(rng, n_people, w, h):
            figures.append(_draw_figure(rng, canvas, w, h, hip, stature))
    hips: List[Tuple[np.ndarray, float]] = []
    for _ in range(n_people if layout == 'random' else 0):
        for _attempt in range(20):
            stature = h * rng.uniform(0.35, 0.95) * (1.0 if n_people == 1 else
                                                     rng.uniform(0.6, 1.0))
            stature = max(stature, 40.0)
            hip = np.array([rng.uniform(0.08, 0.92) * w, rng.uniform(0.3, 0.75) * h])
            # keep figures from being drawn exactly on top of each other
            if all(np.hypot(*(hip - p)) > 0.18 * max(s, stature) for p, s in hips):
                break
        hips.append((hip, stature))
        figures.append(_draw_figure(rng, canvas, w, h, hip, stature))

    # uniform pixel noise, std 2..9 grey levels (random bytes: 20x cheaper
    # than Gaussian samples)
    noisy = np.frombuffer(rng.bytes(image.size), np.int8).reshape(image.shape)
    noisy = noisy.astype(np.float32) * np.float32(rng.uniform(2, 9) * np.sqrt(3) / 128)
    noisy += image
    image[:] = np.clip(noisy, 0, 255, out=noisy)
    if rng.uniform() < 0.3:
        image[:] = cv2.GaussianBlur(image, (3, 3), 0)

    people = []
    for i, fig in enumerate(figures):
        xy = fig.keypoints
        inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
        labelled = inside & fig.face_visible
        px = np.clip(np.round(xy).astype(np.int64), 0, [w - 1, h - 1])
        occluded_by = np.full(NUM_KEYPOINTS, -1, np.int64)
        for j in range(len(figures) - 1, i, -1):  # first later figure wins below
            hit = labelled & (figures[j].mask[px[:, 1], px[:, 0]] > 0)
            occluded_by[hit] = j
        vis = np.where(labelled, np.where(occluded_by >= 0, 1, 2), 0)
        kpts = np.concatenate([np.where(labelled[:, None], xy, 0.0), vis[:, None]], 1)

        cols = np.flatnonzero(fig.mask.any(0))
        rows = np.flatnonzero(fig.mask.any(1))
        if len(cols):
            x0, x1, y0, y1 = cols[0], cols[-1] + 1.0, rows[0], rows[-1] + 1.0
        else:
            x0, x1, y0, y1 = w, 0.0, h, 0.0
        if labelled.any():  # sub-pixel points on the silhouette's rim
            x0, y0 = min(x0, xy[labelled, 0].min()), min(y0, xy[labelled, 1].min())
            x1, y1 = max(x1, xy[labelled, 0].max()), max(y1, xy[labelled, 1].max())
        x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
        people.append(dict(
            keypoints=kpts, bbox=[float(x0), float(y0), float(max(x1 - x0, 0)),
                                  float(max(y1 - y0, 0))],
            area=float(np.count_nonzero(fig.mask)), num_keypoints=int(labelled.sum()),
            occluded_by=np.where(labelled, occluded_by, -1), mask=fig.mask,
            raw_keypoints=xy.copy(), face_visible=fig.face_visible))
    return image, people
