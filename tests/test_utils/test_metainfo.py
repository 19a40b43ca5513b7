"""MMPose metainfo loaded one way (kp_plugins.utils.metainfo), checked
against COCO's published keypoint definition."""
import numpy as np
import pytest

from kp_plugins.utils.metainfo import (
    coco_person_category,
    coco_skeleton,
    keypoint_names,
    load_pose_metainfo,
)

# cocodataset.org/#format-data (person_keypoints_*.json "categories") and
# cocodataset.org/#keypoints-eval (sigmas).
COCO_NAMES = ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
              'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
              'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle']
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
                 [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5],
                 [4, 6], [5, 7]]
COCO_SIGMAS = [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107,
               .087, .087, .089, .089]


def test_default_is_coco17():
    meta = load_pose_metainfo()
    assert meta['num_keypoints'] == 17
    assert keypoint_names(meta) == COCO_NAMES
    assert sorted(map(sorted, coco_skeleton(meta))) == sorted(map(sorted, COCO_SKELETON))
    np.testing.assert_allclose(meta['sigmas'], COCO_SIGMAS, atol=1e-6)


def test_path_dict_and_raw_forms_agree():
    by_path = load_pose_metainfo('configs/_base_/datasets/coco.py')
    by_dict = load_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
    assert keypoint_names(by_path) == keypoint_names(by_dict) == COCO_NAMES
    with pytest.raises(FileNotFoundError, match='no_such.py'):
        load_pose_metainfo('no_such.py')


def test_person_category():
    cat = coco_person_category()
    assert (cat['id'], cat['name'], cat['supercategory']) == (1, 'person', 'person')
    assert cat['keypoints'] == COCO_NAMES
    assert sorted(map(sorted, cat['skeleton'])) == sorted(map(sorted, COCO_SKELETON))
