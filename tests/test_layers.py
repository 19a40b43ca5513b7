"""The package's layers point one way (tools -> apis/benchmark/deploy ->
codecs/models -> utils): the model core never imports the deployment layer,
and utils imports no kp_plugins layer above it.

Every import statement of every module is read from its source (``ast``:
absolute and relative, at module level or inside functions, plus
``importlib.import_module`` / ``__import__`` with a literal name), so an
import that only runs on some code path is found too."""
import ast
import os
import os.path as osp
from typing import Iterator, List, Tuple

import pytest

from conftest import REPO_ROOT

PACKAGE = 'kp_plugins'
#: The deployment and application layers, which sit above the model core.
UPPER_LAYERS = ('kp_plugins.deploy', 'kp_plugins.apis', 'kp_plugins.benchmark')
#: For each checked package: the kp_plugins modules it may not import.
FORBIDDEN = {
    'kp_plugins.codecs': UPPER_LAYERS,
    'kp_plugins.models': UPPER_LAYERS,
}
#: What utils (the bottom layer) may import of kp_plugins.
UTILS_ALLOWED = ('kp_plugins.utils', 'kp_plugins.version')


def module_name(path: str) -> Tuple[str, bool]:
    """Dotted module name of a ``.py`` file under the repository, and
    whether it is a package's ``__init__``."""
    parts = osp.relpath(path, REPO_ROOT)[:-len('.py')].split(os.sep)
    if parts[-1] == '__init__':
        return '.'.join(parts[:-1]), True
    return '.'.join(parts), False


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[Tuple[int, str]]:
    """``(line, absolute module name)`` of everything ``source`` (the text
    of ``module``) imports; ``from a import b`` yields ``a`` and ``a.b``
    (``b`` may be a submodule)."""
    package = module if is_package else module.rpartition('.')[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                if node.level > len(parts):
                    raise ValueError(f'{module}:{node.lineno}: relative import beyond '
                                     'the top-level package')
                base = '.'.join(parts[:len(parts) - node.level + 1])
                target = f'{base}.{node.module}' if node.module else base
            else:
                target = node.module
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f'{target}.{alias.name}'
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and (getattr(node.func, 'attr', None) == 'import_module'
                   or getattr(node.func, 'id', None) in ('import_module', '__import__'))):
            yield node.lineno, node.args[0].value


def package_imports(package: str) -> List[Tuple[str, int, str]]:
    """``(file, line, imported module)`` for every module under ``package``."""
    found = []
    top = osp.join(REPO_ROOT, *package.split('.'))
    for folder, _, files in os.walk(top):
        for name in sorted(files):
            if name.endswith('.py'):
                path = osp.join(folder, name)
                module, is_package = module_name(path)
                with open(path, encoding='utf-8') as f:
                    source = f.read()
                for line, target in imported_modules(source, module, is_package):
                    found.append((osp.relpath(path, REPO_ROOT), line, target))
    return found


def inside(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + '.') for p in packages)


def test_resolves_absolute_relative_and_lazy_imports():
    source = '''
import kp_plugins.deploy.runtime as rt
from kp_plugins import deploy
from ..deploy import export
from .. import apis
from .grid_label import KPGridLabel
def lazy():
    importlib.import_module('kp_plugins.deploy.decode')
'''
    got = list(imported_modules(source, 'kp_plugins.codecs.x', is_package=False))
    assert got == [(2, 'kp_plugins.deploy.runtime'), (3, 'kp_plugins'), (3, 'kp_plugins.deploy'),
                   (4, 'kp_plugins.deploy'), (4, 'kp_plugins.deploy.export'),
                   (5, 'kp_plugins'), (5, 'kp_plugins.apis'),
                   (6, 'kp_plugins.codecs.grid_label'),
                   (6, 'kp_plugins.codecs.grid_label.KPGridLabel'),
                   (8, 'kp_plugins.deploy.decode')]
    # a relative import in a package's __init__ starts at the package itself
    init = list(imported_modules('from .heads import X', 'kp_plugins.models', is_package=True))
    assert init[0] == (1, 'kp_plugins.models.heads')
    with pytest.raises(ValueError, match='beyond the top-level package'):
        list(imported_modules('from ... import x', 'kp_plugins.codecs.x', is_package=False))


@pytest.mark.parametrize('package', sorted(FORBIDDEN))
def test_model_core_does_not_import_deployment(package):
    imports = package_imports(package)
    # the scan sees the package's own imports (an empty scan would pass anything)
    assert any(inside(t, (package, 'kp_plugins.utils')) for _, _, t in imports), imports[:5]
    bad = [f'{path}:{line} imports {target}' for path, line, target in imports
           if inside(target, FORBIDDEN[package])]
    assert not bad, (f'{package} (model core) must not import the layers above it '
                     f'{FORBIDDEN[package]}:\n' + '\n'.join(bad))


def test_utils_imports_no_upper_layer():
    imports = package_imports('kp_plugins.utils')
    assert any(inside(t, ('kp_plugins.utils', )) for _, _, t in imports)
    bad = [f'{path}:{line} imports {target}' for path, line, target in imports
           if inside(target, (PACKAGE, )) and not inside(target, UTILS_ALLOWED)]
    assert not bad, ('kp_plugins.utils (the bottom layer) imports of kp_plugins only itself '
                     'and kp_plugins.version:\n' + '\n'.join(bad))
