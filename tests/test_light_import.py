"""``import kp_plugins.deploy.runtime`` (and the other light modules) imports
neither torch nor MMPose even where both are installed, while ``import
kp_plugins`` registers everything as before, and a light import followed by
anything that uses MMPose or kp_plugins' models still finds every module
registered (see ``kp_plugins/__init__.py``).

Each case runs in a fresh interpreter: what a process imported first is the
point."""
import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

HEAVY = ('torch', 'mmpose', 'mmcv', 'mmengine', 'mmdet')

#: Printed last by every case: what is imported and registered.
REPORT = f'''
import json, sys
import kp_plugins
state = dict(
    heavy=sorted(m for m in {HEAVY!r} if m in sys.modules),
    armed=kp_plugins._FINDER in sys.meta_path,
    torch_available=kp_plugins.TORCH_AVAILABLE,
)
if 'mmpose.registry' in sys.modules:  # read, importing nothing of kp_plugins
    from mmpose.registry import HOOKS, KEYPOINT_CODECS, MODELS
    state.update(grid_head=MODELS.get('KPGridHead') is not None,
                 grid_label=KEYPOINT_CODECS.get('KPGridLabel') is not None,
                 hook=HOOKS.get('KPNonFiniteLossHook') is not None,
                 allow_list=getattr(sys.modules.get('kp_plugins.engine.checkpoint'),
                                    '_done', False))
print('STATE', json.dumps(state))
'''
REGISTERED = dict(grid_head=True, grid_label=True, hook=True, allow_list=True)


def run_case(code: str) -> dict:
    """Run ``code`` then :data:`REPORT` in a fresh interpreter (the checkout
    first on ``sys.path``); the reported state."""
    out = subprocess.run([sys.executable, '-c', code + REPORT], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    line = [x for x in out.stdout.splitlines() if x.startswith('STATE ')][-1]
    return json.loads(line[len('STATE '):])


@pytest.mark.parametrize('statement', [
    'import kp_plugins.deploy.runtime',
    'import kp_plugins.deploy.bottomup_runtime',
    'from kp_plugins.deploy import runtime',
    'from kp_plugins.deploy.runtime import OnnxPoseModel, load_onnx_model',
    'import kp_plugins.utils.crop',
    'from kp_plugins.utils.crop import crop_persons',
])
def test_light_imports_leave_torch_and_mmpose_out(statement):
    # the statement decides (it imports kp_plugins); the other light
    # modules imported after it stay light too
    state = run_case(f'{statement}\n'
                     'from kp_plugins.deploy.runtime import OnnxPoseModel\n'
                     'from kp_plugins.deploy.bottomup_runtime import OnnxBottomupPoseModel\n'
                     'from kp_plugins.utils.crop import crop_persons\n')
    assert state == dict(heavy=[], armed=True, torch_available=True)


def test_import_kp_plugins_registers_at_once():
    state = run_case('import sys\nimport kp_plugins\n'
                     "assert 'kp_plugins.models' in sys.modules\n"
                     'import mmpose.registry\n')
    assert state.pop('armed') is False and set(state.pop('heavy')) >= {'torch', 'mmpose'}
    assert state == dict(torch_available=True, **REGISTERED)


@pytest.mark.parametrize('then', [
    # MMPose first: the registration runs once mmpose's __init__ has run
    'from mmpose.registry import MODELS\nassert MODELS.get("KPGridHead") is not None',
    # a kp_plugins module outside the light ones: registered when it returns
    'import kp_plugins.models\nfrom mmpose.registry import KEYPOINT_CODECS\n'
    'assert KEYPOINT_CODECS.get("KPBBoxLabel") is not None',
    # a config's custom_imports (kp_plugins already imported: nothing runs
    # there) and MMEngine's root registry, which imports mmpose.registry
    'from mmengine.config import Config\n'
    'from mmengine.registry import MODELS, init_default_scope\n'
    f'cfg = Config.fromfile({REPO_ROOT!r} + "/configs/quickstart.py")\n'
    'init_default_scope(cfg.default_scope)\n'
    'assert type(MODELS.build(cfg.model).head).__name__ == "KPGridHead"',
], ids=['mmpose_registry', 'kp_plugins_models', 'config_custom_imports'])
def test_light_import_then_registration_on_first_use(then):
    state = run_case('import kp_plugins.deploy.runtime\n' + then + '\n')
    assert state.pop('armed') is False
    assert state.pop('heavy')
    assert state == dict(torch_available=True, **REGISTERED)


def test_mmpose_already_imported_registers_at_once():
    state = run_case('import sys\nimport mmpose\nimport kp_plugins.deploy.runtime\n'
                     "assert 'kp_plugins.models' in sys.modules\n"
                     'import mmpose.registry\n')
    assert state.pop('armed') is False and state.pop('heavy')
    assert state == dict(torch_available=True, **REGISTERED)


@pytest.mark.parametrize('body, armed_after', [
    ('raise RuntimeError("boom")', True),  # nothing loaded: the next trigger registers
    ('import mmpose.registry\nraise RuntimeError("boom")', False),  # registered at once
], ids=['fails_before_mmpose', 'fails_after_loading_mmpose'])
def test_a_failed_first_import_still_leads_to_registration(tmp_path, body, armed_after):
    """The first kp_plugins import after a light one fails (a module put
    into the package's path for the test): the registration is not lost,
    even when that import loaded mmpose, which the finder never sees again."""
    (tmp_path / 'kp_failing.py').write_text(body + '\n')
    state = run_case(f'''
import sys
import kp_plugins.deploy.runtime, kp_plugins
kp_plugins.__path__.append({str(tmp_path)!r})
try:
    import kp_plugins.kp_failing
except RuntimeError as exc:
    assert str(exc) == 'boom', exc
else:
    raise AssertionError('kp_plugins.kp_failing imported')
assert (kp_plugins._FINDER in sys.meta_path) is {armed_after}
import mmpose.registry
''')
    assert state.pop('armed') is False and state.pop('heavy')
    assert state == dict(torch_available=True, **REGISTERED)
