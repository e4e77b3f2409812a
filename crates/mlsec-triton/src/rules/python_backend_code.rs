use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags models whose code Triton runs from the repository: `backend: "python"`, a
    /// `runtime` ending in `.py`, or a Python-based backend such as `vllm`. When the model
    /// directory is on disk, the Python files found beside the config are listed.
    /// ## Why is this bad?
    /// `model.py` runs with the server's privileges and network access (in a stub process
    /// that sees the same file system and GPUs). Whoever can write to the model repository can
    /// therefore run code on the server: the repository must be reviewed and protected like
    /// source code, not like data.
    /// ## Remediation
    /// Review the Python files as code, restrict who can write the repository, and pin them
    /// with a checksum or signing agent.
    pub static PYTHON_BACKEND_CODE = "TRTN020", "python-backend-code", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    let Some(why) = cx.python_code() else {
        return;
    };
    let c = cx.config;
    let field = c.get("backend").or_else(|| c.get("runtime"));
    let loc = field.map_or_else(|| cx.top("backend"), |f| cx.at(f.value_pos, &f.path));
    let code: Vec<&str> = cx
        .files
        .iter()
        .filter(|f| f.rel.ends_with(".py"))
        .map(|f| f.rel.as_str())
        .take(20)
        .collect();
    let mut finding = Finding::new(
        &PYTHON_BACKEND_CODE,
        loc,
        format!("{why}: Triton runs Python code from the model repository with server privileges"),
    );
    if !code.is_empty() {
        finding = finding.with_evidence("code", code.join(", "));
    }
    out.push(finding);
}
