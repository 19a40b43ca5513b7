"""Approach 5 (YOLO) through Ultralytics: COCO <-> YOLO-pose data bridge,
offline-safe Ultralytics set-up, and scoring with MMPose's CocoMetric.

Used by tools/coco2yolo.py, tools/yolo2coco.py, tools/train_yolo.py and
tools/test_yolo.py. Ultralytics is the optional ``yolo`` extra: nothing here
imports it until a tool asks for it (:func:`offline.import_ultralytics`), and
``import kp_plugins`` does not import this subpackage.
"""
from .convert import (CocoAnnotationError, YoloLabelError, cached_coco_to_yolo,
                      check_yolo_dataset, coco_splits, coco_to_yolo, read_yolo_labels,
                      yolo_to_coco)

__all__ = ['CocoAnnotationError', 'YoloLabelError', 'cached_coco_to_yolo', 'check_yolo_dataset',
           'coco_splits', 'coco_to_yolo', 'read_yolo_labels', 'yolo_to_coco']
