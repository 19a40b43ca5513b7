"""Flip test against a mirror made here, independently of kp_plugins.

The mirrored input is the pixels flipped by numpy, the mirror of a keypoint
is ``x -> W - 1 - x`` (pixel ``j`` of a mirrored row is pixel ``W - 1 - j``)
with left and right swapped by the COCO metainfo's ``flip_indices`` (read
from MMPose's dataset config, not from kp_plugins). A flip test that is an
involution with the wrong constant (``W - x``) passes a test that mirrors
with the code under test; it fails these:

* the flip-averaged prediction of a symmetric input is symmetric under the
  true mirror;
* the prediction on the numpy-mirrored input is the true mirror of the
  prediction on the input;
* for the grid codec, the mirrored ground truth encoded and mapped back
  with ``flip_grid_outputs`` is the ground truth's own encoding (cells,
  offsets, Gaussian presence targets), so the flip-averaged perfect outputs
  decode to the keypoints to 1e-4 px.
"""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from kp_plugins.codecs import KPGridLabel
from kp_plugins.utils.flip import flip_grid_outputs

from approach_cases import kp_heads
from head_testing import SMALL_BACKBONE, SMALL_CHANNELS

COCO_META = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
FLIP = list(COCO_META['flip_indices'])
K = len(FLIP)
INPUT = (96, 128)  # (W, H)
W, H = INPUT

#: head name -> case name -> head config: the flip test's cases for the head
#: of every kp_plugins top-down approach (kp_plugins.approaches.APPROACHES;
#: MMPose's heads flip with MMPose's code). An approach whose head has no
#: entry fails ``test_every_kp_head_has_flip_cases``.
HEAD_CASES = {
    'KPRegressionHead': dict(
        regression=dict(type='KPRegressionHead', in_channels=SMALL_CHANNELS, num_keypoints=K,
                        decoder=dict(type='KPRegressionLabel', input_size=INPUT))),
    'KPBBoxHead': dict(
        bbox=dict(type='KPBBoxHead', in_channels=SMALL_CHANNELS, num_keypoints=K,
                  decoder=dict(type='KPBBoxLabel', input_size=INPUT))),
    'KPGridHead': dict(
        grid_bce=dict(type='KPGridHead', in_channels=SMALL_CHANNELS, num_keypoints=K,
                      feat_channels=32, kernel_size=1,
                      presence_loss=dict(type='KPBCELoss', loss_name='loss_presence'),
                      decoder=dict(type='KPGridLabel', input_size=INPUT, grid_size=(12, 16),
                                   presence_sigma=0, presence_normalization='sigmoid')),
        grid_softmax=dict(type='KPGridHead', in_channels=SMALL_CHANNELS, num_keypoints=K,
                          feat_channels=32, fuse_in_channels=SMALL_CHANNELS // 2,
                          decoder=dict(type='KPGridLabel', input_size=INPUT,
                                       grid_size=(12, 16)))),
}
#: case name -> head config, for the kp heads of APPROACHES
HEADS = {name: cfg for head in kp_heads() for name, cfg in HEAD_CASES.get(head, {}).items()}


def test_every_kp_head_has_flip_cases():
    assert set(HEAD_CASES) == set(kp_heads())
    assert all(HEAD_CASES.values())


def true_mirror(keypoints: np.ndarray, width: int = W) -> np.ndarray:
    """(N, K, 2) -> the keypoints of the mirrored input."""
    out = keypoints[:, FLIP].copy()
    out[..., 0] = width - 1 - out[..., 0]
    return out


def is_grid(name: str) -> bool:
    """Whether case ``name`` is a grid head (a best cell, a predict_conv)."""
    return HEADS[name]['type'] == 'KPGridHead'


def build_model(name: str):
    backbone = dict(SMALL_BACKBONE, out_indices=(2, 3)) if 'fuse_in_channels' in \
        HEADS[name] else SMALL_BACKBONE
    model = MODELS.build(dict(type='TopdownPoseEstimator', backbone=backbone,
                              head=HEADS[name], test_cfg=dict(flip_test=True)))
    model.init_weights()
    torch.nn.init.normal_(model.head.predict_conv.weight if is_grid(name) else
                          [m for m in model.head.modules()
                           if isinstance(m, torch.nn.Linear)][-1].weight, std=0.05)
    model.eval()
    return model


