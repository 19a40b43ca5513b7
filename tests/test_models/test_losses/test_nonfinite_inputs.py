"""Zero weights shield every kp loss from NaN and inf at unlabelled keypoints
(``0 * NaN`` is NaN, so weighting alone does not): the loss and its gradient
equal those of the same inputs with the unlabelled entries replaced by
ordinary numbers, and the gradient there is exactly 0. A NaN at a labelled
keypoint still makes the loss NaN (KPNonFiniteLossHook then skips the
step)."""
import pytest
import torch

from kp_plugins.models.losses import KPBCELoss, KPL1Loss, KPMSELoss, KPOKSLoss, KPSoftmaxCELoss

B, K, G = 3, 17, 12


def inputs(gen):
    """pred, target, weights, areas for the coordinate losses; logits,
    targets for the location losses."""
    target = torch.randn(B, K, 2, generator=gen) * 5
    return dict(
        pred=target + torch.randn(B, K, 2, generator=gen),
        target=target,
        weights=(torch.rand(B, K, generator=gen) > 0.4).float(),
        areas=torch.rand(B, generator=gen) * 100 + 50,
        logits=torch.randn(B, K, G, generator=gen),
        cells=torch.rand(B, K, G, generator=gen),
        visibility=(torch.rand(B, K, generator=gen) > 0.5).float())


CASES = {
    'KPL1Loss': lambda x, p: KPL1Loss()(p, x['target'], x['weights']),
    'KPMSELoss': lambda x, p: KPMSELoss()(p, x['target'], x['weights']),
    'KPOKSLoss-linear': lambda x, p: KPOKSLoss(mode='linear')(p, x['target'], x['weights'],
                                                              x['areas']),
    'KPOKSLoss-square': lambda x, p: KPOKSLoss(mode='square')(p, x['target'], x['weights'],
                                                              x['areas']),
    'KPOKSLoss-log': lambda x, p: KPOKSLoss(mode='log')(p, x['target'], x['weights'],
                                                        x['areas']),
    'KPOKSLoss-sum': lambda x, p: KPOKSLoss(reduction='sum')(p, x['target'], x['weights'],
                                                             x['areas']),
    # visibility logits (B, K) and per-cell presence logits (B, K, G)
    'KPBCELoss-visibility': lambda x, p: KPBCELoss()(p[..., 0], x['visibility'], x['weights']),
    'KPBCELoss-cells': lambda x, p: KPBCELoss(pos_weight=3.0)(p, (x['cells'] > 0.9).float(),
                                                              x['weights']),
    'KPSoftmaxCELoss': lambda x, p: KPSoftmaxCELoss()(p, x['cells'], x['weights']),
}
#: which tensor of ``inputs`` the case differentiates (the prediction)
PRED = {name: 'logits' if name in ('KPBCELoss-cells', 'KPSoftmaxCELoss') else 'pred'
        for name in CASES}


def corrupt(tensor, weights, value):
    """``value`` at every entry of the weight-0 keypoints."""
    out = tensor.clone()
    out[weights == 0] = value
    return out


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')],
                         ids=['nan', 'inf', '-inf'])
@pytest.mark.parametrize('name', list(CASES))
def test_nonfinite_values_at_weight_zero_keypoints_change_nothing(name, value):
    x = inputs(torch.Generator().manual_seed(0))
    assert 0 < (x['weights'] == 0).sum() < x['weights'].numel()
    key = PRED[name]
    clean = x[key].clone().requires_grad_()
    loss_clean = CASES[name](x, clean)
    loss_clean.backward()

    bad = dict(x, target=corrupt(x['target'], x['weights'], value),
               cells=corrupt(x['cells'], x['weights'], value))
    dirty = corrupt(x[key], x['weights'], value).requires_grad_()
    loss = CASES[name](bad, dirty)
    loss.backward()
    assert torch.isfinite(loss), loss
    torch.testing.assert_close(loss, loss_clean)
    assert torch.isfinite(dirty.grad).all()
    assert (dirty.grad[x['weights'] == 0] == 0).all()
    torch.testing.assert_close(dirty.grad[x['weights'] > 0], clean.grad[x['weights'] > 0])


@pytest.mark.parametrize('name', list(CASES))
def test_nan_at_a_labelled_keypoint_is_not_hidden(name):
    x = inputs(torch.Generator().manual_seed(1))
    key = PRED[name]
    pred = x[key].clone()
    b, k = torch.nonzero(x['weights'] > 0)[0]
    pred[b, k] = float('nan')
    assert torch.isnan(CASES[name](x, pred))


def test_oks_loss_ignores_an_unlabelled_instance_with_nan_area():
    x = inputs(torch.Generator().manual_seed(2))
    weights = x['weights'].clone()
    weights[1] = 0
    areas = x['areas'].clone()
    areas[1] = float('nan')
    pred = x['pred'].clone().requires_grad_()
    loss = KPOKSLoss()(pred, x['target'], weights, areas)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    expected = KPOKSLoss(reduction='none')(x['pred'], x['target'], weights,
                                           x['areas'])[[0, 2]].mean()
    torch.testing.assert_close(loss, expected)
