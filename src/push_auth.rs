//! Who may push metrics and read decisions over HTTP.
//!
//! A push moves a service's capacity, so it is authorized per policy set:
//!
//! - **Cluster mode** (`serve --kubernetes`, by default): Kubernetes' own authentication and
//!   authorization, as kube-rbac-proxy does. The request carries `Authorization: Bearer <token>`,
//!   a projected service-account token whose audience is `ecs-scaler` (`--push-token-audience`).
//!   A `TokenReview` (with that audience) says who it is; a `SubjectAccessReview` says whether
//!   they may `create` `scalingpolicysets/metrics` of that namespace and name (a push), or `get`
//!   `scalingpolicysets` (a decision read), or `list` them in every namespace (the list of all
//!   decisions). See [`crate::kubernetes::reviews`]; reviews are cached ([`cache`]), so a push
//!   costs no API call in the steady state.
//! - **Files mode** with `--push-tokens FILE` ([`token_file`]): SHA-256 hashes of tokens, each
//!   with the policy sets it may push to. Decision reads stay open.
//! - Otherwise pushes are not authenticated, as before (the quickstart needs no token); `serve`
//!   says so when it starts.
//!
//! Whatever the mode, pushes to one metric of one policy set are rate-limited ([`rate`]).
//!
//! A token never leaves this module and [`crate::kubernetes::reviews`]: not in a log, not in an
//! answer, not as a cache key (the key is its SHA-256, [`TokenHash`], which is not logged
//! either). A refusal is a [`Denial`]: 401 when the credential is missing or not accepted, 403
//! naming the permission that is missing, 503 when the API server cannot say.

use std::fmt;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

pub mod cache;
pub mod rate;
pub mod token_file;

/// The API group and plural of the `ScalingPolicySet` resource, as the CRD declares them.
pub fn resource() -> (String, String) {
    use kube::Resource;
    type R = crate::policy::document::ScalingPolicySetResource;
    (R::group(&()).into_owned(), R::plural(&()).into_owned())
}

/// What a request asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Push a datapoint of a policy set's metric: `create` `scalingpolicysets/metrics`.
    Push,
    /// Read a policy set's decision: `get` `scalingpolicysets`.
    Read,
    /// Read every policy set's decision: `list` `scalingpolicysets` in all namespaces.
    List,
}

impl Verb {
    /// The Kubernetes verb.
    pub fn kubernetes_verb(self) -> &'static str {
        match self {
            Verb::Push => "create",
            Verb::Read => "get",
            Verb::List => "list",
        }
    }

    /// The subresource, if any.
    pub fn subresource(self) -> Option<&'static str> {
        match self {
            Verb::Push => Some("metrics"),
            Verb::Read | Verb::List => None,
        }
    }
}

/// A request's verb on a policy set (`namespace` and `name` are empty for [`Verb::List`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    /// What is asked.
    pub verb: Verb,
    /// The policy set's namespace.
    pub namespace: String,
    /// The policy set's name.
    pub name: String,
}

