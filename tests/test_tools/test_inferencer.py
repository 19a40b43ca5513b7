"""MMPose's deployment APIs on every kp_plugins config: ``init_model`` +
``inference_topdown`` (``inference_bottomup`` for a bottom-up config) and
``MMPoseInferencer(pose2d=<config>, pose2d_weights=<checkpoint>)``, with a
random-init checkpoint saved from the built model (as MMEngine saves one:
``state_dict`` + ``meta.dataset_meta``; and one without meta, whose
metainfo must come from the config). ResNet-50 backbones are swapped for
ResNet-18 through a derived config to keep this cheap; heads, codecs,
pipelines and datasets stay the configs' own."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*.py')))
#: Approach configs the issue names; the suite must include them.
REQUIRED = ('heatmap_r50', 'regression_r50', 'grid_r50', 'bbox_r50')
PHOTO = '000000000785.jpg'  # a val2017 photo with one person


def small_config(path: str, tmp_path) -> str:
    """``path`` itself, or a derived config that is cheaper to build: ResNet-18
    instead of ResNet-50, EfficientNet-Lite without loading its ImageNet
    weights (the checkpoint replaces them anyway)."""
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    backbone, head = cfg.model.get('backbone', {}), cfg.model.get('head', {})
    override = None
    if backbone.get('type') == 'ResNet' and backbone.get('depth') == 50 \
            and head.get('in_channels') == 2048:
        fuse = ', fuse_in_channels=256' if head.get('fuse_in_channels') else ''
        override = f'model = dict(backbone=dict(depth=18), head=dict(in_channels=512{fuse}))'
    elif backbone.get('type') == 'KPEfficientNetLite' and backbone.get('pretrained'):
        override = 'model = dict(backbone=dict(pretrained=False))'
    if override is None:
        return path
    derived = tmp_path / f'{osp.splitext(osp.basename(path))[0]}_small.py'
    derived.write_text(f"_base_ = ['{path}']\n{override}\n")
    return str(derived)


def save_random_checkpoint(config: str, out: str, with_meta: bool = True) -> dict:
    """Build the model of ``config``, initialise it and save a checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.apis.inference import dataset_meta_from_config
    from mmpose.registry import MODELS

    import kp_plugins  # noqa: F401
    cfg = Config.fromfile(config)
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None
    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    meta = dataset_meta_from_config(cfg, 'train')
    ckpt = dict(state_dict=model.state_dict())
    if with_meta:
        ckpt['meta'] = dict(dataset_meta=meta)
    torch.save(ckpt, out)
    return meta


def config_id(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def test_required_configs_present():
    names = {config_id(p) for p in CONFIGS}
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f'configs the issue names are missing: {missing}'


@pytest.fixture(scope='module')
def photo(coco_trainval):
    return osp.join(coco_trainval, 'images', PHOTO)


def bottom_up(cfg) -> bool:
    return cfg.model.type == 'BottomupPoseEstimator'


@pytest.mark.parametrize('config', CONFIGS, ids=config_id)
def test_mmpose_apis_run_config(config, tmp_path, photo):
    """init_model + inference_topdown on three boxes, then MMPoseInferencer
    on the whole image (det_model='whole_image': no detector download); the
    inferencer's keypoints equal inference_topdown's on the whole-image box."""
    from mmengine.config import Config
    from mmpose.apis import MMPoseInferencer, inference_bottomup, inference_topdown, init_model

    cfg_path = small_config(config, tmp_path)
    cfg = Config.fromfile(cfg_path)
    ckpt = str(tmp_path / 'random.pth')
    meta = save_random_checkpoint(cfg_path, ckpt)
    num_keypoints = meta['num_keypoints']
    model = init_model(cfg_path, ckpt, device='cpu')
    assert model.dataset_meta['num_keypoints'] == num_keypoints
    assert list(model.dataset_meta['flip_indices']) == list(meta['flip_indices'])
    # The weights are the checkpoint's, not a fresh initialisation.
    saved = torch.load(ckpt, map_location='cpu')['state_dict']
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[name], msg=name)

    if bottom_up(cfg):
        pred = inference_bottomup(model, photo)[0].pred_instances
        assert pred.keypoints.shape[1:] == (num_keypoints, 2)
    else:
        height, width = 425, 640  # the photo's size
        boxes = np.array([[0, 0, width, height], [200.0, 30.0, 520.0, 420.0],
                          [10.0, 10.0, 200.0, 300.0]], np.float32)
        results = inference_topdown(model, photo, boxes)
        assert len(results) == 3
        # The seed's single-person configs replace any box by the whole image
        # (the box whose crop keeps the image's last pixels inside the input).
        whole_image = [step for step in cfg.test_dataloader.dataset.pipeline
                       if step['type'] == 'KPWholeImageBBox']
        for res, box in zip(results, boxes):
            pred = res.pred_instances
            assert pred.keypoints.shape == (1, num_keypoints, 2)
            assert pred.keypoint_scores.shape == (1, num_keypoints)
            assert np.isfinite(pred.keypoints).all()
            if whole_image:
                from mmpose.registry import TRANSFORMS
                whole = TRANSFORMS.build(whole_image[0])(dict(img_shape=(height, width)))
                np.testing.assert_allclose(pred.bboxes[0], whole['bbox'][0], atol=1e-3)
                np.testing.assert_allclose(pred.bboxes[0], [0, 0, width, height], atol=3.0)
            else:
                np.testing.assert_allclose(pred.bboxes[0], box)
        ref = results[0].pred_instances  # whole-image box

    inferencer = MMPoseInferencer(pose2d=cfg_path, pose2d_weights=ckpt, device='cpu',
                                  det_model='whole_image')
    assert inferencer.inferencer.model.dataset_meta['num_keypoints'] == num_keypoints
    out = next(inferencer(photo, return_datasamples=True))
    pred = out['predictions'][0].pred_instances
    assert pred.keypoints.shape[1:] == (num_keypoints, 2)
    if not bottom_up(cfg):
        assert len(pred.keypoints) == 1  # one whole-image person
        np.testing.assert_allclose(pred.keypoints, ref.keypoints, rtol=0, atol=1e-3)
        np.testing.assert_allclose(pred.keypoint_scores, ref.keypoint_scores, rtol=0, atol=1e-5)


