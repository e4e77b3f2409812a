//! Dataflow facts over the inlined main graph, for the backdoor heuristics.

use std::collections::{HashSet, VecDeque};

use crate::model::Flat;
use crate::ops;

/// Per-node facts.
pub struct Facts {
    /// The node's value depends on a raw graph input.
    pub from_input: Vec<bool>,
    /// A trunk op (Conv, MatMul, ...) is in the node's backward slice.
    pub through_trunk: Vec<bool>,
    /// Hops from the node to a graph output (0: it produces one), `None` if it reaches none.
    pub to_output: Vec<Option<usize>>,
    /// The graph has any trunk op at all.
    pub has_trunk: bool,
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

impl Facts {
    pub fn compute(flat: &Flat<'_>) -> Facts {
        let n = flat.nodes.len();
        let mut from_input = vec![false; n];
        let mut through_trunk = vec![false; n];
        // Nodes are topologically sorted in a valid model; a few passes settle hostile orders.
        for _ in 0..MAX_PASSES {
            let mut changed = false;
            for (i, node) in flat.nodes.iter().enumerate() {
                let reads = node
                    .inputs
                    .iter()
                    .chain(&node.outer)
                    .filter(|s| !s.is_empty());
                let mut fi = false;
                let mut tt = ops::is_trunk(node.node.op_type());
                for name in reads {
                    if flat.raw_inputs.contains(name) {
                        fi = true;
                    }
                    if let Some(&p) = flat.producer.get(name) {
                        fi |= from_input[p];
                        tt |= through_trunk[p];
                    }
                }
                if fi != from_input[i] || tt != through_trunk[i] {
                    from_input[i] |= fi;
                    through_trunk[i] |= tt;
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
            if let Some(&p) = flat.producer.get(o) {
                if to_output[p].is_none() {
                    to_output[p] = Some(0);
                    queue.push_back(p);
                }
            }
        }
        while let Some(i) = queue.pop_front() {
            let d = to_output[i].unwrap_or(0);
            let node = &flat.nodes[i];
            for name in node.inputs.iter().chain(&node.outer) {
                if let Some(&p) = flat.producer.get(name) {
                    if to_output[p].is_none() {
                        to_output[p] = Some(d + 1);
                        queue.push_back(p);
                    }
                }
            }
        }
        let has_trunk = flat.nodes.iter().any(|n| ops::is_trunk(n.node.op_type()));
        Facts {
            from_input,
            through_trunk,
            to_output,
            has_trunk,
        }
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
}

/// Searches backwards from `name` for a raw input, never expanding through a trunk op.
/// Breadth-first with parent links (no per-step path copies), so long chains stay linear.
pub fn trunk_free_trace(flat: &Flat<'_>, name: &str) -> Option<Trace> {
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
        if ops::is_trunk(op) {
            continue;
        }
        for next in node
            .inputs
            .iter()
            .chain(&node.outer)
            .filter(|s| !s.is_empty())
        {
            if !seen.contains(next.as_str()) && arena.len() < 4 * MAX_VISIT {
                arena.push((next.as_str(), Some(op), Some(at)));
                queue.push_back(arena.len() - 1);
            }
        }
    }
    None
}
