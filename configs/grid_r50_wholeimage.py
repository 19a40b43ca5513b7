# Approach 2 in the seed's original single-person setting: the box is the
# whole image (KPWholeImageBBox, no padding) and the dataset keeps only
# images with exactly one annotated person (KPSinglePersonCocoDataset).
# CocoMetric builds its ground truth from those images (ann_file=None; the
# dataset keeps MMPose from handing the metric the full annotation file):
# with the full annotation file the dropped images would count as misses.
_base_ = ['./grid_r50.py']

codec = _base_.codec

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='KPWholeImageBBox', input_size=codec['input_size']),
    *_base_.wholeimage_train_augmentation,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='KPWholeImageBBox', input_size=codec['input_size']),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    dataset=dict(type='KPSinglePersonCocoDataset', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='KPSinglePersonCocoDataset', pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=None)
test_evaluator = val_evaluator
