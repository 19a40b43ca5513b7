"""KPWholeImageBBox and KPSinglePersonCocoDataset (whole-image setting)."""
import json
import os.path as osp
from collections import Counter

import numpy as np
import pytest
from mmpose.registry import DATASETS, TRANSFORMS

import kp_plugins  # noqa: F401  (registration)


def test_box_becomes_the_whole_image():
    transform = TRANSFORMS.build(dict(type='KPWholeImageBBox', input_size=(96, 128)))
    results = transform(dict(img_shape=(240, 320),
                             bbox=np.array([[5, 5, 50, 80]], np.float32),
                             bbox_score=np.ones(1)))
    # about [0, 0, (w - 1) W / (W - 1), (h - 1) H / (H - 1)]
    np.testing.assert_allclose(results['bbox'],
                               [[0, 0, 319 * 96 / 95, 239 * 128 / 127]], atol=0.1)
    np.testing.assert_array_equal(results['bbox_score'], [1])
    with pytest.raises(KeyError, match='img_shape'):
        transform(dict(bbox=np.zeros((1, 4))))
    with pytest.raises(RuntimeError, match='before GetBBoxCenterScale'):
        transform(dict(img_shape=(2, 2), bbox_center=np.zeros((1, 2))))
    with pytest.raises(ValueError, match='needs input_size'):
        TRANSFORMS.build(dict(type='KPWholeImageBBox'))


def whole_image_crop(img_w, img_h, keypoints, input_size=(96, 128)):
    pipeline = [TRANSFORMS.build(cfg) for cfg in [
        dict(type='KPWholeImageBBox', input_size=input_size),
        dict(type='GetBBoxCenterScale', padding=1.0),
        dict(type='TopdownAffine', input_size=input_size),
    ]]
    results = dict(img=np.zeros((img_h, img_w, 3), np.uint8), img_shape=(img_h, img_w),
                   bbox=np.zeros((1, 4), np.float32),
                   keypoints=np.asarray(keypoints, np.float32)[None],
                   keypoints_visible=np.ones((1, len(keypoints)), np.float32))
    for transform in pipeline:
        results = transform(results)
    return results


def test_whole_image_crop_covers_the_image():
    """With padding 1.0 the crop is the image, padded to the aspect ratio."""
    kpts = whole_image_crop(200, 300, [[0, 0], [199, 299]])['transformed_keypoints'][0]
    # image corners land inside the input, the limiting side spans it
    assert np.all(kpts >= -1e-3) and np.all(kpts <= [95 + 1e-3, 127 + 1e-3])
    assert kpts[1, 1] - kpts[0, 1] == pytest.approx(127.0, abs=0.03)


@pytest.mark.parametrize('img_size', [(640, 480), (480, 640), (96, 128), (50, 40),
                                      (1000, 101), (77, 900)])
@pytest.mark.parametrize('input_size', [(96, 128), (192, 256)])
def test_last_pixel_row_and_column_stay_inside_and_keep_their_weight(img_size, input_size):
    """Issue #17, item 3: a keypoint on the image's last pixel row or column
    (or its first) lands inside the model input, 0 <= x <= W - 1 and
    0 <= y <= H - 1, on the input's last pixel along the side that fills the
    input, and every codec keeps its weight and visibility."""
    from kp_plugins.codecs import KPGridLabel, KPRegressionLabel
    w, h = img_size
    points = [[w - 1, h - 1], [0, 0], [w - 1, 0], [0, h - 1], [w - 1, h / 2], [w / 2, h - 1]]
    results = whole_image_crop(w, h, points, input_size)
    kpts = results['transformed_keypoints'][0]
    in_w, in_h = input_size
    assert np.all(kpts >= 0) and np.all(kpts <= [in_w - 1, in_h - 1]), kpts
    # along the side that fills the input: on its first and last pixel
    tol = 0.02
    fills_width = np.allclose(kpts[[1, 2], 0], [0, in_w - 1], atol=tol)
    fills_height = np.allclose(kpts[[1, 3], 1], [0, in_h - 1], atol=tol)
    assert fills_width or fills_height, kpts
    visible = np.ones((1, len(points)), np.float32)
    grid_codec = KPGridLabel(input_size, (in_w // 8, in_h // 8))
    grid = grid_codec.unpack(**grid_codec.encode(kpts[None], visible))
    np.testing.assert_array_equal(grid['keypoint_weights'], 1)
    regression = KPRegressionLabel(input_size).encode(kpts[None], visible)
    np.testing.assert_array_equal(regression['keypoint_weights'], 1)
    np.testing.assert_array_equal(regression['keypoint_visibility'], 1)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_single_person_dataset_keeps_one_person_images(coco_trainval, split):
    ann_file = f'annotations_{split}.json'
    with open(osp.join(coco_trainval, ann_file)) as f:
        coco = json.load(f)
    persons = Counter(a['image_id'] for a in coco['annotations'])
    expected = sorted(
        a['image_id'] for a in coco['annotations']
        if persons[a['image_id']] == 1 and a.get('num_keypoints', 0) > 0
        and not a.get('iscrowd', 0))
    dataset = DATASETS.build(dict(
        type='KPSinglePersonCocoDataset', data_root=coco_trainval,
        ann_file=ann_file, data_prefix=dict(img='images/'),
        test_mode=split == 'val', pipeline=[]))
    got = sorted(dataset.get_data_info(i)['img_id']
                 for i in range(len(dataset)))
    assert got == expected
    assert len(got) > 0
    full = DATASETS.build(dict(
        type='CocoDataset', data_root=coco_trainval, ann_file=ann_file,
        data_prefix=dict(img='images/'), test_mode=split == 'val',
        pipeline=[]))
    assert len(full) > len(dataset)
