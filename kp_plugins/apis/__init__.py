"""Inference helpers behind tools/detect_persons.py and tools/demo.py:
person boxes from MMDet or Ultralytics detectors or a bottom-up pose model, COCO bbox files for
top-down evaluation on detector boxes, and pose inference + drawing with
MMPose's own API. Not imported by ``import kp_plugins`` (it registers
nothing); MMDet and Ultralytics are imported only when a detector is built.
"""
from ..utils.metainfo import keypoint_names
from ..utils.paths import ConfigNotFoundError, resolve_config_path
from .bbox_file import (
    BBoxFileError,
    DetectionSummary,
    boxes_to_coco_results,
    detect_to_bbox_file,
    load_bbox_file,
)
from .images import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    ImageRecord,
    ImageSource,
    ImageSourceError,
    UnreadableImageError,
    images_in_folder,
    is_image_file,
    is_video_file,
    load_image_source,
    read_image,
    read_image_list,
    subset_coco_annotations,
    write_image_info,
)
from .person_detection import (
    MMDetPersonDetector,
    PersonDetector,
    PersonDetectorError,
    UltralyticsPersonDetector,
    build_person_detector,
    default_device,
    find_person_class,
    select_person_boxes,
)
from .pose_inference import (
    PoseModelError,
    build_pose_visualizer,
    draw_poses,
    is_bottomup,
    load_pose_model,
    poses_sample,
    poses_to_json,
    predict_poses,
    predict_poses_bottomup,
)
from .pose_person_detector import (
    BottomupPersonDetector,
    build_pose_person_detector,
    pose_model_type,
)

__all__ = [
    'BBoxFileError', 'DetectionSummary', 'boxes_to_coco_results', 'detect_to_bbox_file',
    'load_bbox_file', 'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS', 'ImageRecord', 'ImageSource',
    'ImageSourceError', 'UnreadableImageError', 'images_in_folder', 'is_image_file',
    'is_video_file', 'load_image_source', 'read_image', 'read_image_list',
    'subset_coco_annotations', 'write_image_info', 'MMDetPersonDetector', 'PersonDetector',
    'PersonDetectorError', 'UltralyticsPersonDetector', 'build_person_detector',
    'default_device', 'find_person_class', 'ConfigNotFoundError', 'resolve_config_path',
    'select_person_boxes', 'BottomupPersonDetector', 'build_pose_person_detector',
    'pose_model_type', 'PoseModelError', 'build_pose_visualizer', 'draw_poses',
    'keypoint_names', 'load_pose_model', 'poses_sample', 'poses_to_json', 'predict_poses',
    'is_bottomup', 'predict_poses_bottomup'
]
