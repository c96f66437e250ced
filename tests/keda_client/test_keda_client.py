"""KEDA's side of the wire, played by a client from another gRPC implementation.

The client is Python grpcio with stubs generated at test time from `proto/externalscaler.proto`
(the same file KEDA's copy must match). The suite starts the real `ecs-scaler` binary
(`ECS_SCALER_BIN`, default `target/debug/ecs-scaler`) on a temporary policy directory and calls it
the way KEDA does:

- one evaluation: `GetMetricSpec`, then `GetMetrics` with the spec's metric name, then `IsActive`;
- `StreamIsActive` (trigger type `external-push`): the activity at once, then `true` as soon as
  pushed datapoints scale the service out from zero;
- errors KEDA must be able to tell apart: `NOT_FOUND`, `INVALID_ARGUMENT`;
- the standard gRPC health service (`grpc.health.v1.Health`).

Run it with `python -m pytest -q tests/keda_client` from the repository root (the Rust test
`tests/keda_client.rs` does; `tests/run-all.sh` installs `requirements.txt` into a venv).
Every wait is bounded; the whole suite takes a few seconds.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO_ROOT / "proto"

NAMESPACE = "keda-test"
OTHER_NAMESPACE = "other"
# Never receives a datapoint: stays at D = 0.
IDLE = "idle-worker"
# Receives the datapoints that scale it out from zero.
BUSY = "queue-worker"
PERIOD = 10  # seconds per metric period (complete periods only are evaluated)
TARGET = 100  # backlog per task

STARTUP_TIMEOUT = 20.0  # the binary is already built: it binds in milliseconds
RPC_TIMEOUT = 5.0
DECIDED_TIMEOUT = 10.0  # first evaluation happens at start, then every --tick-interval (1 s)
FIRST_MESSAGE_TIMEOUT = 5.0
# The push is evaluated at once or at the next tick; a period boundary may add one more tick.
SCALE_OUT_TIMEOUT = 15.0
STREAM_DEADLINE = 60.0  # gRPC deadline of the StreamIsActive call itself

POLICY_SET = """\
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata:
  name: {name}
  namespace: {namespace}
spec:
  scalableTarget:
    minCapacity: 0
    maxCapacity: 10
  metrics:
    backlog: {{push: {{period: {period}}}}}
  policies:
  - policyName: backlog-per-task
    targetTracking:
      metric: backlog
      perTask: true
      targetValue: {target}
      scaleOutCooldown: 0
