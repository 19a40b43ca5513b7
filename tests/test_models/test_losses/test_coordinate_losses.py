"""KPL1Loss, KPMSELoss and KPBCELoss against direct computations."""
import pytest
import torch
import torch.nn.functional as F

from kp_plugins.models.losses import KPBCELoss, KPL1Loss, KPMSELoss


@pytest.mark.parametrize('loss_cls,elementwise', [
    (KPL1Loss, lambda d: d.abs()),
    (KPMSELoss, lambda d: d**2),
])
def test_invisible_keypoints_neither_add_nor_dilute(loss_cls, elementwise):
    pred = torch.randn(3, 5, 2)
    target = torch.randn(3, 5, 2)
    weights = torch.ones(3, 5)
    weights[0, 1] = weights[2, 4] = 0
    pred_far = pred.clone()
    pred_far[0, 1] += 1e3  # invisible and way off: must not matter
    pred_far[2, 4] -= 1e3
    loss = loss_cls(loss_weight=0.5)(pred_far, target, weights)
    valid = weights > 0
    expected = elementwise(pred - target).mean(-1)[valid].mean() * 0.5
    torch.testing.assert_close(loss, expected)


def test_weighted_mean_and_empty_batch():
    pred = torch.zeros(1, 2, 2, requires_grad=True)
    target = torch.tensor([[[1.0, 1.0], [3.0, 3.0]]])
    loss = KPL1Loss()(pred, target, torch.tensor([[1.0, 3.0]]))
    torch.testing.assert_close(loss, torch.tensor((1 * 1 + 3 * 3) / 4.0))
    empty = KPL1Loss()(pred, target, torch.zeros(1, 2))
    empty.backward()
    assert empty.item() == 0 and pred.grad is not None
    with pytest.raises(ValueError, match='do not match'):
        KPL1Loss()(pred, target, torch.ones(2, 2))


def test_bce_matches_formula_with_pos_weight():
    logits = torch.randn(2, 3, 4)
    target = (torch.rand(2, 3, 4) > 0.7).float()
    weights = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    loss = KPBCELoss(pos_weight=3.0, loss_weight=2.0)(logits, target, weights)
    p = torch.sigmoid(logits)
    manual = -(3.0 * target * torch.log(p) + (1 - target) * torch.log(1 - p))
    expected = manual.mean(-1)[weights > 0].mean() * 2.0
    torch.testing.assert_close(loss, expected)


def test_bce_is_stable_for_huge_logits():
    logits = torch.tensor([[1e4, -1e4, 50.0]], requires_grad=True)
    target = torch.tensor([[0.0, 1.0, 1.0]])
    loss = KPBCELoss()(logits, target)
    loss.backward()
    torch.testing.assert_close(
        loss, F.binary_cross_entropy_with_logits(logits, target))
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match='pos_weight'):
        KPBCELoss(pos_weight=0)
