//! `torch.export` archives (`.pt2`, written by `torch.export.save`) as a second front end of
//! the IR: the serialized `ExportedProgram` (JSON, `models/<name>.json`) is a graph of ATen ops
//! whose parameters and buffers are raw little-endian tensor files described by
//! `data/weights/<name>_weights_config.json` (and `data/constants/...` for lifted constants).
//! Each ATen op is translated into the IR's ops ([`crate::eval::SUPPORTED_OPS`]), so the
//! evaluator, its input gradients and every attack work unchanged.
//!
//! Parse, never execute: nothing in the archive is unpickled or run. A tensor stored pickled
//! (`use_pickle`, tensor subclasses), the pre-2.6 layout (`serialized_state_dict.pt`), an op
//! outside [`SUPPORTED_ATEN_OPS`] or a program that mutates buffers is refused with an error
//! naming it. Sizes are checked against the member before anything is allocated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ir::{Attr, Graph, Node, TensorData, ValueInfo};
use crate::{OnnxModel, RuntimeError};
use mlsec_formats::zip::{ZipArchive, ZipLimits};

/// The ATen ops (`torch.ops.` prefix removed, overload kept) the front end translates.
pub const SUPPORTED_ATEN_OPS: &[&str] = &[
    "aten._adaptive_avg_pool2d.default",
    "aten._log_softmax.default",
    "aten._native_batch_norm_legit_no_training.default",
    "aten._softmax.default",
    "aten._unsafe_view.default",
    "aten.abs.default",
    "aten.adaptive_avg_pool2d.default",
    "aten.add.Scalar",
    "aten.add.Tensor",
    "aten.addmm.default",
    "aten.alias.default",
    "aten.avg_pool2d.default",
    "aten.batch_norm.default",
    "aten.bmm.default",
    "aten.cat.default",
    "aten.clamp.default",
    "aten.clone.default",
    "aten.contiguous.default",
    "aten.conv1d.default",
    "aten.conv2d.default",
    "aten.conv2d.padding",
    "aten.conv_transpose2d.input",
    "aten.convolution.default",
    "aten.div.Scalar",
    "aten.div.Tensor",
    "aten.dropout.default",
    "aten.embedding.default",
    "aten.erf.default",
    "aten.exp.default",
    "aten.expand.default",
    "aten.flatten.using_ints",
    "aten.gelu.default",
    "aten.hardswish.default",
    "aten.hardtanh.default",
    "aten.layer_norm.default",
    "aten.leaky_relu.default",
    "aten.linear.default",
    "aten.log.default",
    "aten.log_softmax.int",
    "aten.matmul.default",
    "aten.max_pool2d.default",
    "aten.max_pool2d_with_indices.default",
    "aten.mean.default",
    "aten.mean.dim",
    "aten.mm.default",
    "aten.mul.Scalar",
    "aten.mul.Tensor",
    "aten.native_layer_norm.default",
    "aten.neg.default",
    "aten.permute.default",
    "aten.pow.Tensor_Scalar",
    "aten.reciprocal.default",
    "aten.relu.default",
    "aten.reshape.default",
    "aten.rsqrt.default",
    "aten.rsub.Scalar",
    "aten.scaled_dot_product_attention.default",
    "aten.select.int",
    "aten.sigmoid.default",
    "aten.silu.default",
    "aten.slice.Tensor",
    "aten.softmax.int",
    "aten.sqrt.default",
    "aten.squeeze.default",
    "aten.squeeze.dim",
    "aten.squeeze.dims",
    "aten.sub.Scalar",
    "aten.sub.Tensor",
    "aten.sum.dim_IntList",
    "aten.sym_size.int",
    "aten.t.default",
    "aten.tanh.default",
    "aten.transpose.int",
    "aten.unflatten.int",
    "aten.unsqueeze.default",
    "aten.view.default",
];

/// The largest JSON member read (graph, weights config): 64 MiB.
const MAX_JSON: usize = 64 << 20;
/// The most elements one weight may have.
const MAX_ELEMENTS: u64 = 1 << 32;

fn model_err(message: impl Into<String>) -> RuntimeError {
    RuntimeError::Model(message.into())
}

/// The archive's layout: the directory prefix of its members and the program's name.
struct Layout {
    prefix: String,
    model: String,
}

fn layout(zip: &ZipArchive<'_>) -> Option<Layout> {
    let format = zip
        .entries
        .iter()
        .find(|e| e.name == "archive_format" || e.name.ends_with("/archive_format"))?;
    let prefix = format.name[..format.name.len() - "archive_format".len()].to_owned();
    let models = format!("{prefix}models/");
    let mut names: Vec<&str> = zip
        .entries
        .iter()
        .filter_map(|e| e.name.strip_prefix(&models)?.strip_suffix(".json"))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .collect();
    names.sort_unstable();
    let model = if names.contains(&"model") {
        "model"
    } else {
        names.first()?
    };
    Some(Layout {
        prefix,
        model: model.to_owned(),
    })
}

/// Whether `bytes` is a `torch.export` archive: a zip with `archive_format` and a
/// `models/<name>.json` program (central directory only, nothing decompressed).
pub fn is_pt2_bytes(bytes: &[u8]) -> bool {
    ZipArchive::parse(bytes, ZipLimits::default()).is_ok_and(|z| layout(&z).is_some())
}

/// Whether `path` is a `torch.export` archive, by content.
pub fn is_pt2(path: &Path) -> bool {
    mlsec_formats::sniff::read_file(path).is_ok_and(|b| is_pt2_bytes(&b))
}

/// Loads a `.pt2` archive as a model; every error names the file.
pub fn load(path: &Path) -> Result<OnnxModel, RuntimeError> {
    let named = |e: RuntimeError| RuntimeError::Archive {
        file: path.display().to_string(),
        message: e.to_string(),
    };
    let bytes = mlsec_formats::sniff::read_file(path).map_err(|e| RuntimeError::Archive {
        file: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    let digest = mlsec_util::hex::encode(&Sha256::digest(&*bytes));
    let graph = graph_from_bytes(&bytes).map_err(named)?;
    OnnxModel::from_graph(graph, digest).map_err(named)
}

fn member<'a>(zip: &ZipArchive<'a>, name: &str) -> Result<Option<Vec<u8>>, RuntimeError> {
    let Some(entry) = zip.entries.iter().find(|e| e.name == name) else {
        return Ok(None);
    };
    let m = zip
        .read(entry)
        .map_err(|e| model_err(format!("member `{name}`: {e}")))?;
    if !m.crc_ok {
        return Err(model_err(format!("member `{name}` fails its CRC check")));
    }
    Ok(Some(m.bytes.into_owned()))
}

fn json_member(zip: &ZipArchive<'_>, name: &str) -> Result<Option<Value>, RuntimeError> {
    if let Some(e) = zip.entries.iter().find(|e| e.name == name)
        && e.size > MAX_JSON as u64
    {
        return Err(model_err(format!(
            "member `{name}` is {} bytes, more than the {MAX_JSON} accepted",
            e.size
        )));
    }
    let Some(bytes) = member(zip, name)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| model_err(format!("member `{name}` is not valid JSON: {e}")))
}

