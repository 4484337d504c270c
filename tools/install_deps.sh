#!/usr/bin/env bash
# Install what pgscore needs to build and test on Debian 12.
#
#   tools/install_deps.sh             # Debian packages + Python test deps
#   tools/install_deps.sh --fixtures  # also scikit-learn + numpy + xgboost (fixture and
#                                     # reference generation, tools/bench_trees.sh)
#
# Idempotent and fast when nothing is missing: every item is checked first
# (dpkg -s / python3 -c "import x"); apt-get update runs only when a Debian
# package must actually be installed. Prints one line per thing installed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

FIXTURES=0
for arg in "$@"; do
    case "$arg" in
        --fixtures) FIXTURES=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install_deps.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    fi
fi

# ---------------------------------------------------------------- Debian
DEB_PKGS=(
    postgresql-15
    postgresql-server-dev-15
    postgresql-contrib
    # tools/ha.sh and tests/test_ha.py: pg_auto_failover (the monitor's and
    # keepers' extension, and pg_autoctl)
    postgresql-15-auto-failover
    pg-auto-failover-cli
    gcc
    make
    # tests/test_dashboard.py drives the dashboard in a real headless browser
    chromium
    chromium-driver
)
# python3 itself, if the machine has none at all (a fresh minimal Debian 12).
if ! command -v python3 >/dev/null 2>&1; then
    DEB_PKGS+=(python3 python3-pip)
elif ! python3 -m pip --version >/dev/null 2>&1; then
    # Only the Debian python3 can get pip from apt; a pyenv/venv python has its own.
    if [ "$(command -v python3)" = /usr/bin/python3 ]; then
        DEB_PKGS+=(python3-pip)
    fi
fi

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

MISSING_DEB=()
for p in "${DEB_PKGS[@]}"; do
    deb_installed "$p" || MISSING_DEB+=("$p")
done

if [ "${#MISSING_DEB[@]}" -gt 0 ]; then
    "${SUDO[@]}" apt-get update -qq
    # Installing postgresql-15 on Debian may create and start a system cluster
    # on port 5432 (postgresql-common); the project never uses it, its own
    # cluster is managed by tools/pgcluster.sh.
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${MISSING_DEB[@]}" >/dev/null
    for p in "${MISSING_DEB[@]}"; do
        if deb_installed "$p"; then
            echo "installed: $p (apt)"
        else
            echo "install_deps.sh: failed to install Debian package $p" >&2
            exit 1
        fi
    done
fi

# ---------------------------------------------------------------- PyPI
PY=python3
PIP_ARGS=(install -q --disable-pip-version-check)
if [ "$(id -u)" -eq 0 ]; then
    PIP_ARGS+=(--root-user-action=ignore)
fi
# Debian's own python3 is "externally managed" (PEP 668); a pyenv/venv python is not.
if "$PY" - <<'EOF' 2>/dev/null
import sys, sysconfig, os
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
sys.exit(0 if (os.path.exists(marker) and not in_venv) else 1)
EOF
then
    PIP_ARGS+=(--break-system-packages)
fi

# "pip spec|python check code"
PY_DEPS=(
    # psycopg 3 with a working libpq (the binary wheel or the system libpq).
    "psycopg[binary]|import psycopg; psycopg.pq.version()"
    "pytest|import pytest"
    # ml.export_onnx is checked by scoring the exported file with ONNX Runtime
    # (tests/test_onnx_export.py); onnx is its format library (checker, helpers).
    "onnx|import onnx"
    "onnxruntime|import onnxruntime"
    # the REST gateway's tests (tests/test_gateway.py): real HTTP against the daemon,
    # and schemathesis checking every answer against openapi.yaml
    "requests|import requests"
    "schemathesis|import schemathesis"
    # tests/test_trees.py compares the tree models with scikit-learn's
    "numpy|import numpy"
    "scikit-learn|import sklearn"
    # tests/test_table_properties.py: the property-based campaign over generated tables
    "hypothesis|import hypothesis"
    # the Python package (python/, tests/test_workbench.py) and the notebook run headless
    # (examples/bracelet.ipynb: nbclient with an ipykernel, matplotlib's plot)
    "pandas|import pandas"
    "nbformat|import nbformat"
    "nbclient|import nbclient"
    "ipykernel|import ipykernel"
    "matplotlib|import matplotlib"
    "pyyaml|import yaml"
    # tests/test_dashboard.py: Selenium drives Debian's chromium through chromium-driver
    "selenium|import selenium"
)
if [ "$FIXTURES" -eq 1 ]; then
    PY_DEPS+=(
        # tools/make_tree_references.py and tools/bench_trees.py compare with XGBoost
        "xgboost|import xgboost"
    )
fi

MISSING_PY=()
for dep in "${PY_DEPS[@]}"; do
    spec=${dep%%|*}
    check=${dep#*|}
    "$PY" -c "$check" >/dev/null 2>&1 || MISSING_PY+=("$spec")
done

if [ "${#MISSING_PY[@]}" -gt 0 ]; then
    "$PY" -m pip "${PIP_ARGS[@]}" "${MISSING_PY[@]}"
    for spec in "${MISSING_PY[@]}"; do
        echo "installed: $spec (pip)"
    done
fi

# the repository's own package, python/ (pgscore): (re)installed when the installed copy
# is missing or differs from the working tree's files
PKG_DIR=$(cd "$(dirname "$0")/../python" && pwd)
if ! "$PY" - "$PKG_DIR" >/dev/null 2>&1 <<'EOF'
import pathlib, sys
import pgscore
installed = pathlib.Path(pgscore.__file__).parent
source = pathlib.Path(sys.argv[1]) / "pgscore"
files = sorted(p.name for p in source.glob("*.py"))
same = files == sorted(p.name for p in installed.glob("*.py")) and all(
    (source / f).read_bytes() == (installed / f).read_bytes() for f in files)
sys.exit(0 if same and installed.resolve() != source.resolve() else 1)
EOF
then
    (cd / && "$PY" -m pip "${PIP_ARGS[@]}" --force-reinstall --no-deps "$PKG_DIR")
    echo "installed: pgscore (pip install ./python)"
fi

exit 0
