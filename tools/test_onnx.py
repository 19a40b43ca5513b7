"""Score an exported ONNX pose model (tools/export_onnx.py) on a COCO
person-keypoints annotation file with MMPose's CocoMetric -- the same numbers
tools/test.py prints for the checkpoint.

    python tools/test_onnx.py grid.onnx \\
        --ann-file data/coco/annotations/person_keypoints_val2017.json \\
        --img-dir data/coco/val2017/ [--bbox-file dets.json --bbox-score-thr 0.3] \\
        [--out metrics.json] [--dump preds.pkl]

An SDK model directory runs through mmdeploy_runtime.PoseDetector (the SDK crops
and maps back; the graph decodes).

Person boxes: the annotation file's ground-truth boxes unless --bbox-file names
a detector's boxes (COCO results format). The model runs with onnxruntime on
the CPU (numpy pre/post-processing: kp_plugins.deploy.runtime).

A bottom-up file (a YOLOXPoseHead model, tools/export_onnx.py) is scored on
whole images like tools/test.py scores the checkpoint: every image of the
annotation file, no person boxes (--bbox-file is refused), the model's own
boxes and scores; --batch-size images per run of the graph.
"""
import argparse
import json
import os
import os.path as osp
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='COCO keypoint AP of an exported ONNX pose model',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('onnx', help='.onnx file written by tools/export_onnx.py, or an mmdeploy '
                        'SDK model directory (tools/export_onnx.py --sdk, or mmdeploy\'s '
                        '--dump-info with a kp deploy config), run by mmdeploy_runtime')
    parser.add_argument('--ann-file', required=True, help='COCO annotation file')
    parser.add_argument('--img-dir', required=True, help='image folder of the annotation file')
    parser.add_argument('--bbox-file', help='COCO results file of person boxes')
    parser.add_argument('--bbox-score-thr', type=float, help='drop person boxes below this score')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='bottom-up: images per run of the graph (default 1)')
    parser.add_argument('--threads', type=int, help='onnxruntime intra-op threads')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--dump', help='pickle every person\'s prediction (id, img_id, '
                        'pred_instances) to this .pkl file, like tools/test.py --dump')
    return parser.parse_args()


def test_bottomup(model, args) -> None:
    """tools/test_onnx.py for a bottom-up file: whole images, no boxes."""
    from kp_plugins.deploy.evaluate import evaluate_onnx_bottomup
    if args.bbox_file or args.bbox_score_thr is not None:
        sys.exit('error: a bottom-up model finds the persons itself: drop --bbox-file / '
                 '--bbox-score-thr')
    if args.batch_size < 1:
        sys.exit(f'error: --batch-size must be positive, got {args.batch_size}')
    print(f'{args.onnx}: bottom-up {model.metadata["head"]} from {model.metadata["config"]}, '
          f'input {model.input_size} (W, H), score_thr {model.score_thr}, nms_thr '
          f'{model.nms_thr}; whole images of {args.ann_file}')
    if args.dump and not args.dump.endswith(('.pkl', '.pickle')):
        sys.exit('error: --dump must name a .pkl or .pickle file')
    predictions: list = []
    metrics = evaluate_onnx_bottomup(model, args.ann_file, args.img_dir, log_every=50,
                                     batch_size=args.batch_size, predictions=predictions)
    write_results(metrics, predictions, args)


def write_results(metrics: dict, predictions: list, args) -> None:
    """Print the metrics; write --dump and --out."""
    for key, value in metrics.items():
        print(f'{key}: {value:.4f}')
    if args.dump:
        import pickle
        os.makedirs(osp.dirname(osp.abspath(args.dump)), exist_ok=True)
        with open(args.dump, 'wb') as f:
            pickle.dump(predictions, f)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(metrics, f, indent=1)


def main() -> None:
    args = parse_args()
    from kp_plugins.deploy.evaluate import evaluate_onnx
    from kp_plugins.deploy.runtime import OnnxModelError, load_onnx_model
    for opt, path in (('--ann-file', args.ann_file), ('--img-dir', args.img_dir),
                      ('--bbox-file', args.bbox_file)):
        if path and not osp.exists(path):
            sys.exit(f'error: {opt} {path!r} not found')
    from kp_plugins.deploy.sdk import SDKExportError, SDKPoseModel, is_sdk_dir
    try:
        model = SDKPoseModel(args.onnx) if is_sdk_dir(args.onnx) else \
            load_onnx_model(args.onnx, num_threads=args.threads)
    except (OnnxModelError, SDKExportError) as exc:
        sys.exit(f'error: {exc}')
    bottomup = getattr(model, 'mode', '') == 'bottomup'
    from kp_plugins.utils.data_check import DataCheckError, check_coco_files
    try:  # the same pre-flight check as tools/test.py, before the model runs
        check_coco_files(args.ann_file, args.img_dir, name='--ann-file',
                         num_keypoints=model.num_keypoints,
                         bbox_file=None if bottomup else args.bbox_file,
                         bbox_score_thr=None if bottomup else args.bbox_score_thr, log=print)
    except DataCheckError as exc:
        sys.exit(f'error: {exc}')
    if bottomup:
        return test_bottomup(model, args)
    what = 'mmdeploy SDK (PoseDetector)' if isinstance(model, SDKPoseModel) else \
        f'{model.metadata["head"]} from {model.metadata["config"]}'
    print(f'{args.onnx}: {what}, input {model.input_size} (W, H); boxes: '
          f'{args.bbox_file or "ground truth of " + args.ann_file}')
    if args.dump and not args.dump.endswith(('.pkl', '.pickle')):
        sys.exit('error: --dump must name a .pkl or .pickle file')
    predictions: list = []
    metrics = evaluate_onnx(model, args.ann_file, args.img_dir, bbox_file=args.bbox_file,
                            bbox_score_thr=args.bbox_score_thr, log_every=50,
                            predictions=predictions)
    write_results(metrics, predictions, args)


if __name__ == '__main__':
    main()
