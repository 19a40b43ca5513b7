"""KPGridHead: shapes, losses, flip test, overfit on a real batch."""
import functools
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

from kp_plugins.utils.flip import flip_grid_outputs

from head_testing import (
    COCO_FLIP_INDICES,
    INPUT_SIZE,
    SMALL_BACKBONE,
    SMALL_CHANNELS,
    check_estimator_predict,
    check_loss_and_gradients,
    fake_samples,
    overfit,
)

# 96x128 input, stride-32 map of 3x4, grid 12x16 of 8-pixel cells
CODEC = dict(type='KPGridLabel', input_size=INPUT_SIZE, grid_size=(12, 16))
# the first design (quick start): one-hot target, per-cell sigmoid (BCE)
BCE_CODEC = dict(CODEC, presence_sigma=0.0, presence_normalization='sigmoid')


def head_cfg(in_channels=32, **kwargs):
    cfg = dict(type='KPGridHead', in_channels=in_channels, num_keypoints=17,
               feat_channels=32, kernel_size=1, decoder=BCE_CODEC,
               presence_loss=dict(type='KPBCELoss', pos_weight=192.0,
                                  loss_name='loss_presence'),
               coord_loss=dict(type='KPOKSLoss'))
    cfg.update(kwargs)
    return cfg


# The recommended recipe (KPGridHead's defaults): stride-32 map fused with the
# stride-16 one, depthwise 3x3 + 1x1 prediction, softmax cross-entropy over
# cells against the codec's Gaussian target.
FUSED_BACKBONE = dict(SMALL_BACKBONE, out_indices=(2, 3))  # 64 ch /16, 128 /32


def fused_cfg(**kwargs):
    cfg = dict(type='KPGridHead', in_channels=SMALL_CHANNELS, num_keypoints=17,
               fuse_in_channels=SMALL_CHANNELS // 2, feat_channels=64,
               decoder=CODEC)
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
        head_cfg(decoder=dict(BCE_CODEC, offset_radius=radius)),
        expected_keys={'loss_presence', 'loss_offset', 'loss_oks'})


def test_offset_loss_is_l1_on_the_codec_cells():
    """The offset loss is the mean |pred - target| over the cells the codec
    lists, weighted by its offset_weights (recomputed here by hand)."""
    head = MODELS.build(head_cfg(decoder=dict(BCE_CODEC, offset_radius=1),
                                 coord_loss=None))
    head.init_weights()
    feats = (torch.randn(2, 32, 4, 3),)
    samples = fake_samples(BCE_CODEC | dict(offset_radius=1))
    losses = head.loss(feats, samples)
    _, offsets = head.forward(feats)
    num = den = 0.0
    for b, sample in enumerate(samples):
        labels = InstanceData(**head.decoder.unpack(sample.gt_instance_labels.grid_targets))
        pred = offsets[b].detach().flatten(2)  # (K, 2, G)
        for k in range(17):
            for m in range(labels.offset_cells.shape[-1]):
                w = float(labels.offset_weights[0, k, m])
                cell = int(labels.offset_cells[0, k, m])
                err = (pred[k, :, cell] - labels.offset_targets[0, k, m]).abs()
                num += w * float(err.sum())
                den += w * 2
    torch.testing.assert_close(losses['loss_offset'].detach(),
                               torch.tensor(num / den), rtol=1e-4, atol=1e-6)


