"""ONNX export with the decode in the graph: onnxruntime must reproduce each
head's own torch ``predict`` (flip test off) on the crops MMPose's pipeline
makes, for random-init and briefly trained models, at batch 1 and 4 of one
dynamic-batch file."""
import json

import numpy as np
import pytest
import torch

from deploy_testing import (
    TOPDOWN_CONFIGS,
    briefly_train,
    build_model,
    crops_and_samples,
    export,
    max_diffs,
    torch_predict,
)

ort = pytest.importorskip('onnxruntime', reason='deploy extra (onnxruntime) not installed')
onnx = pytest.importorskip('onnx', reason='deploy extra (onnx) not installed')

KEYPOINT_TOL = 1e-3  # model-input pixels
SCORE_TOL = 1e-4


@pytest.fixture(scope='module', params=sorted(TOPDOWN_CONFIGS))
def head_name(request):
    return request.param


@pytest.fixture(scope='module')
def synthetic_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp('synthetic'))


def run_ort(path, crops, boxes):
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    feed = {'input': crops}
    if boxes is not None:
        feed['bbox'] = boxes.astype(np.float32)
    return session.run(['keypoints', 'scores'], feed)


@pytest.mark.parametrize('trained', [False, True], ids=['random', 'trained'])
def test_onnxruntime_matches_torch_predict(head_name, trained, tmp_path,
                                           synthetic_cache):
    model = build_model(TOPDOWN_CONFIGS[head_name])
    if trained:
        briefly_train(model, cache_dir=synthetic_cache)
    path = str(tmp_path / f'{head_name}.onnx')
    result = export(model, path)
    assert result['inputs'] == (['input', 'bbox'] if head_name == 'KPBBoxHead'
                                else ['input'])
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    from kp_plugins.deploy.export import METADATA_KEYS
    props = {p.key: p.value for p in proto.metadata_props}
    assert sorted(props) == sorted(METADATA_KEYS)
    assert props['head'] == head_name

    crops, data, boxes = crops_and_samples(model, 4, seed=1)
    want_kpts, want_scores = torch_predict(model, data)
    for n in (1, 4):  # one dynamic-batch file
        kpts, scores = run_ort(path, crops[:n],
                               None if boxes is None else boxes[:n])
        assert kpts.shape == (n, 17, 2) and scores.shape == (n, 17)
        dk, ds = max_diffs([kpts, scores], [want_kpts[:n], want_scores[:n]])
        print(f'{head_name} {"trained" if trained else "random"} batch {n}: '
              f'max |keypoints diff| {dk:.2e} px, max |scores diff| {ds:.2e}')
        assert dk <= KEYPOINT_TOL, f'{head_name} batch {n}: keypoints differ by {dk} px'
        assert ds <= SCORE_TOL, f'{head_name} batch {n}: scores differ by {ds}'
    # the keypoints must be spread over the crop, not a constant: a decode
    # that ignored the network would match a constant torch output too
    if trained:
        assert np.ptp(want_kpts[..., 0]) > 1.0


def test_metadata_describes_the_model(tmp_path):
    model = build_model(TOPDOWN_CONFIGS['KPGridHead'])
    path = str(tmp_path / 'grid.onnx')
    export(model, path)
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    from kp_plugins.version import __version__
    assert props['kp_plugins_version'] == __version__
    assert props['config'] == 'grid_effl0_128x96.py'
    assert props['head'] == 'KPGridHead'
    assert json.loads(props['input_size']) == [96, 128]
    assert json.loads(props['codec']) == dict(type='KPGridLabel', input_size=[96, 128],
                                              grid_size=[12, 16], score_temperature=1.66)
    assert json.loads(props['flip_indices']) == list(model.dataset_meta['flip_indices'])
    names = json.loads(props['keypoint_names'])
    assert names[0] == 'nose' and names[16] == 'right_ankle' and len(names) == 17
    assert props['flip_test'].startswith('off')
    assert props['decode'] == 'graph' and props['channel_order'] == 'bgr'
    assert float(props['bbox_padding']) == 1.25


def test_raw_export_gives_the_head_outputs(tmp_path):
    model = build_model(TOPDOWN_CONFIGS['KPGridHead'])
    path = str(tmp_path / 'grid_raw.onnx')
    result = export(model, path, raw=True)
    assert result['outputs'] == ['presence', 'offsets']
    crops, data, _ = crops_and_samples(model, 2)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    presence, offsets = session.run(None, {'input': crops})
    with torch.no_grad():
        want = model.head(model.extract_feat(data['inputs']))
    assert max(max_diffs([presence, offsets], [w.numpy() for w in want])) < 1e-4


def test_fixed_batch_and_simplified_files_agree(tmp_path):
    from kp_plugins.deploy.runtime import OnnxPoseModel
    model = build_model(TOPDOWN_CONFIGS['KPBBoxHead'])
    dynamic, fixed = str(tmp_path / 'dyn.onnx'), str(tmp_path / 'fixed2.onnx')
    export(model, dynamic, simplify=True)
    export(model, fixed, batch=2)
    crops, data, boxes = crops_and_samples(model, 3)
    boxes = boxes.astype(np.float32)
    want_kpts, want_scores = torch_predict(model, data)
    for path in (dynamic, fixed):
        runtime = OnnxPoseModel(path)
        kpts, scores = runtime.infer(crops, boxes)  # 3 crops: 2 + 1 padded for batch 2
        dk, ds = max_diffs([kpts, scores], [want_kpts, want_scores])
        assert dk <= KEYPOINT_TOL and ds <= SCORE_TOL, (path, dk, ds)
    assert OnnxPoseModel(fixed).batch_size == 2
    assert OnnxPoseModel(dynamic).batch_size is None


def test_deployed_grid_export_predicts_what_the_model_did(tmp_path):
    """tools/export_onnx.py exports the inference form (switch_to_deploy, as
    mmdeploy does): the graph of the BatchNorm-folded KPGridHead decodes its
    packed prediction in one pass (no pixel shuffle: no Transpose, which the
    raw export's grid maps need) and reproduces the predict of the model
    before folding, with non-trivial BatchNorm statistics in the head."""
    model = build_model(TOPDOWN_CONFIGS['KPGridHead'])
    gen = torch.Generator().manual_seed(0)
    for bn in [m for m in model.head.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
        bn.running_mean.uniform_(-0.5, 0.5, generator=gen)
        bn.running_var.uniform_(0.05, 0.5, generator=gen)
        bn.weight.data.uniform_(0.5, 1.5, generator=gen)
    crops, data, _ = crops_and_samples(model, 4, seed=1)
    want_kpts, want_scores = torch_predict(model, data)
    raw_path = str(tmp_path / 'grid_raw.onnx')
    export(model, raw_path, raw=True)

    model.switch_to_deploy()
    assert not [m for m in model.head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    path = str(tmp_path / 'grid_deployed.onnx')
    export(model, path)

    def head_ops(file):  # the nodes after the backbone
        return [node.op_type for node in onnx.load(file).graph.node
                if not node.name.startswith('/backbone/')]

    ops = head_ops(path)
    assert 'Transpose' in head_ops(raw_path) and 'Transpose' not in ops, ops
    for n in (1, 4):
        kpts, scores = run_ort(path, crops[:n], None)
        dk, ds = max_diffs([kpts, scores], [want_kpts[:n], want_scores[:n]])
        assert dk <= KEYPOINT_TOL and ds <= SCORE_TOL, (n, dk, ds)
    assert np.ptp(want_kpts[..., 0]) > 1.0
