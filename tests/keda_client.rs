//! Runs the Python KEDA client suite (`tests/keda_client`) against the built binary.
//!
//! KEDA is written in Go; this suite plays it with another gRPC implementation (Python grpcio,
//! stubs generated from `proto/externalscaler.proto` at test time), so wire compatibility is
//! checked by a peer that shares no code with the server.
//!
//! The Python interpreter is `ECS_SCALER_PYTHON` (default `target/py-venv/bin/python`), a venv
//! with `tests/keda_client/requirements.txt`; `tests/run-all.sh` creates it. A missing
//! interpreter or package fails this test: it never skips.

#[path = "support/pytest.rs"]
mod pytest;

#[test]
fn keda_client_suite_passes() {
    pytest::run_suite(
        "KEDA client",
        "tests/keda_client",
        "grpc, grpc_tools.protoc, grpc_health.v1.health_pb2, pytest, cryptography",
    );
}
