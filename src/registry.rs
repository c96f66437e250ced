//! The policy sets being served, their controllers, and how a trigger finds its policy set.
//!
//! Policy sets come from files (or the embedded examples) and from inline trigger metadata (one
//! per ScaledObject and metric: [`crate::policy::inline::inline_policy_set_name`]).
//! Each has a controller (run by the registry's [`Driver`]) and a [`PolicySetHandle`] through
//! which the gRPC and HTTP layers read its latest verdict. Lookups borrow the namespace and name
//! from the request, so serving a known policy set allocates nothing (but the name of an inline
//! trigger with a `metricName`).
//!
//! Replacing a policy set (its file changed) starts a new controller from the capacity the old
//! one last decided, so a reload never resets a service to its minimum, and the driver hands it
//! the old controller's state when it stops that one: alarms, policies, cooldowns, scheduled
//! actions and metric histories whose definitions did not change keep their state
//! ([`crate::engine::carry`]). Removing one stops its controller and then forgets its metric
//! series. An inline policy set is removed once no request has used it for a while
//! ([`expire_idle_inline`]): KEDA never says that a ScaledObject was deleted.
//!
//! A policy set that references CloudWatch alarms by name (`cloudwatchAlarm`) is resolved
//! first: a resolver task registers its alarms with the hub's refreshers, and each time their
//! definitions change it resolves the document, compiles it and serves the result like a changed
//! file (the decided capacity carries over; an unchanged result keeps its controller). Until
//! every definition is known the policy set is served as pending, `UNAVAILABLE` with a reason
//! naming the alarm; a version already running (the file changed) stays in service meanwhile, and
//! so does the last good one when an alarm disappears or changes into something unsupported.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use futures_util::future::select_all;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{error, info, warn};

use crate::capacity::assumed::AssumedCapacity;
use crate::capacity::{CapacitySource, CapacityView};
use crate::clock::Clock;
use crate::controller::driver::{Driver, Running};
use crate::controller::verdicts::{self, VerdictPublisher, Verdicts};
use crate::controller::{Controller, ControllerConfig, UnavailableCause, Verdict};
use crate::engine::Decision;
use crate::policy::cloudwatch_alarm;
use crate::policy::compiled::keda_metric_name;
use crate::policy::document::MetricSpec;
use crate::policy::inline::{
    MetadataError, TriggerPolicy, classify, inline_document, inline_metric, inline_policy_set_name,
};
use crate::policy::{CompiledPolicySet, PolicySetId, ValidationErrors, compile};
use crate::sources::cloudwatch::alarms::AlarmDefinition;
use crate::sources::hub::SourceHub;
use crate::telemetry::{Metrics, PolicySetLabels};

/// Where a policy set was defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A policy file.
    File(PathBuf),
    /// Compiled into the binary (the embedded example).
    Embedded(&'static str),
    /// Trigger metadata of a ScaledObject; the fingerprint identifies the metadata.
    Inline {
        /// Order-independent hash of the metadata map.
        fingerprint: u64,
    },
    /// A `ScalingPolicySet` custom resource (`serve --kubernetes`).
    Cluster {
        /// The resource's `metadata.uid`.
        uid: Option<String>,
        /// The `metadata.generation` the served version was compiled from.
        generation: Option<i64>,
    },
}

/// A served policy set: its definition and its latest verdict.
#[derive(Debug, Clone)]
pub struct PolicySetHandle {
    /// The compiled policy set.
    pub set: Arc<CompiledPolicySet>,
    /// The metric name reported to KEDA.
    pub metric_name: Arc<str>,
    verdicts: Verdicts,
}

impl PolicySetHandle {
    /// The latest verdict.
    pub fn verdict(&self) -> Arc<Verdict> {
        self.verdicts.latest()
    }

    /// A receiver that sees every new verdict.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Verdict>> {
        self.verdicts.subscribe()
    }
}

