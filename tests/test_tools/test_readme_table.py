"""README.md's results table is generated from the committed benchmark
records (docs/benchmark/seeds_128x96) by ``tools/benchmark.py
--readme-table``; no ../shared data needed."""
import json
import os
import os.path as osp
import runpy
import shutil
import statistics
import sys

import pytest

from kp_plugins.benchmark import readme_table as rt

from conftest import REPO_ROOT

RECORDS = osp.join(REPO_ROOT, 'docs', 'benchmark', 'seeds_128x96')
README = osp.join(REPO_ROOT, 'README.md')


def readme_text() -> str:
    with open(README) as f:
        return f.read()


def table_cells(text: str) -> dict:
    """entry -> {header: cell} of the table between the README markers."""
    lines = text.split('\n')
    start = next(i for i, line in enumerate(lines) if line.startswith('<!-- results:start'))
    header = [c.strip() for c in lines[start + 1].strip('|').split('|')]
    out = {}
    for line in lines[start + 3:]:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip('|').split('|')]
        out[cells[0]] = dict(zip(header, cells))
    return out


def test_readme_table_is_the_one_the_records_generate():
    block = rt.readme_block(RECORDS)
    text = readme_text()
    assert block in text, (
        'README.md\'s results table differs from the records; run '
        f'python tools/benchmark.py --readme-table\n--- generated:\n{block}')
    assert rt.update_readme(README, RECORDS, check=True) is None


@pytest.mark.parametrize('source', ['README.md', 'generated'])
def test_table_numbers_against_the_seed_records(source):
    """Independent oracle: mean and sample std of each seed's accuracy.json,
    onnxruntime latency and parameters of speed.json, read with json alone;
    for the README's table and the one the records generate."""
    text = readme_text() if source == 'README.md' else rt.readme_block(RECORDS)
    cells = table_cells(text)
    entries = sorted(os.listdir(osp.join(RECORDS, 'entries')))
    assert sorted(cells) == entries
    metrics = (('AP', 'coco/AP', '{:.4f}'), ('AR', 'coco/AR', '{:.4f}'),
               ('PCK@0.2', 'PCK', '{:.3f}'), ('EPE (px)', 'EPE', '{:.1f}'))
    for name in entries:
        folder = osp.join(RECORDS, 'entries', name)
        seeds = sorted(int(d[4:]) for d in os.listdir(folder) if d.startswith('seed'))
        records = []
        for seed in seeds:
            with open(osp.join(folder, f'seed{seed}', 'accuracy.json')) as f:
                records.append(json.load(f)['metrics'])
        row = cells[name]
        assert row['seeds'] == ' '.join(map(str, seeds))
        for header, key, spec in metrics:
            values = [r[key] for r in records]
            expected = spec.format(statistics.mean(values))
            if len(values) > 1:
                expected += ' ± ' + spec.format(statistics.stdev(values))
            assert row[header] == expected, (name, header)
        if not osp.isfile(osp.join(folder, 'speed.json')):  # speed not measured (yet)
            assert row['onnxruntime ms b1'] == row['params (M)'] == '–', name
            continue
        with open(osp.join(folder, 'speed.json')) as f:
            speed = json.load(f)
        assert row['onnxruntime ms b1'] == f'{speed["latency"]["1"]["ort_ms"]:.1f}'
        assert row['params (M)'] == f'{speed["params"] / 1e6:.2f}'
    # the block names the runs it comes from: each command once, after its starts
    with open(osp.join(RECORDS, 'benchmark.json')) as f:
        meta = json.load(f)
    caption = text[text.index('runs (start, command): '):]
    for run in meta.get('runs') or [meta]:
        command = run['command']
        assert caption.count(f'`{command}`') == 1, command
        starts = caption[:caption.index(f'`{command}`')].rsplit('; ', 1)[-1]
        assert run['started'][:16] in starts, (run, starts)


def copy_records(tmp_path, seeds_of: dict = None) -> str:
    """A copy of the records; ``seeds_of`` keeps only those seeds of an entry."""
    records = str(tmp_path / 'records')
    shutil.copytree(RECORDS, records)
    for name, keep in (seeds_of or {}).items():
        folder = osp.join(records, 'entries', name)
        for d in os.listdir(folder):
            if d.startswith('seed') and int(d[4:]) not in keep:
                shutil.rmtree(osp.join(folder, d))
    return records


def test_one_seed_shows_no_std(tmp_path):
    records = copy_records(tmp_path, {'SimCCHead': [1]})
    rows = {r['entry']: r for r in rt.readme_rows(records)}
    with open(osp.join(records, 'entries', 'SimCCHead', 'seed1', 'accuracy.json')) as f:
        ap = json.load(f)['metrics']['coco/AP']
    assert rows['SimCCHead']['seeds'] == '1'
    assert rows['SimCCHead']['coco_ap'] == ap
    assert 'coco_ap_std' not in rows['SimCCHead']
    cells = table_cells(rt.readme_block(records))
    assert cells['SimCCHead']['AP'] == f'{ap:.4f}'
    assert ' ± ' in cells['KPGridHead']['AP']


def run_cli(args, monkeypatch, readme) -> int:
    monkeypatch.setattr(rt, 'README', readme)
    monkeypatch.setattr(sys, 'argv', ['benchmark.py'] + args)
    try:
        runpy.run_path(osp.join(REPO_ROOT, 'tools', 'benchmark.py'), run_name='__main__')
    except SystemExit as exc:
        return exc.code
    return 0


