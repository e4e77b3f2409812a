//! What the machine records: the object arena, imports, calls, frame anomalies and streams.

use std::fmt;

use crate::{Machine, TRUNCATED, fix_name};

/// Data a loader reads from the stream itself right after a BUILD, outside the opcodes:
/// joblib's unpickler reads each `NumpyArrayWrapper`'s array this way. The machine knows no
/// such loader; an embedder that models one says what follows which BUILD ([`InlineRule`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// `len` raw bytes, after a one-byte pad length and that many pad bytes when `padded`.
    /// `len` is an error when the loader cannot size the data: the stream fails when the
    /// data is read (after the pad).
    Raw {
        len: Result<u64, InlineError>,
        padded: bool,
    },
    /// A complete pickle stream, read by a fresh unpickler (its own stack and memo).
    Pickle,
}

/// Why a BUILD's inline data cannot be described: the stream fails there, as the loader's
/// read would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineError(pub String);

/// Decides, after a BUILD of `object` with `state`, whether the loader reads inline data.
pub type InlineRule =
    fn(m: &Machine<'_>, object: NodeId, state: NodeId) -> Result<Option<Inline>, InlineError>;

/// Index of a node in [`Machine::nodes`], or an int or a string carried in the id itself (see
/// [`INLINE_INT`], [`INLINE_STR`]); read any of them with [`Machine::node`].
pub type NodeId = u32;

/// Ids from here up to [`INLINE_INT`] are strings read straight from the input that were never
/// stored as nodes: the rest of the id indexes the machine's table of their byte ranges, 8 bytes
/// each instead of a 24-byte node that has to be dropped. Most of a vocabulary or state dict is
/// such strings (issue 17, part 8). [`Machine::node`] gives them back as `Node::Str`; they never
/// appear in [`Machine::nodes`], whose ids stay below this.
pub const INLINE_STR: NodeId = 1 << 30;

/// Ids with this bit set are ints from 0 to 2³¹ − 1 that were never stored as nodes: the value
/// is the rest of the id. A vocabulary or state dict holds hundreds of thousands of such ints;
/// as nodes they were half the arena, its page faults and its drop (issue 17, part 8).
/// [`Machine::node`] gives them back as `Node::Int`; they never appear in [`Machine::nodes`].
pub const INLINE_INT: NodeId = 1 << 31;

/// Caps on the work one pickle may cause.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum number of nodes (objects) the stream may create.
    pub max_nodes: usize,
    /// Maximum number of streams (STOP-separated) read from one buffer.
    pub max_streams: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_nodes: 32 << 20,
            max_streams: 64,
        }
    }
}

/// Which real unpickler's reading of FRAME the machine follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// C `pickle.loads(data)`: the whole input is one buffer; FRAME only checks that the frame's
    /// bytes are present, and operands read across frame ends.
    Bytes,
    /// C `pickle.load(stream)` on a stream without `peek()` (`io.BytesIO`; `torch.load`): FRAME
    /// reads the frame into the buffer, and an operand or line that does not fit in what is left
    /// of it drops the rest of the frame and is read from the stream after the frame.
    Stream,
    /// The pure-Python `pickle._Unpickler` (joblib): an operand crossing a frame end and a
    /// FRAME inside an unfinished frame are errors, but a frame longer than the data is read
    /// as the rest of the data.
    Python,
}

impl ReadMode {
    pub const ALL: [ReadMode; 3] = [ReadMode::Bytes, ReadMode::Stream, ReadMode::Python];

    /// The loader this mode stands for, for messages.
    pub fn loader(self) -> &'static str {
        match self {
            ReadMode::Bytes => "pickle.loads",
            ReadMode::Stream => "pickle.load(stream) / torch.load",
            ReadMode::Python => "pickle._Unpickler / joblib.load",
        }
    }
}

/// Framing that no conforming pickler writes; where the loaders' readings diverge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameAnomaly {
    /// An operand or text line starts inside the frame ending at `frame_end` and goes past it.
    Straddle { frame_end: u64 },
    /// FRAME while `left` bytes of the current frame were still unread.
    Nested { left: u64 },
    /// FRAME declares `declared` bytes where only `available` remain.
    Overlong { declared: u64, available: u64 },
    /// STOP while `left` bytes of the current frame were unread: a loader reading from a
    /// stream starts the next `load` after the frame, one reading bytes right after STOP.
    StopInFrame { left: u64 },
    /// Inline data ([`Inline`], joblib's arrays) read while `left` bytes of the current frame
    /// were unread (the loader reads it from the file, after the frame).
    InlineInFrame { left: u64 },
}

impl fmt::Display for FrameAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameAnomaly::Straddle { frame_end } => write!(
                f,
                "an operand crosses the end of its frame at byte {frame_end}: `pickle.loads` reads across, `torch.load` drops the rest of the frame"
            ),
            FrameAnomaly::Nested { left } => write!(
                f,
                "a FRAME starts while {left} bytes of the current frame are unread"
            ),
            FrameAnomaly::Overlong {
                declared,
                available,
            } => write!(
                f,
                "a FRAME declares {declared} bytes but only {available} follow: the C unpickler stops, joblib's reads on"
            ),
            FrameAnomaly::StopInFrame { left } => write!(
                f,
                "STOP leaves {left} bytes of its frame unread: the next `pickle.load` on a stream skips them"
            ),
            FrameAnomaly::InlineInFrame { left } => write!(
                f,
                "joblib array data starts while {left} bytes of the frame are unread"
            ),
        }
    }
}

