//! The model runtime shared by mlsec subcommands (`adversarial`, `inspect`).
//!
//! A [`Model`] maps a batch of inputs to logits, gives the gradient of a loss with respect to
//! the input ([`loss_gradient`]), every intermediate activation by name, and its input
//! metadata. The default backend, [`OnnxModel`], evaluates ONNX graphs in pure Rust on
//! `candle-core` tensors: the graph is decoded by `mlsec-onnx` into a small IR ([`ir`]) and
//! each node is built from differentiable candle ops ([`eval`]), so `backward()` reaches the
//! input. No system `protoc`, no native library.
//!
//! **Invariant:** the model is only evaluated, never trained: Dropout is the identity and
//! BatchNormalization uses its running statistics (eval mode), whatever the file says.

pub mod data;
pub mod eval;
pub mod ir;
pub mod kernels;
pub mod loss;
pub mod parallel;
pub mod pt2;
#[cfg(feature = "torch")]
pub mod torch;

use std::collections::HashMap;
use std::path::Path;

pub use candle_core::{DType, Device, Tensor, Var};
use sha2::{Digest, Sha256};

/// The threads the default backend runs on (its matrix products, and [`parallel`]'s parts of a
/// batch): candle's count (`RAYON_NUM_THREADS`, else the logical CPUs).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Keeps freed heap memory in the process instead of handing it back to the system (glibc's
/// malloc; nothing elsewhere). An attack allocates and frees the same multi-megabyte
/// temporaries at every step (im2col matrices, candle's per-op results and gradient sums); by
/// default glibc serves each with a fresh `mmap` or trims it off the top of the heap when freed,
/// and the page faults of touching those new pages took a third of a PGD run (`resnet_stem`,
/// 512 samples, 40 steps: 1.10 s, 0.76 s with this). Process-wide, so the binary calls it once
/// before it runs a model; the peak RSS stays that of the largest step.
#[allow(unsafe_code)] // mallopt, glibc's only switch for this
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of malloc's thresholds. Served from the heap up to 32 MiB
    // (glibc's largest allowed threshold), never trimmed below 1 GiB of free top.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Whether `path` is a TorchScript archive (`torch.jit.save`: a zip with `code/`), read from the
/// zip's central directory only. An ordinary `torch.save` state dict is a zip without `code/`:
/// weights only, nothing to run. Any build can ask; only the `torch` feature can run one.
pub fn is_torchscript(path: &Path) -> bool {
    let Ok(bytes) = mlsec_formats::sniff::read_file(path) else {
        return false;
    };
    mlsec_formats::zip::ZipArchive::parse(&bytes, mlsec_formats::zip::ZipLimits::default())
        .is_ok_and(|z| z.entries.iter().any(|e| e.name.contains("/code/")))
}

/// Why a model cannot be loaded or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Onnx(#[from] mlsec_onnx::OnnxError),
    #[error("unsupported op `{op}` (node `{node}`): the runtime cannot evaluate this model")]
    UnsupportedOp { op: String, node: String },
    #[error("node `{node}` ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
    #[error("{0}")]
    Model(String),
    /// A problem with a model file, naming the file (the `.pt2` front end).
    #[error("{file}: {message}")]
    Archive { file: String, message: String },
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

/// What a model expects as input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub name: String,
    /// Declared dimensions, the batch dimension first; `None` where symbolic or unknown.
    pub dims: Option<Vec<Option<usize>>>,
    /// The valid input range when the model declares it (metadata `mlsec.input_range` =
    /// `lo,hi`).
    pub range: Option<(f32, f32)>,
}

