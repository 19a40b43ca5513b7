"""Train an Ultralytics pose model (approach 5, YOLO) on a COCO keypoint dataset.

    python tools/train_yolo.py yolo11n-pose.yaml \\
        --data-root ../shared/data/coco_trainval \\
        --train-ann annotations_train.json --val-ann annotations_val.json --img-dir images/ \\
        --work-dir work_dirs/yolo11n_pose --epochs 1 --imgsz 320 --batch 8

    # the quick start's synthetic people (configs/quickstart.py's splits:
    # 2000 train / 200 val images of 256x256, seed 0), generated on first use
    python tools/train_yolo.py yolo11n-pose.yaml --synthetic \\
        --work-dir work_dirs/yolo11n_pose_synthetic --epochs 10 --imgsz 256 --batch 16

MODEL is an Ultralytics model YAML (yolo11n-pose.yaml, from scratch) or a
local .pt checkpoint (fine-tuned from its weights). The COCO splits are
converted once into ~/.cache/kp_plugins/yolo/<hash> (tools/coco2yolo.py);
--data takes an existing Ultralytics dataset YAML instead (its labels are
checked first, bad lines reported as file:line). Training is Ultralytics' own
trainer, YOLO(MODEL).train(...); weights land in WORK_DIR/weights/
{best,last}.pt; score them with tools/test_yolo.py (MMPose's CocoMetric).

Offline by default: no weight, font, AMP-check or telemetry download is
attempted (kp_plugins/ultralytics/offline.py), amp=False, pretrained=False,
plots=False. --online, --amp, --plots, --pretrained PATH turn them back on;
--set KEY=VALUE passes any other Ultralytics train argument.

--resume continues an interrupted run from WORK_DIR/weights/last.pt (or the
checkpoint given) with the arguments stored in it (Ultralytics' resume:
optimizer, EMA and epoch counter are restored; the data-loader RNG is not,
so a resumed run is not bit-identical to an uninterrupted one).
"""
import argparse
import os.path as osp
import sys
import time

import yaml

from kp_plugins.ultralytics import (
    CocoAnnotationError,
    YoloLabelError,
    cached_coco_to_yolo,
    check_yolo_dataset,
    coco_splits,
)
from kp_plugins.ultralytics.offline import OfflineDownloadError, import_ultralytics


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train an Ultralytics pose model on a COCO keypoint dataset',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('model', help='model YAML (e.g. yolo11n-pose.yaml) or local .pt checkpoint')
    data = parser.add_argument_group('data (COCO layout, or --data)')
    data.add_argument('--data-root', default='', help='folder the paths below are relative to')
    data.add_argument('--train-ann', help='COCO annotation json of the train split')
    data.add_argument('--val-ann', help='COCO annotation json of the val split')
    data.add_argument('--img-dir', default='images/', help='image folder (default images/)')
    data.add_argument('--train-img-dir', help='image folder of the train split')
    data.add_argument('--val-img-dir', help='image folder of the val split')
    data.add_argument('--metainfo', help='MMPose dataset metainfo (default COCO-17)')
    data.add_argument('--data', help='an Ultralytics dataset YAML instead of the COCO options')
    data.add_argument('--synthetic', action='store_true',
                      help="the quick start's synthetic people instead of the COCO options: "
                      'configs/quickstart.py\'s train/val splits (2000/200 images of 256x256, '
                      'seed 0), generated into the kp_plugins cache on first use')
    data.add_argument('--synthetic-images', type=int, nargs=2, metavar=('TRAIN', 'VAL'),
                      help='with --synthetic: other split sizes (default 2000 200)')
    data.add_argument('--cache-dir', help='where converted datasets go '
                      '(default ~/.cache/kp_plugins/yolo)')
    run = parser.add_argument_group('training')
    run.add_argument('--work-dir', help='run folder (default work_dirs/<model name>)')
    run.add_argument('--epochs', type=int, default=100)
    run.add_argument('--imgsz', type=int, default=640)
    run.add_argument('--batch', type=int, default=16)
    run.add_argument('--device', default=None,
                     help="'cpu', '0', '0,1'... (default: Ultralytics' choice)")
    run.add_argument('--workers', type=int, default=2)
    run.add_argument('--seed', type=int, default=0)
    run.add_argument('--pretrained', help='load weights from this local .pt into the model')
    run.add_argument('--resume', nargs='?', const='auto', metavar='CHECKPOINT',
                     help='continue an interrupted run from CHECKPOINT (default: '
                     'WORK_DIR/weights/last.pt) with the arguments stored in it')
    run.add_argument('--set', nargs='+', default=[], metavar='KEY=VALUE',
                     help='other Ultralytics train arguments, e.g. lr0=0.002 mosaic=0')
    net = parser.add_argument_group('network-dependent behaviour (off by default)')
    net.add_argument('--online', action='store_true',
                     help="let Ultralytics use the network (downloads, update check, events)")
    net.add_argument('--amp', action='store_true', help='mixed precision (its check downloads '
                     'yolo26n.pt on CUDA unless present)')
    net.add_argument('--plots', action='store_true', help='write Ultralytics plots')
    return parser.parse_args(argv)


def parse_set(items) -> dict:
    out = {}
    for item in items:
        if '=' not in item:
            raise ValueError(f'--set expects KEY=VALUE, got {item!r}')
        key, value = item.split('=', 1)
        out[key] = yaml.safe_load(value)
    return out


