//! Tensor reconstruction from a simulated PyTorch pickle: `_rebuild_tensor_v2` calls over
//! persistent ids `('storage', torch.FloatStorage, key, location, numel)`, inside (nested)
//! dicts, `OrderedDict`s, lists and `_rebuild_parameter` wrappers. Nothing is called: the
//! arguments are read from the machine's nodes.

use std::collections::HashSet;

use crate::dtype::DType;
use mlsec_pickle::{Machine, Node, NodeId};

/// The magic number of the legacy (pre-zip) `torch.save` format, as the first pickle.
pub const LEGACY_MAGIC: u128 = 0x1950a86a20f9469cfc6c;

/// One tensor as the pickle describes it (a view on a storage).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// State-dict name: dict keys joined with `.`.
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
    /// In elements.
    pub storage_offset: u64,
    pub storage_key: String,
    /// Elements in the storage, as the persistent id says.
    pub storage_numel: u64,
    /// Offset of the `_rebuild_tensor*` call in the file.
    pub offset: u64,
}

impl TensorRef {
    pub fn numel(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// The element after the last one this view touches (in storage elements), or `None`
    /// when it overflows. An empty view touches nothing.
    pub fn storage_end(&self) -> Option<u64> {
        if self.shape.contains(&0) {
            return Some(self.storage_offset);
        }
        let mut last = self.storage_offset;
        for (&d, &s) in self.shape.iter().zip(&self.stride) {
            last = last.checked_add((d - 1).checked_mul(s)?)?;
        }
        last.checked_add(1)
    }

    /// Whether the view is the C-contiguous layout of its shape.
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1u64;
        for (&d, &s) in self.shape.iter().zip(&self.stride).rev() {
            if d != 1 && s != expect {
                return false;
            }
            expect = expect.saturating_mul(d);
        }
        true
    }
}

/// Something in the pickle that looks like a tensor but cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorProblem {
    pub name: String,
    pub offset: u64,
    pub message: String,
}

const MAX_DEPTH: usize = 64;

/// Walks the object graph from `root` and returns every tensor with its state-dict name.
///
/// The memo lets one object be referenced many times, so the graph is a DAG whose unfolding
/// can be exponential in the input (60 nested lists of two references to the previous one is
/// 500 bytes and 2^60 paths). The walk is therefore bounded by the input's size: a few child
/// references examined per node and input byte, and a few bytes of state-dict names per input
/// byte; past that, the walk stops with a problem (a scan error), never a silently shorter
/// tensor list.
pub fn collect_tensors(m: &Machine<'_>, root: NodeId) -> (Vec<TensorRef>, Vec<TensorProblem>) {
    let mut out = Walker {
        m,
        tensors: Vec::new(),
        problems: Vec::new(),
        visiting: HashSet::new(),
        work_left: (m.nodes.len() as u64 + m.data.len() as u64).saturating_mul(8) + 4096,
        name_bytes_left: (m.data.len() as u64).saturating_mul(64) + (1 << 20),
        exhausted: false,
    };
    out.walk(root, String::new(), 0);
    (out.tensors, out.problems)
}

