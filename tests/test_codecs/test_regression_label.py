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


def regression_decode_oracle(coords: np.ndarray, logits: np.ndarray,
                             input_size) -> tuple:
    """The documented decode in numpy float64: ``coords * sqrt(W * H) +
    [W / 2, H / 2]`` and the logistic function of the logits."""
    w, h = input_size
    coords = np.asarray(coords, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    return coords * np.sqrt(w * h) + np.array([w / 2, h / 2]), \
        1 / (1 + np.exp(-logits))


def test_decode_tensors_is_the_documented_formula():
    """decode_tensors (what predict and the ONNX graph run), the numpy
    decode and batch_decode all give the documented formula, batched."""
    input_size = (96, 128)
    codec = KPRegressionLabel(input_size)
    rng = np.random.RandomState(0)
    coords = rng.randn(3, 17, 2).astype(np.float32)
    logits = (4 * rng.randn(3, 17)).astype(np.float32)
    want_kpts, want_scores = regression_decode_oracle(coords, logits,
                                                      input_size)
    # one value by hand: (0.5, -0.25) * sqrt(96 * 128) + (48, 64)
    np.testing.assert_allclose(
        regression_decode_oracle([[[0.5, -0.25]]], [[0.0]], input_size)[0],
        [[[48 + 0.5 * 110.851252, 64 - 0.25 * 110.851252]]], rtol=1e-6)

    kpts, scores = codec.decode_tensors(torch.from_numpy(coords),
                                        torch.from_numpy(logits))
    assert kpts.dtype == torch.float32 and kpts.shape == (3, 17, 2)
    assert scores.shape == (3, 17)
    np.testing.assert_allclose(kpts.numpy(), want_kpts, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-6,
                               atol=1e-7)
    kpts, scores = codec.decode(coords, logits)
    np.testing.assert_allclose(kpts, want_kpts, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-6, atol=1e-7)
    batch_kpts, batch_scores = codec.batch_decode(torch.from_numpy(coords),
                                                  torch.from_numpy(logits))
    assert len(batch_kpts) == 3 and batch_kpts[0].shape == (1, 17, 2)
    np.testing.assert_allclose(np.concatenate(batch_kpts), want_kpts,
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(np.concatenate(batch_scores), want_scores,
                               rtol=1e-6, atol=1e-7)
