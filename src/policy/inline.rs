//! Inline trigger metadata.
