"""Where kp_plugins looks for things outside the repository: config files
(ours, or those OpenMMLab packages ship), MMPose's dataset metainfo files,
its cache folder, and which file names are images or videos.

Every lookup lives here once, so a newcomer changes one function and every
tool follows.
"""
import importlib.util
import logging
import os
import os.path as osp
from typing import Iterable, Optional

#: Environment variable naming kp_plugins' cache folder (generated synthetic
#: sets, converted YOLO datasets, the mmcv wheel of tools/setup.sh).
CACHE_ENV = 'KP_PLUGINS_CACHE'
#: Its former name, still read (with a deprecation message) when
#: ``KP_PLUGINS_CACHE`` is unset.
DEPRECATED_CACHE_ENV = 'KP_CACHE'

#: MMPose's COCO-17 metainfo, named as MMPose's configs name it; found in
#: the installed mmpose by :func:`resolve_metainfo_path`.
COCO_METAINFO = 'configs/_base_/datasets/coco.py'

#: Image file suffixes that OpenCV reads (folders of images, demo input).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: Image file suffixes an Ultralytics dataset may hold (its ``IMG_FORMATS``).
YOLO_IMAGE_EXTENSIONS = IMAGE_EXTENSIONS + ('.dng', '.mpo', '.pfm', '.heic')
#: Video file suffixes the demo reads frame by frame.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')

_logger = logging.getLogger('kp_plugins')
_warned_deprecated_cache_env = False


class ConfigNotFoundError(FileNotFoundError):
    """A config path or ``package::path`` that names no file; the message
    names the path and where it was looked for."""


def packaged_config_dir(package: str) -> str:
    """The folder of configs an installed OpenMMLab package ships
    (``<site-packages>/<package>/.mim/configs``), found without importing
    the package.

    Raises:
        ConfigNotFoundError: ``package`` is not installed.
    """
    try:
        spec = importlib.util.find_spec(package) if package else None
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigNotFoundError(f'package {package!r} is not installed, so its packaged '
                                  'configs cannot be found')
    return osp.join(list(spec.submodule_search_locations)[0], '.mim', 'configs')


def resolve_config_path(path: str) -> str:
    """The config file ``path`` names: a file path as given, or
    ``package::rel/path.py`` -> the config the installed package ships
    (``mmpose::body_2d_keypoint/...`` -> ``<site-packages>/mmpose/.mim/
    configs/body_2d_keypoint/...``).

    Raises:
        ConfigNotFoundError: the package is not installed or the file does
            not exist (the message says where it looked).
    """
    if '::' in path:
        package, rel = path.split('::', 1)
        try:
            resolved = osp.join(packaged_config_dir(package), rel)
        except ConfigNotFoundError as exc:
            raise ConfigNotFoundError(f'config {path!r} not found: {exc}') from None
    else:
        resolved = path
    if not osp.isfile(resolved):
        raise ConfigNotFoundError(
            f'config file {path!r} not found (looked at {osp.abspath(resolved)})')
    return resolved


def packaged_metainfo_path(name: str = 'coco.py') -> str:
    """The installed MMPose's dataset metainfo file ``name``
    (``<site-packages>/mmpose/.mim/configs/_base_/datasets/<name>``), which
    may not exist.

    Raises:
        ConfigNotFoundError: mmpose is not installed.
    """
    return osp.join(packaged_config_dir('mmpose'), '_base_', 'datasets', name)


def resolve_metainfo_path(path: Optional[str] = None) -> str:
    """An MMPose dataset metainfo file (default :data:`COCO_METAINFO`):
    ``path`` when it exists, else the installed MMPose's copy of the same
    name (:func:`packaged_metainfo_path`; the rule MMPose applies to
    ``metainfo=dict(from_file=...)``).

    Raises:
        FileNotFoundError: neither exists (the message names both places).
    """
    path = path or COCO_METAINFO
    if osp.isfile(path):
        return path
    try:
        packaged = packaged_metainfo_path(osp.basename(path))
    except ConfigNotFoundError:
        packaged = None
    if packaged and osp.isfile(packaged):
        return packaged
    elsewhere = f' nor {packaged}' if packaged else ' (mmpose is not installed)'
    raise FileNotFoundError(f'dataset metainfo file {path!r} not found: looked at '
                            f'{osp.abspath(path)}{elsewhere}')


def cache_root(subdir: Optional[str] = None) -> str:
    """kp_plugins' cache folder, optionally one ``subdir`` of it:
    ``$KP_PLUGINS_CACHE``, else ``$XDG_CACHE_HOME/kp_plugins``, else
    ``~/.cache/kp_plugins``. The former variable ``$KP_CACHE`` is still read
    when ``KP_PLUGINS_CACHE`` is unset, with a deprecation message."""
    root = os.environ.get(CACHE_ENV)
    old = os.environ.get(DEPRECATED_CACHE_ENV)
    if old and old != root:
        _warn_deprecated_cache_env(ignored=bool(root))
        root = root or old
    if not root:
        base = os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache')
        root = osp.join(base, 'kp_plugins')
    return osp.join(root, subdir) if subdir else root


def _warn_deprecated_cache_env(ignored: bool) -> None:
    global _warned_deprecated_cache_env
    if _warned_deprecated_cache_env:
        return
    _warned_deprecated_cache_env = True
    what = (f'is ignored because {CACHE_ENV} is set' if ignored else
            f'is deprecated; set {CACHE_ENV} instead')
    _logger.warning(f'DeprecationWarning: the environment variable {DEPRECATED_CACHE_ENV} '
                    f'{what}')


class OutputOverwritesInputError(ValueError):
    """An output path that is (or would write through to) an input."""


def check_outputs_spare_inputs(out_dir: str, outputs: Iterable[str], inputs: Iterable[str],
                               input_dirs: Iterable[str] = (),
                               option: str = '--out-dir') -> None:
    """Refuse to write where the inputs are: ``out_dir`` equal to a folder
    the inputs were read from, or an output file that is an input file
    (compared after resolving symlinks and relative paths).

    Args:
        out_dir: the output folder (``option`` on the command line).
        outputs: every file the tool will write.
        inputs: every file it reads (images, lists, configs, checkpoints).
        input_dirs: folders it reads images from.

    Raises:
        OutputOverwritesInputError: naming the input and the output.
    """
    real_out = osp.realpath(out_dir)
    for folder in input_dirs:
        if folder and osp.realpath(folder) == real_out:
            raise OutputOverwritesInputError(
                f'{option} {out_dir} is the input folder {folder}: the drawings and JSON '
                'files would be written among (and over) your images; choose another '
                f'{option}')
    real_inputs = {osp.realpath(p): p for p in inputs if p}
    for out in outputs:
        real = osp.realpath(out)
        if real in real_inputs:
            raise OutputOverwritesInputError(
                f'{option} {out_dir}: the output {out} would overwrite the input '
                f'{real_inputs[real]}; choose another {option}')
