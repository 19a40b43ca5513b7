"""Detect persons with an MMDet 3.x detector (or an Ultralytics YOLO model)
and write a bbox file for top-down evaluation on detector boxes.

    # images of a COCO annotation file (ids from that file)
    python tools/detect_persons.py data/coco/annotations/person_keypoints_val2017.json \\
        --img-root data/coco/val2017 --out dets.json \\
        --det-config mmdet::rtmdet/rtmdet_m_8xb32-300e_coco.py --det-checkpoint rtmdet_m.pth
    # a folder (recursive) or a .txt list of images: ids 1..N, and an image-info
    # file (default: <out>_images.json) to use as the dataset's ann_file
    python tools/detect_persons.py photos/ --out dets.json --ultralytics yolo11n.pt
    # a one-stage (bottom-up) pose model as the detector: its person boxes
    python tools/detect_persons.py ANN.json --img-root IMAGES/ --out dets.json \\
        --det-config configs/yolo_effl0_256.py --det-checkpoint yolo_effl0.pth

Then evaluate on those boxes (ground-truth boxes are used otherwise):

    python tools/test.py configs/bbox_r50.py model.pth --cfg-options \\
        test_dataloader.dataset.bbox_file=dets.json \\
        test_dataloader.dataset.filter_cfg.bbox_score_thr=0.3

The output is a COCO results list (image_id, category_id 1, bbox [x, y, w, h],
score) that pycocotools' COCO.loadRes and MMPose's CocoDataset(bbox_file=...)
read. An unreadable image is reported, skipped and counted; the exit status is
1 only when no image could be read.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a COCO bbox file of person detections',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('input', help='image folder, .txt image list, single image, or COCO '
                        'annotation .json (with --img-root)')
    parser.add_argument('--out', required=True, help='bbox file to write (.json)')
    parser.add_argument('--img-root', help='folder the COCO file_names (or the relative '
                        'paths of a list) are relative to')
    parser.add_argument('--det-config', help='MMDet detector config (path or mmdet::...), '
                        'or a bottom-up MMPose pose config (e.g. configs/yolo_effl0_256.py: '
                        'its person boxes and scores)')
    parser.add_argument('--det-checkpoint', help='checkpoint of --det-config (local file)')
    parser.add_argument('--ultralytics', metavar='WEIGHTS',
                        help='Ultralytics YOLO weights (local .pt) instead of an MMDet detector')
    parser.add_argument('--imgsz', type=int, default=640, help='Ultralytics inference size')
    parser.add_argument('--person-class', type=int, help='index of the person class in '
                        "the detector's classes (default: the class named 'person')")
    parser.add_argument('--score-thr', type=float, default=0.0,
                        help='lowest box score kept (default 0: keep all, filter at test '
                        'time with filter_cfg.bbox_score_thr)')
    parser.add_argument('--nms-iou', type=float, help='extra NMS over the person boxes at '
                        'this IoU (default: only the detector\'s own NMS; with --ultralytics: '
                        'the IoU of Ultralytics\' own NMS, default 0.7)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--device', help='cpu, cuda:0, ... (default: cuda:0 if available)')
    parser.add_argument('--image-info', help='image-info file to write for a folder/list '
                        'input (default: <out>_images.json)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='overrides for the MMDet config (e.g. model.test_cfg.score_thr=0.05)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.ultralytics is None and (args.det_config is None or args.det_checkpoint is None):
        sys.exit('error: give a detector: --det-config CFG --det-checkpoint CKPT '
                 '(MMDet) or --ultralytics WEIGHTS.pt')
    if not args.out.lower().endswith('.json'):
        sys.exit(f'error: --out must name a .json file, got {args.out!r}')
    if args.batch_size < 1:
        sys.exit(f'error: --batch-size must be >= 1, got {args.batch_size}')

    from kp_plugins.apis import (
        ImageSourceError,
        PersonDetectorError,
        build_person_detector,
        detect_to_bbox_file,
        load_image_source,
    )
    if args.input.lower().endswith('.json') and args.img_root and osp.isfile(args.input):
        # the pre-flight check of the file the boxes will be evaluated on
        from kp_plugins.utils.data_check import DataCheckError, check_coco_files
        try:
            check_coco_files(args.input, args.img_root, name=args.input, all_images=True,
                             persons_required=False, log=print)
        except DataCheckError as exc:
            sys.exit(f'error: {exc}')
    try:
        source = load_image_source(args.input, args.img_root)
        detector = build_person_detector(
            det_config=args.det_config, det_checkpoint=args.det_checkpoint,
            ultralytics=args.ultralytics, device=args.device, person_class=args.person_class,
            score_thr=args.score_thr, nms_iou=args.nms_iou, cfg_options=args.cfg_options,
            imgsz=args.imgsz)
    except (ImageSourceError, PersonDetectorError) as exc:
        sys.exit(f'error: {exc}')

    image_info = None
    if source.kind != 'coco':
        image_info = args.image_info or osp.splitext(args.out)[0] + '_images.json'
    print(f'{detector.describe()}; score >= {args.score_thr}'
          + (f', NMS IoU {args.nms_iou}' if args.nms_iou is not None else ''))
    print(f'{len(source.records)} images ({source.kind}: {args.input})')
    summary = detect_to_bbox_file(detector, source, args.out, batch_size=args.batch_size,
                                  image_info_file=image_info, progress=not args.no_progress)
    print('\n'.join(summary.lines()))
    ann = osp.abspath(source.ann_file or image_info)
    use = ('evaluate on these boxes' if source.kind == 'coco' else
           'predict poses on these boxes (no ground truth: add test_evaluator.format_only=True '
           'test_evaluator.outfile_prefix=PREFIX)')
    print(f'to {use}: tools/test.py CONFIG CKPT --cfg-options '
          f'test_dataloader.dataset.bbox_file={osp.abspath(args.out)} '
          f'test_dataloader.dataset.data_root={source.img_root}/ '
          f'test_dataloader.dataset.ann_file={ann} '
          f'test_dataloader.dataset.data_prefix.img={source.img_root}/ '
          f'test_evaluator.ann_file={ann}')
    if summary.num_detected == 0:
        sys.exit('error: no image could be read')


if __name__ == '__main__':
    main()
