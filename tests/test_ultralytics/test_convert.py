"""COCO <-> YOLO-pose conversion (kp_plugins/ultralytics/coco2yolo.py,
yolo2coco.py and yolo_format.py through their re-export in convert.py;
tools/coco2yolo.py, tools/yolo2coco.py): the round trip on the real COCO
subset, the documented exceptions on a synthetic set, and bad labels."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import yaml
from PIL import Image

from kp_plugins.ultralytics.convert import (
    YoloLabelError,
    cached_coco_to_yolo,
    check_yolo_dataset,
    coco_splits,
    coco_to_yolo,
    img2label_path,
    read_yolo_labels,
    yolo_to_coco,
)

from helpers import run_tool, tool

# COCO-17 as published with the COCO keypoint evaluation (cocodataset.org/#keypoints-eval).
COCO_SIGMAS = [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107,
               .087, .087, .089, .089]


def coco_roundtrip_errors(original: dict, back: dict) -> dict:
    """Compare a COCO json with its YOLO round trip, image by image (matched
    by file_name) and person by person (in order). Crowd regions are the one
    documented loss, so they are left out of ``original`` first."""
    back_img = {img['file_name']: img for img in back['images']}
    assert set(back_img) == {img['file_name'] for img in original['images']}
    back_by_img, orig_by_img = {}, {}
    for ann in back['annotations']:
        back_by_img.setdefault(ann['image_id'], []).append(ann)
    for ann in original['annotations']:
        if not ann['iscrowd']:
            orig_by_img.setdefault(ann['image_id'], []).append(ann)
    worst = dict(kpt=0.0, box=0.0, persons=0, keypoints=0)
    for img in original['images']:
        twin = back_img[img['file_name']]
        assert (twin['width'], twin['height']) == (img['width'], img['height'])
        mine, theirs = orig_by_img.get(img['id'], []), back_by_img.get(twin['id'], [])
        assert len(mine) == len(theirs), img['file_name']
        for a, b in zip(mine, theirs):
            ka = np.array(a['keypoints'], float).reshape(-1, 3)
            kb = np.array(b['keypoints'], float).reshape(-1, 3)
            np.testing.assert_array_equal(ka[:, 2], kb[:, 2])
            labelled = ka[:, 2] > 0
            if labelled.any():
                error = float(np.abs(ka[labelled, :2] - kb[labelled, :2]).max())
                worst['kpt'] = max(worst['kpt'], error)
            assert (kb[~labelled] == 0).all()
            worst['box'] = max(worst['box'], float(np.abs(np.subtract(a['bbox'], b['bbox'])).max()))
            assert b['num_keypoints'] == int(labelled.sum())
            assert b['category_id'] == a['category_id']
            worst['persons'] += 1
            worst['keypoints'] += int(labelled.sum())
    return worst


@pytest.fixture(scope='module')
def converted(tmp_path_factory, coco_trainval):
    out = tmp_path_factory.mktemp('yolo') / 'coco_trainval'
    splits = coco_splits(coco_trainval, 'annotations_train.json', 'annotations_val.json')
    report = coco_to_yolo(splits, str(out))
    return dict(out=str(out), report=report, root=coco_trainval)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_round_trip_on_real_coco(converted, split, tmp_path):
    with open(osp.join(converted['root'], f'annotations_{split}.json')) as f:
        original = json.load(f)
    data_yaml = osp.join(converted['out'], 'data.yaml')
    back = yolo_to_coco(data_yaml, split, out_file=str(tmp_path / 'back.json'))
    # the label files' own precision, before yolo2coco rounds pixels to 3 decimals
    worst = coco_roundtrip_errors(original, yolo_to_coco(data_yaml, split, decimals=None))
    assert coco_roundtrip_errors(original, back)['kpt'] <= worst['kpt'] + 1e-3
    crowd = sum(a['iscrowd'] for a in original['annotations'])
    counts = converted['report']['splits'][split]
    assert crowd > 0 and counts['crowd_dropped'] == crowd
    assert worst['persons'] == len(original['annotations']) - crowd == counts['persons_written']
    assert counts['no_box_dropped'] == counts['boxes_clipped'] == 0
    assert worst['keypoints'] > 500
    print(f'{split}: max keypoint error {worst["kpt"]:.2e} px, max box error '
          f'{worst["box"]:.2e} px over {worst["persons"]} persons')
    assert worst['kpt'] <= 0.5 and worst['box'] <= 1.0
    # 6 decimals on images <= 640 px: far inside the acceptance bounds.
    assert worst['kpt'] < 2e-3 and worst['box'] < 2e-3
    # Ids come back from the integer file names; area follows MMPose's fallback.
    assert {i['id'] for i in back['images']} == {i['id'] for i in original['images']}
    ann = back['annotations'][0]
    assert ann['area'] == pytest.approx(max(0.53 * ann['bbox'][2] * ann['bbox'][3], 1), rel=1e-4)


def test_dataset_yaml_from_mmpose_metainfo(converted, coco_trainval):
    with open(osp.join(converted['out'], 'data.yaml')) as f:
        data = yaml.safe_load(f)
    with open(osp.join(coco_trainval, 'annotations_val.json')) as f:
        names = json.load(f)['categories'][0]['keypoints']
    assert data['kpt_shape'] == [17, 3]
    assert data['names'] == {0: 'person'}
    assert data['path'] == converted['out']
    assert (data['train'], data['val']) == ('images/train', 'images/val')
    swapped = [n.replace('left', 'LEFT').replace('right', 'left').replace('LEFT', 'right')
               for n in names]
    assert data['flip_idx'] == [names.index(n) for n in swapped]
    assert data['kpt_names'][0] == names
    assert data['kpt_oks_sigmas'] == pytest.approx(COCO_SIGMAS, abs=1e-9)


def test_images_are_symlinks_and_labels_are_ultralytics_readable(converted, coco_trainval):
    os.environ.setdefault('YOLO_OFFLINE', '1')  # no DNS probe on import
    ud = pytest.importorskip('ultralytics.data.utils')
    img_dir = osp.join(converted['out'], 'images', 'val')
    files = sorted(os.listdir(img_dir))
    assert len(files) == 21
    first = osp.join(img_dir, files[0])
    assert osp.islink(first)
    assert osp.realpath(first) == osp.realpath(osp.join(coco_trainval, 'images', files[0]))
    # Ultralytics finds our label files by its own rule and reads the same numbers.
    assert ud.img2label_paths([first])[0] == img2label_path(first)
    for name in files:
        img = osp.join(img_dir, name)
        ours = read_yolo_labels(img2label_path(img), 17)
        im_file, lb, shape, _, kpts, nm, nf, ne, nc, msg = ud.verify_image_label(
            (img, img2label_path(img), '', True, 1, 17, 3, False))
        assert nc == 0, msg
        if len(ours):
            np.testing.assert_allclose(lb, ours[:, :5], atol=1e-6)
            np.testing.assert_allclose(kpts.reshape(len(ours), -1), ours[:, 5:], atol=1e-6)
        else:
            assert len(lb) == 0


def test_label_lines_have_six_decimals(converted):
    label_dir = osp.join(converted['out'], 'labels', 'train')
    lines = [ln for f in sorted(os.listdir(label_dir))
             for ln in open(osp.join(label_dir, f)).read().splitlines()]
    assert len(lines) == converted['report']['splits']['train']['persons_written']
    fields = lines[0].split()
    assert len(fields) == 5 + 17 * 3 and fields[0] == '0'
    assert all(len(v.split('.')[1]) == 6 for v in fields[1:5])


def test_refuses_to_write_into_the_source(coco_trainval):
    splits = coco_splits(coco_trainval, None, 'annotations_val.json')
    with pytest.raises(ValueError, match='is a source data folder'):
        coco_to_yolo(splits, osp.join(coco_trainval, 'images', 'yolo'))
    with pytest.raises(ValueError, match='is a source data folder'):
        coco_to_yolo(splits, coco_trainval)


def test_cache_is_keyed_and_reused(tmp_path, monkeypatch, coco_trainval):
    monkeypatch.setenv('KP_PLUGINS_CACHE', str(tmp_path / 'cache'))
    splits = coco_splits(coco_trainval, None, 'annotations_val.json')
    first = cached_coco_to_yolo(splits)
    assert not first['cached']
    assert first['data_yaml'].startswith(str(tmp_path / 'cache' / 'yolo') + os.sep)
    with pytest.raises(FileExistsError, match='is not empty'):
        coco_to_yolo(splits, osp.dirname(first['data_yaml']))
    again = cached_coco_to_yolo(splits)
    assert again['cached'] and again['data_yaml'] == first['data_yaml']
    copied = cached_coco_to_yolo(splits, copy_images=True)
    assert copied['data_yaml'] != first['data_yaml']
    img = osp.join(osp.dirname(copied['data_yaml']), 'images', 'val', '000000000785.jpg')
    assert osp.isfile(img) and not osp.islink(img)
    assert [p for p in os.listdir(tmp_path / 'cache' / 'yolo') if '.tmp' in p] == []


# ---------------------------------------------------------------- synthetic
def make_synthetic_coco(root) -> dict:
    """Four images covering every documented rule (K = 17)."""
    os.makedirs(root / 'imgs', exist_ok=True)
    images = []
    for i, (w, h) in enumerate([(200, 100), (120, 160), (64, 64), (100, 100)], 1):
        Image.new('RGB', (w, h), (i * 40, 80, 120)).save(root / 'imgs' / f'{i:06d}.png')
        images.append(dict(id=i, file_name=f'{i:06d}.png', width=w, height=h))

    def kpts(points):
        k = [0] * 51
        for idx, (x, y, v) in points.items():
            k[3 * idx:3 * idx + 3] = [x, y, v]
        return k

    anns = [
        # image 1: a normal person with an occluded (v=1) keypoint, and a crowd region
        dict(id=1, image_id=1, bbox=[10.5, 20.25, 50, 60], iscrowd=0,
             keypoints=kpts({0: (30, 40, 2), 5: (31.5, 55.75, 1), 16: (59, 79, 2)})),
        dict(id=2, image_id=1, bbox=[100, 10, 90, 80], iscrowd=1, keypoints=kpts({})),
        # image 2: a person without keypoints, then one whose box leaves the image
        # and one of whose keypoints lies outside it
        dict(id=3, image_id=2, bbox=[5, 5, 30, 40], iscrowd=0, keypoints=kpts({})),
        dict(id=4, image_id=2, bbox=[90, 100, 50, 80], iscrowd=0,
             keypoints=kpts({1: (100, 120, 2), 2: (130, 150, 2)})),
        # image 3: a zero-area box
        dict(id=5, image_id=3, bbox=[10, 10, 0, 20], iscrowd=0, keypoints=kpts({3: (10, 15, 2)})),
        # image 4: no annotation at all
    ]
    for ann in anns:
        ann.update(category_id=1, num_keypoints=sum(v > 0 for v in ann['keypoints'][2::3]),
                   area=ann['bbox'][2] * ann['bbox'][3])
    coco = dict(images=images, annotations=anns, categories=[dict(
        id=1, name='person', keypoints=[str(i) for i in range(17)], skeleton=[])])
    with open(root / 'ann.json', 'w') as f:
        json.dump(coco, f)
    return coco


def test_documented_exceptions_on_synthetic_set(tmp_path):
    coco = make_synthetic_coco(tmp_path)
    report = coco_to_yolo({'val': (str(tmp_path / 'ann.json'), str(tmp_path / 'imgs'))},
                          str(tmp_path / 'yolo'))
    counts = report['splits']['val']
    assert (counts['images'], counts['persons_in'], counts['persons_written']) == (4, 5, 3)
    assert (counts['crowd_dropped'], counts['no_box_dropped']) == (1, 1)
    assert (counts['zero_keypoint_persons'], counts['boxes_clipped']) == (1, 1)
    assert counts['keypoints_outside_unlabelled'] == 1
    labels = tmp_path / 'yolo' / 'labels' / 'val'
    assert (labels / '000004.txt').read_text() == ''          # background image
    assert (labels / '000003.txt').read_text() == ''          # its only person had no box
    row = read_yolo_labels(str(labels / '000002.txt'), 17)[0]
    assert (row[5:] == 0).all()                               # kept, all-zero keypoints
    clipped = read_yolo_labels(str(labels / '000002.txt'), 17)[1]
    # box [90, 100, 140, 180] clipped to the 120x160 image: [90, 100, 120, 160]
    np.testing.assert_allclose(clipped[1:5], [105 / 120, 130 / 160, 30 / 120, 60 / 160], atol=1e-6)

    back = yolo_to_coco(str(tmp_path / 'yolo' / 'data.yaml'), 'val')
    assert [i['id'] for i in back['images']] == [1, 2, 3, 4]
    person = back['annotations'][0]
    np.testing.assert_allclose(person['bbox'], [10.5, 20.25, 50, 60], atol=1e-3)
    np.testing.assert_allclose(person['keypoints'], coco['annotations'][0]['keypoints'], atol=1e-3)
    assert person['keypoints'][17] == 1                        # v=1 survives
    outside = np.array(back['annotations'][2]['keypoints']).reshape(17, 3)
    np.testing.assert_allclose(outside[1], [100, 120, 2], atol=1e-3)
    assert (outside[2] == 0).all()          # (130, 150) lies right of W = 120: unlabelled
    assert back['annotations'][2]['num_keypoints'] == 1


# ---------------------------------------------------------------- bad labels
def write_dataset(tmp_path, label_text: str) -> str:
    (tmp_path / 'images' / 'val').mkdir(parents=True)
    (tmp_path / 'labels' / 'val').mkdir(parents=True)
    Image.new('RGB', (32, 32)).save(tmp_path / 'images' / 'val' / 'a.jpg')
    (tmp_path / 'labels' / 'val' / 'a.txt').write_text(label_text)
    data = dict(path=str(tmp_path), train='images/val', val='images/val', names={0: 'person'},
                kpt_shape=[2, 3], flip_idx=[1, 0])
    (tmp_path / 'data.yaml').write_text(yaml.safe_dump(data))
    return str(tmp_path / 'data.yaml')


GOOD = '0 0.5 0.5 0.2 0.4 0.45 0.4 2 0.55 0.4 1\n'


@pytest.mark.parametrize('bad, problem', [
    ('0 0.5 0.5 0.2 0.4 0.45 0.4 2 0.55 0.4\n', '10 columns, expected 11'),
    ('0 0.5 0.5 0.2 0.4 1.2 0.4 2 0.55 0.4 1\n', 'outside [0, 1]'),
    ('0 0.5 -0.1 0.2 0.4 0.45 0.4 2 0.55 0.4 1\n', 'outside [0, 1]'),
    ('0 0.5 0.5 0.2 0.4 0.45 0.4 2 0.55 abc 1\n', "'abc' is not a number"),
    ('1 0.5 0.5 0.2 0.4 0.45 0.4 2 0.55 0.4 1\n', 'class 1 is not an integer in [0, 0]'),
    ('0 0.5 0.5 0.2 0.4 0.45 0.4 3 0.55 0.4 1\n', 'visibility must be 0, 1 or 2'),
    ('0 0.5 0.5 0 0.4 0.45 0.4 2 0.55 0.4 1\n', 'width and height must be > 0'),
])
def test_bad_label_names_file_and_line(tmp_path, bad, problem):
    data_yaml = write_dataset(tmp_path, GOOD + '\n' + bad)
    label_file = str(tmp_path / 'labels' / 'val' / 'a.txt')
    with pytest.raises(YoloLabelError) as err:
        read_yolo_labels(label_file, 2, num_classes=1)
    assert f'{label_file}:3: ' in str(err.value) and problem in str(err.value)
    with pytest.raises(YoloLabelError, match=f'{label_file}:3: '):
        check_yolo_dataset(data_yaml)
    with pytest.raises(YoloLabelError, match=f'{label_file}:3: '):
        yolo_to_coco(data_yaml, 'val')


def test_good_label_reads(tmp_path):
    write_dataset(tmp_path, GOOD)
    rows = read_yolo_labels(str(tmp_path / 'labels' / 'val' / 'a.txt'), 2, num_classes=1)
    np.testing.assert_allclose(rows, [[0, .5, .5, .2, .4, .45, .4, 2, .55, .4, 1]])


def test_cli_reports_bad_labels_and_converts(tmp_path, coco_trainval):
    data_yaml = write_dataset(tmp_path / 'bad', GOOD + '0 0.5 0.5 0.2\n')
    res = run_tool([tool('yolo2coco.py'), data_yaml, '--check'])
    assert res.returncode != 0
    label_file = tmp_path / 'bad' / 'labels' / 'val' / 'a.txt'
    assert f'{label_file}:2: 4 columns, expected 11' in res.stdout

    out = tmp_path / 'yolo'
    res = run_tool([tool('coco2yolo.py'), '--data-root', coco_trainval,
                    '--val', 'annotations_val.json', '--out', str(out)])
    assert res.returncode == 0, res.stdout
    assert 'val: 21 images, 109 of 113 persons written; dropped: 4 crowd' in res.stdout
    res = run_tool([tool('yolo2coco.py'), str(out / 'data.yaml'), '--split', 'val',
                    '--out', str(tmp_path / 'val.json')])
    assert res.returncode == 0, res.stdout
    assert json.load(open(tmp_path / 'val.json'))['annotations'][0]['num_keypoints'] > 0
