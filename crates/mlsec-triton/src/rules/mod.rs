//! The checks, one rule per file. A model check reads one validated config ([`Cx`]); the
//! repository checks read what every model contributed; the launch checks read the
//! `tritonserver` command line.

use std::path::Path;

use mlsec_core::{Finding, Location, Pointer, Rule};

use crate::ModelSummary;
use crate::launch::Launch;
use crate::targets::ModelFile;
use crate::textformat::Pos;
use crate::validate::{Msg, Validated};

mod all_versions_served;
mod batch_strategy_library;
mod batching_disabled;
mod checksum_entry_malformed;
mod checksum_incomplete;
mod checksum_md5_only;
mod config_rejected;
mod decoupled_unbounded;
mod duplicate_map_key;
mod dynamic_batching_not_tuned;
mod ensemble_graph_invalid;
mod excessive_queue_delay;
mod execution_env_path;
mod file_reference_escape;
mod instance_group_implicit;
mod large_warmup;
mod legacy_custom_platform;
mod many_instances;
mod metrics_exposed;
mod model_control_open;
mod model_name_mismatch;
mod no_integrity_agent;
mod no_queue_timeout;
mod op_library;
mod python_backend_code;
mod rate_limiter_inactive;
mod response_cache_enabled;
mod runtime_path;
mod sequence_state_memory;
mod shared_library_in_model_dir;
mod template_placeholder;
mod unbounded_dims;
mod unbounded_queue;
mod unrestricted_api;
mod unsafe_model_name;

/// One model check.
pub(crate) type Check = fn(&Cx, &mut Vec<Finding>);

/// Every per-model check with its rule.
pub(crate) static MODEL_CHECKS: &[(&Rule, Check)] = &[
    (
        &template_placeholder::TEMPLATE_PLACEHOLDER,
        template_placeholder::check,
    ),
    (
        &duplicate_map_key::DUPLICATE_MAP_KEY,
        duplicate_map_key::check,
    ),
    (&config_rejected::CONFIG_REJECTED, config_rejected::check),
    (
        &ensemble_graph_invalid::ENSEMBLE_GRAPH_INVALID,
        ensemble_graph_invalid::check,
    ),
    (
        &batching_disabled::BATCHING_DISABLED,
        batching_disabled::check,
    ),
    (
        &instance_group_implicit::INSTANCE_GROUP_IMPLICIT,
        instance_group_implicit::check,
    ),
    (
        &dynamic_batching_not_tuned::DYNAMIC_BATCHING_NOT_TUNED,
        dynamic_batching_not_tuned::check,
    ),
    (
        &rate_limiter_inactive::RATE_LIMITER_INACTIVE,
        rate_limiter_inactive::check,
    ),
    (&unbounded_dims::UNBOUNDED_DIMS, unbounded_dims::check),
    (
        &python_backend_code::PYTHON_BACKEND_CODE,
        python_backend_code::check,
    ),
    (&runtime_path::RUNTIME_PATH, runtime_path::check),
    (
        &execution_env_path::EXECUTION_ENV_PATH,
        execution_env_path::check,
    ),
    (
        &batch_strategy_library::BATCH_STRATEGY_LIBRARY,
        batch_strategy_library::check,
    ),
    (&op_library::OP_LIBRARY, op_library::check),
    (
        &shared_library_in_model_dir::SHARED_LIBRARY_IN_MODEL_DIR,
        shared_library_in_model_dir::check,
    ),
    (
        &file_reference_escape::FILE_REFERENCE_ESCAPE,
        file_reference_escape::check,
    ),
    (
        &model_name_mismatch::MODEL_NAME_MISMATCH,
        model_name_mismatch::check,
    ),
    (
        &unsafe_model_name::UNSAFE_MODEL_NAME,
        unsafe_model_name::check,
    ),
    (
        &legacy_custom_platform::LEGACY_CUSTOM_PLATFORM,
        legacy_custom_platform::check,
    ),
    (
        &no_integrity_agent::NO_INTEGRITY_AGENT,
        no_integrity_agent::check,
    ),
    (
        &checksum_md5_only::CHECKSUM_MD5_ONLY,
        checksum_md5_only::check,
    ),
    (
        &checksum_entry_malformed::CHECKSUM_ENTRY_MALFORMED,
        checksum_entry_malformed::check,
    ),
    (
        &checksum_incomplete::CHECKSUM_INCOMPLETE,
        checksum_incomplete::check,
    ),
    (&unbounded_queue::UNBOUNDED_QUEUE, unbounded_queue::check),
    (&no_queue_timeout::NO_QUEUE_TIMEOUT, no_queue_timeout::check),
    (
        &excessive_queue_delay::EXCESSIVE_QUEUE_DELAY,
        excessive_queue_delay::check,
    ),
    (
        &decoupled_unbounded::DECOUPLED_UNBOUNDED,
        decoupled_unbounded::check,
    ),
    (
        &sequence_state_memory::SEQUENCE_STATE_MEMORY,
        sequence_state_memory::check,
    ),
    (&large_warmup::LARGE_WARMUP, large_warmup::check),
    (&many_instances::MANY_INSTANCES, many_instances::check),
    (
        &all_versions_served::ALL_VERSIONS_SERVED,
        all_versions_served::check,
    ),
    (
        &response_cache_enabled::RESPONSE_CACHE_ENABLED,
        response_cache_enabled::check,
    ),
];

