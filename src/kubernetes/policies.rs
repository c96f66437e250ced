//! The policy store in a cluster: `ScalingPolicySet` resources and KEDA `ScaledObject`s,
//! watched with reflectors, feeding the same [`Registry`] as the policy files.
//!
//! Every change of the watched policy sets re-syncs the registry from the reflector's store, as
//! a change in the policy directory does: a resource that compiles replaces its policy set (an
//! unchanged one keeps its controller), one that does not is logged and its last good version
//! stays in service, a deleted one stops being served. Nothing is fetched per request.
//!
//! ScaledObjects are watched to find a policy set's scale target when its spec has no
//! `scaleTargetRef`: the target of the ScaledObject whose `external`/`external-push` trigger
//! names the policy set (`policy`, `policyNamespace`; inline metadata names the policy set after
//! the ScaledObject and its metric). [`KubeCapacitySource`] then watches that target for the
//! current capacity.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tracing::{error, info, warn};

use super::ScalingPolicySetResource;
use super::crd::to_document;
use crate::capacity::kube::KubeCapacity;
use crate::capacity::{CapacityChanges, CapacityObservation, CapacitySource, CapacityView};
use crate::policy::document::ScaleTargetRef;
use crate::policy::inline::{FROM_ENV, inline_policy_set_name};
use crate::policy::{CompiledPolicySet, PolicySetId, compile};
use crate::registry::{Origin, Registry};

/// What one sync of the registry did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Policy sets served from a resource that compiled.
    pub loaded: usize,
    /// Resources that did not compile.
    pub failed: Vec<Rejected>,
}

/// A ScalingPolicySet whose spec does not compile: its last good version (if any) stays in
/// service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its policy set.
    pub id: PolicySetId,
    /// The `metadata.generation` that was refused.
    pub generation: Option<i64>,
    /// The validation errors.
    pub errors: String,
}

/// The ScalingPolicySets whose latest spec is refused, as of the last sync: the status writer
/// reports them (condition `Accepted`). Clones share the set.
#[derive(Debug, Clone, Default)]
pub struct Rejections(Arc<Mutex<HashMap<PolicySetId, Rejected>>>);

impl Rejections {
    /// The refused resources, by policy set.
    pub fn current(&self) -> HashMap<PolicySetId, Rejected> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `failed` the refused resources.
    pub fn replace(&self, failed: &[Rejected]) {
        let rejected = failed.iter().map(|r| (r.id.clone(), r.clone())).collect();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = rejected;
    }
}

/// Makes the cluster-defined policy sets of `registry` exactly `resources`, keeping the last
/// good version of those that do not compile. A resource whose uid and generation are those of
/// the served version is not compiled again.
pub fn sync(resources: &[Arc<ScalingPolicySetResource>], registry: &Registry) -> SyncReport {
    let mut report = SyncReport::default();
    let mut loaded = Vec::new();
    let mut unchanged = HashSet::new();
    for resource in resources {
        let id = PolicySetId::new(
            resource.namespace().unwrap_or_else(|| "default".to_owned()),
            resource.name_any(),
        );
        let origin = Origin::Cluster {
            uid: resource.uid(),
            generation: resource.metadata.generation,
        };
        if resource.metadata.generation.is_some() && registry.origin(&id) == Some(origin.clone()) {
            report.loaded += 1;
            unchanged.insert(id);
            continue;
        }
        match compile(&to_document(resource)) {
            Ok(set) => {
                report.loaded += 1;
                loaded.push((origin, set));
            }
            Err(errors) => {
                error!(policy_set = %id, %errors,
                    "ScalingPolicySet not loaded; its last good version stays in service.");
                report.failed.push(Rejected {
                    id: id.clone(),
                    generation: resource.metadata.generation,
                    errors: errors.to_string(),
                });
                unchanged.insert(id);
            }
        }
    }
    registry.sync_cluster(loaded, &unchanged);
    report
}

/// Watches every `ScalingPolicySet` of the cluster and keeps `registry` in sync with them, and
/// `rejections` with those that do not compile; marks the registry loaded after the first
/// complete list.
pub async fn watch_policy_sets(client: Client, registry: Arc<Registry>, rejections: Rejections) {
    let api: Api<ScalingPolicySetResource> = Api::all(client);
    let (reader, writer) = reflector::store();
    let mut events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                let report = sync(&reader.state(), &registry);
                rejections.replace(&report.failed);
                registry.mark_loaded();
                info!(
                    policy_sets = report.loaded,
                    failed = report.failed.len(),
                    "ScalingPolicySets listed."
                );
            }
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                rejections.replace(&sync(&reader.state(), &registry).failed);
            }
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Err(error) => warn!(%error, "Watch of ScalingPolicySets failed; relisting."),
        }
    }
}

