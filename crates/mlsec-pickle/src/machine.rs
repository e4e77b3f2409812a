//! The machine: one buffer, its streams, and the opcode loop.

use crate::text::*;
use crate::trace::*;
use crate::{R, TRUNCATED};
use thin_vec::{ThinVec, thin_vec};

/// The simulated unpickler over one buffer. `base` is added to every reported offset.
pub struct Machine<'a> {
    pub data: &'a [u8],
    pub base: u64,
    pub nodes: Vec<Node<'a>>,
    pub imports: Vec<Import>,
    pub events: Vec<Event>,
    pub streams: Vec<Stream>,
    /// Byte ranges the loader reads from the stream itself, outside the opcodes ([`Inline`]),
    /// relative to `data`: joblib's array data.
    pub inline_data: Vec<(usize, usize)>,
    /// The object after whose BUILD each entry of `inline_data` was read (same index).
    pub inline_nodes: Vec<NodeId>,
    /// The byte ranges (start, length) of the inline strings ([`INLINE_STR`]), by index.
    strs: Vec<(u32, u32)>,
    /// Bytes decoded from text opcodes, which are not a range of `data`: [`Blob`]s from
    /// `data.len()` on point here.
    decoded: Vec<u8>,
    /// Which BUILDs are followed by inline data, for the loader modelled.
    inline: Option<InlineRule>,
    /// Attributes BUILD assigned, by (object, name): what `getattr` on them would return.
    attributes: std::collections::HashMap<(NodeId, String), NodeId>,
    limits: Limits,
    mode: ReadMode,
    // per stream
    pos: usize,
    /// The current frame's byte range, while one is open.
    frame: Option<(usize, usize)>,
    op_start: usize,
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    /// Dense like CPython's memo array; `NO_MEMO` marks empty slots.
    memo: Vec<NodeId>,
    memo_filled: u64,
    proto: u8,
}

const NONE_ID: NodeId = 0;
const TRUE_ID: NodeId = 1;
const FALSE_ID: NodeId = 2;
/// Tuples are immutable, so every `()` is one node.
const EMPTY_TUPLE_ID: NodeId = 3;
const NO_MEMO: NodeId = NodeId::MAX;

