use mlsec_core::Finding;
use mlsec_pickle::FrameAnomaly;

use crate::site::{Locate, Site};

mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags pickle framing that no pickler writes: an operand or text line that starts inside a
    /// FRAME and ends past it, a FRAME opened while the current one still has unread bytes, a
    /// FRAME longer than the data that follows, STOP or joblib array data inside an unfinished
    /// frame. The stream is also read the way each real loader reads frames
    /// (`pickle.loads`, `pickle.load` on a stream as `torch.load` does, and the pure-Python
    /// unpickler joblib uses), and what any of them would import or call is reported.
    /// ## Why is this bad?
    /// These are parser differentials: `torch.load` drops the rest of a frame that an operand
    /// straddles and carries on after it, `pickle.loads` reads across, and joblib accepts a frame
    /// longer than the file. A payload can hide in the bytes one loader skips and another runs,
    /// out of sight of any scanner that models a single loader.
    /// ## Remediation
    /// Treat the file as malicious: do not load it. A genuine pickle never has broken framing;
    /// regenerate the file from a trusted source.
    pub static PICKLE_FRAME_ANOMALY = "CKPT008", "pickle-frame-anomaly", High;
}

/// A FRAME at `offset` whose framing the pickle machine found anomalous.
pub(crate) fn check(offset: u64, anomaly: &FrameAnomaly, site: &Site) -> Finding {
    site.finding(
        &PICKLE_FRAME_ANOMALY,
        offset,
        format!("pickle framing no pickler writes: {anomaly}"),
    )
    .with_evidence("opcode", "FRAME")
}
