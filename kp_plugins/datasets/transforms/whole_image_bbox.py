from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class KPWholeImageBBox(BaseTransform):
    """Make every instance's box the whole image (single-person setting).

    Sets ``bbox`` to ``[0, 0, w - 1, h - 1]`` (MMPose clips boxes to that
    range) for each of the N instances, keeping ``bbox_score``. Place it
    after ``LoadImage`` and before ``GetBBoxCenterScale``; use
    ``GetBBoxCenterScale(padding=1.0)`` so the crop is the image itself
    (``TopdownAffine`` then pads it to the input's aspect ratio). Meant for
    datasets with one person per image (``KPSinglePersonCocoDataset``);
    with detector boxes (``bbox_file``) every detection would become the
    same whole-image crop.

    Required keys: ``img_shape`` (h, w); ``bbox`` (N, 4) (optional, for N).

    Modified keys: ``bbox``.
    """

    def transform(self, results: Dict) -> Optional[dict]:
        if 'bbox_center' in results:
            raise RuntimeError(
                'KPWholeImageBBox must come before GetBBoxCenterScale in the '
                'pipeline (it replaces "bbox", which GetBBoxCenterScale turns '
                'into the crop)')
        if results.get('img_shape') is None:
            raise KeyError('KPWholeImageBBox needs results["img_shape"]; put '
                           'it after LoadImage')
        h, w = results['img_shape'][:2]
        bbox = results.get('bbox')
        num = 1 if bbox is None else np.asarray(bbox).reshape(-1, 4).shape[0]
        results['bbox'] = np.tile(
            np.array([[0, 0, w - 1, h - 1]], dtype=np.float32), (num, 1))
        return results
