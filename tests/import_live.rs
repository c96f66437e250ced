//! `ecs-scaler import --cluster` against emulators: moto for ECS and Application Auto Scaling,
//! LocalStack for CloudWatch alarms (the current aws-sdk-cloudwatch speaks RPCv2-CBOR, which
//! moto does not).
//!
//! `tests/fixtures/import/live/setup.py` (boto3, from the venv of moto) creates two clusters,
//! their services, scalable targets, step and target tracking policies, scheduled actions and
//! the step policies' alarms, and saves what the AWS CLI prints for cluster `prod`. The live
//! import must then write exactly what the file import of those files writes.
//!
//! Needs the venvs `tests/run-all.sh` builds: `target/py-venv` (moto, boto3; or
//! `ECS_SCALER_PYTHON`) and `target/localstack-venv` (or `ECS_SCALER_LOCALSTACK_PYTHON`). The
//! binary gets dummy credentials and the emulators' endpoints in its own environment
//! (`AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING`, `AWS_ENDPOINT_URL_CLOUDWATCH`), so this test
//! never reaches AWS, whatever the calling shell holds.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SETUP_HINT: &str = "run `bash tests/run-all.sh` once: it builds target/py-venv (moto, \
     boto3) and target/localstack-venv (LocalStack)";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The python of `variable`, else `default` (relative to the manifest directory).
fn python(variable: &str, default: &str) -> PathBuf {
    let path = match std::env::var_os(variable) {
        Some(value) if !value.is_empty() => root().join(value),
        _ => root().join(default),
    };
    assert!(
        path.exists(),
        "no python at {}: {SETUP_HINT}",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status line and body of `GET path`, if the server answers.
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_owned(), body.to_owned()))
}

/// An emulator process, killed on drop; it also exits when the test process is gone (its
/// stdin closes).
struct Emulator {
    child: Child,
    port: u16,
    name: &'static str,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    fn start(
        name: &'static str,
        python: &Path,
        program: &str,
        args: &[&str],
        env: &[(&str, String)],
        port: u16,
        (health, ready): (&str, impl Fn(&str, &str) -> bool),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let launcher = format!(
            "import os, sys, threading\n\
             def watch():\n    sys.stdin.buffer.read()\n    os._exit(0)\n\
             threading.Thread(target=watch, daemon=True).start()\n{program}\n"
        );
        let child = Command::new(python)
            .arg("-c")
            .arg(launcher)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("TMPDIR", dir.path())
            .env("LOCALSTACK_VOLUME_DIR", dir.path().join("volume"))
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}; {SETUP_HINT}"));
        let mut emulator = Self {
            child,
            port,
            name,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = emulator.child.try_wait().unwrap() {
                panic!("{name} exited ({status}): {}", emulator.logs());
            }
            if let Some((status, body)) = http_get(port, health)
                && ready(&status, &body)
            {
                return emulator;
            }
            assert!(
                Instant::now() < deadline,
                "{name} not ready after 90 s: {}",
                emulator.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        let err = self.log.with_file_name("err");
        format!(
            "{}\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.name;
    }
}

fn moto() -> Emulator {
    let port = free_port();
    Emulator::start(
        "moto",
        &python("ECS_SCALER_PYTHON", "target/py-venv/bin/python"),
        "from moto.server import main\nmain(sys.argv[1:])",
        &["-H", "127.0.0.1", "-p", &port.to_string()],
        &[],
        port,
        ("/moto-api/", |status: &str, _: &str| status.contains("200")),
    )
}

fn localstack() -> Emulator {
    let port = free_port();
    Emulator::start(
        "LocalStack",
        &python(
            "ECS_SCALER_LOCALSTACK_PYTHON",
            "target/localstack-venv/bin/python",
        ),
        "import runpy\nrunpy.run_module('localstack.runtime.main', run_name='__main__')",
        &[],
        &[
            ("GATEWAY_LISTEN", format!("127.0.0.1:{port}")),
            ("SERVICES", "cloudwatch".to_owned()),
            ("DISABLE_EVENTS", "1".to_owned()),
            ("SKIP_SSL_CERT_DOWNLOAD", "1".to_owned()),
        ],
        port,
        ("/_localstack/health", |status: &str, body: &str| {
            status.contains("200")
                && (body.contains("\"cloudwatch\": \"available\"")
                    || body.contains("\"cloudwatch\": \"running\""))
        }),
    )
}

/// Dummy credentials for every process of this test (never valid anywhere).
const CREDENTIALS: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "AKIDECSSCALERIMPORT"),
    ("AWS_SECRET_ACCESS_KEY", "ecs-scaler-import-test-secret"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_REGION", "us-east-1"),
];

/// Variables of the calling shell that could point a child at a real account or endpoint.
const CLEARED: [&str; 9] = [
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(root());
    for name in CLEARED {
        command.env_remove(name);
    }
    command.envs(CREDENTIALS);
    command
}

