"""Shared fixtures: the real data in ../shared/data (skip when absent), and
one fixed random state at the start of every test."""
import os
import os.path as osp
import random

import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = os.environ.get('KP_SHARED_DATA',
                             osp.join(REPO_ROOT, '..', 'shared', 'data'))
COCO_TRAINVAL = osp.join(SHARED_DATA, 'coco_trainval')
#: Seed of the global random generators at the start of every test;
#: ``KP_TEST_SEED=N`` runs the suite under another one (a test whose result
#: depends on it relies on luck, not on the code).
TEST_SEED = int(os.environ.get('KP_TEST_SEED', '0'))


@pytest.fixture(autouse=True)
def seed_global_random_state():
    """Every test starts from the same global random state (Python, NumPy,
    torch), whichever tests ran before it and in whichever order."""
    random.seed(TEST_SEED)
    np.random.seed(TEST_SEED)
    torch.manual_seed(TEST_SEED)


def _require(path: str, *inside: str) -> str:
    """``path`` (absolute), or skip when it, or one of the entries ``inside``
    it, is missing (``KP_SHARED_DATA`` may name an empty folder, as the
    second run of .ci/run does)."""
    for needed in [path] + [osp.join(path, name) for name in inside]:
        if not osp.exists(needed):
            pytest.skip(f'real data not found at {osp.abspath(needed)} '
                        '(../shared/data is only present in developer/CI checkouts; '
                        'set KP_SHARED_DATA to point elsewhere)')
    return osp.abspath(path)


@pytest.fixture(scope='session')
def shared_data() -> str:
    """Absolute path of ../shared/data (with the sets the benchmark reads),
    or skip."""
    return _require(SHARED_DATA, 'coco_trainval', 'lspet_subset')


@pytest.fixture(scope='session')
def coco_trainval() -> str:
    """Absolute path of ../shared/data/coco_trainval (COCO 2017 photos, 86 train /
    21 val images; annotations_{train,val}.json, images/), or skip."""
    return _require(COCO_TRAINVAL)


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT
