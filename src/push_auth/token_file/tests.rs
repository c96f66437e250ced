//! The token file: hashes, patterns, every problem at once, reload keeping the last good file.

use std::time::Duration;

use super::*;
use crate::push_auth::tests::{capture_logs, hex};

fn file(entries: &[(&str, &[&str])]) -> String {
    let mut text = String::from("tokens:\n");
    for (token, sets) in entries {
        text.push_str(&format!(
            "- sha256: {}\n  policySets: [{}]\n",
            hex(token),
            sets.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    text
}

fn allowed(tokens: &Tokens, token: &str, namespace: &str, name: &str) -> Result<(), Denial> {
    tokens.authorize(token, &Access::push(namespace, name))
}

#[test]
fn a_token_may_push_to_the_policy_sets_it_lists_and_no_other() {
    let tokens = Tokens::parse(&file(&[
        ("web-token", &["shop/web", "default/*"]),
        ("admin-token", &["*/*"]),
    ]))
    .unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(allowed(&tokens, "web-token", "shop", "web"), Ok(()));
    assert_eq!(allowed(&tokens, "web-token", "default", "checkout"), Ok(()));
    assert_eq!(allowed(&tokens, "web-token", "default", "web-app"), Ok(()));
    let denial = allowed(&tokens, "web-token", "shop", "orders-api").unwrap_err();
    assert_eq!(
        denial.to_string(),
        "forbidden: this token may not create scalingpolicysets/metrics shop/orders-api"
    );
    assert!(allowed(&tokens, "web-token", "shopx", "web").is_err());
    assert_eq!(allowed(&tokens, "admin-token", "any", "thing"), Ok(()));
    assert_eq!(
        allowed(&tokens, "other-token", "shop", "web"),
        Err(Denial::Unauthenticated(INVALID_TOKEN)),
        "an unknown token is not authenticated"
    );
    assert!(
        allowed(&tokens, "web-token ", "shop", "web").is_err(),
        "the token is compared whole"
    );
}

#[test]
fn the_hash_may_be_upper_case_and_json_is_accepted() {
    let text = format!(
        r#"{{"tokens": [{{"sha256": "{}", "policySets": ["shop/web"]}}]}}"#,
        hex("t").to_uppercase()
    );
    let tokens = Tokens::parse(&text).unwrap();
    assert_eq!(allowed(&tokens, "t", "shop", "web"), Ok(()));
}

#[test]
fn every_problem_is_reported_at_once_without_the_hashes() {
    let good = hex("a");
    let text = format!(
        "tokens:\n\
         - sha256: {good}\n  policySets: [shop/web]\n\
         - sha256: 5e8848\n  policySets: [shop/web]\n\
         - sha256: {good}\n  policySets: [shop/api]\n\
         - sha256: {other}\n  policySets: []\n\
         - sha256: {third}\n  policySets: [shop, '*/web', 'shop/we*', 'a/b/c', '/x']\n",
        other = hex("b"),
        third = hex("c"),
    );
    let problems = Tokens::parse(&text).unwrap_err();
    for expected in [
        "tokens[1].sha256: expected 64 hexadecimal digits",
        "tokens[2].sha256: the same token as tokens[0]",
        "tokens[3].policySets: empty",
        "tokens[4].policySets[0]: `shop` is not",
        "tokens[4].policySets[1]: `*/web` is not",
        "tokens[4].policySets[2]: `shop/we*` is not",
        "tokens[4].policySets[3]: `a/b/c` is not",
        "tokens[4].policySets[4]: `/x` is not",
    ] {
        assert!(problems.contains(expected), "{expected} in {problems}");
    }
    for secret in [&good, "5e8848", &hex("b"), &hex("c")] {
        assert!(!problems.contains(secret), "{problems}");
    }
}

#[test]
fn a_misspelt_field_or_bad_yaml_is_named_without_showing_the_file() {
    let text = format!("tokens:\n- sha256: {}\n  policySet: [shop/web]\n", hex("a"));
    let problem = Tokens::parse(&text).unwrap_err();
    assert!(problem.contains("policySet"), "{problem}");
    assert!(!problem.contains(&hex("a")), "{problem}");
    let text = format!("tokens:\n- sha256: {}\n  policySets: [shop/web\n", hex("a"));
    let problem = Tokens::parse(&text).unwrap_err();
    assert!(problem.starts_with("invalid token file"), "{problem}");
    assert!(!problem.contains(&hex("a")), "{problem}");
    assert!(Tokens::parse("").is_err());
}

#[test]
fn reload_takes_a_changed_file_and_keeps_the_last_good_one_otherwise() {
    let (logs, _guard) = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.yaml");
    std::fs::write(&path, file(&[("one", &["shop/web"])])).unwrap();
    let tokens = TokenFile::fixed(Tokens::load(&path).unwrap());
    let mut last = std::fs::read(&path).map_err(|e| e.to_string());
    let may = |tokens: &TokenFile, token: &str| {
        tokens
            .authorize(token, &Access::push("shop", "web"))
            .is_ok()
    };
    assert!(may(&tokens, "one"));

    std::fs::write(&path, file(&[("two", &["shop/web"])])).unwrap();
    tokens.reload(&path, &mut last);
    assert!(
        !may(&tokens, "one") && may(&tokens, "two"),
        "the new file is in force"
    );

    std::fs::write(&path, "tokens: [{sha256: nope, policySets: []}]\n").unwrap();
    tokens.reload(&path, &mut last);
    assert!(may(&tokens, "two"), "a bad file keeps the last good one");
    assert!(logs.text().contains("tokens[0].sha256"), "{}", logs.text());

    std::fs::remove_file(&path).unwrap();
    tokens.reload(&path, &mut last);
    assert!(
        may(&tokens, "two"),
        "a missing file keeps the last good one"
    );
    assert!(logs.text().contains("not readable"), "{}", logs.text());

    std::fs::write(&path, file(&[("three", &["shop/*"])])).unwrap();
    tokens.reload(&path, &mut last);
    assert!(may(&tokens, "three") && !may(&tokens, "two"));
    logs.assert_no_secret("two");
    logs.assert_no_secret("three");
}

#[tokio::test(start_paused = true)]
async fn the_file_is_polled_and_a_bad_one_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.yaml");
    std::fs::write(&path, "tokens: [{sha256: x, policySets: [a/b]}]\n").unwrap();
    let error = TokenFile::load_and_watch(path.clone(), Duration::from_secs(5)).unwrap_err();
    assert!(error.contains("tokens[0].sha256"), "{error}");
    let error =
        TokenFile::load_and_watch(dir.path().join("absent"), Duration::from_secs(5)).unwrap_err();
    assert!(error.contains("cannot read"), "{error}");

    std::fs::write(&path, file(&[("one", &["shop/web"])])).unwrap();
    let tokens = TokenFile::load_and_watch(path.clone(), Duration::from_secs(5)).unwrap();
    std::fs::write(&path, file(&[("two", &["shop/web"])])).unwrap();
    let push = Access::push("shop", "web");
    assert!(tokens.authorize("one", &push).is_ok(), "not before a poll");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        tokens.authorize("two", &push).is_ok(),
        "seen by the next poll"
    );
    assert!(tokens.authorize("one", &push).is_err());
}