@functools.lru_cache(maxsize=None)
def _codec_oracles():
    """tests/test_codecs/test_grid_label.py as a module: the codec oracles
    kept there."""
    path = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                    'test_codecs', 'test_grid_label.py')
    spec = importlib.util.spec_from_file_location('grid_label_reference', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference_encode():
    """``KPGridLabel.encode`` before its targets were packed (issue #26)."""
    return _codec_oracles()._reference_encode


def _reference_loss(head, feats, targets: dict) -> dict:
    """``KPGridHead.loss`` before the targets were packed (issue #26), its
    body with every ``gather_labels(batch_data_samples, name)`` read from
    ``targets[name]`` (the batched reference targets)."""
    presence, offsets = head.forward(feats)
    b, k = presence.shape[:2]
    weights = targets['keypoint_weights']
    labels = targets['keypoint_labels']
    presence_target = targets['presence_target']
    losses = {
        loss.loss_name: loss(presence.flatten(2),
                             presence_target.to(presence.dtype))
        for loss in head.presence_losses
    }

    near_cells = targets['offset_cells'].long()
    near_targets = targets['offset_targets']
    near_weights = targets['offset_weights']
    m = near_cells.shape[-1]
    pred_offsets = offsets.flatten(3).gather(
        -1, near_cells.view(b, k, 1, m).expand(-1, -1, 2, -1))
    pred_offsets = pred_offsets.permute(0, 1, 3, 2).reshape(b, k * m, 2)
    for loss in head.offset_losses:
        losses[loss.loss_name] = loss(pred_offsets,
                                      near_targets.reshape(b, k * m, 2),
                                      near_weights.reshape(b, k * m))

    if len(head.coord_losses):
        areas = None
        if any(x.requires_area
               for x in head.coord_losses):
            areas = targets['areas']
        losses.update(
            head.coordinate_losses(
                head.coord_losses,
                head.decoder.soft_decode(presence, offsets), labels,
                weights, areas))

    pred_px, _ = head.decoder.batch_decode(presence, offsets)
    losses['acc_pose'] = head.pck_accuracy(
        np.concatenate(pred_px),
        labels.cpu().numpy(), (weights > 0).cpu().numpy(),
        head.decoder.input_size, presence.device)
    return losses


def packed_and_reference_batch(codec_cfg: dict, batch: int = 4, seed: int = 1):
    """Data samples with the codec's packed targets, and the reference
    targets of the same persons batched as tensors: keypoints in and out of
    the input, at its corners and on a cell border, 1 in 5 unlabelled."""
    codec = KEYPOINT_CODECS.build(codec_cfg)
    rng = np.random.RandomState(seed)
    (w, h), (cw, ch) = codec.input_size, codec.cell_size
    samples, reference = [], []
    for _ in range(batch):
        keypoints = rng.uniform([-8, -8], [w + 8, h + 8], (1, 17, 2)).astype(np.float32)
        keypoints[0, :3] = [[0, 0], [w - 1, h - 1], [cw - 0.5, 3 * ch - 0.5]]
        visible = (rng.rand(1, 17) > 0.2).astype(np.float32)
        area = rng.uniform(300, 3000, 1)
        encoded = codec.encode(keypoints, visible, area=area)
        sample = PoseDataSample(metainfo=dict(input_size=(w, h),
                                              flip_indices=COCO_FLIP_INDICES))
        sample.gt_instance_labels = InstanceData(**{
            key: value for key, value in encoded.items()
            if key in codec.label_mapping_table}).to_tensor()
        samples.append(sample)
        reference.append(_reference_encode()(codec, keypoints, visible, area=area))
    return samples, {name: torch.from_numpy(np.concatenate([r[name] for r in reference]))
                     for name in reference[0]}


@pytest.mark.parametrize('cfg,feats', [
    (head_cfg(), (torch.randn(4, 32, 4, 3),)),
    (head_cfg(decoder=dict(BCE_CODEC, offset_radius=0)), (torch.randn(4, 32, 4, 3),)),
    (fused_cfg(), fused_feats(4)),
    (fused_cfg(decoder=dict(CODEC, presence_sigma=2.5, offset_radius=2)), fused_feats(4)),
], ids=['bce-onehot-r1', 'bce-onehot-r0', 'softmax-sigma1-r1', 'softmax-sigma2.5-r2'])
def test_losses_equal_those_of_the_unpacked_targets(cfg, feats):
    """head.loss on the packed targets gives the losses (and accuracy) that
    the loss before packing gave on the reference targets of the same batch,
    bit for bit."""
    head = MODELS.build(cfg)
    head.init_weights()
    torch.nn.init.normal_(head.predict_conv.weight, std=0.3)
    samples, targets = packed_and_reference_batch(cfg['decoder'])
    losses = head.loss(feats, samples)
    want = _reference_loss(head, feats, targets)
    assert sorted(losses) == sorted(want)
    assert len(losses) >= 3
    for name, value in want.items():
        assert torch.equal(losses[name], value), (name, losses[name], value)
    assert want['loss_offset'] > 0 and want['loss_presence'] > 0


def test_targets_of_another_codec_are_named():
    head = MODELS.build(head_cfg())
    samples = fake_samples(dict(type='KPRegressionLabel', input_size=INPUT_SIZE))
    with pytest.raises(KeyError, match='no gt_instance_labels.grid_targets; is the codec'):
        head.loss((torch.randn(2, 32, 4, 3),), samples)


def test_moved_arguments_fail_with_their_new_place():
    for name in ('presence_sigma', 'offset_radius'):
        with pytest.raises(TypeError, match=f'{name} moved to the codec.*'
                           'KPGridLabel'):
            MODELS.build(fused_cfg(**{name: 1}))
    with pytest.raises(TypeError, match='unexpected arguments'):
        MODELS.build(fused_cfg(no_such_argument=1))
    # a loss that disagrees with the codec's normalization names the fix
    with pytest.raises(ValueError, match="presence_normalization='sigmoid'"):
        MODELS.build(head_cfg(decoder=CODEC))


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
                                 samples[0].metainfo['flip_indices'])
    head.forward = lambda x: (presence, offsets) if x is feats else mirrored
    merged = head.predict([feats, feats_flip], samples, dict(flip_test=True))
    for a, b in zip(plain, merged):
        np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-4)
        np.testing.assert_allclose(b.keypoint_scores, a.keypoint_scores,
                                   atol=1e-6)


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
    with pytest.raises(ValueError, match='KPSoftmaxCELoss .* or KPBCELoss'):
        MODELS.build(head_cfg(presence_loss=dict(type='KPL1Loss')))


