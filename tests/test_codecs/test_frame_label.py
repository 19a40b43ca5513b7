"""KPFrameLabel: the regression and bbox codecs are one codec whose frame
differs, and a new frame is all a subclass needs."""
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from kp_plugins.codecs import KPBBoxLabel, KPFrameLabel, KPRegressionLabel


def random_instances(input_size, num=3, k=5, seed=0):
    rng = np.random.RandomState(seed)
    w, h = input_size
    keypoints = rng.uniform([-10, -10], [w + 10, h + 10], size=(num, k, 2))
    visible = (rng.rand(num, k) > 0.3).astype(np.float32)
    return keypoints, visible, rng.uniform(100, 5000, size=num)


def test_bbox_frame_of_the_whole_input_is_the_regression_frame():
    """A person box covering the model input (the image is the input) gives
    KPBBoxLabel exactly KPRegressionLabel's targets and decode."""
    input_size = (48, 64)
    keypoints, visible, area = random_instances(input_size)
    whole = np.tile([0.0, 0.0, 48.0, 64.0], (3, 1))
    regression = KPRegressionLabel(input_size)
    bbox = KPBBoxLabel(input_size)
    enc_r = regression.encode(keypoints, visible, area=area)
    enc_b = bbox.encode(keypoints, visible, bbox=whole, area=area)
    for key in ('keypoint_labels', 'keypoint_weights', 'keypoint_visibility',
                'areas'):
        np.testing.assert_array_equal(enc_b[key], enc_r[key])
    np.testing.assert_array_equal(enc_b['input_bboxes'], whole)
    assert 'input_bboxes' not in enc_r
    logits = np.random.RandomState(1).randn(3, 5)
    for got, want in zip(bbox.decode(enc_b['keypoint_labels'], logits, whole),
                         regression.decode(enc_r['keypoint_labels'], logits)):
        np.testing.assert_array_equal(got, want)


class PixelLabel(KPFrameLabel):
    """Frame = model-input pixels (centre 0, unit 1): only the hook."""

    auxiliary_encode_keys = {'area'}

    def frame_tensors(self, coords: Tensor,
                      input_bboxes: Optional[Tensor] = None
                      ) -> Tuple[Tensor, Tensor]:
        return coords.new_zeros(1, 2), coords.new_ones(1)

    def encode(self, keypoints, keypoints_visible=None, area=None) -> dict:
        return self.encode_in_frame(keypoints, keypoints_visible, area,
                                    None, None)


def test_a_new_frame_needs_only_the_hook():
    input_size = (32, 24)
    keypoints, visible, area = random_instances(input_size, seed=2)
    codec = PixelLabel(input_size)
    encoded = codec.encode(keypoints, visible, area=area)
    np.testing.assert_allclose(encoded['keypoint_labels'], keypoints,
                               rtol=1e-6)
    np.testing.assert_allclose(encoded['areas'], area, rtol=1e-6)
    w, h = input_size
    inside = ((keypoints >= 0) & (keypoints <= [w - 1, h - 1])).all(-1)
    np.testing.assert_array_equal(encoded['keypoint_visibility'],
                                  (inside & (visible > 0)).astype(np.float32))
    decoded, scores = codec.decode(encoded['keypoint_labels'])
    np.testing.assert_allclose(decoded, keypoints, rtol=1e-6)
    assert scores.shape == (3, 5) and np.all(scores == 1)
    # the same hook serves the torch decode
    labels = torch.from_numpy(encoded['keypoint_labels'])
    decoded, scores = codec.decode_tensors(labels, torch.zeros(3, 5))
    np.testing.assert_allclose(decoded.numpy(), keypoints, rtol=1e-6)
    np.testing.assert_array_equal(scores.numpy(), np.full((3, 5), 0.5))
