//! What each container format may legitimately import and call, and the denylist that only
//! grades severity.

use mlsec_core::Severity;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The loader a pickle is expected to be read by (known from its container): selects the
/// allowlist.
pub use mlsec_formats::walk::Profile;

// Every global a pickle reaches falls in one of three tiers (docs/rules.md, CKPT001):
//
// * known-safe: data types and pickle reconstructors of the standard library and of numpy,
//   scipy, pandas, scikit-learn, torch and joblib, listed below with where they come from; no
//   finding;
// * dangerous: names that execute code, touch files, processes or the network (`DENY_MODULES`,
//   `DENY_NAMES`); critical;
// * unknown: anything else. A standard-library callable outside the known-safe list is high
//   (the standard library can run programs, open files and sockets); a third-party one is
//   information naming the package a loader would need (instantiating it runs that installed
//   package's own code, not code from the file).

/// Known-safe names: exact `module.name` after Python 2 name fixing.
const SAFE: &[&str] = &[
    // Python data types and the pure functions the pickler emits for them (protocol 0-2
    // `bytes` go through `_codecs.encode`; `copyreg` rebuilds plain instances).
    "builtins.int",
    "builtins.float",
    "builtins.complex",
    "builtins.str",
    "builtins.bytes",
    "builtins.bytearray",
    "builtins.bool",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "builtins.range",
    "builtins.object",
    "builtins.len",
    "builtins.hash",
    "builtins.NotImplemented",
    "builtins.Ellipsis",
    "_codecs.encode",
    "codecs.encode",
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "collections.OrderedDict",
    "collections.deque",
    "collections.Counter",
    "collections.defaultdict",
    "collections.ChainMap",
    "collections.UserDict",
    "collections.UserList",
    "collections.UserString",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
    "re._compile",
    "array.array",
    "array._array_reconstructor",
    "types.SimpleNamespace",
    "pathlib.PurePath",
    "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    "pathlib.Path",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "operator.itemgetter",
    "operator.getitem",
    // numpy: arrays, dtypes, scalars and random generators rebuild through these
    // (`ndarray.__reduce__`, `dtype.__reduce__`, `numpy.random` `__reduce__` methods).
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.matrix",
    "numpy.matrixlib.defmatrix.matrix",
    "numpy.ma.core._mareconstruct",
    "numpy.ma.core.MaskedArray",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random.__RandomState_ctor",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    // joblib's array wrappers (current and < 0.10).
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "joblib.numpy_pickle_compat.NDArrayWrapper",
    "joblib.numpy_pickle_compat.ZNDArrayWrapper",
    "joblib.numpy_pickle.NDArrayWrapper",
    "joblib.numpy_pickle.ZNDArrayWrapper",
    // torch.save's tensor, storage and parameter rebuilders (`torch/_utils.py`).
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

/// Known-safe whole modules: constants, abstract classes and feature flags only.
const SAFE_MODULES: &[&str] = &[
    "__future__",
    "collections.abc",
    "_collections_abc",
    "numbers",
];

/// numpy scalar types (`numpy.float64`), used as dtype arguments and scalar classes.
const NUMPY_SCALARS: &[&str] = &[
    "bool_",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "longdouble",
    "complex64",
    "complex128",
    "clongdouble",
    "str_",
    "bytes_",
    "void",
    "datetime64",
    "timedelta64",
    "intc",
    "uintc",
    "intp",
    "uintp",
    "longlong",
    "ulonglong",
    "half",
    "single",
    "double",
    "csingle",
    "cdouble",
    "object_",
    "record",
    "generic",
    "number",
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

/// scipy.sparse's matrix and array classes have lower-case names.
const SCIPY_SPARSE: &[&str] = &[
    "csr_matrix",
    "csc_matrix",
    "coo_matrix",
    "lil_matrix",
    "dok_matrix",
    "bsr_matrix",
    "dia_matrix",
    "csr_array",
    "csc_array",
    "coo_array",
    "lil_array",
    "dok_array",
    "bsr_array",
    "dia_array",
];

/// Whether `dotted` (`module.name`) is known-safe for the profile. Only TorchScript files may
/// name TorchScript classes (`__torch__.*`, resolved by the compilation unit, not imported)
/// and `torch.jit._pickle` helpers.
pub fn allowed(profile: Profile, dotted: &str) -> bool {
    if SAFE.contains(&dotted)
        || SAFE_MODULES
            .iter()
            .any(|m| dotted.strip_prefix(m).is_some_and(|r| r.starts_with('.')))
    {
        return true;
    }
    if profile == Profile::TorchScript
        && (dotted.starts_with("__torch__.") || dotted.starts_with("torch.jit._pickle."))
    {
        return true;
    }
    if let Some(n) = dotted.strip_prefix("numpy.")
        && NUMPY_SCALARS.contains(&n)
    {
        return true;
    }
    if let Some(n) = dotted.strip_prefix("torch.") {
        let storage = |s: &str| mlsec_formats::dtype::DType::from_torch_storage(s).is_some();
        if TORCH_DTYPES.contains(&n)
            || (n.ends_with("Storage") && !n.contains('.') && storage(n))
            // Legacy tensor types (`torch.FloatTensor`), named by the tar format.
            || n
                .strip_suffix("Tensor")
                .is_some_and(|t| !t.contains('.') && storage(&format!("{t}Storage")))
        {
            return true;
        }
    }
    let last = dotted.rsplit('.').next().unwrap_or("");
    if dotted.starts_with("scipy.sparse.") && SCIPY_SPARSE.contains(&last) {
        return true;
    }
    // pandas' own `__reduce__` reconstructors (`_new_Index`, `_unpickle_block`,
    // `_unpickle_timestamp`, `__nat_unpickle`, `new_block`, `_reconstruct`).
    if dotted.starts_with("pandas.")
        && (last.starts_with("_new_")
            || last.contains("unpickle")
            || matches!(last, "new_block" | "_reconstruct" | "_new_DatetimeIndex"))
    {
        return true;
    }
    false
}

/// Modules that execute code, touch files, processes or the network. A name is dangerous
/// when its module is one of them or inside one (`os.path`), or when its attribute path passes
/// through one (`pathlib` + `os.system`, protocol 4 resolves dotted names attribute by
/// attribute). A module that merely has such a component in its own path
/// (`numpy.random._pickle`) is not.
const DENY_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "_posixsubprocess",
    "sys",
    "runpy",
    "pip",
    "socket",
    "_socket",
    "ssl",
    "marshal",
    "ctypes",
    "_ctypes",
    "importlib",
    "shutil",
    "pty",
    "webbrowser",
    "urllib",
    "http",
    "requests",
    "urllib3",
    "httpx",
    "ftplib",
    "smtplib",
    "telnetlib",
    "poplib",
    "imaplib",
    "nntplib",
    "xmlrpc",
    "socketserver",
    "pickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "shelve",
    "code",
    "codeop",
    "pdb",
    "bdb",
    "timeit",
    "platform",
    "multiprocessing",
    "concurrent",
    "asyncio",
    "signal",
    "zipimport",
    "pkgutil",
    "imp",
    "types",
    "_io",
    "posixpath",
    "ntpath",
    "genericpath",
    "tempfile",
    "glob",
    "sqlite3",
    "_sqlite3",
    "dbm",
    "ensurepip",
    "venv",
    "distutils",
    "setuptools",
    "compileall",
    "py_compile",
    "zipfile",
    "tarfile",
    "builtins.__import__",
    "_thread",
    "threading",
    "gc",
    "inspect",
    "ast",
    "pydoc",
    "site",
    "sysconfig",
    "logging.config",
    "fileinput",
    "linecache",
    "mmap",
    "fcntl",
    "resource",
    "pwd",
    "grp",
    "_winapi",
    "msvcrt",
    "winreg",
    "_winreg",
    "IPython",
    "yaml",
];

/// Dangerous qualified names, matched as a run of whole components anywhere in the dotted
/// path (`sklearn.externals.joblib.load` matches `joblib.load`).
const DENY_NAMES: &[&str] = &[
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
    "builtins.memoryview",
    "io.open",
    "io.open_code",
    "io.FileIO",
    "codecs.open",
    "operator.methodcaller",
    "operator.attrgetter",
    "torch.load",
    "torch.save",
    "torch.hub",
    "torch.jit",
    "torch.ops",
    "torch.classes",
    "torch._C",
    "torch.storage._load_from_bytes",
    "torch.serialization.load",
    "torch.from_file",
    "numpy.load",
    "numpy.save",
    "numpy.fromfile",
    "numpy.memmap",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.lib.npyio",
    "numpy.lib.format",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.ctypeslib",
    "joblib.load",
    "joblib.dump",
    "joblib.Parallel",
    "pandas.read_pickle",
    "pandas.io",
    "pandas.eval",
    "pandas.core.computation",
    "scipy.io",
    "sklearn.datasets",
    "keras.models.load_model",
    "keras.saving",
    "tensorflow",
];

/// The denylist entry `module.name` hits, if any.
pub fn denied(dotted: &str) -> Option<&'static str> {
    denied_parts(dotted, None)
}

