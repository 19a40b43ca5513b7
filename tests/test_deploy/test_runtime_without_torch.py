"""The install of docs/runtime_without_torch.md, in a fresh virtual
environment: ``requirements/runtime.txt`` then kp_plugins ``--no-deps``.
There torch does not import, and ``OnnxPoseModel.predict`` gives the full
environment's keypoints and scores for the same file, image and boxes."""
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
from typing import Dict, Optional

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT
from deploy_testing import TOPDOWN_CONFIGS, build_model, export

pytest.importorskip('onnxruntime', reason='deploy extra (onnxruntime) not installed')

from kp_plugins.deploy.runtime import OnnxPoseModel  # noqa: E402

RUNTIME_REQUIREMENTS = osp.join(REPO_ROOT, 'requirements', 'runtime.txt')
CONSTRAINTS = osp.join(REPO_ROOT, 'requirements', 'constraints.txt')
#: What the runtime imports, and nothing else.
RUNTIME_PACKAGES = {'numpy', 'opencv-python-headless', 'onnxruntime'}
#: pip's words for a registry it cannot reach (refused or timed-out
#: connections, DNS, proxies): only these make the test skip.
UNREACHABLE = re.compile(r'NewConnectionError|NameResolutionError|Failed to establish a new '
                         r'connection|Temporary failure in name resolution|Name or service not '
                         r'known|Network is unreachable|ConnectTimeoutError|ReadTimeoutError|'
                         r'ProxyError|connection broken by')
#: (x1, y1, x2, y2) person boxes on a 320x240 image: small, large, wide,
#: tall, partly outside the image.
BOXES = np.array([[50, 40, 90, 150], [10, 10, 300, 230], [100, 100, 250, 140],
                  [200, 5, 215, 200], [-40, 150, 60, 300], [280, 200, 400, 260]],
                 dtype=np.float32)

#: Run by the fresh environment's Python: argv = file, image, boxes, output.
PREDICT = r'''
import json, sys
try:
    import torch  # noqa: F401
    torch_imports = True
except ModuleNotFoundError:
    torch_imports = False
import numpy as np
import kp_plugins
from kp_plugins.deploy.runtime import OnnxPoseModel, load_onnx_model
model = load_onnx_model(sys.argv[1])
assert isinstance(model, OnnxPoseModel), type(model)
keypoints, scores = model.predict(np.load(sys.argv[2]), np.load(sys.argv[3]))
np.savez(sys.argv[4], keypoints=keypoints, scores=scores)
print('RESULT', json.dumps(dict(
    torch_imports=torch_imports, torch_available=kp_plugins.TORCH_AVAILABLE,
    kp_plugins=kp_plugins.__file__,
    heavy=sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'mmpose', 'mmcv',
                                                                 'mmengine')))))
'''


def read_pins(path: str) -> Dict[str, str]:
    """``name==version`` lines of a requirements file, by lower-case name."""
    pins = {}
    with open(path) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                name, sep, version = line.partition('==')
                assert sep, f'{path}: {line!r} is not pinned with =='
                pins[name.strip().lower()] = version.strip()
    return pins


def test_runtime_requirements_are_the_constraints_versions():
    runtime = read_pins(RUNTIME_REQUIREMENTS)
    constraints = read_pins(CONSTRAINTS)
    assert set(runtime) == RUNTIME_PACKAGES
    for name, version in runtime.items():
        # the headless OpenCV wheel is the same release as opencv-python's
        source = 'opencv-python' if name == 'opencv-python-headless' else name
        assert constraints[source] == version, (
            f'requirements/runtime.txt pins {name}=={version}, requirements/constraints.txt '
            f'{source}=={constraints[source]}')


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)


def registry_unreachable(pip_output: str) -> Optional[str]:
    """pip's words saying that it could not reach the registry, or ``None``
    (a failed install for any other reason)."""
    found = UNREACHABLE.search(pip_output)
    return found.group(0) if found else None


