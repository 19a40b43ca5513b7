"""The settings of one approaches-benchmark run (``tools/benchmark.py``
builds them): what :class:`~kp_plugins.benchmark.runner.Benchmark` runs, and
what the tables (``rows``, ``report``) and ``--estimate`` read."""
import os.path as osp
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from .entries import REPO_ROOT, Entry
from .protocol import Protocol


def recorded_command(argv: Sequence[str], repo_root: str = REPO_ROOT) -> str:
    """``python tools/benchmark.py ARGS`` as the records keep it: an
    absolute path inside the repository (``--work-dir /clone/work_dirs/x``,
    also ``--opt=/clone/...``) is written relative to it, as the command
    runs from the root, so the records (and the README caption generated
    from them) do not depend on where the repository was checked out."""
    root = osp.abspath(repo_root).rstrip('/') + '/'

    def relative(arg: str) -> str:
        name, eq, value = arg.partition('=') if arg.startswith('--') else ('', '', arg)
        if osp.isabs(value) and osp.abspath(value).startswith(root):
            value = osp.relpath(osp.abspath(value), root)
        return f'{name}{eq}{value}'

    return ' '.join(['python tools/benchmark.py'] + [shlex.quote(relative(a)) for a in argv])


@dataclass
class Settings:
    """One benchmark run.

    Attributes:
        work_dir: where everything goes (its layout:
            :mod:`kp_plugins.benchmark.runner`).
        protocol: data, schedule and seed shared by every entry.
        entries: what to compare.
        batch_sizes: latency batch sizes (the first must be 1).
        warmup / repeats: latency warm-up calls and timed calls (median).
        threads: torch threads for latency and for the training processes.
        r50: also measure every entry's ResNet-50 256x192 config.
        train: train the entries (``False``: speed and size only; YOLO,
            whose latency needs its trained weights, is left out, and
            entries show the accuracy already in the work dir, if any).
        yolo_imgsz: Ultralytics training / inference size.
        yolo_subset: ``(coco, lspet)`` images for YOLO (quick runs).
        title: heading of results.md.
        eta_defaults: seconds a task of each kind is assumed to take until
            one has finished (the progress display's first ETA).
    """
    work_dir: str
    protocol: Protocol
    entries: List[Entry]
    batch_sizes: Sequence[int] = (1, 32)
    warmup: int = 3
    repeats: int = 10
    threads: int = 2
    r50: bool = True
    train: bool = True
    yolo_imgsz: int = 320
    yolo_subset: Optional[List[int]] = None
    title: str = 'kp_plugins approaches benchmark'
    eta_defaults: Dict[str, float] = field(default_factory=dict)
    command: str = ''
    notes: List[str] = field(default_factory=list)
    seeds: Optional[List[int]] = None

    @property
    def seed_list(self) -> List[int]:
        """The training seeds (``[protocol.seed]`` unless ``seeds`` is set)."""
        return list(self.seeds) if self.seeds else [self.protocol.seed]

    @property
    def multi_seed(self) -> bool:
        return len(self.seed_list) > 1

    @property
    def big_batch(self) -> Optional[int]:
        others = [b for b in self.batch_sizes if b != 1]
        return max(others) if others else None

    def speed_key(self) -> dict:
        return dict(batch_sizes=[int(b) for b in self.batch_sizes], warmup=self.warmup,
                    repeats=self.repeats, threads=self.threads, onnxruntime=True,
                    inference_form=True)
