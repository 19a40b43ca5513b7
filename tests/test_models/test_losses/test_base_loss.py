"""KPBaseLoss: every kp_plugins loss declares what the heads read
(tests/test_models/test_heads/test_base_head.py: the heads read it)."""
import pytest
from mmpose.registry import MODELS

import kp_plugins  # noqa: F401  (registration)
from kp_plugins.models.losses import KPBaseLoss

KP_LOSSES = sorted(n for n in MODELS.module_dict
                   if n.startswith('KP') and n.endswith('Loss'))


def test_every_kp_loss_found():
    assert {'KPBCELoss', 'KPL1Loss', 'KPMSELoss', 'KPOKSLoss',
            'KPSoftmaxCELoss'} <= set(KP_LOSSES)


@pytest.mark.parametrize('name', KP_LOSSES)
def test_kp_losses_declare_what_heads_read(name):
    loss = MODELS.build(dict(type=name, loss_weight=0.5, loss_name='loss_x'))
    assert isinstance(loss, KPBaseLoss)
    assert (loss.loss_weight, loss.loss_name) == (0.5, 'loss_x')
    assert loss.requires_area == (name == 'KPOKSLoss')
    assert loss.normalization == dict(KPBCELoss='sigmoid',
                                      KPSoftmaxCELoss='softmax').get(name)
