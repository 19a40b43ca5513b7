"""The mmdeploy SDK (mmdeploy_runtime.PoseDetector) against kp_plugins' runtime
(OnnxPoseModel) on the same images and boxes: keypoint and score gaps per head,
the gap when the runtime is fed the SDK's own crop, and batch-1 latency.

    .venv/bin/python docs/benchmark/sdk/sdk_parity.py --out docs/benchmark/sdk/parity.json \\
        [--trained CONFIG CHECKPOINT ...] [--images 10] [--latency-repeats 50]

Every top-down head the SDK can run (all but KPBBoxHead), random-init and
briefly trained (6 Adam steps on synthetic people, as the tests), plus each
--trained config/checkpoint pair; 320x240 synthetic images with 2-4 people
and their ground-truth boxes. Latency: median of --latency-repeats calls on one
person after 5 warm-up calls, both with onnxruntime's default 2 intra-op
threads on this 2-core machine (the SDK does not expose its thread count).
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path[:0] = [REPO, osp.join(REPO, 'tests'), osp.join(REPO, 'tests', 'test_deploy')]


def measure(name: str, state: str, sdk_dir: str, images: int, repeats: int) -> dict:
    """One model's gaps (and, unless ``repeats`` is 0, latencies)."""
    import mmdeploy_runtime
    from sdk_testing import predict_on_sdk_crops
    from test_sdk import people_image

    from kp_plugins.deploy.runtime import OnnxPoseModel
    detector = mmdeploy_runtime.PoseDetector(sdk_dir, 'cpu', 0)
    runtime = OnnxPoseModel(osp.join(sdk_dir, 'end2end.onnx'), num_threads=2)
    gaps, score_gaps, own = [], [], []
    for seed in range(images):
        image, boxes = people_image(seed)
        sdk = detector(image, boxes.tolist())
        keypoints, scores = runtime.predict(image, boxes)
        oracle, _ = predict_on_sdk_crops(runtime, image, boxes)
        gaps.append(np.linalg.norm(sdk[..., :2] - keypoints, axis=-1).ravel())
        score_gaps.append(np.abs(sdk[..., 2] - scores).ravel())
        own.append(np.linalg.norm(sdk[..., :2] - oracle, axis=-1).ravel())
    gap, score_gap, own_gap = map(np.concatenate, (gaps, score_gaps, own))
    image, boxes = people_image(0)
    timings = dict(sdk=None, runtime=None)
    for label, call in (('sdk', lambda: detector(image, boxes[:1].tolist())),
                        ('runtime', lambda: runtime.predict(image, boxes[:1]))):
        if not repeats:
            break
        for _ in range(5):
            call()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        timings[label] = 1000 * float(np.median(times))
    return dict(head=name, state=state, keypoints=len(gap),
                median_px=float(np.median(gap)), p90_px=float(np.percentile(gap, 90)),
                max_px=float(gap.max()), within_1_5_px=float((gap <= 1.5).mean()),
                score_median=float(np.median(score_gap)), score_max=float(score_gap.max()),
                own_crop_max_px=float(own_gap.max()), sdk_ms_b1=timings['sdk'],
                runtime_ms_b1=timings['runtime'])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='JSON file for the rows')
    parser.add_argument('--trained', nargs=2, action='append', default=[],
                        metavar=('CONFIG', 'CHECKPOINT'), help='a trained model to add')
    parser.add_argument('--images', type=int, default=10)
    parser.add_argument('--latency-repeats', type=int, default=50,
                        help='timed calls per model (0: no latency; on a loaded machine)')
    parser.add_argument('--no-untrained', action='store_true',
                        help='only the --trained models')
    args = parser.parse_args()
    from test_sdk import SDK_HEADS, sdk_dir

    from kp_plugins.apis import load_pose_model

    from deploy_testing import TOPDOWN_CONFIGS, briefly_train, build_model
    work = tempfile.mkdtemp()
    rows = []
    models = [] if args.no_untrained else [
        (head, state) for head in SDK_HEADS for state in ('random', 'briefly trained')]
    for head, state in models:
        model = build_model(TOPDOWN_CONFIGS[head])
        if state != 'random':
            briefly_train(model, cache_dir=osp.join(work, 'synthetic'))
        path = sdk_dir(model, osp.join(work, f'{head}_{len(rows)}'))
        rows.append(measure(head, state, path, args.images, args.latency_repeats))
        print(json.dumps(rows[-1]), flush=True)
    for config, checkpoint in args.trained:
        model = load_pose_model(config, checkpoint, 'cpu')
        model.cfg.model.test_cfg.flip_test = False
        path = sdk_dir(model.eval(), osp.join(work, f'trained_{len(rows)}'))
        rows.append(measure(type(model.head).__name__, f'trained: {osp.basename(config)}',
                            path, args.images, args.latency_repeats))
        print(json.dumps(rows[-1]), flush=True)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(dict(command=' '.join(sys.argv), date=time.strftime('%Y-%m-%d %H:%M UTC',
                                                                       time.gmtime()),
                       rows=rows), f, indent=1)


if __name__ == '__main__':
    main()
