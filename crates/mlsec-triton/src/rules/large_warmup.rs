use mlsec_core::Finding;

use super::Cx;
use crate::validate::Value;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags model warm-up that allocates a lot at load time: more than 100 repetitions, or a
    /// sample whose batch times its dims exceeds 2^28 elements.
    /// ## Why is this bad?
    /// Warm-up runs before the model is ready, for every instance; an oversized warm-up makes
    /// loading slow and can exhaust GPU or host memory, failing this and neighbouring models
    /// (a config-only denial of service).
    /// ## Remediation
    /// Warm up with realistic, small samples and a few repetitions.
    pub static LARGE_WARMUP = "TRTN045", "large-warmup", Low;
}

const MAX_COUNT: i128 = 100;
const MAX_ELEMENTS: i128 = 1 << 28;

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for (field, w) in cx.config.msgs("model_warmup") {
        let count = w.int("count").unwrap_or(1);
        if count > MAX_COUNT {
            out.push(
                Finding::new(
                    &LARGE_WARMUP,
                    cx.at(field.pos, &field.path),
                    format!("warm-up repeats {count} times"),
                )
                .with_evidence("count", count),
            );
        }
        let batch = w.int("batch_size").unwrap_or(1).max(1);
        for (entry_field, entry) in w.msgs("inputs") {
            let Some(input) = entry.msg("value") else {
                continue;
            };
            let elements = input
                .all("dims")
                .filter_map(|d| match d.value {
                    Value::Int(v) => Some(i128::from(v.max(1))),
                    _ => None,
                })
                .fold(batch, |acc, d| acc.saturating_mul(d));
            if elements > MAX_ELEMENTS {
                out.push(
                    Finding::new(
                        &LARGE_WARMUP,
                        cx.at(entry_field.pos, &entry_field.path),
                        format!("warm-up sample of {elements} elements is allocated at load time"),
                    )
                    .with_evidence("elements", elements),
                );
            }
        }
    }
}
