//! A policy set document, YAML or JSON, through `load_str` (parse, then compile), as the
//! policy directory and `ecs-scaler validate` read it.
//!
//! Input: the bytes as UTF-8 (others are skipped). `load_str` reads JSON when the text starts
//! with `{`, YAML otherwise.
//!
//! Checked: no panic; an accepted set has min <= max, and so has every scheduled action that
//! sets both.

#![no_main]

use ecs_scaler::policy::load::load_str;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = load_str(text, "fuzz.yaml") {
        assert!(set.min_capacity <= set.max_capacity, "{set:?}");
        for action in &set.scheduled_actions {
            if let (Some(min), Some(max)) = (action.min_capacity, action.max_capacity) {
                assert!(min <= max, "{action:?}");
            }
        }
    }
});
