//! Policy directory tests.

use std::time::Duration;

use super::*;
use crate::clock::SystemClock;
use crate::controller::ControllerConfig;
use crate::registry::RegistryConfig;
use crate::sources::hub::SourceHub;
use crate::telemetry::Metrics;
use crate::test_support::until;

fn document(name: &str, min: u32) -> String {
    format!(
        "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\nmetadata: {{name: {name}}}\n\
         spec:\n  scalableTarget: {{minCapacity: {min}, maxCapacity: 10}}\n"
    )
}

fn registry() -> Arc<Registry> {
    Registry::new(RegistryConfig {
        hub: SourceHub::new(Arc::new(SystemClock), Arc::new(Metrics::new())),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(Metrics::new()),
        controller: ControllerConfig::default(),
        initial_capacity: None,
        source_description: "test".to_owned(),
    })
}

#[test]
fn embedded_examples_load() {
    for (name, text) in EMBEDDED {
        load_str(text, name).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn load_dir_reads_policy_files_and_reports_bad_and_duplicate_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), document("a", 1)).unwrap();
    std::fs::write(dir.path().join("b.json"), r#"{"apiVersion": "x"}"#).unwrap();
    std::fs::write(dir.path().join("c.yml"), document("a", 2)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    let load = load_dir(dir.path()).unwrap();
    let names: Vec<String> = load.loaded.iter().map(|(_, s)| s.id.to_string()).collect();
    assert_eq!(names, ["default/a"]);
    let failed: Vec<String> = load.failed.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].contains("b.json"), "{failed:?}");
    assert!(failed[1].contains("already defined in"), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_and_watch_reloads_changed_files_and_keeps_the_last_good_version() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.yaml");
    std::fs::write(&file, document("a", 1)).unwrap();
    let registry = registry();
    load_and_watch(
        dir.path().to_owned(),
        registry.clone(),
        Duration::from_millis(20),
    )
    .unwrap();
    let first = registry.get("default", "a").unwrap();
    let min = |registry: &Registry| registry.get("default", "a").map(|h| h.set.min_capacity);
    assert_eq!(min(&registry), Some(1));
    // Polls of an unchanged directory keep the policy set as it is.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let current = registry.get("default", "a").unwrap();
    assert!(Arc::ptr_eq(&first.set, &current.set));

    // A change is picked up (the size changes, so the fingerprint does too).
    std::fs::write(&file, document("a", 3) + "# edited\n").unwrap();
    until("reloaded", || min(&registry) == Some(3)).await;

    // A broken edit keeps the last good version in service.
    std::fs::write(&file, "apiVersion: [").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(min(&registry), Some(3));

    // Removing the file removes the policy set.
    std::fs::remove_file(&file).unwrap();
    until("removed", || registry.is_empty()).await;
}
