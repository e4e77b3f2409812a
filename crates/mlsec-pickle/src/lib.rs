//! A static emulation of CPython's `_pickle` unpickler.
//!
//! Nothing is imported or called: every object the real unpickler would build is a node in an
//! arena (small ints and strings read straight from the input are carried in their id instead,
//! [`INLINE_INT`], [`INLINE_STR`]; [`Machine::node`] reads any id), and every import, call, persistent load and attribute assignment the real unpickler
//! would perform is recorded as an [`Event`] with the byte offset of its opcode. The semantics
//! follow `Modules/_pickle.c` (3.11), not `pickletools`: any opcode is accepted whatever the
//! declared protocol, text integers are parsed like `PyOS_strtol`, the stack has a fence at the
//! last MARK, and parsing continues after STOP when another stream follows.
//!
//! FRAME is where real unpicklers disagree, so the machine reads frames the way one chosen
//! loader does ([`ReadMode`]): CPython's C unpickler over a byte string (`pickle.loads`), the C
//! unpickler over a stream without `peek()` (`pickle.load(io.BytesIO(..))`, which is how
//! `torch.load` reads `data.pkl`), or the pure-Python `pickle._Unpickler` (joblib). Whatever the
//! mode, every place where a conforming pickler's framing is broken (an operand straddling the
//! end of its frame, a FRAME inside a frame, a frame longer than the data) is recorded as an
//! [`Event::Frame`]: the interpretations differ only after such a point, so a caller that sees
//! one runs the other modes too ([`Machine::other_readings`]).
//!
//! Work and memory are bounded: every node comes from an input byte (at most a few per
//! opcode), memo indices are bounded by the input size, and [`Limits`] caps the rest.
//!
//! What it owns: the machine ([`Machine`]) and its trace ([`trace`]: nodes, imports, calls,
//! frame anomalies, stream errors), CPython's Python 2 name mapping ([`names`]) and the parsing
//! of text opcodes ([`text`]). What it must not do: I/O, knowledge of any file format or
//! library (loaders that read data between opcodes, like joblib, plug in through
//! [`InlineRule`]), or judging what it records (that is `mlsec checkpoint`'s audit).

mod machine;
pub mod names;
pub mod text;
pub mod trace;

pub use machine::Machine;
pub use names::{fix_module, fix_name};
pub use text::{IntText, parse_int_opcode, parse_py_int};
pub use trace::*;

/// How every truncation error message starts (CPython's own wording).
pub(crate) const TRUNCATED: &str = "pickle data was truncated";

/// The machine's internal result: an error message, located by the caller at the opcode.
pub(crate) type R<T> = Result<T, String>;
