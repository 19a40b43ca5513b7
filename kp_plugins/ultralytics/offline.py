"""Keep Ultralytics off the network (kp_plugins' default for its YOLO tools).

Out of the box Ultralytics reaches the internet from a training run in
several places, each harmless online and a stall or failure offline:

* ``ultralytics.utils.is_online()`` resolves two DNS names at import time;
  ``ONLINE`` then enables the PyPI update check, anonymous usage events and
  requirement auto-installs (``checks.check_requirements``).
* ``checks.check_font('Arial.ttf')`` (called by ``check_det_dataset`` for
  every dataset and by the plotting code) probes and downloads the font
  from ``ultralytics.com/assets`` when it is not in the user config folder.
* ``checks.check_amp`` loads ``yolo26n.pt`` (downloaded on first use) on
  CUDA devices when ``amp=True``.
* ``downloads.attempt_download_asset`` fetches any missing ``*.pt`` named
  like an official checkpoint (``yolo11n-pose.pt``) from GitHub releases.
* the Platform callbacks stream a run to Ultralytics' servers when an API
  key is configured.

:func:`set_offline_env` (before ``import ultralytics``) sets
``YOLO_OFFLINE=1`` (``ONLINE = False``: no DNS probe, no update check, no
events) and ``YOLO_AUTOINSTALL=False``; :func:`patch_ultralytics_offline`
(after the import) resolves fonts locally (the user config folder, fonts
matplotlib knows, else matplotlib's bundled DejaVuSans), turns every
download helper into a local-file lookup that raises
:class:`OfflineDownloadError` (a ``ConnectionError``, which ``check_amp``
already treats as "offline, skip the check") and drops the Platform
callbacks. ``tools/train_yolo.py`` also defaults to ``amp=False`` and
``pretrained=False``; ``--online`` restores Ultralytics' behaviour.
"""
import os
import os.path as osp
import sys
from pathlib import Path
from typing import Union

OFFLINE_ENV = {'YOLO_OFFLINE': '1', 'YOLO_AUTOINSTALL': 'False'}


class OfflineDownloadError(ConnectionError):
    """Ultralytics wanted to download a file while kp_plugins' offline mode is on."""


def set_offline_env() -> None:
    """Set the environment variables that keep Ultralytics offline; call
    before ``import ultralytics`` (it reads them at import time)."""
    os.environ.update(OFFLINE_ENV)


def local_font_path(font: str = 'Arial.ttf') -> str:
    """A font file on this machine for Ultralytics' plots: ``font`` in the
    Ultralytics config folder or among matplotlib's fonts, else matplotlib's
    bundled DejaVuSans.ttf."""
    import matplotlib
    from matplotlib import font_manager
    from ultralytics.utils import USER_CONFIG_DIR

    name = Path(font).name
    if (USER_CONFIG_DIR / name).exists():
        return str(USER_CONFIG_DIR / name)
    for entry in font_manager.fontManager.ttflist:
        if name in entry.fname and osp.exists(entry.fname):
            return entry.fname
    return osp.join(matplotlib.get_data_path(), 'fonts', 'ttf', 'DejaVuSans.ttf')


def _refuse(what: str) -> OfflineDownloadError:
    return OfflineDownloadError(
        f'{what}: not on this machine, and kp_plugins keeps Ultralytics offline '
        '(no download attempted). Give a local file, or run the tool with --online '
        'to let Ultralytics download it.')


def _local_asset(file: Union[str, Path], *args, **kwargs) -> str:
    """Offline ``attempt_download_asset``: the file itself or the copy in the
    Ultralytics weights folder, else :class:`OfflineDownloadError`."""
    from ultralytics.utils import SETTINGS

    path = Path(str(file).strip().replace("'", ''))
    if path.exists():
        return str(path)
    if (Path(SETTINGS['weights_dir']) / path).exists():
        return str(Path(SETTINGS['weights_dir']) / path)
    raise _refuse(f'model file {file}')


def _no_download(*args, **kwargs):
    target = kwargs.get('url') or (args[0] if args else '?')
    raise _refuse(f'download of {target}')


def _is_url_offline(url, check: bool = False) -> bool:
    from urllib import parse
    if check:
        return False  # "does it exist online?" -> not reachable
    try:
        result = parse.urlparse(str(url))
        return bool(result.scheme and result.netloc)
    except ValueError:
        return False


def patch_ultralytics_offline() -> None:
    """Patch the imported Ultralytics so that nothing it does in training,
    validation or prediction reaches the network (see the module doc)."""
    set_offline_env()
    import ultralytics.data.utils as data_utils
    import ultralytics.utils as utils
    import ultralytics.utils.checks as checks
    import ultralytics.utils.downloads as downloads
    import ultralytics.utils.events as events
    import ultralytics.utils.plotting as plotting
    from ultralytics.utils.callbacks import platform

    # ONLINE was computed at import time; also when the import came first.
    for module in (utils, checks, events):
        module.ONLINE = False
    events.events.enabled = False

    def check_font(font: str = 'Arial.ttf') -> str:
        return local_font_path(font)

    for module in (checks, data_utils, plotting):
        module.check_font = check_font

    downloads.is_url = _is_url_offline
    downloads.attempt_download_asset = _local_asset
    for name in ('safe_download', 'download', 'get_github_assets'):
        setattr(downloads, name, _no_download)
    for name in ('safe_download', 'download'):
        if hasattr(data_utils, name):
            setattr(data_utils, name, _no_download)
    platform.callbacks.clear()


def import_ultralytics(online: bool = False):
    """Import Ultralytics for kp_plugins' tools: offline (default) or as is.

    Returns:
        module: the ``ultralytics`` package.

    Raises:
        ImportError: with the install command when Ultralytics is missing.
    """
    if not online and 'ultralytics' not in sys.modules:
        set_offline_env()
    try:
        import ultralytics
    except ImportError as e:
        raise ImportError(
            'Ultralytics is not installed: it is the optional `yolo` extra of kp_plugins. '
            'Install it with `pip install -c requirements/constraints.txt -e ".[yolo]"` '
            '(tools/setup.sh does this unless KP_NO_EXTRAS=1)') from e
    if not online:
        patch_ultralytics_offline()
    return ultralytics
