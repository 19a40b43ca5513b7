"""KPGridLabel: construction checks and property-tested round trips."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kp_plugins.codecs import KPGridLabel
from kp_plugins.utils.flip import flip_grid_outputs


def ideal_outputs(codec: KPGridLabel, encoded: dict):
    """The network output a perfect grid head would give for ``encoded``:
    (N, K, Gh, Gw) logits, +20 at the true cell, -20 elsewhere, and the
    encoded offsets at the true cell."""
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
    encoded = codec.encode(keypoints, visible)
    w, h = input_size
    inside = ((keypoints[..., 0] >= 0) & (keypoints[..., 0] <= w - 1) &
              (keypoints[..., 1] >= 0) & (keypoints[..., 1] <= h - 1))
    expected_weight = (inside & (visible > 0.5)).astype(np.float32)
    np.testing.assert_array_equal(encoded['keypoint_weights'], expected_weight)
    assert encoded['keypoint_cells'].dtype == np.int64
    valid = expected_weight > 0
    assert np.all(encoded['keypoint_offsets'][valid] >= 0)
    assert np.all(encoded['keypoint_offsets'][valid] < 1)

    presence, offsets = ideal_outputs(codec, encoded)
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
    valid = encoded['keypoint_weights'][:, flip_indices] > 0
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
    encoded = codec.encode(keypoints, visible, area=np.array(400.0),
                           input_scale=np.array([192.0, 256.0]))
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
    enc = codec.encode(keypoints, np.ones(keypoints.shape[:2], np.float32))
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
