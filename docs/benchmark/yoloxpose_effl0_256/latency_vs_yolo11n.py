"""Whole-image CPU latency of the benchmark's YOLOXPoseHead entry
(configs/yolo_effl0_256.py, trained weights, ``model.predict``: forward +
decode + NMS at the config's score_thr 0.01) against yolo11n-pose (the YOLO
entry's network, random weights from its YAML, network + Ultralytics' NMS at
conf 0.25, as the benchmark's YOLO entry) at 320x320 (the YOLO entry's size)
and 256x256, 2 threads, one process, median of 20 after 5 warm-up; yolo11n
is measured before and after ours (its loop, written out here for the run, is
now kp_plugins.benchmark.yolo.whole_image_ms: the same steps)::

    .venv/bin/python docs/benchmark/yoloxpose_effl0_256/latency_vs_yolo11n.py \\
        work_dirs/benchmark_128x96/entries/YOLOXPoseHead/epoch_12.pth
"""
import json
import sys

import torch

from kp_plugins.benchmark.bottomup import speed_and_size
from kp_plugins.benchmark.speed import load_pose_config
from kp_plugins.benchmark.yolo import whole_image_ms
from kp_plugins.ultralytics.offline import import_ultralytics

WARMUP, REPEATS = 5, 20


def yolo11n_ms(net, out: dict, suffix: str = '') -> None:
    for size in (320, 256):
        for bs in (1, 32):
            out[f'yolo11n {size} b{bs}{suffix}'] = round(
                whole_image_ms(net, size, bs, WARMUP, REPEATS), 2)


def main() -> None:
    torch.set_num_threads(2)
    net = import_ultralytics(online=False).YOLO('yolo11n-pose.yaml').model.float().eval()
    out: dict = {'threads': 2, 'checkpoint': sys.argv[1]}
    yolo11n_ms(net, out)
    cfg = load_pose_config('configs/yolo_effl0_256.py')
    res = speed_and_size(cfg, (1, 32), WARMUP, REPEATS, checkpoint=sys.argv[1], flops=False)
    for bs, v in res['latency'].items():
        out[f'yolo_effl0 256 b{bs}'] = round(v['full_ms'], 2)
        out[f'yolo_effl0 256 b{bs} backbone'] = round(v['backbone_ms'], 2)
    yolo11n_ms(net, out, ' (again)')
    print(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
