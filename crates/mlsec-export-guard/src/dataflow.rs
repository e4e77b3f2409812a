//! Dataflow facts over the inlined main graph, for the backdoor heuristics.
//!
//! Dependence here is dependence on *values*: `Shape`, `Size` and `SequenceLength` read only
//! the extent of their input, `CastLike` reads only the type of its second input, and a `Mul`
//! by a scalar integer zero constant (how `torch.onnx` keeps an unused input alive: silero-vad's
//! `stateN = state + Cast(sr * 0)`) discards its other operand. A trigger is a pattern in input
//! values, so none of these carries one; counting them made every causal attention mask
//! (`Range(Shape(q))` compared with itself) and every shape-dependent squeeze look
//! input-conditioned.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use mlsec_onnx::proto::{GraphProto, NodeProto};
use mlsec_onnx::tensor;

use crate::model::{Flat, FlatNode};
use crate::ops;

/// Per-node facts.
pub struct Facts {
    /// The node's value depends on a raw graph input.
    pub from_input: Vec<bool>,
    /// A trunk op (Conv, MatMul, ...) is in the node's backward slice.
    pub through_trunk: Vec<bool>,
    /// Raw inputs (bit per input, see [`Facts::input_bit`]) whose values reach the node.
    pub inputs_of: Vec<u64>,
    /// Hops from the node to a graph output (0: it produces one), `None` if it reaches none.
    pub to_output: Vec<Option<usize>>,
    /// The node is a learned layer: a trunk op, or a control-flow node whose subgraphs hold one.
    pub trunk: Vec<bool>,
    /// Raw inputs (bit per input, see [`Facts::input_bit`]) whose values reach the node
    /// through a learned layer.
    pub via_trunk: Vec<u64>,
    /// Raw inputs whose values reach a learned layer anywhere in the graph: the data the model
    /// computes on, as opposed to side inputs (masks, states, sample rates, counts).
    pub data_inputs: u64,
    /// The graph has any trunk op at all.
    pub has_trunk: bool,
    /// The bit of each raw input in the masks (inputs past the 63rd share the last bit, which
    /// can only make two of them look like the same input).
    input_bits: HashMap<String, u64>,
}

/// A path found from a value back to a raw input without passing a trunk op.
#[derive(Debug, Clone)]
pub struct Trace {
    pub input: String,
    /// Op types on the way, nearest first.
    pub ops: Vec<String>,
    pub comparisons: usize,
    pub reductions: usize,
}

const MAX_PASSES: usize = 64;
const MAX_VISIT: usize = 100_000;

/// The inputs (and subgraph reads) whose values the node's outputs depend on.
pub fn value_reads<'f>(flat: &'f Flat<'_>, node: &'f FlatNode<'_>) -> Vec<&'f str> {
    let inputs = node.inputs.iter().map(String::as_str);
    let mut reads: Vec<&str> = match node.node.op_type() {
        "Shape" | "Size" | "SequenceLength" if node.node.domain().is_empty() => Vec::new(),
        "CastLike" if node.node.domain().is_empty() => inputs.take(1).collect(),
        "Mul"
            if node.node.domain().is_empty()
                && node.inputs.iter().any(|v| is_scalar_zero(flat, v)) =>
        {
            Vec::new()
        }
        _ => inputs.collect(),
    };
    reads.extend(node.outer.iter().map(String::as_str));
    reads.retain(|s| !s.is_empty());
    reads
}

/// A one-element integer constant equal to zero. Integer only: a float zero still passes NaN
/// and infinity through (`inf * 0` is NaN), which a trigger could test for.
fn is_scalar_zero(flat: &Flat<'_>, value: &str) -> bool {
    let Some(c) = flat.constants.get(value) else {
        return false;
    };
    if tensor::element_count(&c.dims) != Some(1) || !is_integer(c.data_type()) {
        return false;
    }
    let Ok(bytes) = tensor::tensor_bytes(c, Path::new("/nonexistent")) else {
        return false;
    };
    !bytes.is_empty() && bytes.iter().all(|&b| b == 0)
}

fn is_integer(data_type: i32) -> bool {
    use mlsec_onnx::proto::tensor_proto::DataType as D;
    matches!(
        D::try_from(data_type),
        Ok(D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::Uint8 | D::Uint16 | D::Uint32 | D::Uint64)
    )
}

/// Whether a node is a learned layer: a trunk op, or control flow with one in a subgraph.
pub fn is_trunk_node(node: &NodeProto) -> bool {
    ops::is_trunk(node.op_type())
        || node
            .attribute
            .iter()
            .flat_map(|a| a.g.iter().chain(&a.graphs))
            .any(graph_has_trunk)
}

/// Whether a graph (or a subgraph of it) holds a trunk op.
pub fn graph_has_trunk(g: &GraphProto) -> bool {
    g.node.iter().any(is_trunk_node)
}

