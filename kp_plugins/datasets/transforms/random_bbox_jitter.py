from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class KPRandomBBoxJitter(BaseTransform):
    """Randomly move each side of the person box, like a detector's error.

    Each side of ``bbox`` moves independently by a uniform fraction in
    ``[-side_factor, side_factor]`` of the box width (left/right) or height
    (top/bottom); the box is then clipped to the image and kept at least
    ``min_size`` pixels wide and high. Place it **before**
    ``GetBBoxCenterScale`` so the crop follows the jittered box, as it
    follows a detector's box at test time; a box-relative head
    (``KPBBoxHead``) then learns on boxes whose extent differs from the
    ground truth.

    Required keys: ``bbox`` (N, 4) xyxy, ``img_shape`` (h, w) (optional).

    Modified keys: ``bbox``.

    Args:
        side_factor: largest move of a side, as a fraction of the box side
            (0.1 gives IoUs with the original box of roughly 0.7 and up).
        prob: probability of jittering a sample.
        min_size: smallest box side after jitter, in pixels.
    """

    def __init__(self, side_factor: float = 0.1, prob: float = 1.0,
                 min_size: float = 2.0) -> None:
        super().__init__()
        if not 0 <= side_factor < 0.5:
            raise ValueError('KPRandomBBoxJitter: side_factor must be in '
                             f'[0, 0.5), got {side_factor}')
        if not 0 <= prob <= 1:
            raise ValueError(f'KPRandomBBoxJitter: prob must be in [0, 1], '
                             f'got {prob}')
        self.side_factor = side_factor
        self.prob = prob
        self.min_size = min_size

    @cache_randomness
    def _sample(self, num_boxes: int) -> np.ndarray:
        """(N, 4) side moves as fractions, zero when not applied."""
        moves = np.random.uniform(-self.side_factor, self.side_factor,
                                  size=(num_boxes, 4))
        applied = np.random.rand(num_boxes, 1) < self.prob
        return np.where(applied, moves, 0.0)

    def transform(self, results: Dict) -> Optional[dict]:
        if 'bbox_center' in results:
            raise RuntimeError(
                'KPRandomBBoxJitter must come before GetBBoxCenterScale in '
                'the pipeline (it jitters "bbox", which GetBBoxCenterScale '
                'turns into the crop)')
        if results.get('bbox') is None:
            raise KeyError('KPRandomBBoxJitter needs results["bbox"] (N, 4)')
        bbox = np.asarray(results['bbox'], dtype=np.float32).reshape(-1, 4)
        sides = np.concatenate([bbox[:, 2:] - bbox[:, :2]] * 2, axis=1)
        jittered = bbox + self._sample(bbox.shape[0]) * sides
        if results.get('img_shape') is not None:
            h, w = results['img_shape'][:2]
            jittered = np.clip(jittered, 0, [w - 1, h - 1, w - 1, h - 1])
        # keep a valid box: grow it around its centre to min_size if needed
        center = (jittered[:, :2] + jittered[:, 2:]) / 2
        half = np.maximum(jittered[:, 2:] - jittered[:, :2],
                          self.min_size) / 2
        results['bbox'] = np.concatenate([center - half, center + half],
                                         axis=1).astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(side_factor={self.side_factor}, '
                f'prob={self.prob}, min_size={self.min_size})')
