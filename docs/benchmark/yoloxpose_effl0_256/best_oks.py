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
keypoints in ../shared/data/coco_trainval/annotations_val.json. Prints the
distribution of the best OKS, overall and for the smaller and the larger half
of the persons (split at the median area, 1.4% of the image), with each half's
median keypoint error of the chosen keypoint set in units of sqrt(area) (the
split and the error were added on 2026-12-01 evening; the overall numbers of
the earlier rows did not change).
"""
import json
import sys

import numpy as np
import torch
from mmpose.apis import inference_bottomup, inference_topdown, init_model
from mmpose.evaluation.functional import keypoint_nme

from kp_plugins.utils.oks import annotation_oks

ROOT = '../shared/data/coco_trainval/'




def main() -> None:
    torch.set_num_threads(1)
    config, checkpoint = sys.argv[1:3]
    model = init_model(config, checkpoint, device='cpu',
                       cfg_options=dict(model=dict(test_cfg=dict(score_thr=0.0))))
    bottomup = model.cfg.get('data_mode') == 'bottomup'
    data = json.load(open(ROOT + 'annotations_val.json'))
    best, errors, fractions = [], [], []
    for image in data['images']:
        anns = [a for a in data['annotations']
                if a['image_id'] == image['id'] and a['num_keypoints'] > 0]
        if not anns:
            continue
        path = ROOT + 'images/' + image['file_name']
        if bottomup:
            kpts = inference_bottomup(model, path)[0].pred_instances.keypoints
            chosen = [kpts[int(np.argmax(annotation_oks(kpts, a)))] for a in anns]
        else:
            boxes = np.array([a['bbox'] for a in anns], float)
            boxes[:, 2:] += boxes[:, :2]
            chosen = [res.pred_instances.keypoints[0]
                      for res in inference_topdown(model, path, boxes, 'xyxy')]
        for a, k in zip(anns, chosen):
            gt = np.asarray(a['keypoints'], float).reshape(17, 3)
            labelled = gt[:, 2] > 0
            best.append(float(annotation_oks(k[None], a)[0]))
            errors.append(float(keypoint_nme(k[None], gt[None, :, :2], labelled[None],
                                             np.full((1, 2), np.sqrt(a['area'])))))
            fractions.append(a['area'] / (image['width'] * image['height']))
    best, errors, fractions = map(np.array, (best, errors, fractions))
    result = summary(best)
    # Split at the median person (1.4% of the image area on this val set):
    # mean keypoint error of the chosen set in units of sqrt(area); OKS's
    # tolerance is 2 * sigma * sqrt(area), 0.05-0.21 of it for COCO's sigmas.
    cut = float(np.median(fractions))
    for name, part in (('smaller', fractions < cut), ('larger', fractions >= cut)):
        result[name] = dict(summary(best[part]),
                            median_error_per_size=round(float(np.median(errors[part])), 3))
    result['split_at_area_fraction'] = round(cut, 4)
    print(json.dumps(result))


def summary(best: np.ndarray) -> dict:
    """Distribution of best OKS values (n,)."""
    return dict(persons=len(best),
                median=round(float(np.median(best)), 3),
                p90=round(float(np.percentile(best, 90)), 3),
                max=round(float(best.max()), 3),
                at_least_0_5=int((best >= 0.5).sum()))


if __name__ == '__main__':
    main()
