"""The Ultralytics YOLO-pose dataset format: label files, dataset YAML,
image lists, and the checks that name each bad file and line.

Symbols: ``N`` persons in an image, ``K`` keypoints per person, image size
``[W, H]`` in pixels.

A label file (``labels/<split>/<stem>.txt`` beside ``images/<split>/``) holds
one row per person (N rows, maybe 0)::

    cls cx cy w h  x_1 y_1 v_1 ... x_K y_K v_K

with box centre/size and keypoints divided by ``[W, H]`` (written with
``LABEL_DECIMALS`` (6) decimals, i.e. to within ``0.5e-6 * W`` pixels) and
``v`` COCO's visibility (0 unlabelled, 1 labelled but occluded, 2 visible);
an unlabelled keypoint is ``0 0 0``. The dataset YAML names ``path``, the
splits, ``names``, ``kpt_shape`` and ``flip_idx`` (and, written by
kp_plugins, ``kpt_names`` and ``kpt_oks_sigmas``).
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils.metainfo import keypoint_names
from ..utils.paths import YOLO_IMAGE_EXTENSIONS

LABEL_DECIMALS = 6


class YoloLabelError(ValueError):
    """A YOLO-pose label file breaks the format; the message names file and line."""



def yolo_pose_fields(meta: dict) -> dict:
    """The keypoint fields of an Ultralytics dataset YAML, from MMPose metainfo.

    ``flip_idx`` is MMPose's ``flip_indices``; ``kpt_oks_sigmas`` are the
    dataset's per-keypoint OKS sigmas, which Ultralytics >= 8.4 uses in its
    keypoint loss and validator when present.
    """
    return dict(
        kpt_shape=[int(meta['num_keypoints']), 3],
        flip_idx=[int(i) for i in meta['flip_indices']],
        kpt_names={0: keypoint_names(meta)},
        kpt_oks_sigmas=[round(float(s), 6) for s in meta['sigmas']],
    )


def img2label_path(img_path: str) -> str:
    """Label file of an image, by Ultralytics' rule: the last ``/images/``
    folder becomes ``/labels/`` and the suffix becomes ``.txt``."""
    sa, sb = f'{os.sep}images{os.sep}', f'{os.sep}labels{os.sep}'
    head = sb.join(img_path.rsplit(sa, 1))
    return osp.splitext(head)[0] + '.txt'


def image_size(path: str) -> Tuple[int, int]:
    """``(W, H)`` of an image as Ultralytics and OpenCV see it (EXIF rotation
    applied), reading only the file header."""
    from PIL import Image
    with Image.open(path) as img:
        width, height = img.size
        if img.format in ('JPEG', 'MPO'):
            rotation = img.getexif().get(274)
            if rotation in (5, 6, 7, 8):
                width, height = height, width
    return width, height



def format_label_rows(rows: Sequence[np.ndarray]) -> str:
    """YOLO-pose label text: ``cls`` and ``v`` as integers, coordinates with
    ``LABEL_DECIMALS`` decimals; one line per row (rows of 5 + 3K values)."""
    lines = []
    for row in rows:
        kpts = np.asarray(row[5:]).reshape(-1, 3)
        fields = [str(int(row[0]))] + [f'{v:.{LABEL_DECIMALS}f}' for v in row[1:5]]
        for kx, ky, kv in kpts:
            fields += [f'{kx:.{LABEL_DECIMALS}f}', f'{ky:.{LABEL_DECIMALS}f}', str(int(kv))]
        lines.append(' '.join(fields))
    return ''.join(line + '\n' for line in lines)



def read_yolo_labels(label_file: str, num_keypoints: int, ndim: int = 3,
                     num_classes: Optional[int] = None,
                     max_errors: int = 20) -> np.ndarray:
    """Read and check one YOLO-pose label file.

    Args:
        label_file (str): the ``.txt`` file (may be empty: no person).
        num_keypoints (int): ``K`` (``kpt_shape[0]``).
        ndim (int): 3 for ``x y v`` keypoints, 2 for ``x y``.
        num_classes (int, optional): classes in the dataset YAML.
        max_errors (int): stop listing after this many bad lines.

    Returns:
        np.ndarray: ``(N, 5 + K * ndim)`` float64 rows.

    Raises:
        YoloLabelError: listing every bad line as ``file:line: problem``
            (wrong column count, not a number, class not an integer in range,
            coordinate outside [0, 1], visibility not 0/1/2, empty box).
    """
    ncols = 5 + num_keypoints * ndim
    rows, errors = [], []
    with open(label_file, encoding='utf-8-sig') as f:
        lines = f.read().splitlines()
    for lineno, line in enumerate(lines, 1):
        if len(errors) >= max_errors:
            errors.append(f'{label_file}: ... (stopped after {max_errors} bad lines)')
            break
        fields = line.split()
        if not fields:
            continue
        where = f'{label_file}:{lineno}'
        if len(fields) != ncols:
            point = 'x y v' if ndim == 3 else 'x y'
            errors.append(f'{where}: {len(fields)} columns, expected {ncols} '
                          f'(cls cx cy w h + {num_keypoints} x ({point}))')
            continue
        try:
            row = np.array([float(v) for v in fields], dtype=np.float64)
        except ValueError:
            bad = next(v for v in fields if not _is_float(v))
            errors.append(f'{where}: {bad!r} is not a number')
            continue
        if not np.isfinite(row).all():
            errors.append(f'{where}: non-finite value')
            continue
        cls = row[0]
        if cls != int(cls) or cls < 0 or (num_classes is not None and cls >= num_classes):
            limit = f' in [0, {num_classes - 1}]' if num_classes else ''
            errors.append(f'{where}: class {fields[0]} is not an integer{limit}')
            continue
        kpts = row[5:].reshape(num_keypoints, ndim)
        coords = np.concatenate([row[1:5], kpts[:, :2].reshape(-1)])
        if (coords < 0).any() or (coords > 1).any():
            bad = coords[(coords < 0) | (coords > 1)]
            errors.append(f'{where}: coordinates outside [0, 1] (normalized labels expected): '
                          f'{", ".join(f"{v:g}" for v in bad[:5])}')
            continue
        if row[3] <= 0 or row[4] <= 0:
            errors.append(f'{where}: box width and height must be > 0, got {fields[3]} {fields[4]}')
            continue
        if ndim == 3 and not np.isin(kpts[:, 2], (0, 1, 2)).all():
            errors.append(f'{where}: keypoint visibility must be 0, 1 or 2, got '
                          f'{sorted(set(kpts[:, 2].tolist()) - {0.0, 1.0, 2.0})}')
            continue
        rows.append(row)
    if errors:
        raise YoloLabelError('bad YOLO-pose labels:\n  ' + '\n  '.join(errors))
    return np.asarray(rows, dtype=np.float64).reshape(-1, ncols)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_data_yaml(data_yaml: str) -> dict:
    """Read an Ultralytics dataset YAML; resolve ``path`` (default: the
    YAML's folder) and check ``kpt_shape``."""
    import yaml
    if not osp.isfile(data_yaml):
        raise FileNotFoundError(f'dataset YAML {data_yaml} does not exist')
    with open(data_yaml) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f'{data_yaml}: not a YAML mapping')
    shape = data.get('kpt_shape')
    if not (isinstance(shape, list) and len(shape) == 2 and shape[1] in (2, 3) and shape[0] > 0):
        raise ValueError(f'{data_yaml}: kpt_shape must be [K, 2] or [K, 3], got {shape!r}')
    root = data.get('path') or osp.dirname(osp.abspath(data_yaml))
    if not osp.isabs(root):
        root = osp.join(osp.dirname(osp.abspath(data_yaml)), root)
    data['path'] = root
    names = data.get('names')
    if isinstance(names, list):
        data['names'] = dict(enumerate(names))
    elif names is None:
        data['names'] = {i: f'class_{i}' for i in range(int(data.get('nc', 1)))}
    return data


