#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: the one command for developers and CI.
#
# 1. One Python venv in target/py-venv for the KEDA client suite (tests/keda_client), the
#    AWS emulator of the SQS tests (moto, tests/moto) and the manifest suite (tests/manifests:
#    kubernetes-validate, Helm v4 as a library), with every file of `requirements` below
#    installed; reinstalled only when one of them changes.
#    And a second venv in target/localstack-venv, on Python 3.13 (LocalStack needs it), with
#    tests/localstack/requirements.txt for the CloudWatch test (tests/cloudwatch.rs).
# 2. `cargo test --locked --all-targets --no-fail-fast`, which includes tests/keda_client.rs (it
#    runs the Python suite against the built binary through ECS_SCALER_PYTHON). Every test binary
#    runs even after a failure, so one run shows all failures; the exit status is still non-zero.
#
# Works from any directory. Extra arguments go to `cargo test` (e.g. `-- --nocapture`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Prometheus for tests/prometheus.rs, from Debian's package (CI runs as root); without it on
# PATH that test fails rather than skips.
if ! command -v prometheus >/dev/null; then
    echo "run-all: installing Prometheus (apt-get)"
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
fi

venv=target/py-venv
requirements=(tests/keda_client/requirements.txt tests/moto/requirements.txt tests/manifests/requirements.txt)
stamp=$venv/.requirements.sha256

if [[ ! -x $venv/bin/python ]]; then
    echo "run-all: creating the Python venv $venv"
    rm -rf "$venv"
    mkdir -p target
    python3 -m venv "$venv"
fi

wanted=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
    echo "run-all: installing ${requirements[*]} into $venv"
    rm -f "$stamp"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input "${requirements[@]/#/--requirement=}"
    echo "$wanted" > "$stamp"
else
    echo "run-all: $venv is up to date with ${requirements[*]}"
fi

ECS_SCALER_PYTHON=$(pwd)/$venv/bin/python
export ECS_SCALER_PYTHON

# LocalStack (CloudWatch for tests/cloudwatch.rs) needs Python 3.13: $ECS_SCALER_PYTHON313, else
# pyenv's newest 3.13.x, else python3.13 on PATH. A fresh install takes about 45 s.
find_python313() {
    if [[ -n ${ECS_SCALER_PYTHON313:-} ]]; then
        echo "$ECS_SCALER_PYTHON313"
        return
    fi
    local roots=() root candidate
    if command -v pyenv >/dev/null; then
        roots+=("$(pyenv root)")
    fi
    roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
    for root in "${roots[@]}"; do
        candidate=$(ls -d "$root"/versions/3.13*/bin/python3 2>/dev/null | sort -V | tail -n 1)
        if [[ -n $candidate && -x $candidate ]]; then
            echo "$candidate"
            return
        fi
    done
    command -v python3.13 || true
}

ls_venv=target/localstack-venv
ls_requirements=tests/localstack/requirements.txt
ls_stamp=$ls_venv/.requirements.sha256
ls_wanted=$(sha256sum "$ls_requirements" | cut -d' ' -f1)
if [[ ! -x $ls_venv/bin/python || ! -f $ls_stamp || $(cat "$ls_stamp") != "$ls_wanted" ]]; then
    python313=$(find_python313)
    if [[ -z $python313 ]] || ! "$python313" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
        echo "run-all: LocalStack needs Python 3.13 and none was found (looked at" \
            "\$ECS_SCALER_PYTHON313, pyenv's versions/3.13*, python3.13 on PATH);" \
            "install it (pyenv install 3.13.0) or set ECS_SCALER_PYTHON313" >&2
        exit 1
    fi
    echo "run-all: installing $ls_requirements into $ls_venv (with $python313)"
    rm -rf "$ls_venv"
    mkdir -p target
    "$python313" -m venv "$ls_venv"
    "$ls_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-input --requirement "$ls_requirements"
    echo "$ls_wanted" > "$ls_stamp"
else
    echo "run-all: $ls_venv is up to date with $ls_requirements"
fi
ECS_SCALER_LOCALSTACK_PYTHON=$(pwd)/$ls_venv/bin/python
export ECS_SCALER_LOCALSTACK_PYTHON

# Dummy AWS credentials for the tests against emulators (tests/sqs): the scaler reads them
# through the SDK's default chain, as it would real ones. They are never valid anywhere, and they
# replace any real credentials of the calling shell, so a test can never reach a real account.
export AWS_ACCESS_KEY_ID=AKIDECSSCALERTEST
export AWS_SECRET_ACCESS_KEY=ecs-scaler-test-secret
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_EC2_METADATA_DISABLED=true

# The output is kept so that one closing line can count every test binary's results.
log=target/test-output.log
status=0
cargo test --locked --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
