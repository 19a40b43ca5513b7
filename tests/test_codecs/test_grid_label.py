"""KPGridLabel: construction checks, property-tested round trips, and the
packed targets against the encode they replaced."""
from typing import Optional

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from kp_plugins.codecs import KPGridLabel
from kp_plugins.codecs.utils import areas_in_input, inside_input, labelled_mask
from kp_plugins.utils.flip import flip_grid_outputs


def ideal_outputs(codec: KPGridLabel, encoded: dict):
    """The network output a perfect grid head would give for ``encoded``:
    (N, K, Gh, Gw) logits, +20 at the true cell, -20 elsewhere, and the
    encoded offsets at the true cell (``encoded``: the codec's ``encode``
    output)."""
    encoded = codec.unpack(**encoded)
    gw, gh = codec.grid_size
    n, k = encoded['keypoint_weights'].shape
    presence = np.full((n, k, gh * gw), -20.0, dtype=np.float32)
    offsets = np.zeros((n, k, 2, gh * gw), dtype=np.float32)
    for i in range(n):
        for j in range(k):
            if encoded['keypoint_weights'][i, j] > 0:
                cell = encoded['keypoint_cells'][i, j]
                presence[i, j, cell] = 20.0
                offsets[i, j, :, cell] = encoded['keypoint_offsets'][i, j]
    return (presence.reshape(n, k, gh, gw), offsets.reshape(n, k, 2, gh, gw))


@st.composite
def grid_case(draw):
    gw, gh = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    cw, ch = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    w, h = gw * cw, gh * ch
    n, k = draw(st.integers(1, 2)), draw(st.integers(1, 6))

    def coord(size, cell, cells):
        special = [0.0, size - 1.0, size - 1.0 - 1e-4, -0.5, size - 0.5,
                   float(size)] + [float(i * cell) for i in range(cells + 1)]
        return draw(st.one_of(
            st.sampled_from(special),
            st.floats(-0.3 * size - 2, 1.3 * size + 2, allow_nan=False)))

    keypoints = np.array([[[coord(w, cw, gw), coord(h, ch, gh)]
                           for _ in range(k)] for _ in range(n)],
                         dtype=np.float32)
    visible = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]),
                                     min_size=n * k, max_size=n * k)),
                       dtype=np.float32).reshape(n, k)
    return (w, h), (gw, gh), keypoints, visible


