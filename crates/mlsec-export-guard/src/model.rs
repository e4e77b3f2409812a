//! Views over a decoded model: every graph scope (main graph, subgraphs of control-flow
//! nodes, model-local functions, training graphs), every tensor wherever it is stored, and the
//! main graph with model-local functions inlined for the dataflow rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mlsec_onnx::proto::{
    AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, SparseTensorProto,
    TensorProto,
};

/// What kind of scope a graph is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Main,
    Subgraph,
    Function,
    Training,
}

/// One list of nodes with its own names.
pub struct Scope<'a> {
    /// Message path, e.g. `graph.node[3].attribute[0].g`.
    pub path: String,
    pub kind: ScopeKind,
    pub nodes: &'a [NodeProto],
    pub initializers: &'a [TensorProto],
    pub sparse: &'a [SparseTensorProto],
    pub graph: Option<&'a GraphProto>,
}

/// Every scope of the model, depth-first, main graph first.
pub fn scopes(model: &ModelProto) -> Vec<Scope<'_>> {
    let mut out = Vec::new();
    if let Some(g) = &model.graph {
        push_graph(g, "graph".to_owned(), ScopeKind::Main, &mut out);
    }
    for (i, f) in model.functions.iter().enumerate() {
        push_function(f, format!("functions[{i}]"), &mut out);
    }
    for (i, t) in model.training_info.iter().enumerate() {
        if let Some(g) = &t.initialization {
            push_graph(
                g,
                format!("training_info[{i}].initialization"),
                ScopeKind::Training,
                &mut out,
            );
        }
        if let Some(g) = &t.algorithm {
            push_graph(
                g,
                format!("training_info[{i}].algorithm"),
                ScopeKind::Training,
                &mut out,
            );
        }
    }
    out
}

fn push_graph<'a>(g: &'a GraphProto, path: String, kind: ScopeKind, out: &mut Vec<Scope<'a>>) {
    out.push(Scope {
        path: path.clone(),
        kind,
        nodes: &g.node,
        initializers: &g.initializer,
        sparse: &g.sparse_initializer,
        graph: Some(g),
    });
    push_subgraphs(&g.node, &path, kind, out);
}

fn push_function<'a>(f: &'a FunctionProto, path: String, out: &mut Vec<Scope<'a>>) {
    out.push(Scope {
        path: path.clone(),
        kind: ScopeKind::Function,
        nodes: &f.node,
        initializers: &[],
        sparse: &[],
        graph: None,
    });
    push_subgraphs(&f.node, &path, ScopeKind::Function, out);
}

fn push_subgraphs<'a>(
    nodes: &'a [NodeProto],
    path: &str,
    kind: ScopeKind,
    out: &mut Vec<Scope<'a>>,
) {
    let sub_kind = if kind == ScopeKind::Main {
        ScopeKind::Subgraph
    } else {
        kind
    };
    for (n, node) in nodes.iter().enumerate() {
        for (a, attr) in node.attribute.iter().enumerate() {
            let base = format!("{path}.node[{n}].attribute[{a}]");
            if let Some(g) = &attr.g {
                push_graph(g, format!("{base}.g"), sub_kind, out);
            }
            for (k, g) in attr.graphs.iter().enumerate() {
                push_graph(g, format!("{base}.graphs[{k}]"), sub_kind, out);
            }
        }
    }
}

/// Where a tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    Initializer,
    SparseValues,
    SparseIndices,
    Attribute,
}

/// A tensor with its message path.
pub struct TensorRef<'a> {
    pub path: String,
    pub tensor: &'a TensorProto,
    pub role: TensorRole,
}