/// A classifier under test.
pub trait Model {
    /// The input's name, shape and range.
    fn input(&self) -> &InputSpec;
    /// Logits `[batch, classes]` for a batch. Built from differentiable tensor ops, so
    /// [`loss_gradient`] works on any model.
    fn forward(&self, x: &Tensor) -> Result<Tensor, RuntimeError>;
    /// The logits and the gradient of `loss(logits)` w.r.t. `x`; see [`loss_gradient`]. The
    /// default differentiates [`Model::forward`] with candle; other backends use their own
    /// autograd.
    fn loss_gradient(
        &self,
        x: &Tensor,
        loss: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<(Tensor, Tensor), RuntimeError> {
        candle_gradient(self, x, loss)
    }
    /// Every intermediate value by name, in evaluation order (node outputs), for a batch.
    fn activations(&self, x: &Tensor) -> Result<Vec<(String, Tensor)>, RuntimeError>;
    /// Whether the model runs in inference mode (dropout off, running statistics).
    fn is_eval(&self) -> bool;
    /// This model as one that several threads may evaluate at once ([`parallel`]), for
    /// backends that run one evaluation on one thread. The default, `None`, keeps one call per
    /// batch.
    fn sync(&self) -> Option<&(dyn Model + Sync)> {
        None
    }
    /// SHA-256 of the model file, hex.
    fn digest(&self) -> &str;
}

/// The model's logits and the gradient of `loss(logits)` (a scalar) with respect to `x`.
///
/// The loss of a batch should be the sum of per-sample losses, so each sample's gradient is
/// its own.
pub fn loss_gradient(
    model: &dyn Model,
    x: &Tensor,
    loss: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> Result<(Tensor, Tensor), RuntimeError> {
    model.loss_gradient(x, loss)
}

fn candle_gradient<M: Model + ?Sized>(
    model: &M,
    x: &Tensor,
    loss: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> Result<(Tensor, Tensor), RuntimeError> {
    let var = Var::from_tensor(&x.detach())?;
    let logits = model.forward(var.as_tensor())?;
    let value = loss(&logits)?;
    let grads = value.backward()?;
    let grad = match grads.get(var.as_tensor()) {
        Some(g) => g.clone(),
        // The loss does not depend on the input at all: its gradient is zero.
        None => var.as_tensor().zeros_like()?,
    };
    Ok((logits.detach(), grad))
}

/// An ONNX model evaluated on candle tensors (CPU).
#[derive(Debug)]
pub struct OnnxModel {
    graph: ir::Graph,
    consts: HashMap<String, Tensor>,
    input: InputSpec,
    output: String,
    digest: String,
}

impl OnnxModel {
    /// Loads and checks an ONNX file: decodes it, converts it to the IR and checks that every
    /// op is supported, so an unsupported model fails here, naming the op and node.
    pub fn load(path: &Path) -> Result<OnnxModel, RuntimeError> {
        let loaded = mlsec_onnx::load(path)?;
        let digest = mlsec_util::hex::encode(&Sha256::digest(&loaded.bytes));
        let graph = ir::from_onnx(&loaded.model, &loaded.dir)?;
        OnnxModel::from_graph(graph, digest)
    }

    /// A model from an IR graph (tests build graphs by hand).
    pub fn from_graph(graph: ir::Graph, digest: String) -> Result<OnnxModel, RuntimeError> {
        eval::check_supported(&graph)?;
        let first = graph
            .inputs
            .first()
            .ok_or_else(|| RuntimeError::Model("the graph has no input".into()))?;
        if graph.inputs.len() > 1 {
            return Err(RuntimeError::Model(format!(
                "the graph has {} inputs; only single-input classifiers are supported",
                graph.inputs.len()
            )));
        }
        let output = graph
            .outputs
            .first()
            .cloned()
            .ok_or_else(|| RuntimeError::Model("the graph has no output".into()))?;
        let range = graph.metadata.get("mlsec.input_range").and_then(|v| {
            let (lo, hi) = v.split_once(',')?;
            Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
        });
        let input = InputSpec {
            name: first.name.clone(),
            dims: first.dims.clone(),
            range,
        };
        let mut consts = HashMap::new();
        for (name, data) in &graph.initializers {
            consts.insert(name.clone(), eval::to_tensor(data, &Device::Cpu)?);
        }
        Ok(OnnxModel {
            graph,
            consts,
            input,
            output,
            digest,
        })
    }

    pub fn graph(&self) -> &ir::Graph {
        &self.graph
    }

    /// The model with its floating-point constants converted to `dtype` (`F64` for gradient
    /// checks against finite differences); it then expects inputs of that type. Models load
    /// as `F32`.
    pub fn with_float_dtype(mut self, dtype: DType) -> Result<OnnxModel, RuntimeError> {
        if !dtype.is_float() {
            return Err(RuntimeError::Model(format!(
                "{dtype:?} is not a floating-point type"
            )));
        }
        for t in self.consts.values_mut() {
            if t.dtype().is_float() {
                *t = t.to_dtype(dtype)?;
            }
        }
        Ok(self)
    }
}

impl Model for OnnxModel {
    fn input(&self) -> &InputSpec {
        &self.input
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, RuntimeError> {
        let mut env = eval::run(
            &self.graph,
            &self.consts,
            &[(self.input.name.as_str(), x.clone())],
            false,
        )?;
        let out = env
            .remove(&self.output)
            .or_else(|| self.consts.get(&self.output).cloned())
            .ok_or_else(|| RuntimeError::Model(format!("output `{}` missing", self.output)))?;
        if !out.dtype().is_float() {
            return Err(RuntimeError::Model(format!(
                "output `{}` is {:?}, not floating-point logits",
                self.output,
                out.dtype()
            )));
        }
        Ok(out)
    }

    fn activations(&self, x: &Tensor) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        let mut env = eval::run(
            &self.graph,
            &self.consts,
            &[(self.input.name.as_str(), x.clone())],
            true,
        )?;
        let mut out = Vec::new();
        for node in &self.graph.nodes {
            for name in &node.outputs {
                if let Some(t) = env.remove(name) {
                    out.push((name.clone(), t));
                }
            }
        }
        Ok(out)
    }

    fn is_eval(&self) -> bool {
        true
    }

    fn sync(&self) -> Option<&(dyn Model + Sync)> {
        Some(self)
    }

    fn digest(&self) -> &str {
        &self.digest
    }
}