/// The rules that only fire with `--launch-args`.
pub(crate) static LAUNCH_RULES: &[&Rule] = &[
    &model_control_open::MODEL_CONTROL_OPEN,
    &unrestricted_api::UNRESTRICTED_API,
    &metrics_exposed::METRICS_EXPOSED,
];

/// Every rule this subcommand can report, by id.
pub static RULES: &[&Rule] = &[
    &template_placeholder::TEMPLATE_PLACEHOLDER,
    &duplicate_map_key::DUPLICATE_MAP_KEY,
    &config_rejected::CONFIG_REJECTED,
    &ensemble_graph_invalid::ENSEMBLE_GRAPH_INVALID,
    &batching_disabled::BATCHING_DISABLED,
    &instance_group_implicit::INSTANCE_GROUP_IMPLICIT,
    &dynamic_batching_not_tuned::DYNAMIC_BATCHING_NOT_TUNED,
    &rate_limiter_inactive::RATE_LIMITER_INACTIVE,
    &unbounded_dims::UNBOUNDED_DIMS,
    &python_backend_code::PYTHON_BACKEND_CODE,
    &runtime_path::RUNTIME_PATH,
    &execution_env_path::EXECUTION_ENV_PATH,
    &batch_strategy_library::BATCH_STRATEGY_LIBRARY,
    &op_library::OP_LIBRARY,
    &shared_library_in_model_dir::SHARED_LIBRARY_IN_MODEL_DIR,
    &file_reference_escape::FILE_REFERENCE_ESCAPE,
    &model_name_mismatch::MODEL_NAME_MISMATCH,
    &unsafe_model_name::UNSAFE_MODEL_NAME,
    &legacy_custom_platform::LEGACY_CUSTOM_PLATFORM,
    &no_integrity_agent::NO_INTEGRITY_AGENT,
    &checksum_md5_only::CHECKSUM_MD5_ONLY,
    &checksum_entry_malformed::CHECKSUM_ENTRY_MALFORMED,
    &checksum_incomplete::CHECKSUM_INCOMPLETE,
    &unbounded_queue::UNBOUNDED_QUEUE,
    &no_queue_timeout::NO_QUEUE_TIMEOUT,
    &excessive_queue_delay::EXCESSIVE_QUEUE_DELAY,
    &decoupled_unbounded::DECOUPLED_UNBOUNDED,
    &sequence_state_memory::SEQUENCE_STATE_MEMORY,
    &large_warmup::LARGE_WARMUP,
    &many_instances::MANY_INSTANCES,
    &all_versions_served::ALL_VERSIONS_SERVED,
    &response_cache_enabled::RESPONSE_CACHE_ENABLED,
    &model_control_open::MODEL_CONTROL_OPEN,
    &unrestricted_api::UNRESTRICTED_API,
    &metrics_exposed::METRICS_EXPOSED,
];

/// What a model check sees.
pub(crate) struct Cx<'a> {
    /// The config's path as shown in findings.
    pub file: &'a str,
    pub config: &'a Msg,
    pub validated: &'a Validated,
    /// `<model>/` when the config is `<model>/config.pbtxt`.
    pub model_dir: Option<&'a Path>,
    /// The files of the model directory (empty when scanning a lone file).
    pub files: &'a [ModelFile],
}

