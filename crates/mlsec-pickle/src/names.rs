//! CPython's `_compat_pickle`: the Python 3 names its unpickler imports for Python 2 ones.

/// The Python 3 `(module, name)` CPython's unpickler imports for a Python 2 `(module, name)`
/// (`fix_imports=True`): first the renamed names (`__builtin__.xrange` is `builtins.range`),
/// then the renamed modules. The tables are those of CPython 3.11's `_compat_pickle`.
pub fn fix_name<'s>(module: &'s str, name: &'s str) -> (&'s str, &'s str) {
    if let Some(fixed) = fixed_name(module, name) {
        return fixed;
    }
    (fix_module(module), name)
}

fn fixed_name<'s>(module: &str, name: &'s str) -> Option<(&'s str, &'s str)> {
    const EXCEPTIONS: &[&str] = &[
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "BaseException",
        "BufferError",
        "BytesWarning",
        "DeprecationWarning",
        "EOFError",
        "EnvironmentError",
        "Exception",
        "FloatingPointError",
        "FutureWarning",
        "GeneratorExit",
        "IOError",
        "ImportError",
        "ImportWarning",
        "IndentationError",
        "IndexError",
        "KeyError",
        "KeyboardInterrupt",
        "LookupError",
        "MemoryError",
        "NameError",
        "NotImplementedError",
        "OSError",
        "OverflowError",
        "PendingDeprecationWarning",
        "ReferenceError",
        "RuntimeError",
        "RuntimeWarning",
        "StopIteration",
        "SyntaxError",
        "SyntaxWarning",
        "SystemError",
        "SystemExit",
        "TabError",
        "TargetScopeError",
        "TypeError",
        "UnboundLocalError",
        "UnicodeDecodeError",
        "UnicodeEncodeError",
        "UnicodeError",
        "UnicodeTranslateError",
        "UnicodeWarning",
        "UserWarning",
        "ValueError",
        "Warning",
        "ZeroDivisionError",
    ];
    const MP_EXCEPTIONS: &[&str] = &[
        "AuthenticationError",
        "BufferTooShort",
        "ProcessError",
        "TimeoutError",
    ];
    let fixed = match (module, name) {
        ("__builtin__", "xrange") => ("builtins", "range"),
        ("__builtin__", "reduce") => ("functools", "reduce"),
        ("__builtin__", "intern") => ("sys", "intern"),
        ("__builtin__", "unichr") => ("builtins", "chr"),
        ("__builtin__", "unicode" | "basestring") => ("builtins", "str"),
        ("__builtin__", "long") => ("builtins", "int"),
        ("itertools", "izip") => ("builtins", "zip"),
        ("itertools", "imap") => ("builtins", "map"),
        ("itertools", "ifilter") => ("builtins", "filter"),
        ("itertools", "ifilterfalse") => ("itertools", "filterfalse"),
        ("itertools", "izip_longest") => ("itertools", "zip_longest"),
        ("UserDict", "IterableUserDict" | "UserDict") => ("collections", "UserDict"),
        ("UserList", "UserList") => ("collections", "UserList"),
        ("UserString", "UserString") => ("collections", "UserString"),
        ("whichdb", "whichdb") => ("dbm", "whichdb"),
        ("_socket", "fromfd") => ("socket", "fromfd"),
        ("socket", "_socketobject") => ("socket", "SocketType"),
        ("_multiprocessing", "Connection") => ("multiprocessing.connection", "Connection"),
        ("multiprocessing.process", "Process") => ("multiprocessing.context", "Process"),
        ("multiprocessing.forking", "Popen") => ("multiprocessing.popen_fork", "Popen"),
        ("urllib", "ContentTooShortError") => ("urllib.error", "ContentTooShortError"),
        (
            "urllib",
            "getproxies" | "pathname2url" | "url2pathname" | "urlcleanup" | "urlopen"
            | "urlretrieve",
        ) => ("urllib.request", name),
        ("urllib", "quote_plus" | "quote" | "unquote_plus" | "unquote" | "urlencode") => {
            ("urllib.parse", name)
        }
        ("urllib2", "HTTPError" | "URLError") => ("urllib.error", name),
        ("exceptions", "StandardError") => ("builtins", "Exception"),
        ("exceptions", n) if EXCEPTIONS.contains(&n) => ("builtins", name),
        ("multiprocessing", n) if MP_EXCEPTIONS.contains(&n) => ("multiprocessing.context", name),
        _ => return None,
    };
    Some(fixed)
}

/// Python 2 module names CPython's unpickler maps to Python 3 ones (`_compat_pickle`'s
/// `IMPORT_MAPPING`). `exceptions` is not in it: names outside [`fix_name`]'s table fail to
/// import, but are judged as `builtins` ones to stay on the safe side.
pub fn fix_module(module: &str) -> &str {
    match module {
        "__builtin__" | "exceptions" => "builtins",
        "copy_reg" => "copyreg",
        "Queue" => "queue",
        "SocketServer" => "socketserver",
        "ConfigParser" => "configparser",
        "repr" => "reprlib",
        "tkFileDialog" | "FileDialog" => "tkinter.filedialog",
        "tkSimpleDialog" | "SimpleDialog" => "tkinter.simpledialog",
        "tkColorChooser" => "tkinter.colorchooser",
        "tkCommonDialog" => "tkinter.commondialog",
        "Dialog" => "tkinter.dialog",
        "Tkdnd" => "tkinter.dnd",
        "tkFont" => "tkinter.font",
        "tkMessageBox" => "tkinter.messagebox",
        "ScrolledText" => "tkinter.scrolledtext",
        "Tkconstants" => "tkinter.constants",
        "Tix" => "tkinter.tix",
        "ttk" => "tkinter.ttk",
        "Tkinter" => "tkinter",
        "markupbase" => "_markupbase",
        "_winreg" => "winreg",
        "thread" => "_thread",
        "dummy_thread" => "_dummy_thread",
        "dbhash" => "dbm.bsd",
        "dumbdbm" => "dbm.dumb",
        "dbm" => "dbm.ndbm",
        "gdbm" => "dbm.gnu",
        "xmlrpclib" => "xmlrpc.client",
        "SimpleXMLRPCServer" | "DocXMLRPCServer" => "xmlrpc.server",
        "httplib" => "http.client",
        "htmlentitydefs" => "html.entities",
        "HTMLParser" => "html.parser",
        "Cookie" => "http.cookies",
        "cookielib" => "http.cookiejar",
        "BaseHTTPServer" | "SimpleHTTPServer" | "CGIHTTPServer" => "http.server",
        "test.test_support" => "test.support",
        "commands" => "subprocess",
        "urlparse" => "urllib.parse",
        "robotparser" => "urllib.robotparser",
        "urllib2" => "urllib.request",
        "anydbm" | "whichdb" => "dbm",
        "_abcoll" => "collections.abc",
        "cPickle" => "pickle",
        "_elementtree" => "xml.etree.ElementTree",
        "UserDict" | "UserList" | "UserString" => "collections",
        "StringIO" | "cStringIO" => "io",
        other => other,
    }
}
