#!/usr/bin/env bash
# One command that builds kp_plugins' environment on a fresh Linux machine:
#
#     bash tools/setup.sh
#
# Creates .venv/ at the repository root and installs the verified OpenMMLab
# stack (versions pinned in requirements/constraints.txt, nowhere else):
# torch + torchvision, mmcv built from its sdist with its C++ ops (wheel cached
# under ~/.cache/kp_plugins so a second run skips the ~10 minute build),
# mmengine, mmdet and mmpose without their unusable dependencies (chumpy),
# the COCO tools, and kp_plugins itself (editable, with its test, lint (ruff),
# deploy (onnx, onnxruntime, onnxslim, mmdeploy-runtime) and yolo (ultralytics) extras), and mmdeploy
# (--no-deps) for tools/mmdeploy/.
# Safe to run twice. Environment knobs:
#   KP_PYTHON     python interpreter to build the venv from (default: python3.11 or python3)
#   KP_VENV       venv location (default: <repo>/.venv)
#   KP_PLUGINS_CACHE  kp_plugins' cache folder, here for the mmcv wheel (default:
#                 $XDG_CACHE_HOME/kp_plugins, else ~/.cache/kp_plugins: the folder
#                 kp_plugins also keeps generated and converted datasets in);
#                 KP_CACHE, its former name, still works
#   KP_NO_EXTRAS  set to 1 to skip the optional ultralytics extra
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KP_VENV:-$REPO/.venv}"
if [ -z "${KP_PLUGINS_CACHE:-}" ] && [ -n "${KP_CACHE:-}" ]; then
    echo "[setup] DeprecationWarning: KP_CACHE is deprecated; set KP_PLUGINS_CACHE instead" >&2
fi
CACHE="${KP_PLUGINS_CACHE:-${KP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kp_plugins}}"
CONSTRAINTS="$REPO/requirements/constraints.txt"
T0=$(date +%s)

step() { printf '\n[setup %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { printf '\n[setup] ERROR: %s\n' "$*" >&2; exit 1; }
pin() { # pin NAME -> version from the constraints file
    local v
    v=$(grep -iE "^$1==" "$CONSTRAINTS" | head -n1 | cut -d= -f3)
    [ -n "$v" ] || die "no pin for '$1' in $CONSTRAINTS"
    echo "$v"
}

step "checking prerequisites"
PY="${KP_PYTHON:-}"
if [ -z "$PY" ]; then
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
    done
fi
[ -n "$PY" ] || die "no python3 found; install Python 3.11 (or set KP_PYTHON)"
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$PYVER" = "3.11" ] || echo "[setup] warning: the stack was verified on Python 3.11; $PY is $PYVER"
"$PY" -c 'import venv' 2>/dev/null || die "$PY has no venv module (Debian: apt-get install python3-venv)"
command -v g++ >/dev/null 2>&1 || die "no C++ compiler (g++) found: mmcv's ops are compiled from source (Debian: apt-get install build-essential)"
"$PY" -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' \
    || die "Python headers (Python.h) missing for $PY (Debian: apt-get install python3-dev)"
mkdir -p "$CACHE/wheels"
free_gb=$(df -Pk "$(dirname "$VENV")" | awk 'NR==2 {print int($4/1048576)}')
if [ ! -d "$VENV" ] && [ "$free_gb" -lt 12 ]; then
    die "only ${free_gb} GB free under $(dirname "$VENV"); the environment needs about 12 GB (torch is a CUDA build)"
fi
echo "python: $PY ($PYVER), g++: $(g++ -dumpversion), free disk: ${free_gb} GB, cache: $CACHE"

step "creating the virtual environment at $VENV"
if [ -x "$VENV/bin/python" ]; then
    echo "exists, reusing"
else
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS")

step "build tools (pip, setuptools<81, wheel, ninja)"
"${PIP[@]}" -q --upgrade pip
"${PIP[@]}" -q setuptools wheel ninja packaging

step "torch $(pin torch) + torchvision $(pin torchvision)"
"${PIP[@]}" torch torchvision numpy 2>&1 | grep -vE '^(Requirement already satisfied|Looking in|WARNING: Location)' || true
"$VPY" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)' \
    || die "torch/torchvision did not install"

MMCV_VER=$(pin mmcv)
step "mmcv $MMCV_VER with C++ ops"
if "$VPY" -c "import mmcv, mmcv.ops, sys; from mmcv.ops import nms; sys.exit(0 if mmcv.__version__ == '$MMCV_VER' else 1)" 2>/dev/null; then
    echo "already installed with ops"
