//! Fixtures for `mlsec checkpoint`: the byte layouts `torch.save`, numpy and joblib write,
//! built opcode by opcode (torch is not needed), one malicious file per rule with a benign
//! twin, and broken files. Payloads only ever name harmless callables (`os.getcwd`,
//! `builtins.print`), and nothing here or in the tests runs them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use mlsec_formats::dtype::DType;
use mlsec_formats::hdf5;
use mlsec_formats::npy;
use mlsec_formats::safetensors;
use mlsec_formats::zip::{ZipArchive, ZipLimits};
use mlsec_testkit::ZipWriter;
use mlsec_testkit::{
    PickleWriter, TensorSpec, f32_bytes, torch_state_dict_pickle, torch_state_dict_pickle_with,
    torch_zip,
};

/// Deterministic pseudo-random weights, roughly N(0, scale).
pub fn weights(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            let mut acc = 0.0f32;
            for _ in 0..4 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                acc += ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
            }
            acc * scale * 1.7
        })
        .collect()
}

fn spec(name: &str, shape: &[u64], key: &str, numel: u64) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DType::F32,
        shape: shape.to_vec(),
        storage_key: key.into(),
        storage_offset: 0,
        storage_numel: numel,
    }
}

/// A small model: fc1 (8x16 + 8), fc2 (4x8 + 4), and `head.weight` tied to `fc2.weight`.
pub fn model_tensors(w1: &[f32]) -> (Vec<TensorSpec>, Vec<(String, Vec<u8>)>) {
    let b1 = weights(8, 2, 0.01);
    let w2 = weights(32, 3, 0.1);
    let b2 = weights(4, 4, 0.01);
    let specs = vec![
        spec("fc1.weight", &[8, 16], "0", 128),
        spec("fc1.bias", &[8], "1", 8),
        spec("fc2.weight", &[4, 8], "2", 32),
        spec("fc2.bias", &[4], "3", 4),
        spec("head.weight", &[4, 8], "2", 32),
    ];
    let storages = vec![
        ("0".to_owned(), f32_bytes(w1)),
        ("1".to_owned(), f32_bytes(&b1)),
        ("2".to_owned(), f32_bytes(&w2)),
        ("3".to_owned(), f32_bytes(&b2)),
    ];
    (specs, storages)
}

fn torch_model(w1: &[f32]) -> Vec<u8> {
    let (specs, storages) = model_tensors(w1);
    torch_zip("model", &torch_state_dict_pickle(&specs), &storages)
}

/// A torch zip whose `data.pkl` is `pickle`, with the clean model's storages.
fn torch_with_pickle(pickle: &[u8]) -> Vec<u8> {
    let (_, storages) = model_tensors(&weights(128, 1, 0.1));
    torch_zip("model", pickle, &storages)
}

/// The clean state dict with `'extra': module.name(arg)` planted as one more item.
fn state_dict_with_call(module: &str, name: &str, arg: &str) -> Vec<u8> {
    let specs = model_tensors(&weights(128, 1, 0.1)).0;
    torch_state_dict_pickle_with(&specs, &|p: &mut PickleWriter| {
        p.str("extra")
            .global(module, name)
            .str(arg)
            .raw(&[0x85])
            .reduce();
    })
}

fn sys_info_pickle() -> Vec<u8> {
    let mut p = PickleWriter::new();
    p.proto(2)
        .empty_dict()
        .mark()
        .str("protocol_version")
        .int(1001)
        .str("little_endian")
        .raw(&[0x88]);
    p.str("type_sizes")
        .empty_dict()
        .mark()
        .str("short")
        .int(2)
        .str("int")
        .int(4)
        .str("long")
        .int(4)
        .setitems()
        .setitems()
        .stop();
    p.finish()
}

