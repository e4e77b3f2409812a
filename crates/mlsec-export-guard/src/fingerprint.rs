//! The structural fingerprint (op types, domains, attributes and edges, with every tensor and
//! node name replaced by its position) and the weights hash (name, type, dims and bytes of every
//! main-graph initializer).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use mlsec_onnx::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use mlsec_util::hex::encode as hex;
use sha2::{Digest, Sha256};

/// Fingerprint and weights of one model.
#[derive(Debug, Clone, Default)]
pub struct Fingerprint {
    pub structure: String,
    pub weights: String,
    /// SHA-256 of each initializer's bytes (main graph and sparse), by name.
    pub tensors: BTreeMap<String, String>,
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

struct Canon<'a> {
    h: Sha256,
    /// Where external data of attribute tensors is resolved.
    dir: &'a Path,
}

impl Canon<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.h.update((b.len() as u64).to_le_bytes());
        self.h.update(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.h.update(v.to_le_bytes());
    }
}

pub fn compute(model: &ModelProto, dir: &Path) -> Fingerprint {
    let mut c = Canon {
        h: Sha256::new(),
        dir,
    };
    c.str("mlsec-onnx-structure-v1");
    if let Some(g) = &model.graph {
        graph(&mut c, g, &HashMap::new(), 0);
    }
    let mut functions: Vec<_> = model.functions.iter().collect();
    functions.sort_by(|a, b| (a.domain(), a.name()).cmp(&(b.domain(), b.name())));
    for f in functions {
        c.str("function");
        c.str(f.domain());
        c.str(f.name());
        let mut env: HashMap<String, String> = HashMap::new();
        for (i, n) in f.input.iter().enumerate() {
            env.insert(n.clone(), format!("in{i}"));
        }
        nodes(&mut c, &f.node, &mut env, 1);
        for o in &f.output {
            c.str(env.get(o).map_or("?", String::as_str));
        }
    }
    let mut opsets: Vec<(String, i64)> = model
        .opset_import
        .iter()
        .map(|o| (o.domain().to_owned(), o.version()))
        .collect();
    opsets.sort();
    for (d, v) in opsets {
        c.str(&d);
        c.i64(v);
    }
    let structure = hex(&c.h.finalize());
    let (weights, tensors) = weights(model, dir);
    Fingerprint {
        structure,
        weights,
        tensors,
    }
}

fn graph(c: &mut Canon, g: &GraphProto, outer: &HashMap<String, String>, depth: usize) {
    c.str("graph{");
    let mut env: HashMap<String, String> = outer
        .iter()
        .map(|(k, v)| (k.clone(), format!("outer:{v}")))
        .collect();
    let mut inits: Vec<&TensorProto> = g.initializer.iter().collect();
    inits.sort_by(|a, b| a.name().cmp(b.name()));
    for (i, t) in inits.iter().enumerate() {
        env.insert(t.name().to_owned(), format!("init{i}"));
        c.str("init");
        c.i64(i64::from(t.data_type()));
        for d in &t.dims {
            c.i64(*d);
        }
    }
    let mut k = 0;
    for v in &g.input {
        if !env.contains_key(v.name()) || outer.contains_key(v.name()) {
            env.insert(v.name().to_owned(), format!("in{k}"));
            k += 1;
            c.str("input");
            c.bytes(&mlsec_onnx::prost::Message::encode_to_vec(
                &v.r#type.clone().unwrap_or_default(),
            ));
        }
    }
    nodes(c, &g.node, &mut env, depth);
    for v in &g.output {
        c.str("output");
        c.str(env.get(v.name()).map_or("?", String::as_str));
    }
    c.str("}");
}

fn nodes(c: &mut Canon, list: &[NodeProto], env: &mut HashMap<String, String>, depth: usize) {
    for (j, n) in list.iter().enumerate() {
        c.str("node");
        c.str(n.domain());
        c.str(n.op_type());
        for i in &n.input {
            if i.is_empty() {
                c.str("");
            } else {
                c.str(env.get(i).map_or("?", String::as_str));
            }
        }
        c.i64(n.output.len() as i64);
        let mut attrs: Vec<&AttributeProto> = n.attribute.iter().collect();
        attrs.sort_by(|a, b| a.name().cmp(b.name()));
        for a in attrs {
            attribute(c, a, env, depth);
        }
        for (k, o) in n.output.iter().enumerate() {
            if !o.is_empty() {
                env.insert(o.clone(), format!("n{depth}.{j}.{k}"));
            }
        }
    }
}

fn attribute(c: &mut Canon, a: &AttributeProto, env: &HashMap<String, String>, depth: usize) {
    c.str("attr");
    c.str(a.name());
    c.i64(i64::from(a.r#type.unwrap_or(0)));
    c.str(a.ref_attr_name());
    if let Some(f) = a.f {
        c.h.update(f.to_bits().to_le_bytes());
    }
    if let Some(i) = a.i {
        c.i64(i);
    }
    if let Some(s) = &a.s {
        c.bytes(s);
    }
    for f in &a.floats {
        c.h.update(f.to_bits().to_le_bytes());
    }
    for i in &a.ints {
        c.i64(*i);
    }
    for s in &a.strings {
        c.bytes(s);
    }
    for t in a.t.iter().chain(&a.tensors) {
        c.str("tensor");
        c.i64(i64::from(t.data_type()));
        for d in &t.dims {
            c.i64(*d);
        }
        match mlsec_onnx::tensor::tensor_bytes(t, c.dir) {
            Ok(bytes) => c.bytes(&Sha256::digest(&bytes)),
            Err(e) => c.str(&format!("unavailable: {e}")),
        }
    }
    for g in a.g.iter().chain(&a.graphs) {
        graph(c, g, env, depth + 1);
    }
    if let Some(tp) = &a.tp {
        c.bytes(&mlsec_onnx::prost::Message::encode_to_vec(tp));
    }
}

/// Weights hash and per-tensor digests. Large tensors are hashed on both cores.
fn weights(model: &ModelProto, dir: &Path) -> (String, BTreeMap<String, String>) {
    let mut list: Vec<&TensorProto> = Vec::new();
    if let Some(g) = &model.graph {
        list.extend(g.initializer.iter());
        list.extend(
            g.sparse_initializer
                .iter()
                .filter_map(|s| s.values.as_ref()),
        );
    }
    list.sort_by(|a, b| a.name().cmp(b.name()));
    let digests = hash_tensors(&list, dir);
    let mut c = Canon {
        h: Sha256::new(),
        dir,
    };
    c.str("mlsec-onnx-weights-v1");
    let mut per = BTreeMap::new();
    for (t, d) in list.iter().zip(&digests) {
        c.str(t.name());
        c.i64(i64::from(t.data_type()));
        c.i64(t.dims.len() as i64);
        for x in &t.dims {
            c.i64(*x);
        }
        c.str(d);
        per.insert(t.name().to_owned(), d.clone());
    }
    (hex(&c.h.finalize()), per)
}

fn hash_one(t: &TensorProto, dir: &Path) -> String {
    match mlsec_onnx::tensor::tensor_bytes(t, dir) {
        Ok(b) => sha256_hex(&b),
        Err(e) => format!("unavailable: {e}"),
    }
}

fn hash_tensors(list: &[&TensorProto], dir: &Path) -> Vec<String> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || list.len() < 2 {
        return list.iter().map(|t| hash_one(t, dir)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<String>> = list.iter().map(|_| Default::default()).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(t) = list.get(i) else { break };
                    let d = hash_one(t, dir);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = d;
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_default())
        .collect()
}
