# rle_effl0.py at 128x96 (the benchmark's default protocol).
_base_ = ['./deeppose_effl0_128x96.py']

model = dict(
    head=dict(
        _delete_=True,
        type='RLEHead',
        in_channels=1280,
        num_joints=17,
        loss=dict(type='RLELoss', use_target_weight=True),
        decoder=_base_.codec))