def samples(boxes) -> list:
    """Data samples whose image is the model input itself (input_center at
    the middle, input_scale = input size: image and input pixels coincide),
    with person boxes in those pixels."""
    out = []
    for box in boxes:
        sample = PoseDataSample(metainfo=dict(
            input_size=INPUT, input_center=np.array([W / 2, H / 2]),
            input_scale=np.array([W, H], dtype=np.float64), flip_indices=FLIP))
        sample.gt_instances = InstanceData(bboxes=np.array([box], np.float32),
                                           bbox_scores=np.ones(1, np.float32))
        out.append(sample)
    return out


def predict(model, images: np.ndarray, boxes) -> tuple:
    """images (B, H, W, 3) -> keypoints (B, K, 2) and scores (B, K)."""
    inputs = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        results = model.predict(inputs.float(), samples(boxes))
    keypoints = np.stack([r.pred_instances.keypoints[0] for r in results])
    scores = np.stack([r.pred_instances.keypoint_scores[0] for r in results])
    return keypoints.astype(np.float64), scores


def random_images(seed: int, num: int = 3) -> np.ndarray:
    return np.random.RandomState(seed).uniform(-2, 2, (num, H, W, 3)).astype(np.float32)


@pytest.mark.parametrize('name', list(HEADS))
def test_flip_averaged_prediction_of_a_symmetric_input_is_symmetric(name):
    model = build_model(name)
    images = random_images(0)
    symmetric = (images + images[:, :, ::-1]) / 2  # exactly mirror-symmetric
    assert np.array_equal(symmetric, symmetric[:, :, ::-1])
    # person boxes symmetric about the input's middle column (W - 1) / 2
    boxes = [[10.0, 5.0, W - 1 - 10.0, 120.0], [30.5, 20.0, W - 1 - 30.5, 60.0],
             [0.0, 0.0, W - 1.0, H - 1.0]]
    keypoints, scores = predict(model, symmetric, boxes)
    mirrored, mirrored_scores = true_mirror(keypoints), scores[:, FLIP]
    if is_grid(name):
        # a best cell is one cell: a self-mirrored keypoint (the nose) of a
        # symmetric map has two mirror-image best cells, and the argmax takes
        # one of them; left/right pairs must mirror each other exactly
        pairs = [k for k in range(K) if FLIP[k] != k]
        keypoints, mirrored = keypoints[:, pairs], mirrored[:, pairs]
        scores, mirrored_scores = scores[:, pairs], mirrored_scores[:, pairs]
    np.testing.assert_allclose(keypoints, mirrored, atol=1e-4)
    np.testing.assert_allclose(scores, mirrored_scores, atol=1e-6)
    # and not trivially: the prediction is not the same for every keypoint
    assert np.ptp(keypoints[..., 0]) > 1.0


@pytest.mark.parametrize('name', list(HEADS))
def test_prediction_on_the_mirrored_input_is_the_mirrored_prediction(name):
    model = build_model(name)
    images = random_images(1)
    boxes = [[10.0, 5.0, 70.0, 120.0], [3.5, 20.0, 50.0, 60.0], [40.0, 0.0, 95.0, 127.0]]
    mirrored_boxes = [[W - 1 - x2, y1, W - 1 - x1, y2] for x1, y1, x2, y2 in boxes]
    keypoints, scores = predict(model, images, boxes)
    keypoints_m, scores_m = predict(model, images[:, :, ::-1], mirrored_boxes)
    np.testing.assert_allclose(keypoints_m, true_mirror(keypoints), atol=1e-4)
    np.testing.assert_allclose(scores_m, scores[:, FLIP], atol=1e-6)


# ------------------------------------------------------------ grid codec
GRID_CASES = [((96, 128), (12, 16)), ((192, 256), (24, 32)), ((48, 64), (12, 16))]