/// Like [`denied`], with the import's module given apart from its attribute path, so a module
/// entry only matches the module itself or a component of the attribute path.
pub fn denied_parts(dotted: &str, module: Option<&str>) -> Option<&'static str> {
    // This runs for every import of every pickle, and a hostile pickle can hold hundreds of
    // thousands: each table is a hash index, looked up with the name's component runs no
    // longer than the table's longest entry, never a scan of the table. The first entry in
    // table order wins, as in a scan.
    static MODULES: LazyLock<Table> = LazyLock::new(|| Table::new(DENY_MODULES));
    static NAMES: LazyLock<Table> = LazyLock::new(|| Table::new(DENY_NAMES));
    let module_len = module.map_or(1, |m| m.split('.').count());
    let (module_part, attr_part) = match dotted.match_indices('.').nth(module_len - 1) {
        Some((dot, _)) => (&dotted[..dot], Some(&dotted[dot + 1..])),
        None => (dotted, None),
    };
    // A module entry names the module or one of its parents, or (one component) any
    // component of the attribute path.
    let in_module = component_ends(module_part)
        .take(MODULES.max_parts)
        .filter_map(|end| MODULES.get(&module_part[..end]));
    let in_attrs = attr_part
        .into_iter()
        .flat_map(|attrs| attrs.split('.'))
        .filter_map(|a| MODULES.get(a));
    if let Some(i) = in_module.chain(in_attrs).min() {
        return Some(DENY_MODULES[i]);
    }
    // A name entry is any run of whole components.
    let starts = std::iter::once(0).chain(dotted.match_indices('.').map(|(dot, _)| dot + 1));
    starts
        .flat_map(|start| {
            let rest = &dotted[start..];
            component_ends(rest)
                .take(NAMES.max_parts)
                .filter_map(move |end| NAMES.get(&rest[..end]))
        })
        .min()
        .map(|i| DENY_NAMES[i])
}