/// Restarts the policy sets of `registry` whose scale target changes with the ScaledObjects (one
/// created, deleted or retargeted after its policy set started), until the registry goes.
pub async fn follow_scale_targets(objects: ScaledObjects, registry: Weak<Registry>) {
    let mut targets = objects.changes();
    while targets.changed().await.is_ok() {
        let Some(registry) = registry.upgrade() else {
            return;
        };
        registry.refresh_capacity_views();
    }
}

/// KEDA's `ScaledObject`, read as a dynamic object (its CRD is KEDA's).
pub fn scaled_object_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "keda.sh",
        "v1alpha1",
        "ScaledObject",
    ))
}

/// The scale target of each policy set a ScaledObject's scaler trigger serves.
type TargetIndex = HashMap<PolicySetId, ScaleTargetRef>;

/// The ScaledObjects of the cluster, as a reflector keeps them, indexed by the policy set their
/// scaler triggers serve.
#[derive(Clone)]
pub struct ScaledObjects {
    store: Store<DynamicObject>,
    targets: watch::Receiver<Arc<TargetIndex>>,
}

impl ScaledObjects {
    /// Starts watching every ScaledObject: the index, and the task that keeps it current.
    pub fn watch(client: Client) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let resource = scaled_object_resource();
        let api: Api<DynamicObject> = Api::all_with(client, &resource);
        let writer = reflector::store::Writer::new(resource.clone());
        let reader = writer.as_reader();
        let (index, targets) = watch::channel(Arc::new(TargetIndex::new()));
        let store = reader.clone();
        let task = async move {
            let mut events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(
                        watcher::Event::InitDone
                        | watcher::Event::Apply(_)
                        | watcher::Event::Delete(_),
                    ) => {
                        let targets = index_targets(&store.state());
                        index.send_if_modified(|current| {
                            let changed = **current != targets;
                            if changed {
                                *current = Arc::new(targets);
                            }
                            changed
                        });
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                    Err(error) => warn!(%error, "Watch of ScaledObjects failed; relisting."),
                }
            }
        };
        (
            Self {
                store: reader,
                targets,
            },
            task,
        )
    }

    /// Waits until the first list is complete.
    pub async fn ready(&self) {
        let _ = self.store.wait_until_ready().await;
    }

    /// The scale target of the ScaledObject whose scaler trigger serves policy set `id`.
    pub fn target_for(&self, id: &PolicySetId) -> Option<ScaleTargetRef> {
        self.targets.borrow().get(id).cloned()
    }

    /// Every ScaledObject as the reflector holds it, as JSON (for [`crate::doctor`]).
    pub fn objects(&self) -> Vec<serde_json::Value> {
        self.store
            .state()
            .iter()
            .filter_map(|object| serde_json::to_value(object.as_ref()).ok())
            .collect()
    }

    /// A receiver that sees every change of the scale targets of the policy sets.
    pub fn changes(&self) -> watch::Receiver<Arc<TargetIndex>> {
        self.targets.clone()
    }
}

/// The scale target of each policy set the ScaledObjects' scaler triggers serve (the first
/// ScaledObject by namespace and name wins when two serve one policy set).
fn index_targets(objects: &[Arc<DynamicObject>]) -> TargetIndex {
    let mut sorted: Vec<&Arc<DynamicObject>> = objects.iter().collect();
    sorted.sort_by_key(|object| (object.namespace(), object.name_any()));
    let mut index = TargetIndex::new();
    for object in sorted {
        let Some(target) = scale_target(object) else {
            continue;
        };
        for id in served_policy_sets(object) {
            index.entry(id).or_insert_with(|| target.clone());
        }
    }
    index
}

/// The policy sets the ScaledObject's `external`/`external-push` triggers ask this scaler for.
pub(crate) fn served_policy_sets(object: &DynamicObject) -> Vec<PolicySetId> {
    let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
    let Some(triggers) = object.data["spec"]["triggers"].as_array() else {
        return Vec::new();
    };
    triggers
        .iter()
        .filter(|trigger| matches!(trigger["type"].as_str(), Some("external" | "external-push")))
        .filter_map(|trigger| {
            trigger_policy_set(&namespace, &object.name_any(), &trigger["metadata"])
        })
        .collect()
}

