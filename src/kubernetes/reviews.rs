//! Push authorization in a cluster: `TokenReview` and `SubjectAccessReview`, cached.
//!
//! This is what kube-rbac-proxy and the API server's webhook authorizers do. The bearer token
//! of a push is reviewed with the scaler's audience (`--push-token-audience`, `ecs-scaler` by
//! default): it is accepted only if the API server says it is authenticated *and* names that
//! audience among the token's (an empty list means the API server's own audience, which a token
//! for the scaler must not have). The user, groups, uid and extra of the answer then go into a
//! `SubjectAccessReview` of the request's [`Access`]: `create` `scalingpolicysets/metrics`,
//! `get` or `list` `scalingpolicysets`, in the group of the CRD, with the policy set's
//! namespace and name. So RBAC decides, with `resourceNames` narrowing a Role to one policy set.
//!
//! Both answers are cached ([`TtlCache`]), accepted and refused alike, keyed by the token's
//! SHA-256 (never the token): identities for [`ReviewTtls::authenticated`], but not past the
//! token's own expiry (the `exp` claim of a JWT, read only once the API server has accepted
//! the token, so the claim is genuine), refusals for [`ReviewTtls::rejected`]. A push thus costs no API call in the steady state. When the API
//! server fails or does not answer within [`super::API_CALL_TIMEOUT`], a token that is not
//! cached is refused with 503 (nothing is cached), while cached answers are served until they
//! expire. Nothing of a review (token, hash, body) is logged: only that it failed, and why the
//! API call did.
//!
//! Any client can make the scaler send a TokenReview (one per new token), so at most
//! [`DEFAULT_MAX_IN_FLIGHT`] reviews are in flight at once; more wait their turn. A flood of
//! made-up tokens thus costs the API server a bounded number of concurrent calls, and cached
//! tokens are never held up by it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::push_auth::cache::TtlCache;
use crate::push_auth::{Access, Denial, INVALID_TOKEN, TokenHash};

/// The audience a push token must have, unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "ecs-scaler";

/// Answers remembered at most, per cache (identities, and access decisions).
pub const DEFAULT_CACHE_ENTRIES: usize = 4096;

/// Reviews sent to the API server at once, at most.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;

/// How long review answers are remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewTtls {
    /// A token the API server accepted (its user).
    pub authenticated: Duration,
    /// A token the API server refused (unknown, expired, another audience).
    pub rejected: Duration,
    /// An access RBAC allowed.
    pub allowed: Duration,
    /// An access RBAC denied.
    pub denied: Duration,
}

impl Default for ReviewTtls {
    /// The API server's own defaults for webhook token authentication (2 min) and shorter
    /// ones for the rest, so that a new RoleBinding takes effect within seconds.
    fn default() -> Self {
        Self {
            authenticated: Duration::from_secs(120),
            rejected: Duration::from_secs(10),
            allowed: Duration::from_secs(60),
            denied: Duration::from_secs(10),
        }
    }
}

/// Counts of what the reviews cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReviewStats {
    /// TokenReviews and SubjectAccessReviews sent to the API server.
    pub api_calls: u64,
    /// Answers taken from the caches.
    pub cache_hits: u64,
}

#[derive(Debug, Clone)]
enum Identity {
    Authenticated(Arc<UserInfo>),
    Rejected,
}

/// Authorizes pushes and decision reads with TokenReviews and SubjectAccessReviews.
pub struct ClusterAuthorizer {
    client: kube::Client,
    audience: String,
    ttls: ReviewTtls,
    identities: Mutex<TtlCache<TokenHash, Identity>>,
    decisions: Mutex<TtlCache<(TokenHash, Access), bool>>,
    in_flight: tokio::sync::Semaphore,
    api_calls: AtomicU64,
    cache_hits: AtomicU64,
}

