mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a callable that unpickling would invoke (REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX, a
    /// planted `__setstate__` reached by BUILD, or a container method on an imported object) and
    /// that is outside the allowlist of the file's format. The denylist grades it: `os`,
    /// `subprocess`, `builtins.eval`, `runpy`, `socket`, ... are critical, anything else outside
    /// the allowlist is high, except classes of well-known ML libraries (`sklearn`, `xgboost`,
    /// `lightgbm`, `catboost`, `scipy`, `pandas`; a capitalised last component), which a fitted
    /// model's pickle instantiates: info in joblib and plain pickles, low in other formats.
    /// ## Why is this bad?
    /// Unpickling calls what the stream tells it to call, with arguments from the stream:
    /// `posix.system('...')` runs a shell command the moment the file is loaded with `torch.load`,
    /// `pickle.load` or `joblib.load`.
    /// ## Remediation
    /// Do not load the file. Obtain the weights from a trusted source, or re-export them as
    /// safetensors from a trusted environment; load PyTorch checkpoints with `torch.load(path,
    /// weights_only=True)`.
    pub static PICKLE_UNSAFE_CALL = "CKPT001", "pickle-unsafe-call", Critical;
}
