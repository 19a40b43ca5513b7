"""Random-weight pose checkpoints for the tool tests (no training, no
download): a one-stage YOLOX-Pose model on EfficientNet-Lite0
(configs/yolo_effl0_256.py) that keeps a few candidates per image, and the
quick-start top-down grid model (configs/quickstart.py)."""
import os.path as osp

import torch

from conftest import REPO_ROOT

#: A random YOLOX-Pose head scores every candidate about 1e-4 (its prior):
#: keep them all (score_thr 0), the best 8 before NMS.
ONESTAGE_TEST_CONFIG = '''
_base_ = ['{base}']
model = dict(test_cfg=dict(score_thr=0.0, nms_thr=0.5, nms_pre=8))
'''


def write_onestage_config(out_dir) -> str:
    path = osp.join(str(out_dir), 'yolo_effl0_test.py')
    with open(path, 'w') as f:
        f.write(ONESTAGE_TEST_CONFIG.format(
            base=osp.join(REPO_ROOT, 'configs', 'yolo_effl0_256.py')))
    return path


def save_random_pose_checkpoint(config: str, out: str, seed: int = 0) -> str:
    """A checkpoint of ``config``'s model with random weights (no pretrained
    backbone), COCO's metainfo in ``meta.dataset_meta`` as MMEngine's
    CheckpointHook saves it."""
    from kp_plugins.benchmark.speed import build_pose_model, coco_metainfo, load_pose_config
    torch.manual_seed(seed)
    model = build_pose_model(load_pose_config(config))
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=coco_metainfo())), out)
    return out
