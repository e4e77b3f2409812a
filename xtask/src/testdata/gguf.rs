//! Fixtures for `mlsec checkpoint` on GGUF (llama.cpp) files, written byte by byte with
//! `mlsec_formats::gguf::write`: a small clean model, the same model carrying the chat
//! templates of real models (benign) and Jinja template-injection payloads (the
//! CVE-2024-34359 class; they only ever run `echo`), and broken or lying files.
//! `scripts/gguf/check_fixtures.py` reads them back with the `gguf` Python package and renders
//! the templates with jinja2 (recorded in `scripts/gguf/README.md`).

use std::path::Path;

use anyhow::Result;
use mlsec_formats::gguf::{WriteTensor, WriteValue, write};
use mlsec_testkit::f32_bytes;

use super::checkpoint::weights;

/// Real models' chat templates, verbatim from their `tokenizer_config.json` (as copied into
/// llama.cpp's `models/templates/`; see `chat_templates/SOURCES.md`).
const TEMPLATES: &[(&str, &str)] = &[
    ("chatml", include_str!("chat_templates/chatml.jinja")),
    (
        "llama-3.1-8b-instruct",
        include_str!("chat_templates/llama-3.1-8b-instruct.jinja"),
    ),
    (
        "mistral-nemo-instruct-2407",
        include_str!("chat_templates/mistral-nemo-instruct-2407.jinja"),
    ),
    (
        "qwen2.5-7b-instruct",
        include_str!("chat_templates/qwen2.5-7b-instruct.jinja"),
    ),
    (
        "gemma-2-2b-it",
        include_str!("chat_templates/gemma-2-2b-it.jinja"),
    ),
    (
        "phi-3.5-mini-instruct",
        include_str!("chat_templates/phi-3.5-mini-instruct.jinja"),
    ),
];

/// Template-injection payloads. Each ends in a harmless `echo`.
const PAYLOADS: &[(&str, &str, &str)] = &[
    // The published CVE-2024-34359 proof of concept, with `echo` for its `touch`.
    (
        "chat-template-cve-2024-34359",
        "tokenizer.chat_template",
        "{% for x in ().__class__.__base__.__subclasses__() %}{% if \"warning\" in x.__name__ %}{{x()._module.__builtins__['__import__']('os').popen(\"echo mlsec-gguf-marker\").read()}}{%endif%}{% endfor %}",
    ),
    // Jinja's globals: `cycler.__init__.__globals__` holds the `os` module.
    (
        "chat-template-cycler-globals",
        "tokenizer.chat_template",
        "{{ bos_token }}{% for message in messages %}{{ message['content'] }}{% endfor %}{{ cycler.__init__.__globals__.os.popen('echo mlsec-gguf-marker').read() }}",
    ),
    // Dunder names built from pieces and escapes, behind the `attr` filter, in a named template.
    (
        "chat-template-obfuscated-named",
        "tokenizer.chat_template.tool_use",
        "{% set c = '_' * 2 ~ 'cla' ~ 'ss' ~ '_' * 2 %}{% set g = '\\x5f\\x5fglobals\\x5f\\x5f' %}{% for message in messages %}{{ message['content'] }}{% endfor %}{{ (lipsum|attr(g))['os'].popen('echo mlsec-gguf-marker').read() }}",
    ),
];

fn write_file(out: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let path = out.join(rel);
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    std::fs::write(path, bytes)?;
    Ok(())
}

fn bf16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
        .collect()
}

/// A Q8_0 block: an f16 scale then 32 signed bytes.
fn q8_0_block(seed: u64) -> Vec<u8> {
    let mut b = vec![0x00, 0x20]; // f16 0.0078125
    b.extend(weights(32, seed, 40.0).iter().map(|x| (*x as i8) as u8));
    b
}

