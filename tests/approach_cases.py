"""The config and train/test tests' cases, read from the one list of
approaches (kp_plugins.approaches.APPROACHES) when a test module is
collected: an approach added there is tested without editing a test."""
import os.path as osp
from typing import List

import pytest

from kp_plugins.approaches import APPROACHES, CONFIGS, Approach


def config_id(path: str) -> str:
    """A config's test id: its path under configs/ (its file name elsewhere)."""
    rel = osp.relpath(path, CONFIGS)
    return osp.basename(path) if rel.startswith('..') else rel


def input_hw(protocol: str) -> tuple:
    """``'128x96'`` -> ``(128, 96)``: a protocol's input (h, w)."""
    h, w = protocol.split('x')
    return int(h), int(w)


def kp_topdown_approaches() -> List[Approach]:
    """The top-down approaches whose head and codec are kp_plugins' own
    (their predict, flip merge and decode are ours), in list order."""
    return [a for a in APPROACHES if a.source == 'kp_plugins' and a.kind == 'topdown']


def kp_heads() -> List[str]:
    """The head names of :func:`kp_topdown_approaches`, once each, in order."""
    return list(dict.fromkeys(a.head for a in kp_topdown_approaches()))


def kp_r50_cases() -> List:
    """``(config, approach)`` for the ResNet-50 config and the extra configs
    of every kp_plugins top-down approach."""
    return [pytest.param(config, a, id=config_id(config))
            for a in kp_topdown_approaches()
            for config in (a.r50_config, *a.extra_configs) if config]


def effl0_cases(approaches: List[Approach] = None) -> List:
    """``(config, approach, protocol)`` for the EfficientNet-Lite0 config of
    every top-down approach (of ``approaches``) under every protocol."""
    return [pytest.param(config, a, protocol, id=config_id(config))
            for a in (APPROACHES if approaches is None else approaches)
            if a.kind == 'topdown'
            for protocol, config in a.configs.items()]


def effl0_real_data_cases() -> List:
    """:func:`effl0_cases` trained on real data: every 128x96 config; at
    256x192 the kp_plugins ones (keeps the file cheap)."""
    return [case for case in effl0_cases()
            if case.values[2] == '128x96' or case.values[1].source == 'kp_plugins']
