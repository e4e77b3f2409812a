use mlsec_core::Finding;

use super::launch_location;
use super::model_control_open::open_protocols;
use crate::launch::Launch;

mlsec_core::declare_rule! {
    /// ## What it does
    /// With `--launch-args`: flags administrative APIs left open to every client on an
    /// enabled protocol: `shared-memory` (register system/CUDA shared-memory regions),
    /// `logging` and `trace` (change log and trace settings), and `model-repository` (index,
    /// load, unload; TRTN060 covers explicit model control).
    /// ## Why is this bad?
    /// Triton has no authentication of its own and none can be set in `config.pbtxt` (the
    /// original tool looked for auth-like parameter keys, which proves nothing). Unless these
    /// APIs are restricted with a key (`--http-restricted-api`,
    /// `--grpc-restricted-protocol`), or the ports sit behind an authenticating proxy or mTLS
    /// (`--grpc-use-ssl-mutual`), any client that reaches the port can map shared memory,
    /// rewrite trace/log settings and enumerate models.
    /// ## Remediation
    /// `--http-restricted-api=shared-memory,logging,trace,model-repository:admin-key=<secret>`
    /// and the same with `--grpc-restricted-protocol`; put authentication in a proxy.
    pub static UNRESTRICTED_API = "TRTN061", "unrestricted-api", Medium;
}

const ADMIN_APIS: &[&str] = &["shared-memory", "logging", "trace", "model-repository"];

pub(crate) fn check(launch: &Launch, out: &mut Vec<Finding>) {
    for api in ADMIN_APIS {
        let open = open_protocols(launch, api);
        if open.is_empty() {
            continue;
        }
        let line = launch
            .get("http-restricted-api")
            .or_else(|| launch.get("grpc-restricted-protocol"))
            .map(|f| f.line);
        out.push(
            Finding::new(
                &UNRESTRICTED_API,
                launch_location(launch, "http-restricted-api", line),
                format!(
                    "the {api} API is open to every client on {}",
                    open.join(" and ")
                ),
            )
            .with_evidence("api", api),
        );
    }
}
