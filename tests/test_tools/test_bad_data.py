"""What a user sees from tools/train.py and tools/test.py with bad input
(the table of issue #17), on a tiny COCO set made in a temp dir: an
``error: ...`` naming the file, the ids and what to change, before anything
is built or trained (run in this process: the tools stop before the
Runner)."""
import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from helpers import tiny_run_options, write_tiny_coco

CONFIG = osp.join(REPO_ROOT, 'configs', 'grid_effl0_128x96.py')


@pytest.fixture
def data(tmp_path):
    root = tmp_path / 'data'
    ann = write_tiny_coco(root, num_images=4)
    with open(ann) as f:
        return root, ann, json.load(f)


def save(path, coco):
    with open(path, 'w') as f:
        json.dump(coco, f)


def run_tool(name, args, monkeypatch) -> str:
    """Run tools/<name> in this process; return the message it exits with."""
    monkeypatch.setattr(sys, 'argv', [name, *args])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', name), run_name='__main__')
    return str(info.value.code)


def train(root, tmp_path, monkeypatch, *extra, options=()) -> str:
    work = tmp_path / 'work'
    message = run_tool('train.py', [CONFIG, '--work-dir', str(work), *extra,
                                    '--cfg-options', *tiny_run_options(root), *options],
                       monkeypatch)
    assert not work.exists() or not any(work.glob('*.pth')), 'it trained'
    return message


def test_nan_keypoint_in_training_annotations(data, tmp_path, monkeypatch):
    root, ann, coco = data
    coco['annotations'][2]['keypoints'][6] = float('nan')
    save(ann, coco)
    message = train(root, tmp_path, monkeypatch)
    assert message.startswith('error: the data check before training/testing found 1 '
                              'problem(s):\n  - annotations.json: the keypoints of 1 '
                              'annotations are not 51 finite numbers')
    assert 'annotation ids 3 (image 3: value 6 is nan); fix or remove these annotations' \
        in message


def test_nan_keypoint_in_validation_annotations(data, tmp_path, monkeypatch):
    root, ann, coco = data
    coco['annotations'][0]['keypoints'][0] = float('nan')
    save(osp.join(root, 'val.json'), coco)
    message = train(root, tmp_path, monkeypatch, options=[
        'val_dataloader.dataset.ann_file=val.json', f'val_evaluator.ann_file={root}/val.json'])
    assert 'val.json: the keypoints of 1 annotations' in message
    # --no-validate does not read the validation set (0 epochs: nothing to train)
    monkeypatch.setattr(sys, 'argv', [
        'train.py', CONFIG, '--work-dir', str(tmp_path / 'w0'), '--no-validate',
        '--cfg-options', *tiny_run_options(root), 'val_dataloader.dataset.ann_file=val.json',
        'train_cfg.max_epochs=0'])
    runpy.run_path(osp.join(REPO_ROOT, 'tools', 'train.py'), run_name='__main__')


def test_codec_and_encoder_mismatch(data, tmp_path, monkeypatch):
    root, _, _ = data
    message = train(root, tmp_path, monkeypatch,
                    options=['model.head.decoder.grid_size=[24,32]'])
    assert 'differ in grid_size: the head would learn targets of one codec and decode ' \
        'them with another' in message


def test_head_keypoints_mismatch(data, tmp_path, monkeypatch):
    root, _, _ = data
    message = train(root, tmp_path, monkeypatch, options=['model.head.num_keypoints=16'])
    assert 'model.head.num_keypoints=16 but train_dataloader.dataset (CocoDataset) has 17 ' \
        'keypoints; set model.head.num_keypoints=17' in message


@pytest.mark.parametrize('content,expected', [
    ('{}', 'is not a COCO keypoint annotation file: it needs "images" and "annotations" '
     'lists (found: nothing)'),
    ('{"images": [', 'is not valid JSON: Expecting value at line 1, column 13'),
], ids=['empty-object', 'invalid-json'])
def test_unusable_annotation_file(data, tmp_path, monkeypatch, content, expected):
    root, ann, _ = data
    with open(ann, 'w') as f:
        f.write(content)
    message = train(root, tmp_path, monkeypatch)
    assert f'annotation file {ann} {expected}' in message


def test_no_usable_training_person(data, tmp_path, monkeypatch):
    root, ann, coco = data
    for a in coco['annotations']:
        a['num_keypoints'] = 0
    save(ann, coco)
    assert 'annotations.json holds no usable person for top-down training' in \
        train(root, tmp_path, monkeypatch)


