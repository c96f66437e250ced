"""KEDA's side of the wire, played by a client from another gRPC implementation.

The client is Python grpcio with stubs generated at test time from `proto/externalscaler.proto`
(the same file KEDA's copy must match). The suite starts the real `ecs-scaler` binary
(`ECS_SCALER_BIN`, default `target/debug/ecs-scaler`) on a temporary policy directory and calls it
the way KEDA does:

- one evaluation: `GetMetricSpec`, then `GetMetrics` with the spec's metric name, then `IsActive`;
- `StreamIsActive` (trigger type `external-push`): the activity at once, then `true` as soon as
  pushed datapoints scale the service out from zero;
- errors KEDA must be able to tell apart: `NOT_FOUND`, `INVALID_ARGUMENT`;
- the standard gRPC health service (`grpc.health.v1.Health`);
- KEDA's conventions (`Keda` below replays what `pkg/scalers/external_scaler.go` does): several
  triggers of one ScaledObject, each with its whole metadata, on one pooled connection per
  address and TLS settings; `<key>FromEnv` resolved from the workload's environment (dropped when
  unset); the `s<N>-` prefix of the HPA's metric name stripped before `GetMetrics`; booleans as
  Go parses them; `StreamIsActive` reconnected 2 s after it ends.

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


def start_scaler(tmp_path_factory: pytest.TempPathFactory, extra: list[str], pattern: re.Pattern):
    """Starts the binary on IDLE and BUSY; yields the process, its log and `pattern`'s match."""
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
        *extra,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            text = read_log(log_path)
            match = SERVING_LINE.search(text)
            extra_match = pattern.search(text)
            if match is not None and extra_match is not None:
                break
            if process.poll() is not None:
                pytest.fail(
                    f"ecs-scaler exited with {process.returncode} before serving:\n{text}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no `ecs-scaler serving.` line within {STARTUP_TIMEOUT} s:\n{text}",
                    pytrace=False,
                )
            time.sleep(0.02)
        yield Server(process, log_path, grpc_addr=match.group(1), http_addr=match.group(2)), (
            extra_match
        )
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The real binary serving IDLE and BUSY (both minCapacity 0) from a temporary directory."""
    for running, _ in start_scaler(tmp_path_factory, [], re.compile("")):
        yield running


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
# KEDA's client, replayed
# ---------------------------------------------------------------------------------------------

STREAM_RETRY = 2.0  # KEDA reopens an ended StreamIsActive after 2 s (doubling up to 60 s)


class Keda:
    """What KEDA's external scaler client does, for several triggers at once.

    - One gRPC channel per (scalerAddress, enableTLS, unsafeSsl, caCert, client cert, client key),
      shared by every trigger with those settings, round-robin balanced (`grpc.NewClient`).
    - A trigger forwards its whole metadata; a `<key>FromEnv` entry carries the value of the
      named variable of the workload's environment, and is dropped when it is unset or empty.
    - The HPA sees `s<index>-<metricName>`; the prefix is stripped before `GetMetrics`.
    """

    def __init__(self, pb) -> None:
        self.pb = pb
        self.pool: dict[tuple, grpc.Channel] = {}

    def channel(self, metadata: dict, auth: dict | None = None) -> grpc.Channel:
        auth = auth or {}
        key = (
            metadata["scalerAddress"],
            metadata.get("enableTLS", "false"),
            metadata.get("unsafeSsl", "false"),
            auth.get("caCert", ""),
            auth.get("tlsClientCert", ""),
            auth.get("tlsClientKey", ""),
        )
        if key not in self.pool:
            options = [("grpc.lb_policy_name", "round_robin")]
            tls = go_bool(key[1]) or key[3] or key[4]
            if tls:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=key[3].encode() or None,
                    private_key=key[5].encode() or None,
                    certificate_chain=key[4].encode() or None,
                )
                options.append(("grpc.ssl_target_name_override", "localhost"))
                self.pool[key] = grpc.secure_channel(key[0], credentials, options=options)
            else:
                self.pool[key] = grpc.insecure_channel(key[0], options=options)
        return self.pool[key]

    def trigger(
        self,
        name: str,
        index: int,
        metadata: dict,
        namespace: str = NAMESPACE,
        env: dict | None = None,
        auth: dict | None = None,
    ) -> "Trigger":
        env = env or {}
        forwarded = {}
        for key, value in metadata.items():
            if key.endswith("FromEnv"):
                if env.get(value):
                    forwarded[key] = env[value]
            else:
                forwarded[key] = value
        ref = self.pb.messages.ScaledObjectRef(
            name=name, namespace=namespace, scalerMetadata=forwarded
        )
        stub = self.pb.services.ExternalScalerStub(self.channel(metadata, auth))
        return Trigger(self.pb, stub, ref, index)

    def close(self) -> None:
        for channel in self.pool.values():
            channel.close()


def go_bool(raw: str) -> bool:
    return raw in ("1", "t", "T", "TRUE", "true", "True")


@dataclass
class Trigger:
    pb: SimpleNamespace
    stub: object
    ref: object
    index: int

    def hpa_metric_name(self) -> str:
        [spec] = self.stub.GetMetricSpec(self.ref, timeout=RPC_TIMEOUT).metricSpecs
        return f"s{self.index}-{spec.metricName}"

    def evaluate(self) -> tuple[float, bool]:
        """One poll: GetMetricSpec, GetMetrics (prefix stripped), IsActive."""
        hpa_name = self.hpa_metric_name()
        prefix = f"s{self.index}-"
        assert hpa_name.startswith(prefix)
        request = self.pb.messages.GetMetricsRequest(
            scaledObjectRef=self.ref, metricName=hpa_name[len(prefix) :]
        )
        # A policy set this trigger just created or replaced is evaluated by the scaler's driver
        # on its next pass; a poll before that gets UNAVAILABLE ("not evaluated yet") and KEDA
        # polls again. So does this one, within DECIDED_TIMEOUT; any other error is raised.
        deadline = time.monotonic() + DECIDED_TIMEOUT
        while True:
            try:
                [value] = self.stub.GetMetrics(request, timeout=RPC_TIMEOUT).metricValues
                break
            except grpc.RpcError as error:
                pending = (
                    error.code() == grpc.StatusCode.UNAVAILABLE
                    and "has not been evaluated yet" in error.details()
                )
                if not pending or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        assert value.metricName == hpa_name[len(prefix) :]
        active = self.stub.IsActive(self.ref, timeout=RPC_TIMEOUT).result
        return value.metricValueFloat, active


class ActivityStream:
    """KEDA's StreamIsActive loop: reads messages, reopens the stream 2 s after it ends."""

    def __init__(self, trigger: Trigger) -> None:
        self.trigger = trigger
        self.messages: queue.Queue = queue.Queue()
        self.ends: list[str] = []
        self.stopped = threading.Event()
        self.call = None
        self.thread = threading.Thread(target=self.run, name="StreamIsActive", daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.call = self.trigger.stub.StreamIsActive(self.trigger.ref, timeout=STREAM_DEADLINE)
            try:
                for message in self.call:
                    self.messages.put(message.result)
                self.ends.append("OK")
            except grpc.RpcError as error:
                if self.stopped.is_set():
                    return
                self.ends.append(f"{error.code().name}: {error.details()}")
            self.stopped.wait(STREAM_RETRY)

    def stop(self) -> None:
        self.stopped.set()
        if self.call is not None:
            self.call.cancel()
        self.thread.join(timeout=RPC_TIMEOUT)


@pytest.fixture
def keda(pb):
    client = Keda(pb)
    yield client
    client.close()


def push_metric(server: Server, policy_set: str, metric: str, value: float) -> None:
    status, answer = http(
        server,
        "PUT",
        f"/v1/namespaces/{NAMESPACE}/policysets/{policy_set}/metrics/{metric}",
        {"value": value},
    )
    assert status == 204, f"push to {policy_set}/{metric}: {status} {answer!r}"


def invalid_argument(call) -> str:
    error = rpc_error(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    return error.details()


# ---------------------------------------------------------------------------------------------
# (e) Several inline triggers of one ScaledObject
# ---------------------------------------------------------------------------------------------


def test_two_inline_triggers_of_one_scaled_object_keep_their_own_policy_sets(server, keda):
    address = server.grpc_addr
    users = keda.trigger(
        "two-triggers",
        0,
        {"scalerAddress": address, "targetValue": "10", "minCapacity": "2", "metricName": "users"},
    )
    backlog = keda.trigger(
        "two-triggers",
        1,
        {"scalerAddress": address, "targetValue": "10", "minCapacity": "4", "metricName": "backlog"},
    )
    assert users.stub is not backlog.stub and len(keda.pool) == 1, "one pooled connection"
    # external-push: both streams open, as KEDA keeps them.
    streams = [ActivityStream(users), ActivityStream(backlog)]
    try:
        for stream in streams:
            assert stream.messages.get(timeout=FIRST_MESSAGE_TIMEOUT) is True
        assert users.hpa_metric_name() != backlog.hpa_metric_name()
        for _ in range(8):
            assert users.evaluate() == (2.0, True)
            assert backlog.evaluate() == (4.0, True)
        # Give a rebuild's reconnect (2 s) time to show.
        time.sleep(STREAM_RETRY + 0.5)
        assert [stream.ends for stream in streams] == [[], []], "a StreamIsActive ended"
        for stream in streams:
            assert stream.messages.empty(), "a stream sent again: its policy set was rebuilt"
    finally:
        for stream in streams:
            stream.stop()
    # Pushes reach each trigger's own policy set.
    push_metric(server, "two-triggers.users", "users", 5)
    push_metric(server, "two-triggers.backlog", "backlog", 5)
    assert decision(server, "two-triggers.users")["min"] == 2
    assert decision(server, "two-triggers.backlog")["min"] == 4


def test_a_scaled_job_named_like_a_scaled_object_is_told_to_use_its_own_metric(server, keda):
    address = server.grpc_addr
    scaled_object = keda.trigger(
        "shared-name", 0, {"scalerAddress": address, "targetValue": "10", "minCapacity": "3"}
    )
    scaled_job = keda.trigger(
        "shared-name", 0, {"scalerAddress": address, "targetValue": "50", "minCapacity": "1"}
    )
    assert scaled_object.evaluate() == (3.0, True)
    # The first request of the other one replaces the policy set (indistinguishable from an
    # edit, so it continues from the capacity decided, 3); from then on the one it replaced is
    # refused instead of rebuilding it back.
    assert scaled_job.evaluate() == (3.0, True)
    assert decision(server, "shared-name")["min"] == 1
    for _ in range(3):
        details = invalid_argument(scaled_object.evaluate)
        assert "metricName" in details and "shared-name" in details, details
        assert scaled_job.evaluate() == (3.0, True)
    # With a metric of its own, it gets its own policy set.
    renamed = keda.trigger(
        "shared-name",
        0,
        {"scalerAddress": address, "targetValue": "10", "minCapacity": "3", "metricName": "jobs"},
    )
    assert renamed.evaluate() == (3.0, True)
    assert scaled_job.evaluate() == (3.0, True)
    assert decision(server, "shared-name")["min"] == 1


def test_an_edited_inline_trigger_replaces_its_policy_set(server, keda):
    address = server.grpc_addr
    before = keda.trigger("edited", 0, {"scalerAddress": address, "targetValue": "10"})
    assert before.evaluate() == (1.0, True)
    old_stream = ActivityStream(before)
    try:
        assert old_stream.messages.get(timeout=FIRST_MESSAGE_TIMEOUT) is True
        after = keda.trigger(
            "edited", 0, {"scalerAddress": address, "targetValue": "10", "minCapacity": "6"}
        )
        assert after.evaluate() == (6.0, True)
        new_stream = ActivityStream(after)
        try:
            assert new_stream.messages.get(timeout=FIRST_MESSAGE_TIMEOUT) is True
            # The replaced policy set's stream ends cleanly (KEDA then reconnects after 2 s); the
            # old metadata reconnecting while the new one is in use is refused, not rebuilt.
            deadline = time.monotonic() + STREAM_RETRY + FIRST_MESSAGE_TIMEOUT
            while len(old_stream.ends) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
                assert after.evaluate() == (6.0, True)
            assert old_stream.ends[0] == "OK", old_stream.ends
            assert old_stream.ends[1].startswith("INVALID_ARGUMENT"), old_stream.ends
            assert "metricName" in old_stream.ends[1], old_stream.ends
            assert new_stream.ends == [], "the new trigger's stream must stay open"
        finally:
            new_stream.stop()
    finally:
        old_stream.stop()
    assert decision(server, "edited")["min"] == 6


# ---------------------------------------------------------------------------------------------
# (f) `<key>FromEnv`, booleans, the HPA's replica limit
# ---------------------------------------------------------------------------------------------


def test_keys_from_the_environment_are_read_like_the_keys(server, keda):
    wait_decided(server, IDLE)
    address = server.grpc_addr
    reference = keda.trigger(
        "from-env", 0, {"scalerAddress": address, "policyFromEnv": "POLICY"}, env={"POLICY": IDLE}
    )
    assert reference.ref.scalerMetadata["policyFromEnv"] == IDLE
    assert reference.evaluate() == (0.0, False)

    inline = keda.trigger(
        "from-env-inline",
        0,
        {
            "scalerAddress": address,
            "targetValueFromEnv": "TARGET",
            "minCapacityFromEnv": "MIN",
            "perTaskFromEnv": "PER_TASK",
        },
        env={"TARGET": "25", "MIN": "3", "PER_TASK": "True"},
    )
    assert inline.evaluate() == (3.0, True)

    # The variable is unset: KEDA drops the key, so the policy is missing.
    unset = keda.trigger("from-env", 0, {"scalerAddress": address, "policyFromEnv": "POLICY"})
    assert "policyFromEnv" not in unset.ref.scalerMetadata
    details = invalid_argument(unset.evaluate)
    assert "`policy`" in details, details

    # Both: the key itself wins.
    both = keda.trigger(
        "from-env",
        0,
        {"scalerAddress": address, "policy": IDLE, "policyFromEnv": "POLICY"},
        env={"POLICY": "no-such-policy"},
    )
    assert both.evaluate() == (0.0, False)


@pytest.mark.parametrize("raw", ["1", "t", "T", "TRUE", "true", "True"])
def test_booleans_are_read_as_keda_reads_them(server, keda, raw):
    trigger = keda.trigger(
        f"bool-{raw.lower()}-{len(raw)}",
        0,
        {
            "scalerAddress": server.grpc_addr,
            "targetValue": "10",
            "minCapacity": "2",
            "perTask": raw,
            "disableScaleIn": raw,
        },
    )
    assert trigger.evaluate() == (2.0, True)


def test_a_boolean_go_does_not_parse_is_invalid_argument(server, keda):
    trigger = keda.trigger(
        "bool-yes", 0, {"scalerAddress": server.grpc_addr, "targetValue": "10", "perTask": "yes"}
    )
    details = invalid_argument(trigger.evaluate)
    assert "perTask" in details and "yes" in details, details


def test_max_capacity_beyond_the_hpa_replica_count_is_invalid_argument(server, keda):
    address = server.grpc_addr
    largest = keda.trigger(
        "huge", 0, {"scalerAddress": address, "targetValue": "10", "maxCapacity": "2147483647"}
    )
    assert largest.evaluate() == (1.0, True)
    beyond = keda.trigger(
        "huge", 0, {"scalerAddress": address, "targetValue": "10", "maxCapacity": "2147483648"}
    )
    details = invalid_argument(beyond.evaluate)
    assert "maxCapacity" in details and "32-bit" in details, details


# ---------------------------------------------------------------------------------------------
# (g) TLS beside plaintext: one scaler for triggers with and without `enableTLS`
# ---------------------------------------------------------------------------------------------

TLS_LINE = re.compile(r"gRPC with TLS serving.*?\bgrpc_tls=(\S+)")


def write_certificates(directory: Path) -> dict[str, str]:
    """A CA and a server certificate for 127.0.0.1 and localhost, as PEM text by file name."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def pem_key(key) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("keda-client test CA"))
        .issuer_name(name("keda-client test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(name("ecs-scaler"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM).decode(),
        "server.crt": server_cert.public_bytes(serialization.Encoding.PEM).decode(),
        "server.key": pem_key(server_key),
    }
    for file, text in files.items():
        (directory / file).write_text(text)
    return files


@pytest.fixture(scope="module")
def tls_scaler(tmp_path_factory: pytest.TempPathFactory):
    """The binary with plaintext on --grpc-listen and TLS on --grpc-tls-listen."""
    directory = tmp_path_factory.mktemp("certificates")
    files = write_certificates(directory)
    extra = [
        "--grpc-tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        str(directory / "server.crt"),
        "--tls-key",
        str(directory / "server.key"),
    ]
    for running, tls in start_scaler(tmp_path_factory, extra, TLS_LINE):
        yield SimpleNamespace(server=running, tls_addr=tls.group(1), ca=files["ca.crt"])


def test_triggers_with_and_without_tls_share_one_scaler(tls_scaler, keda):
    server = tls_scaler.server
    wait_decided(server, IDLE)
    plain = keda.trigger("plain", 0, {"scalerAddress": server.grpc_addr, "policy": IDLE})
    secure = keda.trigger(
        "secure",
        0,
        {"scalerAddress": tls_scaler.tls_addr, "enableTLS": "true", "policy": IDLE},
        auth={"caCert": tls_scaler.ca},
    )
    # KEDA pools by address and TLS settings: two connections, one scaler.
    assert len(keda.pool) == 2
    assert plain.evaluate() == secure.evaluate() == (0.0, False)
    assert plain.hpa_metric_name() == secure.hpa_metric_name()
    # Each port speaks only its own protocol.
    wrong = keda.trigger("wrong", 0, {"scalerAddress": tls_scaler.tls_addr, "policy": IDLE})
    error = rpc_error(lambda: wrong.stub.IsActive(wrong.ref, timeout=RPC_TIMEOUT))
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error


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
