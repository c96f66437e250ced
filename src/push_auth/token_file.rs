//! `serve --push-tokens FILE`: which tokens may push to which policy sets (files mode).
//!
//! ```yaml
//! tokens:
//! - sha256: 5e8848...          # hex SHA-256 of the token: printf %s "$TOKEN" | sha256sum
//!   policySets: ["shop/web", "default/*"]
//! ```
//!
//! A pattern is `namespace/name`, `namespace/*` (every policy set of the namespace) or `*/*`.
//! The file holds hashes only, so it can be read by more people than the tokens themselves.
//! A request's token is hashed and looked up; the hash is a map key, never logged or shown.
//!
//! The file is polled like the policy directory ([`crate::store`]): when its bytes change it is
//! loaded again; a file that does not load (unreadable, bad YAML, a bad entry) is logged with
//! every problem and the last good version stays in force. At start a bad file is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tracing::{error, info};

use super::{Access, Denial, INVALID_TOKEN, TokenHash};

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    /// The tokens that may push.
    tokens: Vec<Entry>,
}

/// One token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Entry {
    /// The hex SHA-256 of the token.
    sha256: String,
    /// Policy sets it may push to: `namespace/name`, `namespace/*` or `*/*`.
    policy_sets: Vec<String>,
}

/// Which policy sets a token may push to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// One policy set.
    Exact { namespace: String, name: String },
    /// Every policy set of a namespace.
    Namespace(String),
    /// Every policy set.
    Any,
}

impl Pattern {
    fn parse(text: &str) -> Option<Self> {
        let (namespace, name) = text.split_once('/')?;
        let valid = |part: &str| !part.is_empty() && !part.contains(['/', ' ']);
        match (namespace, name) {
            ("*", "*") => Some(Pattern::Any),
            ("*", _) => None,
            (namespace, "*") if valid(namespace) => Some(Pattern::Namespace(namespace.to_owned())),
            (namespace, name) if valid(namespace) && valid(name) && !name.contains('*') => {
                Some(Pattern::Exact {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => None,
        }
    }

    fn matches(&self, namespace: &str, name: &str) -> bool {
        match self {
            Pattern::Exact {
                namespace: n,
                name: m,
            } => n == namespace && m == name,
            Pattern::Namespace(n) => n == namespace,
            Pattern::Any => true,
        }
    }
}

/// A loaded token file: each token's hash with its patterns.
#[derive(Debug, Default)]
pub struct Tokens {
    grants: HashMap<TokenHash, Vec<Pattern>>,
}

impl Tokens {
    /// Parses and checks a token file; the error lists every problem (never a hash).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut options = serde_saphyr::Options::default();
        // A snippet of the file would show a hash.
        options.with_snippet = false;
        let document: Document = serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| format!("invalid token file: {e}"))?;
        let mut problems = Vec::new();
        let mut grants: HashMap<TokenHash, Vec<Pattern>> = HashMap::new();
        let mut first_of: HashMap<TokenHash, usize> = HashMap::new();
        for (i, entry) in document.tokens.iter().enumerate() {
            let hash = TokenHash::from_hex(entry.sha256.trim());
            if hash.is_none() {
                problems.push(format!(
                    "tokens[{i}].sha256: expected 64 hexadecimal digits, the SHA-256 of the \
                     token (printf %s \"$TOKEN\" | sha256sum)"
                ));
            }
            if entry.policy_sets.is_empty() {
                problems.push(format!("tokens[{i}].policySets: empty"));
            }
            let mut patterns = Vec::new();
            for (j, text) in entry.policy_sets.iter().enumerate() {
                match Pattern::parse(text) {
                    Some(pattern) => patterns.push(pattern),
                    None => problems.push(format!(
                        "tokens[{i}].policySets[{j}]: `{text}` is not `namespace/name`, \
                         `namespace/*` or `*/*`"
                    )),
                }
            }
            if let Some(hash) = hash {
                if let Some(first) = first_of.get(&hash) {
                    problems.push(format!(
                        "tokens[{i}].sha256: the same token as tokens[{first}]; list its policy \
                         sets once"
                    ));
                } else {
                    first_of.insert(hash, i);
                    grants.insert(hash, patterns);
                }
            }
        }
        if problems.is_empty() {
            Ok(Self { grants })
        } else {
            Err(problems.join("; "))
        }
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Tokens listed.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether no token is listed.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Whether `token` may do `access` (a push).
    pub fn authorize(&self, token: &str, access: &Access) -> Result<(), Denial> {
        let patterns = self
            .grants
            .get(&TokenHash::of(token))
            .ok_or(Denial::Unauthenticated(INVALID_TOKEN))?;
        if patterns
            .iter()
            .any(|p| p.matches(&access.namespace, &access.name))
        {
            Ok(())
        } else {
            Err(Denial::Forbidden {
                user: None,
                access: access.clone(),
            })
        }
    }
}

/// The token file in force, shared by the HTTP handlers and the task that reloads it.
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    current: Arc<RwLock<Arc<Tokens>>>,
}

impl TokenFile {
    /// A token file in force with `tokens` (no file behind it).
    pub fn fixed(tokens: Tokens) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(tokens))),
        }
    }

    /// Loads `path` (an error if it does not load), then polls it every `interval` in a
    /// background task, loading it again when its bytes change.
    pub fn load_and_watch(path: PathBuf, interval: Duration) -> Result<Self, String> {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        let tokens = match &bytes {
            Ok(bytes) => Tokens::parse(&String::from_utf8_lossy(bytes))
                .map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) => return Err(e.clone()),
        };
        info!(file = %path.display(), tokens = tokens.len(), "Push tokens loaded.");
        let file = Self::fixed(tokens);
        tokio::spawn(file.clone().watch(path, interval, bytes));
        Ok(file)
    }

    /// The tokens in force.
    pub fn tokens(&self) -> Arc<Tokens> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `token` may do `access`.
    pub fn authorize(&self, token: &str, access: &Access) -> Result<(), Denial> {
        self.tokens().authorize(token, access)
    }

    /// Reads `path` again and puts it in force if it loads; `last` is what was read before
    /// (bytes or why not), so an unchanged file (or the same failure) does nothing.
    pub fn reload(&self, path: &Path, last: &mut Result<Vec<u8>, String>) {
        let read = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
        if read == *last {
            return;
        }
        match &read {
            Ok(bytes) => match Tokens::parse(&String::from_utf8_lossy(bytes)) {
                Ok(tokens) => {
                    info!(file = %path.display(), tokens = tokens.len(), "Push tokens reloaded.");
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                        Arc::new(tokens);
                }
                Err(problems) => error!(
                    file = %path.display(),
                    %problems,
                    "Push token file not loaded; its last good version stays in force."
                ),
            },
            Err(problem) => error!(
                %problem,
                "Push token file not readable; its last good version stays in force."
            ),
        }
        *last = read;
    }

    async fn watch(self, path: PathBuf, interval: Duration, mut last: Result<Vec<u8>, String>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            self.reload(&path, &mut last);
        }
    }
}

#[cfg(test)]
mod tests;
