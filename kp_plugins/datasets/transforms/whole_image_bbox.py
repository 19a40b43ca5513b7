from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

#: How far inside the input (input pixels) the image's outer pixel centres
#: land, so float32 rounding in the affine never puts them outside.
EDGE_MARGIN = 0.01


@TRANSFORMS.register_module()
class KPWholeImageBBox(BaseTransform):
    """Make every instance's box the whole image (single-person setting).

    Sets ``bbox`` for each of the N instances, keeping ``bbox_score``, to the
    box that ``GetBBoxCenterScale(padding=1.0)`` + ``TopdownAffine`` turn into
    a crop holding the whole image, with the first and last pixel rows and
    columns of the image inside the model input: MMPose's affine maps a box
    ``[x1, x2]`` onto ``[0, W]``, so the plain box ``[0, w - 1]`` would put
    the last pixel column at ``x = W``, outside the input (``0 <= x <= W -
    1``), where the codecs give its keypoints no weight. The box is therefore
    the one that maps image pixel ``0`` to input pixel ``m`` and ``w - 1``
    to ``W - 1 - m`` along the side that fills the input (``m =``
    :data:`EDGE_MARGIN`, so that float32 rounding never puts them outside),
    about ``[0, 0, (w - 1) * W / (W - 1), (h - 1) * H / (H - 1)]``; the other
    side is padded to the input's aspect ratio and stays inside too.

    Place it after ``LoadImage`` and before ``GetBBoxCenterScale``; use
    ``GetBBoxCenterScale(padding=1.0)``. Meant for datasets with one person
    per image (``KPSinglePersonCocoDataset``); with detector boxes
    (``bbox_file``) every detection would become the same whole-image crop.

    Required keys: ``img_shape`` (h, w); ``bbox`` (N, 4) (optional, for N).

    Modified keys: ``bbox``.

    Args:
        input_size: the model input ``(W, H)`` of the ``TopdownAffine``
            that follows.
    """

    def __init__(self, input_size: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        if input_size is None:
            raise ValueError(
                'KPWholeImageBBox needs input_size=(W, H), the input size of '
                'the TopdownAffine that follows it (e.g. '
                "dict(type='KPWholeImageBBox', input_size=codec['input_size'])):"
                ' without it the last pixel row and column of the image would '
                'fall outside the model input')
        w, h = input_size
        if int(w) != w or int(h) != h or w < 2 or h < 2:
            raise ValueError('KPWholeImageBBox: input_size must be two integers '
                             f'>= 2 (W, H), got {input_size!r}')
        self.input_size = (int(w), int(h))

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
        (x1, x2), (y1, y2) = (self.box_side(w, self.input_size[0]),
                              self.box_side(h, self.input_size[1]))
        results['bbox'] = np.tile(np.array([[x1, y1, x2, y2]], dtype=np.float32),
                                  (num, 1))
        return results

    @staticmethod
    def box_side(image_side: int, input_side: int):
        """``(start, end)`` of the box along one side: ``TopdownAffine`` maps
        ``[start, end]`` onto ``[0, input_side]``, and this puts pixel ``0``
        at ``EDGE_MARGIN`` and pixel ``image_side - 1`` at
        ``input_side - 1 - EDGE_MARGIN``."""
        scale = (input_side - 1 - 2 * EDGE_MARGIN) / max(image_side - 1, 1)
        start = -EDGE_MARGIN / scale
        return start, start + input_side / scale

    def __repr__(self) -> str:
        return f'{type(self).__name__}(input_size={self.input_size})'
