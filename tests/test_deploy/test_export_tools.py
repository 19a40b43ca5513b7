"""tools/export_onnx.py, tools/demo.py --backend onnxruntime and
tools/test_onnx.py against their torch counterparts."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT
from deploy_testing import TOPDOWN_CONFIGS, briefly_train, build_model
from helpers import run_tool, shared_coco_options

pytest.importorskip('onnxruntime', reason='deploy extra (onnxruntime) not installed')

QUICKSTART = osp.join(REPO_ROOT, 'configs', 'quickstart.py')


def save_checkpoint(model, path):
    """A checkpoint as MMEngine's CheckpointHook writes its essentials."""
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=model.dataset_meta)), str(path))
    return str(path)


@pytest.fixture(scope='module')
def quickstart_ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('quickstart')
    model = build_model(QUICKSTART)
    briefly_train(model, cache_dir=str(tmp / 'synthetic'))
    return save_checkpoint(model, tmp / 'quickstart.pth')


@pytest.fixture(scope='module')
def quickstart_onnx(quickstart_ckpt, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('onnx') / 'quickstart.onnx')
    res = run_tool(['tools/export_onnx.py', QUICKSTART, quickstart_ckpt, '--out', out])
    assert res.returncode == 0, res.stdout
    assert 'onnx.checker passed' in res.stdout and 'flip test is not in the graph' in res.stdout
    # exported in the inference form, as mmdeploy does (the grid head's
    # BatchNorm folded; the demo test below compares it with the torch model)
    assert 'module head has been switched to deploy mode' in res.stdout, res.stdout
    line = [x for x in res.stdout.splitlines() if 'max |difference|' in x][0]
    diffs = [float(v.rstrip(',')) for v in line.split(':')[-1].split()[1::2]]
    assert max(diffs) < 1e-3, line
    return out