"""

SERVING_LINE = re.compile(r"ecs-scaler serving\..*?\bgrpc=(\S+)\s+http=(\S+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pb(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The externalscaler messages and stubs, generated now from proto/externalscaler.proto."""
    out = tmp_path_factory.mktemp("externalscaler_stubs")
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        str(PROTO_DIR / "externalscaler.proto"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (
        f"protoc failed ({result.returncode}): {' '.join(command)}\n{result.stdout}{result.stderr}"
    )
    sys.path.insert(0, str(out))
    try:
        messages = importlib.import_module("externalscaler_pb2")
        services = importlib.import_module("externalscaler_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    return SimpleNamespace(messages=messages, services=services)


@dataclass
class Server:
    process: subprocess.Popen
    log_path: Path
    grpc_addr: str
    http_addr: str

    def log(self) -> str:
        return read_log(self.log_path)


def read_log(path: Path) -> str:
    try:
        return ANSI.sub("", path.read_text(errors="replace"))
    except FileNotFoundError:
        return ""


def scaler_binary() -> Path:
    configured = os.environ.get("ECS_SCALER_BIN")
    path = Path(configured) if configured else Path("target/debug/ecs-scaler")
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file():
        pytest.fail(
            f"ecs-scaler binary not found at {path}: run `cargo build` or set ECS_SCALER_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The real binary serving IDLE and BUSY (both minCapacity 0) from a temporary directory."""
    policies = tmp_path_factory.mktemp("policies")
    for name in (IDLE, BUSY):
        (policies / f"{name}.yaml").write_text(
            POLICY_SET.format(name=name, namespace=NAMESPACE, period=PERIOD, target=TARGET)
        )
    log_path = tmp_path_factory.mktemp("server") / "ecs-scaler.log"
    env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
    command = [
        str(scaler_binary()),
        "serve",
        "--policies",
        str(policies),
        "--grpc-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--tick-interval",
        "1",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        match = None
        while match is None:
            match = SERVING_LINE.search(read_log(log_path))
            if match is not None:
                break
            if process.poll() is not None:
                pytest.fail(
                    f"ecs-scaler exited with {process.returncode} before serving:\n"
                    f"{read_log(log_path)}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no `ecs-scaler serving.` line within {STARTUP_TIMEOUT} s:\n"
                    f"{read_log(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.02)
        yield Server(process, log_path, grpc_addr=match.group(1), http_addr=match.group(2))
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def channel(server: Server):
    with grpc.insecure_channel(server.grpc_addr) as ch:
        try:
            grpc.channel_ready_future(ch).result(timeout=RPC_TIMEOUT)
        except grpc.FutureTimeoutError:
            pytest.fail(
                f"gRPC channel to {server.grpc_addr} not ready within {RPC_TIMEOUT} s:\n"
                f"{server.log()}",
                pytrace=False,
            )
        yield ch


@pytest.fixture(scope="session")
def stub(pb: SimpleNamespace, channel: grpc.Channel):
    return pb.services.ExternalScalerStub(channel)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def scaled_object(pb, server: Server, name: str, namespace: str = NAMESPACE, **metadata: str):
    """A ScaledObjectRef as KEDA sends it: the whole trigger metadata, scalerAddress included."""
    return pb.messages.ScaledObjectRef(
        name=name,
        namespace=namespace,
        scalerMetadata={"scalerAddress": server.grpc_addr, **metadata},
    )


def http(server: Server, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{server.http_addr}{path}",
        data=data,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=RPC_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def decision(server: Server, name: str) -> dict:
    status, body = http(server, "GET", f"/v1/namespaces/{NAMESPACE}/policysets/{name}")
    assert status == 200, f"GET decision of {name}: {status} {body!r}"
    return json.loads(body)


def wait_decided(server: Server, name: str) -> dict:
    """The first decision of a policy set (made at start, so this returns at once in practice)."""
    deadline = time.monotonic() + DECIDED_TIMEOUT
    while True:
        view = decision(server, name)
        if view["status"] == "Decided":
            return view
        assert time.monotonic() < deadline, (
            f"{name} not decided within {DECIDED_TIMEOUT} s: {view}\n{server.log()}"
        )
        time.sleep(0.05)


def push(server: Server, name: str, value: float, timestamp: float | None = None) -> None:
    body: dict = {"value": value}
    if timestamp is not None:
        instant = dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
        body["timestamp"] = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    status, answer = http(
        server, "PUT", f"/v1/namespaces/{NAMESPACE}/policysets/{name}/metrics/backlog", body
    )
    assert status == 204, f"push {body} to {name}: {status} {answer!r}"


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def call_rpc(pb, stub, method: str, ref):
    """One call of `method` for `ref`, as KEDA makes it; a stream's first message."""
    if method == "GetMetricSpec":
        return stub.GetMetricSpec(ref, timeout=RPC_TIMEOUT)
    if method == "GetMetrics":
        request = pb.messages.GetMetricsRequest(scaledObjectRef=ref, metricName="whatever")
        return stub.GetMetrics(request, timeout=RPC_TIMEOUT)
    if method == "IsActive":
        return stub.IsActive(ref, timeout=RPC_TIMEOUT)
    if method == "StreamIsActive":
        return next(stub.StreamIsActive(ref, timeout=RPC_TIMEOUT))
    raise AssertionError(method)


# ---------------------------------------------------------------------------------------------
# (a) One evaluation, the way KEDA makes it
# ---------------------------------------------------------------------------------------------


def test_keda_evaluation_at_zero(pb, server, stub):
    wait_decided(server, IDLE)
    ref = scaled_object(pb, server, "idle-scaledobject", policy=IDLE)

    spec = stub.GetMetricSpec(ref, timeout=RPC_TIMEOUT)
    assert len(spec.metricSpecs) == 1, spec
    metric = spec.metricSpecs[0]
    assert metric.metricName, spec
    assert metric.targetSizeFloat == 1.0
    assert metric.targetSize == 1

    values = stub.GetMetrics(
        pb.messages.GetMetricsRequest(scaledObjectRef=ref, metricName=metric.metricName),
        timeout=RPC_TIMEOUT,
    )
    assert len(values.metricValues) == 1, values
    value = values.metricValues[0]
    assert value.metricName == metric.metricName
    assert value.metricValueFloat == 0.0
    assert value.metricValue == 0

    assert stub.IsActive(ref, timeout=RPC_TIMEOUT).result is False


def test_policy_namespace_overrides_the_scaled_object_namespace(pb, server, stub):
    wait_decided(server, IDLE)
    ref = scaled_object(
        pb, server, "elsewhere", namespace=OTHER_NAMESPACE, policy=IDLE, policyNamespace=NAMESPACE
    )
    spec = stub.GetMetricSpec(ref, timeout=RPC_TIMEOUT)
    assert [m.targetSizeFloat for m in spec.metricSpecs] == [1.0]
    assert stub.IsActive(ref, timeout=RPC_TIMEOUT).result is False


def test_stream_metric_spec_sends_the_spec_at_once(pb, server, stub):
    ref = scaled_object(pb, server, "idle-scaledobject", policy=IDLE)
    pulled = stub.GetMetricSpec(ref, timeout=RPC_TIMEOUT)
    stream = stub.StreamMetricSpec(ref, timeout=RPC_TIMEOUT)
    try:
        assert next(stream) == pulled
    finally:
        stream.cancel()


# ---------------------------------------------------------------------------------------------
# (b) StreamIsActive: scale from zero as soon as the data says so
# ---------------------------------------------------------------------------------------------


def test_stream_is_active_reports_scale_out_from_zero(pb, server, stub):
    assert wait_decided(server, BUSY)["desired"] == 0
    ref = scaled_object(pb, server, "busy-scaledobject", policy=BUSY)

    stream = stub.StreamIsActive(ref, timeout=STREAM_DEADLINE)
    received: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            for message in stream:
                received.put(message.result)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                received.put(error)

    reader = threading.Thread(target=read, name="StreamIsActive", daemon=True)
    reader.start()
    try:
        try:
            first = received.get(timeout=FIRST_MESSAGE_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"StreamIsActive sent nothing within {FIRST_MESSAGE_TIMEOUT} s")
        assert first is False, f"first StreamIsActive message: {first!r}"

        # Backlog 250 in each of the last five complete periods (more than the three the
        # implicit high alarm needs, in case a period boundary passes meanwhile), and one in the
        # current period for the same reason.
        now = time.time()
        current_period = math.floor(now / PERIOD) * PERIOD
        for back in range(5, 0, -1):
            push(server, BUSY, 2.5 * TARGET, current_period - back * PERIOD + PERIOD / 2)
        push(server, BUSY, 2.5 * TARGET)

        pushed = time.monotonic()
        deadline = pushed + SCALE_OUT_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = received.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                pytest.fail(
                    f"StreamIsActive did not send `result: true` within {SCALE_OUT_TIMEOUT} s "
                    f"of the push; decision: {decision(server, BUSY)}\n{server.log()}"
                )
            if isinstance(message, grpc.RpcError):
                pytest.fail(f"StreamIsActive failed: {message.code()} {message.details()}")
            if message is True:
                break
        print(f"StreamIsActive sent true {time.monotonic() - pushed:.2f} s after the push")
    finally:
        stream.cancel()
        reader.join(timeout=RPC_TIMEOUT)
    assert not reader.is_alive(), "the StreamIsActive reader did not stop after cancel()"

    # The new D, in both fields. D may move on a tick between two reads: retry on a change.
    spec = stub.GetMetricSpec(ref, timeout=RPC_TIMEOUT)
    metric_name = spec.metricSpecs[0].metricName
    for _ in range(5):
        before = decision(server, BUSY)["desired"]
        values = stub.GetMetrics(
            pb.messages.GetMetricsRequest(scaledObjectRef=ref, metricName=metric_name),
            timeout=RPC_TIMEOUT,
        )
        after = decision(server, BUSY)["desired"]
        if before == after:
            break
    assert before == after, "the desired capacity kept changing between reads"
    assert after >= 1, decision(server, BUSY)
    [value] = values.metricValues
    assert value.metricName == metric_name
    assert value.metricValueFloat == float(after)
    assert value.metricValue == after
    assert stub.IsActive(ref, timeout=RPC_TIMEOUT).result is True


# ---------------------------------------------------------------------------------------------
# (c) Errors
# ---------------------------------------------------------------------------------------------

METHODS = ["GetMetricSpec", "GetMetrics", "IsActive", "StreamIsActive"]


@pytest.mark.parametrize("method", METHODS)
def test_unknown_policy_is_not_found(pb, server, stub, method):
    ref = scaled_object(pb, server, "lost", policy="no-such-policy")
    error = rpc_error(lambda: call_rpc(pb, stub, method, ref))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert "no-such-policy" in error.details(), error.details()


@pytest.mark.parametrize("method", METHODS)
def test_unknown_metadata_key_is_invalid_argument(pb, server, stub, method):
    ref = scaled_object(pb, server, "typo", policy=IDLE, queueLenght="5")
    error = rpc_error(lambda: call_rpc(pb, stub, method, ref))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "queueLenght" in error.details(), error.details()


@pytest.mark.parametrize("method", METHODS)
def test_inline_target_value_not_a_number_is_invalid_argument(pb, server, stub, method):
    ref = scaled_object(pb, server, "inline", targetValue="abc")
    error = rpc_error(lambda: call_rpc(pb, stub, method, ref))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "targetValue" in error.details(), error.details()
    assert "abc" in error.details(), error.details()


# ---------------------------------------------------------------------------------------------
# (d) gRPC health
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["", "externalscaler.ExternalScaler"])
def test_health_is_serving(channel, service):
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_health_of_an_unknown_service_is_not_found(channel):
    health = health_pb2_grpc.HealthStub(channel)
    error = rpc_error(
        lambda: health.Check(
            health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=RPC_TIMEOUT
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