def grid_points(input_size, grid_size, seed=0):
    """(N, K, 2) keypoints inside the input: uniform, on the first and last
    pixel, and a quarter pixel on either side of each cell's first and last
    pixel centre. No point lies on the border of two cells of the MMPose
    convention (a half-open cell of a mirror-consistent layout holds one
    side of a border point but not its mirror)."""
    (w, h), gw = input_size, grid_size[0]
    cw = w // gw
    rng = np.random.RandomState(seed)
    uniform = rng.uniform([0, 0], [w - 1, h - 1], (40, K, 2))
    starts = np.arange(gw) * cw
    xs = np.concatenate([starts, starts + 0.25, starts + cw - 0.25, starts + cw - 0.75,
                         [0, w - 1]])
    xs = xs[(xs >= 0) & (xs <= w - 1)]
    ys = rng.uniform(0, h - 1, xs.size)
    special = np.stack([xs, ys], -1)
    special = np.resize(special, (-(-len(special) // K) * K, 2)).reshape(-1, K, 2)
    return np.concatenate([uniform, special]).astype(np.float32)


def perfect_maps(codec, encoded):
    """+20 at the true cell, -20 elsewhere; the codec's offset at the true
    cell (the ideal grid head). ``encoded``: the unpacked targets."""
    gw, gh = codec.grid_size
    n, k = encoded['keypoint_weights'].shape
    presence = np.full((n, k, gh * gw), -20.0, np.float32)
    offsets = np.zeros((n, k, 2, gh * gw), np.float32)
    ni, ki = np.nonzero(encoded['keypoint_weights'] > 0)
    cells = encoded['keypoint_cells'][ni, ki]
    presence[ni, ki, cells] = 20.0
    offsets[ni, ki, :, cells] = encoded['keypoint_offsets'][ni, ki]
    return (torch.from_numpy(presence.reshape(n, k, gh, gw)),
            torch.from_numpy(offsets.reshape(n, k, 2, gh, gw)))


@pytest.mark.parametrize('input_size,grid_size', GRID_CASES)
def test_grid_codec_mirrors_its_targets(input_size, grid_size):
    """The encoding of the mirrored keypoints, mapped back by
    flip_grid_outputs, is the keypoints' own encoding: same cells, same
    offsets (to 1e-4 px). Then the flip-averaged perfect outputs decode to
    the keypoints to 1e-4 px."""
    codec = KPGridLabel(input_size, grid_size)
    points = grid_points(input_size, grid_size)
    visible = np.ones(points.shape[:2], np.float32)
    encoded = codec.unpack(**codec.encode(points, visible))
    mirrored = codec.unpack(**codec.encode(true_mirror(points, input_size[0]), visible))
    assert (encoded['keypoint_weights'] > 0).all()
    presence, offsets = perfect_maps(codec, encoded)
    back_presence, back_offsets = flip_grid_outputs(
        *perfect_maps(codec, mirrored), FLIP)
    cell_px = np.array(codec.cell_size, np.float32)[:, None, None]
    np.testing.assert_array_equal(back_presence.numpy(), presence.numpy())
    true_cell = (presence.numpy() > 0)[:, :, None].repeat(2, axis=2)  # offsets elsewhere: 0
    np.testing.assert_allclose((back_offsets.numpy() * cell_px)[true_cell],
                               (offsets.numpy() * cell_px)[true_cell], atol=1e-4)
    decoded, _ = codec.decode((presence + back_presence).numpy() / 2,
                              ((offsets + back_offsets) / 2).numpy())
    np.testing.assert_allclose(decoded, points, atol=1e-4)


@pytest.mark.parametrize('input_size,grid_size', GRID_CASES)
def test_grid_presence_targets_mirror(input_size, grid_size):
    """KPGridLabel's Gaussian presence target and its neighbour offset
    targets of the mirrored keypoints, mirrored back by hand (cells
    reversed, x offsets 1 - o, left/right swapped), are the keypoints' own
    targets (to 1e-4)."""
    codec = KPGridLabel(input_size, grid_size, presence_sigma=1.0, offset_radius=1)
    gw, gh = codec.grid_size
    points = grid_points(input_size, grid_size)
    visible = np.ones(points.shape[:2], np.float32)
    own = codec.unpack(**codec.encode(points, visible))
    mirrored = codec.unpack(**codec.encode(true_mirror(points, input_size[0]), visible))
    back = mirrored['presence_target'].reshape(-1, K, gh, gw)[:, FLIP, :, ::-1]
    np.testing.assert_allclose(back, own['presence_target'].reshape(-1, K, gh, gw), atol=1e-4)
    assert own['presence_target'].max() == 1.0

    def as_maps(enc):
        """offset targets scattered onto (N, K, 2, Gh, Gw) maps, NaN elsewhere."""
        n = enc['offset_cells'].shape[0]
        maps = np.full((n, K, 2, gh * gw), np.nan, np.float32)
        ni, ki, mi = np.nonzero(enc['offset_weights'] > 0)
        maps[ni, ki, :, enc['offset_cells'][ni, ki, mi]] = enc['offset_targets'][ni, ki, mi]
        return maps.reshape(n, K, 2, gh, gw)

    back = as_maps(mirrored)[:, FLIP, :, :, ::-1]
    back[:, :, 0] = 1.0 - back[:, :, 0]
    np.testing.assert_allclose(back, as_maps(own), atol=1e-4)  # NaN where no target, both
