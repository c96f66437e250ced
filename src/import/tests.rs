use super::aws::Timestamp;
use super::scaled_object::NEWEST_KEDA;
use super::translate::{Assignment, KubernetesVersion, Options, TargetGroupMapping, dns_label};

#[test]
fn timestamps_are_read_as_cli_v1_and_v2_print_them() {
    let expected = "2020-12-08T19:13:12.331Z";
    for text in [
        "1607454792.331",
        "2020-12-08T19:13:12.331Z",
        "2020-12-08T19:13:12.331000+00:00",
        "2020-12-08T21:13:12.331+02:00",
        "2020-12-08T19:13:12.331+0000",
        "2020-12-08T19:13:12.331",
    ] {
        let parsed = Timestamp::parse(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            parsed
                .0
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            expected,
            "{text}"
        );
    }
    assert!(Timestamp::parse("yesterday").is_none());
    let from_json: Timestamp = serde_json::from_str("1607454792.331").unwrap();
    assert_eq!(from_json, Timestamp::parse(expected).unwrap());
}

#[test]
fn options_parse() {
    assert_eq!(
        "web=api".parse::<Assignment>().unwrap(),
        Assignment {
            service: Some("web".to_owned()),
            value: "api".to_owned()
        }
    );
    assert_eq!("api".parse::<Assignment>().unwrap().service, None);
    assert!("=api".parse::<Assignment>().is_err());
    assert!("web=".parse::<Assignment>().is_err());
    let version: KubernetesVersion = "v1.33.2".parse().unwrap();
    assert_eq!((version.major, version.minor), (1, 33));
    assert!("1.32".parse::<KubernetesVersion>().unwrap() < version);
    assert!("one".parse::<KubernetesVersion>().is_err());
    assert_eq!(
        Options::default().keda_version,
        NEWEST_KEDA.parse().unwrap(),
        "the default of --keda-version"
    );
    assert!(
        "targetgroup/old/1=app/k8s/2/targetgroup/new/3"
            .parse::<TargetGroupMapping>()
            .is_ok()
    );
    assert!("old=new".parse::<TargetGroupMapping>().is_err());
}

#[test]
fn service_names_become_dns_labels() {
    assert_eq!(dns_label("Orders_API"), "orders-api");
    assert_eq!(dns_label("--web--app--"), "web-app");
    assert_eq!(dns_label("___"), "service");
    assert_eq!(dns_label(&"x".repeat(80)).len(), 63);
}
