"""KPOKSLoss against xtcocotools' COCOeval.computeOks, in image space and
through each codec's frame."""
import numpy as np
import pytest
import torch
from mmpose.datasets.transforms import GetBBoxCenterScale, TopdownAffine
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from kp_plugins.codecs import KPBBoxLabel, KPGridLabel, KPRegressionLabel
from kp_plugins.models.losses import KPOKSLoss
from kp_plugins.utils.oks import COCO_SIGMAS

K = 17
INPUT_SIZE = (96, 128)


def random_instances(num: int = 40, seed: int = 0):
    """Random COCO images with one labelled person and one detection each:
    hidden (v=1) and out-of-image labelled keypoints included."""
    rng = np.random.RandomState(seed)
    images, gts, dts = [], [], []
    for i in range(num):
        w, h = rng.randint(80, 640, size=2)
        bw, bh = rng.uniform(0.2, 0.9) * w, rng.uniform(0.2, 0.9) * h
        x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        xy = np.stack([rng.uniform(x0 - 0.3 * bw, x0 + 1.3 * bw, K),
                       rng.uniform(y0 - 0.3 * bh, y0 + 1.3 * bh, K)], -1)
        v = rng.choice([0, 1, 2], size=K, p=[0.25, 0.25, 0.5])
        v[rng.randint(K)] = 2
        xy[v == 0] = 0
        area = rng.uniform(0.3, 0.7) * bw * bh
        noise = rng.uniform(0.5, 0.3 * np.sqrt(area))
        pred = xy + rng.randn(K, 2) * noise
        pred[v == 0] = rng.uniform(0, [w, h], size=(int((v == 0).sum()), 2))
        images.append(dict(id=i + 1, width=int(w), height=int(h),
                           file_name=f'{i}.jpg'))
        gts.append(dict(id=i + 1, image_id=i + 1, category_id=1, iscrowd=0,
                        area=float(area), bbox=[x0, y0, bw, bh],
                        num_keypoints=int((v > 0).sum()),
                        keypoints=np.concatenate([xy, v[:, None]],
                                                 -1).ravel().tolist()))
        dts.append(dict(image_id=i + 1, category_id=1, score=1.0,
                        keypoints=np.concatenate(
                            [pred, np.ones((K, 1))], -1).ravel().tolist()))
    return images, gts, dts


def coco_oks(images, gts, dts) -> np.ndarray:
    """OKS of each detection with its ground truth, by COCOeval."""
    coco = COCO()
    coco.dataset = dict(images=images, annotations=gts, categories=[
        dict(id=1, name='person', keypoints=[str(k) for k in range(K)],
             skeleton=[])
    ])
    coco.createIndex()
    evaluator = COCOeval(coco, coco.loadRes(dts), 'keypoints')
    evaluator.params.imgIds = [img['id'] for img in images]
    evaluator.evaluate()
    return np.array([evaluator.ious[(img['id'], 1)][0, 0] for img in images])


@pytest.fixture(scope='module')
def instances():
    images, gts, dts = random_instances()
    return images, gts, dts, coco_oks(images, gts, dts)


def as_arrays(gt, dt):
    kpts = np.array(gt['keypoints'], np.float64).reshape(K, 3)
    pred = np.array(dt['keypoints'], np.float64).reshape(K, 3)[:, :2]
    return kpts[:, :2], kpts[:, 2], pred


def oks_loss(pred, target, weights, areas):
    loss = KPOKSLoss(mode='linear', reduction='none')
    return loss(torch.tensor(np.asarray(pred), dtype=torch.float32),
                torch.tensor(np.asarray(target), dtype=torch.float32),
                torch.tensor(np.asarray(weights), dtype=torch.float32),
                torch.tensor(np.asarray(areas), dtype=torch.float32)).numpy()


def test_image_space_matches_cocoeval(instances):
    images, gts, dts, oks = instances
    assert 0.05 < oks.mean() < 0.95  # a spread of similarities, not 0 or 1
    target, vis, pred = zip(*(as_arrays(g, d) for g, d in zip(gts, dts)))
    loss = oks_loss(pred, target, np.array(vis) > 0,
                    [g['area'] for g in gts])
    np.testing.assert_allclose(loss, 1 - oks, atol=1e-5)


def crop(image, gt, keypoints, rotation):
    """MMPose's GetBBoxCenterScale + TopdownAffine on a blank image."""
    x0, y0, bw, bh = gt['bbox']
    results = dict(img=np.zeros((image['height'], image['width'], 3),
                                np.uint8),
                   bbox=np.array([[x0, y0, x0 + bw, y0 + bh]], np.float32),
                   keypoints=keypoints[None].astype(np.float32),
                   keypoints_visible=np.ones((1, K), np.float32))
    results = GetBBoxCenterScale()(results)
    results['bbox_scale'] = results['bbox_scale'] * 1.3  # scale augmentation
    results['bbox_rotation'] = np.array([rotation], np.float32)
    return TopdownAffine(input_size=INPUT_SIZE)(results)