/// The IR graph of a `.pt2` archive held in memory.
pub fn graph_from_bytes(bytes: &[u8]) -> Result<Graph, RuntimeError> {
    let (program, stored) = read_archive(bytes)?;
    let stored: HashMap<String, TensorData> = stored.into_iter().collect();
    Frontend::default().build(&program, &stored)
}

/// The stored parameters, buffers and constants of a `.pt2` archive by qualified name, sorted
/// (floating-point types as f32, integer and bool types as i64), for the weight checks.
pub fn stored_tensors(bytes: &[u8]) -> Result<Vec<(String, TensorData)>, RuntimeError> {
    let (_, mut stored) = read_archive(bytes)?;
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(stored)
}

type Stored = Vec<(String, TensorData)>;

fn read_archive(bytes: &[u8]) -> Result<(Value, Stored), RuntimeError> {
    let zip = ZipArchive::parse(bytes, ZipLimits::default())
        .map_err(|e| model_err(format!("not a readable zip: {e}")))?;
    if zip
        .entries
        .iter()
        .any(|e| e.name.ends_with("serialized_exported_program.json"))
    {
        return Err(model_err(
            "a torch.export archive in the pre-2.6 layout (pickled state dict): load and \
             re-save it with torch.export.save from a current PyTorch",
        ));
    }
    let Layout { prefix, model } = layout(&zip)
        .ok_or_else(|| model_err("not a torch.export archive (no models/<name>.json)"))?;
    if let Some(order) = member(&zip, &format!("{prefix}byteorder"))?
        && order.trim_ascii() != b"little"
    {
        return Err(model_err(format!(
            "byte order `{}` is not supported",
            String::from_utf8_lossy(&order)
        )));
    }
    let program = json_member(&zip, &format!("{prefix}models/{model}.json"))?
        .ok_or_else(|| model_err("the program member is missing"))?;
    let mut stored: Stored = Vec::new();
    for (dir, kind) in [("weights", "weights"), ("constants", "constants")] {
        let config_name = format!("{prefix}data/{dir}/{model}_{kind}_config.json");
        let Some(config) = json_member(&zip, &config_name)? else {
            continue;
        };
        let entries = config
            .get("config")
            .and_then(Value::as_object)
            .ok_or_else(|| model_err(format!("`{config_name}` has no `config` object")))?;
        for (fqn, spec) in entries {
            let t = stored_tensor(&zip, &format!("{prefix}data/{dir}/"), spec)
                .map_err(|e| model_err(format!("{kind} `{fqn}`: {e}")))?;
            stored.push((fqn.clone(), t));
        }
    }
    Ok((program, stored))
}

fn as_int(v: &Value) -> Option<i64> {
    v.get("as_int").and_then(Value::as_i64)
}

/// A symbolic size (`as_expr`) is `None`.
fn sizes(meta: &Value) -> Option<Vec<Option<i64>>> {
    meta.get("sizes")?
        .as_array()?
        .iter()
        .map(|s| {
            if let Some(n) = as_int(s) {
                Some(Some(n))
            } else if s.get("as_expr").is_some() {
                Some(None)
            } else {
                None
            }
        })
        .collect()
}

/// Why a stored weight or constant of a `.pt2` archive cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredTensorError {
    #[error("is stored pickled (a tensor subclass or custom object), which mlsec never unpickles")]
    Pickled,
    #[error("has no path_name")]
    NoPath,
    #[error("has no tensor_meta")]
    NoMeta,
    #[error("has invalid sizes")]
    Sizes,
    #[error("has invalid strides")]
    Strides,
    #[error("has {sizes} sizes but {strides} strides")]
    StrideCount { sizes: usize, strides: usize },
    #[error("sizes {0:?} are too large")]
    TooLarge(Vec<u64>),
    #[error("dtype {0} is not supported")]
    Dtype(i64),
    #[error("member `{0}` is missing")]
    Missing(String),
    #[error("strides overflow")]
    StrideOverflow,
    #[error("member `{name}` has {size} bytes, its view needs {need}")]
    Short { name: String, size: u64, need: u64 },
    #[error(transparent)]
    Read(#[from] mlsec_formats::zip::ZipError),
    #[error("member `{0}` fails its CRC check")]
    Crc(String),
    #[error("sizes {dims:?} need more elements than member `{name}` stores ({size} bytes)")]
    Broadcast {
        dims: Vec<u64>,
        name: String,
        size: usize,
    },
}

