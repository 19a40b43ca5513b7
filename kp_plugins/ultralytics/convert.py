"""COCO person-keypoint datasets <-> Ultralytics YOLO-pose datasets.

Symbols: ``N`` persons in an image, ``K`` keypoints per person, image size
``[W, H]`` in pixels.

COCO -> YOLO-pose (:func:`coco_to_yolo`) writes, for every split::

    <out>/images/<split>/<file_name>   symlink to (or copy of) the COCO image
    <out>/labels/<split>/<stem>.txt    one row per person (N rows, maybe 0):
        cls cx cy w h  x_1 y_1 v_1 ... x_K y_K v_K
    <out>/data.yaml                    path, train/val[/test], names, kpt_shape,
                                       flip_idx, kpt_names, kpt_oks_sigmas
    <out>/conversion.json              source files and the counts below

Box centre/size and keypoints are divided by ``[W, H]`` and written with
``LABEL_DECIMALS`` (6) decimals, i.e. to within ``0.5e-6 * W`` pixels.
``v`` keeps COCO's visibility (0 unlabelled, 1 labelled but occluded,
2 visible); an unlabelled keypoint is written as ``0 0 0``.

How the people that YOLO-pose cannot hold are handled (each one is counted
in ``conversion.json`` and printed by ``tools/coco2yolo.py``):

* crowd regions (``iscrowd=1``) are dropped: YOLO labels have no crowd flag.
* persons with a zero-area box (after clipping) are dropped.
* persons with no labelled keypoint are kept: a box with all-zero keypoints,
  so the detector still learns them (as Ultralytics' own converter does).
* boxes reaching outside the image are clipped to it; labelled keypoints
  outside the image become unlabelled (YOLO labels must lie in ``[0, 1]``).

YOLO-pose -> COCO (:func:`yolo_to_coco`) is the inverse: ``category_id =
cls + 1``, keypoints and boxes in pixels, ``num_keypoints`` = labelled
keypoints, ``iscrowd = 0``. What YOLO labels do not store comes back as:
``area = max(0.53 * w * h, 1)`` (MMPose's own fallback when a COCO
annotation lacks ``area``), no segmentation, annotation ids ``1..``, image ids
taken from the file name when every stem is an integer (COCO's
``000000012345.jpg`` -> 12345), else ``1..`` in file-name order.

So COCO -> YOLO -> COCO gives back every non-crowd person with a box, in the
same order per image, keypoints within ``0.5e-6 * W`` px, visibility and
box within float rounding; crowd regions are the documented loss.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..utils.metainfo import coco_skeleton, keypoint_names, load_pose_metainfo
from ..utils.paths import COCO_METAINFO, YOLO_IMAGE_EXTENSIONS, cache_root

LABEL_DECIMALS = 6
DEFAULT_METAINFO = COCO_METAINFO
CONVERTER_VERSION = 1

SplitSources = Mapping[str, Tuple[str, str]]  # split -> (ann_file, img_dir)


class YoloLabelError(ValueError):
    """A YOLO-pose label file breaks the format; the message names file and line."""


class CocoAnnotationError(ValueError):
    """A COCO annotation file cannot be converted; the message names the entry."""


# ---------------------------------------------------------------- metainfo
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


# ---------------------------------------------------------------- paths
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


def default_cache_root() -> str:
    """``$KP_PLUGINS_CACHE/yolo`` (default ``~/.cache/kp_plugins/yolo``, see
    :func:`~kp_plugins.utils.paths.cache_root`)."""
    return cache_root('yolo')


def conversion_key(splits: SplitSources, copy_images: bool, metainfo: Optional[str]) -> str:
    """A hash naming one conversion: source paths, their size and mtime, options."""
    parts = {'version': CONVERTER_VERSION, 'copy': bool(copy_images),
             'metainfo': osp.abspath(metainfo) if metainfo and osp.exists(metainfo) else metainfo,
             'splits': {}}
    for split, (ann_file, img_dir) in sorted(splits.items()):
        stat = os.stat(ann_file)
        parts['splits'][split] = [osp.abspath(ann_file), stat.st_size, stat.st_mtime_ns,
                                  osp.abspath(img_dir)]
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- COCO -> YOLO
def coco_person_to_row(ann: dict, cls: int, width: int, height: int, num_keypoints: int,
                       counts: Dict[str, int]) -> Optional[np.ndarray]:
    """One COCO annotation -> one YOLO-pose row, or None when it is dropped.

    Args:
        ann (dict): a COCO annotation (``bbox`` [x, y, w, h], ``keypoints``
            K*3, ``iscrowd``).
        cls (int): its YOLO class index.
        width, height (int): image size ``W``, ``H``.
        num_keypoints (int): ``K``.
        counts (dict): tallies of what was dropped or changed, updated in place.

    Returns:
        np.ndarray | None: ``(5 + 3K,)`` = cls, cx, cy, w, h, K x (x, y, v),
        coordinates normalized to ``[0, 1]``.
    """
    if ann.get('iscrowd', 0):
        counts['crowd_dropped'] += 1
        return None
    if 'bbox' not in ann or len(ann['bbox']) != 4:
        raise CocoAnnotationError(f'annotation id {ann.get("id")}: "bbox" must be [x, y, w, h], '
                                  f'got {ann.get("bbox")!r}')
    x, y, w, h = (float(v) for v in ann['bbox'])
    x1, x2 = np.clip([x, x + w], 0, width)
    y1, y2 = np.clip([y, y + h], 0, height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        counts['no_box_dropped'] += 1
        return None
    if (x1, y1, x2, y2) != (x, y, x + w, y + h):
        counts['boxes_clipped'] += 1

    kpts = np.zeros((num_keypoints, 3), dtype=np.float64)
    if ann.get('keypoints'):
        raw = np.asarray(ann['keypoints'], dtype=np.float64)
        if raw.size != 3 * num_keypoints:
            raise CocoAnnotationError(
                f'annotation id {ann.get("id")}: {raw.size} keypoint values, expected '
                f'{3 * num_keypoints} ({num_keypoints} keypoints x (x, y, v)); pass the '
                'metainfo of this dataset (--metainfo)')
        kpts = raw.reshape(num_keypoints, 3)
    visibility = kpts[:, 2]
    if not np.isin(visibility, (0, 1, 2)).all():
        raise CocoAnnotationError(f'annotation id {ann.get("id")}: keypoint visibility must be '
                                  f'0, 1 or 2, got {sorted(set(kpts[:, 2].tolist()))}')
    labelled = visibility > 0
    outside = labelled & ((kpts[:, 0] < 0) | (kpts[:, 0] > width) |
                          (kpts[:, 1] < 0) | (kpts[:, 1] > height))
    counts['keypoints_outside_unlabelled'] += int(outside.sum())
    labelled &= ~outside
    if not labelled.any():
        counts['zero_keypoint_persons'] += 1

    norm = np.zeros((num_keypoints, 3), dtype=np.float64)
    norm[labelled, 0] = kpts[labelled, 0] / width
    norm[labelled, 1] = kpts[labelled, 1] / height
    norm[labelled, 2] = visibility[labelled]
    box = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height]
    return np.concatenate([[cls], box, norm.reshape(-1)])


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


def _check_out_dir(out_dir: str, overwrite: bool) -> None:
    ours = ('images', 'labels', 'data.yaml', 'conversion.json')
    if not osp.isdir(out_dir) or not os.listdir(out_dir):
        return
    if not overwrite:
        raise FileExistsError(f'output folder {out_dir} is not empty; choose another folder or '
                              'pass overwrite=True (--overwrite) to replace '
                              f'{", ".join(ours)} in it')
    for name in ours:
        path = osp.join(out_dir, name)
        if osp.isdir(path) and not osp.islink(path):
            shutil.rmtree(path)
        elif osp.lexists(path):
            os.remove(path)


def _refuse_shared_destination(out_dir: str, sources: SplitSources) -> None:
    """Never write into an image folder being read, nor into the annotation
    folder itself (the source data may be shared and read-only)."""
    out_real = osp.realpath(out_dir)
    for ann_file, img_dir in sources.values():
        img_real, ann_real = osp.realpath(img_dir), osp.dirname(osp.realpath(ann_file))
        if out_real == ann_real or out_real == img_real or out_real.startswith(img_real + os.sep):
            raise ValueError(f'output folder {out_dir} is a source data folder ({img_dir} or the '
                             f'folder of {ann_file}) or lies inside the image folder; write the '
                             'YOLO dataset elsewhere (the source may be shared and read-only)')


def coco_to_yolo(splits: SplitSources,
                 out_dir: str,
                 copy_images: bool = False,
                 metainfo: Optional[str] = None,
                 overwrite: bool = False,
                 check_image_sizes: bool = True,
                 dataset_root: Optional[str] = None) -> dict:
    """Convert COCO keypoint splits into one Ultralytics YOLO-pose dataset.

    Args:
        splits (Mapping[str, tuple[str, str]]): split name (``train``, ``val``,
            ``test``) -> (COCO annotation json, folder its ``file_name`` are
            relative to).
        out_dir (str): folder to write (created; must be empty unless
            ``overwrite``); never inside the source folders.
        copy_images (bool): copy the images instead of symlinking them.
        metainfo (str, optional): MMPose metainfo file giving K, flip pairs,
            keypoint names and sigmas; default MMPose's COCO-17.
        overwrite (bool): replace a previous conversion in ``out_dir``.
        check_image_sizes (bool): compare each image file's size with the
            json's ``width``/``height`` (normalization uses them).
        dataset_root (str, optional): the ``path`` written into data.yaml
            when the folder will be moved there afterwards; default ``out_dir``.

    Returns:
        dict: the report written to ``conversion.json``: ``data_yaml`` and
        per split ``images``, ``persons_in``, ``persons_written``,
        ``crowd_dropped``, ``no_box_dropped``, ``zero_keypoint_persons``,
        ``boxes_clipped``, ``keypoints_outside_unlabelled``.
    """
    import yaml

    if not splits:
        raise ValueError('no split to convert: give at least one of train/val/test')
    for split, (ann_file, img_dir) in splits.items():
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'{split}: COCO annotation file {ann_file} does not exist')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'{split}: image folder {img_dir} does not exist')
    _refuse_shared_destination(out_dir, splits)
    _check_out_dir(out_dir, overwrite)
    meta = load_pose_metainfo(metainfo)
    num_keypoints = int(meta['num_keypoints'])
    out_dir = osp.abspath(out_dir)
    class_names: Optional[List[str]] = None
    report: dict = OrderedDict(splits=OrderedDict())

    for split, (ann_file, img_dir) in splits.items():
        with open(ann_file) as f:
            try:
                coco = json.load(f)
            except json.JSONDecodeError as e:
                raise CocoAnnotationError(f'{ann_file}: not valid JSON ({e})') from e
        for key in ('images', 'annotations', 'categories'):
            if key not in coco:
                raise CocoAnnotationError(
                    f'{ann_file}: no "{key}" list; not a COCO annotation file')
        cat_ids = sorted(c['id'] for c in coco['categories'])
        names = [next(c['name'] for c in coco['categories'] if c['id'] == i) for i in cat_ids]
        if class_names is None:
            class_names = names
        elif names != class_names:
            raise CocoAnnotationError(f'{ann_file}: categories {names} differ from the other '
                                      f'splits\' {class_names}')
        cat_to_cls = {cat_id: i for i, cat_id in enumerate(cat_ids)}

        anns_by_image: Dict[int, List[dict]] = {img['id']: [] for img in coco['images']}
        for ann in coco['annotations']:
            if ann.get('image_id') not in anns_by_image:
                raise CocoAnnotationError(f'{ann_file}: annotation id {ann.get("id")} refers to '
                                          f'image id {ann.get("image_id")}, which is not in '
                                          '"images"')
            if ann.get('category_id') not in cat_to_cls:
                raise CocoAnnotationError(f'{ann_file}: annotation id {ann.get("id")} has '
                                          f'category_id {ann.get("category_id")}, not in '
                                          '"categories"')
            anns_by_image[ann['image_id']].append(ann)

        counts = OrderedDict((k, 0) for k in (
            'images', 'persons_in', 'persons_written', 'crowd_dropped', 'no_box_dropped',
            'zero_keypoint_persons', 'boxes_clipped', 'keypoints_outside_unlabelled'))
        seen_files = set()
        for img in coco['images']:
            file_name = img['file_name']
            if osp.isabs(file_name) or '..' in file_name.split('/'):
                raise CocoAnnotationError(f'{ann_file}: image id {img["id"]}: file_name '
                                          f'{file_name!r} must be relative to the image folder')
            if file_name in seen_files:
                raise CocoAnnotationError(f'{ann_file}: file_name {file_name!r} appears twice')
            seen_files.add(file_name)
            src = osp.join(img_dir, file_name)
            if not osp.isfile(src):
                raise FileNotFoundError(f'{ann_file}: image id {img["id"]}: {src} does not exist')
            width, height = int(img['width']), int(img['height'])
            if check_image_sizes:
                actual = image_size(src)
                if actual != (width, height):
                    raise CocoAnnotationError(
                        f'{ann_file}: image id {img["id"]} ({src}) is {actual[0]}x{actual[1]} '
                        f'(EXIF rotation applied) but the json says {width}x{height}')
            rows = []
            for ann in anns_by_image[img['id']]:
                counts['persons_in'] += 1
                row = coco_person_to_row(ann, cat_to_cls[ann['category_id']], width, height,
                                         num_keypoints, counts)
                if row is not None:
                    rows.append(row)
            counts['persons_written'] += len(rows)
            counts['images'] += 1

            dst = osp.join(out_dir, 'images', split, file_name)
            os.makedirs(osp.dirname(dst), exist_ok=True)
            if copy_images:
                shutil.copy2(src, dst)
            else:
                os.symlink(osp.abspath(src), dst)
            label_file = img2label_path(dst)
            os.makedirs(osp.dirname(label_file), exist_ok=True)
            with open(label_file, 'w') as f:
                f.write(format_label_rows(rows))
        report['splits'][split] = OrderedDict(
            ann_file=osp.abspath(ann_file), img_dir=osp.abspath(img_dir), **counts)

    dataset_root = osp.abspath(dataset_root or out_dir)
    data = dict(path=dataset_root)
    for split in splits:
        data[split] = f'images/{split}'
    data['names'] = {i: name for i, name in enumerate(class_names)}
    data.update(yolo_pose_fields(meta))
    data_yaml = osp.join(out_dir, 'data.yaml')
    header = ('# Ultralytics YOLO-pose dataset written by kp_plugins (tools/coco2yolo.py)\n'
              f'# from {", ".join(report["splits"][s]["ann_file"] for s in splits)};\n'
              '# crowd regions dropped, persons without keypoints kept as boxes '
              '(counts in conversion.json)\n')
    with open(data_yaml, 'w') as f:
        f.write(header)
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None)
    report['data_yaml'] = osp.join(dataset_root, 'data.yaml')
    report['metainfo'] = metainfo or DEFAULT_METAINFO
    report['copy_images'] = bool(copy_images)
    with open(osp.join(out_dir, 'conversion.json'), 'w') as f:
        json.dump(report, f, indent=2)
    return report


def cached_coco_to_yolo(splits: SplitSources,
                        cache_root: Optional[str] = None,
                        copy_images: bool = False,
                        metainfo: Optional[str] = None) -> dict:
    """:func:`coco_to_yolo` into ``<cache_root>/<hash>`` (default
    ``~/.cache/kp_plugins/yolo``), reusing a finished conversion of the same
    sources and options. Written to a temporary folder first and renamed, so
    an interrupted run leaves no half dataset behind.

    Returns:
        dict: the conversion report (``data_yaml`` is the dataset YAML,
        ``cached`` says whether an earlier conversion was reused).
    """
    cache_root = cache_root or default_cache_root()
    final = osp.join(cache_root, conversion_key(splits, copy_images, metainfo))
    report_file = osp.join(final, 'conversion.json')
    reused = osp.isfile(report_file)
    if not reused:
        os.makedirs(cache_root, exist_ok=True)
        tmp = f'{final}.tmp{os.getpid()}'
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            coco_to_yolo(splits, tmp, copy_images, metainfo, dataset_root=final)
            if osp.isdir(final):  # an unfinished older attempt, or a racing process
                if osp.isfile(report_file):
                    shutil.rmtree(tmp)
                else:
                    shutil.rmtree(final)
            if not osp.isdir(final):
                os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    with open(report_file) as f:
        report = json.load(f)
    report['cached'] = reused
    return report


# ---------------------------------------------------------------- YOLO labels
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


# ---------------------------------------------------------------- YOLO -> COCO
def yolo_to_coco(data_yaml: str, split: str = 'val', out_file: Optional[str] = None,
                 metainfo: Optional[str] = None, decimals: Optional[int] = 3) -> dict:
    """Convert one split of a YOLO-pose dataset to a COCO keypoint json.

    Args:
        data_yaml (str): Ultralytics dataset YAML (``path``, splits,
            ``kpt_shape``, ``names``, optional ``kpt_names``).
        split (str): which split to convert.
        out_file (str, optional): where to write the json.
        metainfo (str, optional): MMPose metainfo for the COCO ``categories``
            (keypoint names, skeleton) when K matches it; default COCO-17.
        decimals (int, optional): pixel decimals kept for boxes and
            keypoints (None: no rounding).

    Returns:
        dict: the COCO json (``images`` with ``file_name`` relative to the
        split's image folder, ``annotations``, ``categories``).
    """
    data = load_data_yaml(data_yaml)
    num_keypoints, ndim = data['kpt_shape']
    base, files = split_images(data, split)
    if not files:
        raise FileNotFoundError(f'{data_yaml}: no images found for split "{split}"')

    kpt_names = None
    if isinstance(data.get('kpt_names'), dict) and data['kpt_names']:
        kpt_names = list(next(iter(data['kpt_names'].values())))
    skeleton: List[List[int]] = []
    try:
        meta = load_pose_metainfo(metainfo)
        if int(meta['num_keypoints']) == num_keypoints:
            kpt_names = kpt_names or keypoint_names(meta)
            skeleton = coco_skeleton(meta)
    except (ImportError, FileNotFoundError):
        pass
    kpt_names = kpt_names or [str(i) for i in range(num_keypoints)]
    categories = [dict(id=int(i) + 1, name=str(name), supercategory=str(name),
                       keypoints=kpt_names, skeleton=skeleton)
                  for i, name in sorted(data['names'].items())]

    rel_names = [osp.relpath(f, base) for f in files]
    stems = [osp.splitext(osp.basename(f))[0] for f in files]
    use_stem_ids = all(s.isdigit() for s in stems) and len(set(int(s) for s in stems)) == len(stems)
    images, annotations, errors = [], [], []
    for index, (img_path, rel) in enumerate(zip(files, rel_names)):
        width, height = image_size(img_path)
        image_id = int(stems[index]) if use_stem_ids else index + 1
        images.append(dict(id=image_id, file_name=rel, width=width, height=height))
        label_file = img2label_path(img_path)
        if not osp.isfile(label_file):
            continue
        try:
            rows = read_yolo_labels(label_file, num_keypoints, ndim, len(data['names']))
        except YoloLabelError as e:
            errors.append(str(e).split('\n', 1)[1])
            continue
        scale = np.array([width, height], dtype=np.float64)
        for row in rows:
            cx, cy, bw, bh = row[1:5] * np.tile(scale, 2)
            kpts = row[5:].reshape(num_keypoints, ndim)
            xy = kpts[:, :2] * scale
            vis = (kpts[:, 2].astype(int) if ndim == 3 else
                   np.where((kpts[:, :2] > 0).any(axis=1), 2, 0))
            xy[vis == 0] = 0
            out_kpts = np.concatenate([_round(xy, decimals), vis[:, None]], axis=1)
            box = [float(v) for v in _round(np.array([cx - bw / 2, cy - bh / 2, bw, bh]), decimals)]
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=int(row[0]) + 1,
                bbox=box, area=float(_round(np.array(max(0.53 * bw * bh, 1.0)), decimals)),
                iscrowd=0,
                num_keypoints=int((vis > 0).sum()),
                keypoints=[int(v) if j % 3 == 2 else float(v)
                           for j, v in enumerate(out_kpts.reshape(-1).tolist())]))
    if errors:
        raise YoloLabelError('bad YOLO-pose labels:\n' + '\n'.join(errors))
    coco = dict(info=dict(description=f'converted from {osp.abspath(data_yaml)} split {split} '
                          'by kp_plugins (tools/yolo2coco.py)'),
                images=images, annotations=annotations, categories=categories)
    if out_file:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        with open(out_file, 'w') as f:
            json.dump(coco, f)
    return coco


def _round(values: np.ndarray, decimals: Optional[int]) -> np.ndarray:
    return values if decimals is None else np.round(values, decimals)


def coco_splits(data_root: Optional[str], train_ann: Optional[str] = None,
                val_ann: Optional[str] = None, test_ann: Optional[str] = None,
                img_dir: Union[str, Mapping[str, str]] = 'images/') -> Dict[str, Tuple[str, str]]:
    """Build the ``splits`` argument of :func:`coco_to_yolo` from an MMPose
    style layout: paths relative to ``data_root`` (MMPose's ``data_root``,
    ``ann_file``, ``data_prefix.img``); ``img_dir`` may differ per split."""
    def join(path: str) -> str:
        return path if osp.isabs(path) or not data_root else osp.join(data_root, path)

    splits = OrderedDict()
    for split, ann in (('train', train_ann), ('val', val_ann), ('test', test_ann)):
        if ann:
            folder = img_dir[split] if isinstance(img_dir, Mapping) else img_dir
            splits[split] = (join(ann), join(folder))
    return splits
