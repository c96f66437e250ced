//! Helpers shared by the unit tests.

use std::time::Duration;

/// Waits until `check` holds, looking every 10 ms; panics naming `what` after 30 s (of the
/// test's clock, which a paused-time test advances while it waits).
pub(crate) async fn until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..3000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}
