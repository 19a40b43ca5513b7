from .bbox_label import KPBBoxLabel
from .grid_label import KPGridLabel
from .regression_label import KPRegressionLabel

__all__ = ['KPBBoxLabel', 'KPGridLabel', 'KPRegressionLabel']