struct Walker<'m, 'a> {
    m: &'m Machine<'a>,
    tensors: Vec<TensorRef>,
    problems: Vec<TensorProblem>,
    visiting: HashSet<NodeId>,
    /// Child references the walk may still examine.
    work_left: u64,
    /// Bytes of state-dict names the walk may still build.
    name_bytes_left: u64,
    exhausted: bool,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Walker<'_, '_> {
    /// Only containers and call results can hold tensors.
    fn container(&self, id: NodeId) -> bool {
        matches!(
            &*self.m.node(id),
            Node::Dict(_) | Node::List(_) | Node::Tuple(_) | Node::Obj(_)
        )
    }

    fn key(&self, id: NodeId) -> Option<String> {
        match &*self.m.node(id) {
            Node::Str(s) => Some(s.to_string()),
            Node::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// Takes one step (and `name_bytes` of names) from the budget; once it is spent, records
    /// one problem and returns false from then on.
    fn charge(&mut self, name: &str, name_bytes: usize) -> bool {
        if self.exhausted {
            return false;
        }
        if self.work_left == 0 || self.name_bytes_left < name_bytes as u64 {
            self.exhausted = true;
            let mut end = name.len().min(128);
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            self.problems.push(TensorProblem {
                name: name[..end].to_owned(),
                offset: self.m.base,
                message: "the object graph shares references too many times to walk \
                          (more paths than the pickle has bytes); tensors past here are not \
                          listed"
                    .to_owned(),
            });
            return false;
        }
        self.work_left -= 1;
        self.name_bytes_left -= name_bytes as u64;
        true
    }

    /// Whether `child` is worth a walk; charged, so that fan-out counts too.
    fn enter(&mut self, child: NodeId, name: &str) -> bool {
        self.charge(name, 0) && self.container(child)
    }

    fn walk(&mut self, id: NodeId, name: String, depth: usize) {
        if depth > MAX_DEPTH
            || !self.container(id)
            || !self.charge(&name, name.len())
            || !self.visiting.insert(id)
        {
            return;
        }
        let m = self.m;
        match &*m.node(id) {
            Node::Dict(pairs) => {
                for &(k, v) in pairs {
                    if !self.enter(v, &name) {
                        continue;
                    }
                    if let Some(key) = self.key(k) {
                        self.walk(v, join(&name, &key), depth + 1);
                    }
                }
            }
            Node::List(items) | Node::Tuple(items) => {
                for (i, &v) in items.iter().enumerate() {
                    if self.enter(v, &name) {
                        self.walk(v, join(&name, &i.to_string()), depth + 1);
                    }
                }
            }
            Node::Obj(obj) => {
                let callee = m.global_name(obj.callee).unwrap_or_default();
                let args = m.seq_of(obj.args).unwrap_or(&[]);
                match callee.as_str() {
                    "torch._utils._rebuild_tensor_v2"
                    | "torch._utils._rebuild_tensor"
                    | "torch._utils._rebuild_tensor_v3" => {
                        self.tensor(args, name.clone(), obj.offset);
                    }
                    "torch._utils._rebuild_parameter"
                    | "torch._utils._rebuild_parameter_with_state"
                    | "torch._utils._rebuild_parameter_v2" => {
                        if let Some(&t) = args.first() {
                            self.walk(t, name.clone(), depth + 1);
                        }
                    }
                    "torch._tensor._rebuild_from_type_v2" | "torch._tensor._rebuild_from_type" => {
                        // (func, type, args, state): func(*args).
                        if let (Some(&f), Some(&a)) = (args.first(), args.get(2))
                            && let Some(inner) = m.seq_of(a)
                            && m.global_name(f)
                                .is_some_and(|g| g.starts_with("torch._utils._rebuild_tensor"))
                        {
                            self.tensor(inner, name.clone(), obj.offset);
                        }
                    }
                    _ => {}
                }
                // Dict-like and list-like results (OrderedDict, ...) hold their items here.
                for &(k, v) in &obj.items {
                    if !self.enter(v, &name) {
                        continue;
                    }
                    if let Some(key) = self.key(k) {
                        self.walk(v, join(&name, &key), depth + 1);
                    }
                }
                for (i, &v) in obj.list.iter().enumerate() {
                    if self.enter(v, &name) {
                        self.walk(v, join(&name, &i.to_string()), depth + 1);
                    }
                }
                // TorchScript modules keep their parameters in the BUILD state.
                if let Some(state) = obj.state {
                    self.walk(state, name.clone(), depth + 1);
                }
                if callee == "collections.OrderedDict"
                    && let Some(&init) = args.first()
                {
                    match key_value_pairs(self.m, init) {
                        Some(pairs) => {
                            for (k, v) in pairs {
                                if self.enter(v, &name)
                                    && let Some(key) = self.key(k)
                                {
                                    self.walk(v, join(&name, &key), depth + 1);
                                }
                            }
                        }
                        None => self.walk(init, name.clone(), depth + 1),
                    }
                }
            }
            _ => {}
        }
        self.visiting.remove(&id);
    }

    fn ints(&self, id: Option<&NodeId>) -> Option<Vec<u64>> {
        let id = *id?;
        // torch.Size is pickled as a plain tuple; also accept `torch.Size(tuple)` calls.
        let items = match &*self.m.node(id) {
            Node::Obj(o) if self.m.global_name(o.callee).as_deref() == Some("torch.Size") => {
                let a = self.m.seq_of(o.args)?;
                self.m.seq_of(*a.first()?)?
            }
            _ => self.m.seq_of(id)?,
        };
        items
            .iter()
            .map(|&i| self.m.int_of(i).and_then(|v| u64::try_from(v).ok()))
            .collect()
    }

    fn tensor(&mut self, args: &[NodeId], name: String, offset: u64) {
        let problem = |message: &str| TensorProblem {
            name: name.clone(),
            offset,
            message: message.to_owned(),
        };
        let Some(&storage) = args.first() else {
            self.problems
                .push(problem("tensor rebuild call without arguments"));
            return;
        };
        let Node::PersId { pid, .. } = &*self.m.node(storage) else {
            self.problems
                .push(problem("tensor storage is not a persistent id"));
            return;
        };
        let Some(pid) = self.m.seq_of(*pid) else {
            self.problems.push(problem("persistent id is not a tuple"));
            return;
        };
        let m = self.m;
        let ok = pid.len() >= 5 && m.str_of(pid[0]) == Some("storage");
        let storage_type = pid.get(1).and_then(|&t| m.global_name(t));
        let dtype = storage_type
            .as_deref()
            .and_then(|t| t.strip_prefix("torch."))
            .and_then(|t| DType::from_torch_storage(t.rsplit('.').next().unwrap_or(t)));
        let key = pid.get(2).and_then(|&k| self.key(k));
        let numel = pid
            .get(4)
            .and_then(|&n| m.int_of(n))
            .and_then(|n| u64::try_from(n).ok());
        let (Some(dtype), Some(key), Some(numel), true) = (dtype, key, numel, ok) else {
            self.problems.push(problem(&format!(
                "unrecognised storage persistent id (storage type {})",
                storage_type.unwrap_or_else(|| "?".into())
            )));
            return;
        };
        let storage_offset = args
            .get(1)
            .and_then(|&o| m.int_of(o))
            .and_then(|o| u64::try_from(o).ok());
        let shape = self.ints(args.get(2));
        let stride = self.ints(args.get(3));
        let (Some(storage_offset), Some(shape), Some(stride)) = (storage_offset, shape, stride)
        else {
            self.problems.push(problem(
                "tensor offset, size or stride is not a tuple of integers",
            ));
            return;
        };
        if shape.len() != stride.len() {
            self.problems
                .push(problem("tensor size and stride have different lengths"));
            return;
        }
        self.tensors.push(TensorRef {
            name,
            dtype,
            shape,
            stride,
            storage_offset,
            storage_key: key,
            storage_numel: numel,
            offset,
        });
    }
}

/// Whether a stream's root is the legacy format's magic number.
pub fn is_legacy_magic(m: &Machine<'_>, root: NodeId) -> bool {
    match &*m.node(root) {
        Node::BigInt(b) => {
            let mut buf = [0u8; 16];
            b.len() <= 16 && {
                buf[..b.len()].copy_from_slice(b);
                u128::from_le_bytes(buf) == LEGACY_MAGIC
            }
        }
        _ => false,
    }
}

/// Every persistent id reachable from `root`, with its state-dict name (dict keys joined with
/// `.`) and the pid node: how the legacy tar format's `pickle` member refers to tensors.
pub fn collect_persistent_ids(m: &Machine<'_>, root: NodeId) -> Vec<(String, NodeId)> {
    fn walk(
        m: &Machine<'_>,
        id: NodeId,
        name: String,
        depth: usize,
        seen: &mut HashSet<NodeId>,
        out: &mut Vec<(String, NodeId)>,
    ) {
        if depth > MAX_DEPTH || !seen.insert(id) {
            return;
        }
        let key = |k: NodeId| match &*m.node(k) {
            Node::Str(s) => Some(s.to_string()),
            Node::Int(i) => Some(i.to_string()),
            _ => None,
        };
        match &*m.node(id) {
            Node::PersId { pid, .. } => out.push((name, *pid)),
            Node::Dict(pairs) => {
                for &(k, v) in pairs {
                    if let Some(k) = key(k) {
                        walk(m, v, join(&name, &k), depth + 1, seen, out);
                    }
                }
            }
            Node::List(items) | Node::Tuple(items) => {
                for (i, &v) in items.iter().enumerate() {
                    walk(m, v, join(&name, &i.to_string()), depth + 1, seen, out);
                }
            }
            Node::Obj(obj) => {
                for &(k, v) in &obj.items {
                    if let Some(k) = key(k) {
                        walk(m, v, join(&name, &k), depth + 1, seen, out);
                    }
                }
                for (i, &v) in obj.list.iter().enumerate() {
                    walk(m, v, join(&name, &i.to_string()), depth + 1, seen, out);
                }
                if let Some(state) = obj.state {
                    walk(m, state, name.clone(), depth + 1, seen, out);
                }
                if m.global_name(obj.callee).as_deref() == Some("collections.OrderedDict")
                    && let Some(&init) = m.seq_of(obj.args).and_then(|a| a.first())
                {
                    match key_value_pairs(m, init) {
                        Some(pairs) => {
                            for (k, v) in pairs {
                                if let Some(k) = key(k) {
                                    walk(m, v, join(&name, &k), depth + 1, seen, out);
                                }
                            }
                        }
                        None => walk(m, init, name, depth + 1, seen, out),
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(m, root, String::new(), 0, &mut HashSet::new(), &mut out);
    out
}

/// `OrderedDict(init)` where `init` is a sequence of `[key, value]` pairs (as Python 2 era
/// `torch.save` wrote state dicts: lists of 2-element lists or tuples): the pairs, so tensors
/// are named by their keys rather than by their positions (`lin0.model.1.weight`, not `0.1`).
pub fn key_value_pairs(m: &Machine<'_>, init: NodeId) -> Option<Vec<(NodeId, NodeId)>> {
    m.seq_of(init)?
        .iter()
        .map(|&item| match m.seq_of(item)? {
            &[k, v] if matches!(&*m.node(k), Node::Str(_) | Node::Int(_)) => Some((k, v)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_dict_from_list_pairs_keeps_the_keys() {
        // OrderedDict([['lin0.weight', 1], ['lin1.weight', 2]]), protocol 2.
        let data = b"\x80\x02ccollections\nOrderedDict\n]](X\x0b\x00\x00\x00lin0.weightK\x01ea](X\x0b\x00\x00\x00lin1.weightK\x02ea\x85R.";
        let mut m = crate::joblib::machine(data, 0);
        m.run_all();
        let root = m.streams[0].root.expect("parses");
        let Node::Obj(o) = &*m.node(root) else {
            panic!()
        };
        let init = m.seq_of(o.args).unwrap()[0];
        let pairs = key_value_pairs(&m, init).expect("pairs");
        let keys: Vec<&str> = pairs.iter().map(|&(k, _)| m.str_of(k).unwrap()).collect();
        assert_eq!(keys, ["lin0.weight", "lin1.weight"]);
        // A plain list of tensors is not a list of pairs.
        let data = b"\x80\x02]K\x01a.";
        let mut m = crate::joblib::machine(data, 0);
        m.run_all();
        assert!(key_value_pairs(&m, m.streams[0].root.unwrap()).is_none());
    }
}
