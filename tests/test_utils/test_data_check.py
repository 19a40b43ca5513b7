"""The pre-flight data check (kp_plugins.utils.data_check.preflight_check
and the file checks of kp_plugins.utils.data_file_checks) on tiny COCO sets
made in a temp dir, one broken the way a user's data can be: every case ends
in an error naming the file, the ids and what to change, or in a counted,
logged skip."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config

import kp_plugins  # noqa: F401  (registration)
from kp_plugins.utils.data_check import (
    DataCheckError,
    check_bbox_file,
    check_config_consistency,
    preflight_check,
)
from kp_plugins.utils.data_file_checks import image_problem

from conftest import REPO_ROOT
from helpers import write_tiny_coco

CONFIG = osp.join(REPO_ROOT, 'configs', 'grid_effl0_128x96.py')


@pytest.fixture
def coco(tmp_path):
    """6 images, 2 persons each; returns (root, annotation path, its json)."""
    ann = write_tiny_coco(tmp_path, num_images=6, persons=2)
    with open(ann) as f:
        return tmp_path, ann, json.load(f)


def save(path, data):
    with open(path, 'w') as f:
        json.dump(data, f)


def config_on(root, train='annotations.json', val='annotations.json', **changes) -> Config:
    """grid_effl0_128x96 with every split on the tiny set."""
    cfg = Config.fromfile(CONFIG)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.update(
            data_root=str(root), ann_file=train if split == 'train' else val,
            data_prefix=dict(img='images/'))
        if split != 'train':
            cfg[f'{split}_evaluator'].ann_file = osp.join(str(root), val)
    cfg.merge_from_dict(changes)
    return cfg


def problems(cfg, splits=('train', 'val'), **kwargs) -> str:
    with pytest.raises(DataCheckError) as info:
        preflight_check(cfg, splits, **kwargs)
    return str(info.value)


def test_a_clean_set_passes_with_its_counts(coco):
    root, ann, data = coco
    data['annotations'][0].update(iscrowd=1)
    data['annotations'][1].update(num_keypoints=0, keypoints=[0] * 51)
    save(ann, data)
    lines = preflight_check(config_on(root), ('train', 'val'))
    assert lines == ['annotations.json: 6 images, 12 annotations: 10 persons used, '
                     '1 crowd regions, 1 persons without labelled keypoints']


@pytest.mark.parametrize('field,index', [('keypoints', 4), ('bbox', 2), ('area', None)])
@pytest.mark.parametrize('split', ['train', 'val'])
def test_a_nan_in_the_annotations_is_an_error(coco, tmp_path, field, index, split):
    """Today: exit 0 with ``loss: nan`` (train) or a wrong AP (val)."""
    root, ann, data = coco
    bad = json.loads(json.dumps(data))
    if index is None:
        bad['annotations'][5][field] = float('nan')
    else:
        bad['annotations'][5][field][index] = float('nan')
    save(osp.join(root, 'bad.json'), bad)
    cfg = config_on(root, **{f'{"train" if split == "train" else "val"}': 'bad.json'})
    message = problems(cfg)
    assert f'bad.json: the {field} of 1 annotations' in message
    assert 'annotation ids 6 (image 3: value' in message or "annotation ids 6 (image 3: nan)" \
        in message, message
    assert 'fix or remove these annotations' in message


def test_keypoints_of_the_wrong_length_or_type(coco):
    root, ann, data = coco
    data['annotations'][0]['keypoints'] = data['annotations'][0]['keypoints'][:48]
    data['annotations'][1]['keypoints'][0] = 'x'
    save(ann, data)
    message = problems(config_on(root))
    assert 'the keypoints of 2 annotations are not 51 finite numbers (17 keypoints' in message
    assert '1 (image 1: holds 48 values, expected 51)' in message
    assert "2 (image 1: value 0 is 'x', not a number)" in message


@pytest.mark.parametrize('split', ['train', 'val'])
def test_empty_and_outside_boxes_are_counted_skips(coco, split):
    """Today: silently dropped; in validation still scored as misses."""
    root, ann, data = coco
    data['annotations'][2]['bbox'] = [10, 10, 0, 0]
    data['annotations'][7]['bbox'] = [500, 20, 30, 40]  # right of the 96-px image
    save(ann, data)
    lines = preflight_check(config_on(root), (split, ))
    warning = [line for line in lines if line.startswith('WARNING')]
    assert warning[0].startswith('WARNING annotations.json: dropped 2 persons with empty '
                                 'boxes (zero width or height, or outside the image, after '
                                 'clipping to the image): annotation ids 3, 8')
    assert ('COCOeval still scores them, as missed persons' in warning[0]) == (split == 'val')
    assert '10 persons used' in lines[0]


def test_no_usable_training_person_is_an_error(coco):
    """Today: ``ValueError: need at least one array to concatenate``."""
    root, ann, data = coco
    for a in data['annotations']:
        a['num_keypoints'] = 0
    save(ann, data)
    message = problems(config_on(root))
    assert 'annotations.json holds no usable person for top-down training (of 12 ' \
        'annotations: 0 crowd regions, 12 without labelled keypoints (num_keypoints 0)' in message
    # an evaluation set without persons is an error too (issue #24)
    assert 'annotations.json holds no person to evaluate on ground-truth boxes' in \
        problems(config_on(root), ('val', ))
    # the labelled keypoints behind num_keypoints 0 are pointed out
    data['annotations'][0]['num_keypoints'] = 17
    save(ann, data)
    lines = preflight_check(config_on(root), ('val', ))
    assert any('11 annotations have num_keypoints 0 but labelled keypoints' in x for x in lines)


def test_an_empty_json_object_is_not_an_annotation_file(coco):
    root, ann, _ = coco
    save(ann, {})
    message = problems(config_on(root))
    assert f'annotation file {ann} is not a COCO keypoint annotation file: it needs ' \
        '"images" and "annotations" lists (found: nothing)' in message


def test_invalid_json_names_the_file(coco):
    """Today: ``JSONDecodeError`` without the file's name."""
    root, ann, _ = coco
    with open(ann, 'w') as f:
        f.write('{"images": [1, 2,\n')
    message = problems(config_on(root))
    assert f'annotation file {ann} is not valid JSON: Expecting value at line 2, column 1' \
        in message


