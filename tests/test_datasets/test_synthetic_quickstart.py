"""configs/quickstart.py runs end to end through tools/train.py on a tiny
generated set (no ../shared, no network): data generated into the cache
folder, a checkpoint written, COCO AP printed from the synthetic val split."""
import json
import os
import os.path as osp
import re

import pytest

from helpers import run_tool, tool

pytestmark = pytest.mark.slow  # a training run (tools/train.py)

QUICKSTART = 'configs/quickstart.py'


def test_quickstart_trains_and_evaluates_on_a_tiny_synthetic_set(tmp_path):
    cache = tmp_path / 'cache'
    work = tmp_path / 'work'
    opts = []
    for split, n in (('train', 6), ('val', 3)):
        key = f'{split}_dataloader'
        opts += [f'{key}.dataset.num_images={n}', f'{key}.dataset.img_size=(128,128)',
                 f'{key}.num_workers=0', f'{key}.persistent_workers=False',
                 f'{key}.batch_size=4']
    opts += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'default_hooks.logger.interval=1']
    # KP_PLUGINS_CACHE moves the default cache; HOME too, to prove nothing
    # else is written under the user's ~/.cache
    res = run_tool([tool('train.py'), QUICKSTART, '--work-dir', str(work),
                    '--cfg-options', *opts],
                   env={'KP_PLUGINS_CACHE': str(cache), 'HOME': str(tmp_path)})
    out = res.stdout
    assert res.returncode == 0, out[-4000:]
    assert re.search(r'coco/AP: [0-9.]+', out), out[-3000:]
    assert osp.isfile(work / 'epoch_1.pth')
    # the splits were generated where the environment said, with the sizes asked
    gen = sorted(os.listdir(cache / 'synthetic'))
    dirs = [d for d in gen if not d.endswith('.lock')]
    assert [d.split('_')[:3] for d in dirs] == [['train', '6', '128x128'],
                                                ['val', '3', '128x128']], gen
    with open(cache / 'synthetic' / dirs[1] / 'annotations.json') as f:
        assert len(json.load(f)['images']) == 3
    # the metric read the val split's own annotation file
    assert f'loaded the annotation file from {cache}' in out
