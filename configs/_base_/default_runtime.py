# Runtime shared by every kp_plugins config (MMPose 1.x conventions).
default_scope = 'mmpose'
# Registers kp_plugins' heads, codecs, losses, datasets and transforms into
# MMPose's registries; kp_plugins is an installed package, so this works from
# any working directory.
custom_imports = dict(imports=['kp_plugins'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', interval=10, save_best='coco/AP', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False),
)
# KPNonFiniteLossHook: an iteration whose loss is NaN or inf skips its
# optimizer step (logged with the batch's image ids); 5 in a row stop the run
# with the last checkpoint to resume from (docs/bad_data.md).
# KPRandomStateHook: checkpoints carry the random state, so --resume continues
# the interrupted run's random streams (bit-exact without persistent workers).
# KPResumeValidationHook: --resume first validates the resumed epoch if the
# interrupted run was killed between its checkpoint and its validation.
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='KPNonFiniteLossHook', max_consecutive=5),
    dict(type='KPRandomStateHook'),
    dict(type='KPResumeValidationHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when no GPU is present.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(
    type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False
backend_args = dict(backend='local')

# train_cfg (epochs, val_interval) comes from a schedule base or the config.
val_cfg = dict()
test_cfg = dict()
