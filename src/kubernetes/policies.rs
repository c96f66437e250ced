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
//! names the policy set (`policy`, `policyNamespace`; inline metadata names the policy set like
//! the ScaledObject). [`KubeCapacitySource`] then watches that target for the current capacity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{error, info, warn};

use super::ScalingPolicySetResource;
use super::crd::to_document;
use crate::capacity::kube::KubeCapacity;
use crate::capacity::{CapacitySource, CapacityView};
use crate::policy::document::ScaleTargetRef;
use crate::policy::{CompiledPolicySet, PolicySetId, compile};
use crate::registry::{Origin, Registry};

/// What one sync of the registry did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Policy sets served from a resource that compiled.
    pub loaded: usize,
    /// Resources that did not compile, as `namespace/name: errors`.
    pub failed: Vec<String>,
}

/// Makes the cluster-defined policy sets of `registry` exactly `resources`, keeping the last
/// good version of those that do not compile.
pub fn sync(resources: &[Arc<ScalingPolicySetResource>], registry: &Registry) -> SyncReport {
    let mut report = SyncReport::default();
    let mut loaded = Vec::new();
    for resource in resources {
        let document = to_document(resource);
        match compile(&document) {
            Ok(set) => {
                report.loaded += 1;
                loaded.push((Origin::Cluster, set));
            }
            Err(errors) => {
                let namespace = resource.namespace().unwrap_or_else(|| "default".to_owned());
                let name = resource.name_any();
                error!(policy_set = %format!("{namespace}/{name}"), %errors,
                    "ScalingPolicySet not loaded; its last good version stays in service.");
                report.failed.push(format!("{namespace}/{name}: {errors}"));
                if let Some(handle) = registry.get(&namespace, &name) {
                    loaded.push((Origin::Cluster, CompiledPolicySet::clone(&handle.set)));
                }
            }
        }
    }
    registry.sync_files(loaded, &[]);
    report
}

/// Watches every `ScalingPolicySet` of the cluster and keeps `registry` in sync with them;
/// marks the registry loaded after the first complete list.
pub async fn watch_policy_sets(client: Client, registry: Arc<Registry>) {
    let api: Api<ScalingPolicySetResource> = Api::all(client);
    let (reader, writer) = reflector::store();
    let mut events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                let report = sync(&reader.state(), &registry);
                registry.mark_loaded();
                info!(
                    policy_sets = report.loaded,
                    failed = report.failed.len(),
                    "ScalingPolicySets listed."
                );
            }
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                sync(&reader.state(), &registry);
            }
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Err(error) => warn!(%error, "Watch of ScalingPolicySets failed; relisting."),
        }
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

/// The ScaledObjects of the cluster, as a reflector keeps them.
#[derive(Clone)]
pub struct ScaledObjects {
    store: Store<DynamicObject>,
}

impl ScaledObjects {
    /// Starts watching every ScaledObject: the index, and the task that keeps it current.
    pub fn watch(client: Client) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let resource = scaled_object_resource();
        let api: Api<DynamicObject> = Api::all_with(client, &resource);
        let writer = reflector::store::Writer::new(resource.clone());
        let reader = writer.as_reader();
        let task = async move {
            let mut events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                if let Err(error) = event {
                    warn!(%error, "Watch of ScaledObjects failed; relisting.");
                }
            }
        };
        (Self { store: reader }, task)
    }

    /// Waits until the first list is complete.
    pub async fn ready(&self) {
        let _ = self.store.wait_until_ready().await;
    }

    /// The scale target of the ScaledObject whose scaler trigger serves policy set `id`.
    pub fn target_for(&self, id: &PolicySetId) -> Option<ScaleTargetRef> {
        self.store
            .state()
            .iter()
            .find(|object| serves(object, id))
            .and_then(|object| scale_target(object))
    }
}

/// Whether one of the ScaledObject's triggers asks this scaler for policy set `id`.
fn serves(object: &DynamicObject, id: &PolicySetId) -> bool {
    let namespace = object.namespace().unwrap_or_else(|| "default".to_owned());
    let Some(triggers) = object.data["spec"]["triggers"].as_array() else {
        return false;
    };
    triggers.iter().any(|trigger| {
        let kind = trigger["type"].as_str().unwrap_or_default();
        if kind != "external" && kind != "external-push" {
            return false;
        }
        let metadata = &trigger["metadata"];
        let name = metadata["policy"]
            .as_str()
            .map_or_else(|| object.name_any(), str::to_owned);
        let policy_namespace = metadata["policyNamespace"]
            .as_str()
            .map_or_else(|| namespace.clone(), str::to_owned);
        name == id.name && policy_namespace == id.namespace
    })
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

/// The capacity of each policy set read from its scale target: the spec's `scaleTargetRef`, or
/// the target of the ScaledObject that uses it. One watch per distinct target, shared.
pub struct KubeCapacitySource {
    client: Client,
    scaled_objects: Option<ScaledObjects>,
    views: Mutex<HashMap<TargetKey, KubeCapacity>>,
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

    /// The view of `target` in `namespace`, watched from the first request on.
    pub fn target_view(&self, namespace: &str, target: &ScaleTargetRef) -> KubeCapacity {
        let key = (
            namespace.to_owned(),
            target.api_version.clone(),
            target.kind.clone(),
            target.name.clone(),
        );
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        views
            .entry(key)
            .or_insert_with(|| {
                let (view, task) = KubeCapacity::watch(self.client.clone(), namespace, target);
                tokio::spawn(task);
                view
            })
            .clone()
    }
}

impl CapacitySource for KubeCapacitySource {
    fn view(&self, set: &CompiledPolicySet) -> Option<Arc<dyn CapacityView>> {
        let target = set.document.spec.scale_target_ref.clone().or_else(|| {
            self.scaled_objects
                .as_ref()
                .and_then(|objects| objects.target_for(&set.id))
        })?;
        Some(Arc::new(self.target_view(&set.id.namespace, &target)))
    }
}

#[cfg(test)]
mod tests;