/// Reads one stored tensor (raw bytes, `tensor_meta` giving dtype, sizes, strides, offset).
fn stored_tensor(
    zip: &ZipArchive<'_>,
    dir: &str,
    spec: &Value,
) -> Result<TensorData, StoredTensorError> {
    use StoredTensorError as E;
    if spec.get("use_pickle").and_then(Value::as_bool) == Some(true) {
        return Err(E::Pickled);
    }
    let path = spec
        .get("path_name")
        .and_then(Value::as_str)
        .ok_or(E::NoPath)?;
    let meta = spec.get("tensor_meta").ok_or(E::NoMeta)?;
    let dtype = meta.get("dtype").and_then(Value::as_i64).unwrap_or(-1);
    let dims: Vec<u64> = sizes(meta)
        .and_then(|s| {
            s.into_iter()
                .map(|d| d.and_then(|d| u64::try_from(d).ok()))
                .collect()
        })
        .ok_or(E::Sizes)?;
    let strides: Vec<u64> = meta
        .get("strides")
        .and_then(Value::as_array)
        .and_then(|s| {
            s.iter()
                .map(|v| as_int(v).and_then(|d| u64::try_from(d).ok()))
                .collect()
        })
        .ok_or(E::Strides)?;
    if strides.len() != dims.len() {
        return Err(E::StrideCount {
            sizes: dims.len(),
            strides: strides.len(),
        });
    }
    let offset = meta
        .get("storage_offset")
        .and_then(as_int)
        .and_then(|o| u64::try_from(o).ok())
        .unwrap_or(0);
    let count = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .filter(|&c| c <= MAX_ELEMENTS)
        .ok_or_else(|| E::TooLarge(dims.clone()))?;
    // ScalarType of torch/_export/serde/schema.py.
    use mlsec_formats::dtype::DType;
    let element = match dtype {
        1 | 12 => DType::U8,
        2 => DType::I8,
        3 => DType::I16,
        4 => DType::I32,
        5 => DType::I64,
        6 => DType::F16,
        7 => DType::F32,
        8 => DType::F64,
        13 => DType::BF16,
        other => return Err(E::Dtype(other)),
    };
    let width = element.size() as u64;
    let name = format!("{dir}{path}");
    let entry = zip
        .entries
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| E::Missing(name.clone()))?;
    // The last element's index, checked before reading.
    let last = if count == 0 {
        0
    } else {
        dims.iter()
            .zip(&strides)
            .try_fold(offset, |a, (&d, &s)| a.checked_add((d - 1).checked_mul(s)?))
            .ok_or(E::StrideOverflow)?
    };
    let need = if count == 0 {
        0
    } else {
        (last + 1).saturating_mul(width)
    };
    if entry.size < need {
        return Err(E::Short {
            name,
            size: entry.size,
            need,
        });
    }
    let m = zip.read(entry)?;
    if !m.crc_ok {
        return Err(E::Crc(name));
    }
    let bytes: &[u8] = &m.bytes;
    if (bytes.len() as u64) < need {
        return Err(E::Short {
            name,
            size: bytes.len() as u64,
            need,
        });
    }
    // A view of more elements than its member stores (a broadcast, stride-0 tensor) is refused,
    // so what is allocated is bounded by the member's real size.
    if count.saturating_mul(width) > bytes.len() as u64 {
        return Err(E::Broadcast {
            dims,
            name,
            size: bytes.len(),
        });
    }
    // Element indices of the view, row-major.
    let mut index = Vec::with_capacity(count as usize);
    let mut pos = vec![0u64; dims.len()];
    for _ in 0..count {
        index.push(offset + pos.iter().zip(&strides).map(|(p, s)| p * s).sum::<u64>());
        for k in (0..dims.len()).rev() {
            pos[k] += 1;
            if pos[k] < dims[k] {
                break;
            }
            pos[k] = 0;
        }
    }
    let at = |i: u64| &bytes[(i * width) as usize..((i + 1) * width) as usize];
    let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    let value = |i: &u64| mlsec_formats::dtype::element_f64(element, at(*i));
    Ok(match element {
        // i64 is read exactly (an f64 would round values above 2^53).
        DType::I64 => TensorData::i64(
            dims,
            index
                .iter()
                .map(|&i| i64::from_le_bytes(at(i).try_into().unwrap_or_default()))
                .collect(),
        ),
        // Every other integer type is exact in f64.
        DType::U8 | DType::I8 | DType::I16 | DType::I32 => {
            TensorData::i64(dims, index.iter().map(|i| value(i) as i64).collect())
        }
        _ => TensorData::f32(dims, index.iter().map(|i| value(i) as f32).collect()),
    })
}

/// Named arguments of one ATen node.
struct Args<'a> {
    target: &'a str,
    node: &'a str,
    args: HashMap<&'a str, &'a Value>,
}

impl<'a> Args<'a> {
    fn err(&self, message: impl Into<String>) -> RuntimeError {
        RuntimeError::Node {
            node: self.node.to_owned(),
            op: self.target.to_owned(),
            message: message.into(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.args
            .get(name)
            .copied()
            .filter(|v| v.get("as_none").is_none())
    }

    /// A tensor argument's value name; `None` when absent or `None`.
    fn opt_tensor(&self, name: &str) -> Option<String> {
        let v = self.get(name)?;
        let t = v
            .get("as_tensor")
            .or_else(|| v.get("as_optional_tensor")?.get("as_tensor"))?;
        t.get("name")?.as_str().map(str::to_owned)
    }

    fn tensor(&self, name: &str) -> Result<String, RuntimeError> {
        self.opt_tensor(name)
            .ok_or_else(|| self.err(format!("argument `{name}` is not a tensor")))
    }

    fn tensors(&self, name: &str) -> Result<Vec<String>, RuntimeError> {
        self.get(name)
            .and_then(|v| v.get("as_tensors")?.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|t| t.get("name")?.as_str().map(str::to_owned))
                    .collect()
            })
            .ok_or_else(|| self.err(format!("argument `{name}` is not a list of tensors")))
    }

    fn int(&self, name: &str, default: i64) -> Result<i64, RuntimeError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => as_int(v)
                .or_else(|| v.get("as_sym_int").and_then(as_int))
                .ok_or_else(|| self.err(format!("argument `{name}` is not a constant integer"))),
        }
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, RuntimeError> {
        match self.get(name) {
            None => Ok(None),
            Some(_) => self.int(name, 0).map(Some),
        }
    }

    fn float(&self, name: &str, default: f64) -> Result<f64, RuntimeError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .get("as_float")
                .and_then(Value::as_f64)
                .or_else(|| as_int(v).map(|i| i as f64))
                .ok_or_else(|| self.err(format!("argument `{name}` is not a constant number"))),
        }
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, RuntimeError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .get("as_bool")
                .and_then(Value::as_bool)
                .ok_or_else(|| self.err(format!("argument `{name}` is not a boolean"))),
        }
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name)?
            .get("as_string")?
            .as_str()
            .map(str::to_owned)
    }

    /// An int list; a single int stands for the list (PyTorch's `int[2]` arguments).
    fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, RuntimeError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        if let Some(i) = as_int(v) {
            return Ok(Some(vec![i]));
        }
        let list = v.get("as_ints").or_else(|| v.get("as_sym_ints"));
        list.and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_i64().or_else(|| as_int(x)))
                    .collect::<Option<Vec<i64>>>()
            })
            .map(Some)
            .ok_or_else(|| self.err(format!("argument `{name}` is not a constant integer list")))
    }

    /// A number operand: a tensor name or a constant.
    fn operand(&self, name: &str) -> Result<Operand, RuntimeError> {
        if let Some(t) = self.opt_tensor(name) {
            return Ok(Operand::Tensor(t));
        }
        self.float(name, f64::NAN).and_then(|f| {
            if f.is_nan() && self.get(name).is_none() {
                Err(self.err(format!("argument `{name}` is missing")))
            } else {
                Ok(Operand::Const(f))
            }
        })
    }
}

enum Operand {
    Tensor(String),
    Const(f64),
}

#[derive(Default)]
struct Frontend {
    nodes: Vec<Node>,
    initializers: BTreeMap<String, TensorData>,
    /// Declared sizes of every value (`None` for a symbolic size).
    meta: HashMap<String, Vec<Option<i64>>>,
    /// Names of symbolic integers (`sym_size`), which only shape-taking ops may use.
    syms: HashSet<String>,
    /// Node names used so far.
    names: HashSet<String>,
    /// The input's leading size when the program was exported with a static batch.
    static_batch: Option<i64>,
    counter: usize,
}

/// The most elements of a constant the front end makes itself (ones, zeros) from sizes in the
/// program: 16 Mi, far above any layer norm or broadcast of a model the runtime can attack.
const MAX_SYNTHESIZED: usize = 1 << 24;

