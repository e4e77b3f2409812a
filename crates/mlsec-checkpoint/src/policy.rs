//! What each container format may legitimately import and call, and the denylist that only
//! grades severity.

use mlsec_core::Severity;

/// The writer a pickle is expected to come from; selects the allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `torch.save` (zip and legacy formats).
    Torch,
    /// `torch.jit.save`: the torch list plus TorchScript classes (`__torch__.*`, resolved by
    /// TorchScript's compilation unit, not imported) and `torch.jit._pickle` helpers.
    TorchScript,
    /// numpy object arrays (`.npy`, `.npz` members).
    Numpy,
    /// `joblib.dump`.
    Joblib,
    /// A pickle of unknown origin: the union of the others.
    Generic,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Torch => "torch",
            Profile::TorchScript => "torchscript",
            Profile::Numpy => "numpy",
            Profile::Joblib => "joblib",
            Profile::Generic => "generic",
        }
    }
}

/// Plain builtins every writer may emit (protocol-2 `bytes` goes through `_codecs.encode`).
const COMMON: &[&str] = &[
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "builtins.complex",
    "builtins.bytearray",
    "builtins.bytes",
    "builtins.range",
    "_codecs.encode",
    "collections.OrderedDict",
];

const TORCH: &[&str] = &[
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._tensor._rebuild_from_type_v2",
    "torch.serialization._get_layout",
    "torch.Size",
    "torch.device",
    "torch.storage.UntypedStorage",
    "torch.storage.TypedStorage",
    "torch.UntypedStorage",
    "torch.per_tensor_affine",
    "torch.per_channel_affine",
    "torch.strided",
    "torch.sparse_coo",
    "torch.sparse_csr",
];

const TORCH_DTYPES: &[&str] = &[
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "int64",
    "long",
    "int32",
    "int",
    "int16",
    "short",
    "int8",
    "uint8",
    "bool",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "qint8",
    "quint8",
    "qint32",
    "uint16",
    "uint32",
    "uint64",
];

const NUMPY: &[&str] = &[
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "numpy.ndarray",
    "numpy.dtype",
];

/// joblib's array wrappers: `NumpyArrayWrapper` (joblib >= 0.10), and the companion-file
/// wrappers of joblib < 0.10 (`NDArrayWrapper`, `ZNDArrayWrapper`), which only name a file in
/// the same directory; that file is scanned with the pickle (`scan::joblib_companions`).
const JOBLIB: &[&str] = &[
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "joblib.numpy_pickle.NDArrayWrapper",
    "joblib.numpy_pickle.ZNDArrayWrapper",
];

/// Whether `dotted` (`module.name`) is allowed for the profile.
pub fn allowed(profile: Profile, dotted: &str) -> bool {
    let torch = || {
        TORCH.contains(&dotted)
            || dotted.strip_prefix("torch.").is_some_and(|n| {
                TORCH_DTYPES.contains(&n)
                    || (n.ends_with("Storage")
                        && !n.contains('.')
                        && mlsec_tensors::dtype::DType::from_torch_storage(n).is_some())
                    // Legacy tensor types (`torch.FloatTensor`), named by the tar format.
                    || n.strip_suffix("Tensor").is_some_and(|t| {
                        !t.contains('.')
                            && mlsec_tensors::dtype::DType::from_torch_storage(&format!(
                                "{t}Storage"
                            ))
                            .is_some()
                    })
            })
    };
    let numpy = || NUMPY.contains(&dotted);
    let joblib = || JOBLIB.contains(&dotted);
    COMMON.contains(&dotted)
        || match profile {
            Profile::Torch => torch() || numpy(),
            Profile::TorchScript => {
                torch()
                    || numpy()
                    || dotted.starts_with("__torch__.")
                    || dotted.starts_with("torch.jit._pickle.")
            }
            Profile::Numpy => numpy(),
            Profile::Joblib => joblib() || numpy(),
            Profile::Generic => torch() || numpy() || joblib(),
        }
}

/// Dangerous names, matched component-wise anywhere in the dotted path, so
/// `pathlib.os.system` and `torch.serialization.os.system` match `os`.
const DENY: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "runpy",
    "pip",
    "socket",
    "marshal",
    "ctypes",
    "importlib",
    "shutil",
    "pty",
    "webbrowser",
    "urllib",
    "http",
    "requests",
    "ftplib",
    "smtplib",
    "telnetlib",
    "pickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "code",
    "codeop",
    "pdb",
    "bdb",
    "timeit",
    "platform",
    "multiprocessing",
    "asyncio",
    "signal",
    "zipimport",
    "pkgutil",
    "imp",
    "types",
    "operator",
    "functools",
    "builtins.eval",
    "builtins.exec",
    "builtins.compile",
    "builtins.__import__",
    "builtins.getattr",
    "builtins.setattr",
    "builtins.delattr",
    "builtins.open",
    "builtins.globals",
    "builtins.locals",
    "builtins.vars",
    "builtins.breakpoint",
    "builtins.input",
    "builtins.exit",
    "builtins.quit",
    "builtins.help",
    "io.open",
    "io.FileIO",
    "codecs.open",
    "tempfile",
    "torch.load",
    "torch.hub",
    "torch.jit",
    "torch.storage._load_from_bytes",
    "torch.serialization.load",
    "numpy.load",
    "numpy.testing._private.utils.runstring",
    "numpy.f2py",
    "numpy.distutils",
    "joblib.load",
    "_io",
    "posixpath",
];

