//! Runs a Python pytest suite of `tests/` against the built binary, for the Rust test harness.
//!
//! The Python interpreter is `ECS_SCALER_PYTHON` (default `target/py-venv/bin/python`), a venv
//! with the suites' requirements; `tests/run-all.sh` creates it. A missing interpreter or
//! package fails the calling test: it never skips.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Far above a suite's few seconds; only a hung run gets near it.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

const SETUP_HINT: &str = "run `bash tests/run-all.sh` (it creates target/py-venv and installs \
     the requirements of the Python suites), or point ECS_SCALER_PYTHON at a python that has them";

/// The interpreter: a path (relative to the manifest directory) or a bare command name.
fn python() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("ECS_SCALER_PYTHON") {
        Some(value) if !value.is_empty() => {
            let path = PathBuf::from(value);
            if path.components().count() == 1 {
                path // looked up in PATH
            } else {
                manifest_dir.join(path)
            }
        }
        _ => manifest_dir.join("target/py-venv/bin/python"),
    }
}

fn check_python(python: &Path, imports: &str) {
    assert!(
        python.components().count() == 1 || python.exists(),
        "no Python interpreter at {}: {SETUP_HINT}",
        python.display()
    );
    let probe = Command::new(python)
        .args(["-c", &format!("import {imports}")])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {SETUP_HINT}", python.display()));
    assert!(
        probe.status.success(),
        "{} lacks the test requirements ({}):\n{}\n{SETUP_HINT}",
        python.display(),
        probe.status,
        String::from_utf8_lossy(&probe.stderr)
    );
}

fn drain(mut source: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs the pytest suite in `dir` (relative to the manifest directory) with the built binary in
/// `ECS_SCALER_BIN`, after checking that the interpreter can `import {imports}`; fails, never
/// skips, when it cannot, and when the suite fails or hangs. `name` is the suite's name in
/// messages.
pub fn run_suite(name: &str, dir: &str, imports: &str) {
    let python = python();
    check_python(&python, imports);
    let mut child = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", dir])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ECS_SCALER_BIN", env!("CARGO_BIN_EXE_ecs-scaler"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}; {SETUP_HINT}", python.display()));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for pytest") {
            break Some(status);
        }
        if started.elapsed() > SUITE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    println!("{stdout}");
    if !stderr.is_empty() {
        eprintln!("{stderr}");
    }

    let status = status.unwrap_or_else(|| {
        panic!(
            "the {name} suite did not finish within {} s (killed)",
            SUITE_TIMEOUT.as_secs()
        )
    });
    assert!(
        status.success(),
        "the {name} suite failed ({status}); pytest's output is above"
    );
}