impl ClusterAuthorizer {
    /// Reviews with `client`, for tokens of `audience`, with the default TTLs and sizes.
    pub fn new(client: kube::Client, audience: impl Into<String>) -> Self {
        Self {
            client,
            audience: audience.into(),
            ttls: ReviewTtls::default(),
            identities: Mutex::new(TtlCache::new(DEFAULT_CACHE_ENTRIES)),
            decisions: Mutex::new(TtlCache::new(DEFAULT_CACHE_ENTRIES)),
            in_flight: tokio::sync::Semaphore::new(DEFAULT_MAX_IN_FLIGHT),
            api_calls: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }

    /// With other TTLs.
    #[must_use]
    pub fn with_ttls(mut self, ttls: ReviewTtls) -> Self {
        self.ttls = ttls;
        self
    }

    /// With caches of at most `entries` answers each.
    #[must_use]
    pub fn with_cache_entries(mut self, entries: usize) -> Self {
        self.identities = Mutex::new(TtlCache::new(entries));
        self.decisions = Mutex::new(TtlCache::new(entries));
        self
    }

    /// With at most `reviews` reviews in flight at once (at least one).
    #[must_use]
    pub fn with_max_in_flight(mut self, reviews: usize) -> Self {
        self.in_flight = tokio::sync::Semaphore::new(reviews.max(1));
        self
    }

    /// The audience tokens must have.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// What the reviews cost so far.
    pub fn stats(&self) -> ReviewStats {
        ReviewStats {
            api_calls: self.api_calls.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Whether `token` may do `access`.
    pub async fn authorize(&self, token: &str, access: &Access) -> Result<(), Denial> {
        let hash = TokenHash::of(token);
        let user = match self.identity(token, hash).await? {
            Identity::Authenticated(user) => user,
            Identity::Rejected => return Err(Denial::Unauthenticated(INVALID_TOKEN)),
        };
        if self.allowed(hash, &user, access).await? {
            Ok(())
        } else {
            Err(Denial::Forbidden {
                user: user.username.clone(),
                access: access.clone(),
            })
        }
    }

    async fn identity(&self, token: &str, hash: TokenHash) -> Result<Identity, Denial> {
        let cached = lock(&self.identities).get(&hash, Instant::now());
        if let Some(identity) = cached {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(identity);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: Some(vec![self.audience.clone()]),
            },
            ..TokenReview::default()
        };
        let _turn = self.in_flight.acquire().await;
        self.api_calls.fetch_add(1, Ordering::Relaxed);
        let answer = super::bounded(
            Api::<TokenReview>::all(self.client.clone()).create(&PostParams::default(), &review),
        )
        .await
        .map_err(|error| {
            warn!(%error, "TokenReview failed; tokens not cached are refused (503).");
            Denial::Unavailable(
                "cannot check the token now: the Kubernetes API server did not answer; retry"
                    .to_owned(),
            )
        })?;
        let status = answer.status.unwrap_or_default();
        let audience_ok = status
            .audiences
            .as_ref()
            .is_some_and(|a| a.contains(&self.audience));
        let (identity, ttl) = match (status.authenticated, status.user) {
            (Some(true), Some(user)) if audience_ok => (
                Identity::Authenticated(Arc::new(user)),
                identity_ttl(
                    token,
                    self.ttls.authenticated,
                    chrono::Utc::now().timestamp(),
                ),
            ),
            (Some(true), _) => {
                debug!(audience = %self.audience, "Push token refused: not for this audience.");
                (Identity::Rejected, self.ttls.rejected)
            }
            _ => {
                debug!("Push token refused: not authenticated by the API server.");
                (Identity::Rejected, self.ttls.rejected)
            }
        };
        let now = Instant::now();
        lock(&self.identities).insert(hash, identity.clone(), now + ttl, now);
        Ok(identity)
    }

    async fn allowed(
        &self,
        hash: TokenHash,
        user: &UserInfo,
        access: &Access,
    ) -> Result<bool, Denial> {
        let key = (hash, access.clone());
        let cached = lock(&self.decisions).get(&key, Instant::now());
        if let Some(allowed) = cached {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(allowed);
        }
        let (group, resource) = crate::push_auth::resource();
        let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups.clone(),
                uid: user.uid.clone(),
                extra: user.extra.clone(),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(access.verb.kubernetes_verb().to_owned()),
                    group: Some(group),
                    resource: Some(resource),
                    subresource: access.verb.subresource().map(str::to_owned),
                    namespace: non_empty(&access.namespace),
                    name: non_empty(&access.name),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let _turn = self.in_flight.acquire().await;
        self.api_calls.fetch_add(1, Ordering::Relaxed);
        let answer = super::bounded(
            Api::<SubjectAccessReview>::all(self.client.clone())
                .create(&PostParams::default(), &review),
        )
        .await
        .map_err(|error| {
            warn!(%error, "SubjectAccessReview failed; accesses not cached are refused (503).");
            Denial::Unavailable(format!(
                "cannot check whether this token may {access} now: the Kubernetes API server \
                 did not answer; retry"
            ))
        })?;
        let allowed = answer.status.is_some_and(|s| s.allowed);
        let ttl = if allowed {
            self.ttls.allowed
        } else {
            self.ttls.denied
        };
        let now = Instant::now();
        lock(&self.decisions).insert(key, allowed, now + ttl, now);
        Ok(allowed)
    }
}

/// How long an accepted token's identity may be kept: `ttl`, but not past the token's `exp`
/// claim when it is a JWT with one (`now_unix` and `exp` in seconds since the epoch).
fn identity_ttl(token: &str, ttl: Duration, now_unix: i64) -> Duration {
    match jwt_expiry(token) {
        Some(exp) => {
            let remaining = u64::try_from(exp.saturating_sub(now_unix)).unwrap_or(0);
            ttl.min(Duration::from_secs(remaining))
        }
        None => ttl,
    }
}

/// The `exp` claim of a JWT (not verified: the API server did that), if it has one.
fn jwt_expiry(token: &str) -> Option<i64> {
    use base64::Engine;
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: Option<i64>,
    }
    let payload = token.split('.').nth(1)?.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Claims>(&bytes).ok()?.exp
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
