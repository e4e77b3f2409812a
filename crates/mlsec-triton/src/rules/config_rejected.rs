use mlsec_core::Finding;

use super::Cx;
use crate::validate::Value;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags values that parse but that Triton's model-config validation rejects at load time:
    /// negative `max_batch_size`, negative GPU ids or instance counts, dims below `-1`, inputs
    /// or outputs without a name, a `preferred_batch_size` above `max_batch_size`, priority
    /// levels out of range.
    /// ## Why is this bad?
    /// The model fails to load, and with `--exit-on-error` (the default) the whole server
    /// refuses to start: a deploy-time outage found before deploy is cheaper.
    /// ## Remediation
    /// Fix the value; the message says which range Triton expects.
    pub static CONFIG_REJECTED = "TRTN003", "config-rejected", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let c = cx.config;
    let mut push = |pos, path: &str, message: String| {
        out.push(Finding::new(&CONFIG_REJECTED, cx.at(pos, path), message));
    };
    let max_batch = c.int("max_batch_size").unwrap_or(0);
    if let Some(f) = c.get("max_batch_size")
        && max_batch < 0
    {
        push(
            f.value_pos,
            &f.path,
            format!("max_batch_size is {max_batch}: it must be >= 0"),
        );
    }
    for (_, group) in c.msgs("instance_group") {
        for f in group.all("gpus") {
            if let Value::Int(id) = f.value
                && id < 0
            {
                push(f.value_pos, &f.path, format!("GPU id {id} is negative"));
            }
        }
        if let Some(f) = group.get("count")
            && let Value::Int(n) = f.value
            && n < 0
        {
            push(
                f.value_pos,
                &f.path,
                format!("instance count {n} is negative"),
            );
        }
    }
    for section in ["input", "output"] {
        for (field, tensor) in c.msgs(section) {
            if tensor.str("name").is_none_or(str::is_empty) {
                push(field.pos, &field.path, format!("{section} without a name"));
            }
            for d in tensor.all("dims") {
                if let Value::Int(v) = d.value
                    && v < -1
                {
                    push(
                        d.value_pos,
                        &d.path,
                        format!("dimension {v}: dims must be >= -1"),
                    );
                }
            }
        }
    }
    if let Some(db) = c.msg("dynamic_batching") {
        for f in db.all("preferred_batch_size") {
            if let Value::Int(v) = f.value
                && (v <= 0 || (max_batch > 0 && i128::from(v) > max_batch))
            {
                push(
                    f.value_pos,
                    &f.path,
                    format!("preferred_batch_size {v} is outside 1..=max_batch_size ({max_batch})"),
                );
            }
        }
        let levels = db.int("priority_levels").unwrap_or(0);
        if let Some(f) = db.get("default_priority_level") {
            let level = f.value.as_i128().unwrap_or(0);
            if levels > 0 && (level < 1 || level > levels) {
                push(
                    f.value_pos,
                    &f.path,
                    format!(
                        "default_priority_level {level} is outside 1..={levels} (priority_levels)"
                    ),
                );
            }
        } else if levels > 0 {
            push(
                db.get("priority_levels").map_or(db.pos, |f| f.pos),
                "dynamic_batching.priority_levels",
                "priority_levels is set but default_priority_level is not (it must be in 1..=priority_levels)"
                    .to_owned(),
            );
        }
        for (key, field, _) in db.map("priority_queue_policy") {
            let level: i128 = key.parse().unwrap_or(0);
            if level < 1 || level > levels {
                push(
                    field.value_pos,
                    &field.path,
                    format!("priority_queue_policy for level {level}, outside 1..={levels}"),
                );
            }
        }
    }
}
