"""The tools on a bottom-up (YOLOXPoseHead) checkpoint: tools/export_onnx.py
writes the file, tools/demo.py --backend onnxruntime draws the persons
MMPose's inference_bottomup finds, tools/test_onnx.py scores it like
tools/test.py scores the checkpoint (same AP, same persons per image)."""
import json
import pickle

import numpy as np
import pytest
from bottomup_testing import build_yolo, make_images, match_persons, save_checkpoint

from helpers import run_tool, tiny_run_options, tool, write_tiny_coco

pytest.importorskip('onnxruntime', reason='deploy extra (onnxruntime) not installed')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """(config, checkpoint, onnx file, export stdout)."""
    tmp = tmp_path_factory.mktemp('bottomup_tools')
    model = build_yolo(tmp)
    cfg, ckpt, onnx_file = model.cfg.filename, str(tmp / 'yolo.pth'), str(tmp / 'yolo.onnx')
    save_checkpoint(model, ckpt)
    res = run_tool([tool('export_onnx.py'), cfg, ckpt, '--out', onnx_file])
    assert res.returncode == 0, res.stdout[-3000:]
    return cfg, ckpt, onnx_file, res.stdout


def test_export_tool_reports_a_bottom_up_file(exported):
    out = exported[3]
    assert 'bottom-up YOLOXPoseHead' in out and '1344 candidates per image' in out, out
    line = [ln for ln in out.splitlines() if 'onnxruntime vs torch' in ln][0]
    diffs = dict(part.strip().split(' ') for part in line.split(': ', 1)[1].split(','))
    assert float(diffs['bbox_scores']) < 1e-5, line


def test_demo_draws_the_onnx_persons(exported, tmp_path):
    import cv2
    from mmpose.apis import inference_bottomup, init_model
    cfg, ckpt, onnx_file, _ = exported
    image = str(tmp_path / 'image.png')  # lossless: both read the same pixels
    cv2.imwrite(image, make_images([(300, 200)])[0])
    ref = inference_bottomup(init_model(cfg, ckpt, device='cpu'), image)[0].pred_instances
    # --bbox-thr in a gap of more than 3e-4 between two scores: drops about half
    scores = np.sort(ref.bbox_scores)
    gaps = np.diff(scores)
    mid = len(scores) // 2 + int(np.argmax(gaps[len(scores) // 2:] > 3e-4))
    thr = float((scores[mid] + scores[mid + 1]) / 2)
    keep = ref.bbox_scores >= thr
    res = run_tool([tool('demo.py'), cfg, onnx_file, image, '--out-dir', str(tmp_path / 'out'),
                    '--backend', 'onnxruntime', '--bbox-thr', repr(thr)])
    assert res.returncode == 0, res.stdout[-3000:]
    record = json.loads((tmp_path / 'out' / 'image.json').read_text())
    assert record['boxes_from'] == 'bottom-up model' and record['backend'] == 'onnxruntime'
    assert (tmp_path / 'out' / 'image.png').is_file()
    persons = record['persons']
    assert 0 < len(persons) == int(keep.sum()) < len(keep)  # --bbox-thr drops some
    boxes = np.array([p['bbox'] for p in persons])
    match = match_persons(ref.bboxes[keep], boxes)
    # the JSON rounds to 0.01 px and 1e-5
    np.testing.assert_allclose(boxes[match], ref.bboxes[keep], atol=0.02)
    np.testing.assert_allclose(np.array([p['keypoints'] for p in persons])[match],
                               ref.keypoints[keep], atol=0.02)
    np.testing.assert_allclose(np.array([p['bbox_score'] for p in persons])[match],
                               ref.bbox_scores[keep], atol=2e-5)


def test_test_onnx_scores_like_tools_test(exported, tmp_path):
    """tools/test.py (torch, batch 1) and tools/test_onnx.py (onnxruntime,
    batches of 4) on the same tiny COCO set: the same AP / AR and per image
    the same persons."""
    cfg, ckpt, onnx_file, _ = exported
    root = tmp_path / 'coco'
    ann = write_tiny_coco(root, num_images=5, size=(160, 120), persons=2)
    # an image without persons is scored too (false positives count)
    data = json.loads(open(ann).read())
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 5]
    open(ann, 'w').write(json.dumps(data))
    res = run_tool([tool('test.py'), cfg, ckpt, '--work-dir', str(tmp_path / 'work'),
                    '--dump', str(tmp_path / 'torch.pkl'), '--out', str(tmp_path / 'torch.json'),
                    '--cfg-options', *tiny_run_options(str(root), batch_size=1)])
    assert res.returncode == 0, res.stdout[-3000:]
    res = run_tool([tool('test_onnx.py'), onnx_file, '--ann-file', ann,
                    '--img-dir', str(root / 'images'), '--batch-size', '4',
                    '--dump', str(tmp_path / 'onnx.pkl'), '--out', str(tmp_path / 'onnx.json')])
    assert res.returncode == 0, res.stdout[-3000:]
    assert 'bottom-up YOLOXPoseHead' in res.stdout, res.stdout
    want = json.loads((tmp_path / 'torch.json').read_text())
    got = json.loads((tmp_path / 'onnx.json').read_text())
    for key in ('coco/AP', 'coco/AP .5', 'coco/AR', 'coco/AR .5'):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
    with open(tmp_path / 'torch.pkl', 'rb') as f:
        torch_preds = {p['img_id']: p['pred_instances'] for p in pickle.load(f)}
    with open(tmp_path / 'onnx.pkl', 'rb') as f:
        onnx_preds = {p['img_id']: p['pred_instances'] for p in pickle.load(f)}
    assert sorted(torch_preds) == sorted(onnx_preds) == [1, 2, 3, 4, 5]
    total = 0
    for img_id, ref in torch_preds.items():
        pred = onnx_preds[img_id]
        match = match_persons(np.asarray(ref['bboxes']), pred['bboxes'])
        np.testing.assert_allclose(pred['keypoints'][match], ref['keypoints'], atol=1e-2)
        np.testing.assert_allclose(pred['bbox_scores'][match], ref['bbox_scores'], atol=1e-4)
        total += len(match)
    assert total >= 5
    res = run_tool([tool('test_onnx.py'), onnx_file, '--ann-file', ann,
                    '--img-dir', str(root / 'images'), '--bbox-file', ann])
    assert res.returncode != 0 and 'finds the persons itself' in res.stdout
