"""A plain-text progress display with ETA for a list of benchmark tasks.

Each task has a kind (``train``, ``speed``...); the time a pending task will
take is estimated from the finished tasks of the same kind in this session,
else from the running task's own projection, else from a default. A task
resumed part-way (``begin(..., resumed=True)``) projects from the progress it
makes in this session, not from the fraction it starts at.
"""
import sys
import time
from typing import Dict, List, Optional, TextIO

DEFAULT_SECONDS = {'train': 900.0, 'speed': 60.0, 'yolo': 1800.0, 'estimate': 120.0}


def hms(seconds: Optional[float]) -> str:
    if seconds is None:
        return '?'
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f'{h}:{m:02d}:{s:02d}' if h else f'{m}:{s:02d}'


class Progress:
    """Tracks ``tasks`` (``(key, kind, label)``) and prints one line per
    update (at most every ``min_interval`` seconds unless forced)."""

    def __init__(self, tasks: List[tuple], stream: TextIO = sys.stdout,
                 min_interval: float = 5.0,
                 defaults: Optional[Dict[str, float]] = None) -> None:
        self.tasks = list(tasks)
        self.defaults = dict(DEFAULT_SECONDS, **(defaults or {}))
        self.stream = stream
        self.min_interval = min_interval
        self.done: Dict[str, float] = {}
        self.durations: Dict[str, List[float]] = {}
        self.current: Optional[tuple] = None
        self.current_start = 0.0
        self.current_fraction = 0.0
        self.base_fraction = 0.0  # where the running task started (resumed tasks)
        self.base_time = 0.0
        self._rebase = False
        self.start = time.time()
        self._last_print = 0.0

    def _index(self, key: str) -> int:
        return next(i for i, t in enumerate(self.tasks) if t[0] == key)

    def _made(self) -> float:
        """Fraction of the running task done in this session."""
        return self.current_fraction - self.base_fraction

    def estimate(self, kind: str) -> float:
        """Seconds a whole task of ``kind`` takes."""
        finished = self.durations.get(kind)
        if finished:
            return sum(finished) / len(finished)
        if self.current and self.current[1] == kind and self._made() > 0.02:
            return (time.time() - self.base_time) / self._made()
        return self.defaults.get(kind, 60.0)

    def remaining(self) -> float:
        left = 0.0
        if self.current:
            if self._made() > 0.02:
                left += ((time.time() - self.base_time) * (1 - self.current_fraction)
                         / self._made())
            else:
                left += max(0.0, self.estimate(self.current[1]) * (1 - self.base_fraction)
                            - (time.time() - self.current_start))
        for key, kind, _ in self.tasks:
            if key not in self.done and (not self.current or key != self.current[0]):
                left += self.estimate(kind)
        return left

    def begin(self, key: str, detail: str = '', resumed: bool = False) -> None:
        """Start task ``key``; ``resumed``: the first :meth:`update` gives the
        fraction it resumes at."""
        self.current = self.tasks[self._index(key)]
        self.current_start = self.base_time = time.time()
        self.current_fraction = self.base_fraction = 0.0
        self._rebase = resumed
        self.show(detail or 'started', force=True)

    def update(self, fraction: float, detail: str = '', force: bool = False,
               rebase: bool = False) -> None:
        """Set the running task's done fraction; ``rebase``: it resumes at
        ``fraction`` now (the ETA projects from here)."""
        self.current_fraction = max(0.0, min(1.0, fraction))
        if rebase or self._rebase:
            self.base_fraction, self.base_time = self.current_fraction, time.time()
            self._rebase = False
        self.show(detail, force=force)

    def finish(self, key: str, detail: str = '', cached: bool = False) -> None:
        task = self.tasks[self._index(key)]
        if cached:  # never begun: nothing ran
            self.current, elapsed = task, 0.0
            self.current_start = self.base_time = time.time()
            self.base_fraction = 0.0
        else:
            elapsed = time.time() - self.current_start
            self.durations.setdefault(task[1], []).append(elapsed)
        self.done[key] = elapsed
        self.current_fraction = 1.0
        self.show(detail or ('cached' if cached else f'done in {hms(elapsed)}'), force=True)
        self.current = None

    def show(self, detail: str, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_print < self.min_interval:
            return
        self._last_print = now
        if self.current is None:
            return
        key, kind, label = self.current
        n = self._index(key) + 1
        elapsed = now - self.current_start
        line = (f'[{time.strftime("%H:%M:%S")}] ({n}/{len(self.tasks)}) {kind} {label}: '
                f'{detail} | {hms(elapsed)} on this task | benchmark {hms(now - self.start)} '
                f'elapsed, ETA {hms(self.remaining())}')
        print(line, file=self.stream, flush=True)
