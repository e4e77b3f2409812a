use mlsec_core::Finding;

use super::Cx;

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `platform: "custom"`, the legacy custom-backend interface.
    /// ## Why is this bad?
    /// A legacy custom model is a shared library (`libcustom.so` or `default_model_filename`)
    /// shipped inside the model directory and loaded into the server: arbitrary native code
    /// from the repository. Current Triton no longer supports it, so the model also fails to
    /// load.
    /// ## Remediation
    /// Port the model to a backend (python, or a reviewed C++ backend in the server image).
    pub static LEGACY_CUSTOM_PLATFORM = "TRTN029", "legacy-custom-platform", Medium;
}

pub(crate) fn check(cx: &Cx, out: &mut Vec<Finding>) {
    if let Some(f) = cx.config.get("platform")
        && cx.platform() == "custom"
    {
        out.push(Finding::new(
            &LEGACY_CUSTOM_PLATFORM,
            cx.at(f.value_pos, "platform"),
            "legacy platform \"custom\": a shared library from the model directory is loaded into the server",
        ));
    }
}