impl Cx<'_> {
    /// A location at a position, pointing at a field path.
    pub fn at(&self, pos: Pos, path: &str) -> Location {
        Location::file(self.file)
            .with_pointer(Pointer::Field(path.to_owned()))
            .at_line(pos.line, pos.column)
    }

    /// Where a finding about a missing field goes: the `name` field, else the top of the file.
    pub fn top(&self, pointer: &str) -> Location {
        let pos = self
            .config
            .get("name")
            .map_or(Pos { line: 1, column: 1 }, |f| f.pos);
        self.at(pos, pointer)
    }

    /// A location for a file of the model directory.
    pub fn member(&self, rel: &str) -> Location {
        let file = match self.file.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{rel}"),
            None => rel.to_owned(),
        };
        Location::file(file)
    }

    /// The directory name (the model's name in the repository), when known.
    pub fn dir_name(&self) -> Option<String> {
        let dir = self.model_dir?;
        let canon = dir.canonicalize().ok()?;
        Some(canon.file_name()?.to_string_lossy().into_owned())
    }

    /// The config's `name`, else the directory's.
    pub fn model_name(&self) -> String {
        match self.config.str("name") {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => self.dir_name().unwrap_or_else(|| "-".to_owned()),
        }
    }

    pub fn backend(&self) -> &str {
        self.config.str("backend").unwrap_or("")
    }

    pub fn platform(&self) -> &str {
        self.config.str("platform").unwrap_or("")
    }

    /// `backend` or `platform`, for people.
    pub fn backend_label(&self) -> String {
        match (self.backend(), self.platform()) {
            ("", "") => "-".to_owned(),
            ("", p) => p.to_owned(),
            (b, _) => b.to_owned(),
        }
    }

    /// Whether Triton runs Python code from the repository for this model.
    pub fn python_code(&self) -> Option<String> {
        let backend = self.backend();
        let runtime = self.config.str("runtime").unwrap_or("");
        if backend == "python" {
            Some("backend \"python\"".to_owned())
        } else if runtime.ends_with(".py") {
            Some(format!("runtime {runtime:?}"))
        } else if PYTHON_BASED_BACKENDS.contains(&backend) {
            Some(format!("backend {backend:?} (a Python-based backend)"))
        } else {
            None
        }
    }

    /// A parameter's string value and its field.
    pub fn parameter(&self, key: &str) -> Option<(String, &crate::validate::Field)> {
        self.config.map_string("parameters", key)
    }
}

/// Backends implemented in Python on top of the python backend: their `model.py` or engine
/// code runs in the server's stub processes.
pub(crate) const PYTHON_BASED_BACKENDS: &[&str] = &["vllm", "pytorch_python", "python_based"];

/// Characters a shell interprets.
pub(crate) const SHELL_META: &[char] = &[
    '$', '`', ';', '|', '&', '<', '>', '(', ')', '\'', '"', '\\', '*', '?', '!', '{', '}', '\n',
    '\r', '~',
];

/// Why a path given in a config may leave the model directory, if it may.
pub(crate) fn escape_reason(path: &str) -> Option<&'static str> {
    let p = path.trim();
    if p.contains("://") {
        Some("a remote URL")
    } else if p.starts_with('/') || p.starts_with('\\') || p.get(1..3) == Some(":\\") {
        Some("an absolute path")
    } else if p.starts_with('~') {
        Some("a home-directory path")
    } else if p.split(['/', '\\']).any(|c| c == "..") {
        Some("a `..` component")
    } else {
        None
    }
}

/// The shell metacharacters in a name, if any.
pub(crate) fn shell_chars(text: &str) -> Option<String> {
    let found: String = text
        .chars()
        .filter(|c| SHELL_META.contains(c) || c.is_control() || *c == ' ')
        .collect();
    (!found.is_empty()).then(|| format!("{found:?}"))
}

/// Checks that need every model of the run (ensembles over decoupled steps).
pub(crate) fn check_repository(models: &[ModelSummary], out: &mut Vec<Finding>) {
    decoupled_unbounded::check_ensembles(models, out);
}

/// Checks of the `tritonserver` command line.
pub(crate) fn check_launch(launch: &Launch, models: &[ModelSummary], out: &mut Vec<Finding>) {
    model_control_open::check(launch, out);
    unrestricted_api::check(launch, out);
    metrics_exposed::check(launch, out);
    rate_limiter_inactive::check_launch(launch, models, out);
}

/// A location in the launch command: the flag's line in a launch file.
pub(crate) fn launch_location(launch: &Launch, flag: &str, line: Option<u32>) -> Location {
    let loc =
        Location::file(launch.source.clone()).with_pointer(Pointer::Field(format!("--{flag}")));
    match (launch.from_file, line) {
        (true, Some(line)) => loc.at_line(line, 1),
        _ => loc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_agree() {
        assert_eq!(RULES.len(), MODEL_CHECKS.len() + LAUNCH_RULES.len());
        for rule in RULES {
            assert!(
                rule.convention_errors().is_empty(),
                "{:?}",
                rule.convention_errors()
            );
            assert!(rule.id.starts_with("TRTN"));
        }
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_reason("/opt/env.tar.gz"), Some("an absolute path"));
        assert_eq!(
            escape_reason("../other/model.onnx"),
            Some("a `..` component")
        );
        assert_eq!(
            escape_reason("s3://bucket/env.tar.gz"),
            Some("a remote URL")
        );
        assert_eq!(escape_reason("1/model.onnx"), None);
        assert!(shell_chars("model;rm -rf").is_some());
        assert!(shell_chars("resnet50_v1-int8.onnx").is_none());
    }
}