def test_missing_and_broken_images(data, tmp_path, monkeypatch):
    root, _, coco = data
    images = root / 'images'
    os.remove(images / coco['images'][0]['file_name'])
    (images / coco['images'][1]['file_name']).write_text('not a JPEG')
    jpeg = images / coco['images'][2]['file_name']
    jpeg.write_bytes(jpeg.read_bytes()[:500])
    message = train(root, tmp_path, monkeypatch)
    assert f'1 image files are missing: {images}/000001.jpg (image 1)' in message
    assert f"1 image files are not image files: {images}/000002.jpg (image 2: it starts " \
        "with b'not a JPEG')" in message
    assert f'1 image files are truncated or corrupt: {images}/000003.jpg (image 3: ' in message


def garbage_jpeg(path):
    """A JPEG with intact start and end markers but garbage in between: it
    passes the quick image check and fails to decode."""
    head = path.read_bytes()[:20]
    path.write_bytes(head + bytes(np.random.RandomState(0).randint(0, 255, 4000)
                                  .astype(np.uint8)) + b'\xff\xd9')


def test_undecodable_image_found_by_check_images(data, tmp_path, monkeypatch):
    root, _, coco = data
    garbage_jpeg(root / 'images' / coco['images'][3]['file_name'])
    message = train(root, tmp_path, monkeypatch, '--check-images')
    assert f"1 image files are truncated or corrupt: {root}/images/000004.jpg (image 4: " \
        in message


def test_undecodable_image_stops_training(data, tmp_path, monkeypatch):
    """The policy for an image that cannot be read during training: stop,
    naming the file (MMPose's LoadImage raises; nothing is skipped)."""
    root, _, coco = data
    garbage_jpeg(root / 'images' / coco['images'][1]['file_name'])
    monkeypatch.setattr(sys, 'argv', ['train.py', CONFIG, '--work-dir', str(tmp_path / 'w'),
                                      '--cfg-options', *tiny_run_options(root),
                                      'train_cfg.max_epochs=1'])
    with pytest.raises(Exception) as info:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', 'train.py'), run_name='__main__')
    assert f'{root}/images/000002.jpg' in str(info.value)
    assert not list((tmp_path / 'w').glob('*.pth'))


@pytest.fixture
def text_checkpoint(tmp_path):
    path = tmp_path / 'model.pth'
    path.write_text('<html>404 Not Found</html>\n')
    return str(path)


def test_text_file_as_checkpoint(data, tmp_path, monkeypatch, text_checkpoint):
    """Today: ``UnpicklingError ... weights_only=False will likely succeed``."""
    root, _, _ = data
    expected = (f'{text_checkpoint} is not a PyTorch checkpoint: it is a text file (it '
                "starts with b'<html>404 Not Fo'); torch.save writes a zip archive. Pass "
                'the .pth file training saved')
    message = run_tool('test.py', [CONFIG, text_checkpoint, '--work-dir', str(tmp_path / 'w'),
                                   '--cfg-options', *tiny_run_options(root)], monkeypatch)
    assert message.startswith(f'error: checkpoint: {expected}')
    assert train(root, tmp_path, monkeypatch, '--resume', text_checkpoint).startswith(
        f'error: --resume: {expected}')
    assert train(root, tmp_path, monkeypatch, options=[f'load_from={text_checkpoint}']) \
        .startswith(f'error: load_from: {expected}')


def test_bbox_file_with_unknown_image_ids(data, tmp_path, monkeypatch):
    """Today: ``KeyError: 1000000785`` from xtcocotools."""
    root, ann, _ = data
    dets = root / 'dets.json'
    save(dets, [dict(image_id=i, category_id=1, bbox=[5, 5, 40, 60], score=0.9)
                for i in (1, 1000000785)])
    checkpoint = tmp_path / 'real.pth'
    torch.save({'state_dict': {}}, checkpoint)
    args = [CONFIG, str(checkpoint), '--work-dir', str(tmp_path / 'w'), '--cfg-options',
            *tiny_run_options(root), f'test_dataloader.dataset.bbox_file={dets}']
    message = run_tool('test.py', args, monkeypatch)
    assert f'bbox_file dets.json: 1 boxes refer to 1 image ids that are not in the ' \
        f'annotation file {ann}: 1000000785' in message
    dets.write_text('[{"image_id": 1,')
    assert f'bbox_file {dets} is not valid JSON' in run_tool('test.py', args, monkeypatch)


# --------------------------------------------------------------------------
# issue #24
# --------------------------------------------------------------------------

