//! `ecs-scaler import`: read a service's ECS scaling configuration and write what EKS needs.
//!
//! Input: the JSON the AWS CLI prints ([`aws`], `--from-dir DIR`) or the same calls made live
//! with the AWS SDK ([`live`], `--cluster NAME`). Both become an [`aws::AwsInput`], which
//! [`translate()`] turns into one `ScalingPolicySet` and one KEDA `ScaledObject` per ECS service,
//! plus a [`report`] saying, for each ECS setting, what it became and whether that is exact,
//! approximate (why) or needs a decision (what).
//!
//! Exit codes: 0 everything exact, 1 written with approximations or open decisions, 2 bad input
//! or nothing written.

pub mod aws;
pub mod live;
pub mod report;
pub mod scaled_object;
pub mod translate;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

pub use translate::{
    Assignment, KubernetesVersion, Options, ServiceImport, TargetGroupMapping, Translation,
    translate,
};

/// Exit code: written, with approximations or decisions left to the user.
pub const EXIT_APPROXIMATE: u8 = 1;
/// Exit code: bad input, or nothing written.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Output format of the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Read the AWS CLI's JSON from DIR: describe-scalable-targets.json,
    /// describe-scaling-policies.json, describe-scheduled-actions.json and (optional)
    /// describe-alarms.json.
    #[arg(long, value_name = "DIR", required_unless_present = "cluster", conflicts_with_all = ["cluster", "services", "endpoint_url", "profile", "timeout"])]
    pub from_dir: Option<PathBuf>,
    /// Read from AWS: the ECS cluster whose services to import.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Import only this ECS service (repeatable; default: every scalable service of the
    /// cluster).
    #[arg(long = "service", value_name = "NAME", requires = "cluster")]
    pub services: Vec<String>,
    /// AWS region (default: the SDK's; also the region of sources no ARN names one for).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Endpoint URL of every AWS call (an emulator); `AWS_ENDPOINT_URL_<SERVICE>` works too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Named profile of the AWS config and credentials files.
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Give up on an AWS call (its retries included) after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Namespace of the ScalingPolicySets and ScaledObjects.
    #[arg(long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// Where KEDA reaches ecs-scaler (`host:port`).
    #[arg(long, default_value = translate::DEFAULT_SCALER_ADDRESS, value_name = "HOST:PORT")]
    pub scaler_address: String,
    /// Kind of the workload, for every service or as SERVICE=KIND (default Deployment;
    /// `group/version/Kind` for other API groups). Repeatable.
    #[arg(long, value_name = "[SERVICE=]KIND")]
    pub scale_target_kind: Vec<Assignment>,
    /// Name of the workload, as SERVICE=NAME, or NAME when one service is imported (default:
    /// the service's name). Repeatable.
    #[arg(long, value_name = "[SERVICE=]NAME")]
    pub scale_target_name: Vec<Assignment>,
    /// The target group that replaces an ECS service's target group for
    /// ALBRequestCountPerTarget (each a `targetgroup/<name>/<id>` or a full resource label).
    /// Repeatable.
    #[arg(long, value_name = "OLD=NEW")]
    pub target_group_map: Vec<TargetGroupMapping>,
    /// Kubernetes version of the cluster: from 1.33 the HPA takes `tolerance: 0`.
    #[arg(long, default_value = "1.35", value_name = "VERSION")]
    pub kubernetes_version: KubernetesVersion,
    /// KEDA version of the cluster: from 2.18 the ScaledObject takes `tolerance` (default:
    /// the newest).
    #[arg(long, default_value = scaled_object::NEWEST_KEDA, value_name = "VERSION")]
    pub keda_version: scaled_object::KedaVersion,
    /// A directory (`policies/<name>`, `scaledobjects/<name>`, `REPORT.md`) or `-` for every
    /// document on stdout (the report then goes to stderr).
    #[arg(long, default_value = "-", value_name = "DIR|-")]
    pub output: String,
    /// Format of the documents.
    #[arg(long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub format: OutputFormat,
}

impl ImportArgs {
    /// The translation options the arguments give.
    pub fn options(&self) -> Options {
        Options {
            namespace: self.namespace.clone(),
            scaler_address: self.scaler_address.clone(),
            scale_target_kind: self.scale_target_kind.clone(),
            scale_target_name: self.scale_target_name.clone(),
            kubernetes_version: self.kubernetes_version,
            keda_version: self.keda_version,
            target_group_map: self.target_group_map.clone(),
            default_region: self.region.clone(),
        }
    }
}

