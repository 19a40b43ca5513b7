"""kp_plugins is an installed package: it imports and its configs build from
any directory, and importing it registers its modules in MMPose's registries."""
import os.path as osp
import subprocess
import sys

from conftest import REPO_ROOT

BUILD_FROM_TMP = r'''
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
cfg = Config.fromfile(sys.argv[1])          # runs custom_imports=['kp_plugins']
assert 'kp_plugins' in sys.modules, 'custom_imports did not import kp_plugins'
init_default_scope(cfg.default_scope)
from mmpose.registry import MODELS
model = MODELS.build(cfg.model)
print('built', type(model).__name__, type(model.head).__name__)
'''


def test_import_from_any_directory(tmp_path):
    res = subprocess.run([sys.executable, '-c', 'import kp_plugins; print(kp_plugins.__file__)'],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert osp.realpath(res.stdout.strip()).startswith(osp.realpath(REPO_ROOT))


def test_config_with_custom_imports_builds_from_tmp(tmp_path):
    cfg = osp.join(REPO_ROOT, 'configs', 'heatmap_r50.py')
    res = subprocess.run([sys.executable, '-c', BUILD_FROM_TMP, cfg], cwd=str(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'built TopdownPoseEstimator HeatmapHead' in res.stdout


def test_registered_names_are_prefixed():
    """Every class kp_plugins registers in MMPose's registries starts with KP."""
    from mmpose import registry

    import kp_plugins  # noqa: F401
    names = []
    for reg_name in ('MODELS', 'KEYPOINT_CODECS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS'):
        reg = getattr(registry, reg_name)
        for name, cls in reg.module_dict.items():
            if getattr(cls, '__module__', '').startswith('kp_plugins'):
                names.append(name)
                assert name.startswith('KP'), f'{reg_name}: {name} is not KP-prefixed'
    assert names, 'import kp_plugins registered nothing in MMPose\'s registries'
