"""KPBaseHead: what it reads from the losses (areas for a loss that
requires them; no loss that is not a KPBaseLoss)."""
import pytest
import torch
from mmpose.registry import MODELS

from kp_plugins.models.losses import KPBaseLoss

from head_testing import INPUT_SIZE, fake_samples


class AreaProbe(KPBaseLoss):
    """Records the areas the head hands it."""

    requires_area = True

    def __init__(self) -> None:
        super().__init__(loss_name='loss_probe')
        self.seen = None

    def forward(self, pred, target, target_weights, areas):
        self.seen = areas
        return (pred - target).abs().mean() * 0


@pytest.mark.parametrize('head_type,codec_type', [
    ('KPRegressionHead', 'KPRegressionLabel'), ('KPBBoxHead', 'KPBBoxLabel')])
def test_head_hands_areas_to_a_loss_that_requires_them(head_type, codec_type):
    codec = dict(type=codec_type, input_size=INPUT_SIZE)
    head = MODELS.build(dict(type=head_type, in_channels=8, num_keypoints=17,
                             loss=dict(type='KPL1Loss'), decoder=codec))
    probe = AreaProbe()
    head.coord_losses.append(probe)
    samples = fake_samples(codec, batch=2)
    losses = head.loss((torch.randn(2, 8, 4, 3),), samples)
    assert {'loss_l1', 'loss_probe', 'loss_visibility', 'acc_pose'} <= set(losses)
    want = torch.cat([s.gt_instance_labels.areas for s in samples])
    torch.testing.assert_close(probe.seen, want)


def test_head_refuses_a_loss_that_is_not_a_kp_loss():
    with pytest.raises(TypeError, match='KPBaseLoss'):
        MODELS.build(dict(type='KPRegressionHead', in_channels=8,
                          num_keypoints=17,
                          loss=dict(type='SmoothL1Loss'),
                          decoder=dict(type='KPRegressionLabel',
                                       input_size=INPUT_SIZE)))