@settings(max_examples=300, deadline=None)
@given(grid_case())
def test_round_trip_recovers_in_input_keypoints(case):
    input_size, grid_size, keypoints, visible = case
    codec = KPGridLabel(input_size, grid_size)
    encoded = codec.unpack(**codec.encode(keypoints, visible))
    w, h = input_size
    inside = ((keypoints[..., 0] >= 0) & (keypoints[..., 0] <= w - 1) &
              (keypoints[..., 1] >= 0) & (keypoints[..., 1] <= h - 1))
    expected_weight = (inside & (visible > 0.5)).astype(np.float32)
    np.testing.assert_array_equal(encoded['keypoint_weights'], expected_weight)
    assert encoded['keypoint_cells'].dtype == np.int64
    valid = expected_weight > 0
    assert np.all(encoded['keypoint_offsets'][valid] >= 0)
    assert np.all(encoded['keypoint_offsets'][valid] < 1)

    presence, offsets = ideal_outputs(codec, codec.encode(keypoints, visible))
    decoded, scores = codec.decode(presence, offsets)
    assert decoded.shape == keypoints.shape
    error = np.abs(decoded - keypoints).max(axis=-1)
    assert np.all(error[valid] <= 1e-4), error[valid].max()
    assert np.all(scores[valid] > 0.99)

    batch_kpts, batch_scores = codec.batch_decode(
        torch.from_numpy(presence), torch.from_numpy(offsets))
    np.testing.assert_allclose(np.concatenate(batch_kpts), decoded, atol=1e-4)
    np.testing.assert_allclose(np.concatenate(batch_scores), scores, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(grid_case())
def test_flipped_outputs_map_back_exactly(case):
    """Outputs predicted on the mirrored input, mapped back with
    flip_grid_outputs, decode to the original keypoints."""
    input_size, grid_size, keypoints, visible = case
    codec = KPGridLabel(input_size, grid_size)
    k = keypoints.shape[1]
    flip_indices = list(range(k))[::-1]
    mirrored = keypoints[:, flip_indices].copy()
    mirrored[..., 0] = input_size[0] - 1 - mirrored[..., 0]
    encoded = codec.encode(mirrored, visible[:, flip_indices])
    presence, offsets = ideal_outputs(codec, encoded)
    back_presence, back_offsets = flip_grid_outputs(
        torch.from_numpy(presence), torch.from_numpy(offsets), flip_indices)
    decoded, _ = codec.decode(back_presence.numpy(), back_offsets.numpy())
    valid = codec.unpack(**encoded)['keypoint_weights'][:, flip_indices] > 0
    error = np.abs(decoded - keypoints).max(axis=-1)
    assert np.all(error[valid] <= 1e-4), error[valid].max()


def test_grid_that_does_not_tile_is_rejected():
    with pytest.raises(ValueError, match='does not tile'):
        KPGridLabel(input_size=(192, 256), grid_size=(25, 32))
    with pytest.raises(ValueError, match='positive integers'):
        KPGridLabel(input_size=(192, 256), grid_size=(0, 32))


def test_unlabelled_and_outside_keypoints_get_zero_weight():
    codec = KPGridLabel((96, 128), (12, 16))
    keypoints = np.array([[[10, 10], [50, 60], [-3, 20], [40, 130]]],
                         dtype=np.float32)
    visible = np.array([[1, 0, 1, 1]], dtype=np.float32)
    encoded = codec.unpack(**codec.encode(keypoints, visible, area=np.array(400.0),
                                          input_scale=np.array([192.0, 256.0])))
    np.testing.assert_array_equal(encoded['keypoint_weights'], [[1, 0, 0, 0]])
    # area: image px^2 -> input px^2 with the crop's scale factor 96 / 192
    np.testing.assert_allclose(encoded['areas'], [100.0])
    # (10, 10) with 8 px pixel-centre cells: cell 1 spans [7.5, 15.5), so
    # cell (1, 1) -> flat 1 * 12 + 1, offset (10 - 7.5) / 8
    assert encoded['keypoint_cells'][0, 0] == 13
    np.testing.assert_allclose(encoded['keypoint_offsets'][0, 0], [0.3125, 0.3125])


# ------------------------------------------------------------ targets vs numpy
def numpy_targets(keypoints, input_size, grid_size, sigma, radius):
    """Independent per-keypoint loops in pixels: cell (gx, gy) spans
    [gx * cw - 0.5, (gx + 1) * cw - 0.5) (pixel centres at integers, as
    MMPose); its centre is (gx + 0.5) * cw - 0.5."""
    (w, h), (gw, gh) = input_size, grid_size
    cw, ch = w / gw, h / gh
    n, k = keypoints.shape[:2]
    presence = np.zeros((n, k, gh, gw))
    offsets = {}
    for i in range(n):
        for j in range(k):
            x, y = keypoints[i, j]
            if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
                continue
            gx, gy = int((x + 0.5) // cw), int((y + 0.5) // ch)
            for cy in range(gh):
                for cx in range(gw):
                    ex = ((cx + 0.5) * cw - 0.5 - x) / cw
                    ey = ((cy + 0.5) * ch - 0.5 - y) / ch
                    presence[i, j, cy, cx] = (np.exp(-(ex ** 2 + ey ** 2) / (2 * sigma ** 2))
                                              if sigma else float((cx, cy) == (gx, gy)))
            presence[i, j] /= presence[i, j].max()
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    cx, cy = gx + dx, gy + dy
                    if 0 <= cx < gw and 0 <= cy < gh:
                        offsets[i, j, cy * gw + cx] = ((x - (cx * cw - 0.5)) / cw,
                                                       (y - (cy * ch - 0.5)) / ch)
    return presence, offsets


@pytest.mark.parametrize('sigma,radius', [(1.0, 1), (0.0, 0), (1.5, 2)])
def test_targets_match_an_independent_numpy_computation(sigma, radius):
    input_size, grid_size = (96, 128), (12, 16)
    rng = np.random.RandomState(3)
    keypoints = rng.uniform(-10, 140, (4, 17, 2)).astype(np.float32)
    keypoints[0, :4] = [[0, 0], [95, 127], [7.5, 7.49], [7.49, 15.5]]  # edges, borders
    codec = KPGridLabel(input_size, grid_size, presence_sigma=sigma, offset_radius=radius)
    enc = codec.unpack(**codec.encode(keypoints, np.ones(keypoints.shape[:2], np.float32)))
    presence, offsets = numpy_targets(keypoints, input_size, grid_size, sigma, radius)
    np.testing.assert_allclose(enc['presence_target'].reshape(presence.shape), presence,
                               atol=1e-6)
    got = {}
    m = enc['offset_cells'].shape[-1]
    assert m == (2 * radius + 1) ** 2
    for i, j, mi in zip(*np.nonzero(enc['offset_weights'] > 0)):
        got[i, j, enc['offset_cells'][i, j, mi]] = tuple(enc['offset_targets'][i, j, mi])
    assert set(got) == set(offsets)
    for key, value in offsets.items():
        np.testing.assert_allclose(got[key], value, atol=1e-5)
    # the keypoint's own cell and offset
    assert encoded_weight_matches(enc, keypoints, input_size)


def encoded_weight_matches(enc, keypoints, input_size):
    w, h = input_size
    inside = ((keypoints >= 0) & (keypoints <= [w - 1, h - 1])).all(-1)
    return np.array_equal(enc['keypoint_weights'] > 0, inside) and \
        not enc['presence_target'][~inside].any() and not enc['offset_weights'][~inside].any()


def test_decode_score_is_the_softmax_mass_around_the_best_cell():
    codec = KPGridLabel((96, 128), (12, 16))
    rng = np.random.RandomState(0)
    presence = rng.normal(0, 2, (2, 3, 16, 12)).astype(np.float32)
    presence[0, 0, 0, 0] = 30.0  # corner: only 4 cells in its window
    offsets = rng.uniform(0, 1, (2, 3, 2, 16, 12)).astype(np.float32)
    keypoints, scores = codec.decode(presence, offsets)
    for b in range(2):
        for k in range(3):
            p = np.exp(presence[b, k] - presence[b, k].max())
            p /= p.sum()
            gy, gx = np.unravel_index(presence[b, k].argmax(), p.shape)
            assert np.isclose(scores[b, k], p[max(gy - 1, 0):gy + 2, max(gx - 1, 0):gx + 2].sum(),
                              atol=1e-6)
            np.testing.assert_allclose(
                keypoints[b, k], (np.array([gx, gy]) + offsets[b, k, :, gy, gx]) * 8 - 0.5,
                atol=1e-5)
    assert scores[0, 0] > 0.99
    # score_radius=0: the best cell's probability; 'sigmoid': its sigmoid
    _, best = KPGridLabel((96, 128), (12, 16), score_radius=0).decode(presence, offsets)
    assert (best <= scores + 1e-7).all() and (best < scores).any()
    _, sig = KPGridLabel((96, 128), (12, 16), presence_normalization='sigmoid').decode(
        presence, offsets)
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-presence.reshape(2, 3, -1).max(-1))),
                               rtol=1e-6)