def split_images(data: dict, split: str) -> Tuple[str, List[str]]:
    """Image files of a split of a loaded dataset YAML: a folder (searched
    recursively), a ``.txt`` list, or a list of either.

    Returns:
        tuple: (folder file names are made relative to, sorted image paths).
    """
    if not data.get(split):
        raise KeyError(f'the dataset YAML has no "{split}" split (has: '
                       f'{[k for k in ("train", "val", "test") if data.get(k)]})')
    entries = data[split] if isinstance(data[split], list) else [data[split]]
    files, base = [], None
    for entry in entries:
        path = entry if osp.isabs(entry) else osp.join(data['path'], entry)
        if osp.isdir(path):
            base = base or path
            for dirpath, _, names in os.walk(path, followlinks=True):
                files += [osp.join(dirpath, n) for n in names
                          if n.lower().endswith(YOLO_IMAGE_EXTENSIONS)]
        elif osp.isfile(path) and path.endswith('.txt'):
            parent = osp.dirname(path)
            with open(path) as f:
                for line in f.read().splitlines():
                    line = line.strip()
                    if line:
                        files.append(line if osp.isabs(line) else
                                     osp.normpath(osp.join(parent, line)))
        else:
            raise FileNotFoundError(f'{split}: {path} is neither an image folder nor a .txt list')
    files = sorted(set(files))
    base = base or (osp.commonpath(files) if len(files) > 1 else
                    osp.dirname(files[0]) if files else data['path'])
    return base, files


def check_yolo_dataset(data_yaml: str, splits: Sequence[str] = ('train', 'val')) -> Dict[str, int]:
    """Check every label file of the given splits; raise :class:`YoloLabelError`
    naming each bad file and line. Returns labelled persons per split."""
    data = load_data_yaml(data_yaml)
    num_keypoints, ndim = data['kpt_shape']
    persons, errors = {}, []
    for split in splits:
        if not data.get(split):
            continue
        _, files = split_images(data, split)
        if not files:
            raise FileNotFoundError(f'{data_yaml}: no images found for split "{split}"')
        persons[split] = 0
        for img in files:
            label_file = img2label_path(img)
            if not osp.isfile(label_file):
                continue  # an image without a label file is a background image
            try:
                persons[split] += len(read_yolo_labels(label_file, num_keypoints, ndim,
                                                       len(data['names'])))
            except YoloLabelError as e:
                errors.append(str(e).split('\n', 1)[1])
                if len(errors) >= 20:
                    break
    if errors:
        raise YoloLabelError('bad YOLO-pose labels:\n' + '\n'.join(errors))
    return persons
