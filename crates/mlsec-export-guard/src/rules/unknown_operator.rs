use std::collections::BTreeSet;

use mlsec_core::Finding;

use super::{Cx, node_label};
use crate::model::ScopeKind;
use crate::ops;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags standard-domain ops that do not exist in the declared opset (unknown name, or
    /// introduced in a later opset), and domains used without an `opset_import`.
    /// ## Why is this bad?
    /// An op that is not in the declared opset is either a typo the runtime rejects, or resolved by
    /// a runtime-specific fallback that behaves differently from what reviewers expect.
    /// ## Remediation
    /// Declare the right opset, or re-export with a converter that targets it.
    pub static UNKNOWN_OPERATOR = "EXPG010", "unknown-operator", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let mut missing_import: BTreeSet<String> = BTreeSet::new();
    for n in cx.scope_nodes() {
        let domain = n.node.domain();
        // Custom and runtime-specific domains are EXPG007's and EXPG008's; a function body
        // is checked against the opsets it imports, when it imports the op's domain.
        if ops::is_runtime_domain(domain)
            || !ops::is_standard_domain(domain)
            || (n.scope.kind == ScopeKind::Function
                && !cx.imports.contains_key(ops::normal_domain(domain)))
        {
            continue;
        }
        let op = n.node.op_type();
        let Some(&version) = cx.imports.get(ops::normal_domain(domain)) else {
            missing_import.insert(domain_name(domain).to_owned());
            continue;
        };
        let label = node_label(n.node);
        match ops::since_version(domain, op) {
            None => out.push(
                Finding::new(
                    &UNKNOWN_OPERATOR,
                    cx.node_at(&n.path()),
                    format!(
                        "{op} {label}is not a standard operator of {}",
                        domain_name(domain)
                    ),
                )
                .with_evidence("op_type", op)
                .with_evidence("opset", version),
            ),
            Some(since) if since > version => out.push(
                Finding::new(
                    &UNKNOWN_OPERATOR,
                    cx.node_at(&n.path()),
                    format!(
                        "{op} {label}was introduced in opset {since}, the model declares {version}"
                    ),
                )
                .with_evidence("op_type", op)
                .with_evidence("since_opset", since)
                .with_evidence("opset", version),
            ),
            Some(_) => {}
        }
    }
    for domain in missing_import {
        out.push(
            Finding::new(
                &UNKNOWN_OPERATOR,
                cx.field_at("opset_import"),
                format!("ops of domain {domain} are used but no opset_import declares it"),
            )
            .with_evidence("domain", domain),
        );
    }
}

fn domain_name(domain: &str) -> &str {
    if domain.is_empty() { "ai.onnx" } else { domain }
}
