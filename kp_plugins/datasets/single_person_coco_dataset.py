from collections import Counter
from typing import List, Tuple

from mmengine.logging import MessageHub
from mmpose.datasets.datasets.body import CocoDataset
from mmpose.registry import DATASETS


@DATASETS.register_module()
class KPSinglePersonCocoDataset(CocoDataset):
    """COCO person keypoints restricted to images with exactly one annotated
    person (the seed's single-person, whole-image setting).

    An image is kept when the annotation file holds exactly one person
    annotation for it (crowd regions and persons without labelled
    keypoints count as persons: the image shows more than one) and that
    annotation has labelled keypoints. Everything else is
    :class:`mmpose.datasets.CocoDataset`; pair it with
    ``KPWholeImageBBox``. For evaluation, leave ``CocoMetric.ann_file``
    unset (``None``) so the metric builds its ground truth from the kept
    images only; with the full annotation file the dropped images' persons
    count as misses.

    In test mode MMPose's ``CocoDataset`` records its ``ann_file`` in
    MMEngine's ``MessageHub``, where a ``CocoMetric(ann_file=None)`` finds
    and loads it, full annotation file and all; this dataset records
    ``None`` instead, so the metric converts the kept persons' own
    annotations (``raw_ann_info``) into its ground truth.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.test_mode:
            MessageHub.get_current_instance().update_info(
                f'{self.metainfo["dataset_name"]}_ann_file', None)

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        instance_list, image_list = super()._load_annotations()
        persons = Counter(
            ann['image_id'] for ann in self.coco.dataset.get('annotations', [])
            if ann.get('category_id', 1) == 1)
        single = {img_id for img_id, count in persons.items() if count == 1}
        instance_list = [
            inst for inst in instance_list if inst['img_id'] in single
        ]
        image_list = [img for img in image_list if img['img_id'] in single]
        return instance_list, image_list