#: One config per training dataset class (where the metainfo comes from).
NO_META_CONFIGS = ('heatmap_r50', 'grid_r50_wholeimage', 'quickstart')


@pytest.mark.parametrize('name', NO_META_CONFIGS)
def test_checkpoint_without_dataset_meta(name, tmp_path, photo):
    """A checkpoint without ``meta.dataset_meta`` (e.g. converted): both APIs
    take the metainfo from the config's training dataset."""
    from mmpose.apis import MMPoseInferencer, init_model

    config = osp.join(REPO_ROOT, 'configs', name + '.py')
    if not osp.isfile(config):
        pytest.skip(f'{name}.py not present')
    cfg_path = small_config(config, tmp_path)
    ckpt = str(tmp_path / 'random.pth')
    meta = save_random_checkpoint(cfg_path, ckpt, with_meta=False)
    assert 'meta' not in torch.load(ckpt, map_location='cpu')
    model = init_model(cfg_path, ckpt, device='cpu')
    assert model.dataset_meta['dataset_name'] == meta['dataset_name']
    assert list(model.dataset_meta['flip_indices']) == list(meta['flip_indices'])
    inferencer = MMPoseInferencer(pose2d=cfg_path, pose2d_weights=ckpt, device='cpu',
                                  det_model='whole_image')
    assert inferencer.inferencer.model.dataset_meta['dataset_name'] == meta['dataset_name']
    pred = next(inferencer(photo, return_datasamples=True))['predictions'][0].pred_instances
    assert pred.keypoints.shape == (1, meta['num_keypoints'], 2)


@pytest.mark.parametrize('config', CONFIGS, ids=config_id)
def test_data_mode_matches_model(config):
    """MMPose's inferencer reads the top-level ``data_mode`` to decide
    whether to run a person detector (and, for a COCO body dataset, to
    download MMPose's default one): a bottom-up config must say
    ``data_mode = 'bottomup'``."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    expected = 'bottomup' if bottom_up(cfg) else 'topdown'
    assert cfg.get('data_mode') == expected, (
        f'{config_id(config)}: top-level data_mode is {cfg.get("data_mode")!r}, '
        f'the model is {cfg.model.type}: set data_mode = {expected!r}')


def test_mmpose_inferencer_with_local_mmdet_detector(tmp_path, photo):
    """A top-down config with a local MMDet detector (config + checkpoint,
    nothing downloaded): one pose per person box the detector keeps
    (score > bbox_thr, NMS at nms_thr, as the inferencer filters)."""
    from mmpose.apis import MMPoseInferencer

    from kp_plugins.apis import MMDetPersonDetector, read_image

    from random_detectors import save_random_rtmdet, write_small_rtmdet_config
    det_cfg = write_small_rtmdet_config(tmp_path, max_per_img=10)
    det_ckpt = str(tmp_path / 'rtmdet.pth')
    save_random_rtmdet(det_cfg, det_ckpt, [read_image(photo)])
    cfg_path = small_config(osp.join(REPO_ROOT, 'configs', 'heatmap_r50.py'), tmp_path)
    ckpt = str(tmp_path / 'random.pth')
    save_random_checkpoint(cfg_path, ckpt)

    inferencer = MMPoseInferencer(pose2d=cfg_path, pose2d_weights=ckpt, device='cpu',
                                  det_model=det_cfg, det_weights=det_ckpt, det_cat_ids=0)
    out = next(inferencer(photo, return_datasamples=True, bbox_thr=0.2, nms_thr=0.5))
    pred = out['predictions'][0].pred_instances
    boxes = MMDetPersonDetector(det_cfg, det_ckpt, device='cpu', score_thr=0.2,
                                nms_iou=0.5)([read_image(photo)])[0]
    assert len(boxes) > 0
    assert len(pred.keypoints) == len(boxes)
    np.testing.assert_allclose(np.sort(pred.bbox_scores), np.sort(boxes[:, 4]), atol=1e-4)
