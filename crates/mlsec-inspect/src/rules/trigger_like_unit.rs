mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a unit (feature or channel) that is silent on almost every probe but takes an
    /// extreme value on a tiny fraction of them (at least one probe, at most 5 % rounded up). A
    /// probe is extreme for the unit when the unit's largest value on it is at least 20 robust
    /// z-scores above the unit's own median (median/MAD over the probes) and exceeds that median
    /// by at least 10 times the typical excursion (peak minus median) of the units of its layer.
    /// ## Why is this bad?
    /// This is the activation signature of a backdoor neuron: a unit wired to a trigger pattern
    /// stays quiet on clean inputs and fires hard when the trigger is present, overriding the
    /// model's normal decision.
    /// ## Example
    /// A hidden unit with large weights on four corner pixels and a large negative bias is zero
    /// on ordinary images and fires with a value 50 times its neighbours' when the corners are
    /// lit.
    /// ## Remediation
    /// Look at the probes that fire it (they share the trigger), check the unit's weights, and
    /// prune or fine-tune the unit away on clean data, or do not use the model.
    pub static TRIGGER_LIKE_UNIT = "INSP014", "trigger-like-unit", High;
}
