"""kp_plugins.approaches: one list that the benchmark, the head-latency tool
and the config / train tests all read. A dummy approach registered there is
selected by the benchmark and parametrizes the tests, with no other edit."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest

from kp_plugins.approaches import (
    APPROACHES,
    PROTOCOLS,
    Approach,
    approach_names,
    effl0_configs,
    register_approach,
    remove_approach,
)
from kp_plugins.benchmark.entries import ENTRIES, select_entries
from kp_plugins.benchmark.protocol import Protocol
from kp_plugins.benchmark.runner import Benchmark
from kp_plugins.benchmark.settings import Settings

from approach_cases import effl0_cases, effl0_real_data_cases, kp_r50_cases
from conftest import REPO_ROOT

#: The config and train/test tests parametrized from the list.
PARAMETRIZED_TESTS = ('tests/test_models/test_approach_configs.py',
                      'tests/test_models/test_effl0_approach_configs.py',
                      'tests/test_tools/test_approach_train_test.py',
                      'tests/test_deploy/test_decode.py')


def dummy_approach(folder: str) -> Approach:
    """A kp_plugins approach named KPDummyHead with configs in ``folder``
    (they need not exist: nothing here loads them)."""
    return Approach('KPDummyHead', 'regression', 'a dummy approach',
                    effl0_configs('dummy', folder), osp.join(folder, 'dummy_r50.py'),
                    head='KPRegressionHead', codec='KPRegressionLabel',
                    extra_configs=(osp.join(folder, 'dummy_r50_wholeimage.py'), ))


@pytest.fixture
def dummy(tmp_path):
    approach = register_approach(dummy_approach(str(tmp_path)))
    yield approach
    remove_approach(approach.name)


def test_the_list_is_the_benchmark_entries():
    assert ENTRIES is APPROACHES
    assert select_entries() == APPROACHES
    assert len(set(n.lower() for n in approach_names())) == len(APPROACHES)
    for a in APPROACHES:
        assert a.kind in ('topdown', 'bottomup', 'yolo') and a.source in (
            'kp_plugins', 'mmpose', 'ultralytics')
        if a.kind in ('topdown', 'bottomup'):
            assert set(a.configs) == set(PROTOCOLS) and a.head and a.codec
        for config in (*a.configs.values(), a.r50_config, *a.extra_configs):
            assert config is None or config.startswith('mmpose::') or osp.isfile(config)


def test_register_refuses_a_taken_name_or_a_missing_protocol(tmp_path):
    with pytest.raises(ValueError, match='exists already'):
        register_approach(dummy_approach(str(tmp_path))._replace(name='kpgridhead'))
    one_protocol = dummy_approach(str(tmp_path))._replace(configs={'128x96': 'x.py'})
    with pytest.raises(ValueError, match='256x192'):
        register_approach(one_protocol)
    assert 'KPDummyHead' not in approach_names()
    with pytest.raises(KeyError, match='KPDummyHead'):
        remove_approach('KPDummyHead')


def test_benchmark_selects_a_registered_approach(dummy, tmp_path):
    assert select_entries()[-1] == dummy
    assert select_entries(['kpdummyhead', 'KPGridHead']) == [ENTRIES[1], dummy]
    settings = Settings(work_dir=str(tmp_path / 'work'), protocol=Protocol(),
                        entries=select_entries(['KPDummyHead']))
    keys = [key for key, _, _ in Benchmark(settings).tasks()]
    assert keys == ['train:KPDummyHead', 'speed:KPDummyHead', 'r50:KPDummyHead']
    with pytest.raises(ValueError, match='KPDummyHead'):  # listed among the valid names
        select_entries(['NoSuchHead'])


def test_head_latency_tool_measures_a_registered_approach(dummy):
    spec = importlib.util.spec_from_file_location(
        'benchmark_heads', osp.join(REPO_ROOT, 'tools', 'benchmark_heads.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    configs = tool.head_configs()
    assert configs['KPDummyHead'] == dummy.r50_config
    assert set(configs) == {a.name for a in APPROACHES if a.r50_config}


def test_test_cases_include_a_registered_approach(dummy):
    r50 = {p.id: p.values for p in kp_r50_cases()}
    assert r50['dummy_r50.py'] == (dummy.r50_config, dummy)
    assert r50['dummy_r50_wholeimage.py'] == (dummy.extra_configs[0], dummy)
    effl0 = {p.id: p.values for p in effl0_cases()}
    assert effl0['dummy_effl0_128x96.py'] == (dummy.configs['128x96'], dummy, '128x96')
    assert effl0['dummy_effl0.py'] == (dummy.configs['256x192'], dummy, '256x192')
    real = {p.id for p in effl0_real_data_cases()}
    assert {'dummy_effl0_128x96.py', 'dummy_effl0.py'} <= real


def pytest_with_plugin(tmp_path, approach: str, *args: str) -> subprocess.CompletedProcess:
    """``pytest ARGS`` in a subprocess with a plugin that registers
    ``approach`` (an expression over ``dummy_approach(tmp_path)``, e.g.
    ``dummy``) on import, as a package outside kp_plugins would."""
    (tmp_path / 'dummy_plugin.py').write_text(
        'import sys\n'
        f'sys.path.insert(0, {osp.join(REPO_ROOT, "tests")!r})\n'
        'from kp_plugins.approaches import register_approach\n'
        'from test_approaches import dummy_approach\n'
        f'dummy = dummy_approach({str(tmp_path)!r})\n'
        f'register_approach({approach})\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), REPO_ROOT, os.environ.get('PYTHONPATH', '')]))
    # every test, the slow ones too (the default run leaves them out)
    return subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'dummy_plugin',
         '-m', 'slow or not slow', *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_pytest_collects_a_registered_approach(tmp_path):
    """A plugin that registers the dummy on import (as a package outside
    kp_plugins would) adds its cases to the collected config and train
    tests."""
    res = pytest_with_plugin(tmp_path, 'dummy', '--collect-only', '-m', 'slow or not slow',
                             *PARAMETRIZED_TESTS)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    collected = set(res.stdout.split())
    for test, case in [
            ('test_models/test_approach_configs.py::test_config_builds', 'dummy_r50.py'),
            ('test_models/test_approach_configs.py::test_config_builds',
             'dummy_r50_wholeimage.py'),
            ('test_models/test_approach_configs.py::'
             'test_config_trains_and_predicts_on_real_data', 'dummy_r50.py'),
            ('test_models/test_effl0_approach_configs.py::test_config_shares_the_effl0_base',
             'dummy_effl0_128x96.py'),
            ('test_models/test_effl0_approach_configs.py::test_config_shares_the_effl0_base',
             'dummy_effl0.py'),
            ('test_models/test_effl0_approach_configs.py::'
             'test_config_trains_and_predicts_on_real_data', 'dummy_effl0_128x96.py'),
            ('test_tools/test_approach_train_test.py::test_config_trains_and_tests',
             'dummy_r50.py'),
            ('test_deploy/test_decode.py::test_every_topdown_approach_exports',
             'KPDummyHead')]:
        assert f'tests/{test}[{case}]' in collected, (test, case, res.stdout[-3000:])
    # and the approaches of the list, as before
    assert 'tests/test_models/test_approach_configs.py::test_config_builds[grid_r50.py]' \
        in collected


#: The tests that need something per head (a perfect-output builder, flip
#: cases, an export spec): an approach whose head they lack fails each one.
PER_HEAD_TESTS = (
    'tests/test_models/test_perfect_outputs.py::test_every_kp_head_has_a_perfect_output_builder',
    'tests/test_models/test_heads/test_flip_geometry.py::test_every_kp_head_has_flip_cases',
    'tests/test_deploy/test_mmdeploy.py::'
    'test_kp_deploy_config_decodes_in_graph_like_torch[KPDummyHead-dynamic]',
)


def test_an_approach_whose_head_the_tests_lack_fails_them(tmp_path):
    """The dummy with a head of its own (none of the per-head tests knows
    it) fails them, never passes or skips them."""
    res = pytest_with_plugin(tmp_path, "dummy._replace(head='KPDummyHead')", '-rA',
                             *PER_HEAD_TESTS)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    with_mmdeploy = importlib.util.find_spec('mmdeploy') is not None
    expected = PER_HEAD_TESTS if with_mmdeploy else PER_HEAD_TESTS[:2]
    failed = [line.split()[1] for line in res.stdout.splitlines()
              if line.startswith('FAILED ')]
    assert failed == list(expected), out[-3000:]
    assert f'{len(expected)} failed' in res.stdout and 'passed' not in res.stdout.splitlines()[-1]
    assert "'KPDummyHead'" in out  # the key sets' difference names it
    if with_mmdeploy:
        assert 'KPDummyHead: head KPDummyHead has no export spec' in out