impl Access {
    /// A push to `namespace/name`.
    pub fn push(namespace: &str, name: &str) -> Self {
        Self {
            verb: Verb::Push,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// A decision read of `namespace/name`.
    pub fn read(namespace: &str, name: &str) -> Self {
        Self {
            verb: Verb::Read,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The list of every decision.
    pub fn list() -> Self {
        Self {
            verb: Verb::List,
            namespace: String::new(),
            name: String::new(),
        }
    }
}

/// The permission an [`Access`] needs, as a 403 names it: `create scalingpolicysets/metrics
/// shop/web`, `get scalingpolicysets shop/web`, `list scalingpolicysets in all namespaces`.
impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, plural) = resource();
        write!(f, "{} {plural}", self.verb.kubernetes_verb())?;
        if let Some(subresource) = self.verb.subresource() {
            write!(f, "/{subresource}")?;
        }
        match self.verb {
            Verb::List => f.write_str(" in all namespaces"),
            Verb::Push | Verb::Read => write!(f, " {}/{}", self.namespace, self.name),
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// No credential, a malformed one, or one not accepted (401 with `WWW-Authenticate`).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The credential is valid but lacks the permission (403).
    #[error("forbidden: {} may not {access}", user.as_deref().unwrap_or("this token"))]
    Forbidden {
        /// Who the credential is, when known (a Kubernetes user name).
        user: Option<String>,
        /// What was refused.
        access: Access,
    },
    /// The authority could not be asked (503): the API server failed or did not answer.
    #[error("{0}")]
    Unavailable(String),
}

/// The message of a 401 for a credential that is missing.
pub const MISSING_TOKEN: &str = "a bearer token is required: send `Authorization: Bearer <token>`";
/// The message of a 401 for a credential that is not accepted.
pub const INVALID_TOKEN: &str = "the bearer token is not valid for this scaler";
/// The message of a 401 for an `Authorization` header that is not a bearer token.
pub const MALFORMED_TOKEN: &str = "the Authorization header is not `Bearer <token>`";

impl Denial {
    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750: no error code when no credential
    /// was sent, `invalid_request` for a malformed one, `invalid_token` for one not accepted).
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            Denial::Unauthenticated(MISSING_TOKEN) => Some(r#"Bearer realm="ecs-scaler""#),
            Denial::Unauthenticated(MALFORMED_TOKEN) => {
                Some(r#"Bearer realm="ecs-scaler", error="invalid_request""#)
            }
            Denial::Unauthenticated(_) => {
                Some(r#"Bearer realm="ecs-scaler", error="invalid_token""#)
            }
            Denial::Forbidden { .. } | Denial::Unavailable(_) => None,
        }
    }
}

/// The bearer token of a request: `Ok(None)` without an `Authorization` header, a 401 for a
/// header that is not `Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Denial> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = Denial::Unauthenticated(MALFORMED_TOKEN);
    let value = value.to_str().map_err(|_| malformed.clone())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| malformed.clone())?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed);
    }
    Ok(Some(token))
}

/// The SHA-256 of a token: what the token file stores and what caches are keyed by. Its
/// `Debug` does not show it, so it cannot reach a log by accident.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub(crate) [u8; 32]);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Parses 64 hexadecimal digits (either case); `None` otherwise.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let digit = |b: u8| char::from(b).to_digit(16);
            let high = digit(pair[0])?;
            let low = digit(pair[1])?;
            out[i] = u8::try_from(high * 16 + low).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// How HTTP requests are authorized.
#[derive(Clone, Default)]
pub enum PushAuth {
    /// Nobody is asked: every push and read is allowed (files mode without `--push-tokens`).
    #[default]
    Open,
    /// Pushes need a token of the token file that names the policy set.
    Tokens(token_file::TokenFile),
    /// TokenReview and SubjectAccessReview, cached.
    Kubernetes(std::sync::Arc<crate::kubernetes::reviews::ClusterAuthorizer>),
}

impl fmt::Debug for PushAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PushAuth::Open => "Open",
            PushAuth::Tokens(_) => "Tokens",
            PushAuth::Kubernetes(_) => "Kubernetes",
        })
    }
}

impl PushAuth {
    /// Whether a request with `headers` may do `access`.
    pub async fn authorize(&self, headers: &HeaderMap, access: &Access) -> Result<(), Denial> {
        match self {
            PushAuth::Open => Ok(()),
            // The token file only guards pushes.
            PushAuth::Tokens(_) if access.verb != Verb::Push => Ok(()),
            PushAuth::Tokens(tokens) => {
                let token = bearer_token(headers)?.ok_or(Denial::Unauthenticated(MISSING_TOKEN))?;
                tokens.authorize(token, access)
            }
            PushAuth::Kubernetes(reviews) => {
                let token = bearer_token(headers)?.ok_or(Denial::Unauthenticated(MISSING_TOKEN))?;
                reviews.authorize(token, access).await
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
