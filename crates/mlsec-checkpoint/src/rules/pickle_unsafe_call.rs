use mlsec_core::{Finding, Severity};
use mlsec_pickle::{CallKind, Machine, NodeId, Obj};

use crate::audit::Target;
use crate::policy::{self, Profile};
use crate::site::{Locate, Site};

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

/// A call `obj` whose callable resolved to `target` (through wrappers and `getattr`, see
/// [`crate::audit`]): nothing when the profile's allowlist has it (or it is an
/// `operator.attrgetter` of plain attribute names), else graded by [`policy::grade`]. Method
/// calls and planted `__setstate__` are always reported.
pub(crate) fn check(
    m: &Machine<'_>,
    obj: &Obj,
    target: &Target,
    profile: Profile,
    site: &Site,
) -> Option<Finding> {
    let Target {
        dotted,
        module,
        offset: import_offset,
    } = target;
    let opcode = obj.kind.opcode();
    let args = m.seq_of(obj.args).unwrap_or(&[]);
    // `operator.attrgetter('a.b')` only reads plain attributes.
    let plain_attrgetter = dotted == "operator.attrgetter"
        && !args.is_empty()
        && args
            .iter()
            .all(|&a| m.str_of(a).is_some_and(|s| !s.contains("__")));
    if obj.kind != CallKind::Method
        && obj.kind != CallKind::Build
        && (policy::allowed(profile, dotted) || plain_attrgetter)
    {
        return None;
    }
    let severity = policy::grade(dotted, Some(module), true);
    let mut f = site
        .finding(
            &PICKLE_UNSAFE_CALL,
            obj.offset,
            if severity == Severity::Info {
                format!(
                    "pickle calls `{dotted}` ({opcode}) from the third-party package `{}`, which loading needs installed",
                    policy::package(dotted).0
                )
            } else {
                format!(
                    "pickle calls `{dotted}` ({opcode}), which is not known to be safe in a {} file",
                    profile.name()
                )
            },
        )
        .with_severity(severity)
        .with_evidence("callable", dotted)
        .with_evidence("opcode", opcode)
        .with_evidence("import_offset", site.span(*import_offset))
        .with_evidence("allowlist", profile.name());
    if let Some(entry) = policy::denied_parts(dotted, Some(module)) {
        f = f.with_evidence("denylist", entry);
    } else if severity == Severity::Info {
        f = f.with_evidence("package", policy::package(dotted).0);
    }
    if let Some(arg) = first_str_arg(m, obj.args) {
        f = f.with_evidence("argument", arg);
    }
    Some(f)
}

/// The call's first argument when it is a string, cut to 120 characters.
fn first_str_arg(m: &Machine<'_>, args: NodeId) -> Option<String> {
    let first = *m.seq_of(args)?.first()?;
    let s = m.str_of(first)?;
    Some(s.chars().take(120).collect())
}