/// Every tensor of every scope: initializers, sparse initializers, attribute tensors.
pub fn tensors<'a>(scopes: &[Scope<'a>]) -> Vec<TensorRef<'a>> {
    let mut out = Vec::new();
    for scope in scopes {
        for (i, t) in scope.initializers.iter().enumerate() {
            out.push(TensorRef {
                path: format!("{}.initializer[{i}]", scope.path),
                tensor: t,
                role: TensorRole::Initializer,
            });
        }
        for (i, s) in scope.sparse.iter().enumerate() {
            push_sparse(
                s,
                &format!("{}.sparse_initializer[{i}]", scope.path),
                &mut out,
            );
        }
        for (n, node) in scope.nodes.iter().enumerate() {
            for (a, attr) in node.attribute.iter().enumerate() {
                let base = format!("{}.node[{n}].attribute[{a}]", scope.path);
                attribute_tensors(attr, &base, &mut out);
            }
        }
    }
    out
}

fn push_sparse<'a>(s: &'a SparseTensorProto, base: &str, out: &mut Vec<TensorRef<'a>>) {
    if let Some(v) = &s.values {
        out.push(TensorRef {
            path: format!("{base}.values"),
            tensor: v,
            role: TensorRole::SparseValues,
        });
    }
    if let Some(i) = &s.indices {
        out.push(TensorRef {
            path: format!("{base}.indices"),
            tensor: i,
            role: TensorRole::SparseIndices,
        });
    }
}

fn attribute_tensors<'a>(attr: &'a AttributeProto, base: &str, out: &mut Vec<TensorRef<'a>>) {
    if let Some(t) = &attr.t {
        out.push(TensorRef {
            path: format!("{base}.t"),
            tensor: t,
            role: TensorRole::Attribute,
        });
    }
    for (k, t) in attr.tensors.iter().enumerate() {
        out.push(TensorRef {
            path: format!("{base}.tensors[{k}]"),
            tensor: t,
            role: TensorRole::Attribute,
        });
    }
    if let Some(s) = &attr.sparse_tensor {
        push_sparse(s, &format!("{base}.sparse_tensor"), out);
    }
    for (k, s) in attr.sparse_tensors.iter().enumerate() {
        push_sparse(s, &format!("{base}.sparse_tensors[{k}]"), out);
    }
}

/// The names a subgraph uses from enclosing scopes (inputs its nodes read that it does not
/// define itself), recursively.
pub fn outer_refs(g: &GraphProto) -> BTreeSet<String> {
    let mut defined: BTreeSet<&str> = BTreeSet::new();
    defined.extend(g.input.iter().filter_map(|v| v.name.as_deref()));
    defined.extend(g.initializer.iter().filter_map(|t| t.name.as_deref()));
    defined.extend(
        g.sparse_initializer
            .iter()
            .filter_map(|s| s.values.as_ref().and_then(|v| v.name.as_deref())),
    );
    for n in &g.node {
        defined.extend(n.output.iter().map(String::as_str));
    }
    let mut out = BTreeSet::new();
    for n in &g.node {
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            if !defined.contains(i.as_str()) {
                out.insert(i.clone());
            }
        }
        for r in node_outer_refs(n) {
            if !defined.contains(r.as_str()) {
                out.insert(r);
            }
        }
    }
    out
}

/// Outer names used by the subgraphs of one node.
pub fn node_outer_refs(n: &NodeProto) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for attr in &n.attribute {
        for g in attr.g.iter().chain(attr.graphs.iter()) {
            out.extend(outer_refs(g));
        }
    }
    out
}

/// One node of the inlined main graph.
pub struct FlatNode<'a> {
    /// Message path of the node (for inlined nodes, the call site then the function node).
    pub path: String,
    pub node: &'a NodeProto,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Names read by the node's subgraphs from this scope.
    pub outer: Vec<String>,
}

/// The main graph with model-local functions inlined.
pub struct Flat<'a> {
    pub nodes: Vec<FlatNode<'a>>,
    /// Graph inputs that are not initializers.
    pub raw_inputs: BTreeSet<String>,
    pub outputs: Vec<String>,
    /// Initializers and `Constant` outputs, by name.
    pub constants: BTreeMap<String, &'a TensorProto>,
    pub producer: HashMap<String, usize>,
}

