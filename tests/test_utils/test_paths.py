"""Where kp_plugins looks things up (kp_plugins.utils.paths): configs,
MMPose's metainfo files, the cache folder and its environment variables."""
import logging
import os.path as osp

import pytest

from kp_plugins.utils import paths
from kp_plugins.utils.paths import (
    ConfigNotFoundError,
    cache_root,
    packaged_config_dir,
    resolve_config_path,
    resolve_metainfo_path,
)

from conftest import REPO_ROOT

MMPOSE_HEATMAP = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
                  'td-hm_res50_8xb64-210e_coco-256x192.py')


def test_config_paths_and_packaged_configs():
    ours = osp.join(REPO_ROOT, 'configs', 'grid_r50.py')
    assert resolve_config_path(ours) == ours
    resolved = resolve_config_path(MMPOSE_HEATMAP)
    import mmpose
    assert resolved == osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs',
                                MMPOSE_HEATMAP.split('::', 1)[1])
    assert osp.isfile(resolved)
    assert packaged_config_dir('mmpose') == osp.join(osp.dirname(mmpose.__file__), '.mim',
                                                     'configs')


def test_missing_configs_name_the_path_and_where_it_looked(tmp_path):
    missing = str(tmp_path / 'nope.py')
    with pytest.raises(ConfigNotFoundError, match=f"'{missing}' not found .looked at {missing}"):
        resolve_config_path(missing)
    with pytest.raises(ConfigNotFoundError, match=r"mmpose::no/such\.py' not found .looked at "
                                                  r".*mmpose/\.mim/configs/no/such\.py"):
        resolve_config_path('mmpose::no/such.py')
    with pytest.raises(ConfigNotFoundError, match="package 'no_such_package' is not installed"):
        resolve_config_path('no_such_package::a.py')
    assert issubclass(ConfigNotFoundError, FileNotFoundError)


def test_both_call_sites_use_the_one_lookup():
    from kp_plugins.apis import resolve_config_path as from_apis
    from kp_plugins.engine.launch import resolve_config_path as from_launch
    assert from_apis is resolve_config_path and from_launch is resolve_config_path


def test_metainfo_path_falls_back_to_mmpose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/_base_/datasets/coco.py here
    found = resolve_metainfo_path()
    assert found.endswith(osp.join('mmpose', '.mim', 'configs', '_base_', 'datasets', 'coco.py'))
    local = tmp_path / 'my_meta.py'
    local.write_text('dataset_info = {}\n')
    assert resolve_metainfo_path(str(local)) == str(local)
    with pytest.raises(FileNotFoundError, match=r"'no/such_meta\.py' not found: looked at "
                                                r".*no/such_meta\.py nor .*such_meta\.py"):
        resolve_metainfo_path('no/such_meta.py')


def test_cache_root_env_vars(tmp_path, monkeypatch, caplog):
    for name in ('KP_PLUGINS_CACHE', 'KP_CACHE', 'XDG_CACHE_HOME'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert cache_root() == str(tmp_path / 'home' / '.cache' / 'kp_plugins')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache_root('yolo') == str(tmp_path / 'xdg' / 'kp_plugins' / 'yolo')
    monkeypatch.setenv('KP_PLUGINS_CACHE', str(tmp_path / 'new'))
    assert cache_root('synthetic') == str(tmp_path / 'new' / 'synthetic')
    assert not caplog.records

    # the former name still works, with a deprecation message (once)
    monkeypatch.delenv('KP_PLUGINS_CACHE')
    monkeypatch.setenv('KP_CACHE', str(tmp_path / 'old'))
    monkeypatch.setattr(paths, '_warned_deprecated_cache_env', False)
    with caplog.at_level(logging.WARNING, logger='kp_plugins'):
        assert cache_root('yolo') == str(tmp_path / 'old' / 'yolo')
        assert cache_root('yolo') == str(tmp_path / 'old' / 'yolo')
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and 'KP_CACHE is deprecated; set KP_PLUGINS_CACHE' in messages[0]

    # with both set, the new name wins and the old one is said to be ignored
    caplog.clear()
    monkeypatch.setenv('KP_PLUGINS_CACHE', str(tmp_path / 'new'))
    monkeypatch.setattr(paths, '_warned_deprecated_cache_env', False)
    with caplog.at_level(logging.WARNING, logger='kp_plugins'):
        assert cache_root() == str(tmp_path / 'new')
    assert 'KP_CACHE is ignored because KP_PLUGINS_CACHE is set' in caplog.text


def test_both_caches_use_the_one_root(tmp_path, monkeypatch):
    from kp_plugins.datasets.synthetic_people import default_cache_root as synthetic_root
    from kp_plugins.ultralytics.convert import default_cache_root as yolo_root
    monkeypatch.setenv('KP_PLUGINS_CACHE', str(tmp_path))
    assert synthetic_root() == str(tmp_path / 'synthetic')
    assert yolo_root() == str(tmp_path / 'yolo')