/// Bytes of a `bytes`/`bytearray`/legacy `str` object, read with [`Machine::bytes_of`]: a
/// range of the input, or, from the input's length on, a range of the bytes the machine decoded
/// itself (text opcodes). Two words, so that a node is three ([`Node`]).
#[derive(Debug, Clone, Copy)]
pub struct Blob {
    pub start: usize,
    pub end: usize,
}

/// The elements of a tuple, list or set: a vector whose length and capacity live in its
/// allocation, one word in the node.
pub type Seq = thin_vec::ThinVec<NodeId>;

/// The items of a dict, in insertion order.
pub type Pairs = thin_vec::ThinVec<(NodeId, NodeId)>;

/// How an object was produced by a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Reduce,
    Inst,
    Obj,
    NewObj,
    NewObjEx,
    /// `inst.__setstate__(state)` where `__setstate__` was planted by an earlier BUILD.
    Build,
    /// `append`/`extend`/`__setitem__`/`add` on something that is not a list/dict/set.
    Method,
}

impl CallKind {
    pub fn opcode(self) -> &'static str {
        match self {
            CallKind::Reduce => "REDUCE",
            CallKind::Inst => "INST",
            CallKind::Obj => "OBJ",
            CallKind::NewObj => "NEWOBJ",
            CallKind::NewObjEx => "NEWOBJ_EX",
            CallKind::Build => "BUILD",
            CallKind::Method => "SETITEM/APPEND",
        }
    }
}

/// The result of a call the real unpickler would make.
#[derive(Debug, Clone)]
pub struct Obj {
    pub callee: NodeId,
    pub args: NodeId,
    pub kind: CallKind,
    pub offset: u64,
    /// Items set with SETITEM(S) (for dict-like results such as `OrderedDict`).
    pub items: Vec<(NodeId, NodeId)>,
    /// Items added with APPEND(S)/ADDITEMS.
    pub list: Vec<NodeId>,
    /// The last BUILD state.
    pub state: Option<NodeId>,
    /// A callable planted as `__setstate__` by a BUILD state.
    pub planted_setstate: Option<NodeId>,
}

/// One object the real unpickler would build. Strings read straight from the input borrow it
/// (most of a vocabulary or state dict is keys: no allocation per key). 24 bytes (a test holds
/// it there): the string is the only three-word variant, every other fits beside its niche;
/// with plain `Vec`s a node was 32 bytes, and a 14 MB vocabulary's arena a third larger.
#[derive(Debug, Clone)]
pub enum Node<'a> {
    None,
    Bool(bool),
    Int(i64),
    /// Little-endian two's complement.
    BigInt(Box<[u8]>),
    Float(f64),
    Str(std::borrow::Cow<'a, str>),
    Bytes(Blob),
    ByteArray(Blob),
    Tuple(Seq),
    List(Seq),
    Dict(Pairs),
    Set(Seq),
    FrozenSet(Seq),
    /// An imported attribute; index into [`Machine::imports`].
    Global(usize),
    /// What `persistent_load(pid)` returns.
    PersId {
        pid: NodeId,
        offset: u64,
    },
    Obj(Box<Obj>),
    /// An import whose operands were not constant strings.
    DynamicGlobal {
        offset: u64,
    },
}

/// An import performed by GLOBAL, STACK_GLOBAL or INST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub offset: u64,
    pub opcode: &'static str,
}

impl Import {
    /// `module.name` as Python 3 imports it: CPython's unpickler maps Python 2 names
    /// ([`fix_name`]). Applied whatever the protocol, so that a name that only resolves with a
    /// compatibility package installed (`future` provides `__builtin__`) is still judged as
    /// what it would import.
    pub fn dotted(&self) -> String {
        let (module, name) = fix_name(&self.module, &self.name);
        format!("{module}.{name}")
    }
}

/// Something the real unpickler would do that matters for security.
#[derive(Debug, Clone)]
pub enum Event {
    /// Import of `imports[index]`.
    Import { index: usize },
    /// STACK_GLOBAL whose module or name is not a constant string.
    DynamicImport {
        offset: u64,
        module: Option<String>,
        name: Option<String>,
    },
    /// A call; the node is the [`Node::Obj`] it produced.
    Call { node: NodeId },
    /// `persistent_load(pid)`.
    PersistentLoad { node: NodeId, offset: u64 },
    /// Framing no pickler writes; see [`FrameAnomaly`].
    Frame { offset: u64, anomaly: FrameAnomaly },
    /// BUILD whose state plants a dunder attribute (`__setstate__`, `__reduce__`, ...) on an
    /// object, or BUILD that assigns attributes of an imported object (monkeypatching).
    Build {
        offset: u64,
        target: NodeId,
        attribute: String,
    },
}

/// Why a stream could not be read, with the offset of the failing opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    pub offset: u64,
    pub message: String,
}

impl PickleError {
    /// The stream ran out of bytes (rather than holding something invalid).
    pub fn is_truncation(&self) -> bool {
        self.message.starts_with(TRUNCATED)
    }
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for PickleError {}

/// One STOP-terminated stream.
#[derive(Debug, Clone)]
pub struct Stream {
    pub start: usize,
    /// Offset just past STOP (or where parsing failed).
    pub end: usize,
    /// Highest PROTO seen (0 when none).
    pub protocol: u8,
    /// The value STOP returned.
    pub root: Option<NodeId>,
    pub error: Option<PickleError>,
}
