//! What each selection in the inlined main graph chooses between and on what condition:
//! `Where` and `If`, and the soft multiplexer (`Mul` by a `Cast`/`Sigmoid` of a comparison).
//! Computed once per model; EXPG012, EXPG014 and EXPG015 read it.

use crate::dataflow::{Facts, Trace, graph_has_trunk, trunk_free_trace};
use crate::model::{self, Flat, FlatNode};
use crate::ops;

/// One selection node.
pub struct Selection {
    /// The alternatives, each with whether it is learned (see [`alternatives`]).
    pub alternatives: Vec<(String, bool)>,
    /// The graph has a trunk and the selection chooses between a learned alternative and one
    /// that is not.
    pub overrides_trunk: bool,
    /// A soft multiplexer whose gated value is trunk-free: a chosen value added on top of the
    /// model (gating a learned value by an input mask is ordinary masking).
    pub gated_trunk_free: bool,
    /// A path from the condition back to a raw input that passes no learned layer.
    pub condition_trace: Option<Trace>,
}

/// Per node of `flat`, its selection: `Some` for standard-domain `Where`, `If` and `Mul`.
pub fn selections(flat: &Flat<'_>, facts: &Facts) -> Vec<Option<Selection>> {
    flat.nodes
        .iter()
        .map(|n| {
            let selects = ops::normal_domain(n.node.domain()).is_empty()
                && matches!(n.node.op_type(), "Where" | "If" | "Mul");
            selects.then(|| selection(n, flat, facts))
        })
        .collect()
}

fn selection(n: &FlatNode<'_>, flat: &Flat<'_>, facts: &Facts) -> Selection {
    let op = n.node.op_type();
    let alternatives = alternatives(n, flat, facts);
    let overrides_trunk =
        facts.has_trunk && alternatives.iter().any(|a| a.1) && alternatives.iter().any(|a| !a.1);
    // The condition: Where/If's first input, or a soft mux's comparison gate.
    let condition: Option<&str> = match op {
        "Where" | "If" => n.inputs.first().map(String::as_str),
        "Mul" => n
            .inputs
            .iter()
            .map(String::as_str)
            .find(|v| is_soft_gate(flat, v)),
        _ => None,
    };
    let gated_trunk_free = op == "Mul"
        && facts.has_trunk
        && n.inputs
            .iter()
            .filter(|v| Some(v.as_str()) != condition && !v.is_empty())
            .all(|v| facts.value_via_trunk(flat, v) == 0);
    let condition_trace = condition
        .filter(|c| !c.is_empty())
        .and_then(|c| trunk_free_trace(flat, facts, c));
    Selection {
        alternatives,
        overrides_trunk,
        gated_trunk_free,
        condition_trace,
    }
}

/// The alternatives a selection chooses between, each with whether it is learned: input
/// values reach it through a trunk op (`Where` data inputs), or the branch runs a trunk op on
/// input values or reads such a value (`If` branches). A constant put through a dummy layer
/// (`MatMul(target, I)`) is not learned.
fn alternatives(n: &FlatNode<'_>, flat: &Flat<'_>, facts: &Facts) -> Vec<(String, bool)> {
    match n.node.op_type() {
        "Where" => n
            .inputs
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (format!("input {k}"), facts.value_via_trunk(flat, v) != 0))
            .collect(),
        "If" => n
            .node
            .attribute
            .iter()
            .filter_map(|a| a.g.as_ref().map(|g| (a.name(), g)))
            .map(|(name, g)| {
                let refs = model::outer_refs(g);
                let learned = (graph_has_trunk(g)
                    && refs.iter().any(|r| facts.value_from_input(flat, r)))
                    || refs.iter().any(|r| facts.value_via_trunk(flat, r) != 0);
                (name.to_owned(), learned)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The alternatives for evidence: `then_branch: learned; else_branch: trunk-free`.
pub fn describe_alternatives(alts: &[(String, bool)]) -> String {
    alts.iter()
        .map(|(name, learned)| {
            format!(
                "{name}: {}",
                if *learned { "learned" } else { "trunk-free" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A `Cast`/`Sigmoid`-of-comparison gate (the soft form of a selection).
fn is_soft_gate(flat: &Flat<'_>, value: &str) -> bool {
    let Some(&p) = flat.producer.get(value) else {
        return false;
    };
    let node = &flat.nodes[p];
    match node.node.op_type() {
        op if ops::is_comparison(op) => true,
        "Cast" | "Sigmoid" | "Not" => node
            .inputs
            .first()
            .and_then(|v| flat.producer.get(v))
            .is_some_and(|&q| ops::is_comparison(flat.nodes[q].node.op_type())),
        _ => false,
    }
}
