"""What limits a one-stage model on the synthetic val split: finding the
persons or placing their keypoints? The script behind README's quick-start
diagnosis of ``configs/quickstart_yolo.py``::

    .venv/bin/python docs/benchmark/quickstart_yolo/diagnose.py CONFIG CHECKPOINT

For a bottom-up model (every keypoint set it outputs for the image, score
threshold 0, so scores and ranking do not enter the localisation figures):

* **finding** -- box AP / AP50 of its person boxes (xtcocotools COCOeval,
  ``iouType='bbox'``, box scores) and the share of persons whose best box
  has IoU >= 0.5;
* **placing** -- for every person, the best OKS over the keypoint sets the
  model outputs (COCO's OKS: ``kp_plugins.utils.oks.instance_oks``, the
  annotation's area), and the median keypoint error of that set in units of
  sqrt(area) (MMPose's ``keypoint_nme``);
* **together** -- keypoint AP / AP50 / AP75 (COCOeval,
  ``iouType='keypoints'``, the model's box scores, every output).

For a top-down model it scores the keypoints predicted in each person's
ground-truth box (placing only). Prints one JSON line.
"""
import json
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmpose.apis import inference_bottomup, inference_topdown, init_model
from mmpose.evaluation.functional import keypoint_nme
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from kp_plugins.datasets.synthetic_people import synthetic_ann_file
from kp_plugins.utils.oks import COCO_SIGMAS, annotation_oks


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of xyxy ``boxes`` (N, 4) with one xywh ``box``, (N,)."""
    x1, y1, w, h = box
    ix = np.clip(np.minimum(boxes[:, 2], x1 + w) - np.maximum(boxes[:, 0], x1), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], y1 + h) - np.maximum(boxes[:, 1], y1), 0, None)
    inter = ix * iy
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(areas + w * h - inter, 1e-9)


def coco_stats(gt: COCO, results: list, iou_type: str) -> list:
    if not results:
        return [0.0] * 10
    evaluator = COCOeval(gt, gt.loadRes(results), iou_type,
                         sigmas=np.asarray(COCO_SIGMAS), use_area=True)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return [round(float(s), 4) for s in evaluator.stats]


def main() -> None:
    torch.set_num_threads(2)
    config, checkpoint = sys.argv[1:3]
    cfg = Config.fromfile(config)
    ds = cfg.val_dataloader.dataset
    ann_file = synthetic_ann_file('val', num_images=ds.num_images, img_size=tuple(ds.img_size),
                                  seed=ds.seed)
    model = init_model(config, checkpoint, device='cpu',
                       cfg_options=dict(model=dict(test_cfg=dict(score_thr=0.0))))
    bottomup = model.cfg.get('data_mode') == 'bottomup'
    gt = COCO(ann_file)
    images = gt.dataset['images']
    img_dir = ann_file.rsplit('/', 1)[0] + '/images/'
    best, errors, found = [], [], []
    kpt_results, box_results = [], []
    for image in images:
        anns = [a for a in gt.imgToAnns[image['id']] if a['num_keypoints'] > 0]
        path = img_dir + image['file_name']
        if bottomup:
            inst = inference_bottomup(model, path)[0].pred_instances
            kpts, boxes = inst.keypoints, inst.bboxes
            scores = inst.bbox_scores if 'bbox_scores' in inst else inst.keypoint_scores.mean(1)
            for k, b, s in zip(kpts, boxes, scores):
                kpt_results.append(dict(
                    image_id=image['id'], category_id=1, score=float(s),
                    keypoints=np.concatenate([k, np.ones((17, 1))], 1).ravel().tolist()))
                box_results.append(dict(image_id=image['id'], category_id=1, score=float(s),
                                        bbox=[float(b[0]), float(b[1]), float(b[2] - b[0]),
                                              float(b[3] - b[1])]))
            if not len(kpts):
                kpts = np.zeros((1, 17, 2))
                boxes = np.zeros((1, 4))
            chosen = []
            for a in anns:
                values = annotation_oks(kpts, a)
                chosen.append(kpts[int(np.argmax(values))])
                found.append(float(box_iou(np.asarray(boxes), a['bbox']).max()) >= 0.5)
        else:
            boxes = np.array([a['bbox'] for a in anns], float).reshape(-1, 4)
            boxes[:, 2:] += boxes[:, :2]
            chosen = [res.pred_instances.keypoints[0]
                      for res in inference_topdown(model, path, boxes, 'xyxy')]
        for a, k in zip(anns, chosen):
            g = np.asarray(a['keypoints'], float).reshape(17, 3)
            best.append(float(annotation_oks(k[None], a)[0]))
            errors.append(float(keypoint_nme(k[None], g[None, :, :2], (g[:, 2] > 0)[None],
                                             np.full((1, 2), np.sqrt(a['area'])))))
    best, errors = np.array(best), np.array(errors)
    result = dict(
        persons=len(best),
        best_oks_median=round(float(np.median(best)), 3),
        best_oks_at_least_0_5=round(float((best >= 0.5).mean()), 3),
        best_oks_at_least_0_75=round(float((best >= 0.75).mean()), 3),
        median_error_per_sqrt_area=round(float(np.median(errors)), 3))
    if bottomup:
        result.update(
            found_iou_0_5=round(float(np.mean(found)), 3),
            box_ap_ap50=coco_stats(gt, box_results, 'bbox')[:2],
            keypoint_ap_ap50_ap75=coco_stats(gt, kpt_results, 'keypoints')[:3],
            outputs_per_image=round(len(kpt_results) / len(images), 1))
    print(json.dumps(result))


if __name__ == '__main__':
    main()