/// Whether the dotted path contains a denylisted entry as consecutive components.
pub fn denied(dotted: &str) -> Option<&'static str> {
    let parts: Vec<&str> = dotted.split('.').collect();
    DENY.iter().copied().find(|entry| {
        let want: Vec<&str> = entry.split('.').collect();
        parts.windows(want.len()).any(|w| w == want.as_slice())
    })
}

/// Libraries whose classes a pickled or joblib-dumped fitted model instantiates
/// (`sklearn.linear_model._logistic.LogisticRegression`, `xgboost.sklearn.XGBClassifier`).
const ML_LIBRARIES: &[&str] = &[
    "sklearn", "xgboost", "lightgbm", "catboost", "scipy", "pandas",
];

/// A class (its last component starts with a capital) of a well-known ML library, not on the
/// denylist. Instantiating it runs the installed library's own `__setstate__`/`__init__`, not
/// code from the file, so it is graded down; the same libraries' functions
/// (`sklearn.datasets.fetch_openml`, `pandas.read_pickle`) are not.
pub fn is_library_class(dotted: &str) -> bool {
    let top = dotted.split('.').next().unwrap_or("");
    let last = dotted.rsplit('.').next().unwrap_or("");
    ML_LIBRARIES.contains(&top)
        && last.starts_with(|c: char| c.is_ascii_uppercase())
        && denied(dotted).is_none()
}

/// The severity of an unallowed call or import of `dotted` in a `profile` file: critical on
/// the denylist; a library class is info in joblib and plain pickles (where fitted models
/// live) and low elsewhere; anything else is high when called, medium when only imported.
pub fn grade(profile: Profile, dotted: &str, called: bool) -> Severity {
    if denied(dotted).is_some() {
        return Severity::Critical;
    }
    if is_library_class(dotted) {
        return match profile {
            Profile::Joblib | Profile::Generic => Severity::Info,
            _ => Severity::Low,
        };
    }
    if called {
        Severity::High
    } else {
        Severity::Medium
    }
}

/// Loaders whose bytes argument is itself a payload: (dotted name, what the bytes are).
pub fn nested_loader(dotted: &str) -> Option<&'static str> {
    Some(match dotted {
        "pickle.loads" | "_pickle.loads" | "dill.loads" | "cloudpickle.loads" | "pickle.load"
        | "_pickle.load" => "pickle",
        "torch.load" | "torch.serialization.load" | "torch.storage._load_from_bytes" => "torch",
        "numpy.load" => "numpy",
        "joblib.load" => "joblib",
        "marshal.loads" => "marshal",
        _ => return None,
    })
}

/// Transparent wrappers: calling them calls their first argument (`copyreg._reconstructor(cls,
/// base, state)` runs `cls.__new__` or `base.__init__`).
pub fn is_forwarder(dotted: &str) -> bool {
    matches!(
        dotted,
        "copyreg._reconstructor" | "copyreg.__newobj__" | "copyreg.__newobj_ex__"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denylist_is_component_wise() {
        assert_eq!(denied("pathlib.os.system"), Some("os"));
        assert_eq!(denied("torch.serialization.os.system"), Some("os"));
        assert_eq!(denied("builtins.eval"), Some("builtins.eval"));
        assert_eq!(denied("builtins.print"), None);
        assert_eq!(denied("cosmos.x"), None);
        assert!(allowed(Profile::Torch, "torch.FloatStorage"));
        assert!(allowed(Profile::Torch, "torch.bfloat16"));
        assert!(!allowed(Profile::Torch, "torch.os.system"));
        assert!(!allowed(Profile::Numpy, "torch._utils._rebuild_tensor_v2"));
        assert_eq!(
            grade(Profile::Joblib, "builtins.print", true),
            Severity::High
        );
        let lr = "sklearn.linear_model._logistic.LogisticRegression";
        assert_eq!(grade(Profile::Joblib, lr, true), Severity::Info);
        assert_eq!(grade(Profile::Torch, lr, true), Severity::Low);
        assert_eq!(
            grade(Profile::Joblib, "sklearn.datasets.fetch_openml", true),
            Severity::High
        );
        assert_eq!(
            grade(Profile::Joblib, "pandas.io.pickle.os.System", true),
            Severity::Critical
        );
    }
}
