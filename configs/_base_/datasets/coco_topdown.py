# COCO person keypoints, top-down (one crop per person), MMPose data layout:
#   data/coco/annotations/person_keypoints_{train,val}2017.json
#   data/coco/{train,val}2017/
# Point it elsewhere with --cfg-options train_dataloader.dataset.data_root=...
#
# The steps that depend on the codec (TopdownAffine, GenerateTarget) are added
# by each approach's config:
#   train_pipeline = [*_base_.train_pipeline_head, TopdownAffine, GenerateTarget, PackPoseInputs]
#   val_pipeline = [*_base_.val_pipeline_head, TopdownAffine, PackPoseInputs]
# Evaluation uses ground-truth person boxes unless test_dataloader.dataset.bbox_file
# names a detection file (COCO results format); the numbers differ.
dataset_type = 'CocoDataset'
data_mode = 'topdown'
data_root = 'data/coco/'

train_pipeline_head = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
]
val_pipeline_head = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
]
# The single-person whole-image setting (*_wholeimage configs): the box is
# the whole image (KPWholeImageBBox, which needs the model input size to keep
# the image's last pixel row and column inside the input), no padding, no
# half-body / shift. The configs spell out
#   [LoadImage, KPWholeImageBBox(input_size), *wholeimage_train_augmentation, TopdownAffine, ...]
wholeimage_train_augmentation = [
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_prob=0.0, rotate_factor=30.0,
         scale_factor=(0.8, 1.2)),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    # Workers restart (and are re-seeded identically) every epoch, so a run
    # resumed with --resume draws the same augmentations as an uninterrupted
    # one (KPRandomStateHook); persistent workers would carry their random
    # streams across epochs, and a resumed run cannot restore them.
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=[],
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=[],
    ))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