def test_cli_writes_checks_and_refuses_a_stale_table(tmp_path, monkeypatch, capsys):
    records = copy_records(tmp_path)
    readme = str(tmp_path / 'README.md')
    shutil.copy(README, readme)
    # write: the block of these records replaces the README's, the plot is drawn
    assert run_cli(['--readme-table', '--work-dir', records], monkeypatch, readme) == 0
    with open(readme) as f:
        written = f.read()
    assert rt.readme_block(records) in written
    assert written.count('<!-- results:start') == 1
    assert osp.getsize(osp.join(records, rt.PLOT_NAME)) > 0
    # the text around the block is untouched
    before, after = readme_text().split(rt.START)[0], readme_text().split(rt.END)[1]
    assert written.startswith(before) and written.endswith(after)
    assert run_cli(['--readme-table', '--check', '--work-dir', records], monkeypatch,
                   readme) == 0
    # a number changed by hand: --check fails and leaves the file alone
    grid = table_cells(written)['KPGridHead']['AP']
    stale = written.replace(f'| {grid} |', '| 0.0999 ± 0.0068 |', 1)
    assert stale != written
    with open(readme, 'w') as f:
        f.write(stale)
    capsys.readouterr()
    code = run_cli(['--readme-table', '--check', '--work-dir', records], monkeypatch, readme)
    assert 'is not the one the records' in str(code)
    with open(readme) as f:
        assert f.read() == stale
    # a record that changes: the check fails too
    assert run_cli(['--readme-table', '--work-dir', records], monkeypatch, readme) == 0
    path = osp.join(records, 'entries', 'HeatmapHead', 'seed2', 'accuracy.json')
    with open(path) as f:
        acc = json.load(f)
    acc['metrics']['PCK'] += 0.01
    with open(path, 'w') as f:
        json.dump(acc, f)
    code = run_cli(['--readme-table', '--check', '--work-dir', records], monkeypatch, readme)
    assert 'is not the one the records' in str(code)


def test_errors_name_the_problem(tmp_path):
    records = copy_records(tmp_path)
    with pytest.raises(ValueError, match='one line starting with .<!-- results:start'):
        rt.replace_block('# README\nno markers\n', 'x')
    with pytest.raises(ValueError, match=r'found 2 and 1'):
        rt.replace_block(f'{rt.START}\n{rt.START}\n{rt.END}\n', 'x')
    os.makedirs(osp.join(records, 'entries', 'NoSuchHead'))
    with pytest.raises(ValueError, match="unknown benchmark entries \\['NoSuchHead'\\]"):
        rt.readme_block(records)
    os.remove(osp.join(records, 'benchmark.json'))
    with pytest.raises(FileNotFoundError, match='holds no readable benchmark.json'):
        rt.readme_block(records)
    with pytest.raises(FileNotFoundError, match='holds no entry folder'):
        empty = tmp_path / 'empty'
        os.makedirs(empty)
        shutil.copy(osp.join(RECORDS, 'benchmark.json'), empty)
        rt.readme_block(str(empty))


def test_a_resumed_run_is_one_command_with_its_starts():
    a = 'python tools/benchmark.py --entries A --work-dir work_dirs/b'
    b = 'python tools/benchmark.py --entries B'
    runs = [dict(started='2026-12-07 02:32:52', command=a),
            dict(started='2026-12-07 03:10:00', command=b),
            dict(started='2026-12-07 03:39:18', command=a)]
    assert rt.run_starts(runs) == {a: ['2026-12-07 02:32', '2026-12-07 03:39'],
                                   b: ['2026-12-07 03:10']}


def test_a_clone_elsewhere_generates_the_same_block(tmp_path, monkeypatch):
    """CI runs on a clean clone at another path: the block must come from
    the records alone. It once turned this checkout's absolute --work-dir
    into a relative one, so a clone saw another caption; here a record
    carries such a path, as one made before commands were recorded
    relative to the repository."""
    blocks = []
    for name in ('here', 'elsewhere'):
        root = tmp_path / name / 'kp_plugins'
        records = root / 'docs' / 'benchmark' / 'seeds_128x96'
        shutil.copytree(RECORDS, records)
        with open(records / 'benchmark.json') as f:
            meta = json.load(f)
        meta['runs'].append(dict(started='2026-12-07 09:00:00', command=(
            f'python tools/benchmark.py --speed-only --work-dir {tmp_path}/here/kp_plugins/w')))
        with open(records / 'benchmark.json', 'w') as f:
            json.dump(meta, f)
        monkeypatch.setattr(rt, 'REPO_ROOT', str(root))
        blocks.append(rt.readme_block(str(records)))
    assert blocks[0] == blocks[1]
    # and the committed records in a clone: the README there is up to date
    clone = tmp_path / 'clone'
    shutil.copytree(RECORDS, clone / 'docs' / 'benchmark' / 'seeds_128x96')
    shutil.copy(README, clone / 'README.md')
    monkeypatch.setattr(rt, 'REPO_ROOT', str(clone))
    assert rt.update_readme(str(clone / 'README.md'),
                            str(clone / 'docs' / 'benchmark' / 'seeds_128x96'), check=True) is None


def test_recorded_commands_are_relative_to_the_repository(tmp_path):
    from kp_plugins.benchmark.settings import recorded_command
    root = str(tmp_path / 'repo')
    outside = str(tmp_path / 'other' / 'w')
    argv = ['--work-dir', f'{root}/work_dirs/x', f'--work-dir={root}/work_dirs/y',
            '--entries', 'KPGridHead', '--work-dir', outside, f'{root}x/z']
    assert recorded_command(argv, root) == (
        'python tools/benchmark.py --work-dir work_dirs/x --work-dir=work_dirs/y '
        f'--entries KPGridHead --work-dir {outside} {root}x/z')
    # as tools/benchmark.py records the command it runs
    assert recorded_command(['--work-dir', osp.join(REPO_ROOT, 'work_dirs', 'b')]) == (
        'python tools/benchmark.py --work-dir work_dirs/b')