/// The legacy tar format of `torch.save`: storages 1 (6 floats) and 2 (2 floats), tensors
/// 10 = `fc.weight` [2, 3], 11 = `fc.bias` [2], 12 = `head.weight` tied to storage 1.
fn legacy_tar(sys_info: &[u8]) -> Vec<u8> {
    let one = |f: &dyn Fn(&mut PickleWriter)| {
        let mut p = PickleWriter::new();
        p.proto(2);
        f(&mut p);
        p.stop();
        p.finish()
    };
    let mut storages = one(&|p| {
        p.int(2);
    });
    for (key, data) in [(1, weights(6, 11, 0.1)), (2, weights(2, 12, 0.01))] {
        storages.extend(one(&|p| {
            p.mark()
                .int(key)
                .str("cpu")
                .global("torch", "FloatStorage")
                .tuple();
        }));
        storages.extend((data.len() as u64).to_le_bytes());
        storages.extend(f32_bytes(&data));
    }
    storages.extend(one(&|p| {
        p.raw(b"]");
    }));
    let mut tensors = one(&|p| {
        p.int(3);
    });
    for (key, storage, shape) in [
        (10, 1, &[2u64, 3][..]),
        (11, 2, &[2][..]),
        (12, 1, &[2, 3][..]),
    ] {
        tensors.extend(one(&|p| {
            p.mark()
                .int(key)
                .int(storage)
                .global("torch", "FloatTensor")
                .tuple();
        }));
        tensors.extend((shape.len() as i32).to_le_bytes());
        tensors.extend([0u8; 4]);
        for &d in shape {
            tensors.extend((d as i64).to_le_bytes());
        }
        let mut stride = 1i64;
        let mut strides = vec![0i64; shape.len()];
        for (i, &d) in shape.iter().enumerate().rev() {
            strides[i] = stride;
            stride *= d as i64;
        }
        for s in strides {
            tensors.extend(s.to_le_bytes());
        }
        tensors.extend(0i64.to_le_bytes());
    }
    let pickle = one(&|p| {
        p.global("collections", "OrderedDict")
            .empty_tuple()
            .reduce();
        p.mark();
        for (name, key) in [
            ("fc.weight", "10"),
            ("fc.bias", "11"),
            ("head.weight", "12"),
        ] {
            p.str(name).str(key).persid();
        }
        p.setitems();
    });
    mlsec_formats::tar::write(&[
        ("sys_info", sys_info),
        ("pickle", &pickle),
        ("storages", &storages),
        ("tensors", &tensors),
    ])
}

fn legacy_torch() -> Vec<u8> {
    let mut out = Vec::new();
    // Magic number as a protocol-2 LONG1.
    let magic: u128 = mlsec_formats::torch::LEGACY_MAGIC;
    let mut p = PickleWriter::new();
    p.proto(2)
        .raw(&[0x8a, 10])
        .raw(&magic.to_le_bytes()[..10])
        .stop();
    out.extend(p.finish());
    let mut p = PickleWriter::new();
    p.proto(2).int(1001).stop();
    out.extend(p.finish());
    let mut p = PickleWriter::new();
    p.proto(2)
        .empty_dict()
        .mark()
        .str("protocol_version")
        .int(1001)
        .str("little_endian")
        .raw(&[0x88]);
    p.str("type_sizes")
        .empty_dict()
        .mark()
        .str("short")
        .int(2)
        .str("int")
        .int(4)
        .str("long")
        .int(4)
        .setitems()
        .setitems()
        .stop();
    out.extend(p.finish());
    let w = weights(6, 9, 0.1);
    let mut p = PickleWriter::new();
    p.proto(2)
        .empty_dict()
        .str("w")
        .global("torch._utils", "_rebuild_tensor_v2")
        .mark();
    p.mark()
        .str("storage")
        .global("torch", "FloatStorage")
        .str("94000")
        .str("cpu")
        .int(6)
        .none()
        .tuple()
        .persid();
    p.int(0)
        .int(2)
        .int(3)
        .tuple2()
        .int(3)
        .int(1)
        .tuple2()
        .newfalse();
    p.global("collections", "OrderedDict")
        .empty_tuple()
        .reduce()
        .tuple()
        .reduce()
        .setitem()
        .stop();
    out.extend(p.finish());
    let mut p = PickleWriter::new();
    p.proto(2).raw(b"]").str("94000").raw(b"a").stop();
    out.extend(p.finish());
    out.extend(6u64.to_le_bytes());
    out.extend(f32_bytes(&w));
    out
}

