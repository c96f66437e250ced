#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: the one command for developers and CI.
#
# 1. A Python venv for the KEDA client suite (tests/keda_client) in target/py-venv, with
#    tests/keda_client/requirements.txt installed; reinstalled only when that file changes.
# 2. `cargo test --locked --all-targets --no-fail-fast`, which includes tests/keda_client.rs (it
#    runs the Python suite against the built binary through ECS_SCALER_PYTHON). Every test binary
#    runs even after a failure, so one run shows all failures; the exit status is still non-zero.
#
# Works from any directory. Extra arguments go to `cargo test` (e.g. `-- --nocapture`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=target/py-venv
requirements=tests/keda_client/requirements.txt
stamp=$venv/.requirements.sha256

if [[ ! -x $venv/bin/python ]]; then
    echo "run-all: creating the Python venv $venv"
    rm -rf "$venv"
    mkdir -p target
    python3 -m venv "$venv"
fi

wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
    echo "run-all: installing $requirements into $venv"
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input --requirement "$requirements"
    echo "$wanted" > "$stamp"
else
    echo "run-all: $venv is up to date with $requirements"
fi

ECS_SCALER_PYTHON=$(pwd)/$venv/bin/python
export ECS_SCALER_PYTHON

cargo test --locked --all-targets --no-fail-fast "$@"
