//! Reading policy documents from text and files, with field paths in every error.
//!
//! YAML and JSON are both read into a generic value first and then into the typed document
//! through `serde_path_to_error`, so a type error names its field
//! (`spec.policies[0].targetTracking.targetValue: invalid type: string "x", expected f64`).

use std::path::{Path, PathBuf};

use super::compiled::CompiledPolicySet;
use super::document::ScalingPolicySet;
use super::validate::{ValidationErrors, compile};

/// Why a policy file could not be turned into a policy set.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not a document of the expected shape.
    #[error("{origin}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// The parser's message, with the field path.
        message: String,
    },
    /// The document breaks one or more rules.
    #[error("{origin}: {errors}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// Every problem found.
        errors: ValidationErrors,
    },
}

/// Parses a YAML or JSON document (JSON is YAML, so one reader serves both).
pub fn parse_document(text: &str, origin: &str) -> Result<ScalingPolicySet, LoadError> {
    let parse_error = |message: String| LoadError::Parse {
        origin: origin.to_owned(),
        message,
    };
    let value: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| parse_error(format!("invalid JSON: {e}")))?
    } else {
        serde_saphyr::from_str(text).map_err(|e| parse_error(format!("invalid YAML: {e}")))?
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            parse_error(inner.to_string())
        } else {
            parse_error(format!("{path}: {inner}"))
        }
    })
}

/// Parses and compiles a document.
pub fn load_str(text: &str, origin: &str) -> Result<CompiledPolicySet, LoadError> {
    let document = parse_document(text, origin)?;
    compile(&document).map_err(|errors| LoadError::Invalid {
        origin: origin.to_owned(),
        errors,
    })
}

/// Reads, parses and compiles one file.
pub fn load_file(path: &Path) -> Result<CompiledPolicySet, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_str(&text, &path.display().to_string())
}

/// Whether a file name looks like a policy document (`.yaml`, `.yml` or `.json`).
pub fn is_policy_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}