def test_ids_that_do_not_resolve(coco):
    root, ann, data = coco
    data['annotations'][3]['image_id'] = 999
    data['annotations'][4]['id'] = data['annotations'][5]['id']
    del data['annotations'][6]['iscrowd']
    data['images'].append(dict(data['images'][0]))
    save(ann, data)
    message = problems(config_on(root))
    assert '1 annotations refer to an image_id that is not in "images": annotation ids 4' \
        in message
    assert 'annotation ids used twice (xtcocotools keeps only the last): 6' in message
    assert 'image ids used twice: 1' in message
    assert '1 annotations have no "iscrowd"' in message


def detections(ids):
    return [dict(image_id=i, category_id=1, bbox=[10, 10, 40, 60], score=0.9) for i in ids]


def test_bbox_file_problems(coco):
    root, ann, data = coco
    image_ids = {img['id'] for img in data['images']}
    path = osp.join(root, 'dets.json')
    # today: KeyError: 1000000785 from xtcocotools
    save(path, detections([1, 2, 1000000785, 1000000786, 1000000785]))
    assert check_bbox_file(path, image_ids, ann) == [
        f'bbox_file dets.json: 3 boxes refer to 2 image ids that are not in the annotation '
        f'file {ann}: 1000000785, 1000000786; use the annotation file the detections were '
        'made for (or kp_plugins.apis.subset_coco_annotations)']
    with open(path, 'w') as f:
        f.write('[{"image_id": 1, ')
    [error] = check_bbox_file(path, image_ids, ann)
    assert error.startswith(f'bbox_file {path} is not valid JSON: ')
    bad = detections([1, 2, 3])
    bad[1]['bbox'][2] = float('nan')
    bad[2]['bbox'][3] = 0
    save(path, bad)
    errors = check_bbox_file(path, image_ids, ann)
    assert 'boxes or scores are not finite numbers: entries #1 (image 2: value 2 is nan)' \
        in errors[0]
    assert '1 person boxes have zero width or height: entries #2 (image 3)' in errors[1]
    save(path, {'image_id': 1})
    assert 'is not a detection file' in check_bbox_file(path, image_ids, ann)[0]