def check_model(model: str, online: bool) -> None:
    if model.endswith(('.yaml', '.yml')):
        return  # a local file or a name from Ultralytics' cfg/models (no download either way)
    if not model.endswith('.pt'):
        raise ValueError(f'MODEL {model!r} must be a model YAML (e.g. yolo11n-pose.yaml) '
                         'or a .pt checkpoint')
    if not online and not osp.isfile(model):
        raise FileNotFoundError(
            f'checkpoint {model} does not exist. Offline mode never downloads weights: give a '
            'local .pt, a model YAML to train from scratch (e.g. yolo11n-pose.yaml), or --online')


def resume_checkpoint(resume: str, work_dir: str) -> str:
    """The checkpoint ``--resume`` points at, checked to exist and to hold
    an unfinished run (Ultralytics strips the optimizer and sets ``epoch``
    to -1 in the checkpoints of a finished run)."""
    path = osp.join(work_dir, 'weights', 'last.pt') if resume == 'auto' else resume
    if not osp.isfile(path):
        raise FileNotFoundError(f'--resume: checkpoint {path} does not exist (nothing to resume; '
                                'start the run without --resume)')
    import torch
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as exc:  # noqa: BLE001  (truncated or foreign file)
        raise ValueError(f'--resume: {path} is not a readable Ultralytics checkpoint '
                         f'({type(exc).__name__}: {exc})') from exc
    if not isinstance(ckpt, dict) or 'train_args' not in ckpt:
        raise ValueError(f'--resume: {path} is not an Ultralytics training checkpoint '
                         '(no train_args)')
    if ckpt.get('epoch', -1) < 0 or ckpt.get('optimizer') is None:
        raise ValueError(f'--resume: the run in {path} has finished (its optimizer state was '
                         'stripped); nothing to resume')
    return path


def use_synthetic(args) -> None:
    """Point the COCO options at the quick start's synthetic splits
    (generated if needed)."""
    if args.synthetic_images and not args.synthetic:
        raise ValueError('--synthetic-images needs --synthetic')
    if not args.synthetic:
        return
    given = [opt for opt, value in (('--data', args.data), ('--train-ann', args.train_ann),
                                    ('--val-ann', args.val_ann), ('--data-root', args.data_root))
             if value]
    if given:
        raise ValueError(f'--synthetic replaces the dataset options; drop {", ".join(given)}')
    from kp_plugins.datasets.synthetic_people import quickstart_split
    sizes = args.synthetic_images or (None, None)
    (args.train_ann, args.train_img_dir), (args.val_ann, args.val_img_dir) = (
        quickstart_split(split, n) for split, n in zip(('train', 'val'), sizes))


def resolve_data(args) -> str:
    use_synthetic(args)
    if args.data:
        persons = check_yolo_dataset(args.data, ('train', 'val'))
        print(f'dataset {args.data}: labels OK ({persons})')
        return args.data
    if not args.train_ann or not args.val_ann:
        raise ValueError('give --train-ann and --val-ann (COCO layout) or --data (YOLO YAML)')
    img_dirs = {'train': args.train_img_dir or args.img_dir,
                'val': args.val_img_dir or args.img_dir}
    splits = coco_splits(args.data_root, args.train_ann, args.val_ann, None, img_dirs)
    report = cached_coco_to_yolo(splits, args.cache_dir, metainfo=args.metainfo)
    state = 'reused' if report.get('cached') else 'converted'
    for split, c in report['splits'].items():
        print(f'{split}: {c["images"]} images, {c["persons_written"]} persons '
              f'({c["crowd_dropped"]} crowd regions dropped)')
    print(f'dataset {state}: {report["data_yaml"]}')
    return report['data_yaml']


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        check_model(args.model, args.online)
        overrides = parse_set(args.set)
        data_yaml = resolve_data(args)
    except (CocoAnnotationError, YoloLabelError, FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')

    ultralytics = import_ultralytics(online=args.online)
    work_dir = osp.abspath(args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.model))[0].replace('-', '_')))
    train_args = dict(
        data=data_yaml, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
        workers=args.workers, seed=args.seed, project=osp.dirname(work_dir),
        name=osp.basename(work_dir), exist_ok=True, amp=args.amp, plots=args.plots,
        pretrained=args.pretrained or args.model.endswith('.pt'))
    if args.device is not None:
        train_args['device'] = args.device
    train_args.update(overrides)

    if args.resume:
        try:
            last = resume_checkpoint(args.resume, work_dir)
        except (FileNotFoundError, ValueError) as e:
            sys.exit(f'error: {e}')
        # Ultralytics keeps the stored arguments and only takes a few (device,
        # workers, batch, data...) from the call
        train_args = dict(resume=last, data=data_yaml, workers=args.workers)
        if args.device is not None:
            train_args['device'] = args.device
        args.model = last

    start = time.time()
    try:
        model = ultralytics.YOLO(args.model, task='pose')
        model.train(**train_args)
    except OfflineDownloadError as e:
        sys.exit(f'error: {e}')
    minutes = (time.time() - start) / 60
    weights = [osp.join(work_dir, 'weights', n) for n in ('best.pt', 'last.pt')]
    found = [w for w in weights if osp.isfile(w)]
    if not found:
        sys.exit(f'error: training ended without weights in {osp.join(work_dir, "weights")}')
    print(f'trained {args.model} for {args.epochs} epoch(s) in {minutes:.1f} min')
    for path in found:
        print(f'weights: {path}')
    if args.synthetic:
        sizes = f' --synthetic-images {args.synthetic_images[1]}' if args.synthetic_images else ''
        print(f'score with: python tools/test_yolo.py {found[0]} --synthetic{sizes}')
    else:
        print(f'score with: python tools/test_yolo.py {found[0]} --data-root '
              f'{args.data_root or "."} --ann-file {args.val_ann or "<val json>"} '
              f'--img-dir {args.val_img_dir or args.img_dir}')


if __name__ == '__main__':
    main()
