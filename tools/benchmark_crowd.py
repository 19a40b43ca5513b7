"""One stage against top-down as the persons per image grow: latency and
COCO AP on synthetic crowd scenes of 1, 2, 4, 8, 16, 32 persons (640x480,
held out from training: split ``crowd<N>``).

    python tools/benchmark_crowd.py \\
        --onestage configs/quickstart_yolo.py work_dirs/quickstart_yolo/epoch_N.pth \\
        --topdown configs/quickstart.py work_dirs/quickstart/best_coco_AP_epoch_3.pth \\
        --out-dir docs/benchmark/crowd
    # the detector of the top-down pipeline: the one-stage model's person boxes
    # (default), or RTMDet-tiny with random weights (timed only, no AP)
    ... --detector random-rtmdet
    # onnxruntime columns: both models are exported on the fly (or
    # --onestage-onnx FILE / --topdown-onnx FILE, from tools/export_onnx.py)

Per crowd size: the one-stage model on the whole image; the top-down
pipeline = detector + the top-down model on every person's crop (one batched
forward), with the detector's and the crops' shares; with onnxruntime the
crops and the one-stage model's whole-image path (resize and pad, graph, score
threshold, NMS, mapping to the image: OnnxBottomupPoseModel.predict); median of
--repeats runs after --warmup, --threads threads (torch and onnxruntime's
intra-op threads), one image. AP (MMPose's CocoMetric, each config's own
metric settings) on --scenes images per crowd size: one-stage (torch and
onnxruntime), top-down on the detector's boxes, top-down on the ground-truth
boxes.
Writes crowd.json, crowd.md and crowd.png into --out-dir.
"""
import argparse
import sys


def parse_args() -> argparse.Namespace:
    from kp_plugins.benchmark.crowd import DETECTORS
    from kp_plugins.datasets.synthetic_people import CROWD_SIZES
    parser = argparse.ArgumentParser(
        description='Crowd benchmark: one-stage vs top-down pose estimation',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--onestage', nargs=2, required=True, metavar=('CONFIG', 'CKPT'),
                        help='bottom-up pose model (e.g. configs/quickstart_yolo.py)')
    parser.add_argument('--topdown', nargs=2, required=True, metavar=('CONFIG', 'CKPT'),
                        help='top-down pose model (e.g. configs/quickstart.py)')
    parser.add_argument('--detector', choices=DETECTORS, default='onestage',
                        help='person detector of the top-down pipeline (default: onestage)')
    parser.add_argument('--rtmdet-config', help='RTMDet config for --detector random-rtmdet '
                        '(default: MMDet\'s RTMDet-tiny, 640x640)')
    parser.add_argument('--people', type=int, nargs='+', default=list(CROWD_SIZES),
                        help='crowd sizes (persons per image)')
    parser.add_argument('--scenes', type=int, default=20, help='scenes per crowd size for AP')
    parser.add_argument('--img-size', type=int, nargs=2, default=(640, 480),
                        metavar=('W', 'H'))
    parser.add_argument('--seed', type=int, default=0, help='seed of the scenes')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--onestage-onnx', help='ONNX file of the one-stage model (default: '
                        'exported on the fly)')
    parser.add_argument('--topdown-onnx', help='ONNX file of the top-down model (default: '
                        'exported on the fly)')
    parser.add_argument('--cache-dir', help='where the scenes are generated (default: the '
                        'synthetic sets\' cache)')
    parser.add_argument('--out-dir', required=True,
                        help='folder for crowd.json, crowd.md, crowd.png')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from kp_plugins.apis import PersonDetectorError, PoseModelError
    from kp_plugins.benchmark.crowd import (
        CrowdSettings,
        markdown_table,
        run_crowd_benchmark,
        write_outputs,
    )
    try:
        settings = CrowdSettings(
            people=tuple(args.people), scenes=args.scenes, img_size=tuple(args.img_size),
            seed=args.seed, warmup=args.warmup, repeats=args.repeats, threads=args.threads,
            detector=args.detector, cache_dir=args.cache_dir)
        record = run_crowd_benchmark(settings, tuple(args.onestage), tuple(args.topdown),
                                     onestage_onnx=args.onestage_onnx,
                                     topdown_onnx=args.topdown_onnx,
                                     rtmdet_config=args.rtmdet_config)
    except (ValueError, PersonDetectorError, PoseModelError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')
    paths = write_outputs(record, args.out_dir)
    print(markdown_table(record))
    print('\n'.join(f'{k}: {v}' for k, v in paths.items()))


if __name__ == '__main__':
    main()
