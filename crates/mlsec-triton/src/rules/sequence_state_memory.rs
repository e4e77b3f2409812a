use mlsec_core::{Finding, Severity};

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags sequence batching settings that let clients hold server memory: a
    /// `max_sequence_idle_microseconds` above one hour, an `oldest` strategy with more than
    /// 1024 candidate sequences, and (informational) implicit state with `use_growable_memory`.
    /// ## Why is this bad?
    /// Each open sequence pins a batch slot and its state tensors until it ends or idles out.
    /// A client that opens sequences and never ends them exhausts slots (denial of service for
    /// other clients) and, with growable state, memory.
    /// ## Remediation
    /// Keep the idle timeout short (Triton's default is one second) and bound the candidates.
    pub static SEQUENCE_STATE_MEMORY = "TRTN044", "sequence-state-memory", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(seq) = cx.config.msg("sequence_batching") else {
        return;
    };
    if let Some(f) = seq.get("max_sequence_idle_microseconds") {
        let v = f.value.as_i128().unwrap_or(0);
        if v > 3_600_000_000 {
            out.push(
                Finding::new(
                    &SEQUENCE_STATE_MEMORY,
                    cx.at(f.value_pos, &f.path),
                    format!(
                        "idle sequences are kept {:.1} h: abandoned sequences hold slots and state",
                        v as f64 / 3.6e9
                    ),
                )
                .with_evidence("idle_us", v),
            );
        }
    }
    if let Some(oldest) = seq.msg("oldest")
        && let Some(f) = oldest.get("max_candidate_sequences")
        && f.value.as_i128().unwrap_or(0) > 1024
    {
        out.push(Finding::new(
            &SEQUENCE_STATE_MEMORY,
            cx.at(f.value_pos, &f.path),
            format!(
                "{} candidate sequences may be held at once",
                f.value.to_text()
            ),
        ));
    }
    for (_, state) in seq.msgs("state") {
        if let Some(f) = state.get("use_growable_memory")
            && state.bool("use_growable_memory")
        {
            out.push(
                Finding::new(
                    &SEQUENCE_STATE_MEMORY,
                    cx.at(f.pos, &f.path),
                    "sequence state uses growable memory: its size follows what clients send",
                )
                .with_severity(Severity::Info),
            );
        }
    }
}
