"""KPWholeImageBBox and KPSinglePersonCocoDataset (whole-image setting)."""
import json
import os.path as osp
from collections import Counter

import numpy as np
import pytest

import kp_plugins  # noqa: F401  (registration)
from mmpose.registry import DATASETS, TRANSFORMS


def test_box_becomes_the_whole_image():
    transform = TRANSFORMS.build(dict(type='KPWholeImageBBox'))
    results = transform(dict(img_shape=(240, 320),
                             bbox=np.array([[5, 5, 50, 80]], np.float32),
                             bbox_score=np.ones(1)))
    np.testing.assert_array_equal(results['bbox'], [[0, 0, 319, 239]])
    np.testing.assert_array_equal(results['bbox_score'], [1])
    with pytest.raises(KeyError, match='img_shape'):
        transform(dict(bbox=np.zeros((1, 4))))
    with pytest.raises(RuntimeError, match='before GetBBoxCenterScale'):
        transform(dict(img_shape=(2, 2), bbox_center=np.zeros((1, 2))))


def test_whole_image_crop_covers_the_image():
    """With padding 1.0 the crop is the image, padded to the aspect ratio."""
    pipeline = [TRANSFORMS.build(cfg) for cfg in [
        dict(type='KPWholeImageBBox'),
        dict(type='GetBBoxCenterScale', padding=1.0),
        dict(type='TopdownAffine', input_size=(96, 128)),
    ]]
    results = dict(img=np.zeros((300, 200, 3), np.uint8), img_shape=(300, 200),
                   bbox=np.zeros((1, 4), np.float32),
                   keypoints=np.array([[[0, 0], [199, 299]]], np.float32),
                   keypoints_visible=np.ones((1, 2), np.float32))
    for transform in pipeline:
        results = transform(results)
    kpts = results['transformed_keypoints'][0]
    # image corners land inside the input, the limiting side spans it
    assert np.all(kpts >= -1e-3) and np.all(kpts <= [96, 128])
    assert kpts[1, 1] - kpts[0, 1] == pytest.approx(128.0, rel=1e-3)


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
