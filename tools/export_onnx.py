"""Export a top-down pose model (config + checkpoint) to one ONNX file with
its decode inside, and check the file against torch.

    python tools/export_onnx.py configs/grid_effl0_128x96.py grid.pth --out grid.onnx
        [--batch dynamic|N] [--opset 17] [--raw] [--simplify] [--cfg-options k=v ...]
    python tools/export_onnx.py configs/grid_effl0_128x96.py grid.pth --sdk grid_sdk/

The graph takes person crops as the config's pipeline gives them to the model
after TopdownAffine: float32 N x 3 x H x W in 0-255, BGR (the order LoadImage
reads); it converts the channels and normalizes itself. Outputs: `keypoints`
(N x K x 2, model-input pixels) and `scores` (N x K); KPBBoxHead takes a
second input `bbox` (N x 4 xyxy person boxes in model-input pixels). --raw
exports the head's raw outputs instead. Flip test is NOT in the graph.
Metadata (input size, keypoint names, flip indices, codec, config,
kp_plugins version) is stored in the file's metadata_props. As mmdeploy does,
the model is exported in its inference form (MMPose's switch_to_deploy:
KPGridHead folds its BatchNorm into its convolutions).
Run it with kp_plugins.deploy.runtime.OnnxPoseModel, tools/demo.py --backend
onnxruntime or tools/test_onnx.py.

--sdk DIR writes an mmdeploy SDK model directory instead of --out: DIR/end2end.onnx
plus deploy.json, pipeline.json and detail.json, which mmdeploy_runtime.PoseDetector
(PyPI mmdeploy-runtime 1.3.1; C++, C#, Java alike) loads: the SDK crops each box,
the graph decodes, the SDK maps the keypoints back to the image
(kp_plugins/deploy/sdk.py; docs/deployment_sdk.md). Every top-down head except
KPBBoxHead (its box input cannot be fed by the SDK); opset <= 18.

A bottom-up config with MMPose's YOLOXPoseHead (configs/yolo_effl0_256.py,
configs/yolo_s.py) exports too: input = whole images resized and padded as
its BottomupResize makes them (N x 3 x H x W, 0-255, BGR); outputs the M
best-scoring person candidates, sorted: `bboxes` (N x M x 4 xyxy),
`bbox_scores` (N x M), `keypoints` (N x M x K x 2), `keypoint_scores`
(N x M x K), model-input pixels; score threshold, box NMS and the mapping to
the image are done by kp_plugins.deploy.bottomup_runtime (numpy), with the
config's test_cfg stored in the file (docs/deployment_bottomup.md).
"""
import argparse
import os.path as osp
import sys

import numpy as np
from mmengine.config import DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a top-down or bottom-up (YOLOXPoseHead) pose model to ONNX '
        '(decode in the graph)',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='pose config (kp_plugins or MMPose; top-down, or bottom-up '
                        'with YOLOXPoseHead)')
    parser.add_argument('checkpoint', help='checkpoint (.pth); "none" exports random weights')
    parser.add_argument('--out', help='output .onnx file')
    parser.add_argument('--sdk', metavar='DIR',
                        help='write an mmdeploy SDK model directory (end2end.onnx, deploy.json, '
                        'pipeline.json, detail.json) instead of --out')
    parser.add_argument('--batch', default='dynamic',
                        help='"dynamic" (default) or a fixed batch size')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument('--raw', action='store_true',
                        help='export the head\'s raw outputs (decode outside the graph)')
    parser.add_argument('--simplify', action='store_true', help='simplify the graph with onnxslim')
    parser.add_argument('--num-candidates', type=int,
                        help='bottom-up: candidates per image M (default: '
                        'min(test_cfg.nms_pre, all priors), what predict keeps before NMS)')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime vs torch comparison')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides for the config')
    args = parser.parse_args()
    if args.batch != 'dynamic':
        try:
            args.batch = int(args.batch)
        except ValueError:
            parser.error(f'--batch must be "dynamic" or a positive integer, got {args.batch!r}')
        if args.batch < 1:
            parser.error(f'--batch must be "dynamic" or a positive integer, got {args.batch}')
    if (args.out is None) == (args.sdk is None):
        parser.error('give one of --out FILE.onnx or --sdk DIR')
    if args.sdk is not None:
        if osp.isfile(args.sdk):
            parser.error(f'--sdk must name a directory, {args.sdk!r} is a file')
    elif not args.out.endswith('.onnx'):
        parser.error(f'--out must name a .onnx file, got {args.out!r}')
    return args


def check_against_torch(module, out_file: str, batch, needs_bbox: bool, input_size):
    """Max |difference| between onnxruntime and the traced torch module on
    random crops, per output."""
    import onnxruntime as ort

    from kp_plugins.deploy.export import torch_reference
    w, h = input_size
    n = 3 if batch == 'dynamic' else batch
    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 255, (n, 3, h, w)).astype(np.float32)
    feed = {'input': crops}
    boxes = None
    if needs_bbox:
        xy = rng.uniform(0, 0.3, (n, 2)) * [w, h]
        wh = rng.uniform(0.4, 0.7, (n, 2)) * [w, h]
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        feed['bbox'] = boxes
    session = ort.InferenceSession(out_file, providers=['CPUExecutionProvider'])
    got = session.run(None, feed)
    want = torch_reference(module, crops, boxes)
    names = [o.name for o in session.get_outputs()]
    return {name: float(np.abs(g - t).max()) for name, g, t in zip(names, got, want)}


