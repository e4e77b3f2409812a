mlsec_core::declare_rule! {
    /// ## What it does
    /// Flags a callable that unpickling would invoke (REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX, a
    /// planted `__setstate__` reached by BUILD, or a container method on an imported object) and
    /// that is not known to be safe. Every global falls in one of three tiers:
    ///
    /// - **known-safe** (no finding): data types and pickle reconstructors of the standard
    ///   library (`int`, `set`, `slice`, `collections.deque`/`Counter`/`defaultdict`, `datetime`,
    ///   `decimal.Decimal`, `fractions.Fraction`, `copyreg._reconstructor`, `re._compile`,
    ///   `collections.abc`, `__future__`), of numpy (array, dtype, scalar and matrix
    ///   reconstructors, `numpy.random` generator constructors, scalar types), of torch
    ///   (`torch._utils._rebuild_*`, storages, dtypes), joblib's array wrappers, scipy.sparse
    ///   matrices and pandas' own `__reduce__` reconstructors (`_new_Index`, `_unpickle_*`);
    ///   the list is `policy.rs`, each group with where it comes from;
    /// - **dangerous** (critical): a module that runs code or touches files, processes or the
    ///   network (`os`, `subprocess`, `socket`, `pickle`, `importlib`, `runpy`, `shutil`, ...)
    ///   as the module or anywhere in a protocol-4 attribute path (`pathlib` + `os.system`),
    ///   and qualified names (`builtins.eval`/`exec`/`open`/`getattr` of a dunder, `torch.load`,
    ///   `numpy.load`, `joblib.load`, `pandas.read_pickle`, `sklearn.datasets`, ...);
    /// - **unknown**: any other standard-library callable is high (the standard library can run
    ///   programs, open files and sockets; `builtins.print` included); a third-party callable
    ///   (`gensim.models.word2vec.Word2Vec`, `sklearn.calibration._CalibratedClassifier`) is
    ///   information naming the package a loader needs, since instantiating it runs that
    ///   installed package's own code, not code from the file.
    ///
    /// Wrappers are graded by what they finally call: `functools.partial(f)`,
    /// `functools.reduce(f, ..)` and `copyreg._reconstructor(cls, ..)` by `f`/`cls`,
    /// `getattr(import, 'name')` as `import.name` (a dunder name stays dangerous),
    /// `operator.attrgetter` of plain attribute names is safe.
    /// ## Why is this bad?
    /// Unpickling calls what the stream tells it to call, with arguments from the stream:
    /// `posix.system('...')` runs a shell command the moment the file is loaded with `torch.load`,
    /// `pickle.load` or `joblib.load`.
    /// ## Remediation
    /// Do not load the file. Obtain the weights from a trusted source, or re-export them as
    /// safetensors from a trusted environment; load PyTorch checkpoints with `torch.load(path,
    /// weights_only=True)`. For an information-level third-party class, make sure you trust and
    /// have installed the package it names.
    pub static PICKLE_UNSAFE_CALL = "CKPT001", "pickle-unsafe-call", Critical;
}