def test_only_an_unreachable_registry_skips():
    # pip 26's output with the index refused, then unresolvable (--retries 1)
    refused = ("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, "
               "status=None)) after connection broken by 'NewConnectionError(\"HTTPSConnection("
               "host='127.0.0.1', port=9): Failed to establish a new connection: [Errno 111] "
               "Connection refused\")': /simple/numpy/\nERROR: Could not find a version that "
               "satisfies the requirement numpy==1.26.4 (from versions: none)")
    unresolved = ("WARNING: Retrying (...) after connection broken by 'NameResolutionError("
                  "\"HTTPSConnection(host='no-such-host.invalid', port=443): Failed to resolve "
                  "'no-such-host.invalid' ([Errno -2] Name or service not known)\")': "
                  "/simple/numpy/")
    assert registry_unreachable(refused) == 'connection broken by'
    assert registry_unreachable(unresolved) == 'connection broken by'
    # a pin that does not exist, a build error: a failure, not a skip
    assert registry_unreachable('ERROR: Could not find a version that satisfies the requirement '
                                'numpy==0.0.1 (from versions: 1.26.3, 1.26.4)\nERROR: No '
                                'matching distribution found for numpy==0.0.1') is None
    assert registry_unreachable('error: subprocess-exited-with-error') is None


def pip_install(python: str, *args: str, env: dict) -> None:
    """``pip install`` in the fresh environment; skip when pip cannot reach
    the package registry, fail on any other error."""
    out = run([python, '-m', 'pip', 'install', '--disable-pip-version-check', *args],
              env=env, timeout=1800)
    if out.returncode != 0:
        log = out.stdout + out.stderr
        unreachable = registry_unreachable(log)
        if unreachable:
            pytest.skip('pip cannot reach the package registry, so the runtime-only '
                        f'environment cannot be installed (pip install {" ".join(args)}: '
                        f'{unreachable})')
        pytest.fail(f'pip install {" ".join(args)} failed:\n{log[-4000:]}')


def package_copy(dest: str) -> str:
    """What ``pip install --no-deps .`` builds from, copied out of the
    checkout (pip would write build/ and *.egg-info into it). The test
    installs kp_plugins rather than putting the checkout on PYTHONPATH: the
    install the documentation gives (its wheel's package list, its metadata
    built without torch) is what is promised."""
    shutil.copytree(osp.join(REPO_ROOT, 'kp_plugins'), osp.join(dest, 'kp_plugins'),
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    for name in ('pyproject.toml', 'README.md'):
        shutil.copy(osp.join(REPO_ROOT, name), dest)
    return dest


@pytest.mark.slow
def test_runtime_in_a_fresh_environment_without_torch(tmp_path):
    start = time.time()
    # the full environment: a random-weight grid model, exported and run here
    model = build_model(TOPDOWN_CONFIGS['KPGridHead'])
    onnx_file = str(tmp_path / 'grid.onnx')
    export(model, onnx_file)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 2)  # smooth, so bilinear sampling matters
    want_keypoints, want_scores = OnnxPoseModel(onnx_file).predict(image, BOXES)
    np.save(tmp_path / 'image.npy', image)
    np.save(tmp_path / 'boxes.npy', BOXES)
    exported = time.time()

    # the runtime-only environment, installed as the documentation says
    venv = tmp_path / 'venv'
    created = run([sys.executable, '-m', 'venv', venv], timeout=600)
    assert created.returncode == 0, created.stderr
    python = str(venv / 'bin' / 'python')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    pip_install(python, '-r', RUNTIME_REQUIREMENTS, env=env)
    pip_install(python, '--no-deps', package_copy(str(tmp_path / 'src')), env=env)
    installed = time.time()

    out = run([python, '-c', PREDICT, onnx_file, tmp_path / 'image.npy',
               tmp_path / 'boxes.npy', tmp_path / 'predicted.npz'],
              cwd=str(tmp_path), env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.split('RESULT ', 1)[1])
    assert result['torch_imports'] is False, 'torch imports in the runtime-only environment'
    assert result['torch_available'] is False and result['heavy'] == []
    assert osp.realpath(result['kp_plugins']).startswith(osp.realpath(str(venv))), (
        f'kp_plugins was imported from {result["kp_plugins"]}, not from the installed copy')
    got = np.load(tmp_path / 'predicted.npz')
    # the same onnxruntime, numpy and OpenCV release: the same numbers
    assert np.array_equal(got['keypoints'], want_keypoints), np.abs(
        got['keypoints'] - want_keypoints).max()
    assert np.array_equal(got['scores'], want_scores), np.abs(got['scores'] - want_scores).max()
    print(f'\nexport {exported - start:.0f} s, runtime-only environment installed in '
          f'{installed - exported:.0f} s, predict there {time.time() - installed:.0f} s')
