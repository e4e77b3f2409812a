mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags `doc_string` fields over 4 KiB, and `metadata_props` entries (or all of them
    /// together) over 256 KiB.
    ///
    /// Metadata gets the larger limit because genuine exporters keep label lists there:
    /// PaddleOCR's recognition models store their character dictionary in `character`
    /// (26,258 bytes for PP-OCRv4's 6,623 characters in rapidocr-onnxruntime 1.4.4, 74,955
    /// bytes for PP-OCRv6's 18,708 in rapidocr 3.10.0); 256 KiB is over three times the
    /// largest.
    /// ## Why is this bad?
    /// Metadata is not executed, so large values are where payloads (pickles, scripts, exfiltrated
    /// data) are smuggled through model registries that only check the graph.
    /// ## Remediation
    /// Keep metadata short; store documentation next to the model, not inside it.
    pub static OVERSIZED_METADATA = "EXPG018", "oversized-metadata", Low;
}
