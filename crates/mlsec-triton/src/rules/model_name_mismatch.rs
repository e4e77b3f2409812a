use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a `config.pbtxt` whose `name` differs from its model directory's name.
    /// ## Why is this bad?
    /// Triton names models after their directory and refuses a config whose `name` disagrees,
    /// so the model does not load. A mismatch is also how a copied config ends up describing a
    /// different model than the one reviewed.
    /// ## Remediation
    /// Make `name` equal to the directory name, or omit it.
    pub static MODEL_NAME_MISMATCH = "TRTN027", "model-name-mismatch", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let (Some(f), Some(dir)) = (cx.config.get("name"), cx.dir_name()) else {
        return;
    };
    let name = f.value.to_text();
    if !name.is_empty() && name != dir {
        out.push(
            Finding::new(
                &MODEL_NAME_MISMATCH,
                cx.at(f.value_pos, "name"),
                format!("model name {name:?} differs from its directory {dir:?}: Triton refuses to load it"),
            )
            .with_evidence("directory", &dir),
        );
    }
}
