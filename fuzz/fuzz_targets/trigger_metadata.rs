//! Trigger metadata as KEDA forwards it, down the inline path: `classify`, `inline_document`,
//! `compile` (what `Registry::resolve` does before serving a policy set).
//!
//! Input (lossy UTF-8): the first line is the ScaledObject's `namespace/name` (a line without
//! `/` is the namespace, the name is `fuzz`); every further line is `key=value` (split at the
//! first `=`; a line without one is a key with an empty value).
//!
//! Checked: no panic; an error names a key of the map, or the missing `policy`/`targetValue`;
//! a reference names a policy set; a compiled set is named like the ScaledObject and has
//! min <= max.

#![no_main]

use std::collections::HashMap;

use ecs_scaler::policy::inline::{TriggerPolicy, classify, inline_document};
use ecs_scaler::policy::{PolicySetId, compile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let object = lines.next().unwrap_or_default();
    let (namespace, name) = object.split_once('/').unwrap_or((object, "fuzz"));
    let metadata: HashMap<String, String> = lines
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();

    let names_a_key =
        |key: &str| metadata.contains_key(key) || key == "policy" || key == "targetValue";
    match classify(&metadata, namespace) {
        Err(error) => assert!(names_a_key(&error.key), "{error}"),
        Ok(TriggerPolicy::Reference { namespace, name }) => {
            assert!(!namespace.is_empty());
            assert!(!name.trim().is_empty());
        }
        Ok(TriggerPolicy::Inline) => {
            // As `Registry::resolve_inline`: an empty namespace is `default`.
            let namespace = if namespace.is_empty() {
                "default"
            } else {
                namespace
            };
            let id = PolicySetId::new(namespace, name);
            match inline_document(&metadata, &id) {
                Err(error) => assert!(names_a_key(&error.key), "{error}"),
                Ok(document) => {
                    if let Ok(set) = compile(&document) {
                        assert_eq!(set.id, id);
                        assert!(set.min_capacity <= set.max_capacity, "{set:?}");
                    }
                }
            }
        }
    }
});