def test_bbox_file_is_checked_for_the_test_split(coco):
    root, ann, _ = coco
    path = osp.join(root, 'dets.json')
    save(path, detections([1, 77]))
    cfg = config_on(root)
    cfg.test_dataloader.dataset.bbox_file = path
    assert 'refer to 1 image ids that are not in the annotation file' in \
        problems(cfg, ('test', ))


def test_codec_and_encoder_must_agree(coco):
    """Today: trains on the encoder's targets and decodes with another grid."""
    root, _, _ = coco
    cfg = config_on(root)
    cfg.model.head.decoder = dict(cfg.model.head.decoder, grid_size=[24, 32])
    message = problems(cfg)
    assert "the model's codec model.head.decoder=dict(type='KPGridLabel', input_size=(96, " \
        "128), grid_size=[24, 32], score_temperature=1.66)" in message
    assert 'train_dataloader.dataset.pipeline[6] (GenerateTarget) encoder=dict(' \
        "type='KPGridLabel', input_size=(96, 128), grid_size=(12, 16), score_temperature=1.66), " \
        "differ in grid_size" \
        in message
    assert 'Define the codec once' in message
    # lists and tuples are the same setting
    cfg = config_on(root)
    cfg.model.head.decoder = dict(cfg.model.head.decoder, grid_size=(12, 16))
    preflight_check(cfg, ('train', ))


def test_head_keypoints_must_match_the_dataset(coco):
    """Today: ``ValueError: logits (8, 16, 192) and target (8, 17, 192)`` at
    the first iteration."""
    root, _, _ = coco
    message = problems(config_on(root, **{'model.head.num_keypoints': 16}))
    assert 'model.head.num_keypoints=16 but train_dataloader.dataset (CocoDataset) has 17 ' \
        'keypoints; set model.head.num_keypoints=17' in message
    # a dataset whose keypoints MMPose's KeypointConverter maps onto the head's
    cfg = config_on(root, **{'model.head.num_keypoints': 16})
    for split in ('train', 'val'):
        cfg[f'{split}_dataloader'].dataset.pipeline.insert(
            1, dict(type='KeypointConverter', num_keypoints=16,
                    mapping=[(i, i) for i in range(16)]))
    assert check_config_consistency(cfg, ('train', 'val')) == []


def write_bytes(path, data: bytes):
    with open(path, 'wb') as f:
        f.write(data)


