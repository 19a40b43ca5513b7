"""MMEngine checkpoints load under torch.load(weights_only=True) once
kp_plugins is imported, and nothing beyond them is let through."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

import kp_plugins  # noqa: F401  (installs the allow-list)
from kp_plugins.engine.checkpoint import mmengine_checkpoint_globals


class _NotAllowed:

    def __init__(self):
        self.x = 1


def _mmengine_like_checkpoint():
    buf = HistoryBuffer()
    buf.update(0.5)
    buf.update(np.float64(0.25))
    return {
        'meta': {
            'epoch': 1,
            'iter': 2,
            'seed': 42,
            'dataset_meta': {
                'sigmas': np.array([0.026, 0.025], dtype=np.float32),
                'flip_indices': [1, 0],
                'keypoint_colors': np.array([[255, 0, 0]], dtype=np.uint8),
                'num_keypoints': 2,
            },
        },
        'state_dict': {'w': torch.ones(2, 2)},
        'message_hub': {
            'log_scalars': {'train/loss': buf},
            'runtime_info': {'epoch': 1, 'best_score': np.float64(0.75),
                             'counts': np.int64(3)},
            'resumed_keys': {'epoch': True},
        },
    }


def test_weights_only_load_of_mmengine_checkpoint(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    ckpt = torch.load(path, weights_only=True)
    meta = ckpt['meta']['dataset_meta']
    np.testing.assert_allclose(meta['sigmas'], [0.026, 0.025], rtol=0, atol=1e-7)
    assert meta['keypoint_colors'].dtype == np.uint8
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.current() == pytest.approx(0.25)
    assert ckpt['message_hub']['runtime_info']['best_score'] == pytest.approx(0.75)


def test_other_classes_stay_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'obj': _NotAllowed()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_allow_list_is_explicit():
    allowed = mmengine_checkpoint_globals()
    assert HistoryBuffer in allowed
    for obj in allowed:
        if isinstance(obj, tuple):  # (stand-in, pickled name)
            assert obj[1] == 'builtins.getattr'
            obj = obj[0]
        assert obj.__module__.startswith(('numpy', 'mmengine', 'kp_plugins')), obj


def test_getattr_stand_in_only_resolves_history_buffer_methods(tmp_path):
    """A pickle that uses getattr for anything but HistoryBuffer's statistics
    methods (getattr is the usual first step of a pickle escape) is refused."""
    path = tmp_path / 'getattr.pth'

    class Evil:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    torch.save({'x': Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_check_checkpoint_file(tmp_path):
    """A file that torch.load cannot read is named as such before loading."""
    import zipfile

    from kp_plugins.engine.checkpoint import CheckpointFileError, check_checkpoint_file
    new, old = tmp_path / 'new.pth', tmp_path / 'old.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}}, new)
    torch.save({'state_dict': {'w': torch.ones(2)}}, old, _use_new_zipfile_serialization=False)
    check_checkpoint_file(str(new))
    check_checkpoint_file(str(old))

    cases = {
        'text.pth': (b'epoch 12, loss 0.3\n', 'is not a PyTorch checkpoint: it is a text file'),
        'empty.pth': (b'', 'is not a PyTorch checkpoint: it is an empty file'),
        'binary.pth': (bytes(range(200, 216)), 'it is an unknown format'),
        'cut.pth': (new.read_bytes()[:300], 'is a damaged zip archive (a truncated download'),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CheckpointFileError, match=expected.replace('(', r'\(')):
            check_checkpoint_file(str(path))
    with zipfile.ZipFile(tmp_path / 'other.zip', 'w') as archive:
        archive.writestr('readme.txt', 'hello')
    with pytest.raises(CheckpointFileError, match='a zip archive but not a PyTorch checkpoint'):
        check_checkpoint_file(str(tmp_path / 'other.zip'))