def test_demo_onnxruntime_draws_what_the_torch_demo_draws(quickstart_ckpt, quickstart_onnx,
                                                          tmp_path):
    import cv2

    from kp_plugins.datasets.synthetic_people import render_image
    image, _ = render_image(np.random.default_rng(5), (320, 240), 3, 3)
    img_path = str(tmp_path / 'people.png')
    cv2.imwrite(img_path, image)
    boxes = tmp_path / 'boxes.json'  # three persons of different shapes
    boxes.write_text(json.dumps([
        dict(image_id=1, category_id=1, bbox=b, score=0.9)
        for b in ([20, 30, 80, 160], [150, 20, 60, 200], [100, 120, 200, 100])]))
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(dict(images=[dict(id=1, file_name='people.png')])))
    common = [img_path, '--det', 'bbox-file', '--bbox-file', str(boxes), '--bbox-ann', str(ann),
              '--bbox-thr', '0']
    torch_args = ['tools/demo.py', QUICKSTART, quickstart_ckpt, *common, '--out-dir',
                  str(tmp_path / 'torch'), '--cfg-options', 'model.test_cfg.flip_test=False']
    torch_run = run_tool(torch_args + ['--kpt-thr', '0'])
    assert torch_run.returncode == 0, torch_run.stdout
    # draw at a threshold among the middle scores (in the widest gap there,
    # away from any score): some keypoints and links shown, some hidden
    scores = np.sort([s for p in json.loads((tmp_path / 'torch' / 'people.json').read_text())
                      ['persons'] for s in p['keypoint_scores']])
    middle = scores[len(scores) // 4:3 * len(scores) // 4]
    gap = int(np.argmax(np.diff(middle)))
    threshold = str(float(middle[gap] + middle[gap + 1]) / 2)
    common += ['--kpt-thr', threshold]
    torch_run = run_tool(torch_args + ['--kpt-thr', threshold])
    assert torch_run.returncode == 0, torch_run.stdout
    ort_run = run_tool(['tools/demo.py', QUICKSTART, quickstart_onnx, *common, '--out-dir',
                        str(tmp_path / 'ort'), '--backend', 'onnxruntime'])
    assert ort_run.returncode == 0, ort_run.stdout
    assert '3 person(s)' in ort_run.stdout
    got = json.loads((tmp_path / 'ort' / 'people.json').read_text())['persons']
    want = json.loads((tmp_path / 'torch' / 'people.json').read_text())['persons']
    assert len(got) == len(want) == 3
    for g, w in zip(got, want):
        assert g['bbox'] == w['bbox']
        # the JSON rounds to 0.01 px / 1e-5
        assert np.abs(np.array(g['keypoints']) - np.array(w['keypoints'])).max() <= 0.011
        assert np.abs(np.array(g['keypoint_scores']) -
                      np.array(w['keypoint_scores'])).max() <= 1e-4
    drawn_ort = cv2.imread(str(tmp_path / 'ort' / 'people.png'))
    drawn_torch = cv2.imread(str(tmp_path / 'torch' / 'people.png'))
    assert not np.array_equal(drawn_torch, image)  # skeletons were drawn
    assert (drawn_ort != drawn_torch).any(axis=-1).mean() < 1e-3


@pytest.mark.slow
def test_onnx_metrics_equal_tools_test_on_synthetic_data(quickstart_ckpt, quickstart_onnx,
                                                         tmp_path):
    """tools/test.py (flip test off) and tools/test_onnx.py on the same COCO
    file: equal per-person keypoints and equal CocoMetric numbers."""
    cache = str(tmp_path / 'synthetic')
    opts = [f'test_dataloader.dataset.cache_dir={cache}', 'test_dataloader.dataset.num_images=8',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            'model.test_cfg.flip_test=False']
    dump = str(tmp_path / 'preds.pkl')
    res = run_tool(['tools/test.py', QUICKSTART, quickstart_ckpt, '--work-dir',
                    str(tmp_path / 'work'), '--out', str(tmp_path / 'torch.json'),
                    '--dump', dump, '--cfg-options', *opts])
    assert res.returncode == 0, res.stdout[-3000:]
    from kp_plugins.datasets.synthetic_people import synthetic_ann_file
    ann = synthetic_ann_file('val', cache_dir=cache, num_images=8)
    split = osp.basename(osp.dirname(ann))
    ort_dump = str(tmp_path / 'ort_preds.pkl')
    res = run_tool(['tools/test_onnx.py', quickstart_onnx, '--ann-file', ann, '--img-dir',
                    osp.join(cache, split, 'images') + '/', '--out', str(tmp_path / 'ort.json'),
                    '--dump', ort_dump])
    assert res.returncode == 0, res.stdout[-3000:]
    torch_metrics = json.loads((tmp_path / 'torch.json').read_text())
    ort_metrics = json.loads((tmp_path / 'ort.json').read_text())
    for key in ('coco/AP', 'coco/AP .5', 'coco/AR'):
        assert round(ort_metrics[key], 3) == round(torch_metrics[key], 3), key
    preds = []
    for path in (dump, ort_dump):
        with open(path, 'rb') as f:
            preds.append({p['id']: p['pred_instances'] for p in pickle.load(f)})
    torch_preds, ort_preds = preds
    assert len(torch_preds) > 8 and sorted(torch_preds) == sorted(ort_preds)
    for pid, want in torch_preds.items():
        got = ort_preds[pid]
        # 1e-3 input pixels: crops of 256x256 images are at most ~3x the input
        assert np.abs(np.asarray(got['keypoints']) - np.asarray(want['keypoints'])).max() < 4e-3
        assert np.abs(np.asarray(got['keypoint_scores']) -
                      np.asarray(want['keypoint_scores'])).max() < 1e-4


@pytest.mark.slow
def test_onnx_ap_equals_tools_test_on_coco(coco_trainval, tmp_path):
    """The acceptance check on the real COCO subset (ground-truth boxes)."""
    model = build_model(TOPDOWN_CONFIGS['KPBBoxHead'])
    briefly_train(model, cache_dir=str(tmp_path / 'synthetic'))
    config = TOPDOWN_CONFIGS['KPBBoxHead']
    ckpt = save_checkpoint(model, tmp_path / 'bbox.pth')
    onnx_file = str(tmp_path / 'bbox.onnx')
    assert run_tool(['tools/export_onnx.py', config, ckpt, '--out', onnx_file]).returncode == 0
    res = run_tool(['tools/test.py', config, ckpt, '--work-dir', str(tmp_path / 'work'),
                    '--out', str(tmp_path / 'torch.json'), '--cfg-options',
                    *shared_coco_options(coco_trainval, splits=('test', )),
                    'model.test_cfg.flip_test=False'])
    assert res.returncode == 0, res.stdout[-3000:]
    res = run_tool(['tools/test_onnx.py', onnx_file, '--ann-file',
                    osp.join(coco_trainval, 'annotations_val.json'), '--img-dir',
                    osp.join(coco_trainval, 'images') + '/', '--out', str(tmp_path / 'ort.json')])
    assert res.returncode == 0, res.stdout[-3000:]
    torch_metrics = json.loads((tmp_path / 'torch.json').read_text())
    ort_metrics = json.loads((tmp_path / 'ort.json').read_text())
    for key in ('coco/AP', 'coco/AP .5', 'coco/AR'):
        assert round(ort_metrics[key], 3) == round(torch_metrics[key], 3), key

    # detector boxes (bbox_file) for 4 of the val images
    dets = osp.join(coco_trainval, 'mmpose_test_coco_det_AP_H_56.json')
    res = run_tool(['tools/test.py', config, ckpt, '--work-dir', str(tmp_path / 'work2'),
                    '--out', str(tmp_path / 'torch_det.json'), '--cfg-options',
                    *shared_coco_options(coco_trainval, splits=('test', )),
                    'model.test_cfg.flip_test=False', f'test_dataloader.dataset.bbox_file={dets}'])
    assert res.returncode == 0, res.stdout[-3000:]
    res = run_tool(['tools/test_onnx.py', onnx_file, '--ann-file',
                    osp.join(coco_trainval, 'annotations_val.json'), '--img-dir',
                    osp.join(coco_trainval, 'images') + '/', '--bbox-file', dets,
                    '--out', str(tmp_path / 'ort_det.json')])
    assert res.returncode == 0, res.stdout[-3000:]
    torch_metrics = json.loads((tmp_path / 'torch_det.json').read_text())
    ort_metrics = json.loads((tmp_path / 'ort_det.json').read_text())
    for key in ('coco/AP', 'coco/AP .5', 'coco/AR'):
        assert round(ort_metrics[key], 3) == round(torch_metrics[key], 3), key


def test_export_tool_errors(tmp_path):
    bad_ckpt = tmp_path / 'notes.pth'
    bad_ckpt.write_text('not a checkpoint')
    out = str(tmp_path / 'x.onnx')
    res = run_tool(['tools/export_onnx.py', QUICKSTART, str(bad_ckpt), '--out', out])
    assert res.returncode != 0 and 'error:' in res.stdout and 'notes.pth' in res.stdout
    res = run_tool(['tools/export_onnx.py', QUICKSTART, 'none', '--out', 'x.txt'])
    assert res.returncode == 2 and '--out must name a .onnx file' in res.stdout
    res = run_tool(['tools/export_onnx.py', QUICKSTART, 'none', '--out', out, '--batch', '0'])
    assert res.returncode == 2 and '--batch must be "dynamic" or a positive integer' in res.stdout
    # bottom-up models export since #23; the heads that cannot are refused in
    # tests/test_deploy/test_bottomup_export.py
    res = run_tool(['tools/demo.py', QUICKSTART, out, 'x.jpg', '--out-dir', str(tmp_path)])
    assert res.returncode == 2 and 'add --backend onnxruntime' in res.stdout
