"""KPRegressionHead: shapes, losses, flip test, overfit on a real batch."""
import numpy as np
import pytest
import torch
from mmpose.registry import MODELS

from kp_plugins.codecs import KPRegressionLabel
from kp_plugins.utils.flip import flip_keypoints_px

from head_testing import (
    COCO_FLIP_INDICES,
    INPUT_SIZE,
    SMALL_CHANNELS,
    check_estimator_predict,
    check_loss_and_gradients,
    fake_samples,
    overfit,
)

CODEC = dict(type='KPRegressionLabel', input_size=INPUT_SIZE)


def head_cfg(in_channels=32):
    return dict(type='KPRegressionHead', in_channels=in_channels,
                num_keypoints=17,
                loss=[dict(type='KPL1Loss'), dict(type='KPOKSLoss')],
                visibility_loss=dict(type='KPBCELoss',
                                     loss_name='loss_visibility'),
                decoder=CODEC)


def test_forward_shapes_and_pooled_input():
    head = MODELS.build(head_cfg())
    coords, logits = head.forward((torch.randn(3, 32, 4, 3),))
    assert coords.shape == (3, 17, 2) and logits.shape == (3, 17)
    coords2, _ = head.forward((torch.randn(3, 32),))  # after a GAP neck
    assert coords2.shape == (3, 17, 2)
    with pytest.raises(ValueError, match='in_channels=32'):
        head.forward((torch.randn(3, 64, 4, 3),))


def test_losses_are_finite_with_gradients():
    check_loss_and_gradients(
        head_cfg(), expected_keys={'loss_l1', 'loss_oks', 'loss_visibility'})


def test_targets_of_another_codec_are_named():
    head = MODELS.build(head_cfg())
    samples = fake_samples(dict(type='KPGridLabel', input_size=INPUT_SIZE,
                                grid_size=(12, 16)))
    with pytest.raises(KeyError, match='no gt_instance_labels.keypoint_labels; is the codec'):
        head.loss((torch.randn(2, 32, 4, 3),), samples)


def test_duplicate_loss_names_are_rejected():
    cfg = head_cfg()
    cfg['loss'] = [dict(type='KPL1Loss'), dict(type='KPL1Loss')]
    with pytest.raises(ValueError, match='share a loss_name'):
        MODELS.build(cfg)


@pytest.mark.parametrize('flip_test', [False, True])
def test_estimator_predict(flip_test):
    check_estimator_predict(head_cfg(SMALL_CHANNELS), flip_test)


def test_flip_test_merges_the_mirrored_prediction():
    """If the flipped input yields exactly the mirrored prediction, flip
    test returns the plain prediction (keypoints and scores)."""
    head = MODELS.build(head_cfg())
    codec = KPRegressionLabel(INPUT_SIZE)
    samples = fake_samples(CODEC)
    feats, feats_flip = (torch.randn(2, 32, 4, 3),), (torch.randn(2, 32),)
    coords, logits = head.forward(feats)
    plain = head.predict(feats, samples)
    keypoints = np.concatenate([p.keypoints for p in plain])
    mirrored = flip_keypoints_px(keypoints, COCO_FLIP_INDICES, INPUT_SIZE[0])
    coords_flip = torch.from_numpy(codec.encode(mirrored)['keypoint_labels'])
    logits_flip = logits[:, COCO_FLIP_INDICES]
    head.forward = lambda x: (coords, logits) if x is feats else (
        coords_flip, logits_flip)
    merged = head.predict([feats, feats_flip], samples, dict(flip_test=True))
    for a, b in zip(plain, merged):
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-3)
        np.testing.assert_allclose(b.keypoint_scores, a.keypoint_scores,
                                   atol=1e-6)


@pytest.mark.slow
def test_overfits_one_real_batch(coco_trainval):
    cfg = head_cfg(SMALL_CHANNELS)
    result = overfit(cfg, coco_trainval)
    print(f'\nKPRegressionHead overfit: {result}')
    assert result['drop'] >= 0.9, result
    assert result['pck'] >= 0.9, result


def test_predict_is_the_documented_decode():
    """predict (flip test off) decodes random head outputs as the codec
    documents: ``coords * sqrt(W * H) + [W / 2, H / 2]``, sigmoid scores."""
    head = MODELS.build(head_cfg())
    samples = fake_samples(CODEC, batch=3)
    generator = torch.Generator().manual_seed(0)
    coords = torch.randn(3, 17, 2, generator=generator)
    logits = 4 * torch.randn(3, 17, generator=generator)
    head.forward = lambda x: (coords, logits)
    preds = head.predict((torch.randn(3, 32),), samples)
    w, h = INPUT_SIZE
    want = coords.double().numpy() * np.sqrt(w * h) + [w / 2, h / 2]
    want_scores = 1 / (1 + np.exp(-logits.double().numpy()))
    assert len(preds) == 3
    for i, pred in enumerate(preds):
        assert pred.keypoints.shape == (1, 17, 2)
        np.testing.assert_allclose(pred.keypoints[0], want[i], rtol=1e-6,
                                   atol=1e-4)
        np.testing.assert_allclose(pred.keypoint_scores[0], want_scores[i],
                                   rtol=1e-6, atol=1e-7)