def test_missing_truncated_and_fake_images(coco):
    """Today: found only when the sampler reaches them."""
    root, _, data = coco
    images = osp.join(root, 'images')
    names = [img['file_name'] for img in data['images']]
    jpeg = open(osp.join(images, names[1]), 'rb').read()
    write_bytes(osp.join(images, names[1]), jpeg[:len(jpeg) // 2])  # truncated JPEG
    write_bytes(osp.join(images, names[2]), b'this is not an image\n')  # text named .jpg
    import os
    os.remove(osp.join(images, names[3]))
    message = problems(config_on(root), ('train', ))
    assert f'1 image files are missing: {osp.join(images, names[3])} (image 4)' in message
    assert f'1 image files are not image files: {osp.join(images, names[2])} (image 3: ' \
        "it starts with b'this is not ')" in message
    assert f'1 image files are truncated or corrupt: {osp.join(images, names[1])} (image 2: ' \
        'OpenCV cannot decode it)' in message


def test_decoding_every_image_is_optional(coco):
    """A JPEG whose header and end marker are intact but whose data is
    garbage passes the quick check and is caught by check_images=True."""
    root, _, data = coco
    path = osp.join(root, 'images', data['images'][0]['file_name'])
    jpeg = open(path, 'rb').read()
    write_bytes(path, jpeg[:20] + bytes(np.random.RandomState(0).randint(0, 255, 3000)
                                        .astype(np.uint8)) + b'\xff\xd9')
    assert image_problem(path) is None
    assert image_problem(path, decode=True) is not None
    preflight_check(config_on(root), ('train', ))
    message = problems(config_on(root), ('train', ), check_images=True)
    assert f'{path} (image 1: ' in message


def test_png_images_are_checked_too(tmp_path):
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, np.zeros((20, 30, 3), np.uint8))
    assert image_problem(path) is None and image_problem(path, decode=True) is None
    data = open(path, 'rb').read()
    write_bytes(path, data[:-20])
    assert image_problem(path)[0] == 'truncated or corrupt'
    # a JPEG cut at 90%, which cv2.imread still reads (the rows it lacks come
    # out grey), lacks its end marker
    jpeg = str(tmp_path / 'a.jpg')
    cv2.imwrite(jpeg, np.random.RandomState(0).randint(0, 255, (200, 300, 3)).astype(np.uint8))
    data = open(jpeg, 'rb').read()
    write_bytes(jpeg, data[:int(len(data) * 0.9)])
    assert cv2.imread(jpeg) is not None
    assert image_problem(jpeg)[0] == 'truncated or corrupt'


def test_every_problem_is_listed_at_once(coco):
    root, ann, data = coco
    data['annotations'][0]['keypoints'][0] = float('inf')
    save(ann, data)
    import os
    os.remove(osp.join(root, 'images', data['images'][5]['file_name']))
    cfg = config_on(root, **{'model.head.num_keypoints': 16})
    message = problems(cfg)
    # 2 problems: the images are checked once the annotation file is valid,
    # and the keypoint count is named once for the train and val sets
    assert 'found 2 problem(s)' in message
    assert 'num_keypoints=16' in message and 'value 0 is inf' in message
    assert message.endswith('nothing was trained or evaluated.')


def test_the_shared_data_passes(coco_trainval):
    """The real data every benchmark and data test uses is clean."""
    lines = preflight_check(config_on(coco_trainval, train='annotations_train.json',
                                      val='annotations_val.json',
                                      **{'train_dataloader.dataset.data_prefix.img': 'images/'}),
                            ('train', 'val'), check_images=True)
    assert lines[0] == ('annotations_train.json: 86 images, 284 annotations: 215 persons '
                        'used, 4 crowd regions, 65 persons without labelled keypoints')


# --------------------------------------------------------------------------
# issue #24: images that are not the image of their entry, implausible
# annotations, empty evaluation sets, ids that do not match
# --------------------------------------------------------------------------

def write_jpeg(path, width, height, orientation=None):
    """A noise JPEG of ``width`` x ``height`` stored pixels, with an EXIF
    orientation tag if given (PIL writes it; cv2 honours it when reading)."""
    from PIL import Image
    pixels = np.random.RandomState(1).randint(0, 255, (height, width, 3)).astype(np.uint8)
    image = Image.fromarray(pixels)
    if orientation is None:
        image.save(path, quality=90)
        return
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, quality=90, exif=exif.tobytes())


def test_an_image_that_is_not_the_size_of_its_entry_is_an_error(coco):
    """Today: trains on the wrong crops without a word. Entries say 96x128
    (w x h)."""
    root, _, data = coco
    images = osp.join(root, 'images')
    names = [img['file_name'] for img in data['images']]
    write_jpeg(osp.join(images, names[0]), 128, 96)  # width and height swapped
    write_jpeg(osp.join(images, names[1]), 96, 128, orientation=6)  # turned on loading
    write_jpeg(osp.join(images, names[2]), 64, 64)  # another image under its name
    write_jpeg(osp.join(images, names[3]), 128, 96, orientation=8)  # turned to 96x128: right
    # the independent oracle: OpenCV (MMPose's LoadImage) turns the EXIF-tagged files
    assert cv2.imread(osp.join(images, names[1])).shape == (96, 128, 3)
    assert cv2.imread(osp.join(images, names[3])).shape == (128, 96, 3)
    message = problems(config_on(root), ('train', ))
    assert 'found 1 problem(s)' in message
    assert ('train_dataloader.dataset (annotations.json): 3 image files are not the size '
            'their annotation gives (the loader would crop other pixels than the keypoints '
            'were placed on): ') in message
    assert (f'{images}/{names[0]} (image 1: the file is 128x96, the annotation says 96x128: '
            'width and height swapped?)') in message
    assert (f'{images}/{names[1]} (image 2: the file is 128x96 as loaded (stored 96x128; its '
            'EXIF orientation 6 turns it by 90 degrees when OpenCV reads it), the annotation '
            'says 96x128: the loaders turn it against its keypoints') in message
    assert (f'{images}/{names[2]} (image 3: the file is 64x64, the annotation says 96x128: '
            'another image under this name, or a resized copy?)') in message
    assert names[3] not in message


