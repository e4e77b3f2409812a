use std::collections::{BTreeMap, BTreeSet};

use mlsec_core::Finding;

use super::Cx;
use crate::validate::param_text;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Checks an ensemble's step graph: every step names a model, every step input is an
    /// ensemble input or some step's output, every ensemble output is produced, no tensor is
    /// produced twice, and the steps form no cycle.
    /// ## Why is this bad?
    /// Triton refuses such an ensemble at load time (or, for a dangling output, never returns
    /// it), so the pipeline is down after the deploy.
    /// ## Remediation
    /// Fix `input_map`/`output_map` so the steps form a graph from the ensemble inputs to its
    /// outputs.
    pub static ENSEMBLE_GRAPH_INVALID = "TRTN004", "ensemble-graph-invalid", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let c = cx.config;
    let Some(ens) = c.msg("ensemble_scheduling") else {
        return;
    };
    let ens_field = c.get("ensemble_scheduling").expect("present");
    // An empty platform is auto-completed to "ensemble" by Triton; another one is refused.
    if !cx.platform().is_empty() && cx.platform() != "ensemble" {
        out.push(Finding::new(
            &ENSEMBLE_GRAPH_INVALID,
            cx.at(ens_field.pos, "ensemble_scheduling"),
            format!(
                "ensemble_scheduling requires platform \"ensemble\" (platform is {:?})",
                cx.platform()
            ),
        ));
    }
    let inputs: BTreeSet<String> = c
        .msgs("input")
        .filter_map(|(_, m)| m.str("name").map(str::to_owned))
        .collect();
    // Which step produces each tensor.
    let mut producer: BTreeMap<String, usize> = BTreeMap::new();
    let steps: Vec<_> = ens.msgs("step").collect();
    for (i, (field, step)) in steps.iter().enumerate() {
        if step.str("model_name").is_none_or(str::is_empty) {
            out.push(Finding::new(
                &ENSEMBLE_GRAPH_INVALID,
                cx.at(field.pos, &field.path),
                format!("ensemble step {i} has no model_name"),
            ));
        }
        for (_, entry, value) in step.map("output_map") {
            let tensor = param_text(value);
            if inputs.contains(&tensor) || producer.contains_key(&tensor) {
                out.push(Finding::new(
                    &ENSEMBLE_GRAPH_INVALID,
                    cx.at(entry.value_pos, &entry.path),
                    format!("ensemble tensor {tensor:?} is produced more than once"),
                ));
            }
            producer.insert(tensor, i);
        }
    }
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); steps.len()];
    for (i, (_, step)) in steps.iter().enumerate() {
        for (_, entry, value) in step.map("input_map") {
            let tensor = param_text(value);
            match producer.get(&tensor) {
                Some(p) => {
                    edges[*p].insert(i);
                }
                // Without declared inputs, they come from auto-complete: nothing to check.
                None if inputs.contains(&tensor) || inputs.is_empty() => {}
                None => out.push(Finding::new(
                    &ENSEMBLE_GRAPH_INVALID,
                    cx.at(entry.value_pos, &entry.path),
                    format!("step input {tensor:?} is neither an ensemble input nor a step output"),
                )),
            }
        }
    }
    for (field, output) in c.msgs("output") {
        if let Some(name) = output.str("name")
            && !producer.contains_key(name)
            && !inputs.contains(name)
        {
            out.push(Finding::new(
                &ENSEMBLE_GRAPH_INVALID,
                cx.at(field.pos, &field.path),
                format!("ensemble output {name:?} is produced by no step"),
            ));
        }
    }
    // Cycle: depth-first search with colours.
    let mut state = vec![0u8; steps.len()];
    fn visit(n: usize, edges: &[BTreeSet<usize>], state: &mut [u8]) -> bool {
        state[n] = 1;
        for &m in &edges[n] {
            if state[m] == 1 || (state[m] == 0 && visit(m, edges, state)) {
                return true;
            }
        }
        state[n] = 2;
        false
    }
    for n in 0..steps.len() {
        if state[n] == 0 && visit(n, &edges, &mut state) {
            let (field, _) = steps[n];
            out.push(Finding::new(
                &ENSEMBLE_GRAPH_INVALID,
                cx.at(field.pos, &field.path),
                "ensemble steps form a cycle".to_owned(),
            ));
            break;
        }
    }
}
