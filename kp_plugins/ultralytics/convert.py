"""COCO person-keypoint datasets <-> Ultralytics YOLO-pose datasets.

The code lives in three modules, one job each; this module re-exports them
so ``from kp_plugins.ultralytics.convert import ...`` keeps working:

* :mod:`~kp_plugins.ultralytics.yolo_format`: the YOLO-pose format (label
  files, dataset YAML, image lists) and its checks;
* :mod:`~kp_plugins.ultralytics.coco2yolo`: COCO -> YOLO-pose (what is
  dropped or changed, the cached conversion);
* :mod:`~kp_plugins.ultralytics.yolo2coco`: YOLO-pose -> COCO (what comes
  back, the round trip).
"""
from ..utils.metainfo import load_pose_metainfo
from .coco2yolo import (
    CONVERTER_VERSION,
    DEFAULT_METAINFO,
    CocoAnnotationError,
    SplitSources,
    cached_coco_to_yolo,
    coco_person_to_row,
    coco_splits,
    coco_to_yolo,
    conversion_key,
    default_cache_root,
)
from .yolo2coco import yolo_to_coco
from .yolo_format import (
    LABEL_DECIMALS,
    YoloLabelError,
    check_yolo_dataset,
    format_label_rows,
    image_size,
    img2label_path,
    load_data_yaml,
    read_yolo_labels,
    split_images,
    yolo_pose_fields,
)

__all__ = [
    'load_pose_metainfo', 'CONVERTER_VERSION', 'DEFAULT_METAINFO', 'CocoAnnotationError',
    'SplitSources', 'cached_coco_to_yolo', 'coco_person_to_row', 'coco_splits', 'coco_to_yolo',
    'conversion_key', 'default_cache_root', 'yolo_to_coco', 'LABEL_DECIMALS', 'YoloLabelError',
    'check_yolo_dataset', 'format_label_rows', 'image_size', 'img2label_path', 'load_data_yaml',
    'read_yolo_labels', 'split_images', 'yolo_pose_fields'
]
