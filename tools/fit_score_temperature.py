"""Fit the grid codec's ``score_temperature`` on a trained checkpoint.

    python tools/fit_score_temperature.py CONFIG CHECKPOINT [--split train]
        [--train-dataset I] [--max-samples 5000] [--out temperature.json]
        [--cfg-options k=v ...]

Runs the model over the config's training set (its datasets, with the test
pipeline: no augmentation) or its test set (``--split test``), records each
keypoint's presence logits and whether it hits (labelled and within its OKS
tolerance, as ``tools/test.py --score-calibration`` counts), and fits the
temperature ``T`` whose scores ``softmax(logits / T)`` best predict the hits
(least binary cross-entropy; ``kp_plugins.evaluation.score_temperature``). The
keypoints do not change with ``T``. Put the printed value into the config's
codec (``KPGridLabel(..., score_temperature=T)``, read by ``model.head.decoder``)
or pass ``--cfg-options model.head.decoder.score_temperature=T`` to
``tools/test.py`` / ``tools/export_onnx.py``.
"""
import argparse
import copy
import json
import os.path as osp
import sys
import tempfile
from typing import Optional

import numpy as np

from kp_plugins.engine.launch import (
    DictAction,
    check_checkpoint,
    check_data,
    check_runner_checkpoint,
    ensure_kp_plugins_imported,
    load_config,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fit the grid codec\'s score temperature on a checkpoint')
    parser.add_argument('config', help='the model\'s config file')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('--split', choices=['train', 'test'], default='train',
                        help='the data to fit on: the training set (with the test pipeline; '
                        'default) or the test set')
    parser.add_argument('--train-dataset', type=int, metavar='I',
                        help='with --split train and a ConcatDataset training set: fit on its '
                        'I-th dataset only (e.g. the one from the test set\'s population)')
    parser.add_argument('--max-samples', type=int, default=5000,
                        help='use the first N persons of each dataset of the split (default 5000)')
    parser.add_argument('--out', help='also write the fit (temperature, NLL and ECE before and '
                        'after) to this JSON file')
    parser.add_argument('--work-dir', help='where the evaluation logs go (default: a '
                        'temporary folder)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    return parser.parse_args()


def with_pipeline(dataset: dict, pipeline: list, max_samples: int) -> dict:
    """A copy of a dataset config (or of each dataset of a
    ``ConcatDataset``) in test mode with ``pipeline`` and its first
    ``max_samples`` persons."""
    dataset = copy.deepcopy(dataset)
    if 'datasets' in dataset:
        dataset['datasets'] = [with_pipeline(part, pipeline, max_samples)
                               for part in dataset['datasets']]
        return dataset
    dataset['pipeline'] = copy.deepcopy(pipeline)
    dataset['test_mode'] = True
    dataset['indices'] = max_samples
    return dataset


def split_config(cfg, split: str, max_samples: int,
                 train_dataset: Optional[int] = None) -> None:
    """Point the config's test loader at the split to fit on (with
    ``train_dataset``, one dataset of a ``ConcatDataset`` training set)."""
    test_loader = cfg.test_dataloader
    if split == 'train':
        dataset = cfg.train_dataloader.dataset
        if train_dataset is not None:
            parts = dataset.get('datasets')
            if not parts or not 0 <= train_dataset < len(parts):
                sys.exit(f'error: --train-dataset {train_dataset}: the training set is '
                         + (f'a ConcatDataset of {len(parts)} datasets (0 to {len(parts) - 1})'
                            if parts else f'one {dataset.get("type")}, not a ConcatDataset'))
            dataset = parts[train_dataset]
        dataset = with_pipeline(dataset, test_loader.dataset.pipeline, max_samples)
    else:
        dataset = copy.deepcopy(test_loader.dataset)
        dataset['indices'] = max_samples
    cfg.test_dataloader = dict(
        batch_size=test_loader.get('batch_size', 32),
        num_workers=test_loader.get('num_workers', 2),
        persistent_workers=False, drop_last=False,
        sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
        dataset=dataset)


def main() -> None:
    args = parse_args()
    if args.max_samples < 1:
        sys.exit(f'error: --max-samples must be >= 1, got {args.max_samples}')
    if not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint {args.checkpoint!r} not found')
    check_checkpoint(args.checkpoint, 'checkpoint')
    cfg = load_config(args.config, args.cfg_options)
    ensure_kp_plugins_imported(cfg)
    decoder_cfg = cfg.model.get('head', {}).get('decoder') or {}
    if decoder_cfg.get('type') != 'KPGridLabel':
        sys.exit(f'error: {args.config}: the head\'s decoder is {decoder_cfg.get("type")!r}; '
                 'the score temperature is a KPGridLabel setting (approach 2, grid)')
    if args.train_dataset is not None and args.split != 'train':
        sys.exit('error: --train-dataset selects a dataset of the training split (--split train)')
    split_config(cfg, args.split, args.max_samples, args.train_dataset)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='fit_score_temperature_')
    table_file = osp.join(work_dir, 'hits.json')
    cfg.work_dir = work_dir
    cfg.load_from = args.checkpoint
    cfg.test_evaluator = [dict(type='KPScoreCalibration', out_file=table_file)]
    check_data(cfg, ('test', ), args.config)  # the split, now the test loader's
    if cfg.get('default_hooks', {}).get('visualization'):
        cfg.default_hooks.visualization.enable = False

    from mmengine.runner import Runner

    from kp_plugins.evaluation.score_temperature import fit_temperature
    runner = Runner.from_cfg(cfg)
    check_runner_checkpoint(runner, args.checkpoint, 'checkpoint', args.config)
    codec = runner.model.head.decoder
    fitted_with = codec.score_temperature

    # record what the decode sees: every batch's presence logits and offsets
    captured = []
    decode_cells = codec.decode_cells

    def recording(presence, offsets, layout, with_scores=True):
        captured.append((presence.detach().clone(), offsets.detach().clone(), layout))
        return decode_cells(presence, offsets, layout, with_scores)

    codec.decode_cells = recording
    runner.test()
    codec.decode_cells = decode_cells
    with open(table_file) as f:
        hits = np.asarray(json.load(f)['hits'], bool)

    def scores_at(temperature: float) -> np.ndarray:
        codec.score_temperature = temperature
        return np.concatenate([decode_cells(*batch)[1].flatten().numpy() for batch in captured])

    recorded = sum(int(presence.shape[0] * presence.shape[1]) for presence, _, _ in captured)
    if recorded != hits.size:
        sys.exit(f'error: recorded {recorded} keypoint scores but '
                 f'{hits.size} hit flags; run it in a single process')
    temperature, summary = fit_temperature(scores_at, hits)
    codec.score_temperature = fitted_with
    result = dict(score_temperature=round(temperature, 4), split=args.split,
                  config=args.config, checkpoint=args.checkpoint, **summary)
    print(f'\nfitted on {summary["n"]} keypoints of the {args.split} split (hit rate '
          f'{summary["hit_rate"]:.3f}):\n'
          f'  T = 1: mean score {summary["mean_score_1"]:.3f}, NLL {summary["nll_1"]:.4f}, '
          f'ECE {summary["ece_1"]:.3f}\n'
          f'  T = {temperature:.4f}: mean score {summary["mean_score"]:.3f}, '
          f'NLL {summary["nll"]:.4f}, ECE {summary["ece"]:.3f}\n'
          f'put it in the codec: KPGridLabel(..., score_temperature={temperature:.4f}) or '
          f'--cfg-options model.head.decoder.score_temperature={temperature:.4f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
