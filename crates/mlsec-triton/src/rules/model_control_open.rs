use mlsec_core::{Finding, Severity};

use super::launch_location;
use crate::launch::Launch;

mlsec_core::declare_rule! {
    /// ## What it does
    /// With `--launch-args`: flags `--model-control-mode=explicit` when the model-repository
    /// API is not restricted on every enabled protocol (`--http-restricted-api` /
    /// `--grpc-restricted-protocol` with `model-repository`), and notes (low)
    /// `--model-control-mode=poll`.
    /// ## Why is this bad?
    /// In explicit mode any client can load and unload models, and the load request may carry
    /// the model files themselves (`file:` parameters): a client uploads a python-backend
    /// `model.py` and Triton runs it. That is remote code execution for anyone who can reach
    /// the port. Authentication is not a `config.pbtxt` field: Triton has none of its own, so
    /// it must be enforced by restricted-API keys, mTLS or a proxy in front of the server. In
    /// poll mode, whoever can write the repository deploys without a restart.
    /// ## Remediation
    /// Use `--model-control-mode=none`, or restrict the API:
    /// `--http-restricted-api=model-repository:admin-key=<secret>` and
    /// `--grpc-restricted-protocol=model-repository:admin-key=<secret>`, and keep the ports
    /// private.
    pub static MODEL_CONTROL_OPEN = "TRTN060", "model-control-open", Critical;
}

pub(crate) fn check(launch: &Launch, out: &mut Vec<Finding>) {
    let Some(flag) = launch.get("model-control-mode") else {
        return;
    };
    let mode = flag.value.as_deref().unwrap_or("");
    let loc = launch_location(launch, "model-control-mode", Some(flag.line));
    match mode {
        "explicit" => {
            let open = open_protocols(launch, "model-repository");
            if !open.is_empty() {
                out.push(
                    Finding::new(
                        &MODEL_CONTROL_OPEN,
                        loc,
                        format!(
                            "explicit model control with an unrestricted model-repository API on {}: any client can upload and load a model (code execution)",
                            open.join(" and ")
                        ),
                    )
                    .with_evidence("mode", mode),
                );
            }
        }
        "poll" => out.push(
            Finding::new(
                &MODEL_CONTROL_OPEN,
                loc,
                "poll model control: every write to the repository is deployed without a restart",
            )
            .with_severity(Severity::Low)
            .with_evidence("mode", mode),
        ),
        _ => {}
    }
}

/// The enabled protocols on which `api` is not restricted.
pub(crate) fn open_protocols(launch: &Launch, api: &str) -> Vec<&'static str> {
    let mut open = Vec::new();
    if launch.bool("allow-http", true)
        && !launch
            .restricted("http-restricted-api")
            .iter()
            .any(|a| a == api)
    {
        open.push("HTTP");
    }
    if launch.bool("allow-grpc", true)
        && !launch
            .restricted("grpc-restricted-protocol")
            .iter()
            .any(|a| a == api)
    {
        open.push("gRPC");
    }
    open
}
