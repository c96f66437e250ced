//! The ECS scaling model as data: documents, their validation, and the compiled form.
//!
//! - [`document`]: the `ScalingPolicySet` schema (serde), named after AAS fields.
//! - [`validate`]: every rule, every error with its field path; [`compile`] resolves names.
//! - [`compiled`]: what the engine evaluates.
//! - [`load`]: YAML/JSON text and files.
//! - [`inline`]: simple trigger metadata compiled into the same model.
//! - [`cloudwatch_alarm`]: `spec.alarms` entries, inline or CloudWatch alarms read by name, and
//!   the resolution of the latter.

pub mod cloudwatch_alarm;
pub mod compiled;
pub mod document;
pub mod inline;
pub mod load;
pub mod validate;

pub use compiled::{CompiledPolicySet, PolicySetId};
pub use validate::{ValidationError, ValidationErrors, compile};