def bad(data, index, **fields):
    data['annotations'][index].update(fields)


@pytest.mark.parametrize('case,expected', [
    ('visibility', 'annotations.json: the keypoint visibility of 1 annotations is not 0, 1 '
     'or 2 (0: not labelled, 1: labelled but hidden, 2: visible; MMPose uses it as the '
     "keypoint's loss weight, so -1 gives a negative loss): annotation ids 3 (image 2: "
     'keypoint 1 has v = -1)'),
    ('area0', 'annotations.json: the area of 2 annotations is zero or negative for labelled '
     'persons (COCOeval and the OKS losses divide by it: a wrong AP, an infinite loss); set '
     "it to the person's area in pixels (MMPose's own fallback is 0.53 x box area): "
     'annotation ids 3 (image 2: 0), 4 (image 2: -12.5)'),
    ('category', 'annotations.json: 1 annotations with a box and labelled keypoints have a '
     'category_id other than 1, the person category: annotation ids 5 (category_id 2); '
     "MMPose's CocoDataset reads every annotation of an image as a person"),
    ('normalized', 'annotations.json: the labelled keypoints of 12 persons all lie within '
     '0-1: annotation ids 1, 2, 3, 4, 5 (and 7 more); keypoints given as fractions of the '
     'image instead of pixels?'),
    ('xyxy', 'fit their keypoints only when read as x1, y1, x2, y2 (as x, y, w, h they reach '
     'far beyond the keypoints)'),
], ids=['visibility', 'area0', 'category', 'normalized', 'xyxy'])
def test_impossible_annotations_are_errors(coco, case, expected):
    """Today: v = -1 is a keypoint weight of -1 (a negative loss), area <= 0
    a division by ~0 in COCOeval, a non-person category trains as a person,
    0-1 keypoints and x1, y1, x2, y2 boxes train on garbage."""
    root, ann, data = coco
    if case == 'visibility':
        data['annotations'][2]['keypoints'][5] = -1
    elif case == 'area0':
        bad(data, 2, area=0)
        bad(data, 3, area=-12.5)
    elif case == 'category':
        bad(data, 4, category_id=2)
    elif case == 'normalized':
        for a in data['annotations']:
            k = a['keypoints']
            a['keypoints'] = [v / (96 if i % 3 == 0 else 128 if i % 3 == 1 else 1)
                              for i, v in enumerate(k)]
    elif case == 'xyxy':
        for a in data['annotations']:
            x, y, w, h = a['bbox']
            a['bbox'] = [x, y, x + w, y + h]
    save(ann, data)
    for split in ('train', 'val'):
        message = problems(config_on(root), (split, ))
        assert expected in message, message


def test_a_few_suspicious_persons_are_counted_warnings(coco):
    """Keypoints far outside their own box and boxes past the image edge
    (MMPose clips them): a few are warned about, most of a file is an error."""
    root, ann, data = coco
    x, y, w, h = data['annotations'][0]['bbox']
    data['annotations'][0]['keypoints'][0] = x + w + max(w, h) + 5  # beyond a box size
    x, y, w, h = data['annotations'][1]['bbox']
    data['annotations'][1]['bbox'] = [x, y, w + 50, h]  # 50 px past the right edge
    save(ann, data)
    lines = preflight_check(config_on(root), ('train', ))
    assert lines[1:] == [
        'WARNING annotations.json: 1 of 12 persons have labelled keypoints further than a '
        'box size outside their own box: annotation ids 1; the keypoints and the box of '
        'different persons, or in different units (keypoints in 0-1 instead of pixels, boxes '
        'written as x1, y1, x2, y2 instead of x, y, w, h)?',
        'WARNING annotations.json: 1 of 12 persons have boxes that reach more than 1 px past '
        'the image edge (MMPose clips them to the image): annotation ids 2; a wrong image '
        'width/height, or boxes of a resized image?']
    # most persons past the edge: the file's format, an error
    for a in data['annotations']:
        a['bbox'][2] += 100
    save(ann, data)
    assert 'annotations.json: 12 of 12 persons have boxes that reach more than 1 px past ' \
        'the image edge' in problems(config_on(root), ('train', ))


