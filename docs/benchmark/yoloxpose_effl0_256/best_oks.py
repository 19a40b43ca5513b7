"""Best OKS per validation person: the script behind README's "best OKS"
column (2026-12-01, run after the trainings)::

    # bottom-up: the best of every keypoint set the model outputs for the
    # image (score threshold 0: scores and ranking do not enter)
    .venv/bin/python docs/benchmark/yoloxpose_effl0_256/best_oks.py \\
        work_dirs/benchmark_128x96/entries/YOLOXPoseHead/config.py \\
        work_dirs/benchmark_128x96/entries/YOLOXPoseHead/epoch_12.pth
    # top-down: the keypoints predicted in each person's ground-truth box
    .venv/bin/python docs/benchmark/yoloxpose_effl0_256/best_oks.py \\
        work_dirs/benchmark_128x96_seeds/entries/KPGridHead/seed0/config.py \\
        work_dirs/benchmark_128x96_seeds/entries/KPGridHead/seed0/epoch_10.pth

OKS as COCO's (``kp_plugins.utils.oks.instance_oks``, xtcocotools'
computeOks: the annotation's ``area``, COCO's per-keypoint sigmas, labelled
keypoints only; the OKS was written inline here for the run), for the 79 persons with
keypoints in ../shared/data/coco_trainval/annotations_val.json.
"""
import json
import sys

import numpy as np
import torch
from mmpose.apis import inference_bottomup, inference_topdown, init_model

from kp_plugins.utils.oks import COCO_SIGMAS, instance_oks

ROOT = '../shared/data/coco_trainval/'


def oks(pred: np.ndarray, ann: dict) -> np.ndarray:
    """OKS of keypoint sets ``pred`` (N, 17, 2) against one annotation, (N,)."""
    gt = torch.as_tensor(ann['keypoints'], dtype=torch.float64).reshape(17, 3)
    pred = torch.as_tensor(np.asarray(pred), dtype=torch.float64)
    n = pred.shape[0]
    value, _ = instance_oks(pred, gt[None, :, :2].expand(n, -1, -1),
                            (gt[:, 2] > 0)[None].expand(n, -1),
                            torch.full((n, ), float(ann['area']), dtype=torch.float64),
                            torch.as_tensor(COCO_SIGMAS))
    return value.numpy()


def main() -> None:
    torch.set_num_threads(1)
    config, checkpoint = sys.argv[1:3]
    model = init_model(config, checkpoint, device='cpu',
                       cfg_options=dict(model=dict(test_cfg=dict(score_thr=0.0))))
    bottomup = model.cfg.get('data_mode') == 'bottomup'
    data = json.load(open(ROOT + 'annotations_val.json'))
    best = []
    for image in data['images']:
        anns = [a for a in data['annotations']
                if a['image_id'] == image['id'] and a['num_keypoints'] > 0]
        if not anns:
            continue
        path = ROOT + 'images/' + image['file_name']
        if bottomup:
            kpts = inference_bottomup(model, path)[0].pred_instances.keypoints
            best += [float(oks(kpts, a).max()) for a in anns]
        else:
            boxes = np.array([a['bbox'] for a in anns], float)
            boxes[:, 2:] += boxes[:, :2]
            for a, res in zip(anns, inference_topdown(model, path, boxes, 'xyxy')):
                best.append(float(oks(res.pred_instances.keypoints, a)[0]))
    best = np.array(best)
    print(json.dumps(dict(persons=len(best),
                          median=round(float(np.median(best)), 3),
                          p90=round(float(np.percentile(best, 90)), 3),
                          max=round(float(best.max()), 3),
                          at_least_0_5=int((best >= 0.5).sum()))))


if __name__ == '__main__':
    main()
