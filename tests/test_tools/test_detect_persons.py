"""tools/detect_persons.py and kp_plugins.apis' detection helpers: MMDet's
RTMDet-tiny config with random weights over the real val images, checked
box for box against mmdet.apis.inference_detector; a corrupt image skipped;
a folder's image-info file that MMPose's CocoDataset reads; the
Ultralytics box source; clear errors."""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest

from kp_plugins.apis import (
    ImageSourceError,
    PersonDetectorError,
    boxes_to_coco_results,
    find_person_class,
    load_bbox_file,
    load_image_source,
    select_person_boxes,
)

from helpers import run_tool, tool
from random_detectors import save_random_rtmdet, save_random_yolo, write_small_rtmdet_config


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# ----------------------------------------------------------------- helpers


def test_select_person_boxes_threshold_and_nms():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (60, 2))
    wh = rng.uniform(20, 80, (60, 2))
    bboxes = np.concatenate([xy, xy + wh], 1)
    scores = rng.uniform(0, 1, 60)
    labels = rng.integers(0, 3, 60)
    out = select_person_boxes(bboxes, scores, labels, person_index=1, score_thr=0.3, nms_iou=0.4)
    # Independent greedy NMS over the person boxes with score >= 0.3.
    cand = [(s, b) for b, s, label in zip(bboxes, scores, labels) if label == 1 and s >= 0.3]
    cand.sort(key=lambda t: -t[0])
    kept = []
    for s, b in cand:
        if all(iou_xyxy(b, k[1]) <= 0.4 for k in kept):
            kept.append((s, b))
    assert len(out) == len(kept)
    np.testing.assert_allclose(out[:, 4], [s for s, _ in kept], rtol=1e-6)
    np.testing.assert_allclose(out[:, :4], np.array([b for _, b in kept]), rtol=1e-5)
    # Without NMS: every person box >= thr, by score.
    no_nms = select_person_boxes(bboxes, scores, labels, 1, 0.3, None)
    assert len(no_nms) == len(cand)
    assert np.all(np.diff(no_nms[:, 4]) <= 0)


def test_find_person_class():
    assert find_person_class(['bicycle', 'Person', 'car']) == 1
    assert find_person_class(['a', 'b'], person_class=1) == 1
    with pytest.raises(PersonDetectorError, match='no class named "person".*--person-class'):
        find_person_class(['cat', 'dog'])
    with pytest.raises(PersonDetectorError, match='out of range'):
        find_person_class(['cat', 'dog'], person_class=5)


def test_coco_results_roundtrip(tmp_path):
    boxes = np.array([[10, 20, 110, 220, 0.9], [0, 0, 5, 6, 0.1]], np.float32)
    entries = boxes_to_coco_results(7, boxes)
    assert entries[0] == dict(image_id=7, category_id=1, bbox=[10.0, 20.0, 100.0, 200.0],
                              score=pytest.approx(0.9))
    path = tmp_path / 'dets.json'
    path.write_text(json.dumps(entries + [dict(image_id=7, category_id=3, bbox=[0, 0, 1, 1],
                                               score=1.0)]))
    loaded = load_bbox_file(str(path))
    np.testing.assert_allclose(loaded[7], boxes, rtol=1e-6)  # category 3 ignored


