from .random_bbox_jitter import KPRandomBBoxJitter
from .whole_image_bbox import KPWholeImageBBox

__all__ = ['KPRandomBBoxJitter', 'KPWholeImageBBox']