else
    TORCH_TAG=$("$VPY" -c 'import torch; print(torch.__version__.split("+")[0])')
    WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VER-torch$TORCH_TAG-py$PYVER"
    mkdir -p "$WHEEL_DIR"
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        echo "no cached wheel in $WHEEL_DIR: building from the sdist (about 10 minutes on 2 cores)"
        BUILD=$(mktemp -d)
        trap 'rm -rf "$BUILD"' EXIT
        "$VPY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
            --no-build-isolation "mmcv==$MMCV_VER" -d "$BUILD" >/dev/null \
            || die "could not download the mmcv $MMCV_VER sdist"
        tar -xzf "$BUILD"/mmcv-*.tar.gz -C "$BUILD"
        SRC=$(find "$BUILD" -maxdepth 1 -type d -name 'mmcv-*' | head -n1)
        # torch >= 2.6 headers need C++20; mmcv 2.1.0 hard-codes c++14/17.
        sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
        grep -q -- '-std=c++20' "$SRC/setup.py" || die "could not raise mmcv's C++ standard flag in setup.py"
        (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "$VPY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation -w "$WHEEL_DIR" . ) \
            || die "mmcv build failed (see the compiler output above)"
    else
        echo "using cached wheel $(ls "$WHEEL_DIR"/mmcv-*.whl)"
    fi
    "${PIP[@]}" -q --no-deps "$WHEEL_DIR"/mmcv-*.whl
    "${PIP[@]}" -q addict pyyaml yapf packaging Pillow
fi

step "mmengine, the runtime deps of mmdet / mmpose, COCO tools"
# mmpose's and mmdet's requirements/runtime.txt minus chumpy (unused, does not build).
"${PIP[@]}" -q mmengine numpy opencv-python xtcocotools pycocotools \
    json_tricks munkres matplotlib scipy pillow shapely six terminaltables tqdm rich

step "mmdet $(pin mmdet) and mmpose $(pin mmpose) (--no-deps)"
"${PIP[@]}" -q --no-deps mmdet mmpose

step "kp_plugins (editable) with its test, lint and deploy extras and the ultralytics extra"
EXTRAS="tests,lint,deploy"
[ "${KP_NO_EXTRAS:-0}" = "1" ] || EXTRAS="tests,lint,deploy,yolo"
# pip would resolve mmpose's declared dependencies again (chumpy, which does
# not build), so install kp_plugins --no-deps plus its own dependency list
# from pyproject.toml, minus the OpenMMLab packages installed above.
mapfile -t KP_DEPS < <("$VPY" - "$REPO/pyproject.toml" "$EXTRAS" <<'PYEOF'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], 'rb'))['project']
deps = list(project['dependencies'])
for extra in sys.argv[2].split(','):
    deps += project['optional-dependencies'][extra]
for dep in deps:
    name = re.split(r'[<>=!~;\[ ]', dep, maxsplit=1)[0].strip().lower()
    if name not in {'mmcv', 'mmdet', 'mmpose'}:
        print(dep)
PYEOF
)
[ "${#KP_DEPS[@]}" -gt 0 ] || die "could not read the dependency list from pyproject.toml"
"${PIP[@]}" -q "${KP_DEPS[@]}"
"${PIP[@]}" -q --no-deps -e "$REPO"

step "mmdeploy $(pin mmdeploy) (--no-deps: it declares protobuf<=3.20.2, which onnx 1.23 cannot use)"
"${PIP[@]}" -q --no-deps mmdeploy
"${PIP[@]}" -q aenum prettytable

step "verifying the stack"
"$VPY" - <<'EOF'
import numpy, torch, mmcv, mmengine, mmdet, mmpose
from mmcv.ops import nms  # noqa: F401  (proves the C++ ops were built)
import xtcocotools, pycocotools  # noqa: F401
import onnx, onnxruntime  # noqa: F401  (deploy extra)
import sys
if sys.version_info[:2] == (3, 11):  # mmdeploy-runtime has CPython 3.11 wheels only
    import mmdeploy_runtime  # noqa: F401  (deploy extra, the mmdeploy SDK)
import mmdeploy.apis, kp_plugins.deploy.mmdeploy_support  # noqa: F401
import mmpose.apis  # noqa: F401
import kp_plugins
assert numpy.__version__.startswith('1.'), numpy.__version__
print('numpy', numpy.__version__, '| torch', torch.__version__, '| mmcv', mmcv.__version__,
      '| mmengine', mmengine.__version__, '| mmdet', mmdet.__version__,
      '| mmpose', mmpose.__version__, '| onnxruntime', onnxruntime.__version__,
      '| kp_plugins', kp_plugins.__version__)
EOF
"$VENV/bin/ruff" --version || die "ruff (the lint extra) did not install"
step "done in $(( $(date +%s) - T0 )) s; activate with: source $VENV/bin/activate"