/// Why a trigger's policy set could not be found or built.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The referenced policy set is not loaded.
    #[error("policy set {id} not found in {searched} ({loaded} policy sets loaded)")]
    NotFound {
        /// The reference.
        id: PolicySetId,
        /// Where policy sets are loaded from.
        searched: String,
        /// How many are loaded.
        loaded: usize,
    },
    /// A metadata key is wrong.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The inline policy breaks a rule.
    #[error("inline policy: {0}")]
    InlinePolicy(ValidationErrors),
    /// The inline policy would shadow a policy set defined elsewhere.
    #[error(
        "trigger metadata: policy set {0} is already defined by a policy file; reference it with \
         `policy` or remove the inline keys"
    )]
    InlineConflict(PolicySetId),
    /// Two live triggers (of one ScaledObject, or of a ScaledObject and a ScaledJob of the same
    /// name) with the same metric but different settings ask for one inline policy set: the
    /// latest one keeps it, the one it replaced is refused instead of replacing it back.
    #[error(
        "trigger metadata: another trigger of {scaled_object} with `metricName: {metric}` and \
         other settings uses the inline policy set {id} (asked within the last {window_seconds} \
         s); give each inline trigger its own `metricName` (its policy set is then \
         `<scaledObject>.<metricName>`)"
    )]
    InlineTriggerConflict {
        /// The policy set both triggers name.
        id: PolicySetId,
        /// `namespace/name` of the ScaledObject.
        scaled_object: String,
        /// The metric both triggers name.
        metric: String,
        /// How long the other trigger must go unasked before this one may replace it.
        window_seconds: u64,
    },
    /// Creating the inline policy set would exceed the policy set limit.
    #[error(
        "trigger metadata: cannot create the inline policy set {id}: the limit of {limit} policy \
         sets (--max-policy-sets) is reached"
    )]
    TooManyPolicySets {
        /// The inline policy set that was refused.
        id: PolicySetId,
        /// The limit.
        limit: usize,
    },
}

/// How many policy sets a registry serves at most, unless told otherwise.
pub const DEFAULT_MAX_POLICY_SETS: usize = 10_000;

/// An inline policy set that replaced another version is not replaced back by that version
/// while a request used it within this window: two live triggers with the same inline policy
/// set would otherwise rebuild it on every request. KEDA asks about a live trigger every
/// `pollingInterval` (default 30 s) and every HPA sync (15 s).
pub const INLINE_CONFLICT_WINDOW: Duration = Duration::from_secs(60);

struct Entry {
    handle: PolicySetHandle,
    origin: Origin,
    /// The running controller (stopped when dropped); `None` while the policy set waits for
    /// its CloudWatch alarms.
    controller: Option<Running>,
    /// The view of the scale target the controller reads (`None`: the assumed capacity).
    capacity: Option<Arc<dyn CapacityView>>,
    /// When a request last resolved an inline policy set (or it was created), in milliseconds
    /// since the registry's epoch: see [`Registry::remove_idle_inline`].
    last_used: AtomicU64,
    /// The fingerprint of the version this one replaced, if any: an inline trigger asking for
    /// it again while this one is in use is another live trigger ([`INLINE_CONFLICT_WINDOW`]).
    replaced: Option<u64>,
    /// The metadata fingerprint of the trigger last refused as conflicting (0: none), so that
    /// its retries are refused without compiling its metadata again.
    refused: AtomicU64,
}