@pytest.mark.parametrize('codec_type', ['regression', 'grid', 'bbox'])
def test_codec_frame_matches_cocoeval(instances, codec_type):
    """Encode ground truth and prediction with the codec, compute the loss
    in its frame with the area it provides: 1 - loss is COCO's OKS."""
    images, gts, dts, oks = instances
    codec = dict(regression=KPRegressionLabel(INPUT_SIZE),
                 grid=KPGridLabel(INPUT_SIZE, (12, 16)),
                 bbox=KPBBoxLabel(INPUT_SIZE))[codec_type]
    rng = np.random.RandomState(1)
    losses = []
    for image, gt, dt in zip(images, gts, dts):
        target, vis, pred = as_arrays(gt, dt)
        rotation = float(rng.uniform(-40, 40))
        res_gt = crop(image, gt, target, rotation)
        res_dt = crop(image, gt, pred, rotation)
        aux = dict(area=np.array(gt['area']),
                   input_scale=res_gt['input_scale'])
        if codec_type == 'bbox':
            aux.update(bbox=res_gt['bbox'],
                       input_center=res_gt['input_center'],
                       bbox_rotation=res_gt['bbox_rotation'])
        enc_gt = codec.encode(res_gt['transformed_keypoints'],
                              (vis > 0)[None].astype(np.float32), **aux)
        enc_dt = codec.encode(res_dt['transformed_keypoints'],
                              np.ones((1, K), np.float32), **aux)
        if codec_type == 'grid':  # the packed targets by name
            enc_gt, enc_dt = codec.unpack(**enc_gt), codec.unpack(**enc_dt)
        if codec_type == 'grid':
            # the grid frame is input pixels; the grid's own weights drop
            # out-of-input keypoints, COCO counts every labelled one
            weights = (vis > 0)[None]
        else:
            weights = enc_gt['keypoint_weights']
            np.testing.assert_array_equal(weights[0], vis > 0)
        losses.append(oks_loss(enc_dt['keypoint_labels'],
                               enc_gt['keypoint_labels'], weights,
                               enc_gt['areas'])[0])
    np.testing.assert_allclose(losses, 1 - oks, atol=1e-5)


def test_modes_and_reduction():
    """The three modes and the reductions, on inputs from a local generator
    whose OKS values lie well inside (0, 1), where ``log`` mode's clamp at
    ``eps`` plays no part."""
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(4, K, 2, generator=gen) * 5
    pred = target + torch.randn(4, K, 2, generator=gen)
    weights = (torch.rand(4, K, generator=gen) > 0.3).float()
    weights[:3, 0] = 1  # instances 0-2 have labelled keypoints
    weights[3] = 0  # no labelled keypoint: excluded from the mean
    areas = torch.rand(4, generator=gen) * 100 + 50
    per = {m: KPOKSLoss(mode=m, reduction='none')(pred, target, weights,
                                                  areas)
           for m in ('linear', 'square', 'log')}
    oks = 1 - per['linear'][:3]
    assert ((oks > 0.05) & (oks < 0.95)).all(), oks
    torch.testing.assert_close(per['square'][:3], 1 - oks**2)
    torch.testing.assert_close(per['log'][:3], -torch.log(oks))
    assert torch.all(per['linear'][3] == 0)
    mean = KPOKSLoss(loss_weight=2.0)(pred, target, weights, areas)
    torch.testing.assert_close(mean, 2 * per['linear'][:3].mean())
    total = KPOKSLoss(reduction='sum')(pred, target, weights, areas)
    torch.testing.assert_close(total, per['linear'][:3].sum())


def test_log_mode_is_finite_for_far_predictions():
    pred = torch.full((1, K, 2), 1e4, requires_grad=True)
    loss = KPOKSLoss(mode='log')(pred, torch.zeros(1, K, 2), torch.ones(1, K),
                                 torch.ones(1))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_sigmas_from_metainfo_and_errors():
    loss = KPOKSLoss(metainfo='configs/_base_/datasets/coco.py')
    np.testing.assert_allclose(loss.sigmas.numpy(), COCO_SIGMAS, rtol=1e-6)
    custom = KPOKSLoss(metainfo=dict(sigmas=[0.1, 0.2, 0.3]))
    assert custom.sigmas.numel() == 3
    with pytest.raises(ValueError, match='3 sigmas'):
        custom(torch.zeros(1, K, 2), torch.zeros(1, K, 2), torch.ones(1, K),
               torch.ones(1))
    with pytest.raises(ValueError, match='mode'):
        KPOKSLoss(mode='cubic')
    with pytest.raises(FileNotFoundError, match='not found'):
        KPOKSLoss(metainfo='no/such/metainfo.py')
