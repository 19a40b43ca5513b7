from .base_loss import KPBaseLoss
from .bce_loss import KPBCELoss
from .l1_loss import KPL1Loss
from .mse_loss import KPMSELoss
from .oks_loss import KPOKSLoss
from .softmax_ce_loss import KPSoftmaxCELoss

__all__ = ['KPBaseLoss', 'KPBCELoss', 'KPL1Loss', 'KPMSELoss', 'KPOKSLoss',
           'KPSoftmaxCELoss']
