#!/bin/sh
# Install llama-cpp-python (with its OpenAI-compatible server's dependencies) into a venv from
# a wheel cached in ${CARE_CACHE:-~/.cache/care}/wheels, building that wheel once from source
# (about 12 minutes on 2 cores) when it is not there yet.
# Usage: scripts/install-llamacpp.sh [VENV_BIN]    (default .venv/bin)
set -eu
BIN=${1:-.venv/bin}
VERSION=${LLAMACPP_VERSION:-0.3.36}
CACHE=${CARE_CACHE:-$HOME/.cache/care}/wheels
mkdir -p "$CACHE"
find_wheel() { ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n 1; }
WHEEL=$(find_wheel || true)
if [ -z "$WHEEL" ]; then
    echo "building llama-cpp-python $VERSION once (about 12 minutes); cached in $CACHE" >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF" nice -n 10 "$BIN/pip" wheel -q \
        "llama-cpp-python==$VERSION" -w "$CACHE" --no-deps
    WHEEL=$(find_wheel)
fi
"$BIN/pip" install -q "$WHEEL[server]"
