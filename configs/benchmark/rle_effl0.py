# Benchmark entry: MMPose's RLEHead (regression with residual log-likelihood
# estimation, RLELoss) on the ImageNet-pretrained EfficientNet-Lite0, COCO
# 256x192. Head and codec as MMPose's td-reg_res50_rle-8xb64-210e_coco-256x192.py
# (GlobalAveragePooling neck). Used by tools/benchmark.py.
_base_ = ['./deeppose_effl0.py']

model = dict(
    head=dict(
        _delete_=True,
        type='RLEHead',
        in_channels=1280,
        num_joints=17,
        loss=dict(type='RLELoss', use_target_weight=True),
        decoder=_base_.codec))
