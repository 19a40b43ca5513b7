# Quick start, zero download, second command: approach 5 (yolo, one stage) on
# the synthetic people set of configs/quickstart.py.
#
#   .venv/bin/python tools/train.py configs/quickstart_yolo.py
#
# configs/yolo_effl0_256.py (MMPose's YOLOXPoseHead on the ImageNet-pretrained
# KPEfficientNetLite from its PyPI wheel, 256x256 whole images) trained and
# evaluated bottom-up: whole images in, every person found by the model, no
# ground-truth boxes at test time; CocoMetric on the synthetic val split
# (the same metric and images as configs/quickstart.py, which is given the
# ground-truth boxes). Recipe, time and AP: README ("Quick start").
_base_ = ['./yolo_effl0_256.py']

# ---------------------------------------------------------------- schedule
max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='QuadraticWarmupLR', by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', eta_min=2e-5, begin=0, end=max_epochs,
         by_epoch=True, convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=2e-3))
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_best='coco/AP', rule='greater'))

# ---------------------------------------------------------------- model
model = dict(
    head=dict(
        # L1 on the raw keypoint offsets, (keypoint - prior) / stride, beside
        # the OKS loss: 1 - OKS has almost no gradient for a keypoint several
        # tolerances away, L1 pulls at any distance.
        use_aux_loss=True,
        loss_kpt_aux=dict(type='KPL1Loss', loss_weight=2.0, loss_name='loss_kpt_aux')))

# ---------------------------------------------------------------- data
dataset_type = 'KPSyntheticPoseDataset'
synthetic = dict(type=dataset_type, num_images=2000, img_size=(256, 256), seed=0,
                 data_mode='bottomup')
# batch 8: twice the updates of yolo_effl0_256.py's batch 16 in the same
# time (records: docs/benchmark/quickstart_yolo/)
train_dataloader = dict(
    batch_size=8,
    dataset=dict(_delete_=True, split='train', pipeline=_base_.train_pipeline,
                 **synthetic))
val_dataloader = dict(
    dataset=dict(_delete_=True, split='val', test_mode=True,
                 pipeline=_base_.val_pipeline, **dict(synthetic, num_images=200)))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=None)
test_evaluator = val_evaluator
