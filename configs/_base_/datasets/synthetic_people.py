# Synthetic people (KPSyntheticPoseDataset), top-down: a COCO-format person
# keypoints set drawn deterministically from a seed, generated on first use
# into ~/.cache/kp_plugins/synthetic/ (or $KP_PLUGINS_CACHE/synthetic, or the
# datasets' cache_dir) and reused afterwards. No download, no ../shared/data.
# Everything else is configs/_base_/datasets/coco_topdown.py: the same
# pipeline heads, CocoDataset underneath (17 COCO keypoints, sigmas,
# flip_indices) and CocoMetric, here with ann_file=None so the metric builds
# its ground truth from the val dataset's own annotations.
#
# Change the set with --cfg-options, e.g.
#   train_dataloader.dataset.num_images=500 train_dataloader.dataset.seed=1
#   train_dataloader.dataset.cache_dir=/tmp/synthetic
_base_ = ['./coco_topdown.py']

dataset_type = 'KPSyntheticPoseDataset'
synthetic_img_size = (256, 256)

train_dataloader = dict(
    num_workers=2,
    persistent_workers=False,  # exact --resume, see coco_topdown.py
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        split='train',
        num_images=2000,
        img_size=synthetic_img_size,
        seed=0,
        data_mode='topdown',
        pipeline=[],
    ))
val_dataloader = dict(
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        split='val',
        num_images=200,
        img_size=synthetic_img_size,
        seed=0,
        data_mode='topdown',
        test_mode=True,
        pipeline=[],
    ))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', ann_file=None)
test_evaluator = val_evaluator
