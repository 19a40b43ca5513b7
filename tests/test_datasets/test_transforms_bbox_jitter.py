"""KPRandomBBoxJitter: moves each box side within its bound, in the image."""
import numpy as np
import pytest
from mmpose.registry import TRANSFORMS

import kp_plugins  # noqa: F401  (registration)


def jitter(bbox, img_shape=(400, 300), **kwargs):
    transform = TRANSFORMS.build(dict(type='KPRandomBBoxJitter', **kwargs))
    return transform(dict(bbox=np.array([bbox], np.float32),
                          img_shape=img_shape))['bbox'][0]


def test_sides_move_within_the_factor_and_stay_in_image():
    np.random.seed(0)
    box = np.array([50.0, 60.0, 150.0, 260.0])  # 100 x 200
    moved = np.array([jitter(box, side_factor=0.1) for _ in range(500)])
    delta = moved - box
    assert np.all(np.abs(delta[:, [0, 2]]) <= 10.0 + 1e-4)
    assert np.all(np.abs(delta[:, [1, 3]]) <= 20.0 + 1e-4)
    # the four sides move independently and in both directions
    assert np.all(delta.min(0) < -5) and np.all(delta.max(0) > 5)
    assert abs(np.corrcoef(delta[:, 0], delta[:, 2])[0, 1]) < 0.2


def test_clipped_to_image_and_valid():
    np.random.seed(1)
    for _ in range(200):
        box = jitter([0.0, 0.0, 299.0, 399.0], side_factor=0.3)
        assert box[0] >= 0 and box[1] >= 0
        assert box[2] <= 299 and box[3] <= 399
        assert box[2] - box[0] >= 2 and box[3] - box[1] >= 2


def test_prob_zero_keeps_the_box_and_order_is_checked():
    box = [10.0, 20.0, 30.0, 60.0]
    np.testing.assert_allclose(jitter(box, prob=0.0), box)
    transform = TRANSFORMS.build(dict(type='KPRandomBBoxJitter'))
    with pytest.raises(RuntimeError, match='before GetBBoxCenterScale'):
        transform(dict(bbox=np.zeros((1, 4)), bbox_center=np.zeros((1, 2))))
    with pytest.raises(ValueError, match='side_factor'):
        TRANSFORMS.build(dict(type='KPRandomBBoxJitter', side_factor=0.7))