/// A denylist indexed by entry: entry → its position in the list.
struct Table {
    index: HashMap<&'static str, usize>,
    /// Components of the longest entry.
    max_parts: usize,
}

impl Table {
    fn new(entries: &'static [&'static str]) -> Table {
        let mut index = HashMap::new();
        for (i, &e) in entries.iter().enumerate() {
            index.entry(e).or_insert(i);
        }
        let max_parts = entries
            .iter()
            .map(|e| e.split('.').count())
            .max()
            .unwrap_or(0);
        Table { index, max_parts }
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// The end of each leading run of components of `name`: `a.b.c` gives the ends of `a`,
/// `a.b` and `a.b.c`.
fn component_ends(name: &str) -> impl Iterator<Item = usize> + '_ {
    name.match_indices('.')
        .map(|(dot, _)| dot)
        .chain(std::iter::once(name.len()))
}

/// The standard library's top-level modules (`sys.stdlib_module_names`, CPython 3.11).
const STDLIB: &[&str] = &[
    "__future__",
    "_abc",
    "_aix_support",
    "_ast",
    "_asyncio",
    "_bisect",
    "_blake2",
    "_bootsubprocess",
    "_bz2",
    "_codecs",
    "_codecs_cn",
    "_codecs_hk",
    "_codecs_iso2022",
    "_codecs_jp",
    "_codecs_kr",
    "_codecs_tw",
    "_collections",
    "_collections_abc",
    "_compat_pickle",
    "_compression",
    "_contextvars",
    "_crypt",
    "_csv",
    "_ctypes",
    "_curses",
    "_curses_panel",
    "_datetime",
    "_dbm",
    "_decimal",
    "_elementtree",
    "_frozen_importlib",
    "_frozen_importlib_external",
    "_functools",
    "_gdbm",
    "_hashlib",
    "_heapq",
    "_imp",
    "_io",
    "_json",
    "_locale",
    "_lsprof",
    "_lzma",
    "_markupbase",
    "_md5",
    "_msi",
    "_multibytecodec",
    "_multiprocessing",
    "_opcode",
    "_operator",
    "_osx_support",
    "_overlapped",
    "_pickle",
    "_posixshmem",
    "_posixsubprocess",
    "_py_abc",
    "_pydecimal",
    "_pyio",
    "_queue",
    "_random",
    "_scproxy",
    "_sha1",
    "_sha256",
    "_sha3",
    "_sha512",
    "_signal",
    "_sitebuiltins",
    "_socket",
    "_sqlite3",
    "_sre",
    "_ssl",
    "_stat",
    "_statistics",
    "_string",
    "_strptime",
    "_struct",
    "_symtable",
    "_thread",
    "_threading_local",
    "_tkinter",
    "_tokenize",
    "_tracemalloc",
    "_typing",
    "_uuid",
    "_warnings",
    "_weakref",
    "_weakrefset",
    "_winapi",
    "_zoneinfo",
    "abc",
    "aifc",
    "antigravity",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "idlelib",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "lib2to3",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pydoc_data",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "this",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "turtledemo",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
];

