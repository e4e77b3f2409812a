use mlsec_core::Finding;

use super::launch_location;
use crate::launch::Launch;

mlsec_core::declare_rule! {
    /// ## What it does
    /// With `--launch-args`: flags the Prometheus metrics endpoint enabled (the default,
    /// `--allow-metrics=true`) on all interfaces.
    /// ## Why is this bad?
    /// The metrics port (8002) has no authentication and publishes model names, versions,
    /// request and failure counts, latencies and GPU use: reconnaissance for an attacker and
    /// a usage side channel between tenants.
    /// ## Remediation
    /// `--allow-metrics=false`, or bind it privately (`--metrics-address=127.0.0.1`) and
    /// scrape through the cluster network only.
    pub static METRICS_EXPOSED = "TRTN062", "metrics-exposed", Low;
}

pub(crate) fn check(launch: &Launch, out: &mut Vec<Finding>) {
    if !launch.bool("allow-metrics", true) {
        return;
    }
    let address = launch
        .get("metrics-address")
        .and_then(|f| f.value.as_deref());
    if address.is_some_and(|a| a.starts_with("127.") || a == "localhost" || a == "::1") {
        return;
    }
    let line = launch.get("allow-metrics").map(|f| f.line);
    out.push(Finding::new(
        &METRICS_EXPOSED,
        launch_location(launch, "allow-metrics", line),
        "metrics endpoint enabled on all interfaces without authentication",
    ));
}