/// The element count of a constant of `dims` the front end makes, refusing absurd sizes.
fn synthesized(a: &Args<'_>, dims: &[usize]) -> Result<usize, RuntimeError> {
    dims.iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_SYNTHESIZED)
        .ok_or_else(|| a.err(format!("sizes {dims:?} are too large")))
}

/// Expands a PyTorch `int[n]` argument (one value stands for all `n`).
fn expand(v: &[i64], n: usize) -> Option<Vec<i64>> {
    match v.len() {
        1 => Some(vec![v[0]; n]),
        l if l == n => Some(v.to_vec()),
        _ => None,
    }
}

impl Frontend {
    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{hint}__pt2_{}", self.counter)
    }

    fn const_i64(&mut self, dims: Vec<usize>, values: Vec<i64>) -> String {
        let name = self.fresh("const");
        self.initializers
            .insert(name.clone(), TensorData::i64(dims, values));
        name
    }

    fn const_f32(&mut self, dims: Vec<usize>, values: Vec<f32>) -> String {
        let name = self.fresh("const");
        self.initializers
            .insert(name.clone(), TensorData::f32(dims, values));
        name
    }

    fn operand(&mut self, o: Operand) -> String {
        match o {
            Operand::Tensor(t) => t,
            Operand::Const(f) => self.const_f32(vec![], vec![f as f32]),
        }
    }

    fn emit(
        &mut self,
        node: &str,
        op: &str,
        inputs: Vec<String>,
        output: String,
        attrs: Vec<(&str, Attr)>,
    ) {
        // A node is named after the value it makes: the ATen node's result keeps PyTorch's
        // name (what `inspect` shows), helper nodes get fresh names. `node` only names a
        // duplicate.
        let name = if self.names.insert(output.clone()) {
            output.clone()
        } else {
            let fresh = self.fresh(node);
            self.names.insert(fresh.clone());
            fresh
        };
        self.nodes.push(Node {
            name,
            op_type: op.to_owned(),
            domain: String::new(),
            inputs,
            outputs: vec![output],
            attrs: attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        });
    }

    fn rank(&self, a: &Args<'_>, value: &str) -> Result<usize, RuntimeError> {
        if let Some(t) = self.initializers.get(value) {
            return Ok(t.dims.len());
        }
        self.meta
            .get(value)
            .map(Vec::len)
            .ok_or_else(|| a.err(format!("no shape is recorded for `{value}`")))
    }

    fn dims(&self, value: &str) -> Option<Vec<Option<i64>>> {
        if let Some(t) = self.initializers.get(value) {
            return Some(t.dims.iter().map(|&d| Some(d as i64)).collect());
        }
        self.meta.get(value).cloned()
    }

    fn build(
        mut self,
        program: &Value,
        stored: &HashMap<String, TensorData>,
    ) -> Result<Graph, RuntimeError> {
        let gm = program
            .get("graph_module")
            .ok_or_else(|| model_err("the program has no graph_module"))?;
        let graph = gm
            .get("graph")
            .ok_or_else(|| model_err("the program has no graph"))?;
        if let Some(values) = graph.get("tensor_values").and_then(Value::as_object) {
            for (name, meta) in values {
                if let Some(s) = sizes(meta) {
                    self.meta.insert(name.clone(), s);
                }
            }
        }
        let signature = gm
            .get("signature")
            .ok_or_else(|| model_err("the program has no signature"))?;
        let mut inputs = Vec::new();
        for spec in signature
            .get("input_specs")
            .and_then(Value::as_array)
            .ok_or_else(|| model_err("the signature has no input_specs"))?
        {
            let (kind, body) = spec
                .as_object()
                .and_then(|o| o.iter().next())
                .ok_or_else(|| model_err("an input spec is empty"))?;
            let arg_name = |b: &Value| -> Option<String> {
                let arg = b.get("arg")?;
                arg.get("as_tensor")
                    .unwrap_or(arg)
                    .get("name")?
                    .as_str()
                    .map(str::to_owned)
            };
            match kind.as_str() {
                "user_input" => {
                    let name = arg_name(body).ok_or_else(|| {
                        model_err("a user input is not a tensor (only tensor inputs are supported)")
                    })?;
                    let dims = self
                        .meta
                        .get(&name)
                        .map(|d| d.iter().map(|s| s.map(|v| v as usize)).collect());
                    inputs.push(ValueInfo { name, dims });
                }
                "parameter" | "buffer" | "tensor_constant" => {
                    let key = match kind.as_str() {
                        "parameter" => "parameter_name",
                        "buffer" => "buffer_name",
                        _ => "tensor_constant_name",
                    };
                    let name = arg_name(body)
                        .ok_or_else(|| model_err(format!("a {kind} input has no name")))?;
                    let fqn = body.get(key).and_then(Value::as_str).unwrap_or_default();
                    let data = stored.get(fqn).ok_or_else(|| {
                        model_err(format!("{kind} `{fqn}` is not stored in the archive"))
                    })?;
                    self.initializers.insert(name, data.clone());
                }
                other => {
                    return Err(model_err(format!(
                        "input kind `{other}` is not supported (only tensors, parameters, buffers and constants)"
                    )));
                }
            }
        }
        // Exported without `dynamic_shapes`, every recorded size is the example's: the leading
        // size of a reshape's result that equals the example batch is then taken as the batch
        // (-1), so the model runs on batches of any size.
        if let [only] = inputs.as_slice() {
            self.static_batch = self
                .meta
                .get(&only.name)
                .and_then(|d| d.first().copied().flatten());
        }
        let mut outputs = Vec::new();
        for spec in signature
            .get("output_specs")
            .and_then(Value::as_array)
            .ok_or_else(|| model_err("the signature has no output_specs"))?
        {
            let (kind, body) = spec
                .as_object()
                .and_then(|o| o.iter().next())
                .ok_or_else(|| model_err("an output spec is empty"))?;
            if kind != "user_output" {
                return Err(model_err(format!(
                    "the program has a `{kind}` output (it mutates state: export the model in eval mode, model.eval())"
                )));
            }
            let name = body
                .get("arg")
                .and_then(|a| a.get("as_tensor"))
                .and_then(|t| t.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| model_err("an output is not a tensor"))?;
            outputs.push(name.to_owned());
        }
        let nodes = graph
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| model_err("the graph has no nodes"))?;
        for (i, n) in nodes.iter().enumerate() {
            self.node(n, i)?;
        }
        Ok(Graph {
            name: "torch.export".into(),
            opset: 17,
            nodes: self.nodes,
            initializers: self.initializers,
            inputs,
            outputs,
            metadata: BTreeMap::new(),
        })
    }

    fn node(&mut self, n: &Value, index: usize) -> Result<(), RuntimeError> {
        let raw = n.get("target").and_then(Value::as_str).unwrap_or_default();
        let target = raw.strip_prefix("torch.ops.").unwrap_or(raw);
        let fallback = format!("node#{index}");
        let node_name = n.get("name").and_then(Value::as_str).unwrap_or(&fallback);
        let mut args = HashMap::new();
        for a in n
            .get("inputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(k), Some(v)) = (a.get("name").and_then(Value::as_str), a.get("arg")) {
                args.insert(k, v);
            }
        }
        let a = Args {
            target,
            node: node_name,
            args,
        };
        let outs: Vec<&Value> = n
            .get("outputs")
            .and_then(Value::as_array)
            .map(|o| o.iter().collect())
            .unwrap_or_default();
        // Runtime assertions have no output and nothing to compute.
        if target.starts_with("aten._assert")
            || target == "aten.sym_constrain_range_for_size.default"
        {
            return Ok(());
        }
        // Size arithmetic (`sym_size`, `_operator.mul` ... on symbolic sizes): the sizes are
        // taken from the recorded shapes of the results instead.
        let all_sym = !outs.is_empty() && outs.iter().all(|o| o.get("as_sym_int").is_some());
        if target == "aten.sym_size.int" || (target.starts_with("_operator.") && all_sym) {
            for o in &outs {
                if let Some(s) = o
                    .get("as_sym_int")
                    .and_then(|s| s.get("as_name"))
                    .and_then(Value::as_str)
                {
                    self.syms.insert(s.to_owned());
                }
            }
            return Ok(());
        }
        if !SUPPORTED_ATEN_OPS.contains(&target) {
            return Err(RuntimeError::UnsupportedOp {
                op: target.to_owned(),
                node: node_name.to_owned(),
            });
        }
        let out = outs
            .first()
            .and_then(|o| {
                o.get("as_tensor")
                    .or_else(|| o.get("as_tensors")?.get(0))
                    .and_then(|t| t.get("name"))
                    .and_then(Value::as_str)
            })
            .map(str::to_owned)
            .ok_or_else(|| a.err("the node has no tensor output"))?;
        self.translate(&a, out)
    }

    fn translate(&mut self, a: &Args<'_>, out: String) -> Result<(), RuntimeError> {
        let op = a.target.rsplit_once('.').map_or(a.target, |(op, _)| op);
        let node = a.node;
        let unary = |s: &mut Frontend, onnx: &str| -> Result<(), RuntimeError> {
            let x = a.tensor("self")?;
            s.emit(node, onnx, vec![x], out.clone(), vec![]);
            Ok(())
        };
        match op {
            "aten.relu" => unary(self, "Relu")?,
            "aten.sigmoid" => unary(self, "Sigmoid")?,
            "aten.tanh" => unary(self, "Tanh")?,
            "aten.exp" => unary(self, "Exp")?,
            "aten.log" => unary(self, "Log")?,
            "aten.sqrt" => unary(self, "Sqrt")?,
            "aten.neg" => unary(self, "Neg")?,
            "aten.abs" => unary(self, "Abs")?,
            "aten.erf" => unary(self, "Erf")?,
            "aten.reciprocal" => unary(self, "Reciprocal")?,
            // (`aten.detach` is not here: it stops the gradient, which the IR cannot express.)
            "aten.clone" | "aten.contiguous" | "aten.alias" => unary(self, "Identity")?,
            "aten.dropout" => {
                let x = a.tensor("input")?;
                self.emit(node, "Identity", vec![x], out, vec![]);
            }
            "aten.rsqrt" => {
                let x = a.tensor("self")?;
                let s = self.fresh(node);
                self.emit(node, "Sqrt", vec![x], s.clone(), vec![]);
                self.emit(node, "Reciprocal", vec![s], out, vec![]);
            }
            "aten.silu" => {
                let x = a.tensor("self")?;
                let s = self.fresh(node);
                self.emit(node, "Sigmoid", vec![x.clone()], s.clone(), vec![]);
                self.emit(node, "Mul", vec![x, s], out, vec![]);
            }
            "aten.hardswish" => {
                // x · clip(x + 3, 0, 6) / 6
                let x = a.tensor("self")?;
                let three = self.const_f32(vec![], vec![3.0]);
                let (lo, hi) = (
                    self.const_f32(vec![], vec![0.0]),
                    self.const_f32(vec![], vec![6.0]),
                );
                let sixth = self.const_f32(vec![], vec![1.0 / 6.0]);
                let (s1, s2, s3) = (self.fresh(node), self.fresh(node), self.fresh(node));
                self.emit(node, "Add", vec![x.clone(), three], s1.clone(), vec![]);
                self.emit(node, "Clip", vec![s1, lo, hi], s2.clone(), vec![]);
                self.emit(node, "Mul", vec![s2, sixth], s3.clone(), vec![]);
                self.emit(node, "Mul", vec![x, s3], out, vec![]);
            }
            "aten.scaled_dot_product_attention" => self.attention(a, out)?,
            "aten.gelu" => {
                let x = a.tensor("self")?;
                let approx = a.string("approximate").unwrap_or_else(|| "none".into());
                if approx != "none" && approx != "tanh" {
                    return Err(a.err(format!("approximate=`{approx}` is not supported")));
                }
                self.emit(
                    node,
                    "Gelu",
                    vec![x],
                    out,
                    vec![("approximate", Attr::Str(approx))],
                );
            }
            "aten.leaky_relu" => {
                let x = a.tensor("self")?;
                let alpha = a.float("negative_slope", 0.01)?;
                self.emit(
                    node,
                    "LeakyRelu",
                    vec![x],
                    out,
                    vec![("alpha", Attr::Float(alpha as f32))],
                );
            }
            "aten.clamp" => {
                let x = a.tensor("self")?;
                let mut ins = vec![x];
                for bound in ["min", "max"] {
                    ins.push(match a.get(bound) {
                        Some(_) => {
                            let v = a.float(bound, 0.0)?;
                            self.const_f32(vec![], vec![v as f32])
                        }
                        None => String::new(),
                    });
                }
                self.emit(node, "Clip", ins, out, vec![]);
            }
            "aten.hardtanh" => {
                let x = a.tensor("self")?;
                let lo = self.const_f32(vec![], vec![a.float("min_val", -1.0)? as f32]);
                let hi = self.const_f32(vec![], vec![a.float("max_val", 1.0)? as f32]);
                self.emit(node, "Clip", vec![x, lo, hi], out, vec![]);
            }
            "aten.add" | "aten.sub" | "aten.mul" | "aten.div" | "aten.rsub" => {
                let mut x = self.operand(a.operand("self")?);
                let mut y = self.operand(a.operand("other")?);
                if a.string("rounding_mode").is_some() {
                    return Err(a.err("integer division (rounding_mode) is not supported"));
                }
                // `alpha` scales the operand that is added or subtracted: `other` for add and
                // sub, `self` for rsub (other - alpha·self).
                let alpha = a.float("alpha", 1.0)?;
                if alpha != 1.0 {
                    let k = self.const_f32(vec![], vec![alpha as f32]);
                    let scaled = self.fresh(node);
                    let target = if op == "aten.rsub" { &mut x } else { &mut y };
                    let v = std::mem::take(target);
                    self.emit(node, "Mul", vec![v, k], scaled.clone(), vec![]);
                    *target = scaled;
                }
                let (onnx, ins) = match op {
                    "aten.add" => ("Add", vec![x, y]),
                    "aten.sub" => ("Sub", vec![x, y]),
                    "aten.mul" => ("Mul", vec![x, y]),
                    "aten.div" => ("Div", vec![x, y]),
                    _ => ("Sub", vec![y, x]),
                };
                self.emit(node, onnx, ins, out, vec![]);
            }
            "aten.pow" => {
                let x = a.tensor("self")?;
                let e = self.const_f32(vec![], vec![a.float("exponent", 1.0)? as f32]);
                self.emit(node, "Pow", vec![x, e], out, vec![]);
            }
            "aten.softmax" | "aten._softmax" | "aten.log_softmax" | "aten._log_softmax" => {
                let x = a.tensor("self")?;
                let axis = a.int("dim", -1)?;
                let onnx = if op.contains("log_") {
                    "LogSoftmax"
                } else {
                    "Softmax"
                };
                self.emit(node, onnx, vec![x], out, vec![("axis", Attr::Int(axis))]);
            }
            "aten.view" | "aten.reshape" | "aten._unsafe_view" | "aten.flatten"
            | "aten.unflatten" | "aten.unsqueeze" | "aten.squeeze" => {
                let x = a.tensor("self")?;
                let shape = self.shape_of(a, &out)?;
                let s = self.const_i64(vec![shape.len()], shape);
                self.emit(
                    node,
                    "Reshape",
                    vec![x, s],
                    out,
                    vec![("allowzero", Attr::Int(1))],
                );
            }
            "aten.permute" => {
                let x = a.tensor("self")?;
                let perm = a.ints("dims")?.ok_or_else(|| a.err("no dims"))?;
                self.emit(
                    node,
                    "Transpose",
                    vec![x],
                    out,
                    vec![("perm", Attr::Ints(perm))],
                );
            }
            "aten.transpose" | "aten.t" => {
                let x = a.tensor("self")?;
                let rank = self.rank(a, &x)?;
                let (d0, d1) = if op == "aten.t" {
                    (0, 1)
                } else {
                    (a.int("dim0", 0)?, a.int("dim1", 1)?)
                };
                if rank < 2 {
                    self.emit(node, "Identity", vec![x], out, vec![]);
                    return Ok(());
                }
                let norm = |d: i64| -> Result<usize, RuntimeError> {
                    let r = rank as i64;
                    let d = if d < 0 { d + r } else { d };
                    if (0..r).contains(&d) {
                        Ok(d as usize)
                    } else {
                        Err(a.err(format!("dim {d} out of range for rank {rank}")))
                    }
                };
                let (d0, d1) = (norm(d0)?, norm(d1)?);
                let mut perm: Vec<i64> = (0..rank as i64).collect();
                perm.swap(d0, d1);
                self.emit(
                    node,
                    "Transpose",
                    vec![x],
                    out,
                    vec![("perm", Attr::Ints(perm))],
                );
            }
            "aten.linear" => {
                let x = a.tensor("input")?;
                let w = a.tensor("weight")?;
                let wt = self.transposed(node, &w)?;
                match a.opt_tensor("bias") {
                    Some(b) => {
                        let mm = self.fresh(node);
                        self.emit(node, "MatMul", vec![x, wt], mm.clone(), vec![]);
                        self.emit(node, "Add", vec![mm, b], out, vec![]);
                    }
                    None => self.emit(node, "MatMul", vec![x, wt], out, vec![]),
                }
            }
            "aten.addmm" => {
                let bias = a.tensor("self")?;
                let m1 = a.tensor("mat1")?;
                let m2 = a.tensor("mat2")?;
                let attrs = vec![
                    ("alpha", Attr::Float(a.float("alpha", 1.0)? as f32)),
                    ("beta", Attr::Float(a.float("beta", 1.0)? as f32)),
                ];
                self.emit(node, "Gemm", vec![m1, m2, bias], out, attrs);
            }
            "aten.mm" | "aten.bmm" | "aten.matmul" => {
                let x = a.tensor("self")?;
                let y = a.tensor(if op == "aten.matmul" { "other" } else { "mat2" })?;
                self.emit(node, "MatMul", vec![x, y], out, vec![]);
            }
            "aten.conv1d" | "aten.conv2d" | "aten.convolution" | "aten.conv_transpose2d" => {
                self.conv(a, op, out)?
            }
            "aten.expand" => {
                let x = a.tensor("self")?;
                let to = self.shape_of(a, &out)?;
                if self.dims(&x).is_some_and(|d| d == self.meta[&out]) {
                    self.emit(node, "Identity", vec![x], out, vec![]);
                } else {
                    // Broadcasting against zeros of the target shape (a symbolic size, the
                    // batch, comes from `x`).
                    let dims: Vec<usize> = to.iter().map(|&d| d.max(1) as usize).collect();
                    let n = synthesized(a, &dims)?;
                    let zeros = self.const_f32(dims, vec![0.0; n]);
                    self.emit(node, "Add", vec![x, zeros], out, vec![]);
                }
            }
            "aten.max_pool2d" | "aten.max_pool2d_with_indices" | "aten.avg_pool2d" => {
                let x = a.tensor("self")?;
                let kernel = a
                    .ints("kernel_size")?
                    .and_then(|k| expand(&k, 2))
                    .ok_or_else(|| a.err("invalid kernel_size"))?;
                let strides = match a.ints("stride")? {
                    Some(s) if !s.is_empty() => {
                        expand(&s, 2).ok_or_else(|| a.err("invalid stride"))?
                    }
                    _ => kernel.clone(),
                };
                let pad = expand(&a.ints("padding")?.unwrap_or_else(|| vec![0]), 2)
                    .ok_or_else(|| a.err("invalid padding"))?;
                let mut attrs = vec![
                    ("kernel_shape", Attr::Ints(kernel)),
                    ("strides", Attr::Ints(strides)),
                    ("pads", Attr::Ints(vec![pad[0], pad[1], pad[0], pad[1]])),
                    (
                        "ceil_mode",
                        Attr::Int(i64::from(a.bool("ceil_mode", false)?)),
                    ),
                ];
                let onnx = if op == "aten.avg_pool2d" {
                    if a.get("divisor_override").is_some() {
                        return Err(a.err("divisor_override is not supported"));
                    }
                    attrs.push((
                        "count_include_pad",
                        Attr::Int(i64::from(a.bool("count_include_pad", true)?)),
                    ));
                    "AveragePool"
                } else {
                    let dil = expand(&a.ints("dilation")?.unwrap_or_else(|| vec![1]), 2)
                        .ok_or_else(|| a.err("invalid dilation"))?;
                    attrs.push(("dilations", Attr::Ints(dil)));
                    "MaxPool"
                };
                self.emit(node, onnx, vec![x], out, attrs);
            }
            "aten.adaptive_avg_pool2d" | "aten._adaptive_avg_pool2d" => {
                let x = a.tensor("self")?;
                let size = a
                    .ints("output_size")?
                    .and_then(|s| expand(&s, 2))
                    .ok_or_else(|| a.err("invalid output_size"))?;
                let dims = self.dims(&x).unwrap_or_default();
                let (h, w) = match dims.as_slice() {
                    [.., Some(h), Some(w)] if dims.len() == 4 => (*h, *w),
                    _ => return Err(a.err("the input's spatial size is not static")),
                };
                if size == [1, 1] {
                    self.emit(node, "GlobalAveragePool", vec![x], out, vec![]);
                } else if size.iter().all(|&s| s > 0) && h % size[0] == 0 && w % size[1] == 0 {
                    let k = vec![h / size[0], w / size[1]];
                    self.emit(
                        node,
                        "AveragePool",
                        vec![x],
                        out,
                        vec![
                            ("kernel_shape", Attr::Ints(k.clone())),
                            ("strides", Attr::Ints(k)),
                        ],
                    );
                } else {
                    return Err(a.err(format!(
                        "adaptive pooling of {h}x{w} to {size:?} (not a divisor) is not supported"
                    )));
                }
            }
            "aten.batch_norm" | "aten._native_batch_norm_legit_no_training" => {
                let x = a.tensor("input")?;
                let mean = a.opt_tensor("running_mean").ok_or_else(|| a.err("batch norm without running statistics (track_running_stats=False) is not supported"))?;
                let var = a.tensor("running_var")?;
                let channels = self
                    .initializers
                    .get(&mean)
                    .map(TensorData::len)
                    .ok_or_else(|| a.err("running_mean is not a stored buffer"))?;
                let scale = match a.opt_tensor("weight") {
                    Some(w) => w,
                    None => self.const_f32(vec![channels], vec![1.0; channels]),
                };
                let bias = match a.opt_tensor("bias") {
                    Some(b) => b,
                    None => self.const_f32(vec![channels], vec![0.0; channels]),
                };
                let eps = a.float("eps", 1e-5)?;
                self.emit(
                    node,
                    "BatchNormalization",
                    vec![x, scale, bias, mean, var],
                    out,
                    vec![("epsilon", Attr::Float(eps as f32))],
                );
            }
            "aten.layer_norm" | "aten.native_layer_norm" => {
                let x = a.tensor("input")?;
                let shape = a
                    .ints("normalized_shape")?
                    .ok_or_else(|| a.err("no normalized_shape"))?;
                let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
                let n = synthesized(a, &dims)?;
                let scale = match a.opt_tensor("weight") {
                    Some(w) => w,
                    None => self.const_f32(dims.clone(), vec![1.0; n]),
                };
                let bias = match a.opt_tensor("bias") {
                    Some(b) => b,
                    None => self.const_f32(dims, vec![0.0; n]),
                };
                let attrs = vec![
                    ("axis", Attr::Int(-(shape.len() as i64))),
                    ("epsilon", Attr::Float(a.float("eps", 1e-5)? as f32)),
                ];
                self.emit(node, "LayerNormalization", vec![x, scale, bias], out, attrs);
            }
            "aten.mean" | "aten.sum" => {
                let x = a.tensor("self")?;
                let dims = a.ints("dim")?.unwrap_or_default();
                let keep = i64::from(a.bool("keepdim", false)?);
                if a.get("dtype").is_some() {
                    return Err(a.err("a dtype argument is not supported"));
                }
                if op == "aten.mean" {
                    let mut attrs = vec![("keepdims", Attr::Int(keep))];
                    if !dims.is_empty() {
                        attrs.push(("axes", Attr::Ints(dims)));
                    }
                    self.emit(node, "ReduceMean", vec![x], out, attrs);
                } else {
                    let mut ins = vec![x];
                    if !dims.is_empty() {
                        let n = dims.len();
                        ins.push(self.const_i64(vec![n], dims));
                    }
                    self.emit(
                        node,
                        "ReduceSum",
                        ins,
                        out,
                        vec![("keepdims", Attr::Int(keep))],
                    );
                }
            }
            "aten.cat" => {
                let xs = a.tensors("tensors")?;
                let axis = a.int("dim", 0)?;
                self.emit(node, "Concat", xs, out, vec![("axis", Attr::Int(axis))]);
            }
            "aten.slice" => {
                let x = a.tensor("self")?;
                let dim = a.int("dim", 0)?;
                let start = a.opt_int("start")?.unwrap_or(0);
                let end = a.opt_int("end")?.unwrap_or(i64::MAX);
                let step = a.int("step", 1)?;
                if step < 1 {
                    return Err(a.err(format!("slice step {step} is not supported")));
                }
                let ins = vec![
                    x,
                    self.const_i64(vec![1], vec![start]),
                    self.const_i64(vec![1], vec![end]),
                    self.const_i64(vec![1], vec![dim]),
                    self.const_i64(vec![1], vec![step]),
                ];
                self.emit(node, "Slice", ins, out, vec![]);
            }
            "aten.select" => {
                let x = a.tensor("self")?;
                let dim = a.int("dim", 0)?;
                let index = a.int("index", 0)?;
                let i = self.const_i64(vec![], vec![index]);
                self.emit(
                    node,
                    "Gather",
                    vec![x, i],
                    out,
                    vec![("axis", Attr::Int(dim))],
                );
            }
            "aten.embedding" => {
                let w = a.tensor("weight")?;
                let i = a.tensor("indices")?;
                self.emit(
                    node,
                    "Gather",
                    vec![w, i],
                    out,
                    vec![("axis", Attr::Int(0))],
                );
            }
            _ => {
                return Err(RuntimeError::UnsupportedOp {
                    op: a.target.to_owned(),
                    node: node.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The output's declared shape for a reshape, one symbolic size (the batch) as -1.
    fn shape_of(&self, a: &Args<'_>, out: &str) -> Result<Vec<i64>, RuntimeError> {
        let dims = self
            .meta
            .get(out)
            .ok_or_else(|| a.err(format!("no shape is recorded for `{out}`")))?;
        if dims.iter().filter(|d| d.is_none()).count() > 1 {
            return Err(a.err(format!(
                "the result `{out}` has more than one symbolic size; only a dynamic batch is supported"
            )));
        }
        let mut shape: Vec<i64> = dims.iter().map(|d| d.unwrap_or(-1)).collect();
        if let (Some(b), Some(first)) = (self.static_batch, dims.first())
            && *first == Some(b)
            && dims.iter().all(Option::is_some)
        {
            shape[0] = -1;
        }
        Ok(shape)
    }

    /// softmax(q·kᵀ·scale + mask)·v, the mask being `attn_mask` (float, added) or the causal
    /// one (`is_causal`, static sizes); no dropout (inference).
    fn attention(&mut self, a: &Args<'_>, out: String) -> Result<(), RuntimeError> {
        let node = a.node;
        let (q, k, v) = (a.tensor("query")?, a.tensor("key")?, a.tensor("value")?);
        if a.float("dropout_p", 0.0)? != 0.0 {
            return Err(a.err("attention dropout is not supported (export in eval mode)"));
        }
        if a.bool("enable_gqa", false)? {
            return Err(a.err("grouped-query attention (enable_gqa) is not supported"));
        }
        let qd = self
            .dims(&q)
            .ok_or_else(|| a.err("the query's shape is unknown"))?;
        let kd = self
            .dims(&k)
            .ok_or_else(|| a.err("the key's shape is unknown"))?;
        let (Some(Some(e)), rank) = (qd.last().copied(), kd.len()) else {
            return Err(a.err("the query's embedding size is not static"));
        };
        if rank < 2 || e <= 0 {
            return Err(a.err("query and key must have at least two dimensions"));
        }
        let scale = match a.get("scale") {
            Some(_) => a.float("scale", 1.0)?,
            None => 1.0 / (e as f64).sqrt(),
        };
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        perm.swap(rank - 2, rank - 1);
        let (kt, scores, scaled) = (self.fresh(node), self.fresh(node), self.fresh(node));
        self.emit(
            node,
            "Transpose",
            vec![k],
            kt.clone(),
            vec![("perm", Attr::Ints(perm))],
        );
        self.emit(node, "MatMul", vec![q, kt], scores.clone(), vec![]);
        let s = self.const_f32(vec![], vec![scale as f32]);
        self.emit(node, "Mul", vec![scores, s], scaled.clone(), vec![]);
        let mut logits = scaled;
        let mask = if let Some(m) = a.opt_tensor("attn_mask") {
            if self
                .initializers
                .get(&m)
                .is_some_and(|t| matches!(t.values, crate::ir::TensorValues::I64(_)))
            {
                return Err(a.err(
                    "a boolean attention mask is not supported (use an additive float mask)",
                ));
            }
            Some(m)
        } else if a.bool("is_causal", false)? {
            let (l, s) = match (qd.get(qd.len().wrapping_sub(2)), kd.get(rank - 2)) {
                (Some(Some(l)), Some(Some(s))) if *l > 0 && *s > 0 => (*l as usize, *s as usize),
                _ => return Err(a.err("causal attention needs static sequence lengths")),
            };
            let n = synthesized(a, &[l, s])?;
            let values = (0..n)
                .map(|i| {
                    if i % s > i / s {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            Some(self.const_f32(vec![l, s], values))
        } else {
            None
        };
        if let Some(m) = mask {
            let masked = self.fresh(node);
            self.emit(node, "Add", vec![logits, m], masked.clone(), vec![]);
            logits = masked;
        }
        let probs = self.fresh(node);
        self.emit(
            node,
            "Softmax",
            vec![logits],
            probs.clone(),
            vec![("axis", Attr::Int(-1))],
        );
        self.emit(node, "MatMul", vec![probs, v], out, vec![]);
        Ok(())
    }

    /// `w` transposed (2-D): a stored weight is transposed once here; otherwise a node.
    fn transposed(&mut self, node: &str, w: &str) -> Result<String, RuntimeError> {
        if let Some(t) = self.initializers.get(w)
            && t.dims.len() == 2
            && let crate::ir::TensorValues::F32(v) = &t.values
        {
            let (r, c) = (t.dims[0], t.dims[1]);
            let mut out = vec![0f32; v.len()];
            for i in 0..r {
                for j in 0..c {
                    out[j * r + i] = v[i * c + j];
                }
            }
            let name = format!("{w}.T");
            self.initializers
                .insert(name.clone(), TensorData::f32(vec![c, r], out));
            return Ok(name);
        }
        let name = self.fresh(node);
        self.emit(
            node,
            "Transpose",
            vec![w.to_owned()],
            name.clone(),
            vec![("perm", Attr::Ints(vec![1, 0]))],
        );
        Ok(name)
    }

    fn conv(&mut self, a: &Args<'_>, op: &str, out: String) -> Result<(), RuntimeError> {
        let x = a.tensor("input")?;
        let w = a.tensor("weight")?;
        let wdims = self
            .dims(&w)
            .ok_or_else(|| a.err("the weight's shape is unknown"))?;
        if wdims.len() < 3 || wdims.iter().any(Option::is_none) {
            return Err(a.err("the weight's shape is not a static N-D convolution kernel"));
        }
        let kernel: Vec<i64> = wdims[2..].iter().map(|d| d.unwrap_or(1)).collect();
        let n = kernel.len();
        let list = |name: &str, default: i64| -> Result<Vec<i64>, RuntimeError> {
            let v = a.ints(name)?.unwrap_or_else(|| vec![default]);
            expand(&v, n)
                .ok_or_else(|| a.err(format!("`{name}` {v:?} does not fit {n} spatial axes")))
        };
        let strides = list("stride", 1)?;
        let dilations = list("dilation", 1)?;
        let pads = match a.string("padding").as_deref() {
            Some("valid") => vec![0; n],
            Some("same") => {
                // PyTorch pads (k-1)·d in total, the extra one on the right.
                let total: Vec<i64> = (0..n)
                    .map(|i| dilations[i].saturating_mul(kernel[i] - 1))
                    .collect();
                let mut p: Vec<i64> = total.iter().map(|t| t / 2).collect();
                p.extend(total.iter().map(|t| t - t / 2));
                p
            }
            Some(other) => return Err(a.err(format!("padding `{other}` is not supported"))),
            None => {
                let p = list("padding", 0)?;
                p.iter().chain(p.iter()).copied().collect()
            }
        };
        let pads = if pads.len() == n {
            pads.iter().chain(pads.iter()).copied().collect()
        } else {
            pads
        };
        let groups = a.int("groups", 1)?;
        let transposed = op == "aten.conv_transpose2d"
            || (op == "aten.convolution" && a.bool("transposed", false)?);
        let mut ins = vec![x, w];
        if let Some(b) = a.opt_tensor("bias") {
            ins.push(b);
        }
        let mut attrs = vec![
            ("kernel_shape", Attr::Ints(kernel)),
            ("strides", Attr::Ints(strides)),
            ("dilations", Attr::Ints(dilations)),
            ("pads", Attr::Ints(pads)),
            ("group", Attr::Int(groups)),
        ];
        if transposed {
            attrs.push(("output_padding", Attr::Ints(list("output_padding", 0)?)));
        }
        self.emit(
            a.node,
            if transposed { "ConvTranspose" } else { "Conv" },
            ins,
            out,
            attrs,
        );
        Ok(())
    }
}