/// Runs `import`; see the module documentation for the exit codes.
pub fn run(args: &ImportArgs) -> ExitCode {
    match run_inner(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_APPROXIMATE),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Whether everything was exact; `Err` for bad input or when nothing was written.
fn run_inner(args: &ImportArgs) -> Result<bool, String> {
    if translate::dns_label(&args.namespace) != args.namespace {
        return Err(format!(
            "--namespace `{}` is not a Kubernetes namespace name",
            args.namespace
        ));
    }
    let (input, mut notes) = match (&args.from_dir, &args.cluster) {
        (Some(dir), _) => (aws::read_dir(dir)?, Vec::new()),
        (None, Some(cluster)) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))?;
            runtime.block_on(live::fetch(&live::LiveOptions {
                cluster: cluster.clone(),
                services: args.services.clone(),
                region: args.region.clone(),
                endpoint_url: args.endpoint_url.clone(),
                profile: args.profile.clone(),
                timeout: Duration::from_secs(args.timeout),
            }))?
        }
        (None, None) => return Err("give --from-dir DIR or --cluster NAME".to_owned()),
    };
    let translation = translate(&input, &args.options())?;
    notes.extend(translation.notes.iter().cloned());
    if translation.services.is_empty() {
        for note in &notes {
            eprintln!("note: {note}");
        }
        return Err("no ECS service with a scalable target was found: nothing written".to_owned());
    }
    let report = report::render(
        &translation
            .services
            .iter()
            .map(|s| s.report.clone())
            .collect::<Vec<_>>(),
        &notes,
    );
    if args.output == "-" {
        let text = render_stream(&translation.services, args.format)?;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
        eprint!("{report}");
    } else {
        let written = write_dir(
            Path::new(&args.output),
            &translation.services,
            args.format,
            &report,
        )?;
        print!("{report}");
        println!("Written: {}", written.join(", "));
    }
    Ok(translation.services.iter().all(|s| s.report.is_exact()))
}

/// One document as YAML or JSON text (ending with a newline).
pub fn render_document<T: serde::Serialize>(
    document: &T,
    format: OutputFormat,
) -> Result<String, String> {
    match format {
        OutputFormat::Yaml => {
            serde_saphyr::to_string(document).map_err(|e| format!("cannot write YAML: {e}"))
        }
        OutputFormat::Json => serde_json::to_string_pretty(document)
            .map(|text| text + "\n")
            .map_err(|e| format!("cannot write JSON: {e}")),
    }
}

/// Every service's documents in one stream: multi-document YAML, or a JSON `List`.
pub fn render_stream(services: &[ServiceImport], format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Yaml => {
            let mut out = String::new();
            for service in services {
                for text in [
                    render_document(&service.policy_set, format)?,
                    render_document(&service.scaled_object, format)?,
                ] {
                    out.push_str("---\n");
                    out.push_str(&text);
                }
            }
            Ok(out)
        }
        OutputFormat::Json => {
            let mut items = Vec::new();
            for service in services {
                items.push(serde_json::to_value(&service.policy_set).map_err(|e| e.to_string())?);
                items
                    .push(serde_json::to_value(&service.scaled_object).map_err(|e| e.to_string())?);
            }
            render_document(
                &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}),
                format,
            )
        }
    }
}

/// The sub-directory of the policy sets (serve them with `ecs-scaler serve --policies`).
pub const POLICIES_DIR: &str = "policies";
/// The sub-directory of the ScaledObjects (apply them with `kubectl apply -f`).
pub const SCALED_OBJECTS_DIR: &str = "scaledobjects";
/// The report's file name.
pub const REPORT_FILE: &str = "REPORT.md";

/// Writes `policies/<name>.<ext>`, `scaledobjects/<name>.<ext>` and `REPORT.md` under `dir`;
/// the paths written.
pub fn write_dir(
    dir: &Path,
    services: &[ServiceImport],
    format: OutputFormat,
    report: &str,
) -> Result<Vec<String>, String> {
    let extension = match format {
        OutputFormat::Yaml => "yaml",
        OutputFormat::Json => "json",
    };
    let mut written = Vec::new();
    let mut write = |path: PathBuf, text: &str| -> Result<(), String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        written.push(path.display().to_string());
        Ok(())
    };
    for service in services {
        let file = format!("{}.{extension}", service.name);
        write(
            dir.join(POLICIES_DIR).join(&file),
            &render_document(&service.policy_set, format)?,
        )?;
        write(
            dir.join(SCALED_OBJECTS_DIR).join(&file),
            &render_document(&service.scaled_object, format)?,
        )?;
    }
    write(dir.join(REPORT_FILE), report)?;
    Ok(written)
}

#[cfg(test)]
mod tests;