impl Facts {
    pub fn compute(flat: &Flat<'_>) -> Facts {
        let n = flat.nodes.len();
        let input_bits: HashMap<String, u64> = flat
            .raw_inputs
            .iter()
            .enumerate()
            .map(|(k, name)| (name.clone(), 1u64 << k.min(63)))
            .collect();
        let trunk: Vec<bool> = flat.nodes.iter().map(|f| is_trunk_node(f.node)).collect();
        let reads: Vec<Vec<&str>> = flat.nodes.iter().map(|f| value_reads(flat, f)).collect();
        let mut from_input = vec![false; n];
        let mut through_trunk = vec![false; n];
        let mut inputs_of = vec![0u64; n];
        let mut via_trunk = vec![0u64; n];
        // Nodes are topologically sorted in a valid model; a few passes settle hostile orders.
        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for i in 0..n {
                let mut fi = false;
                let mut tt = trunk[i];
                let mut mask = 0u64;
                let mut via = 0u64;
                for name in &reads[i] {
                    if let Some(&bit) = input_bits.get(*name) {
                        fi = true;
                        mask |= bit;
                    }
                    if let Some(&p) = flat.producer.get(*name) {
                        fi |= from_input[p];
                        tt |= through_trunk[p];
                        mask |= inputs_of[p];
                        via |= via_trunk[p];
                    }
                }
                if trunk[i] {
                    via |= mask;
                }
                let new = (
                    from_input[i] | fi,
                    through_trunk[i] | tt,
                    inputs_of[i] | mask,
                    via_trunk[i] | via,
                );
                if new != (from_input[i], through_trunk[i], inputs_of[i], via_trunk[i]) {
                    (from_input[i], through_trunk[i], inputs_of[i], via_trunk[i]) = new;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut to_output = vec![None; n];
        let mut queue = VecDeque::new();
        for o in &flat.outputs {
            if let Some(&p) = flat.producer.get(o)
                && to_output[p].is_none()
            {
                to_output[p] = Some(0);
                queue.push_back(p);
            }
        }
        // Liveness counts every read, shape reads included.
        while let Some(i) = queue.pop_front() {
            let d = to_output[i].unwrap_or(0);
            let node = &flat.nodes[i];
            for name in node.inputs.iter().chain(&node.outer) {
                if let Some(&p) = flat.producer.get(name)
                    && to_output[p].is_none()
                {
                    to_output[p] = Some(d + 1);
                    queue.push_back(p);
                }
            }
        }
        let has_trunk = trunk.iter().any(|&t| t);
        let data_inputs = (0..n)
            .filter(|&i| trunk[i])
            .fold(0u64, |acc, i| acc | inputs_of[i]);
        Facts {
            from_input,
            through_trunk,
            inputs_of,
            to_output,
            trunk,
            via_trunk,
            data_inputs,
            has_trunk,
            input_bits,
        }
    }

    /// The bit of a raw input in the input masks.
    pub fn input_bit(&self, name: &str) -> Option<u64> {
        self.input_bits.get(name).copied()
    }

    /// Whether a value depends on a raw input.
    pub fn value_from_input(&self, flat: &Flat<'_>, name: &str) -> bool {
        flat.raw_inputs.contains(name)
            || flat.producer.get(name).is_some_and(|&p| self.from_input[p])
    }

    /// Whether a value's slice contains a trunk op.
    pub fn value_through_trunk(&self, flat: &Flat<'_>, name: &str) -> bool {
        flat.producer
            .get(name)
            .is_some_and(|&p| self.through_trunk[p])
    }

    /// Raw inputs whose values reach `name`.
    pub fn value_inputs(&self, flat: &Flat<'_>, name: &str) -> u64 {
        self.input_bit(name)
            .or_else(|| flat.producer.get(name).map(|&p| self.inputs_of[p]))
            .unwrap_or(0)
    }

    /// Raw inputs whose values reach `name` through a learned layer.
    pub fn value_via_trunk(&self, flat: &Flat<'_>, name: &str) -> u64 {
        flat.producer.get(name).map_or(0, |&p| self.via_trunk[p])
    }
}

/// Searches backwards from `name` for a raw input through value reads, never expanding
/// through a learned layer. Breadth-first with parent links (no per-step path copies), so
/// long chains stay linear.
pub fn trunk_free_trace(flat: &Flat<'_>, facts: &Facts, name: &str) -> Option<Trace> {
    trace(flat, facts, name, false)
}

/// As [`trunk_free_trace`], also never expanding through a comparison: a path that carries
/// the input's values, not a condition computed from them.
pub fn value_carrying_trace(flat: &Flat<'_>, facts: &Facts, name: &str) -> Option<Trace> {
    trace(flat, facts, name, true)
}

fn trace(flat: &Flat<'_>, facts: &Facts, name: &str, stop_at_comparisons: bool) -> Option<Trace> {
    let mut seen: HashSet<&str> = HashSet::new();
    // (value, op that produced the step's consumer, parent entry)
    let mut arena: Vec<(&str, Option<&str>, Option<usize>)> = vec![(name, None, None)];
    let mut queue: VecDeque<usize> = VecDeque::from([0]);
    while let Some(at) = queue.pop_front() {
        let value = arena[at].0;
        if seen.len() > MAX_VISIT || !seen.insert(value) {
            continue;
        }
        if flat.raw_inputs.contains(value) {
            let mut ops = Vec::new();
            let mut cur = Some(at);
            while let Some(i) = cur {
                if let Some(op) = arena[i].1 {
                    ops.push(op.to_owned());
                }
                cur = arena[i].2;
            }
            ops.reverse();
            let comparisons = ops.iter().filter(|o| ops::is_comparison(o)).count();
            let reductions = ops.iter().filter(|o| ops::is_reduction(o)).count();
            return Some(Trace {
                input: value.to_owned(),
                ops,
                comparisons,
                reductions,
            });
        }
        let Some(&p) = flat.producer.get(value) else {
            continue;
        };
        let node = &flat.nodes[p];
        let op = node.node.op_type();
        if facts.trunk[p] || (stop_at_comparisons && is_condition_op(op)) {
            continue;
        }
        for next in value_reads(flat, node) {
            if !seen.contains(next) && arena.len() < 4 * MAX_VISIT {
                arena.push((next, Some(op), Some(at)));
                queue.push_back(arena.len() - 1);
            }
        }
    }
    None
}

/// Comparisons and boolean logic: what they output is a condition, not the input's values.
fn is_condition_op(op: &str) -> bool {
    ops::is_comparison(op) || matches!(op, "Not" | "And" | "Or" | "Xor")
}
