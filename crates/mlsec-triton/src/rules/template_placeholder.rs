use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `${...}` template placeholders left in string values (parameters, file names).
    /// Placeholders in numbers or enum positions make the config unparseable and are reported
    /// as errors instead.
    /// ## Why is this bad?
    /// Triton accepts the literal text: the backend then receives `${engine_dir}` as a path or
    /// setting. The file is a template that was deployed or committed before rendering, so what
    /// was reviewed is not what will run.
    /// ## Remediation
    /// Render the template (e.g. `fill_template.py`) and scan the rendered repository.
    pub static TEMPLATE_PLACEHOLDER = "TRTN001", "template-placeholder", Low;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    for p in &cx.validated.placeholders {
        out.push(
            Finding::new(
                &TEMPLATE_PLACEHOLDER,
                cx.at(p.pos, &p.path),
                format!("unrendered template placeholder `{}`", p.text),
            )
            .with_evidence("placeholder", &p.text),
        );
    }
}
