from .bbox_label import KPBBoxLabel
from .frame_label import KPFrameLabel
from .grid_label import KPGridLabel
from .regression_label import KPRegressionLabel

__all__ = ['KPBBoxLabel', 'KPFrameLabel', 'KPGridLabel', 'KPRegressionLabel']
