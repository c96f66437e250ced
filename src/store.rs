//! Policy files: loading a directory, reloading it when files change, and the embedded example.
//!
//! The directory is polled (default every 5 s) rather than watched with inotify: polling sees
//! the symlink swaps with which Kubernetes updates a mounted ConfigMap, and costs a `stat` per
//! file. A file that fails to load is reported and its last good definition stays in service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::{error, info};

use crate::policy::CompiledPolicySet;
use crate::policy::load::{LoadError, is_policy_file, load_file, load_str};
use crate::registry::{Origin, Registry};

/// The example policy sets compiled into the binary: what `serve` runs without `--policies`.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "examples/policies/orders-api.yaml",
        include_str!("../examples/policies/orders-api.yaml"),
    ),
    (
        "examples/policies/web-app.json",
        include_str!("../examples/policies/web-app.json"),
    ),
    (
        "examples/policies/checkout.yaml",
        include_str!("../examples/policies/checkout.yaml"),
    ),
];

/// The result of reading a policy directory.
#[derive(Debug, Default)]
pub struct DirectoryLoad {
    /// Policy sets that loaded, with the file that defines each.
    pub loaded: Vec<(PathBuf, CompiledPolicySet)>,
    /// Files that did not load, with why.
    pub failed: Vec<(PathBuf, LoadError)>,
}

/// Loads every `.yaml`, `.yml` and `.json` file directly in `dir`, in name order.
///
/// A policy set defined twice is an error of the second file.
pub fn load_dir(dir: &Path) -> std::io::Result<DirectoryLoad> {
    let mut result = DirectoryLoad::default();
    let mut seen: BTreeMap<_, PathBuf> = BTreeMap::new();
    for path in policy_files(dir)? {
        match load_file(&path) {
            Ok(set) => {
                if let Some(first) = seen.get(&set.id) {
                    let error = LoadError::Parse {
                        origin: path.display().to_string(),
                        message: format!(
                            "policy set {} is already defined in {}",
                            set.id,
                            first.display()
                        ),
                    };
                    result.failed.push((path, error));
                } else {
                    seen.insert(set.id.clone(), path.clone());
                    result.loaded.push((path, set));
                }
            }
            Err(error) => result.failed.push((path, error)),
        }
    }
    Ok(result)
}

fn policy_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| is_policy_file(path) && path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// What identifies the directory's content: each file's path, size and modification time.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    policy_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (path, len, modified)
        })
        .collect()
}

/// Loads `dir` into `registry`, logging every file that fails.
pub fn sync_dir(dir: &Path, registry: &Registry) -> std::io::Result<()> {
    let load = load_dir(dir)?;
    for (_, error) in &load.failed {
        error!(%error, "Policy file not loaded; its last good version stays in service.");
    }
    let keep: Vec<PathBuf> = load.failed.iter().map(|(path, _)| path.clone()).collect();
    let (count, failed) = (load.loaded.len(), load.failed.len());
    let loaded = load
        .loaded
        .into_iter()
        .map(|(path, set)| (Origin::File(path), set))
        .collect();
    registry.sync_files(loaded, &keep);
    info!(directory = %dir.display(), policy_sets = count, failed, "Policy directory loaded.");
    Ok(())
}

/// Loads `dir` into `registry`, then reloads it whenever its files change, polling every
/// `interval` in a background task.
///
/// The directory's fingerprint is taken before the first load, so a change made while it loads
/// is seen by the first poll, and an unchanged directory is not loaded twice.
pub fn load_and_watch(
    dir: PathBuf,
    registry: Arc<Registry>,
    interval: Duration,
) -> std::io::Result<()> {
    let baseline = fingerprint(&dir);
    sync_dir(&dir, &registry)?;
    tokio::spawn(watch_dir(dir, registry, interval, baseline));
    Ok(())
}

async fn watch_dir(
    dir: PathBuf,
    registry: Arc<Registry>,
    interval: Duration,
    mut last: Vec<(PathBuf, u64, Option<SystemTime>)>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let current = fingerprint(&dir);
        if current != last {
            last = current;
            if let Err(error) = sync_dir(&dir, &registry) {
                error!(directory = %dir.display(), %error, "Policy directory not readable.");
            }
        }
    }
}

/// Loads the embedded example policy sets into `registry`.
pub fn load_embedded(registry: &Registry) -> Result<usize, LoadError> {
    let mut loaded = Vec::new();
    for (name, text) in EMBEDDED {
        loaded.push((Origin::Embedded(name), load_str(text, name)?));
    }
    let count = loaded.len();
    registry.sync_files(loaded, &[]);
    Ok(count)
}

#[cfg(test)]
mod tests;
