//! The runtime's own small graph IR: nodes with attributes and constant tensors. The
//! evaluator works on this, not on protobuf types, so another front end (a hand-built graph in
//! a test, another exchange format) only needs an adapter.

use std::collections::BTreeMap;
use std::path::Path;

use mlsec_onnx::proto;

use crate::RuntimeError;

/// A constant tensor: f32 for floating-point types, i64 for integer and boolean types.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorData {
    pub dims: Vec<usize>,
    pub values: TensorValues,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TensorValues {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl TensorData {
    pub fn f32(dims: Vec<usize>, values: Vec<f32>) -> TensorData {
        TensorData {
            dims,
            values: TensorValues::F32(values),
        }
    }

    pub fn i64(dims: Vec<usize>, values: Vec<i64>) -> TensorData {
        TensorData {
            dims,
            values: TensorValues::I64(values),
        }
    }

    pub fn len(&self) -> usize {
        match &self.values {
            TensorValues::F32(v) => v.len(),
            TensorValues::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Float(f32),
    Int(i64),
    Str(String),
    Tensor(TensorData),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    /// A kind the evaluator never reads (graphs, strings lists, type protos).
    Other,
}

/// One operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's name, or `op_type#index` when the file gives none.
    pub name: String,
    pub op_type: String,
    /// Operator set domain; empty for the default ONNX domain.
    pub domain: String,
    /// Input value names; an empty name is an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: BTreeMap<String, Attr>,
}

/// A graph input with its declared shape (`None` for a symbolic or unknown dimension).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub dims: Option<Vec<Option<usize>>>,
}

/// A whole graph, its nodes in topological order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    /// Default-domain opset version.
    pub opset: i64,
    pub nodes: Vec<Node>,
    pub initializers: BTreeMap<String, TensorData>,
    /// Inputs that are not initializers.
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<String>,
    /// `metadata_props` of the model.
    pub metadata: BTreeMap<String, String>,
}

const MAX_ELEMENTS: u64 = 1 << 32;

/// Converts a decoded ONNX model into the IR; `model_dir` is where external data lives.
pub fn from_onnx(model: &proto::ModelProto, model_dir: &Path) -> Result<Graph, RuntimeError> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| RuntimeError::Model("the model has no graph".into()))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| {
            o.domain.as_deref().unwrap_or("").is_empty() || o.domain.as_deref() == Some("ai.onnx")
        })
        .and_then(|o| o.version)
        .unwrap_or(1);
    let mut initializers = BTreeMap::new();
    for t in &graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        let data = tensor_from_proto(t, model_dir)
            .map_err(|e| RuntimeError::Model(format!("initializer `{name}`: {e}")))?;
        initializers.insert(name, data);
    }
    if !graph.sparse_initializer.is_empty() {
        return Err(RuntimeError::Model(
            "sparse initializers are not supported".into(),
        ));
    }
    let mut nodes = Vec::with_capacity(graph.node.len());
    for (index, n) in graph.node.iter().enumerate() {
        let op_type = n.op_type.clone().unwrap_or_default();
        let name = match n.name.as_deref() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("{op_type}#{index}"),
        };
        let mut attrs = BTreeMap::new();
        for a in &n.attribute {
            let key = a.name.clone().unwrap_or_default();
            let value = attr_from_proto(a, model_dir).map_err(|e| RuntimeError::Node {
                node: name.clone(),
                op: op_type.clone(),
                message: format!("attribute `{key}`: {e}"),
            })?;
            attrs.insert(key, value);
        }
        nodes.push(Node {
            name,
            op_type,
            domain: n.domain.clone().unwrap_or_default(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
        });
    }
    let inputs = graph
        .input
        .iter()
        .filter(|i| !initializers.contains_key(i.name.as_deref().unwrap_or("")))
        .map(|i| ValueInfo {
            name: i.name.clone().unwrap_or_default(),
            dims: value_dims(i),
        })
        .collect();
    let outputs = graph
        .output
        .iter()
        .map(|o| o.name.clone().unwrap_or_default())
        .collect();
    let metadata = model
        .metadata_props
        .iter()
        .map(|p| {
            (
                p.key.clone().unwrap_or_default(),
                p.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    Ok(Graph {
        name: graph.name.clone().unwrap_or_default(),
        opset,
        nodes,
        initializers,
        inputs,
        outputs,
        metadata,
    })
}

fn value_dims(info: &proto::ValueInfoProto) -> Option<Vec<Option<usize>>> {
    use proto::tensor_shape_proto::dimension::Value as D;
    use proto::type_proto::Value as T;
    let ty = info.r#type.as_ref()?;
    let Some(T::TensorType(tensor)) = &ty.value else {
        return None;
    };
    let shape = tensor.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(D::DimValue(v)) if v >= 0 => Some(v as usize),
                _ => None,
            })
            .collect(),
    )
}