def test_an_image_turned_by_its_exif_tag_stops_training(data, tmp_path, monkeypatch):
    """An EXIF-rotated JPEG that the loaders turn by 90 degrees against its
    annotation: an error naming the file, nothing trained."""
    from PIL import Image
    root, _, coco = data
    path = root / 'images' / coco['images'][0]['file_name']
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(path).save(path, exif=exif.tobytes())
    message = train(root, tmp_path, monkeypatch)
    assert f'1 image files are not the size their annotation gives (the loader would crop ' \
        f'other pixels than the keypoints were placed on): {path} (image 1: the file is ' \
        '128x96 as loaded (stored 96x128; its EXIF orientation 6 turns it by 90 degrees ' \
        'when OpenCV reads it), the annotation says 96x128' in message


def test_a_negative_visibility_stops_training(data, tmp_path, monkeypatch):
    root, ann, coco = data
    coco['annotations'][1]['keypoints'][2] = -1
    save(ann, coco)
    assert 'the keypoint visibility of 1 annotations is not 0, 1 or 2' in \
        train(root, tmp_path, monkeypatch)


def run_test_py(root, tmp_path, monkeypatch, *options) -> str:
    checkpoint = tmp_path / 'real.pth'
    torch.save({'state_dict': {}}, checkpoint)
    return run_tool('test.py', [CONFIG, str(checkpoint), '--work-dir', str(tmp_path / 'w'),
                                '--cfg-options', *tiny_run_options(root), *options],
                    monkeypatch)


def test_an_evaluation_set_of_crowds_stops_before_the_model_runs(data, tmp_path, monkeypatch,
                                                                  capsys):
    """Today: ``ValueError: need at least one array to concatenate``."""
    root, ann, coco = data
    for a in coco['annotations']:
        a['iscrowd'] = 1
    save(ann, coco)
    message = run_test_py(root, tmp_path, monkeypatch)
    assert 'annotations.json holds no person to evaluate on ground-truth boxes (of 4 ' \
        'annotations: 4 crowd regions' in message
    assert 'coco/AP' not in capsys.readouterr().out


def test_an_evaluator_of_other_images_stops_before_the_model_runs(data, tmp_path, monkeypatch):
    """Today: ``AssertionError: Results do not correspond to current coco
    set`` after the whole inference pass."""
    root, ann, coco = data
    coco['images'] = coco['images'][:2]
    coco['annotations'] = coco['annotations'][:2]
    save(root / 'two.json', coco)
    message = run_test_py(root, tmp_path, monkeypatch, f'test_evaluator.ann_file={root}/two.json')
    assert f'test_evaluator.ann_file={root}/two.json lacks 2 image ids of the dataset that ' \
        'the model will predict: 3, 4' in message


@pytest.mark.parametrize('tool,args', [
    ('detect_persons.py', ['{ann}', '--img-root', '{images}', '--out', '{tmp}/dets.json',
                           '--ultralytics', '{tmp}/never_loaded.pt']),
    ('test_yolo.py', ['--gt-as-pred', '--ann-file', '{ann}', '--img-dir', '{images}',
                      '--work-dir', '{tmp}/w']),
    ('coco2yolo.py', ['--train', '{ann}', '--img-dir', '{images}', '--out', '{tmp}/yolo']),
])
def test_every_tool_that_reads_annotations_checks_them(data, tmp_path, monkeypatch, capsys,
                                                        tool, args):
    """The same pre-flight check as tools/train.py and tools/test.py, before
    any model or conversion runs: a NaN keypoint and an image whose width and
    height are swapped against its entry."""
    import cv2
    root, ann, coco = data
    coco['annotations'][1]['keypoints'][0] = float('nan')
    save(ann, coco)
    images = root / 'images'
    cv2.imwrite(str(images / '000003.jpg'), np.zeros((96, 128, 3), np.uint8))
    fill = dict(ann=ann, images=images, tmp=tmp_path)
    message = run_tool(tool, [a.format(**fill) for a in args], monkeypatch)
    assert message.startswith('error: the data check before training/testing found 1 '
                              'problem(s):\n  - annotations.json: the keypoints of 1 '
                              'annotations are not finite numbers: annotation ids 2 (image '
                              '2: value 0 is nan)'), message
    coco['annotations'][1]['keypoints'][0] = 10.0
    save(ann, coco)
    message = run_tool(tool, [a.format(**fill) for a in args], monkeypatch)
    assert '1 image files are not the size their annotation gives' in message
    assert f'{images}/000003.jpg (image 3: the file is 128x96, the annotation says ' \
        '96x128: width and height swapped?)' in message
    assert not (tmp_path / 'dets.json').exists() and not (tmp_path / 'yolo').exists()
    assert 'coco/AP' not in capsys.readouterr().out
