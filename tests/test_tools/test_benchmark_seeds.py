"""The seeds' summary of the benchmark: its status, and training minutes
that come from the median logged iteration time, so a run whose CPU was
paused (SIGSTOP while a test ran) or shared for a while keeps the minutes of
its training (#26: seed records of 2026-12-07 with 40 wall minutes for ~16
of training)."""
import pytest

from kp_plugins.benchmark.records import train_seconds
from kp_plugins.benchmark.seeds import aggregate_seeds


def record(s_per_iter, wall_s, seed=0, iters_per_epoch=48, epochs=10):
    return dict(entry='KPGridHead', status='done', seed=seed, metrics={'PCK': 0.7},
                s_per_iter=s_per_iter, iters_per_epoch=iters_per_epoch, epochs=epochs,
                train_wall_s=wall_s, samples_per_s=64 / s_per_iter, peak_rss_mb=2000)


def test_a_paused_run_counts_its_iterations_not_its_wall_time():
    # 480 iterations at a median of 2.0 s; 24 minutes of the 40 were a pause
    assert train_seconds(record(2.0, wall_s=2400.0)) == pytest.approx(960.0)


def test_a_record_without_iterations_falls_back_to_its_wall_time():
    yolo = dict(status='done', s_per_iter=0.5, train_wall_s=3100.0)  # no iters_per_epoch
    assert train_seconds(yolo) == 3100.0
    assert train_seconds(dict(status='failed')) is None


def test_the_seeds_summary_is_the_mean_of_the_seeds_minutes():
    seeds = [record(2.0, 2400.0, 0), record(1.8, 870.0, 1), record(2.2, 1060.0, 2)]
    summary = aggregate_seeds(seeds, [0, 1, 2])
    expected = sum(train_seconds(r) for r in seeds) / 3  # (960 + 864 + 1056) / 3
    assert train_seconds(summary) == pytest.approx(expected)
    assert expected == pytest.approx(960.0)


def test_seeds_with_different_schedules_fall_back_to_the_mean_wall_time():
    seeds = [record(2.0, 1000.0, 0), record(2.0, 2000.0, 1, epochs=5)]
    assert train_seconds(aggregate_seeds(seeds, [0, 1])) == pytest.approx(1500.0)


def test_status_of_the_seeds():
    done, failed = record(2.0, 960.0), dict(record(2.0, 960.0), status='failed')
    assert aggregate_seeds([done, done], [0, 1])['status'] == 'done'
    assert aggregate_seeds([done, None], [0, 1])['status'] == '1/2 seeds done'
    assert aggregate_seeds([failed, None], [0, 1])['status'] == 'failed'
    # --speed-only before the entry was trained: nothing failed
    assert aggregate_seeds([None, None], [0, 1])['status'] == 'not trained'