def test_image_sources(tmp_path, coco_trainval):
    lst = tmp_path / 'list.txt'
    lst.write_text('# two images\nb.jpg\n\n/abs/c.png\n')
    src = load_image_source(str(lst))
    assert [(r.image_id, r.file_name) for r in src.records] == [(1, 'b.jpg'), (2, '/abs/c.png')]
    src = load_image_source(osp.join(coco_trainval, 'annotations_val.json'),
                            osp.join(coco_trainval, 'images'))
    val = json.load(open(osp.join(coco_trainval, 'annotations_val.json')))
    assert [r.image_id for r in src.records] == [img['id'] for img in val['images']]
    with pytest.raises(ImageSourceError, match='--img-root'):
        load_image_source(osp.join(coco_trainval, 'annotations_val.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"annotations": []}')
    with pytest.raises(ImageSourceError, match='no "images" list'):
        load_image_source(str(bad), str(tmp_path))
    with pytest.raises(ImageSourceError, match='not found'):
        load_image_source(str(tmp_path / 'missing'))


# ----------------------------------------------------------------- the tool


@pytest.fixture(scope='module')
def rtmdet(tmp_path_factory, coco_trainval):
    """RTMDet-tiny (MMDet's config, 256x256 test size), random weights."""
    from kp_plugins.apis import read_image
    tmp = tmp_path_factory.mktemp('rtmdet')
    cfg = write_small_rtmdet_config(tmp)
    ckpt = str(tmp / 'rtmdet_random.pth')
    calib = [read_image(osp.join(coco_trainval, 'images', n))
             for n in ('000000000036.jpg', '000000000049.jpg')]
    save_random_rtmdet(cfg, ckpt, calib)
    return dict(config=cfg, checkpoint=ckpt, tmp=tmp)


def test_rtmdet_over_val_images(rtmdet, coco_trainval, tmp_path):
    """Score threshold 0 over the 21 val images (ids from the annotation file):
    COCO.loadRes accepts the file, and it holds exactly the person boxes
    mmdet.apis.inference_detector finds (checked on 3 images)."""
    from mmdet.apis import inference_detector, init_detector
    from pycocotools.coco import COCO

    ann = osp.join(coco_trainval, 'annotations_val.json')
    out = tmp_path / 'dets.json'
    res = run_tool([tool('detect_persons.py'), ann, '--img-root',
                    osp.join(coco_trainval, 'images'), '--out', str(out),
                    '--det-config', rtmdet['config'], '--det-checkpoint', rtmdet['checkpoint'],
                    '--score-thr', '0', '--batch-size', '4', '--device', 'cpu'])
    assert res.returncode == 0, res.stdout[-4000:]
    assert "person class 0 ('person' of 80 classes)" in res.stdout
    assert 'ETA' in res.stdout  # progress bar
    entries = json.loads(out.read_text())
    m = re.search(r'person boxes written: (\d+)', res.stdout)
    assert m and int(m.group(1)) == len(entries) > 0
    assert 'images: 21, detected: 21, skipped (unreadable): 0' in res.stdout
    assert not osp.exists(tmp_path / 'dets_images.json')  # ids are the annotation file's

    gt = COCO(ann)
    dt = gt.loadRes(str(out))  # raises on ids not in the annotation file
    assert len(dt.getAnnIds()) == len(entries)
    assert {e['category_id'] for e in entries} == {1}

    model = init_detector(rtmdet['config'], rtmdet['checkpoint'], device='cpu')
    by_image = {}
    for e in entries:
        by_image.setdefault(e['image_id'], []).append(e)
    checked = 0
    for img in gt.loadImgs(sorted(gt.getImgIds()))[:3]:
        pred = inference_detector(
            model, osp.join(coco_trainval, 'images', img['file_name'])).pred_instances
        person = (pred.labels == 0).numpy()
        ref = np.concatenate([pred.bboxes.numpy()[person], pred.scores.numpy()[person, None]], 1)
        got = np.array([[x, y, x + w, y + h, e['score']]
                        for e in by_image.get(img['id'], []) for x, y, w, h in [e['bbox']]])
        assert len(got) == len(ref), img['file_name']
        if len(ref):
            ref, got = ref[np.lexsort(ref.T[::-1])], got[np.lexsort(got.T[::-1])]
            np.testing.assert_allclose(got[:, :4], ref[:, :4], atol=0.05)  # batch 4 vs 1
            np.testing.assert_allclose(got[:, 4], ref[:, 4], atol=1e-5)
            checked += len(ref)
    assert checked > 0, 'the random detector found no person on the checked images'


def test_folder_with_corrupt_image(rtmdet, coco_trainval, tmp_path):
    """A folder (ids 1..N) with a corrupt image: reported, skipped, counted;
    the image-info file makes the bbox file readable by MMPose's CocoDataset;
    extra NMS leaves no pair of boxes above the IoU."""
    folder = tmp_path / 'photos'
    (folder / 'sub').mkdir(parents=True)
    names = ['000000211325.jpg', '000000370162.jpg']
    os.symlink(osp.join(coco_trainval, 'images', names[0]), folder / names[0])
    os.symlink(osp.join(coco_trainval, 'images', names[1]), folder / 'sub' / names[1])
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg' * 10)
    (folder / 'notes.txt').write_text('not an image')
    out = tmp_path / 'dets.json'
    res = run_tool([tool('detect_persons.py'), str(folder), '--out', str(out),
                    '--det-config', rtmdet['config'], '--det-checkpoint', rtmdet['checkpoint'],
                    '--nms-iou', '0.3', '--device', 'cpu'])
    assert res.returncode == 0, res.stdout[-4000:]
    assert 'images: 3, detected: 2, skipped (unreadable): 1' in res.stdout
    assert 'broken.jpg' in res.stdout and 'cannot decode' in res.stdout
    info = json.loads((tmp_path / 'dets_images.json').read_text())
    assert sorted((i['id'], i['file_name']) for i in info['images']) == [
        (1, names[0]), (3, osp.join('sub', names[1]))]  # sorted paths; broken.jpg was 2
    assert info['images'][0]['width'] == 640
    entries = json.loads(out.read_text())
    assert entries and {e['image_id'] for e in entries} <= {1, 3}
    for image_id, boxes in load_bbox_file(str(out)).items():
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert iou_xyxy(boxes[i], boxes[j]) <= 0.3 + 1e-6

    from mmengine.registry import init_default_scope
    from mmpose.datasets import CocoDataset
    init_default_scope('mmpose')
    dataset = CocoDataset(ann_file=str(tmp_path / 'dets_images.json'), bbox_file=str(out),
                          data_prefix=dict(img=str(folder) + '/'), data_mode='topdown',
                          test_mode=True, pipeline=[])
    assert len(dataset) == len(entries)
    assert all(osp.isfile(dataset[i]['img_path']) for i in range(len(dataset)))


def test_detector_without_person_class(rtmdet, tmp_path):
    """A checkpoint whose classes have no 'person': a clear error, unless the
    index is given."""
    import torch

    from kp_plugins.apis import MMDetPersonDetector
    ckpt = torch.load(rtmdet['checkpoint'], map_location='cpu')
    ckpt['meta']['dataset_meta']['classes'] = [f'animal{i}' for i in range(80)]
    path = str(tmp_path / 'animals.pth')
    torch.save(ckpt, path)
    with pytest.raises(PersonDetectorError, match='no class named "person".*--person-class'):
        MMDetPersonDetector(rtmdet['config'], path, device='cpu')
    detector = MMDetPersonDetector(rtmdet['config'], path, device='cpu', person_class=3)
    assert detector.person_index == 3 and detector.classes[3] == 'animal3'


def test_clear_errors(tmp_path, rtmdet):
    (tmp_path / 'a.jpg').write_bytes(b'garbage')
    missing = run_tool([tool('detect_persons.py'), str(tmp_path), '--out', str(tmp_path / 'd.json'),
                        '--det-config', rtmdet['config'], '--det-checkpoint', 'nope.pth'])
    assert missing.returncode != 0 and 'Traceback' not in missing.stdout
    assert "detector checkpoint 'nope.pth' not found" in missing.stdout
    only_bad = run_tool([tool('detect_persons.py'), str(tmp_path), '--out',
                         str(tmp_path / 'd.json'), '--det-config', rtmdet['config'],
                         '--det-checkpoint', rtmdet['checkpoint'], '--no-progress'])
    assert only_bad.returncode != 0, only_bad.stdout[-3000:]
    assert 'a.jpg' in only_bad.stdout and 'no image could be read' in only_bad.stdout
    no_det = run_tool([tool('detect_persons.py'), str(tmp_path), '--out', str(tmp_path / 'd.json')])
    assert no_det.returncode != 0 and '--det-config' in no_det.stdout


def test_ultralytics_box_source(tmp_path, coco_trainval):
    pytest.importorskip('ultralytics')
    weights = str(tmp_path / 'yolo_random.pt')
    save_random_yolo(weights)
    lst = tmp_path / 'images.txt'
    lst.write_text('000000000785.jpg\n000000040083.jpg\n')
    out = tmp_path / 'dets.json'
    env = dict(YOLO_CONFIG_DIR=str(tmp_path / 'ultralytics_cfg'))
    res = run_tool([tool('detect_persons.py'), str(lst), '--img-root',
                    osp.join(coco_trainval, 'images'), '--out', str(out), '--ultralytics',
                    weights, '--score-thr', '0.0001', '--imgsz', '320', '--device', 'cpu'],
                   env=env)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "Ultralytics detector: person class 0 ('person' of 80 classes)" in res.stdout
    entries = json.loads(out.read_text())
    info = json.loads((tmp_path / 'dets_images.json').read_text())
    assert [(i['id'], i['file_name']) for i in info['images']] == [
        (1, '000000000785.jpg'), (2, '000000040083.jpg')]
    assert entries and {e['image_id'] for e in entries} <= {1, 2}
    assert min(e['score'] for e in entries) >= 0.0001

    absent = run_tool([tool('detect_persons.py'), str(lst), '--out', str(tmp_path / 'x.json'),
                       '--ultralytics', str(tmp_path / 'yolo11n.pt')], env=env)
    assert absent.returncode != 0 and 'Traceback' not in absent.stdout
    assert 'yolo11n.pt' in absent.stdout and 'never downloads' in absent.stdout
