#!/usr/bin/env bash
# Create or refresh the project's virtual environment, idempotently.
#
#   1. a venv (python3 >= 3.10) at $VENV (default: <repo>/.venv) if there is none;
#   2. torch, first and only if the venv lacks it: the CUDA build from PyPI where an NVIDIA GPU
#      answers `nvidia-smi -L`, else the CPU build (+cpu), so that a GPU-less machine never
#      downloads the multi-GB CUDA wheel;
#   3. the project in editable mode with its dev tools, skipped while pyproject.toml is unchanged
#      since the last successful install (its hash is stamped inside the venv).
#
# Environment: VENV (venv directory), PYTHON (interpreter that creates it), CI=true (pip prints errors only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
STAMP="$VENV/.sim2adapt-setup-stamp"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

pip_flags=(--disable-pip-version-check --quiet)
if [[ "${CI:-}" == "true" || ! -t 1 ]]; then
    pip_flags+=(--progress-bar off)
fi
if [[ "${CI:-}" == "true" ]]; then
    pip_flags+=(--quiet)  # errors only: this machine's pip config warns about every package it looks up
fi

# --- 1. the virtual environment ------------------------------------------------------------------
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "pass" 2>/dev/null; then
    say "venv $VENV ($("$VENV/bin/python" --version 2>&1))"
else
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python >= 3.10 or set PYTHON="
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$("$PYTHON" --version 2>&1) is too old; sim2adapt needs Python >= 3.10 (set PYTHON=)"
    say "creating venv $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear "$VENV"
    rm -f "$STAMP"
fi
PY="$VENV/bin/python"

installed_version() {  # prints the installed version of a distribution, or nothing
    "$PY" -c "import importlib.metadata as m, sys
try:
    print(m.version(sys.argv[1]))
except m.PackageNotFoundError:
    pass" "$1"
}

# --- 2. torch, before anything that depends on it -------------------------------------------------
torch_now="$(installed_version torch)"
if [[ -n "$torch_now" ]]; then
    say "torch $torch_now already installed"
elif nvidia-smi -L >/dev/null 2>&1; then
    say "NVIDIA GPU found: installing torch==$TORCH_VERSION (CUDA build) from the package index"
    # This machine's pip config adds a find-links folder holding torch-$TORCH_VERSION+cpu, and pip
    # would prefer that local version (2.13.0+cpu sorts above 2.13.0). An environment value overrides
    # the config file, so point find-links at an empty folder; index and constraints stay as set.
    no_links="$(mktemp -d)"
    PIP_FIND_LINKS="$no_links" "$PY" -m pip install "${pip_flags[@]}" "torch==$TORCH_VERSION"
    rmdir "$no_links"
    cuda="$("$PY" -c 'import torch; print(torch.version.cuda or "")')"
    [[ -n "$cuda" ]] || die "installed $(installed_version torch) has no CUDA support despite the GPU"
    say "torch $(installed_version torch) with CUDA $cuda"
else
    say "no NVIDIA GPU: installing torch==$TORCH_VERSION+cpu"
    "$PY" -m pip install "${pip_flags[@]}" "torch==$TORCH_VERSION+cpu" \
        || { say "retrying from the PyTorch CPU index";
             "$PY" -m pip install "${pip_flags[@]}" --index-url https://download.pytorch.org/whl/cpu \
                 "torch==$TORCH_VERSION+cpu"; }
fi

# --- 3. the project and its dev tools -------------------------------------------------------------
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -n "$(installed_version sim2adapt)" ]]; then
    say "sim2adapt and dev tools up to date (pyproject.toml unchanged)"
else
    say "installing sim2adapt (editable) with dev tools"
    "$PY" -m pip install "${pip_flags[@]}" -e "$ROOT[dev]"
    printf '%s\n' "$want" >"$STAMP"
fi
say "ready: $VENV"