fn joblib_file() -> Vec<u8> {
    // joblib.dump(numpy.arange(4.0)): a NumpyArrayWrapper whose array bytes follow its BUILD.
    let mut p = PickleWriter::new();
    p.proto(4)
        .global("joblib.numpy_pickle", "NumpyArrayWrapper")
        .put()
        .empty_tuple()
        .raw(&[0x81])
        .put();
    p.empty_dict().put().mark();
    p.short_str("subclass").global("numpy", "ndarray").put();
    p.short_str("shape").int(4).raw(&[0x85]).put();
    p.short_str("order").short_str("C");
    p.short_str("dtype")
        .global("numpy", "dtype")
        .put()
        .short_str("f8")
        .newfalse()
        .raw(&[0x88])
        .raw(&[0x87])
        .reduce()
        .put();
    p.mark()
        .int(3)
        .short_str("<")
        .none()
        .none()
        .none()
        .int(-1)
        .int(-1)
        .int(0)
        .tuple()
        .build();
    p.short_str("allow_mmap").newfalse();
    p.short_str("numpy_array_alignment_bytes").int(16);
    p.setitems().build();
    let mut out = p.finish();
    // Alignment: one byte with the pad length, then the pad, then the data.
    let pad = (16 - (out.len() + 1) % 16) % 16;
    out.push(pad as u8);
    out.extend(std::iter::repeat_n(b' ', pad));
    for i in 0..4 {
        out.extend((i as f64).to_le_bytes());
    }
    out.push(b'.');
    out
}

fn object_npy(payload_global: Option<(&str, &str)>) -> Vec<u8> {
    // numpy.save of an object array: protocol 3 pickle of numpy's _reconstruct + BUILD.
    let mut p = PickleWriter::new();
    p.proto(3)
        .global("numpy.core.multiarray", "_reconstruct")
        .put();
    p.global("numpy", "ndarray")
        .put()
        .int(0)
        .raw(&[0x85])
        .put()
        .raw(b"C\x01b")
        .put()
        .raw(&[0x87])
        .reduce()
        .put();
    p.mark()
        .int(1)
        .int(2)
        .raw(&[0x85])
        .global("numpy", "dtype")
        .put()
        .str("O8")
        .newfalse()
        .raw(&[0x88])
        .raw(&[0x87])
        .reduce()
        .put();
    p.mark()
        .int(3)
        .str("|")
        .none()
        .none()
        .none()
        .int(0xff)
        .int(0xff)
        .int(63)
        .tuple()
        .build()
        .newfalse();
    p.raw(b"]").put().mark().str("a");
    match payload_global {
        Some((m, n)) => {
            p.global(m, n).str(".").raw(&[0x85]).reduce();
        }
        None => {
            p.int(7);
        }
    }
    p.raw(b"e").tuple().build().stop();
    npy::write("|O", &[2], &p.finish())
}

fn keras(config: &str) -> Vec<u8> {
    let mut z = ZipWriter::new();
    z.add(
        "metadata.json",
        br#"{"keras_version": "3.3.3", "date_saved": "2024-01-01@00:00:00"}"#,
        false,
        0,
    );
    z.add("config.json", config.as_bytes(), true, 0);
    // Keras 3 keeps the weights in an HDF5 member: a dense layer's kernel and bias.
    let kernel = f32_bytes(&weights(32, 11, 0.1));
    let bias = f32_bytes(&weights(4, 12, 0.1));
    let h5 = hdf5::write_file(
        true,
        &[],
        &[
            ("kernel", DType::F32, &[8, 4], &kernel),
            ("bias", DType::F32, &[4], &bias),
        ],
    );
    z.add("model.weights.h5", &h5, false, 0);
    z.finish()
}

