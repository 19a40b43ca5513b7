from . import transforms  # noqa: F401  (registration)
from .single_person_coco_dataset import KPSinglePersonCocoDataset  # noqa: F401
from .synthetic_pose_dataset import KPSyntheticPoseDataset  # noqa: F401