def test_bad_codec_arguments_are_named():
    for kwargs, match in [(dict(presence_sigma=-1), 'presence_sigma'),
                          (dict(offset_radius=-1), 'offset_radius'),
                          (dict(score_radius=1.5), 'score_radius'),
                          (dict(presence_normalization='tanh'), 'presence_normalization')]:
        with pytest.raises(ValueError, match=match):
            KPGridLabel((96, 128), (12, 16), **kwargs)


# ------------------------------------------------------------ packed targets
#: The named targets of the encode before packing (issue #26), what
#: ``unpack`` gives back.
TARGET_NAMES = ('keypoint_labels', 'presence_target', 'keypoint_cells', 'keypoint_offsets',
                'offset_cells', 'offset_targets', 'offset_weights', 'keypoint_weights', 'areas')


def _reference_encode(codec: KPGridLabel,
                      keypoints: np.ndarray,
                      keypoints_visible: Optional[np.ndarray] = None,
                      area: Optional[np.ndarray] = None,
                      bbox: Optional[np.ndarray] = None,
                      input_scale: Optional[np.ndarray] = None) -> dict:
    """``KPGridLabel.encode`` as it was before its targets were packed
    (issue #26), copied with ``self`` -> ``codec``: nine named arrays, the
    oracle of ``codec.unpack(**codec.encode(...))``. Also the oracle of
    tests/test_models/test_heads/test_grid_head.py (loaded from this file)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)[..., :2]
    num, k = keypoints.shape[:2]
    gw, gh = codec.grid_size
    valid = labelled_mask(keypoints, keypoints_visible) & inside_input(
        keypoints, codec.input_size)
    grid_xy = np.where(valid[..., None], codec.to_grid(keypoints), 0.5)
    cell_xy = np.clip(np.floor(grid_xy), 0, np.array([gw, gh]) - 1)
    offsets = np.where(valid[..., None], grid_xy - cell_xy, 0.0)
    cell_xy = cell_xy.astype(np.int64)
    weights = valid.astype(np.float32)

    # presence over the cells, (N, K, G)
    ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing='ij')
    centres = np.stack([xs.ravel(), ys.ravel()], axis=-1) + 0.5  # (G, 2)
    flat_cell = cell_xy[..., 1] * gw + cell_xy[..., 0]
    if codec.presence_sigma == 0:
        presence = (np.arange(gw * gh) == flat_cell[..., None]).astype(
            np.float64)
    else:
        d2 = ((centres - grid_xy[:, :, None]) ** 2).sum(-1)
        d2_true = ((cell_xy + 0.5 - grid_xy) ** 2).sum(-1)
        presence = np.exp(-(d2 - d2_true[..., None]) /
                          (2 * codec.presence_sigma ** 2))
    presence *= valid[..., None]

    # offsets of the true cell and its neighbours, (N, K, M, ...)
    shifts = codec.neighbour_shifts()  # (M, 2)
    near_xy = cell_xy[:, :, None] + shifts
    inside = ((near_xy >= 0) & (near_xy < np.array([gw, gh]))).all(-1)
    near_xy = np.where(inside[..., None], near_xy, cell_xy[:, :, None])
    offset_targets = offsets[:, :, None] - shifts
    offset_weights = weights[..., None] * inside

    encoded = dict(
        keypoint_labels=keypoints.astype(np.float32),
        presence_target=presence.astype(np.float32),
        keypoint_cells=np.where(valid, flat_cell, 0).astype(np.int64),
        keypoint_offsets=offsets.astype(np.float32),
        offset_cells=(near_xy[..., 1] * gw + near_xy[..., 0]).astype(
            np.int64).reshape(num, k, -1),
        offset_targets=offset_targets.astype(np.float32),
        offset_weights=offset_weights.astype(np.float32),
        keypoint_weights=weights)
    areas = areas_in_input(num, area, bbox, input_scale, codec.input_size)
    if areas is not None:
        encoded['areas'] = areas.astype(np.float32)
    return encoded


@st.composite
def packed_case(draw):
    """A grid case (edge, border and outside keypoints, unlabelled ones)
    with a presence sigma (0: one-hot) and an offset radius."""
    return draw(grid_case()) + (draw(st.sampled_from([0.0, 0.4, 1.0, 1.5, 2.7])),
                                draw(st.integers(0, 3)))


@settings(max_examples=200, deadline=None)
@given(packed_case())
def test_packed_targets_unpack_to_the_reference_targets(case):
    """``encode`` emits ``grid_targets`` and ``areas`` (its
    ``label_mapping_table``), and ``unpack`` gives back exactly the targets
    of the encode before packing: the same names, shapes, dtypes and values,
    the presence target (now built in torch) bit for bit from float32
    keypoints (the pipeline's dtype); from numpy and from torch alike."""
    input_size, grid_size, keypoints, visible, sigma, radius = case
    codec = KPGridLabel(input_size, grid_size, presence_sigma=sigma, offset_radius=radius)
    aux = dict(area=np.full(len(keypoints), 300.0),
               input_scale=np.array([2.0 * input_size[0], 2.0 * input_size[1]]))
    want = _reference_encode(codec, keypoints, visible, **aux)
    encoded = codec.encode(keypoints, visible, **aux)
    assert set(encoded) == set(codec.label_mapping_table) == {'grid_targets', 'areas'}
    assert encoded['grid_targets'].dtype == np.float32
    assert encoded['grid_targets'].shape == keypoints.shape[:2] + (3 + 4 * (2 * radius + 1) ** 2,)
    got = codec.unpack(**encoded)
    on_torch = codec.unpack(torch.from_numpy(encoded['grid_targets']),
                            torch.from_numpy(encoded['areas']))
    assert sorted(got) == sorted(on_torch) == sorted(want) == sorted(TARGET_NAMES)
    for name, value in want.items():
        assert isinstance(got[name], np.ndarray), name
        assert isinstance(on_torch[name], torch.Tensor), name
        for unpacked in (got[name], on_torch[name].numpy()):
            assert (unpacked.dtype, unpacked.shape) == (value.dtype, value.shape), name
            np.testing.assert_array_equal(unpacked, value, err_msg=name)


@pytest.mark.parametrize('sigma', [0.4, 1.0, 2.7])
def test_presence_from_float64_keypoints_differs_by_their_float32_rounding(sigma):
    """The presence target is built from the packed float32 keypoint: from
    float64 keypoints it differs from the float64 encode only by that
    rounding (the other targets stay exact)."""
    codec = KPGridLabel((96, 128), (12, 16), presence_sigma=sigma)
    rng = np.random.RandomState(5)
    keypoints = rng.uniform(-5, 133, (8, 17, 2))
    visible = (rng.rand(8, 17) > 0.2).astype(np.float32)
    want = _reference_encode(codec, keypoints, visible)
    got = codec.unpack(**codec.encode(keypoints, visible))
    np.testing.assert_allclose(got.pop('presence_target'), want.pop('presence_target'),
                               rtol=1e-4, atol=1e-6)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_packed_layout_of_one_keypoint():
    """The documented layout, written out: labels x, y, weight, the (M, 2)
    offsets of the 3x3 neighbours (row-major over dy, dx), their weights,
    their flat cells."""
    codec = KPGridLabel((96, 128), (12, 16), offset_radius=1)
    row = codec.encode(np.array([[[10.0, 18.0], [0.0, 0.0]]]),
                       np.array([[1.0, 1.0]]))['grid_targets'][0]
    # (10, 18): grid units (10.5 / 8, 18.5 / 8) = (1.3125, 2.3125), cell (1, 2)
    shifts = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    offsets = [(0.3125 - dx, 0.3125 - dy) for dx, dy in shifts]
    cells = [(2 + dy) * 12 + 1 + dx for dx, dy in shifts]
    np.testing.assert_array_equal(
        row[0], [10, 18, 1, *np.ravel(offsets), *[1] * 9, *cells])
    # (0, 0): cell (0, 0); the neighbours left of / above it are outside the
    # grid: weight 0, cell repeated
    inside = [dx >= 0 and dy >= 0 for dx, dy in shifts]
    offsets = [(0.0625 - dx, 0.0625 - dy) for dx, dy in shifts]
    cells = [(dy * 12 + dx) if ok else 0 for (dx, dy), ok in zip(shifts, inside)]
    np.testing.assert_array_equal(
        row[1], [0, 0, 1, *np.ravel(offsets), *np.array(inside, float), *cells])
    assert list(codec.target_layout()) == ['keypoint_labels', 'keypoint_weights',
                                           'offset_targets', 'offset_weights', 'offset_cells']


def test_unpack_names_a_codec_mismatch():
    """Targets packed by a codec of another offset radius than the head's
    decoder are refused with the reason."""
    packed = KPGridLabel((96, 128), (12, 16), offset_radius=1).encode(
        np.zeros((1, 17, 2)))['grid_targets']
    with pytest.raises(ValueError, match=r'\(1, 17, 39\).*offset_radius=2, M=25\) packs 103 '
                       "values per keypoint: GenerateTarget's codec and head.decoder"):
        KPGridLabel((96, 128), (12, 16), offset_radius=2).unpack(packed)


def test_grid_of_2_24_cells_is_rejected():
    """Cell indices travel as float32, exact below 2^24."""
    KPGridLabel((4096, 4095), (4096, 4095))
    with pytest.raises(ValueError, match='16777216 cells; the packed targets hold cell '
                       'indices as float32, exact below 2'):
        KPGridLabel((4096, 4096), (4096, 4096))


# ------------------------------------------------- decode layouts and tables
def decode_before_tables(codec, presence, offsets):
    """KPGridLabel.decode_tensors as it was before the table decode (kept
    verbatim as the reference): max over the flat grid, softmax, the window
    mass by avg_pool2d, the cell from the flat index."""
    gw = presence.shape[-1]
    flat = presence.flatten(2)
    best_logit, best = flat.max(dim=-1)
    if codec.presence_normalization == 'softmax':
        probs = flat.softmax(dim=-1).view_as(presence)
        if codec.score_radius:
            side = 2 * codec.score_radius + 1
            probs = torch.nn.functional.avg_pool2d(
                probs, side, stride=1, padding=codec.score_radius,
                count_include_pad=True) * side ** 2
        scores = probs.flatten(2).gather(-1, best[..., None])[..., 0]
    else:
        scores = best_logit.sigmoid()
    index = best[:, :, None, None].expand(-1, -1, 2, 1)
    best_offsets = offsets.flatten(3).gather(-1, index)[..., 0]
    cell_xy = torch.stack(
        [best % gw, torch.div(best, gw, rounding_mode='floor')],
        dim=-1).to(offsets.dtype)
    return (cell_xy + best_offsets) * offsets.new_tensor(codec.cell_size) - 0.5, scores


def shuffle_by_loops(packed, rx, ry):
    """The pixel shuffle of a packed prediction (B, K*3*ry*rx, Hf, Wf), one
    element at a time: channel ((k*3 + j)*ry + sy)*rx + sx at (hy, wx) is
    map j of keypoint k at cell (wx*rx + sx, hy*ry + sy)."""
    b, c, hf, wf = packed.shape
    k = c // (3 * rx * ry)
    grid = np.zeros((b, k, 3, hf * ry, wf * rx), np.float32)
    for kk in range(k):
        for j in range(3):
            for sy in range(ry):
                for sx in range(rx):
                    ch = ((kk * 3 + j) * ry + sy) * rx + sx
                    for hy in range(hf):
                        for wx in range(wf):
                            grid[:, kk, j, hy * ry + sy, wx * rx + sx] = packed[:, ch, hy, wx]
    return torch.from_numpy(grid[:, :, 0]), torch.from_numpy(grid[:, :, 1:])


# (rx, ry) of the configs (2, 2) and the other upscale factors a grid head
# can have; grid 24x32 (grid_r50) and 12x16 (the 128x96 configs)
LAYOUTS = [((1, 1), (24, 32)), ((2, 2), (24, 32)), ((1, 2), (24, 32)),
           ((2, 1), (12, 16)), ((2, 2), (12, 16))]


@pytest.mark.parametrize('normalization', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('radius', [0, 1, 2])
@pytest.mark.parametrize('upscale,grid', LAYOUTS)
def test_table_decodes_equal_the_decode_before(upscale, grid, radius, normalization):
    """decode_tensors (grid maps) and decode_packed_tensors (the head's
    packed prediction) give the keypoints of the decode before them exactly
    and its scores to float32 rounding, on random (tie-free) logits with the
    best cell anywhere, corners and borders included."""
    (rx, ry), (gw, gh) = upscale, grid
    codec = KPGridLabel((gw * 8, gh * 8), grid, score_radius=radius,
                        presence_normalization=normalization)
    rng = np.random.RandomState(radius * 10 + rx + 3 * ry)
    hf, wf = gh // ry, gw // rx
    packed = rng.normal(0, 3, (3, 17 * 3 * rx * ry, hf, wf)).astype(np.float32)
    presence, offsets = shuffle_by_loops(packed, rx, ry)
    # best cells at the four corners and on the borders for some keypoints
    for kk, (gy, gx) in enumerate([(0, 0), (0, gw - 1), (gh - 1, 0), (gh - 1, gw - 1),
                                   (0, gw // 2), (gh // 2, 0)]):
        presence[0, kk, gy, gx] = 30.0 + kk
        packed[0, ((kk * 3) * ry + gy % ry) * rx + gx % rx, gy // ry, gx // rx] = 30.0 + kk
    assert torch.equal(shuffle_by_loops(packed, rx, ry)[0], presence)
    want_kpts, want_scores = decode_before_tables(codec, presence, offsets)
    for kpts, scores in (codec.decode_tensors(presence, offsets),
                         codec.decode_packed_tensors(torch.from_numpy(packed))):
        assert torch.equal(kpts, want_kpts)
        torch.testing.assert_close(scores, want_scores, atol=1e-6, rtol=0)
    assert want_scores[0, :6].min() > 0.99  # the corner cells won
    # batch_decode of either layout (what BaseHead.decode calls)
    grid_k, grid_s = codec.batch_decode(presence, offsets)
    packed_k, packed_s = codec.batch_decode(torch.from_numpy(packed))
    np.testing.assert_array_equal(np.stack(packed_k), np.stack(grid_k))
    np.testing.assert_allclose(np.stack(packed_s), np.stack(grid_s), atol=1e-6, rtol=0)


def test_cell_tables_list_each_cell_and_its_window():
    """For the packed layout of a 2x2 upscale the tables name, per stored
    index, its cell and the stored indices of its 3x3 window (checked
    against the layout formula cell by cell)."""
    codec = KPGridLabel((48, 32), (6, 4))  # 8-pixel cells, grid 6 x 4
    hf, wf, ry, rx = 2, 3, 2, 2
    tables = codec.cell_tables((hf, wf, ry, rx), torch.device('cpu'), torch.float32)

    def stored(gx, gy):
        return ((gy % ry * rx + gx % rx) * hf + gy // ry) * wf + gx // rx

    assert tables.cells.shape == (24, 2) and tables.near.shape == (24, 9)
    for gy in range(4):
        for gx in range(6):
            i = stored(gx, gy)
            assert tables.cells[i].tolist() == [gx, gy]
            for w, (dy, dx) in enumerate((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
                inside = 0 <= gx + dx < 6 and 0 <= gy + dy < 4
                assert tables.inside[i, w] == float(inside)
                if inside:
                    assert tables.near[i, w] == stored(gx + dx, gy + dy)


def softmax_window_scores(presence, radius, temperature):
    """Per keypoint: the softmax (numpy, float64) of logits / temperature,
    summed over the window around the argmax cell."""
    b, k, gh, gw = presence.shape
    scores = np.zeros((b, k))
    for i in range(b):
        for j in range(k):
            logits = presence[i, j].astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            p /= p.sum()
            gy, gx = np.unravel_index(presence[i, j].argmax(), p.shape)
            scores[i, j] = p[max(gy - radius, 0):gy + radius + 1,
                             max(gx - radius, 0):gx + radius + 1].sum()
    return scores


def test_score_temperature_divides_the_logits_of_the_score():
    rng = np.random.RandomState(1)
    presence = rng.normal(0, 2, (2, 5, 16, 12)).astype(np.float32)
    offsets = rng.uniform(0, 1, (2, 5, 2, 16, 12)).astype(np.float32)
    default = KPGridLabel((96, 128), (12, 16)).decode(presence, offsets)
    at_one = KPGridLabel((96, 128), (12, 16), score_temperature=1.0).decode(presence, offsets)
    for a, b in zip(default, at_one):  # T = 1: the decode without T, bit for bit
        np.testing.assert_array_equal(a, b)
    kpts, scores = KPGridLabel((96, 128), (12, 16), score_temperature=2).decode(
        presence, offsets)
    np.testing.assert_array_equal(kpts, default[0])  # the argmax does not move
    np.testing.assert_allclose(scores, softmax_window_scores(presence, 1, 2.0), atol=1e-6)
    np.testing.assert_allclose(default[1], softmax_window_scores(presence, 1, 1.0), atol=1e-6)
    assert (scores < default[1] - 1e-3).mean() > 0.5  # flatter: less mass near the peak
    _, sig = KPGridLabel((96, 128), (12, 16), presence_normalization='sigmoid',
                         score_temperature=2.0).decode(presence, offsets)
    np.testing.assert_allclose(
        sig, 1 / (1 + np.exp(-presence.reshape(2, 5, -1).max(-1) / 2)), rtol=1e-6)


@pytest.mark.parametrize('value', [0, -1.0, float('inf'), float('nan'), '2', True, None])
def test_bad_score_temperature_is_named(value):
    with pytest.raises(ValueError, match='score_temperature must be a finite number > 0'):
        KPGridLabel((96, 128), (12, 16), score_temperature=value)


def test_packed_prediction_of_another_grid_is_refused():
    codec = KPGridLabel((96, 128), (12, 16))
    # a map of 4x3 (would need 4x4 cells per vector: 17 * 48 channels), 5 rows
    # (do not tile 16), channels not K * 3 * 4, no batch dimension
    for shape in [(1, 17 * 12, 4, 3), (1, 17 * 12, 5, 6), (1, 50, 8, 6), (17 * 12, 8, 6)]:
        with pytest.raises(ValueError, match='packed prediction'):
            codec.decode_packed_tensors(torch.zeros(shape))

# ------------------------------------------------------------ the loss's codec methods
# issue #26 item 3: the presence target and the soft decode the training loss
# calls were made cheaper; the implementations before (main 02db1aa), copied
# with ``self`` -> ``codec``, are their oracles (also those of
# tests/test_models/test_heads/test_grid_head.py, loaded from this file).
def _current_build_presence_target(codec: KPGridLabel, keypoint_labels: torch.Tensor,
                                   keypoint_cells: torch.Tensor,
                                   valid: torch.Tensor) -> torch.Tensor:
    """``KPGridLabel.build_presence_target`` before issue #26 item 3."""
    gw, gh = codec.grid_size
    if codec.presence_sigma == 0:
        presence = F.one_hot(keypoint_cells, gw * gh).to(torch.float32)
        return presence * valid[..., None]
    f64 = dict(dtype=torch.float64, device=keypoint_labels.device)
    grid_xy = (keypoint_labels.to(torch.float64) + 0.5) / torch.tensor(
        codec.cell_size, **f64)
    grid_xy = grid_xy.where(valid[..., None], grid_xy.new_tensor(0.5))
    true_centre = torch.stack(
        [keypoint_cells % gw,
         torch.div(keypoint_cells, gw, rounding_mode='floor')],
        dim=-1).to(torch.float64) + 0.5
    per_axis = []
    for axis, cells in ((0, gw), (1, gh)):
        u = grid_xy[..., axis, None]  # (N, K, 1)
        d2 = (torch.arange(cells, **f64) + 0.5 - u) ** 2
        d2_true = (true_centre[..., axis, None] - u) ** 2
        per_axis.append(torch.exp(-(d2 - d2_true) /
                                  (2 * codec.presence_sigma ** 2)))
    gauss_x, gauss_y = per_axis  # (N, K, Gw), (N, K, Gh)
    presence = (gauss_y[..., :, None] * gauss_x[..., None, :]).flatten(-2)
    return (presence * valid[..., None]).to(torch.float32)


def _current_unpack(codec: KPGridLabel, grid_targets: torch.Tensor) -> dict:
    """``KPGridLabel.unpack`` of a tensor before issue #26 item 3 (its
    presence target from :func:`_current_build_presence_target`)."""
    packed = torch.as_tensor(grid_targets)
    m = codec.num_neighbours
    targets = {name: packed[..., where]
               for name, where in codec.target_layout().items()}
    targets['keypoint_weights'] = targets['keypoint_weights'][..., 0]
    targets['offset_targets'] = targets['offset_targets'].unflatten(-1, (m, 2))
    targets['offset_cells'] = targets['offset_cells'].long()
    targets['keypoint_cells'] = targets['offset_cells'][..., m // 2]
    targets['keypoint_offsets'] = targets['offset_targets'][..., m // 2, :]
    targets['presence_target'] = _current_build_presence_target(
        codec, targets['keypoint_labels'], targets['keypoint_cells'],
        targets['keypoint_weights'] > 0)
    return targets


@settings(max_examples=100, deadline=None)
@given(packed_case())
def test_presence_target_equals_the_implementation_before(case):
    """The cheaper ``build_presence_target`` (one-hot by scatter; the mask
    on one Gaussian factor, the float64 product rounded straight into
    float32) gives the target of the implementation before bit for bit,
    and ``unpack`` all its targets: edge, border, outside and unlabelled
    keypoints, sigma 0 and > 0, radii 0-3."""
    input_size, grid_size, keypoints, visible, sigma, radius = case
    codec = KPGridLabel(input_size, grid_size, presence_sigma=sigma, offset_radius=radius)
    packed = torch.from_numpy(codec.encode(keypoints, visible)['grid_targets'])
    targets, current = codec.unpack(packed), _current_unpack(codec, packed)
    assert sorted(targets) == sorted(current)
    for name, value in current.items():
        assert (targets[name].dtype, targets[name].shape) == (value.dtype, value.shape)
        assert torch.equal(targets[name], value), name
    valid = targets['keypoint_weights'] > 0
    got = codec.build_presence_target(targets['keypoint_labels'], targets['keypoint_cells'],
                                      valid)
    assert torch.equal(got, current['presence_target'])
    assert not got[~valid].any()


@pytest.mark.parametrize('scale', [0.1, 3.0, 30.0])
@pytest.mark.parametrize('grid_size', [(12, 16), (3, 1), (24, 32)])
def test_soft_decode_is_the_expected_position(scale, grid_size):
    """``soft_decode`` (kept as it was in issue #26 item 3: two products with
    the softmax instead of the (B, K, 2, G) positions were no faster and
    less exact) is the expectation of ``(cell + offset) * cell_size - 0.5``
    under the softmax over the cells, written out per keypoint in float64
    numpy; its gradient w.r.t. the offsets is ``probability * cell_size``."""
    gw, gh = grid_size
    codec = KPGridLabel((gw * 8, gh * 6), grid_size)  # cells of 8 x 6 pixels
    torch.manual_seed(0)
    presence = torch.randn(4, 17, gh, gw) * scale
    offsets = torch.rand(4, 17, 2, gh, gw) * 1.4 - 0.2
    leaf = offsets.clone().requires_grad_()
    got = codec.soft_decode(presence, leaf)
    (grad, ) = torch.autograd.grad(got[..., 0].sum(), leaf)

    logits = presence.double().numpy().reshape(4, 17, -1)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)  # (B, K, G)
    cell_x, cell_y = np.arange(gh * gw) % gw, np.arange(gh * gw) // gw
    off = offsets.double().numpy().reshape(4, 17, 2, -1)
    want_x = ((cell_x + off[:, :, 0]) * 8 - 0.5) * probs
    want_y = ((cell_y + off[:, :, 1]) * 6 - 0.5) * probs
    want = np.stack([want_x.sum(-1), want_y.sum(-1)], -1)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=0, atol=1e-3)
    np.testing.assert_allclose(grad[:, :, 0].numpy().reshape(4, 17, -1), probs * 8,
                               rtol=1e-5, atol=1e-7)
    assert not grad[:, :, 1].any()


@pytest.mark.parametrize('grid_size', [(12, 16), (1, 1), (5, 3)])
def test_decode_keypoints_are_those_of_decode_tensors(grid_size):
    """``decode_keypoints`` (the training accuracy's decode) gives the
    keypoints of ``decode_tensors`` bit for bit: random logits, tied ones
    (the same best cell), NaN logits, float64."""
    gw, gh = grid_size
    codec = KPGridLabel((gw * 8, gh * 6), grid_size)
    torch.manual_seed(0)
    presence = torch.randn(6, 17, gh, gw)
    presence[1] = 0.0  # every cell tied
    presence[2, :, gh // 2] = 5.0  # a tied row
    presence[3, 4, 0, -1] = float('nan')
    offsets = torch.rand(6, 17, 2, gh, gw) * 1.4 - 0.2
    for dtype in (torch.float32, torch.float64):
        p, o = presence.to(dtype), offsets.to(dtype)
        got = codec.decode_keypoints(p, o)
        want, _ = codec.decode_tensors(p, o)
        assert got.dtype == want.dtype == dtype and got.shape == (6, 17, 2)
        assert torch.equal(got.nan_to_num(-1e9), want.nan_to_num(-1e9))
