"""Approach 5 (YOLO) through Ultralytics: COCO <-> YOLO-pose data bridge,
offline-safe Ultralytics set-up, and scoring with MMPose's CocoMetric.

The converters are :mod:`.coco2yolo` and :mod:`.yolo2coco` over the format
of :mod:`.yolo_format` (:mod:`.convert` re-exports all three). Used by
tools/coco2yolo.py, tools/yolo2coco.py, tools/train_yolo.py and
tools/test_yolo.py. Ultralytics is the optional ``yolo`` extra: nothing here
imports it until a tool asks for it (:func:`offline.import_ultralytics`), and
``import kp_plugins`` does not import this subpackage.
"""
from .coco2yolo import CocoAnnotationError, cached_coco_to_yolo, coco_splits, coco_to_yolo
from .yolo2coco import yolo_to_coco
from .yolo_format import YoloLabelError, check_yolo_dataset, read_yolo_labels

__all__ = ['CocoAnnotationError', 'YoloLabelError', 'cached_coco_to_yolo', 'check_yolo_dataset',
           'coco_splits', 'coco_to_yolo', 'read_yolo_labels', 'yolo_to_coco']
