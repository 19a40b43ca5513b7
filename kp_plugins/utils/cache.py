"""Cached folders built once: into a temporary sibling, then renamed.

A reader never sees half a folder (an interrupted build leaves only a
temporary folder, removed by the next build), and processes that build the
same folder at once (distributed ranks, dataloader workers, parallel tests)
wait for each other on a file lock, so the work is done once.
"""
import contextlib
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Iterator


@contextlib.contextmanager
def file_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone protects the folder
        yield
        return
    with open(path, 'a') as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def build_folder_once(final: str, build: Callable[[str], object], done_file: str) -> bool:
    """Make the folder ``final`` unless it is complete (holds ``done_file``).

    ``build(tmp)`` writes the content into an empty temporary folder beside
    ``final``, which is then renamed to ``final``; this runs under the lock
    file ``final + '.lock'``. An incomplete ``final`` (without ``done_file``)
    is replaced.

    Args:
        final: the folder to make.
        build: writes the folder's content into the folder it is given.
        done_file: a file ``build`` writes last, relative to the folder;
            its presence marks the folder complete.

    Returns:
        bool: True when the folder was built now, False when it was reused.
    """
    done = osp.join(final, done_file)
    if osp.isfile(done):
        return False
    parent = osp.dirname(osp.abspath(final))
    os.makedirs(parent, exist_ok=True)
    with file_lock(final + '.lock'):
        if osp.isfile(done):  # another process built it while we waited
            return False
        if osp.isdir(final) and not osp.islink(final):
            shutil.rmtree(final)
        elif osp.lexists(final):
            os.remove(final)
        tmp = tempfile.mkdtemp(prefix=osp.basename(final) + '.tmp-', dir=parent)
        try:
            build(tmp)
            try:
                os.rename(tmp, final)
            except OSError:
                if not osp.isfile(done):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True
