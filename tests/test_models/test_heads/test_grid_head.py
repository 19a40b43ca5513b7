"""KPGridHead: shapes, losses, flip test, overfit on a real batch."""
import numpy as np
import pytest
import torch

from head_testing import (INPUT_SIZE, SMALL_BACKBONE, SMALL_CHANNELS,
                          check_estimator_predict, check_loss_and_gradients,
                          fake_samples, overfit)
from mmpose.registry import MODELS
from kp_plugins.utils.flip import flip_grid_outputs

# 96x128 input, stride-32 map of 3x4, grid 12x16 of 8-pixel cells
CODEC = dict(type='KPGridLabel', input_size=INPUT_SIZE, grid_size=(12, 16))


def head_cfg(in_channels=32, **kwargs):
    cfg = dict(type='KPGridHead', in_channels=in_channels, num_keypoints=17,
               feat_channels=32, decoder=CODEC,
               presence_loss=dict(type='KPBCELoss', pos_weight=192.0,
                                  loss_name='loss_presence'),
               coord_loss=dict(type='KPOKSLoss'))
    cfg.update(kwargs)
    return cfg


# The configs' design: stride-32 map fused with the stride-16 one, softmax
# cross-entropy over cells against a Gaussian target.
FUSED_BACKBONE = dict(SMALL_BACKBONE, out_indices=(2, 3))  # 64 ch /16, 128 /32


def fused_cfg(**kwargs):
    cfg = head_cfg(SMALL_CHANNELS, fuse_in_channels=SMALL_CHANNELS // 2,
                   feat_channels=64, kernel_size=3, presence_sigma=1.0,
                   presence_loss=dict(type='KPSoftmaxCELoss',
                                      loss_name='loss_presence'))
    cfg.update(kwargs)
    return cfg


def fused_feats(batch=2):
    return (torch.randn(batch, 64, 8, 6), torch.randn(batch, 128, 4, 3))


def test_forward_shapes():
    head = MODELS.build(head_cfg())
    head.init_weights()
    presence, offsets = head.forward((torch.randn(2, 32, 4, 3),))
    assert presence.shape == (2, 17, 16, 12)
    assert offsets.shape == (2, 17, 2, 16, 12)
    torch.testing.assert_close(offsets.mean(), torch.tensor(0.5),
                               atol=0.05, rtol=0)  # starts at cell centres
    with pytest.raises(ValueError, match='grid'):
        head.forward((torch.randn(2, 32, 8, 6),))  # wrong stride for input


def test_grid_must_fit_the_feature_stride():
    with pytest.raises(ValueError, match='stride-32'):
        MODELS.build(head_cfg(decoder=dict(type='KPGridLabel',
                                           input_size=INPUT_SIZE,
                                           grid_size=(32, 32))))


@pytest.mark.parametrize('radius', [0, 1])
def test_losses_are_finite_with_gradients(radius):
    check_loss_and_gradients(
        head_cfg(offset_radius=radius),
        expected_keys={'loss_presence', 'loss_offset', 'loss_oks'})


def test_offset_targets_on_neighbour_cells():
    head = MODELS.build(head_cfg(offset_radius=1))
    cells = torch.tensor([[0, 13]])  # corner cell (0, 0) and cell (1, 1)
    offsets = torch.tensor([[[0.25, 0.5], [0.75, 0.0]]])
    near, targets, weights = head.offset_targets(cells, offsets,
                                                 torch.ones(1, 2))
    # the same point from cell (gx + dx, gy + dy) is at offset - (dx, dy)
    assert weights[0, 0].sum() == 4  # only 4 of 9 neighbours exist
    assert weights[0, 1].sum() == 9
    centre = 4  # dx = dy = 0
    assert near[0, 1, centre] == 13
    torch.testing.assert_close(targets[0, 1, centre], offsets[0, 1])
    torch.testing.assert_close(targets[0, 1, 0], offsets[0, 1] + 1)  # (-1,-1)


def test_soft_decode_of_a_peaked_grid_is_the_hard_decode():
    head = MODELS.build(head_cfg())
    presence = torch.full((1, 17, 16, 12), -30.0)
    presence[0, :, 5, 7] = 30.0
    offsets = torch.rand(1, 17, 2, 16, 12)
    soft = head.soft_decode(presence, offsets)
    hard, _ = head.decoder.batch_decode(presence, offsets)
    np.testing.assert_allclose(soft.numpy(), hard[0], atol=1e-4)


@pytest.mark.parametrize('flip_test', [False, True])
def test_estimator_predict(flip_test):
    check_estimator_predict(head_cfg(SMALL_CHANNELS), flip_test)


def test_flip_test_merges_the_mirrored_prediction():
    head = MODELS.build(head_cfg())
    head.init_weights()
    samples = fake_samples(CODEC)
    feats, feats_flip = (torch.randn(2, 32, 4, 3),), (torch.randn(2, 32, 4,
                                                                  3),)
    presence, offsets = head.forward(feats)
    plain = head.predict(feats, samples)
    # flip_grid_outputs is its own inverse: mirror the maps with it
    mirrored = flip_grid_outputs(presence, offsets,
                                 samples[0].metainfo['flip_indices'],
                                 head.decoder.cell_size[0])
    head.forward = lambda x: (presence, offsets) if x is feats else mirrored
    merged = head.predict([feats, feats_flip], samples, dict(flip_test=True))
    for a, b in zip(plain, merged):
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-4)
        np.testing.assert_allclose(b.keypoint_scores, a.keypoint_scores,
                                   atol=1e-6)


