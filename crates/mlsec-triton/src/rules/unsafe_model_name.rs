use mlsec_core::Finding;

use super::{Cx, shell_chars};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags model names (the `name` field or the directory) with shell metacharacters,
    /// whitespace, control characters or path separators.
    /// ## Why is this bad?
    /// Older python backends launched the stub process through a shell with the model name
    /// and path on the command line, so a crafted name was command injection; names also end
    /// up in URLs, metrics labels, log lines and operators' scripts.
    /// ## Remediation
    /// Use `[A-Za-z0-9_.-]` names.
    pub static UNSAFE_MODEL_NAME = "TRTN028", "unsafe-model-name", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let mut names = Vec::new();
    if let Some(f) = cx.config.get("name") {
        names.push((f.value.to_text(), cx.at(f.value_pos, "name"), "name"));
    }
    if let Some(dir) = cx.dir_name() {
        names.push((dir, cx.top("name"), "directory"));
    }
    for (name, loc, what) in names {
        let bad = shell_chars(&name).or_else(|| name.contains('/').then(|| "\"/\"".to_owned()));
        if let Some(chars) = bad {
            out.push(
                Finding::new(
                    &UNSAFE_MODEL_NAME,
                    loc,
                    format!("model {what} {name:?} contains shell metacharacters {chars}"),
                )
                .with_evidence("name", &name),
            );
            return;
        }
    }
}
