"""tools/fit_score_temperature.py end to end, no ../shared: a grid model
trained briefly on generated synthetic people (configs/quickstart.py), the
temperature fitted on its val split, and every figure the tool prints checked
against tools/test.py --score-calibration, which decodes through the config
(an independent path: the model's own predict, the temperature read from
``model.head.decoder``). Trained and decoded as the shipped 128x96 grid
config is (softmax over the cells, 3x3 score window)."""
import json
import os.path as osp

import numpy as np
import pytest

from conftest import REPO_ROOT
from helpers import run_tool, tool

pytestmark = pytest.mark.slow  # a training run (tools/train.py)

#: the quick start trained and decoded as configs/grid_effl0_128x96.py is:
#: softmax cross-entropy over the cells, softmax scores over a 3x3 window
SOFTMAX_QUICKSTART = '''
_base_ = [{base!r}]
codec = dict(_base_.codec, presence_sigma=1.0, presence_normalization='softmax', score_radius=1)
model = dict(head=dict(
    presence_loss=dict(_delete_=True, type='KPSoftmaxCELoss', loss_name='loss_presence'),
    decoder=codec))
train_dataloader = dict(dataset=dict(pipeline=[
    *_base_.train_pipeline[:-2], dict(type='GenerateTarget', encoder=codec),
    _base_.train_pipeline[-1]]))
'''


def data_options(n_train: int, n_val: int) -> list:
    opts = []
    for split, n in (('train', n_train), ('val', n_val)):
        key = f'{split}_dataloader'
        opts += [f'{key}.dataset.num_images={n}', f'{key}.dataset.img_size=(128,128)',
                 f'{key}.num_workers=0', f'{key}.persistent_workers=False',
                 f'{key}.batch_size=8']
    return opts


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fit_t')
    config = tmp / 'quickstart_softmax.py'
    config.write_text(SOFTMAX_QUICKSTART.format(
        base=osp.join(REPO_ROOT, 'configs', 'quickstart.py')))
    env = {'KP_PLUGINS_CACHE': str(tmp / 'cache')}
    opts = data_options(48, 12)
    res = run_tool([tool('train.py'), str(config), '--work-dir', str(tmp / 'work'),
                    '--no-validate', '--cfg-options', *opts, 'train_cfg.max_epochs=2'],
                   env=env)
    assert res.returncode == 0, res.stdout[-4000:]
    return dict(tmp=tmp, env=env, opts=opts, config=str(config),
                ckpt=str(tmp / 'work' / 'epoch_2.pth'))


def calibration(trained, name: str, temperature: float) -> dict:
    """tools/test.py --score-calibration on the val split at ``temperature``:
    the per-keypoint scores and hits it wrote, and its ECE."""
    out = trained['tmp'] / f'{name}.json'
    res = run_tool([tool('test.py'), trained['config'], trained['ckpt'],
                    '--work-dir', str(trained['tmp'] / name), '--score-calibration', str(out),
                    '--cfg-options', *trained['opts'],
                    f'model.head.decoder.score_temperature={temperature!r}'],
                   env=trained['env'])
    assert res.returncode == 0, res.stdout[-4000:]
    table = json.loads(out.read_text())
    return dict(ece=table['table']['ece'], scores=np.asarray(table['scores'], np.float64),
                hits=np.asarray(table['hits'], bool))


def nll(scores: np.ndarray, hits: np.ndarray) -> float:
    s = np.clip(scores, 1e-6, 1 - 1e-6)
    return float(-(hits * np.log(s) + (~hits) * np.log(1 - s)).mean())


def test_fit_matches_test_tool_and_minimizes_nll(trained):
    out = trained['tmp'] / 'fit.json'
    res = run_tool([tool('fit_score_temperature.py'), trained['config'], trained['ckpt'],
                    '--split', 'test', '--out', str(out), '--work-dir', str(trained['tmp'] / 'fit'),
                    '--cfg-options', *trained['opts']], env=trained['env'])
    assert res.returncode == 0, res.stdout[-4000:]
    fit = json.loads(out.read_text())
    t = fit['score_temperature']
    assert f'score_temperature={t:.4f}' in res.stdout

    at_1, at_t = calibration(trained, 't1', 1.0), calibration(trained, 'tfit', t)
    # the same keypoints, hits and scores the config's own decode gives
    assert fit['n'] == at_1['hits'].size == at_t['hits'].size
    assert 0 < at_1['hits'].sum() < at_1['hits'].size  # hits and misses: something to fit
    assert fit['hit_rate'] == pytest.approx(at_1['hits'].mean(), abs=1e-12)
    assert fit['ece_1'] == pytest.approx(at_1['ece'], abs=1e-6)
    assert fit['ece'] == pytest.approx(at_t['ece'], abs=1e-4)  # T rounded to 4 digits
    assert fit['mean_score_1'] == pytest.approx(at_1['scores'].mean(), abs=1e-6)
    assert fit['nll_1'] == pytest.approx(nll(at_1['scores'], at_1['hits']), abs=1e-6)
    assert fit['nll'] == pytest.approx(nll(at_t['scores'], at_t['hits']), abs=1e-4)
    assert (at_t['hits'] == at_1['hits']).all()  # T moves no keypoint
    # a minimum: 20% either side scores worse
    for other in (t / 1.2, t * 1.2):
        near = calibration(trained, f't{other:.3f}', other)
        assert nll(near['scores'], near['hits']) > fit['nll'], (other, fit)
