//! The AWS CLI JSON `ecs-scaler import --from-dir DIR` reads, through the same steps:
//! `import::aws::read_dir`, `import::translate`, then each policy set is checked with
//! `compile` and written as YAML.
//!
//! Input: the files' contents separated by NUL bytes (JSON holds none), in the order
//! describe-scalable-targets.json, describe-scaling-policies.json,
//! describe-scheduled-actions.json, describe-alarms.json; a file with no part is absent, parts
//! beyond the fourth are ignored. The files are written into a temporary directory (one per
//! process, its files replaced for every input).
//!
//! Checked: no panic; a refusal names the file at fault; a policy set that compiles has
//! min <= max and reads back from its YAML, and one that does not is not reported as exact.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use ecs_scaler::import::aws::{
    ALARMS_FILE, SCALABLE_TARGETS_FILE, SCALING_POLICIES_FILE, SCHEDULED_ACTIONS_FILE, read_dir,
};
use ecs_scaler::import::{Options, OutputFormat, render_document, translate};
use ecs_scaler::policy::compile;
use ecs_scaler::policy::load::load_str;
use libfuzzer_sys::fuzz_target;
use tempfile::TempDir;

const FILES: [&str; 4] = [
    SCALABLE_TARGETS_FILE,
    SCALING_POLICIES_FILE,
    SCHEDULED_ACTIONS_FILE,
    ALARMS_FILE,
];

fn dir() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let dir = dir();
    let mut parts = data.split(|&byte| byte == 0);
    for name in FILES {
        let path = dir.join(name);
        match parts.next() {
            Some(part) => std::fs::write(&path, part).expect("the file is written"),
            None => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => panic!("{}: {error}", path.display()),
            },
        }
    }

    let input = match read_dir(dir) {
        Ok(input) => input,
        Err(message) => {
            assert!(FILES.iter().any(|name| message.contains(name)), "{message}");
            return;
        }
    };
    let Ok(translation) = translate(&input, &Options::default()) else {
        return;
    };
    for service in &translation.services {
        match compile(&service.policy_set) {
            Ok(set) => {
                assert!(set.min_capacity <= set.max_capacity, "{set:?}");
                let yaml = render_document(&service.policy_set, OutputFormat::Yaml)
                    .expect("a policy set renders as YAML");
                if let Err(error) = load_str(&yaml, "import.yaml") {
                    panic!(
                        "{} compiles but its YAML does not read back: {error}\n{yaml}",
                        service.name
                    );
                }
            }
            Err(errors) => assert!(
                !service.report.is_exact(),
                "{} does not compile ({errors}) but is reported exact",
                service.name
            ),
        }
    }
});
