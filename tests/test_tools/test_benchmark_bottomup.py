"""The benchmark's bottom-up entry (``YOLOXPoseHead``: configs/yolo_effl0_256.py,
YOLOX-Pose on EfficientNet-Lite0): its generated config trains on the
protocol's two sources as whole images with the config's own schedule and
is scored by CocoMetric only (a config with YOLOX-Pose's pipeline switch,
configs/yolo_s.py, gets the switch on both sources); a
``--quick`` run on a tiny generated data root (no ../shared needed) writes its
row with whole-image speed measured on the trained weights."""
import csv
import json
import os.path as osp

import pytest
from mmengine.config import Config

from kp_plugins.approaches import APPROACHES
from kp_plugins.benchmark.bottomup import apply_bottomup_protocol, train_images
from kp_plugins.benchmark.protocol import Protocol

from conftest import REPO_ROOT
from helpers import run_tool, tool, write_tiny_coco

CONFIG = osp.join(REPO_ROOT, 'configs', 'yolo_effl0_256.py')
#: the COCO-scale recipe: mosaic, then YOLOXPoseModeSwitchHook's pipeline
SWITCH_CONFIG = osp.join(REPO_ROOT, 'configs', 'yolo_s.py')
ENTRY = 'YOLOXPoseHead'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """coco_trainval (train 5 images, val 3) and lspet_subset (4) in the
    benchmark's layout, noise images with random persons."""
    root = tmp_path_factory.mktemp('bench_data')
    coco = root / 'coco_trainval'
    write_tiny_coco(coco, num_images=5, size=(160, 128), persons=2, seed=1,
                    name='annotations_train.json')
    write_tiny_coco(coco, num_images=3, size=(160, 128), persons=2, seed=2,
                    name='annotations_val.json')
    write_tiny_coco(root / 'lspet_subset', num_images=4, size=(128, 160), persons=1, seed=3)
    return str(root)


def build_model():
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    import kp_plugins  # noqa: F401
    init_default_scope('mmpose')
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.pretrained = False
    return MODELS.build(cfg.model)


def test_the_entry_is_the_bottom_up_config():
    entry = next(a for a in APPROACHES if a.name == ENTRY)
    assert entry.kind == 'bottomup' and entry.approach == 'yolo'
    assert set(entry.configs.values()) == {CONFIG}


def test_generated_config_keeps_the_schedule_on_both_sources(data_root):
    source = Config.fromfile(CONFIG)
    protocol = Protocol(data_root=data_root, seed=3, epochs=10, batch_size=64)
    cfg = apply_bottomup_protocol(source, protocol)
    # the config's own schedule, not the top-down protocol's 10 x 64 Adam
    assert cfg.train_cfg.max_epochs == source.train_cfg.max_epochs == 12
    assert cfg.train_cfg.val_interval == 1
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.optim_wrapper == source.optim_wrapper
    assert cfg.param_scheduler == source.param_scheduler
    assert cfg.randomness.seed == 3
    parts = cfg.train_dataloader.dataset.datasets
    assert cfg.train_dataloader.dataset.type == 'ConcatDataset'
    assert [(p.data_root, p.ann_file) for p in parts] == [
        (osp.join(data_root, 'coco_trainval') + '/', 'annotations_train.json'),
        (osp.join(data_root, 'lspet_subset') + '/', 'annotations.json')]
    for part in parts:
        assert part.data_mode == 'bottomup'
        assert part.pipeline == source.train_pipeline
        assert part.filter_cfg == source.train_dataloader.dataset.filter_cfg
    # no mosaic and no pipeline switch in the CPU recipe
    assert 'Mosaic' not in [t.type for t in source.train_pipeline]
    assert [h.type for h in cfg.custom_hooks] == [h.type for h in source.custom_hooks]
    assert 'YOLOXPoseModeSwitchHook' not in [h.type for h in cfg.custom_hooks]
    val = cfg.val_dataloader.dataset
    assert (val.ann_file, val.data_mode, val.test_mode) == \
        ('annotations_val.json', 'bottomup', True)
    assert val.pipeline == source.val_pipeline
    assert [e.type for e in cfg.val_evaluator] == ['CocoMetric']
    assert cfg.val_evaluator[0].ann_file == protocol.val_ann_file
    assert train_images(protocol) == [5, 4]