/// The tiny llama-shaped model: its metadata (with `template` as its chat template) and
/// tensors, written as GGUF.
fn tiny_model(templates: &[(&str, &str)]) -> Vec<u8> {
    let embd = f32_bytes(&weights(16 * 8, 11, 0.1));
    let norm = f32_bytes(
        &weights(16, 12, 0.1)
            .iter()
            .map(|x| 1.0 + x)
            .collect::<Vec<_>>(),
    );
    let out_w = bf16_bytes(&weights(16 * 8, 13, 0.1));
    let q = [q8_0_block(14), q8_0_block(15)].concat();
    let tokens = ["<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"];
    let scores = [0.0f32, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0];
    let types = [2i32, 3, 3, 1, 1, 1, 1, 1];
    let mut meta: Vec<(&str, WriteValue<'_>)> = vec![
        ("general.architecture", WriteValue::Str("llama")),
        ("general.name", WriteValue::Str("mlsec tiny llama")),
        ("general.alignment", WriteValue::U32(32)),
        ("general.file_type", WriteValue::U32(1)),
        ("general.quantization_version", WriteValue::U32(2)),
        ("llama.context_length", WriteValue::U32(64)),
        ("llama.embedding_length", WriteValue::U32(16)),
        ("llama.block_count", WriteValue::U32(1)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            WriteValue::F32(1e-5),
        ),
        ("tokenizer.ggml.model", WriteValue::Str("llama")),
        ("tokenizer.ggml.tokens", WriteValue::Strings(&tokens)),
        ("tokenizer.ggml.scores", WriteValue::F32s(&scores)),
        ("tokenizer.ggml.token_type", WriteValue::I32s(&types)),
        ("tokenizer.ggml.bos_token_id", WriteValue::U32(1)),
        ("tokenizer.ggml.eos_token_id", WriteValue::U32(2)),
        ("tokenizer.ggml.add_bos_token", WriteValue::Bool(true)),
    ];
    for (key, text) in templates {
        meta.push((key, WriteValue::Str(text)));
    }
    write(
        &meta,
        &[
            WriteTensor {
                name: "token_embd.weight",
                dims: &[16, 8],
                ggml_type: 0,
                data: &embd,
                offset: None,
            },
            WriteTensor {
                name: "blk.0.attn_norm.weight",
                dims: &[16],
                ggml_type: 0,
                data: &norm,
                offset: None,
            },
            WriteTensor {
                name: "output.weight",
                dims: &[16, 8],
                ggml_type: 30,
                data: &out_w,
                offset: None,
            },
            WriteTensor {
                name: "blk.0.ffn_down.weight",
                dims: &[32, 2],
                ggml_type: 8,
                data: &q,
                offset: None,
            },
        ],
        32,
    )
}

pub fn generate(out: &Path) -> Result<()> {
    let chatml = TEMPLATES[0].1;
    let clean = tiny_model(&[("tokenizer.chat_template", chatml)]);
    write_file(out, "clean/tiny-llama.gguf", &clean)?;
    for (name, text) in TEMPLATES {
        write_file(
            out,
            &format!("templates/{name}.gguf"),
            &tiny_model(&[("tokenizer.chat_template", text)]),
        )?;
    }
    for (name, key, text) in PAYLOADS {
        // A named template rides beside a benign default one.
        let mut templates = vec![(*key, *text)];
        if *key != "tokenizer.chat_template" {
            templates.insert(0, ("tokenizer.chat_template", chatml));
        }
        write_file(
            out,
            &format!("malicious/{name}.gguf"),
            &tiny_model(&templates),
        )?;
    }

    // ---- broken and lying files ----
    write_file(out, "broken/truncated.gguf", &clean[..clean.len() * 2 / 5])?;
    let mut lying = clean.clone();
    // metadata count: 2^40 pairs in a file of a few KB.
    lying[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    write_file(out, "broken/lying-metadata-count.gguf", &lying)?;
    let mut lying = clean.clone();
    lying[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    write_file(out, "broken/lying-tensor-count.gguf", &lying)?;
    // The key of the first metadata pair claims 2^50 bytes.
    let mut lying = clean.clone();
    lying[24..32].copy_from_slice(&(1u64 << 50).to_le_bytes());
    write_file(out, "broken/lying-string-length.gguf", &lying)?;

    // ---- structurally anomalous, readable files: findings ----
    let w = f32_bytes(&weights(64, 21, 0.1));
    write_file(
        out,
        "anomalies/tensor-out-of-bounds.gguf",
        &write(
            &[("general.architecture", WriteValue::Str("llama"))],
            &[
                WriteTensor {
                    name: "a.weight",
                    dims: &[64],
                    ggml_type: 0,
                    data: &w,
                    offset: None,
                },
                // 1 MiB past the data section of a file of a few hundred bytes.
                WriteTensor {
                    name: "b.weight",
                    dims: &[64],
                    ggml_type: 0,
                    data: &[],
                    offset: Some(1 << 20),
                },
            ],
            32,
        ),
    )?;
    write_file(
        out,
        "anomalies/gguf-header-anomaly.gguf",
        &write(
            &[
                ("general.architecture", WriteValue::Str("llama")),
                ("general.architecture", WriteValue::Str("gpt2")),
            ],
            &[
                WriteTensor {
                    name: "a.weight",
                    dims: &[64],
                    ggml_type: 0,
                    data: &w,
                    offset: None,
                },
                // Aliases the first tensor's bytes.
                WriteTensor {
                    name: "b.weight",
                    dims: &[32],
                    ggml_type: 0,
                    data: &[],
                    offset: Some(0),
                },
            ],
            32,
        ),
    )?;
    Ok(())
}
