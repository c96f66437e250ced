//! Bearer tokens, hashes, permissions; and a log capture shared by the tests that check that no
//! credential reaches a log.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;

use super::*;

/// Everything logged (every level) while the returned guard lives, on this thread: the tests
/// run on tokio's current-thread runtime, so spawned tasks log here too.
pub(crate) fn capture_logs() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    (logs.clone(), tracing::subscriber::set_default(subscriber))
}

/// The text of captured logs.
#[derive(Clone, Default)]
pub(crate) struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Asserts that neither `token` nor its hex SHA-256 was logged.
    pub(crate) fn assert_no_secret(&self, token: &str) {
        let text = self.text();
        assert!(!text.is_empty(), "something was logged");
        assert!(!text.contains(token), "the token was logged: {text}");
        assert!(
            !text.contains(&hex(token)),
            "the token's hash was logged: {text}"
        );
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The hex SHA-256 of `token`, as `printf %s "$TOKEN" | sha256sum` prints it.
pub(crate) fn hex(token: &str) -> String {
    TokenHash::of(token)
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn headers(authorization: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    }
    headers
}

#[test]
fn token_hash_is_sha256_as_sha256sum_prints_it() {
    // printf %s password | sha256sum
    let expected = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
    assert_eq!(hex("password"), expected);
    assert_eq!(
        TokenHash::from_hex(expected),
        Some(TokenHash::of("password"))
    );
    assert_eq!(
        TokenHash::from_hex(&expected.to_uppercase()),
        Some(TokenHash::of("password"))
    );
    assert_eq!(format!("{:?}", TokenHash::of("password")), "TokenHash(..)");
}

#[test]
fn token_hash_rejects_what_is_not_64_hex_digits() {
    for text in [
        "",
        "5e88",
        &"g".repeat(64),
        &"a".repeat(63),
        &"a".repeat(65),
        &"é".repeat(32),
    ] {
        assert_eq!(TokenHash::from_hex(text), None, "{text}");
    }
}

#[test]
fn bearer_token_is_read_from_the_authorization_header() {
    assert_eq!(bearer_token(&headers(None)), Ok(None));
    assert_eq!(bearer_token(&headers(Some("Bearer abc"))), Ok(Some("abc")));
    assert_eq!(
        bearer_token(&headers(Some("bearer  abc "))),
        Ok(Some("abc"))
    );
    for bad in ["Basic dXNlcjpwdw==", "Bearer", "Bearer ", "abc"] {
        let denial = bearer_token(&headers(Some(bad))).unwrap_err();
        assert!(matches!(denial, Denial::Unauthenticated(_)), "{bad}");
        assert!(!denial.to_string().contains("dXNlcjpwdw"), "{denial}");
    }
}

#[test]
fn a_denial_names_the_permission_that_is_missing() {
    let forbidden = |access, user: Option<&str>| {
        Denial::Forbidden {
            user: user.map(str::to_owned),
            access,
        }
        .to_string()
    };
    assert_eq!(
        forbidden(Access::push("shop", "web"), None),
        "forbidden: this token may not create scalingpolicysets/metrics shop/web"
    );
    assert_eq!(
        forbidden(
            Access::read("shop", "web"),
            Some("system:serviceaccount:shop:web")
        ),
        "forbidden: system:serviceaccount:shop:web may not get scalingpolicysets shop/web"
    );
    assert_eq!(
        forbidden(Access::list(), None),
        "forbidden: this token may not list scalingpolicysets in all namespaces"
    );
}

#[test]
fn the_resource_is_the_crds() {
    assert_eq!(
        resource(),
        ("ecs-scaler.dev".to_owned(), "scalingpolicysets".to_owned())
    );
}

#[tokio::test]
async fn open_allows_everything_and_tokens_guard_only_pushes() {
    assert_eq!(
        PushAuth::Open
            .authorize(&headers(None), &Access::push("shop", "web"))
            .await,
        Ok(())
    );
    let tokens = token_file::Tokens::parse(&format!(
        "tokens:\n- sha256: {}\n  policySets: [shop/web]\n",
        hex("s3cret")
    ))
    .unwrap();
    let auth = PushAuth::Tokens(token_file::TokenFile::fixed(tokens));
    assert_eq!(
        auth.authorize(&headers(None), &Access::read("shop", "web"))
            .await,
        Ok(())
    );
    assert_eq!(
        auth.authorize(&headers(None), &Access::push("shop", "web"))
            .await,
        Err(Denial::Unauthenticated(MISSING_TOKEN))
    );
    assert_eq!(
        auth.authorize(
            &headers(Some("Bearer s3cret")),
            &Access::push("shop", "web")
        )
        .await,
        Ok(())
    );
}
