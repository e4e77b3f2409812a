mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags tensors and declared shapes whose dims are negative, whose element count overflows or
    /// is absurdly large, or whose stored data does not match the dims and type.
    /// ## Why is this bad?
    /// A loader that trusts dims allocates what they say: absurd counts exhaust memory, and a
    /// mismatch means some tools read data that others ignore.
    ///
    /// Calibration: a literal `-1` in a declared input/output/value_info shape is an unknown
    /// dimension, not a negative one: Paddle2ONNX exports write dynamic dims that way
    /// (rapidocr-onnxruntime's `ch_ppocr_mobile_v2.0_cls_infer.onnx` declares `[-1, 3, -1, -1]`)
    /// and runtimes accept it. Other negative values, and `-1` in an initializer's dims, are
    /// still flagged.
    /// ## Remediation
    /// Re-export the model; check the declared input shapes.
    pub static ABSURD_TENSOR_DIMS = "EXPG019", "absurd-tensor-dims", Medium;
}