/// The package a loader needs to import `dotted`, and whether it is the standard library.
pub fn package(dotted: &str) -> (&str, bool) {
    let top = dotted.split('.').next().unwrap_or(dotted);
    (top, STDLIB.contains(&top))
}

/// The severity of a call (or, `called` false, a mere import) of `dotted` that is not
/// known-safe: critical when dangerous; high (medium when only imported) for the rest of the
/// standard library; information for third-party packages, whose own code runs.
pub fn grade(dotted: &str, module: Option<&str>, called: bool) -> Severity {
    if denied_parts(dotted, module).is_some() {
        return Severity::Critical;
    }
    match package(dotted) {
        (_, true) if called => Severity::High,
        (_, true) => Severity::Medium,
        _ => Severity::Info,
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

/// Wrappers graded by the callable they are handed as first argument, because that is what
/// they end up calling: `copyreg._reconstructor(cls, base, state)` runs `cls.__new__`,
/// `functools.partial(f, ...)` and `functools.reduce(f, ...)` call `f`.
pub fn is_forwarder(dotted: &str) -> bool {
    matches!(
        dotted,
        "copyreg._reconstructor"
            | "copyreg.__newobj__"
            | "copyreg.__newobj_ex__"
            | "functools.partial"
            | "_functools.partial"
            | "functools.reduce"
            | "_functools.reduce"
    )
}

#[cfg(test)]
mod tests {

    /// The component-list definition `denied_parts` implements without allocating.
    fn denied_parts_reference(dotted: &str, module: Option<&str>) -> Option<&'static str> {
        let parts: Vec<&str> = dotted.split('.').collect();
        let module_len = module.map_or(1, |m| m.split('.').count());
        let (module_parts, attr_parts) = parts.split_at(module_len.min(parts.len()));
        let hit = DENY_MODULES.iter().copied().find(|entry| {
            let want: Vec<&str> = entry.split('.').collect();
            let in_module =
                module_parts.len() >= want.len() && module_parts[..want.len()] == want[..];
            let in_attrs = want.len() == 1 && attr_parts.contains(&want[0]);
            in_module || in_attrs
        });
        hit.or_else(|| {
            DENY_NAMES.iter().copied().find(|entry| {
                let want: Vec<&str> = entry.split('.').collect();
                parts.windows(want.len()).any(|w| w == want.as_slice())
            })
        })
    }

    #[test]
    fn denied_parts_matches_its_component_definition() {
        let mut names: Vec<String> = Vec::new();
        for entry in DENY_MODULES.iter().chain(DENY_NAMES) {
            let last = entry.rsplit('.').next().unwrap();
            let first = entry.split('.').next().unwrap();
            for n in [
                entry.to_string(),
                format!("{entry}.x"),
                format!("x.{entry}"),
                format!("x.{entry}.y"),
                format!("{entry}x"),
                format!("x{entry}"),
                format!("{first}.{last}"),
                format!("{first}..{last}"),
                format!("builtins.getattr.{last}"),
                format!("{last}.{first}"),
            ] {
                names.push(n);
            }
        }
        names.extend(
            [
                "",
                ".",
                "..",
                "os",
                "os.",
                ".os",
                "a.b.c",
                "torch._utils._rebuild_tensor_v2",
            ]
            .map(String::from),
        );
        let mut checked = 0;
        for name in &names {
            for module in [None, Some("x"), Some("x.y"), Some("a.b.c.d.e"), Some("")] {
                assert_eq!(
                    denied_parts(name, module),
                    denied_parts_reference(name, module),
                    "{name:?} with module {module:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 1000);
        // And both agree with what the tables say.
        assert_eq!(denied("os.system"), Some("os"));
        assert_eq!(denied("chaos.systems"), None);
    }
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(denied("pathlib.os.system"), Some("os"));
        assert_eq!(
            denied_parts("torch.serialization.os.system", Some("torch.serialization")),
            Some("os")
        );
        assert_eq!(denied("builtins.eval"), Some("builtins.eval"));
        assert_eq!(denied("builtins.print"), None);
        assert_eq!(denied("cosmos.x"), None);
        assert_eq!(denied_parts("os.path.join", Some("os.path")), Some("os"));
        // A module path with a dangerous-looking component is not that module.
        let ctor = "numpy.random._pickle.__randomstate_ctor";
        assert_eq!(denied_parts(ctor, Some("numpy.random._pickle")), None);
        assert!(allowed(Profile::Numpy, ctor));
        assert_eq!(
            denied_parts(
                "sklearn.externals.joblib.load",
                Some("sklearn.externals.joblib")
            ),
            Some("joblib.load")
        );
        assert!(allowed(Profile::Torch, "torch.FloatStorage"));
        assert!(allowed(Profile::Torch, "torch.bfloat16"));
        assert!(!allowed(Profile::Torch, "torch.os.system"));
        assert!(allowed(Profile::Generic, "collections.abc.Iterable"));
        assert!(allowed(Profile::Generic, "__future__.division"));
        assert!(allowed(Profile::Generic, "scipy.sparse._csr.csr_matrix"));
        assert!(allowed(
            Profile::Generic,
            "pandas.core.indexes.base._new_Index"
        ));
        assert!(!allowed(Profile::Generic, "__torch__.Net"));
        assert!(allowed(Profile::TorchScript, "__torch__.Net"));
        assert_eq!(
            grade("builtins.print", Some("builtins"), true),
            Severity::High
        );
        assert_eq!(
            grade("builtins.print", Some("builtins"), false),
            Severity::Medium
        );
        let lr = "sklearn.calibration._CalibratedClassifier";
        assert_eq!(grade(lr, Some("sklearn.calibration"), true), Severity::Info);
        assert_eq!(
            grade(
                "sklearn.datasets._openml.fetch_openml",
                Some("sklearn.datasets._openml"),
                true
            ),
            Severity::Critical
        );
        assert_eq!(
            grade(
                "pandas.io.pickle.read_pickle",
                Some("pandas.io.pickle"),
                true
            ),
            Severity::Critical
        );
    }
}