/// Inlining stops at this depth of nested function calls, and at this many nodes.
const INLINE_DEPTH: usize = 8;
const INLINE_NODES: usize = 200_000;

impl<'a> Flat<'a> {
    pub fn build(model: &'a ModelProto) -> Option<Flat<'a>> {
        let g = model.graph.as_ref()?;
        let functions: HashMap<(&str, &str), (usize, &FunctionProto)> = model
            .functions
            .iter()
            .enumerate()
            .map(|(i, f)| ((f.domain(), f.name()), (i, f)))
            .collect();
        let mut flat = Flat {
            nodes: Vec::new(),
            raw_inputs: BTreeSet::new(),
            outputs: g.output.iter().filter_map(|v| v.name.clone()).collect(),
            constants: BTreeMap::new(),
            producer: HashMap::new(),
        };
        let inits: BTreeSet<&str> = g
            .initializer
            .iter()
            .filter_map(|t| t.name.as_deref())
            .collect();
        flat.raw_inputs = g
            .input
            .iter()
            .filter_map(|v| v.name.as_deref())
            .filter(|n| !inits.contains(n))
            .map(str::to_owned)
            .collect();
        for t in &g.initializer {
            if let Some(name) = &t.name {
                flat.constants.insert(name.clone(), t);
            }
        }
        for s in &g.sparse_initializer {
            if let Some(v) = &s.values
                && let Some(name) = &v.name
            {
                flat.constants.insert(name.clone(), v);
            }
        }
        let identity = |s: &str| s.to_owned();
        flat.push_nodes(&g.node, "graph", &identity, &functions, 0);
        for (i, n) in flat.nodes.iter().enumerate() {
            for o in &n.outputs {
                if !o.is_empty() {
                    flat.producer.insert(o.clone(), i);
                }
            }
            if n.node.op_type() == "Constant"
                && n.node.domain().is_empty()
                && let (Some(attr), Some(o)) = (
                    n.node.attribute.iter().find(|a| a.name() == "value"),
                    n.outputs.first(),
                )
                && let Some(t) = &attr.t
            {
                flat.constants.insert(o.clone(), t);
            }
        }
        Some(flat)
    }

    fn push_nodes(
        &mut self,
        nodes: &'a [NodeProto],
        path: &str,
        rename: &dyn Fn(&str) -> String,
        functions: &HashMap<(&str, &str), (usize, &'a FunctionProto)>,
        depth: usize,
    ) {
        for (i, node) in nodes.iter().enumerate() {
            if self.nodes.len() >= INLINE_NODES {
                return;
            }
            let node_path = format!("{path}.node[{i}]");
            let inputs: Vec<String> = node
                .input
                .iter()
                .map(|s| {
                    if s.is_empty() {
                        String::new()
                    } else {
                        rename(s)
                    }
                })
                .collect();
            let outputs: Vec<String> = node
                .output
                .iter()
                .map(|s| {
                    if s.is_empty() {
                        String::new()
                    } else {
                        rename(s)
                    }
                })
                .collect();
            if depth < INLINE_DEPTH
                && let Some((fi, f)) = functions.get(&(node.domain(), node.op_type()))
            {
                let mut map: HashMap<&str, String> = HashMap::new();
                for (formal, actual) in f.input.iter().zip(&inputs) {
                    map.insert(formal, actual.clone());
                }
                for (formal, actual) in f.output.iter().zip(&outputs) {
                    map.insert(formal, actual.clone());
                }
                let prefix = format!("{node_path}>");
                let inner = move |s: &str| {
                    map.get(s)
                        .cloned()
                        .unwrap_or_else(|| format!("{prefix}{s}"))
                };
                self.push_nodes(
                    &f.node,
                    &format!("{node_path}>functions[{fi}]"),
                    &inner,
                    functions,
                    depth + 1,
                );
                continue;
            }
            let outer = node_outer_refs(node).iter().map(|s| rename(s)).collect();
            self.nodes.push(FlatNode {
                path: node_path,
                node,
                inputs,
                outputs,
                outer,
            });
        }
    }
}