def check_bottomup_against_torch(module, out_file: str, batch, input_size):
    """Max |difference| between onnxruntime and the traced torch module on
    random padded images, per output (candidates in the graph's order)."""
    import onnxruntime as ort

    from kp_plugins.deploy.bottomup_export import bottomup_torch_reference
    w, h = input_size
    n = 2 if batch == 'dynamic' else batch
    images = np.random.default_rng(0).uniform(0, 255, (n, 3, h, w)).astype(np.float32)
    session = ort.InferenceSession(out_file, providers=['CPUExecutionProvider'])
    got = session.run(None, {'input': images})
    want = bottomup_torch_reference(module, images)
    names = [o.name for o in session.get_outputs()]
    return {name: float(np.abs(g - t).max()) for name, g, t in zip(names, got, want)}


def export_bottomup(model, args) -> None:
    """tools/export_onnx.py for a bottom-up model."""
    import json

    from kp_plugins.deploy.bottomup_export import export_bottomup_onnx
    from kp_plugins.deploy.export import ExportError
    if args.raw:
        sys.exit('error: --raw is for top-down models; a bottom-up export always decodes '
                 'in the graph')
    try:
        result = export_bottomup_onnx(model.eval(), model.cfg, args.out,
                                      osp.basename(args.config), batch=args.batch,
                                      opset=args.opset, simplify=args.simplify,
                                      num_candidates=args.num_candidates)
    except ExportError as exc:
        sys.exit(f'error: {exc}')
    meta = result['metadata']
    print(f'wrote {args.out}: bottom-up {meta["head"]}, inputs {result["inputs"]}, outputs '
          f'{result["outputs"]}, input size {meta["input_size"]} (W, H), '
          f'{meta["num_candidates"]} candidates per image, batch {args.batch}, opset '
          f'{args.opset}; score_thr {meta["score_thr"]}, nms_thr {meta["nms_thr"]} (runtime); '
          'onnx.checker passed; flip test is not in the graph')
    if not args.no_check:
        diffs = check_bottomup_against_torch(result['module'], args.out, args.batch,
                                             json.loads(meta['input_size']))
        print('onnxruntime vs torch on random images, max |difference|: ' +
              ', '.join(f'{k} {v:.2e}' for k, v in diffs.items()))


def main() -> None:
    args = parse_args()
    from kp_plugins.apis import PoseModelError, is_bottomup, load_pose_model
    from kp_plugins.deploy.decode import UnsupportedHeadError
    from kp_plugins.deploy.export import ExportError, export_onnx
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    try:
        model = load_pose_model(args.config, checkpoint, 'cpu', args.cfg_options,
                                bottomup_ok=True)
    except PoseModelError as exc:
        sys.exit(f'error: {exc}')
    if checkpoint is None:
        print('warning: no checkpoint: exporting random (or backbone-pretrained) weights',
              file=sys.stderr)
    # Inference form, as mmdeploy's build_pytorch_model makes it before an
    # export: modules with switch_to_deploy (KPGridHead: BatchNorm folded).
    model.eval().switch_to_deploy()
    if args.sdk is not None:
        from kp_plugins.deploy.decode import head_spec
        from kp_plugins.deploy.sdk import SDKExportError, check_sdk_export, sdk_onnx_path
        try:
            check_sdk_export(type(model.head).__name__,
                             not is_bottomup(model) and head_spec(model.head).needs_bbox,
                             args.opset, args.raw, args.batch,
                             'bottomup' if is_bottomup(model) else 'topdown')
        except (SDKExportError, UnsupportedHeadError) as exc:
            sys.exit(f'error: {exc}')
        args.out = sdk_onnx_path(args.sdk)
    if is_bottomup(model):
        return export_bottomup(model, args)
    if args.num_candidates is not None:
        sys.exit('error: --num-candidates is for bottom-up models')
    try:
        result = export_onnx(model.eval(), model.cfg, args.out, osp.basename(args.config),
                             batch=args.batch, opset=args.opset, raw=args.raw,
                             simplify=args.simplify)
    except (ExportError, UnsupportedHeadError) as exc:
        sys.exit(f'error: {exc}')
    meta = result['metadata']
    print(f'wrote {args.out}: {meta["head"]}, inputs {result["inputs"]}, outputs '
          f'{result["outputs"]}, input size {meta["input_size"]} (W, H), batch {args.batch}, '
          f'opset {args.opset}; onnx.checker passed; flip test is not in the graph')
    if args.sdk is not None:
        from kp_plugins.deploy.sdk import write_sdk_files
        written = write_sdk_files(args.sdk, meta)
        print(f'wrote the mmdeploy SDK model directory {args.sdk}: end2end.onnx, '
              + ', '.join(osp.basename(p) for p in written)
              + ' (mmdeploy_runtime.PoseDetector(DIR, "cpu", 0))')
    if not args.no_check:
        import json
        diffs = check_against_torch(result['module'], args.out, args.batch,
                                    'bbox' in result['inputs'], json.loads(meta['input_size']))
        print('onnxruntime vs torch on random crops, max |difference|: ' +
              ', '.join(f'{k} {v:.2e}' for k, v in diffs.items()))


if __name__ == '__main__':
    main()