/// The task that resolves the CloudWatch alarms of a policy document and serves the result.
struct Resolver {
    /// The fingerprint of the unresolved document.
    fingerprint: u64,
    /// Tells this resolver from the one that replaced it.
    generation: u64,
    task: AbortHandle,
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Everything controllers need from the process.
pub struct RegistryConfig {
    /// The shared source feeds.
    pub hub: Arc<SourceHub>,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// The process metrics.
    pub metrics: Arc<Metrics>,
    /// How controllers run.
    pub controller: ControllerConfig,
    /// Starting capacity of new policy sets (default: their minimum capacity).
    pub initial_capacity: Option<u32>,
    /// Where policy files come from, for error messages (e.g. `policy directory ./policies`).
    pub source_description: String,
}

/// The served policy sets, by namespace then name.
pub struct Registry {
    sets: RwLock<HashMap<String, HashMap<String, Entry>>>,
    /// The resolvers of the policy sets that name CloudWatch alarms, by id.
    resolvers: Mutex<HashMap<PolicySetId, Resolver>>,
    next_generation: AtomicU64,
    /// At most this many policy sets are served (inline ones included).
    max_policy_sets: AtomicUsize,
    /// The initial policy load is done.
    loaded: AtomicBool,
    /// Readiness reached once; it stays (see [`Registry::readiness`]).
    ready: AtomicBool,
    /// Where new controllers read the current capacity (unset: the assumed capacity).
    capacity_source: OnceLock<Arc<dyn CapacitySource>>,
    /// Runs the controllers; started with the first one (it needs a tokio runtime).
    driver: OnceLock<Driver>,
    /// The origin of [`Entry::last_used`].
    epoch: Instant,
    me: Weak<Registry>,
    config: RegistryConfig,
}

impl Registry {
    /// An empty registry.
    pub fn new(config: RegistryConfig) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            sets: RwLock::new(HashMap::new()),
            resolvers: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
            max_policy_sets: AtomicUsize::new(DEFAULT_MAX_POLICY_SETS),
            loaded: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            capacity_source: OnceLock::new(),
            driver: OnceLock::new(),
            epoch: Instant::now(),
            me: me.clone(),
            config,
        })
    }

    /// Makes new controllers read their capacity from `source` (once; later calls are ignored).
    pub fn set_capacity_source(&self, source: Arc<dyn CapacitySource>) {
        let _ = self.capacity_source.set(source);
    }

    fn resolvers(&self) -> MutexGuard<'_, HashMap<PolicySetId, Resolver>> {
        self.resolvers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The process metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.config.metrics
    }

    /// The shared source feeds.
    pub fn hub(&self) -> &Arc<SourceHub> {
        &self.config.hub
    }

    /// The policy set `namespace/name`, if served.
    pub fn get(&self, namespace: &str, name: &str) -> Option<PolicySetHandle> {
        let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
        sets.get(namespace)?.get(name).map(|e| e.handle.clone())
    }

    /// Every served policy set, sorted by namespace and name.
    pub fn list(&self) -> Vec<PolicySetHandle> {
        let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<PolicySetHandle> = sets
            .values()
            .flat_map(|names| names.values().map(|e| e.handle.clone()))
            .collect();
        all.sort_by(|a, b| a.set.id.cmp(&b.set.id));
        all
    }

    /// Where the served version of `id` was defined.
    pub fn origin(&self, id: &PolicySetId) -> Option<Origin> {
        let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
        sets.get(&id.namespace)?
            .get(&id.name)
            .map(|e| e.origin.clone())
    }

    /// Number of served policy sets.
    pub fn len(&self) -> usize {
        let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
        sets.values().map(HashMap::len).sum()
    }

    /// Whether no policy set is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Serves at most `limit` policy sets: beyond it, inline policy sets are refused
    /// ([`ResolveError::TooManyPolicySets`]) and new policy files are not loaded (logged).
    pub fn set_max_policy_sets(&self, limit: usize) {
        self.max_policy_sets.store(limit, Ordering::Relaxed);
    }

    /// The policy set limit.
    pub fn max_policy_sets(&self) -> usize {
        self.max_policy_sets.load(Ordering::Relaxed)
    }

    /// Records that the initial policy load (directory, embedded examples) is done.
    pub fn mark_loaded(&self) {
        self.loaded.store(true, Ordering::Release);
    }

    /// Whether the scaler is ready for traffic: the initial policy load is done, every polled
    /// source of the policy sets then served has finished a first fetch (delivered, or failed:
    /// the policy set then says why it cannot decide), and every one of those policy sets has
    /// published a first verdict. Pushed metrics are not awaited: their clients reach a ready
    /// replica only. Once reached, readiness stays: policy sets created later (inline,
    /// reloaded) and sources failing later do not make a serving replica unready. `Err` says
    /// what is still awaited.
    pub fn readiness(&self) -> Result<(), String> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.loaded.load(Ordering::Acquire) {
            return Err("the policy sets are not loaded yet".to_owned());
        }
        let handles = self.list();
        let mut unfetched = BTreeSet::new();
        for handle in &handles {
            for (index, metric) in handle.set.metrics.iter().enumerate() {
                if matches!(metric.source, MetricSpec::Push(_)) {
                    continue;
                }
                let key = SourceHub::key_for(&handle.set, index);
                if self.config.hub.fetched_once(&key) == Some(false) {
                    unfetched.insert(key.to_string());
                }
            }
        }
        if !unfetched.is_empty() {
            return Err(awaited("sources not fetched yet", unfetched));
        }
        let unevaluated: BTreeSet<String> = handles
            .iter()
            .filter(|handle| matches!(handle.verdict().as_ref(), Verdict::Pending))
            .map(|handle| handle.set.id.to_string())
            .collect();
        if !unevaluated.is_empty() {
            return Err(awaited("policy sets not evaluated yet", unevaluated));
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// The policy set a trigger uses: the one its metadata references, or its inline policy.
    ///
    /// `namespace` and `name` are the ScaledObject's.
    pub fn resolve(
        &self,
        namespace: &str,
        name: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<PolicySetHandle, ResolveError> {
        match classify(metadata, namespace)? {
            TriggerPolicy::Reference { namespace, name } => {
                self.get(namespace, name)
                    .ok_or_else(|| ResolveError::NotFound {
                        id: PolicySetId::new(namespace, name),
                        searched: self.config.source_description.clone(),
                        loaded: self.len(),
                    })
            }
            TriggerPolicy::Inline => self.resolve_inline(namespace, name, metadata),
        }
    }

    fn resolve_inline(
        &self,
        namespace: &str,
        scaled_object: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<PolicySetHandle, ResolveError> {
        let namespace = if namespace.is_empty() {
            crate::policy::compiled::DEFAULT_NAMESPACE
        } else {
            namespace
        };
        let metric = inline_metric(metadata);
        let name = inline_policy_set_name(scaled_object, Some(metric));
        let name = name.as_ref();
        let fingerprint = fingerprint(metadata);
        let window = u64::try_from(INLINE_CONFLICT_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let conflict = || ResolveError::InlineTriggerConflict {
            id: PolicySetId::new(namespace, name),
            scaled_object: format!("{namespace}/{scaled_object}"),
            metric: metric.to_owned(),
            window_seconds: INLINE_CONFLICT_WINDOW.as_secs(),
        };
        // (document fingerprint, the one it replaced, last use) of the version served now.
        let current = {
            let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
            let entry = sets.get(namespace).and_then(|names| names.get(name));
            match entry {
                Some(entry) => match entry.origin {
                    Origin::Inline { fingerprint: f } if f == fingerprint => {
                        entry.last_used.store(self.now_ms(), Ordering::Relaxed);
                        return Ok(entry.handle.clone());
                    }
                    Origin::Inline { .. }
                        if entry.refused.load(Ordering::Relaxed) == fingerprint
                            && self
                                .now_ms()
                                .saturating_sub(entry.last_used.load(Ordering::Relaxed))
                                < window =>
                    {
                        return Err(conflict());
                    }
                    Origin::Inline { .. } => Some((
                        entry.handle.set.fingerprint,
                        entry.replaced,
                        entry.last_used.load(Ordering::Relaxed),
                    )),
                    _ => {
                        return Err(ResolveError::InlineConflict(PolicySetId::new(
                            namespace, name,
                        )));
                    }
                },
                None => None,
            }
        };
        let id = PolicySetId::new(namespace, name);
        let document = inline_document(metadata, &id)?;
        let set = compile(&document).map_err(ResolveError::InlinePolicy)?;
        if let Some((served, replaced, last_used)) = current
            && served != set.fingerprint
            && replaced == Some(set.fingerprint)
            && self.now_ms().saturating_sub(last_used) < window
        {
            let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = sets.get(namespace).and_then(|names| names.get(name)) {
                entry.refused.store(fingerprint, Ordering::Relaxed);
            }
            return Err(conflict());
        }
        let limit = self.max_policy_sets();
        if current.is_none() && self.len() >= limit {
            return Err(ResolveError::TooManyPolicySets { id, limit });
        }
        let handle = self.insert(set, Origin::Inline { fingerprint });
        match current {
            None => info!(policy_set = %id, "Inline policy set created from trigger metadata."),
            Some((served, ..)) if served != handle.set.fingerprint => {
                info!(policy_set = %id, "Inline policy set replaced: its trigger changed.");
            }
            Some(_) => {}
        }
        Ok(handle)
    }

    /// Serves `set`, replacing a policy set with the same id; returns its handle.
    ///
    /// An unchanged definition keeps its running controller; a changed one starts a new
    /// controller from the capacity the old one last decided, keeping the old one's state for
    /// everything whose definition did not change ([`crate::engine::carry`]). A set that
    /// references CloudWatch alarms not resolved yet is resolved first (see the module
    /// documentation): the handle is then the version already served, or a pending one.
    pub fn insert(&self, set: CompiledPolicySet, origin: Origin) -> PolicySetHandle {
        if !set.unresolved_alarms().is_empty() {
            return self.insert_unresolved(set, origin);
        }
        drop(self.resolvers().remove(&set.id));
        self.serve(set, origin).0
    }

    /// Serves `set` (resolved); whether a new controller started.
    fn serve(&self, set: CompiledPolicySet, origin: Origin) -> (PolicySetHandle, bool) {
        let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
        let names = sets.entry(set.id.namespace.clone()).or_default();
        if let Some(entry) = names.get_mut(&set.id.name)
            && entry.handle.set.fingerprint == set.fingerprint
        {
            entry.origin = origin;
            return (entry.handle.clone(), false);
        }
        let replaced = names.get(&set.id.name).map(|e| e.handle.set.fingerprint);
        let verdict = names.get(&set.id.name).map(|e| e.handle.verdict());
        let carried = verdict
            .as_ref()
            .and_then(|v| v.decision())
            .map(|d| d.desired)
            .or(self.config.initial_capacity)
            .unwrap_or(set.min_capacity);
        let set = Arc::new(set);
        let capacity = self
            .capacity_source
            .get()
            .and_then(|source| source.view(&set));
        let name = set.id.name.clone();
        // The running version hands its state over (bounds in force included: `carry_from`).
        let previous = names.get(&name).and_then(|e| e.controller.as_ref());
        let mut entry = self.start(set, origin, capacity, carried, None, previous);
        entry.replaced = replaced;
        let handle = entry.handle.clone();
        names.insert(name, entry);
        drop(sets);
        self.after_change();
        (handle, true)
    }

    /// Starts the controller of `set`, reading `capacity` (or assuming it, from `carried`); in
    /// place of `previous`, the controller of the version it replaces, whose state it keeps for
    /// everything whose definition did not change ([`Controller::carry_from`]).
    fn start(
        &self,
        set: Arc<CompiledPolicySet>,
        origin: Origin,
        capacity: Option<Arc<dyn CapacityView>>,
        carried: u32,
        bounds: Option<(u32, u32)>,
        previous: Option<&Running>,
    ) -> Entry {
        let (mut controller, verdicts) = Controller::new(
            set.clone(),
            &self.config.hub,
            capacity
                .clone()
                .unwrap_or_else(|| Arc::new(AssumedCapacity::new(carried))),
            self.config.clock.clone(),
            self.config.metrics.clone(),
            self.config.controller,
        );
        if let Some(bounds) = bounds {
            controller.continue_bounds(bounds);
        }
        let driver = self.driver.get_or_init(Driver::spawn);
        let running = match previous {
            Some(previous) => driver.replace(previous, controller),
            None => driver.run(controller),
        };
        Entry {
            handle: PolicySetHandle {
                metric_name: keda_metric_name(&set.id).into(),
                set,
                verdicts,
            },
            origin,
            controller: Some(running),
            capacity,
            last_used: AtomicU64::new(self.now_ms()),
            replaced: None,
            refused: AtomicU64::new(0),
        }
    }

    /// Restarts the controller of every policy set whose capacity source now gives another
    /// view (in a cluster: a ScaledObject naming it appeared, went, or changed its target),
    /// from the capacity it last decided. Returns how many were restarted.
    pub fn refresh_capacity_views(&self) -> usize {
        let Some(source) = self.capacity_source.get() else {
            return 0;
        };
        let mut restarted = Vec::new();
        let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
        for entry in sets.values_mut().flat_map(HashMap::values_mut) {
            if entry.controller.is_none() {
                continue; // Waiting for its CloudWatch alarms: resolved with the current view.
            }
            let view = source.view(&entry.handle.set);
            if same_view(view.as_ref(), entry.capacity.as_ref()) {
                continue;
            }
            let set = entry.handle.set.clone();
            let verdict = entry.handle.verdict();
            let decided = verdict.decision();
            let carried = decided.map_or(set.min_capacity, |d| d.desired);
            let bounds = suspended_bounds(&set, decided);
            restarted.push(set.id.clone());
            let replaced = entry.replaced;
            *entry = self.start(set, entry.origin.clone(), view, carried, bounds, None);
            entry.replaced = replaced;
        }
        drop(sets);
        for id in &restarted {
            info!(policy_set = %id, "Policy set restarted with the capacity of its new scale target.");
        }
        restarted.len()
    }

    /// Starts resolving the CloudWatch alarms of `set` (unless the same document is being
    /// resolved already); serves it as pending unless a version of it runs.
    fn insert_unresolved(&self, set: CompiledPolicySet, origin: Origin) -> PolicySetHandle {
        let id = set.id.clone();
        let mut resolvers = self.resolvers();
        if let Some(resolver) = resolvers.get(&id)
            && resolver.fingerprint == set.fingerprint
            && let Some(handle) = self.get(&id.namespace, &id.name)
        {
            return handle;
        }
        let set = Arc::new(set);
        let (pending, verdicts) = verdicts::channel(Verdict::Unavailable {
            cause: UnavailableCause::AlarmsUnresolved,
            reason: waiting_reason(&set),
        });
        let (handle, added) = {
            let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
            let names = sets.entry(id.namespace.clone()).or_default();
            match names.get(&id.name) {
                // A running version stays in service until this one is resolved.
                Some(entry) if entry.controller.is_some() => (entry.handle.clone(), false),
                _ => {
                    let handle = PolicySetHandle {
                        metric_name: keda_metric_name(&id).into(),
                        set: set.clone(),
                        verdicts,
                    };
                    let entry = Entry {
                        handle: handle.clone(),
                        origin: origin.clone(),
                        controller: None,
                        capacity: None,
                        last_used: AtomicU64::new(self.now_ms()),
                        replaced: None,
                        refused: AtomicU64::new(0),
                    };
                    names.insert(id.name.clone(), entry);
                    (handle, true)
                }
            }
        };
        if added {
            self.config
                .metrics
                .unavailable
                .get_or_create(&PolicySetLabels::from(&id))
                .set(1);
            self.after_change();
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let fingerprint = set.fingerprint;
        let task = tokio::spawn(resolve_alarms(
            self.me.clone(),
            set,
            origin,
            generation,
            pending,
        ))
        .abort_handle();
        resolvers.insert(
            id,
            Resolver {
                fingerprint,
                generation,
                task,
            },
        );
        handle
    }

    /// Serves a set its resolver resolved, unless the resolver was replaced meanwhile.
    fn serve_resolved(&self, set: CompiledPolicySet, origin: &Origin, generation: u64) {
        let resolvers = self.resolvers();
        if resolvers.get(&set.id).map(|r| r.generation) != Some(generation) {
            return;
        }
        let id = set.id.clone();
        let (_, started) = self.serve(set, origin.clone());
        drop(resolvers);
        if started {
            info!(policy_set = %id, "Policy set served with the definitions of its CloudWatch alarms.");
        }
    }

    /// Stops serving `id`.
    pub fn remove(&self, id: &PolicySetId) -> bool {
        let removed = self.remove_if(id, |_| true);
        if removed {
            info!(policy_set = %id, "Policy set removed.");
        }
        removed
    }

    /// Removes the inline policy sets that no request has resolved for `idle` and that no
    /// stream (`StreamIsActive`) watches: their ScaledObject is gone, or KEDA stopped asking.
    /// Without this, deleted ScaledObjects would keep their policy sets, sources and series
    /// forever, and count against the policy set limit. A later request creates one again
    /// (from the capacity of its scale target, as after a restart). Returns those removed.
    pub fn remove_idle_inline(&self, idle: Duration) -> Vec<PolicySetId> {
        let now = self.now_ms();
        let idle = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let is_idle = |entry: &Entry| {
            matches!(entry.origin, Origin::Inline { .. })
                && now.saturating_sub(entry.last_used.load(Ordering::Relaxed)) >= idle
                && !entry.handle.verdicts.watched()
        };
        let candidates: Vec<PolicySetId> = {
            let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
            sets.values()
                .flat_map(HashMap::values)
                .filter(|entry| is_idle(entry))
                .map(|entry| entry.handle.set.id.clone())
                .collect()
        };
        candidates
            .into_iter()
            .filter(|id| self.remove_if(id, is_idle))
            .collect()
    }

    /// Removes `id` if `condition` holds for it (checked under the lock, so that a request
    /// resolving it meanwhile keeps it): its resolver and controller stop, then its metric
    /// series go. Whether it was removed.
    fn remove_if(&self, id: &PolicySetId, condition: impl FnOnce(&Entry) -> bool) -> bool {
        // The resolvers' lock first, as a resolver serving its result takes them in this order.
        let mut resolvers = self.resolvers();
        let removed = {
            let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
            let removed = sets.get_mut(&id.namespace).and_then(|names| {
                let entry = names.get(&id.name)?;
                condition(entry).then(|| names.remove(&id.name)).flatten()
            });
            sets.retain(|_, names| !names.is_empty());
            removed
        };
        let Some(entry) = removed else {
            return false;
        };
        let resolver = resolvers.remove(id);
        drop(resolvers);
        drop(resolver);
        self.retire(entry);
        self.after_change();
        true
    }

    /// Stops a removed entry's controller, then forgets the policy set's metric series (on
    /// the driver, after the controller's last report), unless it is served again by then.
    fn retire(&self, entry: Entry) {
        let id = entry.handle.set.id.clone();
        let registry = self.me.clone();
        let forget = move || {
            if let Some(registry) = registry.upgrade()
                && registry.get(&id.namespace, &id.name).is_none()
            {
                registry.config.metrics.remove_policy_set(&id);
            }
        };
        match entry.controller {
            Some(running) => running.stop_then(forget),
            None => forget(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Makes the file-defined policy sets exactly `loaded`, keeping those defined by the files
    /// in `keep` (files that failed to load keep their last good definition).
    pub fn sync_files(&self, loaded: Vec<(Origin, CompiledPolicySet)>, keep: &[PathBuf]) {
        self.sync_defined(loaded, |_, origin| match origin {
            Origin::File(path) => !keep.contains(path),
            Origin::Embedded(_) | Origin::Cluster { .. } => true,
            Origin::Inline { .. } => false,
        });
    }

    /// Makes the cluster-defined policy sets exactly `loaded` and those in `unchanged` (served
    /// as they are: their resource did not change, or its new version does not compile).
    pub fn sync_cluster(
        &self,
        loaded: Vec<(Origin, CompiledPolicySet)>,
        unchanged: &HashSet<PolicySetId>,
    ) {
        self.sync_defined(loaded, |id, origin| match origin {
            Origin::Inline { .. } => false,
            _ => !unchanged.contains(id),
        });
    }

    /// Serves `loaded` and removes every other policy set that `replaced` says the sync
    /// defines (not inline ones, not kept ones).
    fn sync_defined(
        &self,
        loaded: Vec<(Origin, CompiledPolicySet)>,
        replaced: impl Fn(&PolicySetId, &Origin) -> bool,
    ) {
        let wanted: HashSet<&PolicySetId> = loaded.iter().map(|(_, set)| &set.id).collect();
        let stale: Vec<PolicySetId> = {
            let sets = self.sets.read().unwrap_or_else(PoisonError::into_inner);
            sets.values()
                .flat_map(|names| names.values())
                .map(|entry| (&entry.handle.set.id, &entry.origin))
                .filter(|(id, origin)| replaced(id, origin) && !wanted.contains(id))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in stale {
            self.remove(&id);
        }
        let limit = self.max_policy_sets();
        let mut refused = Vec::new();
        for (origin, set) in loaded {
            if self.len() >= limit && self.get(&set.id.namespace, &set.id.name).is_none() {
                refused.push(set.id.to_string());
                continue;
            }
            self.insert(set, origin);
        }
        if !refused.is_empty() {
            error!(
                limit,
                refused = refused.len(),
                first = %refused[0],
                "Policy sets not served: the policy set limit (--max-policy-sets) is reached."
            );
        }
    }

    fn after_change(&self) {
        self.config.metrics.policy_sets.set(self.len() as i64);
        self.config.hub.release_unused();
    }
}

/// `"{what} ({n}): a, b, c, d, e and {n - 5} more"`.
fn awaited(what: &str, names: BTreeSet<String>) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    format!(
        "{what} ({}): {}{}",
        names.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Removes idle inline policy sets ([`Registry::remove_idle_inline`]) every quarter of `idle`
/// (at least every minute), until the registry goes.
pub async fn expire_idle_inline(registry: Weak<Registry>, idle: Duration) {
    let period = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut sweeps = tokio::time::interval(period);
    sweeps.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        sweeps.tick().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        for id in registry.remove_idle_inline(idle) {
            info!(
                policy_set = %id,
                idle_seconds = idle.as_secs(),
                "Inline policy set removed: no KEDA request has used it (its ScaledObject is \
                 gone or paused); the next request creates it again."
            );
        }
    }
}

/// A registry for tests: system clock, fresh metrics, a tick of an hour (tests step or wait for
/// what they need), loading from `source_description`.
#[cfg(test)]
pub(crate) fn test_registry(
    initial_capacity: Option<u32>,
    source_description: &str,
) -> Arc<Registry> {
    use crate::clock::SystemClock;
    Registry::new(RegistryConfig {
        hub: SourceHub::new(Arc::new(SystemClock), Arc::new(Metrics::new())),
        clock: Arc::new(SystemClock),
        metrics: Arc::new(Metrics::new()),
        controller: ControllerConfig {
            tick: std::time::Duration::from_secs(3600),
        },
        initial_capacity,
        source_description: source_description.to_owned(),
    })
}

/// Why a policy set waiting for its CloudWatch alarms cannot decide yet.
fn waiting_reason(set: &CompiledPolicySet) -> String {
    let alarms: Vec<String> = set
        .unresolved_alarms()
        .iter()
        .map(|(key, reference)| format!("`{}` (spec.alarms.{key})", reference.alarm_name))
        .collect();
    format!(
        "waiting for the definition of CloudWatch alarm {} from DescribeAlarms",
        alarms.join(", ")
    )
}

/// Resolves the CloudWatch alarms of `set` whenever their definitions change, and serves the
/// result; until it can, publishes why on `pending` (the verdict of the pending policy set).
async fn resolve_alarms(
    registry: Weak<Registry>,
    set: Arc<CompiledPolicySet>,
    origin: Origin,
    generation: u64,
    pending: VerdictPublisher,
) {
    let Some(alarms) = registry.upgrade().map(|r| r.hub().alarms().clone()) else {
        return;
    };
    let Some(document) = set.pending_document.as_deref() else {
        return;
    };
    // (key in spec.alarms, alarm name, registration, feed)
    let mut feeds: Vec<_> = set
        .unresolved_alarms()
        .into_iter()
        .map(|(key, reference)| {
            let (registration, feed) = alarms.register(&reference.key(), reference.refresh_seconds);
            (
                key.to_owned(),
                reference.alarm_name.clone(),
                registration,
                feed,
            )
        })
        .collect();
    if feeds.is_empty() {
        return;
    }
    let mut last_problem: Option<String> = None;
    loop {
        let mut definitions: BTreeMap<String, Arc<AlarmDefinition>> = BTreeMap::new();
        let mut missing = Vec::new();
        let mut failed = false;
        for (key, name, _, feed) in &mut feeds {
            let feed = feed.borrow_and_update();
            match (&feed.definition, &feed.last_error) {
                (Some(definition), _) => {
                    definitions.insert(key.clone(), definition.clone());
                }
                (None, Some(error)) => {
                    failed = true;
                    missing.push(format!(
                        "CloudWatch alarm `{name}` (spec.alarms.{key}): {error}"
                    ));
                }
                (None, None) => missing.push(format!(
                    "waiting for the definition of CloudWatch alarm `{name}` (spec.alarms.{key}) \
                     from DescribeAlarms"
                )),
            }
        }
        let problem = if missing.is_empty() {
            let resolved =
                cloudwatch_alarm::resolve(document, |key| definitions.get(key).map(|d| d.as_ref()))
                    .and_then(|document| compile(&document));
            match resolved {
                Ok(resolved) => {
                    let Some(registry) = registry.upgrade() else {
                        return;
                    };
                    registry.serve_resolved(resolved, &origin, generation);
                    None
                }
                Err(errors) => {
                    failed = true;
                    Some(format!("its CloudWatch alarms cannot be used: {errors}"))
                }
            }
        } else {
            Some(missing.join("; "))
        };
        if let Some(reason) = &problem {
            if failed && last_problem.as_ref() != Some(reason) {
                warn!(policy_set = %set.id, %reason, "CloudWatch alarms not resolved; a version already served stays in service.");
            }
            pending.publish(Arc::new(Verdict::Unavailable {
                cause: UnavailableCause::AlarmsUnresolved,
                reason: reason.clone(),
            }));
        }
        last_problem = problem;
        let changed = select_all(
            feeds
                .iter_mut()
                .map(|(_, _, _, feed)| Box::pin(feed.changed())),
        );
        if changed.await.0.is_err() {
            return;
        }
    }
}

/// Whether two capacity views are the same object (both `None`: both assumed).
fn same_view(a: Option<&Arc<dyn CapacityView>>, b: Option<&Arc<dyn CapacityView>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b)),
        (None, None) => true,
        _ => false,
    }
}

/// An order-independent hash of a metadata map.
fn fingerprint(metadata: &HashMap<String, String>) -> u64 {
    metadata
        .iter()
        .map(|pair| {
            let mut hasher = DefaultHasher::new();
            pair.hash(&mut hasher);
            hasher.finish()
        })
        .fold(0u64, u64::wrapping_add)
}

/// The bounds in force that a restarted controller of `set` (a new scale target, no state
/// handed over) continues from its last decision while scheduled scaling is suspended: a fresh
/// start does not replay the actions then, so it would fall back to the document's bounds,
/// where suspending keeps those in force ([`EngineState::continue_bounds`]).
///
/// [`EngineState::continue_bounds`]: crate::engine::EngineState::continue_bounds
fn suspended_bounds(set: &CompiledPolicySet, decided: Option<&Decision>) -> Option<(u32, u32)> {
    decided
        .filter(|_| set.suspended.scheduled_scaling_suspended)
        .map(|d| (d.min, d.max))
}

#[cfg(test)]
mod tests;
