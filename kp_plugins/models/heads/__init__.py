from .bbox_head import KPBBoxHead
from .grid_head import KPGridHead
from .regression_head import KPRegressionHead

__all__ = ['KPBBoxHead', 'KPGridHead', 'KPRegressionHead']