def test_overfits_one_real_batch(coco_trainval):
    result = overfit(head_cfg(SMALL_CHANNELS, feat_channels=64),
                     coco_trainval)
    print(f'\nKPGridHead overfit: {result}')
    assert result['drop'] >= 0.9, result
    assert result['pck'] >= 0.9, result


def test_fused_forward_shapes_and_errors():
    head = MODELS.build(fused_cfg())
    head.init_weights()
    assert head.upscale == (2, 2)  # 8-pixel cells on the stride-16 map
    presence, offsets = head.forward(fused_feats())
    assert presence.shape == (2, 17, 16, 12)
    assert offsets.shape == (2, 17, 2, 16, 12)
    with pytest.raises(ValueError, match='two feature maps'):
        head.forward(fused_feats()[1:])
    with pytest.raises(ValueError, match='fuse_in_channels=64'):
        head.forward((torch.randn(2, 32, 8, 6), torch.randn(2, 128, 4, 3)))
    with pytest.raises(ValueError, match='twice the last map'):
        head.forward((torch.randn(2, 64, 4, 3), torch.randn(2, 128, 4, 3)))
    with pytest.raises(ValueError, match='feat_channels > 0'):
        MODELS.build(fused_cfg(feat_channels=0))


def test_presence_loss_must_be_bce_or_softmax_ce():
    with pytest.raises(ValueError, match='KPBCELoss .* or KPSoftmaxCELoss'):
        MODELS.build(head_cfg(presence_loss=dict(type='KPL1Loss')))
    with pytest.raises(ValueError, match='presence_sigma'):
        MODELS.build(head_cfg(presence_sigma=-1.0))


def test_gaussian_presence_target():
    """Peak 1 at the cell nearest the exact point; elsewhere
    exp(-d^2 / 2 sigma^2) of the cell centre's distance, divided by the
    peak's own value; zero for a weight-0 keypoint."""
    head = MODELS.build(fused_cfg(presence_sigma=1.5))
    gh, gw = 16, 12
    cells = torch.tensor([[3 * gw + 4, 0]])  # cell (4, 3); second unlabelled
    offsets = torch.tensor([[[0.2, 0.9], [0.5, 0.5]]])
    target = head.presence_targets(cells, offsets, torch.tensor([[1., 0.]]),
                                   (gh, gw)).view(1, 2, gh, gw)
    point = np.array([4.2, 3.9])
    centres = np.stack(np.meshgrid(np.arange(gw) + 0.5, np.arange(gh) + 0.5),
                       -1)  # (gh, gw, 2) as (x, y)
    expected = np.exp(-((centres - point) ** 2).sum(-1) / (2 * 1.5 ** 2))
    expected /= expected.max()
    np.testing.assert_allclose(target[0, 0].numpy(), expected, atol=1e-6)
    assert target[0, 0, 3, 4] == 1.0
    assert target[0, 1].abs().sum() == 0
    one_hot = MODELS.build(head_cfg()).presence_targets(
        cells, offsets, torch.tensor([[1., 1.]]), (gh, gw))
    assert one_hot.sum() == 2 and one_hot[0, 0, 3 * gw + 4] == 1


def test_softmax_head_scores_are_cell_probabilities():
    """With KPSoftmaxCELoss the keypoint score is the best cell's softmax
    probability over the grid (and the argmax is unchanged)."""
    head = MODELS.build(fused_cfg())
    head.init_weights()
    feats = fused_feats()
    presence, offsets = head.forward(feats)
    preds = head.predict(feats, fake_samples(CODEC))
    probs = presence.flatten(2).softmax(-1).max(-1).values
    scores = np.concatenate([p.keypoint_scores for p in preds])
    np.testing.assert_allclose(scores, probs.detach().numpy(), rtol=1e-4,
                               atol=1e-6)
    hard, _ = head.decoder.batch_decode(presence, offsets)
    np.testing.assert_allclose(
        np.concatenate([p.keypoints for p in preds]), np.concatenate(hard),
        atol=1e-5)


def test_fused_losses_are_finite_with_gradients():
    head = MODELS.build(fused_cfg())
    head.init_weights()
    losses = head.loss(fused_feats(), fake_samples(CODEC))
    assert {'loss_presence', 'loss_offset', 'loss_oks'} <= set(losses)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    assert head.lateral.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('flip_test', [False, True])
def test_fused_estimator_predict(flip_test):
    check_estimator_predict(fused_cfg(), flip_test, backbone=FUSED_BACKBONE)


def test_fused_softmax_head_overfits_one_real_batch(coco_trainval):
    result = overfit(fused_cfg(), coco_trainval, backbone=FUSED_BACKBONE)
    print(f'\nKPGridHead (fused, softmax CE, Gaussian) overfit: {result}')
    assert result['drop'] >= 0.5, result
    assert result['pck'] >= 0.9, result