impl<'a> Machine<'a> {
    pub fn new(data: &'a [u8], base: u64) -> Machine<'a> {
        Machine::with_limits(data, base, Limits::default())
    }

    pub fn with_limits(data: &'a [u8], base: u64, limits: Limits) -> Machine<'a> {
        Machine::with_mode(data, base, limits, ReadMode::Bytes)
    }

    /// A machine that reads frames the way `mode`'s loader does.
    pub fn with_mode(data: &'a [u8], base: u64, limits: Limits, mode: ReadMode) -> Machine<'a> {
        Machine {
            data,
            base,
            nodes: vec![
                Node::None,
                Node::Bool(true),
                Node::Bool(false),
                Node::Tuple(ThinVec::new()),
            ],
            imports: Vec::new(),
            events: Vec::new(),
            streams: Vec::new(),
            inline_data: Vec::new(),
            inline_nodes: Vec::new(),
            strs: Vec::new(),
            decoded: Vec::new(),
            inline: None,
            attributes: std::collections::HashMap::new(),
            limits,
            mode,
            pos: 0,
            frame: None,
            op_start: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Vec::new(),
            memo_filled: 0,
            proto: 0,
        }
    }

    /// The same machine, reading the inline data `rule` says follows a BUILD ([`Inline`]).
    pub fn with_inline(mut self, rule: InlineRule) -> Machine<'a> {
        self.inline = Some(rule);
        self
    }

    /// Reads one stream starting at `start`; returns it (also pushed on `streams`).
    pub fn run_stream(&mut self, start: usize) -> Stream {
        self.pos = start;
        self.frame = None;
        self.stack.clear();
        self.marks.clear();
        self.memo.clear();
        self.memo_filled = 0;
        self.proto = 0;
        let result = self.run_inner();
        // A stream loader leaves the file after the frame it read, even if STOP came first.
        let end = match (self.mode, self.frame) {
            (ReadMode::Stream | ReadMode::Python, Some((_, frame_end))) => frame_end.max(self.pos),
            _ => self.pos,
        };
        let stream = Stream {
            start,
            end,
            protocol: self.proto,
            root: result.as_ref().ok().copied(),
            error: result.err().map(|message| PickleError {
                offset: self.base + self.op_start as u64,
                message,
            }),
        };
        self.streams.push(stream.clone());
        stream
    }

    /// Reads every stream in the buffer: after a STOP, parsing continues while bytes remain
    /// (what repeated `pickle.load` calls on one file would do). Stops at the first error.
    pub fn run_all(&mut self) {
        let mut start = 0;
        while start < self.data.len() && self.streams.len() < self.limits.max_streams {
            let stream = self.run_stream(start);
            if stream.error.is_some() || stream.end <= start {
                break;
            }
            start = stream.end;
        }
    }

    /// The mode this machine reads frames in.
    pub fn mode(&self) -> ReadMode {
        self.mode
    }

    /// The same streams read the way the other loaders read frames ([`ReadMode`]), when this
    /// reading met framing they could disagree on; empty otherwise (they cannot differ). Audit
    /// them all and report the union.
    pub fn other_readings(&self) -> Vec<Machine<'a>> {
        if !self.has_frame_anomaly() {
            return Vec::new();
        }
        ReadMode::ALL
            .into_iter()
            .filter(|&mode| mode != self.mode)
            .map(|mode| {
                let mut m = Machine::with_mode(self.data, self.base, self.limits, mode);
                m.inline = self.inline;
                let first = self.streams.first().map_or(0, |s| s.start);
                let mut start = first;
                while start < self.data.len() && m.streams.len() < self.streams.len().max(1) {
                    let stream = m.run_stream(start);
                    if stream.error.is_some() || stream.end <= start {
                        break;
                    }
                    start = stream.end;
                }
                m
            })
            .collect()
    }

    /// Whether the framing differs from what a pickler writes anywhere in what was read.
    pub fn has_frame_anomaly(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Frame { .. }))
    }

    /// The object `id` names: borrowed from the arena, or an `Int` rebuilt from an inline id
    /// ([`INLINE_INT`]).
    pub fn node(&self, id: NodeId) -> std::borrow::Cow<'_, Node<'a>> {
        if id & INLINE_INT != 0 {
            std::borrow::Cow::Owned(Node::Int(i64::from(id & !INLINE_INT)))
        } else if id & INLINE_STR != 0 {
            std::borrow::Cow::Owned(Node::Str(self.inline_str(id).into()))
        } else {
            std::borrow::Cow::Borrowed(&self.nodes[id as usize])
        }
    }

    /// The text of an inline string id ([`INLINE_STR`]).
    fn inline_str(&self, id: NodeId) -> &'a str {
        let (start, len) = self.strs[(id & !INLINE_STR) as usize];
        let (start, len) = (start as usize, len as usize);
        let data: &'a [u8] = self.data;
        utf8(&data[start..start + len]).expect("an inline string was valid UTF-8 when it was read")
    }

    /// The object `id` names when it is stored in the arena: `None` for an inline int or
    /// string ([`INLINE_INT`], [`INLINE_STR`]). For matching containers and objects where a
    /// borrow must outlive the statement; ints and strings must be matched through
    /// [`Machine::node`] (or [`Machine::int_of`], [`Machine::str_of`]).
    pub fn stored(&self, id: NodeId) -> Option<&Node<'a>> {
        if id & (INLINE_INT | INLINE_STR) != 0 {
            None
        } else {
            Some(&self.nodes[id as usize])
        }
    }

    /// The arena slot of `id`; `None` for an inline int or string, which has none (both are
    /// immutable, so nothing the machine mutates is one).
    fn node_mut(&mut self, id: NodeId) -> Option<&mut Node<'a>> {
        if id & (INLINE_INT | INLINE_STR) != 0 {
            None
        } else {
            Some(&mut self.nodes[id as usize])
        }
    }

    /// An int on the stack: inline when it fits ([`INLINE_INT`]), else a node.
    fn push_int(&mut self, v: i64) -> R<()> {
        match NodeId::try_from(v) {
            Ok(small) if small < INLINE_INT => {
                self.stack.push(INLINE_INT | small);
                Ok(())
            }
            _ => self.push_new(Node::Int(v)),
        }
    }

    /// The bytes of a node that holds bytes (bytes, bytearray), if any.
    pub fn bytes_of(&self, id: NodeId) -> Option<&[u8]> {
        match self.stored(id)? {
            Node::Bytes(b) | Node::ByteArray(b) => {
                Some(match b.start.checked_sub(self.data.len()) {
                    Some(start) => &self.decoded[start..b.end - self.data.len()],
                    None => &self.data[b.start..b.end],
                })
            }
            _ => None,
        }
    }

    pub fn str_of(&self, id: NodeId) -> Option<&str> {
        if id & INLINE_STR != 0 && id & INLINE_INT == 0 {
            return Some(self.inline_str(id));
        }
        match self.stored(id)? {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn int_of(&self, id: NodeId) -> Option<i64> {
        match *self.node(id) {
            Node::Int(i) => Some(i),
            Node::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }

    /// The elements of a tuple or list.
    pub fn seq_of(&self, id: NodeId) -> Option<&[NodeId]> {
        match self.stored(id)? {
            Node::Tuple(v) | Node::List(v) => Some(v),
            _ => None,
        }
    }

    /// `module.name` of a node that is an import.
    pub fn global_name(&self, id: NodeId) -> Option<String> {
        match self.stored(id)? {
            Node::Global(i) => Some(self.imports[*i].dotted()),
            _ => None,
        }
    }

    fn add(&mut self, node: Node<'a>) -> R<NodeId> {
        if self.nodes.len() >= self.limits.max_nodes.min(INLINE_STR as usize) {
            return Err(format!(
                "pickle creates more than {} objects",
                self.limits.max_nodes
            ));
        }
        self.nodes.push(node);
        Ok((self.nodes.len() - 1) as NodeId)
    }

    fn push_new(&mut self, node: Node<'a>) -> R<()> {
        let id = self.add(node)?;
        self.stack.push(id);
        Ok(())
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> R<NodeId> {
        if self.stack.len() <= self.fence() {
            return Err("unpickling stack underflow".into());
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> R<NodeId> {
        if self.stack.len() <= self.fence() {
            return Err("unpickling stack underflow".into());
        }
        Ok(*self.stack.last().expect("checked above"))
    }

    /// Pops everything down to the last MARK, and the MARK.
    fn pop_mark(&mut self) -> R<Seq> {
        let Some(mark) = self.marks.pop() else {
            return Err("could not find MARK".into());
        };
        Ok(self.stack.drain(mark.min(self.stack.len())..).collect())
    }

    #[inline]
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        self.enter_read(n, false)?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| TRUNCATED.to_owned())?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn frame_anomaly(&mut self, anomaly: FrameAnomaly) {
        let offset = self.base + self.op_start as u64;
        // One event per place: a straddling line is seen once per byte otherwise.
        if let Some(Event::Frame { offset: last, .. }) = self.events.last()
            && *last == offset
        {
            return;
        }
        self.events.push(Event::Frame { offset, anomaly });
    }

    /// Before reading `n` bytes (or a line, `line`) at `pos`: what the mode's loader does at the
    /// end of the current frame.
    #[inline(always)]
    fn enter_read(&mut self, n: usize, line: bool) -> R<()> {
        // Outside a frame (every protocol < 4 pickle) there is nothing to do: kept inline so
        // the per-operand cost is one test (it was 13% of a 14 MB dict pickle's instructions).
        match self.frame {
            None => Ok(()),
            Some((_, end)) => self.enter_read_framed(end, n, line),
        }
    }

    #[inline(never)]
    fn enter_read_framed(&mut self, end: usize, n: usize, line: bool) -> R<()> {
        if self.pos >= end {
            // The frame is used up: reading goes on from the data after it.
            self.frame = None;
            return Ok(());
        }
        let fits = if line {
            self.data[self.pos..end].contains(&b'\n')
        } else {
            n <= end - self.pos
        };
        if fits {
            return Ok(());
        }
        self.frame_anomaly(FrameAnomaly::Straddle {
            frame_end: self.base + end as u64,
        });
        self.frame = None;
        match self.mode {
            ReadMode::Bytes => Ok(()),
            ReadMode::Stream => {
                self.pos = end;
                Ok(())
            }
            ReadMode::Python => Err("pickle exhausted before end of frame".into()),
        }
    }

    /// FRAME with its 8-byte length already read.
    fn open_frame(&mut self, declared: u64) -> R<()> {
        if let Some((_, end)) = self.frame
            && self.pos < end
        {
            let left = (end - self.pos) as u64;
            self.frame_anomaly(FrameAnomaly::Nested { left });
            match self.mode {
                ReadMode::Bytes => {}
                ReadMode::Stream => {
                    // The C unpickler asks its buffer for the frame: when it fits in what is
                    // left, nothing changes; otherwise the rest is dropped and the frame is
                    // read from the stream.
                    if declared <= left {
                        return Ok(());
                    }
                    self.pos = end;
                }
                ReadMode::Python => {
                    return Err("beginning of a new frame before end of current frame".into());
                }
            }
        }
        let available = self.data.len() - self.pos;
        let frame_end = match usize::try_from(declared) {
            Ok(n) if n <= available => self.pos + n,
            _ => {
                self.frame_anomaly(FrameAnomaly::Overlong {
                    declared,
                    available: available as u64,
                });
                if self.mode != ReadMode::Python {
                    return Err(format!("{TRUNCATED} (FRAME)"));
                }
                // `io.BytesIO(file.read(n))` holds whatever was left.
                self.data.len()
            }
        };
        self.frame = Some((self.pos, frame_end));
        Ok(())
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn len_u64(&mut self, v: u64) -> R<usize> {
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= self.data.len() - self.pos)
            .ok_or_else(|| TRUNCATED.to_owned())
    }

    /// A `\n`-terminated line without the newline.
    fn line(&mut self) -> R<&'a [u8]> {
        self.enter_read(0, true)?;
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(format!("{TRUNCATED} (no end of line)")),
        }
    }

    fn utf8_line(&mut self) -> R<String> {
        let line = self.line()?;
        std::str::from_utf8(line)
            .map(str::to_owned)
            .map_err(|_| "GLOBAL/INST operand is not valid UTF-8".to_owned())
    }

    fn memo_put(&mut self, idx: u64, id: NodeId) -> R<()> {
        // CPython grows an array to the index; an index far beyond the input size can only
        // be a memory-exhaustion attempt, which CPython answers with MemoryError.
        if idx > (self.data.len() as u64).saturating_mul(4) + 1024 {
            return Err(format!("memo index {idx} is out of range"));
        }
        let i = idx as usize;
        if i >= self.memo.len() {
            self.memo.resize(i + 1, NO_MEMO);
        }
        if self.memo[i] == NO_MEMO {
            self.memo_filled += 1;
        }
        self.memo[i] = id;
        Ok(())
    }

    fn memo_get(&mut self, idx: u64) -> R<()> {
        match usize::try_from(idx).ok().and_then(|i| self.memo.get(i)) {
            Some(&id) if id != NO_MEMO => {
                self.stack.push(id);
                Ok(())
            }
            _ => Err(format!("Memo value not found at index {idx}")),
        }
    }

    fn import(&mut self, module: String, name: String, opcode: &'static str) -> R<NodeId> {
        let index = self.imports.len();
        self.imports.push(Import {
            module,
            name,
            offset: self.base + self.op_start as u64,
            opcode,
        });
        self.events.push(Event::Import { index });
        self.add(Node::Global(index))
    }

    fn call(&mut self, callee: NodeId, args: NodeId, kind: CallKind) -> R<NodeId> {
        let id = self.add(Node::Obj(Box::new(Obj {
            callee,
            args,
            kind,
            offset: self.base + self.op_start as u64,
            items: Vec::new(),
            list: Vec::new(),
            state: None,
            planted_setstate: None,
        })))?;
        self.events.push(Event::Call { node: id });
        Ok(id)
    }

    /// `target.method(args)` for container opcodes applied to a non-container.
    fn method_call(&mut self, target: NodeId, method: &str, args: Seq) -> R<()> {
        match self.node_mut(target) {
            Some(Node::Obj(obj)) => {
                // Dict-like or list-like results of allowed constructors (OrderedDict, ...):
                // keep the items for tensor reconstruction. The constructor call itself was
                // already recorded and is judged there.
                if method == "__setitem__" {
                    for pair in args.chunks(2) {
                        if let [k, v] = pair {
                            obj.items.push((*k, *v));
                        }
                    }
                } else {
                    obj.list.extend(args);
                }
                Ok(())
            }
            Some(Node::Global(_) | Node::DynamicGlobal { .. } | Node::PersId { .. }) => {
                let attr = self.add(Node::Str(method.to_owned().into()))?;
                let tuple = self.add(Node::Tuple(args))?;
                let bound = self.add(Node::Tuple(thin_vec![target, attr]))?;
                self.call(bound, tuple, CallKind::Method)?;
                Ok(())
            }
            _ => Err(format!("object does not support {method}")),
        }
    }

    fn run_inner(&mut self) -> R<NodeId> {
        loop {
            self.op_start = self.pos;
            let op = self.u8().map_err(|_| {
                if self.op_start == self.streams.last().map_or(0, |s| s.end) {
                    "empty pickle stream".to_owned()
                } else {
                    format!("{TRUNCATED} (no STOP)")
                }
            })?;
            match op {
                b'(' => {
                    if self.marks.len() > self.data.len() {
                        return Err("too many marks".into());
                    }
                    self.marks.push(self.stack.len());
                }
                b'.' => {
                    if let Some((_, end)) = self.frame
                        && self.pos < end
                    {
                        let left = (end - self.pos) as u64;
                        self.frame_anomaly(FrameAnomaly::StopInFrame { left });
                    }
                    return self.pop();
                }
                b'0' => {
                    let len = self.stack.len();
                    if self.marks.last() == Some(&len) {
                        self.marks.pop();
                    } else if len <= self.fence() {
                        return Err("unpickling stack underflow".into());
                    } else {
                        self.stack.pop();
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(t);
                }
                b'F' => {
                    let line = self.line()?;
                    let v = parse_float(line).ok_or("could not convert string to float")?;
                    self.push_new(Node::Float(v))?;
                }
                b'I' => {
                    let line = self.line()?;
                    match parse_int_opcode(line) {
                        Some(IntText::Small(v)) => {
                            if line.len() == 2 && (v == 0 || v == 1) {
                                self.stack.push(if v == 1 { TRUE_ID } else { FALSE_ID });
                            } else {
                                self.push_int(v)?;
                            }
                        }
                        Some(IntText::Big) => self.push_new(Node::BigInt(vec![0; 9].into()))?,
                        None => return Err("could not convert string to int".into()),
                    }
                }
                b'L' => {
                    let line = self.line()?;
                    let line = line.strip_suffix(b"L").unwrap_or(line);
                    match parse_py_int(line) {
                        Some(IntText::Small(v)) => self.push_int(v)?,
                        Some(IntText::Big) => self.push_new(Node::BigInt(vec![0; 9].into()))?,
                        None => return Err("invalid literal for int() with base 0".into()),
                    }
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push_int(i64::from(v))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push_int(i64::from(v))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push_int(i64::from(v))?;
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    self.push_long(b)?;
                }
                0x8b => {
                    let n = self.u32()? as i32;
                    if n < 0 {
                        return Err("LONG pickle has negative byte count".into());
                    }
                    let b = self.take(n as usize)?;
                    self.push_long(b)?;
                }
                b'N' => self.stack.push(NONE_ID),
                0x88 => self.stack.push(TRUE_ID),
                0x89 => self.stack.push(FALSE_ID),
                b'P' => {
                    let line = self.line()?;
                    let s = std::str::from_utf8(line)
                        .map_err(|_| "persistent IDs in protocol 0 must be ASCII strings")?;
                    let pid = self.add(Node::Str(s.into()))?;
                    self.persistent(pid)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.persistent(pid)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let callee = self.top()?;
                    let id = self.call(callee, args, CallKind::Reduce)?;
                    *self.stack.last_mut().expect("top exists") = id;
                }
                b'S' => {
                    let line = self.line()?;
                    let b = decode_string_opcode(line)?;
                    self.push_py2_string(b)?;
                }
                b'T' => {
                    let n = self.u32()? as i32;
                    if n < 0 {
                        return Err("BINSTRING pickle has negative byte count".into());
                    }
                    let start = self.pos;
                    self.take(n as usize)?;
                    self.push_py2_span(start, self.pos)?;
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let start = self.pos;
                    self.take(n)?;
                    self.push_py2_span(start, self.pos)?;
                }
                b'V' => {
                    let line = self.line()?;
                    let s = decode_raw_unicode_escape(line)?;
                    self.push_new(Node::Str(s.into()))?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.push_unicode(n)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.push_unicode(n)?;
                }
                0x8d => {
                    let n = self.u64()?;
                    let n = self.len_u64(n)?;
                    self.push_unicode(n)?;
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    self.push_bytes(n, false)?;
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.push_bytes(n, false)?;
                }
                0x8e => {
                    let n = self.u64()?;
                    let n = self.len_u64(n)?;
                    self.push_bytes(n, false)?;
                }
                0x96 => {
                    let n = self.u64()?;
                    let n = self.len_u64(n)?;
                    self.push_bytes(n, true)?;
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8"));
                    self.push_new(Node::Float(v))?;
                }
                b'a' => {
                    let v = self.pop()?;
                    let list = self.top()?;
                    self.append(list, thin_vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.append(list, items)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let inst = self.top()?;
                    self.build(inst, state)?;
                }
                b'c' => {
                    let module = self.utf8_line()?;
                    let name = self.utf8_line()?;
                    let id = self.import(module, name, "GLOBAL")?;
                    self.stack.push(id);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (self.str_of(module), self.str_of(name)) {
                        (Some(m), Some(n)) => {
                            let (m, n) = (m.to_owned(), n.to_owned());
                            let id = self.import(m, n, "STACK_GLOBAL")?;
                            self.stack.push(id);
                        }
                        _ => {
                            let offset = self.base + self.op_start as u64;
                            let m = self.resolve_str(module, 0);
                            let n = self.resolve_str(name, 0);
                            self.events.push(Event::DynamicImport {
                                offset,
                                module: m.clone(),
                                name: n.clone(),
                            });
                            match (m, n) {
                                // Computed, but statically known: import what it computes.
                                (Some(m), Some(n)) => {
                                    let id = self.import(m, n, "STACK_GLOBAL")?;
                                    self.stack.push(id);
                                }
                                _ => self.push_new(Node::DynamicGlobal { offset })?,
                            }
                        }
                    }
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.push_new(Node::Dict(pairs))?;
                }
                b'}' => self.push_new(Node::Dict(ThinVec::new()))?,
                b'g' => {
                    let line = self.line()?;
                    let idx = parse_decimal(line).ok_or("invalid GET index")?;
                    self.memo_get(idx)?;
                }
                b'h' => {
                    let i = self.u8()?;
                    self.memo_get(u64::from(i))?;
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(u64::from(i))?;
                }
                b'p' => {
                    let line = self.line()?;
                    let idx = parse_decimal(line).ok_or("invalid PUT index")?;
                    let t = self.top()?;
                    self.memo_put(idx, t)?;
                }
                b'q' => {
                    let i = self.u8()?;
                    let t = self.top()?;
                    self.memo_put(u64::from(i), t)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    let t = self.top()?;
                    self.memo_put(u64::from(i), t)?;
                }
                0x94 => {
                    let t = self.top()?;
                    let idx = self.memo_filled;
                    self.memo_put(idx, t)?;
                }
                b'i' => {
                    let module = self.utf8_line()?;
                    let name = self.utf8_line()?;
                    let args = self.pop_mark()?;
                    let cls = self.import(module, name, "INST")?;
                    let args = self.add(Node::Tuple(args))?;
                    let id = self.call(cls, args, CallKind::Inst)?;
                    self.stack.push(id);
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return Err("OBJ needs a class on the stack".into());
                    }
                    let cls = items.remove(0);
                    let args = self.add(Node::Tuple(items))?;
                    let id = self.call(cls, args, CallKind::Obj)?;
                    self.stack.push(id);
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let id = self.call(cls, args, CallKind::NewObj)?;
                    self.stack.push(id);
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let both = self.add(Node::Tuple(thin_vec![args, kwargs]))?;
                    let id = self.call(cls, both, CallKind::NewObjEx)?;
                    self.stack.push(id);
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_new(Node::List(items))?;
                }
                b']' => self.push_new(Node::List(ThinVec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_new(Node::Tuple(items))?;
                }
                b')' => self.stack.push(EMPTY_TUPLE_ID),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < self.fence() + n {
                        return Err("unpickling stack underflow".into());
                    }
                    let items = self.stack.drain(self.stack.len() - n..).collect();
                    self.push_new(Node::Tuple(items))?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, thin_vec![k, v])?;
                }
                b'u' => {
                    let Some(mark) = self.marks.pop() else {
                        return Err("could not find MARK".into());
                    };
                    let start = mark.min(self.stack.len());
                    if !(self.stack.len() - start).is_multiple_of(2) {
                        return Err(ODD_ITEMS.into());
                    }
                    if start <= self.fence() {
                        return Err("unpickling stack underflow".into());
                    }
                    let d = self.stack[start - 1];
                    // Into a dict straight from the stack (a vocabulary is hundreds of such
                    // batches); anything else gets `__setitem__` calls.
                    if let Some(Node::Dict(v)) = self.nodes.get_mut(d as usize) {
                        let items = &self.stack[start..];
                        v.reserve(items.len() / 2);
                        for c in items.chunks_exact(2) {
                            v.push((c[0], c[1]));
                        }
                        self.stack.truncate(start);
                    } else {
                        let items = self.stack.drain(start..).collect();
                        self.set_items(d, items)?;
                    }
                }
                0x8f => self.push_new(Node::Set(ThinVec::new()))?,
                0x90 => {
                    let items = self.pop_mark()?;
                    let s = self.top()?;
                    match self.node_mut(s) {
                        Some(Node::Set(v)) => v.extend(items),
                        _ => self.method_call(s, "add", items)?,
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_new(Node::FrozenSet(items))?;
                }
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(format!("unsupported pickle protocol: {p}"));
                    }
                    self.proto = p;
                }
                0x95 => {
                    let n = self.u64()?;
                    self.open_frame(n)?;
                }
                0x82..=0x84 => {
                    let code = match op {
                        0x82 => u32::from(self.u8()?),
                        0x83 => u32::from(self.u16()?),
                        _ => self.u32()?,
                    };
                    return Err(format!("unregistered extension code {code}"));
                }
                0x97 => {
                    return Err(
                        "pickle stream refers to out-of-band data but no buffers were given".into(),
                    );
                }
                0x98 => {
                    self.top()?;
                }
                other => {
                    return Err(format!("invalid load key, {:?}", char::from(other)));
                }
            }
        }
    }

    /// The string a node evaluates to when that is known without running anything: a literal,
    /// or `str(x)`, `getattr(obj, name)` of an attribute a BUILD planted, `operator.getitem` of
    /// a dict item, `operator.add`/`concat` and `str.join` of such strings. Used to name what a
    /// computed STACK_GLOBAL imports.
    fn resolve_str(&self, id: NodeId, depth: usize) -> Option<String> {
        if depth > 8 {
            return None;
        }
        if let Some(s) = self.str_of(id) {
            return Some(s.to_owned());
        }
        let obj = match self.stored(id)? {
            Node::Bytes(_) => {
                return self
                    .bytes_of(id)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .map(str::to_owned);
            }
            Node::Obj(obj) => obj,
            _ => return None,
        };
        let args = self.seq_of(obj.args)?;
        let arg = |i: usize| args.get(i).copied();
        let callee = self.global_name(obj.callee)?;
        match callee.as_str() {
            "builtins.str" | "builtins.format" => self.resolve_str(arg(0)?, depth + 1),
            "builtins.getattr" => {
                let attr = self.resolve_str(arg(1)?, depth + 1)?;
                match self.attributes.get(&(arg(0)?, attr)) {
                    Some(&v) => self.resolve_str(v, depth + 1),
                    None => arg(2).and_then(|d| self.resolve_str(d, depth + 1)),
                }
            }
            "operator.getitem" | "_operator.getitem" => {
                let key = self.resolve_str(arg(1)?, depth + 1)?;
                let items: &[(NodeId, NodeId)] = match self.stored(arg(0)?)? {
                    Node::Dict(pairs) => pairs,
                    Node::Obj(o) => &o.items,
                    _ => return None,
                };
                let &(_, v) = items
                    .iter()
                    .rev()
                    .find(|(k, _)| self.str_of(*k) == Some(key.as_str()))?;
                self.resolve_str(v, depth + 1)
            }
            "operator.add" | "_operator.add" | "operator.concat" | "_operator.concat" => {
                let a = self.resolve_str(arg(0)?, depth + 1)?;
                let b = self.resolve_str(arg(1)?, depth + 1)?;
                Some(a + &b)
            }
            "builtins.str.join" => {
                let sep = self.resolve_str(arg(0)?, depth + 1)?;
                let parts = self.seq_of(arg(1)?)?;
                let parts: Option<Vec<String>> = parts
                    .iter()
                    .map(|&p| self.resolve_str(p, depth + 1))
                    .collect();
                Some(parts?.join(&sep))
            }
            _ => None,
        }
    }

    fn persistent(&mut self, pid: NodeId) -> R<()> {
        let offset = self.base + self.op_start as u64;
        let id = self.add(Node::PersId { pid, offset })?;
        self.events.push(Event::PersistentLoad { node: id, offset });
        self.stack.push(id);
        Ok(())
    }

    fn push_long(&mut self, b: &[u8]) -> R<()> {
        if b.is_empty() {
            return self.push_int(0);
        }
        if b.len() <= 8 {
            let neg = b[b.len() - 1] & 0x80 != 0;
            let mut buf = [if neg { 0xff } else { 0 }; 8];
            buf[..b.len()].copy_from_slice(b);
            self.push_int(i64::from_le_bytes(buf))
        } else {
            self.push_new(Node::BigInt(b.into()))
        }
    }

    fn push_unicode(&mut self, n: usize) -> R<()> {
        let start = self.pos;
        let b = self.take(n)?;
        match utf8(b) {
            Ok(_) => self.push_input_str(start, n),
            Err(_) if utf8_surrogatepass_ok(b) => {
                self.push_new(Node::Str(String::from_utf8_lossy(b)))
            }
            Err(_) => Err("'utf-8' codec can't decode BINUNICODE operand".into()),
        }
    }

    /// A string that is the valid UTF-8 at `data[start..start + len]`: inline when its range
    /// fits the table ([`INLINE_STR`]), else a node borrowing the input.
    fn push_input_str(&mut self, start: usize, len: usize) -> R<()> {
        if let (Ok(s), Ok(l)) = (u32::try_from(start), u32::try_from(len))
            && self.strs.len() < INLINE_STR as usize
        {
            self.stack.push(INLINE_STR | self.strs.len() as NodeId);
            self.strs.push((s, l));
            return Ok(());
        }
        let data: &'a [u8] = self.data;
        let s = utf8(&data[start..start + len]).map_err(|_| "not UTF-8".to_owned())?;
        self.push_new(Node::Str(s.into()))
    }

    fn push_bytes(&mut self, n: usize, array: bool) -> R<()> {
        let start = self.pos;
        self.take(n)?;
        let blob = Blob {
            start,
            end: self.pos,
        };
        self.push_new(if array {
            Node::ByteArray(blob)
        } else {
            Node::Bytes(blob)
        })
    }

    /// Python 2 `str`: decoded as ASCII (the default encoding); non-ASCII stays bytes, as
    /// with `encoding='bytes'` or `latin1` loaders such as numpy's.
    fn push_py2_span(&mut self, start: usize, end: usize) -> R<()> {
        if self.data[start..end].is_ascii() {
            self.push_input_str(start, end - start)
        } else {
            self.push_new(Node::Bytes(Blob { start, end }))
        }
    }

    fn push_py2_string(&mut self, b: Vec<u8>) -> R<()> {
        if b.is_ascii() {
            self.push_new(Node::Str(String::from_utf8(b).expect("ascii").into()))
        } else {
            let start = self.data.len() + self.decoded.len();
            self.decoded.extend_from_slice(&b);
            self.push_new(Node::Bytes(Blob {
                start,
                end: start + b.len(),
            }))
        }
    }

    fn append(&mut self, list: NodeId, items: Seq) -> R<()> {
        match self.node_mut(list) {
            Some(Node::List(v)) => {
                v.extend(items);
                Ok(())
            }
            _ => self.method_call(list, "extend", items),
        }
    }

    /// SETITEM(S) of `items` (keys and values alternating, an even number).
    fn set_items(&mut self, d: NodeId, items: Seq) -> R<()> {
        match self.node_mut(d) {
            Some(Node::Dict(v)) => {
                v.extend(items.chunks_exact(2).map(|c| (c[0], c[1])));
                Ok(())
            }
            _ => self.method_call(d, "__setitem__", items),
        }
    }

    fn build(&mut self, inst: NodeId, state: NodeId) -> R<()> {
        let offset = self.base + self.op_start as u64;
        // A `__setstate__` planted by an earlier BUILD is called with this state.
        if let Some(Node::Obj(obj)) = self.stored(inst)
            && let Some(planted) = obj.planted_setstate
        {
            let args = self.add(Node::Tuple(thin_vec![state]))?;
            self.call(planted, args, CallKind::Build)?;
            return Ok(());
        }
        // The attributes this BUILD assigns: (name, value) from the state dict and slotstate.
        let mut assigned: Vec<(NodeId, NodeId)> = Vec::new();
        let (dict_state, slot_state) = match self.stored(state) {
            Some(Node::Tuple(v)) if v.len() == 2 => (Some(v[0]), Some(v[1])),
            _ => (Some(state), None),
        };
        for part in [dict_state, slot_state].into_iter().flatten() {
            if let Some(Node::Dict(pairs)) = self.stored(part) {
                assigned.extend(pairs.iter().copied());
            }
        }
        let is_import = matches!(
            self.stored(inst),
            Some(Node::Global(_) | Node::DynamicGlobal { .. })
        );
        let mut planted = None;
        for (k, v) in &assigned {
            let Some(name) = self.str_of(*k).map(str::to_owned) else {
                continue;
            };
            // Descriptive dunders (`__doc__`, `__module__`, ...) change no behaviour.
            let dunder = name.starts_with("__")
                && name.ends_with("__")
                && !matches!(
                    name.as_str(),
                    "__doc__" | "__module__" | "__qualname__" | "__name__" | "__annotations__"
                );
            if is_import || dunder {
                let attribute = name.clone();
                self.events.push(Event::Build {
                    offset,
                    target: inst,
                    attribute,
                });
            }
            if name == "__setstate__" {
                planted = Some(*v);
            }
            self.attributes.insert((inst, name), *v);
        }
        if let Some(Node::Obj(obj)) = self.node_mut(inst) {
            obj.state = Some(state);
            if planted.is_some() {
                obj.planted_setstate = planted;
            }
        }
        self.inline_read(inst, state)
    }

    /// Data the loader reads from the stream right after this BUILD ([`InlineRule`]): read
    /// as the loader reads it, and parsing resumes after it; the region is recorded in
    /// `inline_data`.
    fn inline_read(&mut self, inst: NodeId, state: NodeId) -> R<()> {
        let Some(rule) = self.inline else {
            return Ok(());
        };
        let Some(inline) = rule(self, inst, state).map_err(|e| e.0)? else {
            return Ok(());
        };
        // The loader reads the data from the file, which is past the whole frame.
        if let Some((_, end)) = self.frame
            && self.pos < end
        {
            let left = (end - self.pos) as u64;
            self.frame_anomaly(FrameAnomaly::InlineInFrame { left });
            if self.mode == ReadMode::Python {
                return Err("joblib array data inside a pickle frame".into());
            }
        }
        self.frame = None;
        let start = self.pos;
        match inline {
            Inline::Pickle => {
                // A complete pickle stream follows, read by a fresh unpickler.
                let saved = (
                    std::mem::take(&mut self.stack),
                    std::mem::take(&mut self.marks),
                    std::mem::take(&mut self.memo),
                    self.memo_filled,
                    self.proto,
                    self.op_start,
                );
                self.memo_filled = 0;
                let result = self.run_inner();
                (
                    self.stack,
                    self.marks,
                    self.memo,
                    self.memo_filled,
                    self.proto,
                    self.op_start,
                ) = saved;
                result?;
            }
            Inline::Raw { len, padded } => {
                if padded {
                    let pad = self.u8()? as usize;
                    self.take(pad)?;
                }
                let n = self
                    .len_u64(len.map_err(|e| e.0)?)
                    .map_err(|_| format!("{TRUNCATED} (joblib array data)"))?;
                self.take(n)?;
            }
        }
        self.inline_data.push((start, self.pos));
        self.inline_nodes.push(inst);
        Ok(())
    }
}

const ODD_ITEMS: &str = "odd number of items for DICT/SETITEMS";

fn pairs(items: Seq) -> R<Pairs> {
    if !items.len().is_multiple_of(2) {
        return Err(ODD_ITEMS.into());
    }
    Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8]) -> Machine<'_> {
        let mut m = Machine::new(data, 0);
        m.run_all();
        m
    }

    #[test]
    fn text_ints_follow_c() {
        assert_eq!(parse_int_opcode(b"0x1f"), Some(IntText::Small(31)));
        assert_eq!(parse_int_opcode(b"010"), Some(IntText::Small(8))); // C octal
        assert_eq!(parse_py_int(b"010"), None); // Python rejects it
        assert_eq!(parse_int_opcode(b" -0o17"), Some(IntText::Small(-15)));
        assert_eq!(parse_int_opcode(b"0b101"), Some(IntText::Small(5)));
        assert_eq!(parse_int_opcode(b"1_000"), Some(IntText::Small(1000)));
        assert_eq!(parse_int_opcode(b"12a"), None);
        assert_eq!(
            parse_int_opcode(b"123456789012345678901234567890"),
            Some(IntText::Big)
        );
        let m = run(b"I01\n.");
        assert!(matches!(
            &*m.node(m.streams[0].root.unwrap()),
            Node::Bool(true)
        ));
        let m = run(b"L0x10L\n.");
        assert!(matches!(
            &*m.node(m.streams[0].root.unwrap()),
            Node::Int(16)
        ));
    }

    #[test]
    fn a_node_is_three_words() {
        assert_eq!(
            std::mem::size_of::<Node>(),
            3 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn decoded_and_input_bytes_read_back() {
        // A Python 2 str with an escape (decoded: not a range of the input), then
        // SHORT_BINBYTES (a range of the input), in a tuple.
        let m = run(b"(S'\\xe9z'\nC\x02abt.");
        assert!(m.streams[0].error.is_none(), "{:?}", m.streams[0].error);
        let items = m.seq_of(m.streams[0].root.unwrap()).unwrap();
        assert_eq!(m.bytes_of(items[0]), Some(&b"\xe9z"[..]));
        assert_eq!(m.bytes_of(items[1]), Some(&b"ab"[..]));
    }

    #[test]
    fn strings_inline_or_stored_read_back_alike() {
        // SHORT_BINUNICODE "key" (inline), BINUNICODE with a lone surrogate (decoded with
        // surrogatepass: a node), SHORT_BINSTRING "py2" (inline: ASCII), protocol-0 STRING
        // 'esc\x41' (decoded: a node), in a tuple.
        let m = run(b"\x80\x02(\x8c\x03keyX\x03\x00\x00\x00\xed\xa0\x80U\x03py2S'esc\\x41'\nt.");
        assert!(m.streams[0].error.is_none(), "{:?}", m.streams[0].error);
        let items = m.seq_of(m.streams[0].root.unwrap()).unwrap();
        let texts: Vec<Option<&str>> = items.iter().map(|&i| m.str_of(i)).collect();
        let lossy = "\u{fffd}".repeat(3);
        assert_eq!(
            texts,
            [Some("key"), Some(lossy.as_str()), Some("py2"), Some("escA")]
        );
        for (&id, inline) in items.iter().zip([true, false, true, false]) {
            assert!(matches!(&*m.node(id), Node::Str(_)));
            assert_eq!(m.stored(id).is_none(), inline, "{:?}", m.str_of(id));
        }
    }

    #[test]
    fn ints_inline_or_stored_read_back_alike() {
        // A list of ints around the inline range's edges: 0, 255 (BININT1), 65535 (BININT2),
        // -1 and 2^31 - 1 (BININT), 2^31 and 2^40 (LONG1), then APPENDS.
        let mut p =
            b"\x80\x02]q\x00(K\x00K\xffM\xff\xffJ\xff\xff\xff\xffJ\xff\xff\xff\x7f".to_vec();
        p.extend_from_slice(b"\x8a\x05\x00\x00\x00\x80\x00\x8a\x06\x00\x00\x00\x00\x00\x01e.");
        let m = run(&p);
        assert!(m.streams[0].error.is_none(), "{:?}", m.streams[0].error);
        let items = m.seq_of(m.streams[0].root.unwrap()).unwrap();
        let values: Vec<Option<i64>> = items.iter().map(|&i| m.int_of(i)).collect();
        let expected = [0, 255, 65535, -1, (1 << 31) - 1, 1 << 31, 1 << 40];
        assert_eq!(values, expected.map(Some));
        for (&id, v) in items.iter().zip(expected) {
            assert!(matches!(*m.node(id), Node::Int(x) if x == v));
            // Only what does not fit the id is stored.
            let inline = (0..1 << 31).contains(&v);
            assert_eq!(m.stored(id).is_none(), inline, "{v}");
        }
    }

    #[test]
    fn global_reduce_is_a_call_with_offsets() {
        // protocol 0: cos\nsystem\n(S'ls'\ntR.
        let data = b"cos\nsystem\n(S'ls'\ntR.";
        let m = run(data);
        assert!(m.streams[0].error.is_none());
        assert_eq!(m.imports[0].dotted(), "os.system");
        assert_eq!(m.imports[0].offset, 0);
        let call = m.events.iter().find_map(|e| match e {
            Event::Call { node } => Some(*node),
            _ => None,
        });
        let Node::Obj(obj) = &*m.node(call.unwrap()) else {
            panic!()
        };
        assert_eq!(obj.offset, 19);
        assert_eq!(obj.kind, CallKind::Reduce);
    }

    #[test]
    fn stack_global_from_memo_and_dynamic() {
        // Operands put in the memo then fetched: resolved through the simulation.
        let data = b"\x80\x04\x8c\x02os\x94\x8c\x06getcwd\x94h\x00h\x01\x93)R.";
        let m = run(data);
        assert!(m.streams[0].error.is_none(), "{:?}", m.streams[0].error);
        assert_eq!(m.imports[0].dotted(), "os.getcwd");
        // Module computed by a call: dynamic.
        let data = b"\x80\x04cbuiltins\nstr\n)R\x8c\x01x\x93.";
        let m = run(data);
        assert!(
            m.events
                .iter()
                .any(|e| matches!(e, Event::DynamicImport { .. }))
        );
    }

    #[test]
    fn fence_and_errors() {
        assert!(run(b"(0.").streams[0].error.is_some()); // POP removed the mark, STOP underflows
        assert!(run(b"N(2.").streams[0].error.is_some()); // DUP below the fence
        assert!(run(b"\x80\x06N.").streams[0].error.is_some());
        assert!(run(b"h\x05.").streams[0].error.is_some());
        assert!(run(b"\x80\x02N").streams[0].error.is_some());
        assert!(run(b"\xff").streams[0].error.is_some());
        let m = run(b"r\xff\xff\xff\xff.");
        assert!(m.streams[0].error.is_some());
    }

    #[test]
    fn multiple_streams_and_frames() {
        let data = b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N.\x80\x02cos\ngetcwd\n)R.";
        let m = run(data);
        assert_eq!(m.streams.len(), 2);
        assert_eq!(m.imports[0].offset, 15);
        // A frame longer than the data is an error.
        assert!(
            run(b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N.").streams[0]
                .error
                .is_some()
        );
    }

    #[test]
    fn build_setstate_trick_is_a_call() {
        // obj = collections.OrderedDict(); BUILD {'__setstate__': os.getcwd}; BUILD 'x'
        let data = b"\x80\x02ccollections\nOrderedDict\n)R}X\x0c\x00\x00\x00__setstate__cos\ngetcwd\nsbX\x01\x00\x00\x00xb.";
        let m = run(data);
        assert!(m.streams[0].error.is_none(), "{:?}", m.streams[0].error);
        let calls: Vec<CallKind> = m
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Call { node } => match &*m.node(*node) {
                    Node::Obj(o) => Some(o.kind),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(calls, [CallKind::Reduce, CallKind::Build]);
        assert!(
            m.events.iter().any(
                |e| matches!(e, Event::Build { attribute, .. } if attribute == "__setstate__")
            )
        );
    }

    fn call_kinds(m: &Machine<'_>) -> Vec<CallKind> {
        m.events
            .iter()
            .filter_map(|e| match e {
                Event::Call { node } => match &*m.node(*node) {
                    Node::Obj(o) => Some(o.kind),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_calling_opcode_is_recorded() {
        // INST (protocol 0), OBJ, NEWOBJ, NEWOBJ_EX.
        let m = run(b"(S'x'\nios\ngetcwd\n.");
        assert_eq!(call_kinds(&m), [CallKind::Inst]);
        assert_eq!(m.imports[0].opcode, "INST");
        let m = run(b"(cos\ngetcwd\no.");
        assert_eq!(call_kinds(&m), [CallKind::Obj]);
        let m = run(b"\x80\x02cos\ngetcwd\n)\x81.");
        assert_eq!(call_kinds(&m), [CallKind::NewObj]);
        let m = run(b"\x80\x04cos\ngetcwd\n)}\x92.");
        assert_eq!(call_kinds(&m), [CallKind::NewObjEx]);
        // Python 2 names are fixed like fix_imports does.
        let m = run(b"c__builtin__\neval\n.");
        assert_eq!(m.imports[0].dotted(), "builtins.eval");
        // Persistent loads are recorded.
        let m = run(b"\x80\x02(X\x07\x00\x00\x00storagetQ.");
        assert!(
            m.events
                .iter()
                .any(|e| matches!(e, Event::PersistentLoad { .. }))
        );
    }

    #[test]
    fn setitem_on_import_is_a_method_call() {
        let data = b"cos\nenviron\nS'A'\nS'B'\ns.";
        let m = run(data);
        assert!(m.streams[0].error.is_none());
        assert!(m.events.iter().any(|e| matches!(e, Event::Call { node } if matches!(&*m.node(*node), Node::Obj(o) if o.kind == CallKind::Method))));
    }
}
