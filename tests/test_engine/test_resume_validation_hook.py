"""KPResumeValidationHook finds an epoch's validation in the logged scalars
(the end-to-end case, a benchmark entry killed between its checkpoint and
its validation, is in tests/test_tools/test_benchmark.py)."""
import json

from kp_plugins.engine.hooks import KPResumeValidationHook


def test_finds_validation_records_not_training_ones(tmp_path):
    run = tmp_path / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    records = [dict(lr=1e-3, loss=2.0, step=1, epoch=1, iter=1),  # iteration 1
               dict(lr=1e-3, loss=1.5, step=2, epoch=1, iter=2),
               {'coco/AP': 0.1, 'PCK': 0.5, 'step': 1}]           # epoch 1's validation
    (run / 'scalars.json').write_text('\n'.join(map(json.dumps, records)) + '\n{"cut')
    assert KPResumeValidationHook.validated(str(tmp_path), 1)
    assert not KPResumeValidationHook.validated(str(tmp_path), 2)
    assert not KPResumeValidationHook.validated(str(tmp_path / 'elsewhere'), 1)
