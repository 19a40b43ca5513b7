"""Convert a COCO keypoint dataset (MMPose layout) to an Ultralytics YOLO-pose dataset.

    python tools/coco2yolo.py --data-root ../shared/data/coco_trainval \\
        --train annotations_train.json --val annotations_val.json --img-dir images/ \\
        --out /tmp/coco_trainval_yolo            [--copy] [--overwrite] [--metainfo FILE]

Paths are relative to --data-root (like MMPose's data_root / ann_file /
data_prefix.img); --train-img-dir / --val-img-dir / --test-img-dir override
--img-dir per split (COCO itself keeps train2017/ and val2017/ apart).
Without --out the dataset goes to ~/.cache/kp_plugins/yolo/<hash> (reused
while the sources are unchanged). Images are symlinked unless --copy.

Writes images/<split>/, labels/<split>/ (cls cx cy w h + K x (x y v),
normalized, 6 decimals), data.yaml (kpt_shape, flip_idx, kpt_names,
kpt_oks_sigmas from the MMPose metainfo) and conversion.json. Crowd regions
are dropped, persons without keypoints kept as boxes; the counts are printed.
See kp_plugins/ultralytics/coco2yolo.py for every rule.
"""
import argparse
import os.path as osp
import sys

from kp_plugins.ultralytics.coco2yolo import (
    CocoAnnotationError,
    cached_coco_to_yolo,
    coco_splits,
    coco_to_yolo,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='COCO keypoints -> Ultralytics YOLO-pose dataset',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--data-root', default='', help='folder the other paths are relative to')
    parser.add_argument('--train', help='COCO annotation json of the train split')
    parser.add_argument('--val', help='COCO annotation json of the val split')
    parser.add_argument('--test', help='COCO annotation json of the test split')
    parser.add_argument('--img-dir', default='images/',
                        help='folder the json file_name entries are relative to (default images/)')
    for split in ('train', 'val', 'test'):
        parser.add_argument(f'--{split}-img-dir', help=f'image folder of the {split} split')
    parser.add_argument('--out', help='output folder (default: ~/.cache/kp_plugins/yolo/<hash>)')
    parser.add_argument('--copy', action='store_true', help='copy images instead of symlinking')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an earlier conversion in --out')
    parser.add_argument('--metainfo', help='MMPose dataset metainfo file (default: MMPose '
                        'configs/_base_/datasets/coco.py)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    img_dirs = {s: getattr(args, f'{s}_img_dir') or args.img_dir for s in ('train', 'val', 'test')}
    splits = coco_splits(args.data_root, args.train, args.val, args.test, img_dirs)
    if not splits:
        sys.exit('error: give at least one of --train, --val, --test')
    from kp_plugins.utils.data_check import DataCheckError, check_coco_files
    for split, (ann_file, img_dir) in splits.items():  # the pre-flight check of every split
        if osp.isfile(ann_file) and osp.isdir(img_dir):
            try:
                check_coco_files(ann_file, img_dir, name=f'--{split}', training=split == 'train',
                                 all_images=True, log=print)
            except DataCheckError as exc:
                sys.exit(f'error: {exc}')
    try:
        if args.out:
            report = coco_to_yolo(splits, args.out, copy_images=args.copy,
                                  metainfo=args.metainfo, overwrite=args.overwrite)
        else:
            report = cached_coco_to_yolo(splits, copy_images=args.copy, metainfo=args.metainfo)
    except (CocoAnnotationError, FileNotFoundError, FileExistsError, ValueError) as e:
        sys.exit(f'error: {e}')
    for split, counts in report['splits'].items():
        print(f'{split}: {counts["images"]} images, {counts["persons_written"]} of '
              f'{counts["persons_in"]} persons written; dropped: {counts["crowd_dropped"]} crowd, '
              f'{counts["no_box_dropped"]} without a box; kept without keypoints: '
              f'{counts["zero_keypoint_persons"]}; boxes clipped: {counts["boxes_clipped"]}; '
              f'keypoints outside the image unlabelled: {counts["keypoints_outside_unlabelled"]}')
    if report.get('cached'):
        print('(reused an earlier conversion of the same files)')
    print(f'data: {report["data_yaml"]}')


if __name__ == '__main__':
    main()
