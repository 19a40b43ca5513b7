"""KPBBoxLabel: box frame through MMPose's real TopdownAffine warp."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmpose.datasets.transforms import GetBBoxCenterScale, TopdownAffine

from kp_plugins.codecs import KPBBoxLabel

INPUT_SIZE = (48, 64)


def through_topdown_affine(img_shape, bbox, keypoints, visible,
                           rotation=None, input_size=INPUT_SIZE):
    """Run MMPose's GetBBoxCenterScale + TopdownAffine on a blank image."""
    h, w = img_shape
    results = dict(img=np.zeros((h, w, 3), np.uint8), img_shape=(h, w),
                   bbox=bbox.reshape(1, 4).astype(np.float32),
                   keypoints=keypoints.astype(np.float32),
                   keypoints_visible=visible.astype(np.float32))
    results = GetBBoxCenterScale()(results)
    if rotation is not None:
        results['bbox_rotation'] = np.array([rotation], np.float32)
    return TopdownAffine(input_size=input_size)(results)


@st.composite
def topdown_case(draw):
    w, h = draw(st.integers(40, 160)), draw(st.integers(40, 160))
    x1 = draw(st.floats(0, w - 10))
    y1 = draw(st.floats(0, h - 10))
    x2 = draw(st.floats(x1 + 4, w - 1))
    y2 = draw(st.floats(y1 + 4, h - 1))
    k = draw(st.integers(1, 6))
    kpts = np.array([[draw(st.floats(-0.2 * w, 1.2 * w)),
                      draw(st.floats(-0.2 * h, 1.2 * h))] for _ in range(k)])
    visible = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]),
                                     min_size=k, max_size=k)))
    rotation = draw(st.one_of(st.none(), st.floats(-60, 60)))
    return (h, w), np.array([x1, y1, x2, y2]), kpts[None], visible[None], \
        rotation


@settings(max_examples=150, deadline=None)
@given(topdown_case())
def test_round_trip_through_topdown_affine(case):
    img_shape, bbox, keypoints, visible, rotation = case
    results = through_topdown_affine(img_shape, bbox, keypoints, visible,
                                     rotation)
    codec = KPBBoxLabel(INPUT_SIZE)
    encoded = codec.encode(
        results['transformed_keypoints'], results['keypoints_visible'],
        bbox=results['bbox'], area=None,
        input_center=results['input_center'],
        input_scale=results['input_scale'],
        bbox_rotation=results.get('bbox_rotation'))
    np.testing.assert_array_equal(encoded['keypoint_weights'], visible)
    decoded, _ = codec.decode(encoded['keypoint_labels'],
                              input_bboxes=encoded['input_bboxes'])
    target = results['transformed_keypoints']
    w, h = INPUT_SIZE
    inside = ((target >= 0) & (target <= [w - 1, h - 1])).all(-1)
    np.testing.assert_array_equal(encoded['keypoint_visibility'],
                                  (inside & (visible > 0)).astype(np.float32))
    assert np.all(np.abs(decoded - target)[inside] <= 0.5)
    np.testing.assert_allclose(decoded, target, atol=1e-2)


@settings(max_examples=100, deadline=None)
@given(topdown_case())
def test_box_in_input_matches_topdown_affine(case):
    """The codec's box centre is where TopdownAffine puts the box centre,
    and its sides scale like the crop."""
    img_shape, bbox, _, _, rotation = case
    center = ((bbox[:2] + bbox[2:]) / 2)[None, None]
    results = through_topdown_affine(img_shape, bbox, center,
                                     np.ones((1, 1)), rotation)
    codec = KPBBoxLabel(INPUT_SIZE)
    boxes = codec.bbox_to_input(results['bbox'], results['input_center'],
                                results['input_scale'], rotation or 0.0)
    np.testing.assert_allclose((boxes[0, :2] + boxes[0, 2:]) / 2,
                               results['transformed_keypoints'][0, 0],
                               atol=1e-2)
    factor = INPUT_SIZE[0] / results['input_scale'][0]
    np.testing.assert_allclose(boxes[0, 2:] - boxes[0, :2],
                               (bbox[2:] - bbox[:2]) * factor, rtol=1e-4)
    if rotation is None:
        # unrotated, centred crop: the limiting side spans 1 / 1.25 of the
        # input, the other side less
        spans = (boxes[0, 2:] - boxes[0, :2]) / np.array(INPUT_SIZE)
        np.testing.assert_allclose(spans.max(), 0.8, rtol=1e-4)


def test_decode_with_test_time_box_matches_training_box():
    """Without augmentation, the box the head rebuilds at test time from
    the data sample (bbox + input_center/scale) is the training box."""
    bbox = np.array([30.0, 20.0, 90.0, 150.0])
    results = through_topdown_affine((200, 120), bbox, np.zeros((1, 2, 2)),
                                     np.ones((1, 2)))
    codec = KPBBoxLabel(INPUT_SIZE)
    encoded = codec.encode(results['transformed_keypoints'],
                           bbox=results['bbox'],
                           input_center=results['input_center'],
                           input_scale=results['input_scale'])
    test_box = codec.bbox_to_input(results['bbox'], results['input_center'],
                                   results['input_scale'])
    np.testing.assert_allclose(test_box, encoded['input_bboxes'], atol=1e-4)


def test_area_is_in_box_units_and_bbox_is_required():
    codec = KPBBoxLabel((100, 100))
    encoded = codec.encode(np.zeros((1, 2, 2)), bbox=np.array([[0, 0, 20, 5]]),
                           area=np.array(60.0))
    np.testing.assert_allclose(encoded['areas'], [60.0 / 100.0])
    with pytest.raises(ValueError, match='person box'):
        codec.encode(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match='input_bboxes'):
        codec.decode(np.zeros((1, 2, 2)))


def test_batch_decode_matches_decode():
    codec = KPBBoxLabel((48, 64))
    coords = np.random.RandomState(0).randn(3, 4, 2).astype(np.float32)
    logits = np.random.RandomState(1).randn(3, 4).astype(np.float32)
    boxes = np.array([[5, 5, 40, 60], [0, 0, 48, 64], [10, 20, 30, 30]],
                     np.float32)
    kpts, scores = codec.decode(coords, logits, boxes)
    bk, bs = codec.batch_decode(torch.from_numpy(coords),
                                torch.from_numpy(logits),
                                torch.from_numpy(boxes))
    np.testing.assert_allclose(np.concatenate(bk), kpts, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(bs), scores, atol=1e-6)


def bbox_decode_oracle(coords: np.ndarray, logits: np.ndarray,
                       boxes: np.ndarray) -> tuple:
    """The documented decode in numpy float64: ``coords * s + c`` with ``c``
    the box centre and ``s = sqrt(w * h)`` (sides clamped to >= 1 pixel),
    and the logistic function of the logits."""
    coords = np.asarray(coords, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64)
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    centre = np.stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]],
                      axis=-1) / 2
    keypoints = coords * np.sqrt(w * h)[:, None, None] + centre[:, None]
    return keypoints, 1 / (1 + np.exp(-np.asarray(logits, np.float64)))


def test_decode_tensors_is_the_documented_formula():
    """decode_tensors (what predict and the ONNX graph run), the numpy
    decode and batch_decode give the documented formula, each sample in its
    own box (a box thinner than one pixel decodes with a 1-pixel side)."""
    codec = KPBBoxLabel(INPUT_SIZE)
    rng = np.random.RandomState(0)
    coords = rng.randn(4, 17, 2).astype(np.float32)
    logits = (4 * rng.randn(4, 17)).astype(np.float32)
    boxes = np.array([[10, 20, 40, 100], [0, 0, 48, 64], [5.5, 30, 5.75, 42],
                      [-3, 50, 20, 50.5]], np.float32)
    want_kpts, want_scores = bbox_decode_oracle(coords, logits, boxes)
    # by hand: box [10, 20, 40, 100] has centre (25, 60), unit sqrt(2400);
    # box [5.5, 30, 5.75, 42] has centre (5.625, 36), unit sqrt(1 * 12)
    np.testing.assert_allclose(
        bbox_decode_oracle([[[1.0, -0.5]], [[2.0, 1.0]]], [[0.0], [0.0]],
                           boxes[[0, 2]])[0],
        [[[25 + 48.98979, 60 - 24.494897]], [[5.625 + 6.928203, 39.464102]]],
        rtol=1e-6)

    kpts, scores = codec.decode_tensors(torch.from_numpy(coords),
                                        torch.from_numpy(logits),
                                        torch.from_numpy(boxes))
    assert kpts.dtype == torch.float32 and kpts.shape == (4, 17, 2)
    assert scores.shape == (4, 17)
    np.testing.assert_allclose(kpts.numpy(), want_kpts, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(scores.numpy(), want_scores, rtol=1e-6,
                               atol=1e-7)
    kpts, scores = codec.decode(coords, logits, boxes)
    np.testing.assert_allclose(kpts, want_kpts, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-6, atol=1e-7)
    batch_kpts, batch_scores = codec.batch_decode(torch.from_numpy(coords),
                                                  torch.from_numpy(logits),
                                                  torch.from_numpy(boxes))
    np.testing.assert_allclose(np.concatenate(batch_kpts), want_kpts,
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(np.concatenate(batch_scores), want_scores,
                               rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match='input_bboxes'):
        codec.decode_tensors(torch.from_numpy(coords),
                             torch.from_numpy(logits))