/// The policy set one scaler trigger of ScaledObject `namespace/name` asks for, as
/// [`crate::policy::inline`] names it; `None` when a key that decides it (`policy`,
/// `policyNamespace`, `metricName`) comes only from the workload's environment
/// (`<key>FromEnv`), which the scaler does not see.
pub(crate) fn trigger_policy_set(
    namespace: &str,
    name: &str,
    metadata: &serde_json::Value,
) -> Option<PolicySetId> {
    let literal = |key: &str| {
        metadata[key]
            .as_str()
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let from_env = |key: &str| metadata.get(format!("{key}{FROM_ENV}")).is_some();
    if let Some(policy) = literal("policy") {
        let policy_namespace = match literal("policyNamespace") {
            Some(other) => other,
            None if from_env("policyNamespace") => return None,
            None => namespace,
        };
        return Some(PolicySetId::new(policy_namespace, policy));
    }
    if from_env("policy") || (literal("metricName").is_none() && from_env("metricName")) {
        return None;
    }
    Some(PolicySetId::new(
        namespace,
        inline_policy_set_name(name, literal("metricName")),
    ))
}

/// A ScaledObject's `spec.scaleTargetRef` (KEDA's defaults: `apps/v1`, `Deployment`).
fn scale_target(object: &DynamicObject) -> Option<ScaleTargetRef> {
    let target = &object.data["spec"]["scaleTargetRef"];
    Some(ScaleTargetRef {
        api_version: target["apiVersion"].as_str().map(str::to_owned),
        kind: target["kind"].as_str().map(str::to_owned),
        name: target["name"].as_str()?.to_owned(),
    })
}

/// Namespace, `apiVersion`, `kind` and name of a scale target.
type TargetKey = (String, Option<String>, Option<String>, String);

/// A watched scale target; the watch stops when the last policy set reading it goes.
struct WatchedTarget {
    view: KubeCapacity,
    watch: AbortHandle,
}

impl Drop for WatchedTarget {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl CapacityView for WatchedTarget {
    fn observe(&self) -> Option<CapacityObservation> {
        self.view.observe()
    }

    fn record_decision(&self, desired: u32) {
        self.view.record_decision(desired);
    }

    fn observes_target(&self) -> bool {
        self.view.observes_target()
    }

    fn changes(&self) -> Option<CapacityChanges> {
        self.view.changes()
    }
}

/// The capacity of each policy set read from its scale target: the spec's `scaleTargetRef`, or
/// the target of the ScaledObject that uses it. One watch per distinct target, shared by the
/// policy sets reading it, and stopped when the last of them goes.
pub struct KubeCapacitySource {
    client: Client,
    scaled_objects: Option<ScaledObjects>,
    views: Mutex<HashMap<TargetKey, Weak<WatchedTarget>>>,
}

impl KubeCapacitySource {
    /// A source reading through `client`, resolving targets through `scaled_objects`.
    pub fn new(client: Client, scaled_objects: Option<ScaledObjects>) -> Self {
        Self {
            client,
            scaled_objects,
            views: Mutex::new(HashMap::new()),
        }
    }

    /// The view of `target` in `namespace`: the one already watched, or a new watch.
    pub fn target_view(&self, namespace: &str, target: &ScaleTargetRef) -> Arc<dyn CapacityView> {
        let key = (
            namespace.to_owned(),
            target.api_version.clone(),
            target.kind.clone(),
            target.name.clone(),
        );
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(watched) = views.get(&key).and_then(Weak::upgrade) {
            return watched;
        }
        views.retain(|_, watched| watched.strong_count() > 0);
        let (view, task) = KubeCapacity::watch(self.client.clone(), namespace, target);
        let watched = Arc::new(WatchedTarget {
            view,
            watch: tokio::spawn(task).abort_handle(),
        });
        views.insert(key, Arc::downgrade(&watched));
        watched
    }

    /// How many scale targets are watched.
    pub fn watched_targets(&self) -> usize {
        let views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        views.values().filter(|w| w.strong_count() > 0).count()
    }
}

impl CapacitySource for KubeCapacitySource {
    fn view(&self, set: &CompiledPolicySet) -> Option<Arc<dyn CapacityView>> {
        let target = set.scale_target_ref.clone().or_else(|| {
            self.scaled_objects
                .as_ref()
                .and_then(|objects| objects.target_for(&set.id))
        })?;
        Some(self.target_view(&set.id.namespace, &target))
    }
}

#[cfg(test)]
mod tests;