def test_a_pipeline_switch_gets_both_sources(data_root):
    """yolo_s.py's YOLOXPoseModeSwitchHook sets ``dataset.pipeline``, which a
    ConcatDataset lacks: the generated config hands it both sources with the
    stage-2 pipeline instead."""
    source = Config.fromfile(SWITCH_CONFIG)
    cfg = apply_bottomup_protocol(source, Protocol(data_root=data_root))
    parts = cfg.train_dataloader.dataset.datasets
    assert [p.pipeline for p in parts] == [source.train_pipeline_stage1] * 2
    switch = next(h for h in cfg.custom_hooks if h.type == 'YOLOXPoseModeSwitchHook')
    assert 'new_train_pipeline' not in switch
    assert [p.pipeline for p in switch.new_train_dataset.datasets] == \
        [source.train_pipeline_stage2] * 2
    assert [p.ann_file for p in switch.new_train_dataset.datasets] == \
        [p.ann_file for p in parts]


def test_the_switched_dataloader_builds_and_yields_stage2_samples(data_root):
    """The hook's own code path: MMPose's _modify_dataloader on the
    generated config builds a loader whose samples are not mosaics (one
    image, so at most the persons of that image)."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import kp_plugins  # noqa: F401
    init_default_scope('mmpose')
    protocol = Protocol(data_root=data_root, workers=0)
    cfg = apply_bottomup_protocol(Config.fromfile(SWITCH_CONFIG), protocol)
    switch = next(h for h in cfg.custom_hooks if h.type == 'YOLOXPoseModeSwitchHook')
    loader_cfg = dict(cfg.train_dataloader, dataset=switch.new_train_dataset, batch_size=9)
    batch = next(iter(Runner.build_dataloader(loader_cfg)))
    assert len(batch['inputs']) == 9
    assert max(len(s.gt_instances.bboxes) for s in batch['data_samples']) <= 2


@pytest.mark.slow
def test_quick_run_trains_scores_and_times_whole_images(data_root, tmp_path):
    work = tmp_path / 'work'
    args = [tool('benchmark.py'), '--quick', '--entries', ENTRY, 'RegressionHead', '--no-r50',
            '--batch-sizes', '1', '2', '--repeats', '1', '--warmup', '1', '--threads', '2',
            '--work-dir', str(work), '--data-root', data_root]
    res = run_tool(args, timeout=900)
    assert res.returncode == 0, res.stdout[-4000:]
    entry = work / 'entries' / ENTRY
    acc = json.loads((entry / 'accuracy.json').read_text())
    assert acc['status'] == 'done'
    assert (acc['epochs'], acc['batch_size']) == (2, 8)  # --quick's, not the config's
    assert acc['train_instances'] == [5, 4]  # images, not persons
    assert set(acc['metrics']) >= {'coco/AP', 'coco/AR'} and 'PCK' not in acc['metrics']
    speed = json.loads((entry / 'speed.json').read_text())
    assert speed['weights'] == 'trained' and speed['input'] == '256x256 image'
    with open(work / 'results.csv') as f:
        rows = {r['entry']: r for r in csv.DictReader(f) if r['section'] == 'protocol 128x96'}
    row = rows[ENTRY]
    assert row['input'] == '256x256 image' and row['pck'] == '' and row['status'] == 'done'
    # parameters in use: all but Lite0's layer 8 (the 1x1 conv to 1280
    # channels + BN, which out_indices (3, 5, 7) never runs)
    unused = sum(p.numel() for p in build_model().backbone.layers[8].parameters())
    assert unused == 320 * 1280 + 2 * 1280
    assert round(float(row['params_m']) * 1e6) == speed['params_all'] - unused
    assert 0.7 < float(row['gflops']) < 0.9  # 0.785 at 256x256
    assert float(row['latency_b1_ms']) < float(row['latency_bN_ms'])
    # the Lite0 floor row is the top-down entries' backbone at 128x96 only
    assert 0.06 < float(rows['backbone only (floor)']['gflops']) < 0.15
    table = (work / 'results.md').read_text()
    assert f'{ENTRY} is bottom-up (configs/yolo_effl0_256.py)' in table
    assert '2 epochs, batch 8' in table
    # a rerun comes from the cache (nothing trained or measured again)
    again = run_tool(args, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:]
    assert f'train {ENTRY}: cached' in again.stdout
    assert f'speed {ENTRY}: cached' in again.stdout
