"""The script that wrote latency_vs_yolo11n.json (2026-12-01 14:48 UTC, idle
2-core machine), kept as the record of that measurement (reformatted
afterwards, and its yolo11n loop later moved into
kp_plugins.benchmark.yolo.whole_image_ms; not re-run; the steps are the ones
that ran; configs/yolo_effl0_320.py is in the history up to commit ed15b20):

    .venv/bin/python docs/benchmark/yoloxpose_effl0_320/latency_vs_yolo11n.py \\
        work_dirs/benchmark_128x96/entries/YOLOXPoseHead/epoch_7.pth

Latency of yolo11n-pose (random weights from its YAML, network + Ultralytics'
NMS at conf 0.25, as the benchmark's YOLO entry) and of configs/yolo_effl0_320.py
(the trained checkpoint, ``model.predict``: forward + decode + NMS) on whole
320x320 images, 2 threads, one process: yolo11n-pose before and after.
"""
import json
import sys

import torch

from kp_plugins.benchmark.bottomup import speed_and_size
from kp_plugins.benchmark.speed import load_pose_config
from kp_plugins.benchmark.yolo import whole_image_ms
from kp_plugins.ultralytics.offline import import_ultralytics


def yolo11n_ms(net, out: dict, suffix: str = '') -> None:
    for bs in (1, 32):
        out[f'yolo11n b{bs}{suffix}'] = whole_image_ms(net, 320, bs, 3, 10)


def main() -> None:
    torch.set_num_threads(2)
    net = import_ultralytics(online=False).YOLO('yolo11n-pose.yaml').model.float().eval()
    out: dict = {}
    yolo11n_ms(net, out)
    cfg = load_pose_config('configs/yolo_effl0_320.py')
    res = speed_and_size(cfg, (1, 32), 3, 10, checkpoint=sys.argv[1], flops=False)
    for bs, v in res['latency'].items():
        out[f'yolo_effl0 b{bs}'] = v['full_ms']
        out[f'yolo_effl0 b{bs} backbone'] = v['backbone_ms']
    yolo11n_ms(net, out, ' (again)')
    print(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
