mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags bytes handed to a loader inside the pickle (`pickle.loads`, `torch.load`,
    /// `marshal.loads`, `zlib.decompress`, ...); the nested payload is decoded and scanned too, and
    /// its findings are reported with its offset.
    /// ## Why is this bad?
    /// A second-stage payload inside a bytes literal is invisible to scanners that only read the
    /// outer stream.
    /// ## Remediation
    /// Treat the file as malicious: do not load it.
    pub static PICKLE_NESTED_PAYLOAD = "CKPT007", "pickle-nested-payload", Critical;
}
