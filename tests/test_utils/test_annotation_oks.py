"""kp_plugins.utils.oks.annotation_oks against xtcocotools' own OKS
(COCOeval.computeOks on a one-image set), the oracle the metric uses."""
import numpy as np
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from kp_plugins.utils.oks import COCO_SIGMAS, annotation_oks


def test_annotation_oks_equals_cocoeval():
    rng = np.random.default_rng(0)
    xy = rng.uniform(20, 200, (17, 2))
    vis = rng.integers(0, 3, 17)
    vis[:3] = 2
    ann = dict(id=1, image_id=1, category_id=1, iscrowd=0, area=2345.0,
               bbox=[10.0, 10.0, 200.0, 200.0], num_keypoints=int((vis > 0).sum()),
               keypoints=np.concatenate([np.where(vis[:, None] > 0, xy, 0), vis[:, None]],
                                        1).ravel().tolist())
    gt = COCO()
    gt.dataset = dict(images=[dict(id=1, width=256, height=256)], annotations=[ann],
                      categories=[dict(id=1, name='person')])
    gt.createIndex()
    preds = xy[None] + rng.normal(0, 6, (4, 17, 2))
    preds[0] = xy  # a perfect set scores exactly 1
    dets = gt.loadRes([dict(image_id=1, category_id=1, score=1.0 - 0.1 * i,
                            keypoints=np.concatenate([p, np.ones((17, 1))], 1).ravel().tolist())
                       for i, p in enumerate(preds)])
    evaluator = COCOeval(gt, dets, 'keypoints', sigmas=COCO_SIGMAS, use_area=True)
    evaluator.params.imgIds = [1]
    evaluator._prepare()  # fills the per-image ground truth computeOks reads
    # (detections sorted by score, one ground truth)
    expected = np.asarray(evaluator.computeOks(1, 1)).reshape(len(preds), -1)[:, 0]
    ours = annotation_oks(preds, ann)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    assert ours[0] == 1.0 and (ours[1:] < 0.99).all()