def only_crowd(data):
    for a in data['annotations']:
        a['iscrowd'] = 1


def test_an_evaluation_set_with_nobody_to_evaluate_is_an_error(coco):
    """Today: ``ValueError: need at least one array to concatenate`` after
    the model ran."""
    root, ann, data = coco
    only_crowd(data)
    save(osp.join(root, 'crowd.json'), data)
    message = problems(config_on(root, val='crowd.json'), ('test', ))
    assert 'crowd.json holds no person to evaluate on ground-truth boxes (of 12 annotations: ' \
        '12 crowd regions, 0 without labelled keypoints, 0 with empty boxes)' in message
    # detections: none of the person category, or none above the threshold
    path = osp.join(root, 'dets.json')
    dets = detections([1, 2, 3])
    dets[0]['category_id'] = 2
    save(path, dets)
    cfg = config_on(root)
    cfg.test_dataloader.dataset.bbox_file = path
    cfg.test_dataloader.dataset.filter_cfg = dict(bbox_score_thr=0.95)
    assert ('bbox_file dets.json leaves no person box to evaluate: of 3 detections, 1 are '
            'not persons (category_id other than 1; MMPose keeps persons only), 2 person '
            'boxes score below bbox_score_thr=0.95 (the highest person score is '
            '0.9); nothing would be evaluated') in problems(cfg, ('test', ))
    cfg.test_dataloader.dataset.filter_cfg = dict(bbox_score_thr=0.5)
    preflight_check(cfg, ('test', ))


def test_image_ids_must_be_integers(coco):
    root, ann, data = coco
    for img in data['images']:
        img['id'] = f'{img["id"]:06d}'
    for a in data['annotations']:
        a['image_id'] = f'{a["image_id"]:06d}'
    save(ann, data)
    assert "annotations.json: 6 image ids are not integers: '000001', '000002', '000003', " \
        "'000004', '000005' (and 1 more); COCO image ids are integers" in \
        problems(config_on(root), ('test', ))


def test_the_evaluator_must_score_the_datasets_images(coco):
    """Today: ``AssertionError: Results do not correspond to current coco
    set`` after the whole inference pass, or missed persons in the AP."""
    root, ann, data = coco
    other = json.loads(json.dumps(data))
    other['images'] = other['images'][:4]
    other['annotations'] = [a for a in other['annotations'] if a['image_id'] <= 4]
    save(osp.join(root, 'four.json'), other)
    cfg = config_on(root)
    cfg.test_evaluator.ann_file = osp.join(root, 'four.json')
    message = problems(cfg, ('test', ))
    assert (f'test_evaluator.ann_file={root}/four.json lacks 2 image ids of the dataset that '
            'the model will predict: 5, 6; CocoMetric would stop after the whole inference '
            'pass ("Results do not correspond to current coco set")') in message
    cfg = config_on(root, val='four.json')
    cfg.test_evaluator.ann_file = ann
    assert (f'test_evaluator.ann_file={ann} scores persons in 2 images the dataset does not '
            'hold: image ids 5, 6; they would count as missed persons') in \
        problems(cfg, ('test', ))


def test_images_are_checked_with_a_bbox_file(coco):
    """Today: the missing image stops the run at the batch that needs it."""
    root, _, data = coco
    import os
    os.remove(osp.join(root, 'images', data['images'][1]['file_name']))
    path = osp.join(root, 'dets.json')
    save(path, detections([2, 3]))
    cfg = config_on(root)
    cfg.test_dataloader.dataset.bbox_file = path
    assert f"1 image files are missing: {root}/images/000002.jpg (image 2)" in \
        problems(cfg, ('test', ))
    save(path, detections([3]))  # an image without detections is not read
    preflight_check(cfg, ('test', ))