/// A Keras `save_weights` HDF5 file: datasets and no model config (f32, f16, i64).
fn weights_only_h5() -> Vec<u8> {
    let kernel = f32_bytes(&weights(48, 13, 0.1));
    let half: Vec<u8> = weights(6, 14, 0.1)
        .iter()
        .flat_map(|&v| f32_to_f16(v).to_le_bytes())
        .collect();
    let steps: Vec<u8> = (0..3i64).flat_map(|i| (i * 100).to_le_bytes()).collect();
    hdf5::write_file(
        true,
        &[
            ("backend", "tensorflow", false),
            ("keras_version", "2.15.0", false),
        ],
        &[
            ("dense_kernel:0", DType::F32, &[12, 4], &kernel),
            ("dense_bias:0", DType::F16, &[6], &half),
            ("iterations:0", DType::I64, &[3], &steps),
        ],
    )
}

/// Round-to-nearest f32 to IEEE half (normal values of fixture weights only).
fn f32_to_f16(v: f32) -> u16 {
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if v == 0.0 || exp <= 0 {
        return sign;
    }
    let man = (b >> 13) & 0x3ff;
    let round = (b >> 12) & 1;
    sign | (((exp as u32) << 10 | man) + round) as u16
}

fn write(out: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let path = out.join(rel);
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Writes every fixture file under `out`.
pub fn generate(out: &Path) -> Result<()> {
    let clean_w1 = weights(128, 1, 0.1);
    let model = torch_model(&clean_w1);

    // ---- clean: ordinary outputs of torch.save, numpy, joblib, safetensors, pickle ----
    write(out, "clean/model.pt", &model)?;
    write(out, "clean/legacy.pt", &legacy_torch())?;
    write(
        out,
        "clean/array.npy",
        &npy::write("<f4", &[2, 3], &f32_bytes(&weights(6, 5, 1.0))),
    )?;
    write(out, "clean/object.npy", &object_npy(None))?;
    let mut z = ZipWriter::new();
    z.add(
        "w.npy",
        &npy::write("<f4", &[4], &f32_bytes(&weights(4, 6, 1.0))),
        false,
        0,
    );
    z.add("b.npy", &npy::write("<f8", &[2], &[0u8; 16]), true, 0);
    write(out, "clean/arrays.npz", &z.finish())?;
    write(out, "clean/model.joblib", &joblib_file())?;
    let w = f32_bytes(&weights(12, 7, 0.1));
    write(
        out,
        "clean/model.safetensors",
        &safetensors::write(
            &[("w".into(), DType::F32, vec![3, 4], &w[..])],
            &BTreeMap::new(),
        ),
    )?;
    // Protocol 0 text, C-style ints (`I01` is True, `L0x10L`), OrderedDict, bytes via _codecs.
    write(out, "clean/protocol0.pkl", b"(dp0\nS'n'\np1\nI01\nsS'hex'\np2\nL0x10L\nsS'od'\np3\nccollections\nOrderedDict\np4\n(tRp5\ns.")?;
    let mut p = PickleWriter::new();
    p.proto(2)
        .empty_dict()
        .str("b")
        .global("_codecs", "encode")
        .str("\u{ff}ab")
        .str("latin1")
        .raw(&[0x86])
        .reduce()
        .setitem()
        .stop();
    p.proto(2).none().stop(); // a second, benign stream
    write(out, "clean/bytes_two_streams.pkl", &p.finish())?;

    // TorchScript (`torch.jit.save`): a `__torch__` class with its parameters in BUILD state,
    // and its code; twins whose code calls a custom operator / class, or reads a file.
    let ts_code = "class Model(Module):\n  __parameters__ = [\"fc\", ]\n  def forward(self: __torch__.Model, x: Tensor) -> Tensor:\n    return torch.linear(x, self.fc.weight)\n";
    write(out, "clean/scripted.pt", &scripted(ts_code.as_bytes()))?;
    let custom = ts_code.replace(
        "return torch.linear(x, self.fc.weight)",
        "y = ops.my_ops.fused_gate(x)\n    _0 = torch.classes.my_ops.Cache.get(y)\n    return torch.linear(y, self.fc.weight)",
    );
    write(
        out,
        "malicious/scripted-custom-op.pt",
        &scripted(custom.as_bytes()),
    )?;
    let read = ts_code.replace(
        "return torch.linear(x, self.fc.weight)",
        "_0 = torch.from_file(\"/etc/hostname\", False, 16)\n    return torch.linear(x, self.fc.weight)",
    );
    write(
        out,
        "malicious/scripted-from-file.pt",
        &scripted(read.as_bytes()),
    )?;

    // Keras 3 `.keras`: config.json + metadata.json + weights (an HDF5 member, read as tensors).
    let dense = r#"{"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}, "registered_name": null}"#;
    write(
        out,
        "clean/model.keras",
        &keras(&format!(
            r#"{{"module": "keras", "class_name": "Sequential", "config": {{"name": "seq", "layers": [{dense}]}}, "registered_name": null}}"#
        )),
    )?;
    let lambda = r#"{"module": "keras.layers", "class_name": "Lambda", "config": {"name": "sneaky", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAQAAAHIBAAAA+gE8cwAAAABy"}}}}"#;
    write(
        out,
        "malicious/keras-lambda.keras",
        &keras(&format!(
            r#"{{"module": "keras", "class_name": "Sequential", "config": {{"name": "seq", "layers": [{dense}, {{"module": "keras.layers", "class_name": "TimeDistributed", "config": {{"name": "td", "layer": {lambda}}}}}, {{"module": "evil_pkg.layers", "class_name": "Custom", "config": {{"name": "c"}}}}]}}}}"#
        )),
    )?;

    // Keras 2 `.h5`: the config JSON as HDF5 root attributes (vlen and fixed-length strings).
    let h5_seq = format!(
        r#"{{"class_name": "Sequential", "config": {{"name": "seq", "layers": [{dense}]}}}}"#
    );
    let training = r#"{"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}"#;
    let kernel = f32_bytes(&weights(32, 15, 0.1));
    let bias = f32_bytes(&weights(4, 16, 0.1));
    write(
        out,
        "clean/model.h5",
        &hdf5::write_file(
            false,
            &[
                ("backend", "tensorflow", false),
                ("keras_version", "2.15.0", false),
                ("model_config", &h5_seq, true),
                ("training_config", training, true),
            ],
            &[
                ("dense_kernel:0", DType::F32, &[8, 4], &kernel),
                ("dense_bias:0", DType::F32, &[4], &bias),
            ],
        ),
    )?;
    // A Keras 2 Lambda layer: marshalled bytecode of `lambda x: x` (never run).
    let h5_lambda = r#"{"class_name": "Lambda", "config": {"name": "sneaky", "function": ["4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAQAAAHIBAAAA+gE8cwAAAABy", null, null], "function_type": "lambda", "module": "__main__"}}"#;
    write(
        out,
        "malicious/keras-lambda.h5",
        &hdf5::write_minimal(
            true,
            &[
                ("backend", "tensorflow", false),
                (
                    "model_config",
                    &format!(
                        r#"{{"class_name": "Sequential", "config": {{"name": "seq", "layers": [{dense}, {h5_lambda}]}}}}"#
                    ),
                    true,
                ),
            ],
        ),
    )?;
    // Keras `save_weights`: no config, only datasets (read and checked like any tensors).
    let weights_h5 = weights_only_h5();
    write(out, "clean/weights-only.h5", &weights_h5)?;
    // Cut inside the last dataset's data: shorter than the superblock's end-of-file address.
    write(
        out,
        "broken/truncated.h5",
        &weights_h5[..weights_h5.len() - 12],
    )?;

    // Legacy tar `torch.save` (`sys_info`, `pickle`, `storages`, `tensors`).
    write(out, "clean/legacy-tar.pt", &legacy_tar(&sys_info_pickle()))?;
    write(
        out,
        "malicious/legacy-tar.pt",
        &legacy_tar(&state_dict_with_call("os", "getcwd", "")),
    )?;

    // ---- malicious: one per rule (harmless callables) ----
    // README demo: a torch.save checkpoint with a planted call.
    write(
        out,
        "malicious/model.pt",
        &torch_with_pickle(&state_dict_with_call("builtins", "print", "pwned")),
    )?;
    let mut p = PickleWriter::new();
    p.proto(2)
        .global("os", "getcwd")
        .empty_tuple()
        .reduce()
        .stop();
    write(out, "malicious/pickle-unsafe-call.pkl", &p.finish())?;
    let mut p = PickleWriter::new();
    p.proto(4)
        .short_str("pathlib")
        .short_str("os.getcwd")
        .raw(&[0x93])
        .empty_tuple()
        .reduce()
        .stop();
    write(out, "malicious/pickle-unsafe-call-dotted.pkl", &p.finish())?;
    let mut p = PickleWriter::new();
    p.proto(2)
        .empty_dict()
        .str("f")
        .global("os", "getcwd")
        .setitem()
        .stop();
    write(out, "malicious/pickle-unsafe-import.pkl", &p.finish())?;
    let mut p = PickleWriter::new();
    p.proto(4)
        .global("builtins", "str")
        .short_str("os")
        .raw(&[0x85])
        .reduce()
        .short_str("getcwd")
        .raw(&[0x93])
        .empty_tuple()
        .reduce()
        .stop();
    write(out, "malicious/pickle-dynamic-import.pkl", &p.finish())?;
    let mut p = PickleWriter::new();
    // The attribute name is computed (`str('fromkeys')`), so what is called is not static.
    p.proto(2)
        .global("builtins", "getattr")
        .global("collections", "OrderedDict")
        .global("builtins", "str")
        .str("fromkeys")
        .raw(&[0x85])
        .reduce()
        .raw(&[0x86])
        .reduce();
    p.str("a").raw(&[0x85]).raw(&[0x85]).reduce().stop();
    write(out, "malicious/pickle-indirect-call.pkl", &p.finish())?;
    let mut p = PickleWriter::new();
    p.proto(2)
        .global("collections", "OrderedDict")
        .empty_tuple()
        .reduce();
    p.empty_dict()
        .str("__setstate__")
        .global("builtins", "print")
        .setitem()
        .build();
    p.str("hello").build().stop();
    write(out, "malicious/pickle-attribute-injection.pkl", &p.finish())?;
    let mut p = PickleWriter::new();
    p.proto(2)
        .global("os", "getcwd")
        .empty_tuple()
        .reduce()
        .raw(b"\xff\xfe");
    write(out, "malicious/pickle-broken-after-call.pkl", &p.finish())?;
    let mut inner = PickleWriter::new();
    inner
        .proto(2)
        .global("os", "getcwd")
        .empty_tuple()
        .reduce()
        .stop();
    let mut p = PickleWriter::new();
    p.proto(2)
        .global("pickle", "loads")
        .bytes(&inner.finish())
        .raw(&[0x85])
        .reduce()
        .stop();
    write(out, "malicious/pickle-nested-payload.pkl", &p.finish())?;
    write(
        out,
        "malicious/object-array.npy",
        &object_npy(Some(("builtins", "print"))),
    )?;
    let mut joblib_bad = joblib_file();
    joblib_bad.pop();
    joblib_bad.extend_from_slice(b"0cos\ngetcwd\n)R.");
    write(out, "malicious/model.joblib", &joblib_bad)?;

    // ---- zip tricks on the clean model ----
    let mut crc = model.clone();
    let data_start = {
        let z = ZipArchive::parse(&model, ZipLimits::default())?;
        let e = z
            .entries
            .iter()
            .find(|e| e.name == "model/data/0")
            .expect("member");
        e.data_offset as usize
    };
    crc[data_start + 8] ^= 0x55;
    write(out, "zip/zip-crc-mismatch.pt", &crc)?;
    let mut hdr = model.clone();
    let pos = find(&hdr, b"model/byteorder").expect("local name");
    hdr[pos + 6..pos + 15].copy_from_slice(b"BYTEORDER");
    write(out, "zip/zip-header-mismatch.pt", &hdr)?;
    let (specs, storages) = model_tensors(&clean_w1);
    let pickle = torch_state_dict_pickle(&specs);
    let mut z = ZipWriter::new();
    z.add("model/data.pkl", &pickle, false, 64);
    for (k, b) in &storages {
        z.add(&format!("model/data/{k}"), b, false, 64);
    }
    z.add(
        "model/data.pkl",
        &state_dict_with_call("builtins", "print", "second"),
        false,
        64,
    );
    write(out, "zip/zip-duplicate-entry.pt", &z.finish())?;
    let mut z = ZipWriter::new();
    z.add("model/data.pkl", &pickle, false, 64);
    for (k, b) in &storages {
        z.add(&format!("model/data/{k}"), b, false, 64);
    }
    z.add("../outside.txt", b"hello", false, 0);
    write(out, "zip/zip-entry-outside-prefix.pt", &z.finish())?;
    let mut z = ZipWriter::new();
    z.add("model/data.pkl", &pickle, false, 64);
    z.add(
        "model/DATA.PKL",
        &state_dict_with_call("builtins", "print", "case"),
        false,
        64,
    );
    for (k, b) in &storages {
        z.add(&format!("model/data/{k}"), b, false, 64);
    }
    write(out, "zip/zip-case-variant.pt", &z.finish())?;
    let mut poly = Vec::new();
    let mut p = PickleWriter::new();
    p.proto(2).none().stop();
    poly.extend(p.finish());
    poly.extend(&model);
    write(out, "zip/zip-prepended-data.pt", &poly)?;
    let mut trail = model.clone();
    trail.extend_from_slice(b"\x80\x02N.");
    write(out, "zip/zip-trailing-data.pt", &trail)?;
    // A deflated member whose headers claim 1 GiB: refused before inflating.
    let mut z = ZipWriter::new();
    z.add("model/data.pkl", &pickle, false, 64);
    for (k, b) in &storages {
        z.add(&format!("model/data/{k}"), b, false, 64);
    }
    z.add("model/bomb", &[0u8; 4096], true, 0);
    let mut bomb = z.finish();
    for sig in [&b"PK\x03\x04"[..], b"PK\x01\x02"] {
        let name = find_all(&bomb, b"model/bomb");
        for n in name {
            let h = rfind_before(&bomb, sig, n);
            if let Some(h) = h {
                let size_off = if sig == b"PK\x03\x04" { h + 22 } else { h + 24 };
                if n - h == if sig == b"PK\x03\x04" { 30 } else { 46 } {
                    bomb[size_off..size_off + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
                }
            }
        }
    }
    write(out, "zip/zip-bomb.pt", &bomb)?;

    // ---- weights ----
    let mut oob_specs = specs.clone();
    oob_specs[1].shape = vec![100];
    write(
        out,
        "weights/tensor-out-of-bounds.pt",
        &torch_zip("model", &torch_state_dict_pickle(&oob_specs), &storages),
    )?;
    let mut w = clean_w1.clone();
    w[5] = f32::NAN;
    w[6] = f32::INFINITY;
    write(out, "weights/weight-non-finite.pt", &torch_model(&w))?;
    let mut w = clean_w1.clone();
    w[17] = 500.0;
    write(out, "weights/weight-above-threshold.pt", &torch_model(&w))?;
    let mut w = clean_w1.clone();
    w[42] = 40.0;
    write(out, "weights/weight-outlier.pt", &torch_model(&w))?;
    let header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header);
    st.extend_from_slice(&f32_bytes(&[0.1, 0.2, 0.3]));
    write(out, "weights/safetensors-header-anomaly.safetensors", &st)?;

    // ---- fingerprints: tampered copies of the clean model and the original tool's JSON ----
    let scaled: Vec<f32> = clean_w1.iter().map(|x| x * 10.0).collect();
    write(out, "fingerprint/scaled.pt", &torch_model(&scaled))?;
    let shifted: Vec<f32> = clean_w1.iter().map(|x| x + 5.0).collect();
    write(out, "fingerprint/shifted.pt", &torch_model(&shifted))?;
    write(
        out,
        "fingerprint/original-tool.json",
        original_fingerprint(&clean_w1).as_bytes(),
    )?;

    // ---- broken ----
    write(out, "broken/truncated.pt", &model[..model.len() / 2])?;
    write(
        out,
        "broken/truncated.pkl",
        b"\x80\x02ccollections\nOrderedDict\nq\x00)R",
    )?;
    write(out, "broken/bad-opcode.pkl", b"\x80\x02(\xffN.")?;
    write(
        out,
        "broken/model.onnx",
        b"\x08\x07\x12\x07pytorch\x1a\x032.1:\x00",
    )?;
    write(out, "broken/model.h5", b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00")?;
    write(out, "broken/unknown.bin", b"\x00\x01\x02\x03 not a model")?;
    write(out, "broken/safetensors-huge-header.safetensors", &{
        let mut v = (1u64 << 40).to_le_bytes().to_vec();
        v.extend_from_slice(b"{\"a\":1}");
        v
    })?;
    write(
        out,
        "broken/README.txt",
        b"text files in a directory scan are skipped\n",
    )?;
    Ok(())
}

/// `{name: {shape, histogram[64], range{min,max}}}` for the clean model's `fc1.weight`.
fn original_fingerprint(w: &[f32]) -> String {
    let min = w.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    let max = w.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut h = [0u64; 64];
    for &v in w {
        let b = (((v as f64 - min) / (max - min)) * 64.0) as usize;
        h[b.min(63)] += 1;
    }
    let hist: Vec<String> = h.iter().map(u64::to_string).collect();
    format!(
        "{{\"fc1.weight\": {{\"shape\": [8, 16], \"histogram\": [{}], \"range\": {{\"min\": {min}, \"max\": {max}}}}}}}\n",
        hist.join(", ")
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn rfind_before(hay: &[u8], needle: &[u8], end: usize) -> Option<usize> {
    hay[..end].windows(needle.len()).rposition(|w| w == needle)
}

/// A TorchScript archive of the one-layer `Model` with `code` as `code/__torch__.py`.
fn scripted(code: &[u8]) -> Vec<u8> {
    let mut p = PickleWriter::new();
    p.proto(2)
        .global("__torch__", "Model")
        .empty_tuple()
        .raw(&[0x81])
        .empty_dict();
    p.str("fc.weight")
        .global("torch._utils", "_rebuild_tensor_v2")
        .mark();
    p.mark()
        .str("storage")
        .global("torch", "FloatStorage")
        .str("0")
        .str("cpu")
        .int(6)
        .tuple()
        .persid();
    p.int(0)
        .int(2)
        .int(3)
        .tuple2()
        .int(3)
        .int(1)
        .tuple2()
        .newfalse();
    p.global("collections", "OrderedDict")
        .empty_tuple()
        .reduce()
        .tuple()
        .reduce();
    p.setitem().build().stop();
    let mut z = ZipWriter::new();
    z.add("script/data.pkl", &p.finish(), false, 64);
    let mut c = PickleWriter::new();
    c.proto(2).empty_tuple().stop();
    z.add("script/constants.pkl", &c.finish(), false, 64);
    z.add("script/code/__torch__.py", code, true, 0);
    z.add("script/data/0", &f32_bytes(&weights(6, 8, 0.1)), false, 64);
    z.add("script/version", b"3\n", false, 64);
    z.finish()
}
