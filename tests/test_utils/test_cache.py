"""Folders built once, into a temporary sibling, then renamed
(kp_plugins.utils.cache.build_folder_once)."""
import multiprocessing as mp
import os
import os.path as osp
import time

import pytest

from kp_plugins.utils.cache import build_folder_once


def _write(folder: str, delay: float = 0.0) -> None:
    with open(osp.join(folder, 'part.txt'), 'w') as f:
        f.write('content')
    time.sleep(delay)
    with open(osp.join(folder, 'done.json'), 'w') as f:
        f.write('{}')


def test_built_once_then_reused(tmp_path):
    final = str(tmp_path / 'set')
    calls = []

    def build(folder):
        calls.append(folder)
        assert osp.isdir(folder) and not os.listdir(folder)
        assert osp.dirname(folder) == str(tmp_path) and folder != final
        _write(folder)

    assert build_folder_once(final, build, 'done.json') is True
    assert build_folder_once(final, build, 'done.json') is False
    assert len(calls) == 1
    assert sorted(os.listdir(final)) == ['done.json', 'part.txt']
    assert sorted(os.listdir(tmp_path)) == ['set', 'set.lock']


def test_incomplete_folder_is_replaced_and_a_failed_build_leaves_nothing(tmp_path):
    final = tmp_path / 'set'
    final.mkdir()
    (final / 'stale.txt').write_text('half a set')
    assert build_folder_once(str(final), _write, 'done.json') is True
    assert sorted(os.listdir(final)) == ['done.json', 'part.txt']

    def fail(folder):
        _write(folder)
        raise RuntimeError('interrupted')

    with pytest.raises(RuntimeError, match='interrupted'):
        build_folder_once(str(tmp_path / 'other'), fail, 'done.json')
    assert sorted(os.listdir(tmp_path)) == ['other.lock', 'set', 'set.lock']


def _build_slowly(final: str) -> bool:
    return build_folder_once(final, lambda folder: _write(folder, delay=0.3), 'done.json')


def test_parallel_builders_build_once(tmp_path):
    final = str(tmp_path / 'set')
    with mp.get_context('fork').Pool(2) as pool:
        built = pool.map(_build_slowly, [final, final])
    assert sorted(built) == [False, True]
    assert sorted(os.listdir(tmp_path)) == ['set', 'set.lock']
