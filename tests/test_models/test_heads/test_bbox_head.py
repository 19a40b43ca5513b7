"""KPBBoxHead: shapes, losses, flip test, overfit on a real batch."""
import numpy as np
import pytest
import torch
from mmpose.registry import MODELS

from head_testing import (
    COCO_FLIP_INDICES,
    INPUT_SIZE,
    SMALL_CHANNELS,
    check_estimator_predict,
    check_loss_and_gradients,
    fake_samples,
    overfit,
)

CODEC = dict(type='KPBBoxLabel', input_size=INPUT_SIZE)


def head_cfg(in_channels=32):
    return dict(type='KPBBoxHead', in_channels=in_channels, num_keypoints=17,
                hidden_channels=512, decoder=CODEC)


def test_forward_shapes_and_default_box():
    head = MODELS.build(head_cfg())
    boxes = torch.tensor([[10.0, 10.0, 80.0, 110.0]] * 3)
    coords, logits = head.forward((torch.randn(3, 32, 4, 3),), boxes)
    assert coords.shape == (3, 17, 2) and logits.shape == (3, 17)
    coords, _ = head.forward((torch.randn(3, 32),))  # mode='tensor' path
    assert coords.shape == (3, 17, 2)
    default = head.default_bboxes(1, coords)[0]
    np.testing.assert_allclose(default.numpy(),
                               [9.6, 12.8, 86.4, 115.2], rtol=1e-5)


def test_losses_are_finite_with_gradients():
    check_loss_and_gradients(
        head_cfg(), expected_keys={'loss_oks', 'loss_l1', 'loss_visibility'})


def test_needs_a_bbox_codec():
    cfg = head_cfg()
    cfg['decoder'] = dict(type='KPRegressionLabel', input_size=INPUT_SIZE)
    with pytest.raises(TypeError, match='KPBBoxLabel'):
        MODELS.build(cfg)


@pytest.mark.parametrize('flip_test', [False, True])
def test_estimator_predict(flip_test):
    check_estimator_predict(head_cfg(SMALL_CHANNELS), flip_test)


def test_predict_uses_the_sample_box():
    """The same network output decodes relative to each sample's box."""
    head = MODELS.build(head_cfg())
    samples = fake_samples(CODEC, batch=1)
    feats = (torch.randn(1, 32, 4, 3),)
    coords = torch.zeros(1, 17, 2)  # every keypoint at the box centre
    head.forward = lambda x, boxes=None: (coords, torch.zeros(1, 17))
    pred = head.predict(feats, samples)[0]
    box = head.sample_input_bboxes(samples)[0]
    np.testing.assert_allclose(pred.keypoints[0],
                               np.tile((box[:2] + box[2:]) / 2, (17, 1)),
                               atol=1e-4)


def test_flip_test_merges_the_mirrored_prediction():
    """Mirroring the input mirrors the box: box-frame x changes sign, so
    an exactly mirrored flipped prediction leaves the result unchanged."""
    head = MODELS.build(head_cfg())
    samples = fake_samples(CODEC)
    feats, feats_flip = (torch.randn(2, 32, 4, 3),), (torch.randn(2, 32),)
    boxes = torch.from_numpy(head.sample_input_bboxes(samples))
    coords, logits = head.forward(feats, boxes)
    plain = head.predict(feats, samples)
    coords_flip = coords[:, COCO_FLIP_INDICES].clone()
    coords_flip[..., 0] *= -1
    logits_flip = logits[:, COCO_FLIP_INDICES]
    head.forward = lambda x, b=None: (coords, logits) if x is feats else (
        coords_flip, logits_flip)
    merged = head.predict([feats, feats_flip], samples, dict(flip_test=True))
    for a, b in zip(plain, merged):
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-3)
        np.testing.assert_allclose(b.keypoint_scores, a.keypoint_scores,
                                   atol=1e-6)


@pytest.mark.slow
def test_overfits_one_real_batch(coco_trainval):
    result = overfit(head_cfg(SMALL_CHANNELS), coco_trainval)
    print(f'\nKPBBoxHead overfit: {result}')
    assert result['drop'] >= 0.9, result
    assert result['pck'] >= 0.9, result


def test_predict_is_the_documented_decode():
    """predict (flip test off) decodes random head outputs as the codec
    documents, each in its sample's box (the box the head itself computes
    from the data sample): ``coords * sqrt(w * h) + box centre``, sigmoid
    scores."""
    head = MODELS.build(head_cfg())
    samples = fake_samples(CODEC, batch=3)
    generator = torch.Generator().manual_seed(0)
    coords = torch.randn(3, 17, 2, generator=generator)
    logits = 4 * torch.randn(3, 17, generator=generator)
    seen = []
    head.forward = lambda x, boxes=None: seen.append(boxes) or (coords,
                                                                logits)
    preds = head.predict((torch.randn(3, 32),), samples)
    boxes = head.sample_input_bboxes(samples).astype(np.float64)
    np.testing.assert_array_equal(seen[0].numpy(), boxes)
    sides = np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0)
    unit = np.sqrt(sides[:, 0] * sides[:, 1])
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    want = coords.double().numpy() * unit[:, None, None] + centre[:, None]
    want_scores = 1 / (1 + np.exp(-logits.double().numpy()))
    assert len(preds) == 3
    for i, pred in enumerate(preds):
        assert pred.keypoints.shape == (1, 17, 2)
        np.testing.assert_allclose(pred.keypoints[0], want[i], rtol=1e-6,
                                   atol=1e-4)
        np.testing.assert_allclose(pred.keypoint_scores[0], want_scores[i],
                                   rtol=1e-6, atol=1e-7)
