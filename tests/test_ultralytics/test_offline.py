"""kp_plugins/ultralytics/offline.py: the patched Ultralytics resolves fonts
locally and refuses downloads with a clear error instead of trying them."""
import os.path as osp

import pytest

pytest.importorskip('ultralytics')

from kp_plugins.ultralytics.offline import OfflineDownloadError, import_ultralytics  # noqa: E402


@pytest.fixture(scope='module')
def ultralytics():
    return import_ultralytics(online=False)


def test_fonts_resolve_to_local_files(ultralytics):
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.checks as checks
    import ultralytics.utils.plotting as plotting
    for module in (checks, data_utils, plotting):
        path = module.check_font('Arial.ttf')
        assert osp.isfile(path), path
    assert osp.isfile(checks.check_font('Arial.Unicode.ttf'))


def test_downloads_are_refused_with_a_clear_error(ultralytics, tmp_path, monkeypatch):
    import ultralytics.utils.downloads as downloads
    from ultralytics.utils.callbacks import platform
    monkeypatch.chdir(tmp_path)
    missing = 'kp_no_such_model-pose.pt'
    with pytest.raises(OfflineDownloadError, match='no download attempted'):
        downloads.attempt_download_asset(missing)
    with pytest.raises(OfflineDownloadError, match=missing):
        ultralytics.YOLO(missing)
    with pytest.raises(ConnectionError):  # check_amp catches ConnectionError: skips its check
        downloads.safe_download(url='https://example.com/x.pt', file=str(tmp_path / 'x.pt'))
    assert not downloads.is_url('https://example.com/x.pt', check=True)
    assert platform.callbacks == {}
    (tmp_path / 'local.pt').write_bytes(b'x')
    assert downloads.attempt_download_asset('local.pt') == 'local.pt'


def test_online_flag_is_reported_off(ultralytics):
    import ultralytics.utils as utils
    import ultralytics.utils.events as events
    assert utils.ONLINE is False and events.events.enabled is False
