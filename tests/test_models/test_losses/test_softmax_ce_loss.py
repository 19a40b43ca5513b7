"""KPSoftmaxCELoss against torch's own cross-entropy."""
import pytest
import torch
import torch.nn.functional as F
from mmpose.registry import MODELS

import kp_plugins  # noqa: F401


def build(**kwargs):
    return MODELS.build(dict(type='KPSoftmaxCELoss', **kwargs))


def test_one_hot_target_is_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 4, 6)
    cls = torch.randint(0, 24, (3, 5))
    target = F.one_hot(cls, 24).float().view(3, 5, 4, 6)
    expected = F.cross_entropy(logits.view(15, 24), cls.view(15))
    torch.testing.assert_close(build()(logits, target), expected)


def test_soft_target_is_normalised_and_weighted():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 10)
    target = torch.rand(2, 3, 10) * 3  # any scale: normalised per keypoint
    target[1, 2] = 0  # no target mass: left out
    weights = torch.tensor([[1., 0., 1.], [1., 1., 1.]])
    probs = target / target.sum(-1, keepdim=True).clamp(min=1e-12)
    per_kp = F.cross_entropy(logits.permute(0, 2, 1), probs.permute(0, 2, 1),
                             reduction='none')  # (2, 3)
    keep = torch.tensor([[1., 0., 1.], [1., 1., 0.]])
    expected = (per_kp * keep).sum() / keep.sum()
    torch.testing.assert_close(build(loss_weight=2.0)(logits, target, weights),
                               2 * expected)


def test_no_valid_keypoint_gives_zero_with_graph():
    logits = torch.randn(2, 3, 10, requires_grad=True)
    loss = build()(logits, torch.zeros(2, 3, 10))
    assert loss.item() == 0
    loss.backward()


def test_shape_errors():
    with pytest.raises(ValueError, match='same shape'):
        build()(torch.randn(2, 3, 10), torch.rand(2, 3, 9))
    with pytest.raises(ValueError, match='target_weights'):
        build()(torch.randn(2, 3, 10), torch.rand(2, 3, 10), torch.ones(2, 4))
