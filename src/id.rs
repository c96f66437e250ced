//! The identity of a policy set, shared by every layer.
//!
//! Sources key pushed feeds by it, telemetry labels series with it, the policy model, the
//! registry and the servers name policy sets with it. It lives here, below all of them, so that
//! none of the lower layers (sources, telemetry) reaches up into the policy model for it;
//! `policy` re-exports it.

use std::fmt;

/// A policy set's identity: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicySetId {
    /// Kubernetes-style namespace.
    pub namespace: String,
    /// Name within the namespace.
    pub name: String,
}

impl PolicySetId {
    /// Builds an id from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for PolicySetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
