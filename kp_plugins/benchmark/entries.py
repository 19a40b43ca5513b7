"""What the approaches benchmark compares: the approaches of
:mod:`kp_plugins.approaches`, one entry each, with its config under each
accuracy protocol (EfficientNet-Lite0 at 128x96 and 256x192) and its
ResNet-50 256x192 config for the speed table."""
from typing import List, Optional

from kp_plugins.approaches import (  # noqa: F401  (the benchmark's names for them)
    APPROACHES,
    BENCHMARK_CONFIGS,
    CONFIGS,
    MMPOSE_RES50,
    PROTOCOLS,
    REPO_ROOT,
    Approach,
    approach_names,
)

#: A benchmark entry is an approach.
Entry = Approach
#: The entries: the very list :data:`kp_plugins.approaches.APPROACHES`
#: (an approach registered there is an entry too).
ENTRIES: List[Entry] = APPROACHES


def select_entries(names: Optional[List[str]] = None) -> List[Entry]:
    """Entries in benchmark order; ``names`` filters them (case-insensitive).

    Raises:
        ValueError: naming the unknown entries and the valid names.
    """
    if not names:
        return list(ENTRIES)
    by_name = {e.name.lower(): e for e in ENTRIES}
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise ValueError(f'unknown benchmark entries {unknown}; choose from '
                         f'{", ".join(approach_names())}')
    wanted = {n.lower() for n in names}
    return [e for e in ENTRIES if e.name.lower() in wanted]
