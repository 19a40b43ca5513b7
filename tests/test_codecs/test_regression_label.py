"""KPRegressionLabel: isotropic frame, weights, areas, round trips."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kp_plugins.codecs import KPRegressionLabel


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(8, 400), st.integers(8, 400)),
    arrays(np.float32, (2, 5, 2),
           elements=st.floats(-300, 700, allow_nan=False, width=32)),
    arrays(np.float32, (2, 5), elements=st.sampled_from([0.0, 1.0])))
def test_round_trip(input_size, keypoints, visible):
    codec = KPRegressionLabel(input_size)
    encoded = codec.encode(keypoints, visible)
    w, h = input_size
    inside = ((keypoints >= 0) & (keypoints <= [w - 1, h - 1])).all(-1)
    np.testing.assert_array_equal(encoded['keypoint_weights'], visible)
    np.testing.assert_array_equal(encoded['keypoint_visibility'],
                                  (inside & (visible > 0)).astype(np.float32))
    # the ideal network output is the label itself
    decoded, scores = codec.decode(encoded['keypoint_labels'])
    valid = inside & (visible > 0)
    assert np.all(np.abs(decoded - keypoints)[valid] <= 0.5)
    np.testing.assert_allclose(decoded, keypoints, atol=2e-3)
    assert np.all(scores == 1)
    logits = np.where(visible > 0, 8.0, -8.0).astype(np.float32)
    batch_kpts, batch_scores = codec.batch_decode(
        torch.from_numpy(encoded['keypoint_labels']), torch.from_numpy(logits))
    np.testing.assert_allclose(np.concatenate(batch_kpts), decoded, atol=1e-4)
    assert np.all((np.concatenate(batch_scores) > 0.5) == (visible > 0))


def test_frame_is_isotropic_and_area_follows():
    codec = KPRegressionLabel((192, 256))
    keypoints = np.array([[[96, 128], [96 + 30, 128], [96, 128 + 30]]],
                         dtype=np.float32)
    encoded = codec.encode(keypoints, area=np.array(1000.0), bbox=None,
                           input_scale=np.array([384.0, 512.0]))
    labels = encoded['keypoint_labels'][0]
    np.testing.assert_allclose(labels[0], [0, 0], atol=1e-7)
    # 30 px along x and along y are the same length in the frame
    np.testing.assert_allclose(np.linalg.norm(labels[1]),
                               np.linalg.norm(labels[2]), rtol=1e-6)
    np.testing.assert_allclose(encoded['areas'],
                               [1000.0 * 0.25 / (192 * 256)], rtol=1e-6)


def test_area_falls_back_to_box():
    codec = KPRegressionLabel((192, 256))
    encoded = codec.encode(np.zeros((1, 3, 2), np.float32),
                           bbox=np.array([[0, 0, 100, 200]], np.float32))
    np.testing.assert_allclose(encoded['areas'],
                               [0.53 * 100 * 200 / (192 * 256)], rtol=1e-6)
    assert 'areas' not in codec.encode(np.zeros((1, 3, 2), np.float32))