/// Why an ONNX tensor or attribute cannot be brought into the IR.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    #[error("invalid dims {0:?}")]
    Dims(Vec<i64>),
    #[error("{0} elements is more than the runtime accepts")]
    TooLarge(u64),
    #[error(transparent)]
    Data(#[from] mlsec_onnx::tensor::DataError),
    #[error("unknown data type {0}")]
    UnknownType(i32),
    /// The type's name (`mlsec_onnx::tensor::type_name`).
    #[error("data type {0} is not supported by the runtime")]
    Unsupported(String),
    #[error("has {len} bytes of data, dims {dims:?} of {type_name} need {need}")]
    Size {
        len: usize,
        dims: Vec<i64>,
        type_name: String,
        need: usize,
    },
    #[error("tensor attribute without a tensor")]
    NoTensor,
}

fn attr_from_proto(a: &proto::AttributeProto, model_dir: &Path) -> Result<Attr, TensorError> {
    use proto::attribute_proto::AttributeType as A;
    let ty = a.r#type.and_then(|t| A::try_from(t).ok());
    Ok(match ty {
        Some(A::Float) => Attr::Float(a.f.unwrap_or_default()),
        Some(A::Int) => Attr::Int(a.i.unwrap_or_default()),
        Some(A::String) => {
            Attr::Str(String::from_utf8_lossy(a.s.as_deref().unwrap_or_default()).into_owned())
        }
        Some(A::Tensor) => match &a.t {
            Some(t) => Attr::Tensor(tensor_from_proto(t, model_dir)?),
            None => return Err(TensorError::NoTensor),
        },
        Some(A::Floats) => Attr::Floats(a.floats.clone()),
        Some(A::Ints) => Attr::Ints(a.ints.clone()),
        // Files written without the type field: infer from what is set.
        None if a.f.is_some() => Attr::Float(a.f.unwrap_or_default()),
        None if a.i.is_some() => Attr::Int(a.i.unwrap_or_default()),
        None if !a.ints.is_empty() => Attr::Ints(a.ints.clone()),
        None if !a.floats.is_empty() => Attr::Floats(a.floats.clone()),
        _ => Attr::Other,
    })
}

/// Decodes a tensor's data into f32 (floating types) or i64 (integer and bool types).
pub fn tensor_from_proto(
    t: &proto::TensorProto,
    model_dir: &Path,
) -> Result<TensorData, TensorError> {
    use proto::tensor_proto::DataType as D;
    let count = mlsec_onnx::tensor::element_count(&t.dims)
        .ok_or_else(|| TensorError::Dims(t.dims.clone()))?;
    if count > MAX_ELEMENTS {
        return Err(TensorError::TooLarge(count));
    }
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let count = count as usize;
    let data_type = t.data_type.unwrap_or_default();
    let bytes = mlsec_onnx::tensor::tensor_bytes(t, model_dir)?;
    let dt = D::try_from(data_type).map_err(|_| TensorError::UnknownType(data_type))?;
    let width = match dt {
        D::Float | D::Int32 | D::Uint32 => 4,
        D::Double | D::Int64 | D::Uint64 => 8,
        D::Int16 | D::Uint16 | D::Float16 | D::Bfloat16 => 2,
        D::Int8 | D::Uint8 | D::Bool => 1,
        _ => {
            return Err(TensorError::Unsupported(mlsec_onnx::tensor::type_name(
                data_type,
            )));
        }
    };
    if bytes.len() != count * width {
        return Err(TensorError::Size {
            len: bytes.len(),
            dims: t.dims.clone(),
            type_name: mlsec_onnx::tensor::type_name(data_type),
            need: count * width,
        });
    }
    let chunks = bytes.chunks_exact(width);
    let values = match dt {
        D::Float => TensorValues::F32(
            chunks
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        D::Double => TensorValues::F32(
            chunks
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()) as f32)
                .collect(),
        ),
        D::Float16 => TensorValues::F32(
            chunks
                .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
                .collect(),
        ),
        D::Bfloat16 => TensorValues::F32(
            chunks
                .map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
                .collect(),
        ),
        D::Int64 => TensorValues::I64(
            chunks
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        ),
        D::Uint64 => TensorValues::I64(
            chunks
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()) as i64)
                .collect(),
        ),
        D::Int32 => TensorValues::I64(
            chunks
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or_default())))
                .collect(),
        ),
        D::Uint32 => TensorValues::I64(
            chunks
                .map(|c| i64::from(u32::from_le_bytes(c.try_into().unwrap_or_default())))
                .collect(),
        ),
        D::Int16 => TensorValues::I64(
            chunks
                .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        D::Uint16 => TensorValues::I64(
            chunks
                .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        D::Int8 => TensorValues::I64(chunks.map(|c| i64::from(c[0] as i8)).collect()),
        D::Uint8 | D::Bool => TensorValues::I64(chunks.map(|c| i64::from(c[0])).collect()),
        _ => unreachable!("width table above covers every accepted type"),
    };
    Ok(TensorData { dims, values })
}
