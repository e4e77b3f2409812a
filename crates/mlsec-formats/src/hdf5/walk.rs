//! The group hierarchy: old-style groups (symbol table: v1 B-tree + local heap), new-style
//! groups (link messages, or dense link storage in a fractal heap with a v2 B-tree name
//! index). The walk visits every object once, rejects links back to an ancestor, and is capped
//! in depth and object count.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::data::{Dataset, DatasetInfo, Element, describe};
use super::{Hdf5Error, Reader, Result, dense, err, open, uint};

/// Caps on the work one file may cause.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Groups and datasets visited at most.
    pub max_objects: usize,
    /// Deepest group nesting followed.
    pub max_depth: usize,
    /// Largest decoded dataset (bytes) held in memory; larger ones are an error.
    pub max_dataset_bytes: u64,
    /// Largest chunk (bytes, uncompressed) decoded.
    pub max_chunk_bytes: u64,
    /// Most bytes of never-written elements (read as the fill value) handed out by one
    /// [`File`], over all its reads: a tiny file cannot make the reader produce gigabytes of
    /// filler.
    pub max_fill_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_objects: 1 << 20,
            max_depth: 64,
            max_dataset_bytes: 4 << 30,
            max_chunk_bytes: 256 << 20,
            max_fill_bytes: 64 << 20,
        }
    }
}

/// An object of the hierarchy that could not be read: the rest of the walk goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {error}")]
pub struct ObjectError {
    /// Path of the object (or group) the error concerns.
    pub path: String,
    /// File offset of its object header, when known.
    pub offset: Option<u64>,
    pub error: Hdf5Error,
}

/// A link the walk does not follow (soft or external).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfollowed {
    pub path: String,
    /// `soft` or `external`.
    pub kind: &'static str,
    /// The soft link's target path, or `file:path` of an external link.
    pub target: String,
}

/// Everything found by [`walk`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Walk {
    /// Datasets sorted by path; an object reached through several hard links is listed once,
    /// under the first path (in sorted walk order).
    pub datasets: Vec<DatasetInfo>,
    /// Groups visited: (path, file offset of the object header); the root is `/`.
    pub groups: Vec<(String, u64)>,
    /// Every object whose header was read (groups, datasets, committed datatypes, and objects
    /// that are listed in `errors` because their contents could not be understood), sorted by
    /// path: the objects whose attributes a loader may read.
    pub objects: Vec<(String, u64)>,
    /// Other paths of objects already listed: (path, first path).
    pub aliases: Vec<(String, String)>,
    pub unfollowed: Vec<Unfollowed>,
    pub errors: Vec<ObjectError>,
}

/// An opened HDF5 file (the superblock is parsed).
pub struct File<'a> {
    r: Reader<'a>,
    pub superblock_version: u8,
    /// File offset of the root group's object header.
    pub root: u64,
}

enum Target {
    Hard(u64),
    Soft(String),
    External(String),
}

