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

OKS as COCO's (xtcocotools' computeOks: the annotation's ``area``, COCO's
per-keypoint sigmas, labelled keypoints only), for the 79 persons with
keypoints in ../shared/data/coco_trainval/annotations_val.json.
"""
import json
import sys

import numpy as np
import torch
from mmpose.apis import inference_bottomup, inference_topdown, init_model

ROOT = '../shared/data/coco_trainval/'
SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                   .87, .87, .89, .89]) / 10


def oks(pred: np.ndarray, ann: dict) -> np.ndarray:
    """OKS of keypoint sets ``pred`` (N, 17, 2) against one annotation."""
    gt = np.array(ann['keypoints'], float).reshape(17, 3)
    vis = gt[:, 2] > 0
    d2 = ((pred - gt[None, :, :2]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * ann['area'] * (2 * SIGMAS) ** 2 + np.spacing(1)))[:, vis].mean(1)


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
