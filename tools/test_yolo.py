"""Score an Ultralytics pose model on a COCO keypoint val set with MMPose's CocoMetric.

    python tools/test_yolo.py work_dirs/yolo11n_pose/weights/best.pt \\
        --data-root ../shared/data/coco_trainval --ann-file annotations_val.json \\
        --img-dir images/ [--work-dir DIR] [--imgsz 320] [--conf 0.001] [--iou 0.7]

    python tools/test_yolo.py --gt-as-pred --data-root ... --ann-file ...   # AP must be 1.0

    # the quick start's synthetic val split (200 images of 256x256, seed 0:
    # configs/quickstart.py's, what tools/train_yolo.py --synthetic validates on)
    python tools/test_yolo.py work_dirs/yolo11n_pose_synthetic/weights/best.pt --synthetic

Runs the model on every image of the annotation file (Ultralytics
predictor, offline unless --online), hands each image's persons to
mmpose.evaluation.CocoMetric exactly as MMEngine's Evaluator would for a
bottom-up model (xtcocotools, the dataset's OKS sigmas, OKS-NMS, rescoring),
prints coco/AP ... coco/AR (L) and writes WORK_DIR/results.keypoints.json
(COCO results format) and WORK_DIR/metrics.json. The numbers are directly
comparable with tools/test.py's coco/AP for approaches 1-4.

--gt-as-pred feeds the ground truth through the same path instead of a
model: every non-crowd person with keypoints, score 1 (a check: AP = 1.0).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from kp_plugins.ultralytics.evaluate import (
    coco_metric_scores,
    ground_truth_samples,
    load_coco_images,
    sample_from_result,
)
from kp_plugins.ultralytics.offline import OfflineDownloadError, import_ultralytics
from kp_plugins.utils.data_check import check_coco_files
from kp_plugins.utils.metainfo import load_pose_metainfo


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Score an Ultralytics pose model with MMPose's CocoMetric",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('weights', nargs='?', help='Ultralytics pose checkpoint (.pt)')
    parser.add_argument('--data-root', default='', help='folder the paths below are relative to')
    parser.add_argument('--ann-file', help='COCO annotation json (ground truth)')
    parser.add_argument('--img-dir', default='images/', help='image folder (default images/)')
    parser.add_argument('--synthetic', action='store_true',
                        help="the quick start's synthetic val split instead of --ann-file/"
                        '--img-dir (configs/quickstart.py\'s: 200 images of 256x256, seed 0), '
                        'generated into the kp_plugins cache if needed')
    parser.add_argument('--synthetic-images', type=int, metavar='VAL',
                        help='with --synthetic: another val split size (default 200)')
    parser.add_argument('--metainfo', help='MMPose dataset metainfo (sigmas; default COCO-17)')
    parser.add_argument('--work-dir', help='where results.keypoints.json and metrics.json go')
    parser.add_argument('--imgsz', type=int, help='inference size (default: the training size)')
    parser.add_argument('--conf', type=float, default=0.001,
                        help='min person score kept (default 0.001, as Ultralytics val)')
    parser.add_argument('--iou', type=float, default=0.7, help='box NMS IoU (default 0.7)')
    parser.add_argument('--max-det', type=int, default=300, help='max persons per image')
    parser.add_argument('--device', default=None, help="'cpu', '0', ...")
    parser.add_argument('--class-id', type=int, default=0,
                        help='model class holding persons (default 0)')
    parser.add_argument('--score-mode', default='bbox_keypoint',
                        choices=['bbox', 'bbox_keypoint', 'keypoint'],
                        help="CocoMetric score_mode (default 'bbox_keypoint', as tools/test.py)")
    parser.add_argument('--nms-mode', default='oks_nms',
                        choices=['oks_nms', 'soft_oks_nms', 'none'],
                        help="CocoMetric nms_mode (default 'oks_nms', as tools/test.py)")
    parser.add_argument('--online', action='store_true', help='let Ultralytics use the network')
    parser.add_argument('--gt-as-pred', action='store_true',
                        help='score the ground truth instead of a model (expects AP = 1.0)')
    args = parser.parse_args(argv)
    if not args.gt_as_pred and not args.weights:
        parser.error('give the weights (.pt) or --gt-as-pred')
    if args.synthetic_images is not None and not args.synthetic:
        parser.error('--synthetic-images needs --synthetic')
    if args.synthetic and (args.ann_file or args.data_root):
        parser.error('--synthetic replaces --ann-file/--data-root/--img-dir; drop them')
    if not args.synthetic and not args.ann_file:
        parser.error('give --ann-file (COCO ground truth) or --synthetic')
    return args


def default_work_dir(weights) -> str:
    if weights and osp.basename(osp.dirname(osp.abspath(weights))) == 'weights':
        return osp.join(osp.dirname(osp.dirname(osp.abspath(weights))), 'test')
    return osp.join('work_dirs', 'test_yolo')


def predict_samples(args, images) -> list:
    if not osp.isfile(args.weights):
        raise FileNotFoundError(f'weights {args.weights} do not exist')
    ultralytics = import_ultralytics(online=args.online)
    model = ultralytics.YOLO(args.weights)
    if model.task != 'pose':
        raise ValueError(f'{args.weights} is a {model.task!r} model, not a pose model')
    options = dict(conf=args.conf, iou=args.iou, max_det=args.max_det, verbose=False,
                   save=False)
    if args.imgsz:
        options['imgsz'] = args.imgsz
    if args.device is not None:
        options['device'] = args.device
    samples = []
    for img in images:
        result = model.predict(img.path, **options)[0]
        samples.append(sample_from_result(img, result, class_id=args.class_id))
    return samples


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.synthetic:
        from kp_plugins.datasets.synthetic_people import quickstart_split
        try:
            args.ann_file, args.img_dir = quickstart_split('val', args.synthetic_images)
        except ValueError as e:
            sys.exit(f'error: {e}')
    ann_file = osp.join(args.data_root, args.ann_file) if args.data_root else args.ann_file
    img_dir = osp.join(args.data_root, args.img_dir) if args.data_root else args.img_dir
    work_dir = args.work_dir or default_work_dir(args.weights)
    os.makedirs(work_dir, exist_ok=True)
    start = time.time()
    try:
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'annotation file {ann_file} does not exist')
        check_coco_files(ann_file, img_dir, name='--ann-file', all_images=True, log=print)
        images = load_coco_images(ann_file, img_dir)
        meta = load_pose_metainfo(args.metainfo)
        samples = (ground_truth_samples(ann_file, images) if args.gt_as_pred
                   else predict_samples(args, images))
    except (FileNotFoundError, ValueError, OfflineDownloadError) as e:  # DataCheckError too
        sys.exit(f'error: {e}')
    with open(ann_file) as f:
        truth = sum(1 for a in json.load(f).get('annotations', [])
                    if not a.get('iscrowd', 0) and a.get('num_keypoints', 0) > 0)
    print(f'ground truth: {truth} persons with keypoints on {len(images)} images ({ann_file})')
    persons = sum(len(s['pred_instances']['keypoints']) for s in samples)
    source = 'ground truth' if args.gt_as_pred else args.weights
    print(f'{source}: {persons} persons predicted on {len(images)} images '
          f'in {time.time() - start:.1f} s')
    metrics = coco_metric_scores(samples, ann_file, meta,
                                 outfile_prefix=osp.join(work_dir, 'results'),
                                 score_mode=args.score_mode, nms_mode=args.nms_mode)
    metrics = {k: float(v) for k, v in metrics.items()}
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump(dict(metrics, weights=args.weights, ann_file=osp.abspath(ann_file),
                       gt_as_pred=args.gt_as_pred), f, indent=2)
    print('  '.join(f'{k}: {v:.4f}' for k, v in metrics.items()))
    print(f'results: {osp.join(work_dir, "results.keypoints.json")}')


if __name__ == '__main__':
    main()