def test_softmax_head_scores_are_the_mass_around_the_best_cell():
    """With KPSoftmaxCELoss the keypoint score is the softmax mass of the
    3x3 cells around the best cell (summed here cell by cell), and the
    argmax is the decode's."""
    head = MODELS.build(fused_cfg())
    head.init_weights()
    torch.nn.init.normal_(head.predict_conv.weight, std=0.3)
    feats = fused_feats()
    presence, offsets = head.forward(feats)
    preds = head.predict(feats, fake_samples(CODEC))
    probs = presence.detach().flatten(2).softmax(-1).view_as(presence).numpy()
    expected = np.zeros(probs.shape[:2])
    for b in range(probs.shape[0]):
        for k in range(probs.shape[1]):
            gy, gx = np.unravel_index(probs[b, k].argmax(), probs.shape[2:])
            expected[b, k] = probs[b, k, max(gy - 1, 0):gy + 2,
                                   max(gx - 1, 0):gx + 2].sum()
    scores = np.concatenate([p.keypoint_scores for p in preds])
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)
    assert scores.max() > 2 * probs.max(axis=(2, 3)).max() / 2  # not degenerate
    hard, _ = head.decoder.batch_decode(presence, offsets)
    np.testing.assert_allclose(
        np.concatenate([p.keypoints for p in preds]), np.concatenate(hard),
        atol=1e-5)


