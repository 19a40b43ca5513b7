"""Convert one split of an Ultralytics YOLO-pose dataset to a COCO keypoint json,
or only check its label files.

    python tools/yolo2coco.py DATA_YAML --split val --out val.json [--metainfo FILE]
    python tools/yolo2coco.py DATA_YAML --check [--splits train val]

The json's file_name entries are relative to the split's image folder (use
it as MMPose's data_prefix.img). YOLO labels carry no area, crowd flag or
ids: area = max(0.53 w h, 1) (MMPose's fallback), iscrowd = 0, image ids
from integer file names (else 1..), category_id = cls + 1. Bad labels (wrong
column count, coordinates outside [0, 1], ...) are reported as file:line.
"""
import argparse
import sys

from kp_plugins.ultralytics.yolo2coco import yolo_to_coco
from kp_plugins.ultralytics.yolo_format import YoloLabelError, check_yolo_dataset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Ultralytics YOLO-pose dataset -> COCO keypoint json',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('data', help='Ultralytics dataset YAML (kpt_shape, names, splits)')
    parser.add_argument('--split', default='val', help='split to convert (default val)')
    parser.add_argument('--out', help='COCO json to write')
    parser.add_argument('--metainfo', help='MMPose metainfo for keypoint names and skeleton '
                        '(default COCO-17, used when K matches)')
    parser.add_argument('--check', action='store_true', help='only check the label files')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'],
                        help='splits --check reads (those present)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        if args.check:
            persons = check_yolo_dataset(args.data, args.splits)
            for split, count in persons.items():
                print(f'{split}: labels OK, {count} persons')
            return
        if not args.out:
            sys.exit('error: --out is required (or use --check)')
        coco = yolo_to_coco(args.data, args.split, args.out, metainfo=args.metainfo)
    except (YoloLabelError, FileNotFoundError, KeyError, ValueError) as e:
        sys.exit(f'error: {e}')
    print(f'{args.split}: {len(coco["images"])} images, {len(coco["annotations"])} persons '
          f'-> {args.out}')


if __name__ == '__main__':
    main()