impl<'a> File<'a> {
    pub fn open(data: &'a [u8]) -> Result<File<'a>> {
        let (r, superblock_version, root) = open(data)?;
        Ok(File {
            r,
            superblock_version,
            root,
        })
    }

    /// Walks the hierarchy from the root group.
    pub fn walk(&self, limits: &Limits) -> Walk {
        let mut w = Walk::default();
        let mut first_path: HashMap<u64, String> = HashMap::new();
        // (header, path, ancestors' headers)
        let mut stack: Vec<(u64, String, Vec<u64>)> = vec![(self.root, "/".into(), Vec::new())];
        let mut visited = 0usize;
        while let Some((addr, path, ancestors)) = stack.pop() {
            if ancestors.contains(&addr) {
                w.errors.push(ObjectError {
                    path: path.clone(),
                    offset: Some(addr),
                    error: Hdf5Error(format!(
                        "hard link cycles back to the ancestor group at offset {addr}"
                    )),
                });
                continue;
            }
            if let Some(first) = first_path.get(&addr) {
                w.aliases.push((path, first.clone()));
                continue;
            }
            visited += 1;
            if visited > limits.max_objects {
                w.errors.push(ObjectError {
                    path,
                    offset: Some(addr),
                    error: Hdf5Error(format!(
                        "more than {} objects: the rest of the file is not read",
                        limits.max_objects
                    )),
                });
                break;
            }
            first_path.insert(addr, path.clone());
            let fail = |w: &mut Walk, e: Hdf5Error| {
                w.errors.push(ObjectError {
                    path: path.clone(),
                    offset: Some(addr),
                    error: e,
                })
            };
            let msgs = match self.r.messages(addr) {
                Ok(m) => m,
                Err(e) => {
                    fail(&mut w, e);
                    continue;
                }
            };
            w.objects.push((path.clone(), addr));
            if msgs.iter().any(|m| m.mtype == 0x08) {
                match describe(&self.r, path.clone(), addr, &msgs) {
                    Ok(info) => w.datasets.push(info),
                    Err(e) => fail(&mut w, e),
                }
                continue;
            }
            let is_group = msgs.iter().any(|m| matches!(m.mtype, 0x02 | 0x06 | 0x11));
            if !is_group {
                if !msgs.iter().any(|m| m.mtype == 0x03) {
                    fail(
                        &mut w,
                        Hdf5Error("object is neither a group, a dataset nor a datatype".into()),
                    );
                }
                // A committed datatype: no data.
                continue;
            }
            w.groups.push((path.clone(), addr));
            if ancestors.len() >= limits.max_depth {
                fail(
                    &mut w,
                    Hdf5Error(format!(
                        "group nesting deeper than {} levels is not followed",
                        limits.max_depth
                    )),
                );
                continue;
            }
            let links = match self.links(&msgs) {
                Ok(l) => l,
                Err(e) => {
                    fail(&mut w, e);
                    continue;
                }
            };
            let mut children = Vec::new();
            for (name, target) in links {
                let child = if path == "/" {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                };
                match target {
                    Target::Hard(a) => children.push((a, child)),
                    Target::Soft(t) => w.unfollowed.push(Unfollowed {
                        path: child,
                        kind: "soft",
                        target: t,
                    }),
                    Target::External(t) => w.unfollowed.push(Unfollowed {
                        path: child,
                        kind: "external",
                        target: t,
                    }),
                }
            }
            // Pushed in reverse so names are visited in order.
            children.sort_by(|a, b| b.1.cmp(&a.1));
            let mut anc = ancestors;
            anc.push(addr);
            for (a, p) in children {
                stack.push((a, p, anc.clone()));
            }
        }
        w.datasets.sort_by(|a, b| a.path.cmp(&b.path));
        w.groups.sort();
        w.objects.sort();
        w.aliases.sort();
        w.unfollowed.sort_by(|a, b| a.path.cmp(&b.path));
        w
    }

    /// The links of a group: (name, target).
    fn links(&self, msgs: &[super::Msg<'a>]) -> Result<Vec<(String, Target)>> {
        let r = &self.r;
        let mut out = Vec::new();
        for m in msgs {
            match m.mtype {
                0x06 => out.push(link(r, m.data)?),
                0x02 => {
                    let flags = *m.data.get(1).unwrap_or(&0);
                    let at = 2 + if flags & 1 != 0 { 8 } else { 0 };
                    if let Some(heap) = r.addr(m.data, at)? {
                        let Some(index) = r.addr(m.data, at + r.so)? else {
                            return err("link info message has a fractal heap but no name index");
                        };
                        for (obj, _) in dense::heap_objects(r, heap, index, 5)? {
                            out.push(link(r, obj)?);
                        }
                    }
                }
                0x11 => {
                    let Some(btree) = r.addr(m.data, 0)? else {
                        return err("symbol table message with an undefined B-tree address");
                    };
                    let Some(heap) = r.addr(m.data, r.so)? else {
                        return err("symbol table message with an undefined local heap address");
                    };
                    self.symbol_table(btree, heap, &mut out)?;
                }
                _ => {}
            }
        }
        let mut names = HashSet::new();
        for (n, _) in &out {
            if !names.insert(n.as_str()) {
                return err(format!("group holds the link name `{n}` twice"));
            }
        }
        Ok(out)
    }

    fn symbol_table(&self, btree: u64, heap: u64, out: &mut Vec<(String, Target)>) -> Result<()> {
        let r = &self.r;
        let h = r.at(heap, (8 + 2 * r.sl + r.so) as u64, "local heap")?;
        if &h[..4] != b"HEAP" {
            return err(format!("no local heap (HEAP) at offset {heap}"));
        }
        let size = uint(h, 8, r.sl)?;
        let Some(data) = r.addr(h, 8 + 2 * r.sl)? else {
            return err("local heap with an undefined data segment");
        };
        let names = r.at(data, size, "local heap data segment")?;
        r.spend(size, "local heap")?;
        let entry = 2 * r.so + 24;
        let mut nodes = Vec::new();
        r.btree1(btree, 0, 0, &mut |_, child| {
            nodes.push(child);
            Ok(())
        })?;
        for node in nodes {
            let sh = r.at(node, 8, "symbol table node")?;
            if &sh[..4] != b"SNOD" {
                return err(format!("no symbol table node (SNOD) at offset {node}"));
            }
            let n = uint(sh, 6, 2)?;
            r.spend(n * entry as u64, "symbol table node")?;
            let body = r.at(node + 8, n * entry as u64, "symbol table node")?;
            for e in body.chunks(entry) {
                let off = uint(e, 0, r.so)?;
                let name = usize::try_from(off)
                    .ok()
                    .and_then(|o| names.get(o..))
                    .and_then(|s| s.iter().position(|&c| c == 0).map(|l| &s[..l]))
                    .ok_or_else(|| {
                        Hdf5Error(format!(
                            "link name at local heap offset {off} is out of bounds"
                        ))
                    })?;
                let name = String::from_utf8_lossy(name).into_owned();
                let Some(header) = r.addr(e, r.so)? else {
                    return err(format!("link `{name}` has an undefined object address"));
                };
                let cache = uint(e, 2 * r.so, 4)?;
                if cache == 2 {
                    // Cached soft link: the target is in the heap at the scratch offset.
                    let t = uint(e, 2 * r.so + 8, 4)? as usize;
                    let target = names
                        .get(t..)
                        .and_then(|s| s.iter().position(|&c| c == 0).map(|l| &s[..l]))
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .unwrap_or_default();
                    out.push((name, Target::Soft(target)));
                    continue;
                }
                out.push((name, Target::Hard(header)));
            }
        }
        Ok(())
    }
}

/// A link message: (name, target).
fn link(r: &Reader, m: &[u8]) -> Result<(String, Target)> {
    if m.first() != Some(&1) {
        return err(format!("unsupported link message version {:?}", m.first()));
    }
    let flags = *m.get(1).unwrap_or(&0);
    let mut p = 2;
    let ltype = if flags & 0x08 != 0 {
        p += 1;
        *m.get(2).unwrap_or(&0)
    } else {
        0
    };
    if flags & 0x04 != 0 {
        p += 8;
    }
    if flags & 0x10 != 0 {
        p += 1;
    }
    let w = 1usize << (flags & 3);
    let len = uint(m, p, w)?;
    p += w;
    let name = usize::try_from(len)
        .ok()
        .and_then(|l| m.get(p..p.checked_add(l)?))
        .ok_or_else(|| Hdf5Error("link name runs past its message".into()))?;
    p += name.len();
    let name = String::from_utf8_lossy(name).into_owned();
    if name.is_empty() || name.contains('/') {
        return err(format!("invalid link name `{name}`"));
    }
    let target = match ltype {
        0 => match r.addr(m, p)? {
            Some(a) => Target::Hard(a),
            None => return err(format!("hard link `{name}` has an undefined address")),
        },
        1 | 64 => {
            let l = uint(m, p, 2)? as usize;
            let v = m
                .get(p + 2..p + 2 + l)
                .ok_or_else(|| Hdf5Error(format!("link `{name}` value runs past its message")))?;
            if ltype == 1 {
                Target::Soft(String::from_utf8_lossy(v).into_owned())
            } else {
                // Flags byte, then two NUL-terminated strings: file and object path.
                let mut parts = v.get(1..).unwrap_or(&[]).split(|&c| c == 0);
                let file = String::from_utf8_lossy(parts.next().unwrap_or(&[])).into_owned();
                let obj = String::from_utf8_lossy(parts.next().unwrap_or(&[])).into_owned();
                Target::External(format!("{file}:{obj}"))
            }
        }
        t => return err(format!("link `{name}` has an unknown link type {t}")),
    };
    Ok((name, target))
}

impl<'a> Reader<'a> {
    /// Calls `f(key before the child, child address)` for every leaf entry of the v1 B-tree
    /// at `addr` of node type `ntype` (0 groups, 1 chunks with `dims` key dimensions).
    pub(crate) fn btree1(
        &self,
        addr: u64,
        ntype: u8,
        dims: usize,
        f: &mut dyn FnMut(&'a [u8], u64) -> Result<()>,
    ) -> Result<()> {
        let key = if ntype == 0 { self.sl } else { 8 + 8 * dims };
        let mut seen = HashSet::new();
        let mut stack: Vec<(u64, Option<u8>)> = vec![(addr, None)];
        while let Some((node, want_level)) = stack.pop() {
            if !seen.insert(node) || seen.len() > 1 << 20 {
                return err(format!(
                    "v1 B-tree at offset {addr} revisits node {node} or has too many nodes"
                ));
            }
            let hdr = 8 + 2 * self.so;
            let h = self.at(node, hdr as u64, "v1 B-tree node")?;
            if &h[..4] != b"TREE" {
                return err(format!("no v1 B-tree node (TREE) at offset {node}"));
            }
            if h[4] != ntype {
                return err(format!(
                    "v1 B-tree node at offset {node} has type {}, expected {ntype}",
                    h[4]
                ));
            }
            let level = h[5];
            if want_level.is_some_and(|l| l != level) || level > 64 {
                return err(format!(
                    "v1 B-tree node at offset {node} has level {level}, inconsistent with its parent"
                ));
            }
            let n = uint(h, 6, 2)?;
            self.spend(n * (key + self.so) as u64, "v1 B-tree")?;
            let body = self.at(
                node + hdr as u64,
                n * (key + self.so) as u64 + key as u64,
                "v1 B-tree node",
            )?;
            let mut children = Vec::new();
            for i in 0..n as usize {
                let k = &body[i * (key + self.so)..i * (key + self.so) + key];
                let Some(child) = self.addr(body, i * (key + self.so) + key)? else {
                    return err(format!(
                        "v1 B-tree node at offset {node} has an undefined child"
                    ));
                };
                if level == 0 {
                    f(k, child)?;
                } else {
                    children.push(child);
                }
            }
            for c in children.into_iter().rev() {
                stack.push((c, Some(level - 1)));
            }
        }
        Ok(())
    }
}

impl<'a> File<'a> {
    /// Every attribute (compact or dense storage) of the object whose header is at
    /// `header_offset` ([`DatasetInfo::offset`], a group's offset in [`Walk::groups`]).
    pub fn attributes(&self, header_offset: u64) -> Result<Vec<super::Attribute>> {
        self.r.attributes_of(header_offset)
    }

    /// Decodes one dataset's elements: little-endian, row-major; borrowed from the file when
    /// stored contiguously in little-endian order.
    ///
    /// Reads are budgeted per `File`: the structures, chunks and extents read, summed over
    /// the walk and every read, may not exceed 8 times the file's size (a real file's parts
    /// are distinct bytes, so every dataset can be read a few times over), and the fill
    /// value handed out is capped by [`Limits::max_fill_bytes`]. Open the file again to
    /// start afresh.
    pub fn read(&self, info: &DatasetInfo, limits: &Limits) -> Result<Cow<'a, [u8]>> {
        self.r.read(info, limits)
    }

    /// The items of a variable-length dataset ([`Element::Variable`]), from its stored
    /// elements as [`File::read`] returned them: each item's bytes (`length * base`) in its
    /// global heap collection. Every reference is bounds-checked; collections are read once
    /// and every item is charged against the file's read budget.
    pub fn variable(&self, info: &DatasetInfo, stored: &[u8]) -> Result<Vec<&'a [u8]>> {
        let Element::Variable { size, base, .. } = info.element else {
            return err(format!("`{}` is not a variable-length dataset", info.path));
        };
        let mut heaps = HashMap::new();
        stored
            .chunks_exact(size)
            .map(|e| self.r.heap_ref(e, base, &mut heaps))
            .collect()
    }
}

/// Walks the hierarchy of the HDF5 file in `data`.
pub fn walk(data: &[u8], limits: &Limits) -> Result<Walk> {
    Ok(File::open(data)?.walk(limits))
}

/// Every dataset with its elements, plus the objects that could not be read (walk errors and
/// per-dataset decoding errors). Holds all decoded datasets at once: for large files prefer
/// [`File::walk`] then [`File::read`] one dataset at a time.
pub fn datasets<'a>(
    data: &'a [u8],
    limits: &Limits,
) -> Result<(Vec<Dataset<'a>>, Vec<ObjectError>)> {
    let f = File::open(data)?;
    let w = f.walk(limits);
    let mut errors = w.errors;
    let mut out = Vec::new();
    let mut total = 0u64;
    for info in w.datasets {
        match f.read(&info, limits) {
            Ok(bytes) => {
                if matches!(bytes, Cow::Owned(_)) {
                    total += bytes.len() as u64;
                }
                if total > limits.max_dataset_bytes {
                    errors.push(ObjectError {
                        path: info.path.clone(),
                        offset: Some(info.offset),
                        error: Hdf5Error(format!(
                            "decoded datasets exceed the limit of {} bytes in total",
                            limits.max_dataset_bytes
                        )),
                    });
                    break;
                }
                out.push(Dataset { info, bytes });
            }
            Err(error) => errors.push(ObjectError {
                path: info.path.clone(),
                offset: Some(info.offset),
                error,
            }),
        }
    }
    Ok((out, errors))
}