def test_checkpoint_of_the_half_pixel_layout_predicts_the_same_keypoints():
    """A state dict saved before the pixel-centre cells (version 1) loads
    with its offset biases shifted so that the decode reproduces the old
    decode ``(cell + offset) * cw`` exactly."""
    head = MODELS.build(head_cfg())
    head.init_weights()
    torch.nn.init.normal_(head.predict_conv.weight, std=0.3)
    torch.nn.init.normal_(head.predict_conv.bias, std=0.3)
    head.eval()
    feats = (torch.randn(2, 32, 4, 3),)
    with torch.no_grad():
        presence, offsets = head.forward(feats)
    flat = presence.flatten(2)
    best = flat.argmax(-1)
    gw = presence.shape[-1]
    cell = torch.stack([best % gw, best // gw], -1).float()
    picked = offsets.flatten(3).gather(
        -1, best[:, :, None, None].expand(-1, -1, 2, 1))[..., 0]
    old_decode = (cell + picked) * torch.tensor([8.0, 8.0])  # the first layout

    state = head.state_dict()
    state._metadata[''] = dict(state._metadata[''], version=1)
    fresh = MODELS.build(head_cfg())
    fresh.load_state_dict(state)
    fresh.eval()
    preds = fresh.predict(feats, fake_samples(BCE_CODEC))
    np.testing.assert_allclose(np.concatenate([p.keypoints for p in preds]),
                               old_decode.numpy(), atol=1e-4)
    # the old configs' full 3x3 conv of 256 channels does not fit the new
    # defaults: a message names the arguments it was saved with
    old_layout = MODELS.build(fused_cfg(feat_channels=256, depthwise=False)).state_dict()
    with pytest.raises(ValueError, match="'feat_channels': 256, 'kernel_size': 3, "
                       "'depthwise': False"):
        MODELS.build(fused_cfg()).load_state_dict(old_layout)
    # a current checkpoint loads unchanged
    again = MODELS.build(head_cfg())
    again.load_state_dict(head.state_dict())
    torch.testing.assert_close(again.predict_conv.bias, head.predict_conv.bias)


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


@pytest.mark.slow
def test_fused_softmax_head_overfits_one_real_batch(coco_trainval):
    result = overfit(fused_cfg(), coco_trainval, backbone=FUSED_BACKBONE)
    print(f'\nKPGridHead (defaults: fused, depthwise, softmax CE, Gaussian) '
          f'overfit: {result}')
    assert result['drop'] >= 0.5, result
    assert result['pck'] >= 0.95, result  # PCK@0.05


# ------------------------------------------------------ inference form
def randomize_batch_norms(module, seed=0):
    """Non-trivial BatchNorm statistics and affine parameters (a fold that
    ignored any of them, or used another eps, would change the outputs)."""
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.running_mean.uniform_(-0.5, 0.5, generator=gen)
        bn.running_var.uniform_(0.05, 0.5, generator=gen)
        bn.weight.data.uniform_(0.5, 1.5, generator=gen)
        bn.bias.data.uniform_(-0.3, 0.3, generator=gen)
    return norms


def random_head(cfg, seed=0):
    """A head in eval mode with spread presence logits, offsets near the
    cell centres (keypoints inside the input) and random BatchNorms."""
    torch.manual_seed(seed)
    head = MODELS.build(cfg)
    head.init_weights()
    weight = head.predict_conv.weight.data
    torch.nn.init.normal_(weight, std=0.3)
    torch.nn.init.normal_(head.predict_conv.bias, std=0.3)
    rx, ry = head.upscale
    weight.view(head.num_keypoints, 3, ry * rx, -1)[:, 1:] *= 0.05
    head.offset_bias(head.predict_conv.bias.data)[:] = 0.5
    randomize_batch_norms(head, seed)
    return head.eval()


def predictions(preds):
    return (np.concatenate([p.keypoints for p in preds]),
            np.concatenate([p.keypoint_scores for p in preds]))


DEPLOY_CASES = {  # (head config, features)
    'fused softmax': (fused_cfg(), fused_feats),
    'stride-32 sigmoid': (head_cfg(), lambda: (torch.randn(2, 32, 4, 3), )),
    'full 3x3 radius 2': (fused_cfg(depthwise=False, decoder=dict(CODEC, score_radius=2)),
                          fused_feats),
}


@pytest.mark.parametrize('flip_test', [False, True])
@pytest.mark.parametrize('case', sorted(DEPLOY_CASES))
def test_switch_to_deploy_folds_batch_norm_and_predicts_the_same(case, flip_test):
    cfg, make_feats = DEPLOY_CASES[case]
    head = random_head(cfg)
    torch.manual_seed(1)
    feats = make_feats()
    feats_flip = make_feats()
    inputs = [feats, feats_flip] if flip_test else feats
    samples = fake_samples(cfg['decoder'])
    test_cfg = dict(flip_test=flip_test)
    with torch.no_grad():
        before = head.forward(feats)
        want = predictions(head.predict(inputs, samples, test_cfg))
    norms = [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == (2 if 'fuse_in_channels' in cfg else 1)

    head.switch_to_deploy()
    assert head.deployed and not head.training
    assert not [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert head.reduce.conv.bias is not None and not head.reduce.with_norm
    with torch.no_grad():
        after = head.forward(feats)
        got = predictions(head.predict(inputs, samples, test_cfg))
    for a, b in zip(after, before):  # the raw maps, to float32 rounding
        error = float((a - b).abs().max() / b.abs().max())
        print(f'{case}: max |difference| / max |map| {error:.1e}')
        assert error < 2e-6, error
    np.testing.assert_allclose(got[0], want[0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got[1], want[1], atol=1e-5, rtol=0)
    assert np.ptp(want[0]) > 10  # not a degenerate (constant) prediction

    state = {k: v.clone() for k, v in head.state_dict().items()}
    head.switch_to_deploy()  # idempotent
    assert all(torch.equal(v, head.state_dict()[k]) for k, v in state.items())
    with pytest.raises(RuntimeError, match='switched to deploy mode.*cannot be trained'):
        head.train()
    head.eval()  # still allowed


def test_estimator_switch_to_deploy_reaches_the_head():
    """MMPose's BasePoseEstimator.switch_to_deploy (what mmdeploy calls)
    folds the head; the estimator's predict is unchanged and it cannot be
    trained any more."""
    model = MODELS.build(dict(type='TopdownPoseEstimator', backbone=FUSED_BACKBONE,
                              head=fused_cfg(), test_cfg=dict(flip_test=False)))
    model.head.init_weights()
    torch.nn.init.normal_(model.head.predict_conv.weight, std=0.3)
    randomize_batch_norms(model.head)
    model.eval()
    samples = fake_samples(CODEC, batch=2)
    inputs = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        want = [s.pred_instances for s in model.predict(inputs, samples)]
    model.switch_to_deploy()
    assert model.head.deployed
    with torch.no_grad():
        got = [s.pred_instances for s in model.predict(inputs, samples)]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4, rtol=0)
        np.testing.assert_allclose(a.keypoint_scores, b.keypoint_scores, atol=1e-5, rtol=0)
    with pytest.raises(RuntimeError, match='cannot be trained'):
        model.train()


def test_predict_decodes_the_packed_prediction_as_the_grid_maps():
    """predict without flip test (and predict_tensors, the ONNX graph's
    decode) decode the prediction conv's output without the pixel shuffle:
    the keypoints of the codec's decode of the shuffled maps, exactly."""
    head = random_head(fused_cfg())
    feats = fused_feats()
    with torch.no_grad():
        packed = head.forward_packed(feats)
        presence, offsets = head.forward(feats)
        kpts, scores = head.predict_tensors(feats)
        preds = predictions(head.predict(feats, fake_samples(CODEC)))
    assert packed.shape == (2, 17 * 3 * 2 * 2, 8, 6)
    torch.testing.assert_close(head.unpack(packed)[0], presence, rtol=0, atol=0)
    want_kpts, want_scores = head.decoder.decode_tensors(presence, offsets)
    assert torch.equal(kpts, want_kpts)
    torch.testing.assert_close(scores, want_scores, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(preds[0], kpts.numpy())
    np.testing.assert_array_equal(preds[1], scores.numpy())

# ------------------------------------------------------------ issue #26 item 3
def _current_loss(head, feats, batch_data_samples) -> dict:
    """``KPGridHead.loss`` before issue #26 item 3 (main 02db1aa): the body
    of :func:`_reference_loss` (the same from forward to ``acc_pose``, which
    went through the codec's numpy ``batch_decode`` and MMPose's
    ``keypoint_pck_accuracy``) on the packed targets read back by the
    codec's ``unpack`` of then (test_grid_label.py's copy); ``soft_decode``
    did not change."""
    oracles = _codec_oracles()
    targets = oracles._current_unpack(
        head.decoder, head.gather_labels(batch_data_samples, 'grid_targets'))
    if any(x.requires_area for x in head.coord_losses):
        targets['areas'] = head.gather_labels(batch_data_samples, 'areas',
                                              'needed by the OKS loss')
    return _reference_loss(head, feats, targets)


def near_ideal_outputs(head, samples, seed: int = 0):
    """Head outputs (presence logits, offsets) for ``samples``: random
    logits with the true cell of 2 in 3 keypoints raised, offsets at the
    true offsets plus noise of about the PCK@0.05 radius, so that
    ``acc_pose`` is neither 0 nor 1."""
    torch.manual_seed(seed)
    targets = head.decoder.unpack(head.gather_labels(samples, 'grid_targets'))
    b, k = targets['keypoint_weights'].shape
    gw, gh = head.decoder.grid_size
    presence = torch.randn(b, k, gh * gw)
    offsets = torch.rand(b, k, 2, gh * gw)
    raise_it = torch.rand(b, k) < 2 / 3
    cells = targets['keypoint_cells']
    presence.scatter_add_(-1, cells[..., None], 8.0 * raise_it[..., None].float())
    near = targets['keypoint_offsets'] + torch.randn(b, k, 2) * 0.5
    offsets.scatter_(-1, cells[:, :, None, None].expand(-1, -1, 2, 1), near[..., None])
    return presence.view(b, k, gh, gw), offsets.view(b, k, 2, gh, gw)


CURRENT_CASES = {
    'bce-onehot-r1': head_cfg(),
    'bce-onehot-r0': head_cfg(decoder=dict(BCE_CODEC, offset_radius=0)),
    'softmax-sigma1-r1': fused_cfg(),
    'softmax-sigma2.5-r2': fused_cfg(decoder=dict(CODEC, presence_sigma=2.5, offset_radius=2)),
    'softmax-onehot-r0': fused_cfg(decoder=dict(CODEC, presence_sigma=0.0, offset_radius=0)),
    'softmax-sigma1-r1-no-oks': fused_cfg(coord_loss=None),
}


@pytest.mark.parametrize('name', list(CURRENT_CASES))
def test_losses_and_gradients_equal_the_implementation_before(name):
    """``head.loss`` (the presence target built cheaper, ``acc_pose`` in
    torch) gives every loss, ``acc_pose`` (its dtype too) and every loss's
    gradient w.r.t. the head outputs of the implementation before, bit for
    bit: a batch with unlabelled, out-of-input, corner and cell-border
    keypoints; random outputs and outputs near the truth (``acc_pose``
    strictly between 0 and 1)."""
    cfg = CURRENT_CASES[name]
    head = MODELS.build(cfg)
    head.init_weights()
    samples, _ = packed_and_reference_batch(cfg['decoder'], batch=8, seed=3)
    accuracies = []
    for outputs in (near_ideal_outputs(head, samples),
                    head.forward(fused_feats(8) if 'fuse_in_channels' in cfg
                                 else (torch.randn(8, 32, 4, 3),))):
        leaves = tuple(x.detach().requires_grad_() for x in outputs)
        head.forward = lambda feats: leaves
        got = head.loss(None, samples)
        want = _current_loss(head, None, samples)
        assert sorted(got) == sorted(want)
        assert len(got) == 4 - ('coord_loss' in cfg and cfg['coord_loss'] is None)
        for key, value in want.items():
            assert got[key].dtype == value.dtype, key
            assert torch.equal(got[key], value), (key, got[key], value)
            if key.startswith('loss'):
                for g, w in zip(torch.autograd.grad(got[key], leaves, allow_unused=True),
                                torch.autograd.grad(value, leaves, allow_unused=True)):
                    assert (g is None) == (w is None), key
                    assert g is None or torch.equal(g, w), key
        accuracies.append(float(want['acc_pose']))
    assert 0.2 < accuracies[0] < 0.9, accuracies
