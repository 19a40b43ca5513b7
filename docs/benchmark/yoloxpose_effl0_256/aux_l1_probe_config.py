# A probe, kept as the record of a measurement, not a supported config:
# configs/yolo_effl0_256.py with MMPose's own auxiliary keypoint loss of
# YOLOXPoseHead switched on from the first iteration (use_aux_loss=True, which
# also turns on yolo_s.py's loss_bbox_aux): an L1 loss on the raw keypoint
# offsets, (keypoint - prior centre) / stride, here kp_plugins' KPL1Loss
# (mean over labelled keypoints) at weight 2. Why: 1 - OKS gives almost no
# gradient to a keypoint several OKS tolerances away, where the entry's
# keypoints are (README, "YOLO-style on EfficientNet-Lite0"); L1 pulls at
# any distance. Trained 2026-12-01 19:13-20:09 UTC on the benchmark's data
# (the entry's generated config, work_dirs/benchmark_128x96/entries/
# YOLOXPoseHead/config.py, plus the head settings below; the same as this
# file through kp_plugins.benchmark.bottomup.apply_bottomup_protocol) with
# tools/train.py; README has the numbers.
_base_ = ['../../../configs/yolo_effl0_256.py']
model = dict(
    head=dict(
        use_aux_loss=True,
        loss_kpt_aux=dict(type='KPL1Loss', loss_weight=2.0, loss_name='loss_kpt_aux')))