fn ecs_scaler(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(Path::new(env!("CARGO_BIN_EXE_ecs-scaler")))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Runs the setup script against the emulators; the directory of the CLI files it saved.
fn setup(moto: &Emulator, cloudwatch: &Emulator) -> tempfile::TempDir {
    let files = tempfile::tempdir().unwrap();
    let output = command(&python("ECS_SCALER_PYTHON", "target/py-venv/bin/python"))
        .arg(root().join("tests/fixtures/import/live/setup.py"))
        .args([
            moto.endpoint(),
            cloudwatch.endpoint(),
            files.path().display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "setup.py failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    files
}

#[test]
fn live_import_equals_the_file_import_of_the_same_data() {
    let started = Instant::now();
    let moto = moto();
    let cloudwatch = localstack();
    eprintln!("emulators ready in {:?}", started.elapsed());
    let files = setup(&moto, &cloudwatch);
    let endpoints = [
        ("AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING", moto.endpoint()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", cloudwatch.endpoint()),
    ];
    let endpoints: Vec<(&str, &str)> = endpoints.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let live = ecs_scaler(&["import", "--cluster", "prod"], &endpoints);
    let from_files = ecs_scaler(
        &["import", "--from-dir", files.path().to_str().unwrap()],
        &[],
    );
    let (live_out, live_report) = (text(&live.stdout), text(&live.stderr));
    assert_eq!(live.status.code(), Some(1), "{live_report}");
    assert_eq!(from_files.status.code(), Some(1));
    assert_eq!(live_out, text(&from_files.stdout), "the documents differ");
    assert_eq!(live_report, text(&from_files.stderr), "the reports differ");

    // What was read: both services of `prod` (not `staging`, not `idle` without a target), the
    // step policies with the alarms LocalStack holds, found through their actions.
    let documents: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&live_out).unwrap();
    let names: Vec<&str> = documents
        .iter()
        .filter(|d| d["kind"] == "ScalingPolicySet")
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-app", "worker"]);
    let web = &documents[0]["spec"];
    assert_eq!(
        web["alarms"]["web-app-busy-low"]["treatMissingData"],
        "notBreaching"
    );
    assert_eq!(web["policies"].as_array().unwrap().len(), 3, "{web:#}");
    assert_eq!(
        web["scheduledActions"][0]["startTime"],
        "2026-12-01T06:00:00Z"
    );
    let worker = &documents[2]["spec"];
    assert_eq!(
        worker["metrics"]["backlog-per-task"]["sqs"]["queueURL"],
        "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
    );
    assert_eq!(
        worker["scalableTarget"]["suspendedState"]["dynamicScalingInSuspended"],
        true
    );
    assert_eq!(documents[3]["spec"]["triggers"][1]["type"], "cpu");
    assert!(
        live_report.contains("`web-app-busy-high` on alarm `web-app-busy-high` | exact"),
        "{live_report}"
    );

    // One service, by name; a service without a scalable target is noted.
    let one = ecs_scaler(
        &[
            "import",
            "--cluster",
            "prod",
            "--service",
            "worker",
            "--service",
            "idle",
        ],
        &endpoints,
    );
    let report = text(&one.stderr);
    assert_eq!(one.status.code(), Some(1), "{report}");
    assert!(
        report.contains("service/prod/idle has no scalable target"),
        "{report}"
    );
    assert!(report.contains("## service/prod/worker"), "{report}");
    assert!(!report.contains("## service/prod/web-app"), "{report}");

    // A named profile supplies the credentials (none in the environment) and the endpoint.
    let profile_dir = tempfile::tempdir().unwrap();
    let config = profile_dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile emulators]\nregion = us-east-1\naws_access_key_id = AKIDPROFILE\n\
             aws_secret_access_key = profile-secret\nendpoint_url = {}\n",
            moto.endpoint()
        ),
    )
    .unwrap();
    let profiled = command(Path::new(env!("CARGO_BIN_EXE_ecs-scaler")))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_REGION")
        .env("AWS_CONFIG_FILE", &config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            profile_dir.path().join("none"),
        )
        .args([
            "import",
            "--cluster",
            "prod",
            "--service",
            "worker",
            "--profile",
            "emulators",
        ])
        .output()
        .unwrap();
    assert_eq!(
        profiled.status.code(),
        Some(1),
        "{}",
        text(&profiled.stderr)
    );
    assert!(text(&profiled.stdout).contains("name: worker"));

    // CloudWatch through moto fails (CBOR): the import goes on, alarms reported unresolved.
    let no_alarms = ecs_scaler(
        &[
            "import",
            "--cluster",
            "prod",
            "--endpoint-url",
            &moto.endpoint(),
        ],
        &[],
    );
    let report = text(&no_alarms.stderr);
    assert_eq!(no_alarms.status.code(), Some(1), "{report}");
    assert!(
        report.contains("CloudWatch alarms unresolved: CloudWatch DescribeAlarms"),
        "{report}"
    );
    assert!(report.contains("| policy `web-app-busy-high`"), "{report}");
    assert!(report.len() < 20_000, "errors are summarized: {report}");

    // Without a reachable Application Auto Scaling: bad input, nothing written.
    let unreachable = ecs_scaler(
        &[
            "import",
            "--cluster",
            "prod",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(unreachable.stdout.is_empty());
    assert!(text(&unreachable.stderr).contains("DescribeScalableTargets"));
    eprintln!("done in {:?}", started.elapsed());
}

#[test]
fn a_stalled_endpoint_fails_the_import_after_the_timeout() {
    // Accepts connections (the kernel's backlog) and never answers.
    let stalled = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", stalled.local_addr().unwrap());
    let mut child = command(Path::new(env!("CARGO_BIN_EXE_ecs-scaler")))
        .args(["import", "--cluster", "prod", "--timeout", "1"])
        .args(["--endpoint-url", &endpoint])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A generous bound, so that a missing timeout fails the test instead of hanging it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("import still waiting for the stalled endpoint after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(
        stderr.contains("DescribeScalableTargets: request has timed out"),
        "{stderr}"
    );
}
