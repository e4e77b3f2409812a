//! The two pre-zip `torch.save` layouts, read without running anything:
//!
//! - legacy pickle: five pickles (magic number, protocol, sys_info, the object, storage
//!   keys), then per storage an element count (8 bytes, little-endian) and its raw bytes;
//! - legacy tar: members `storages` (a count, then per storage a pickled `(key, location,
//!   storage type)`, its element count and bytes, then the storage views), `tensors` (a count,
//!   then per tensor a pickled `(key, storage key, tensor type)`, ndim, sizes, strides, offset)
//!   and `pickle` (the object, whose persistent ids name the tensors).
//!
//! Each reader returns its pickle machine too, so a caller can audit every stream it ran.

use std::collections::HashMap;

use crate::dtype::DType;
use crate::torch::{TensorRef, collect_persistent_ids};
use mlsec_pickle::{Machine, Node, NodeId};

/// Byte ranges `(start, len)` of storages by key, relative to the buffer they were read from.
pub type Storages = HashMap<String, (usize, usize)>;

/// A record that could not be read, and its offset in the buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub message: String,
    pub offset: usize,
}

fn problem(message: impl Into<String>, offset: usize) -> Option<Problem> {
    Some(Problem {
        message: message.into(),
        offset,
    })
}

/// What a legacy reader produced: the machine that ran the pickles, what it read, and the
/// first record that could not be read (after which nothing more is read).
pub struct Parsed<'d, T> {
    pub machine: Machine<'d>,
    pub value: T,
    pub problem: Option<Problem>,
}

/// A key in a legacy record: a string or an integer.
fn key_of(m: &Machine<'_>, id: NodeId) -> Option<String> {
    match &*m.node(id) {
        Node::Str(s) => Some(s.to_string()),
        Node::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn u64_at(bytes: &[u8], pos: usize) -> Option<u64> {
    let b = bytes.get(pos..pos.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// The storages after the five pickles of a legacy checkpoint, starting at `pos`, in the
/// order of `keys`; each is sized by the dtype of the tensors that use it. Returns the
/// storages and the offset after the last one.
pub fn pickle_storages(
    data: &[u8],
    mut pos: usize,
    keys: &[String],
    tensors: &[TensorRef],
) -> Result<(Storages, usize), Problem> {
    let sizes: HashMap<&str, usize> = tensors
        .iter()
        .map(|t| (t.storage_key.as_str(), t.dtype.size()))
        .collect();
    let mut out = Storages::new();
    for key in keys {
        let Some(&size) = sizes.get(key.as_str()) else {
            return Err(Problem {
                message: format!(
                    "legacy storage `{key}` is not used by any tensor; cannot size it"
                ),
                offset: pos,
            });
        };
        let truncated = || Problem {
            message: format!("legacy storage `{key}` is truncated"),
            offset: pos,
        };
        let n = u64_at(data, pos).ok_or_else(truncated)?;
        let len = n
            .checked_mul(size as u64)
            .and_then(|l| usize::try_from(l).ok())
            .filter(|&l| pos + 8 + l <= data.len())
            .ok_or_else(truncated)?;
        out.insert(key.clone(), (pos + 8, len));
        pos += 8 + len;
    }
    Ok((out, pos))
}

/// The legacy tar `storages` member. `base` is the member's offset in the file (for pickle
/// offsets); storage ranges are relative to the member.
pub fn tar_storages(bytes: &[u8], base: u64) -> Parsed<'_, Storages> {
    let mut m = crate::joblib::machine(bytes, base);
    let mut out = Storages::new();
    let mut sizes: HashMap<String, usize> = HashMap::new();
    let mut issue = None;
    let s = m.run_stream(0);
    let mut pos = s.end;
    let count = s
        .root
        .filter(|_| s.error.is_none())
        .and_then(|r| m.int_of(r));
    match count {
        Some(n) if n >= 0 && (n as u64) <= bytes.len() as u64 => {
            for _ in 0..n {
                let s = m.run_stream(pos);
                if s.error.is_some() {
                    break;
                }
                pos = s.end;
                let args = s.root.and_then(|r| m.seq_of(r)).unwrap_or(&[]);
                let key = args.first().and_then(|&k| key_of(&m, k));
                let dtype = args
                    .get(2)
                    .and_then(|&t| m.global_name(t))
                    .and_then(|t| DType::from_torch_storage(t.rsplit('.').next().unwrap_or(&t)));
                let (Some(key), Some(dtype)) = (key, dtype) else {
                    issue = problem("storage record is not (key, location, storage type)", pos);
                    break;
                };
                let len = u64_at(bytes, pos)
                    .and_then(|n| n.checked_mul(dtype.size() as u64))
                    .and_then(|l| usize::try_from(l).ok())
                    .filter(|&l| pos + 8 + l <= bytes.len());
                let Some(len) = len else {
                    issue = problem(format!("storage `{key}` is truncated"), pos);
                    break;
                };
                out.insert(key.clone(), (pos + 8, len));
                sizes.insert(key, dtype.size());
                pos += 8 + len;
            }
            if issue.is_none() && m.streams.iter().all(|s| s.error.is_none()) {
                issue = tar_views(&mut m, pos, &mut out, &mut sizes);
            }
        }
        _ if s.error.is_none() => {
            issue = problem("storage count is not a non-negative integer", 0);
        }
        _ => {}
    }
    Parsed {
        machine: m,
        value: out,
        problem: issue,
    }
}

/// Storage views: `[(target, root, offset, numel)]`, offsets in elements of the root.
fn tar_views(
    m: &mut Machine<'_>,
    pos: usize,
    out: &mut Storages,
    sizes: &mut HashMap<String, usize>,
) -> Option<Problem> {
    let s = m.run_stream(pos);
    if s.error.is_some() {
        return None;
    }
    let views: Vec<NodeId> = s.root.and_then(|r| m.seq_of(r)).unwrap_or(&[]).to_vec();
    for v in views {
        let t = m.seq_of(v).unwrap_or(&[]);
        let key = |i: usize| t.get(i).and_then(|&k| key_of(m, k));
        let int = |i: usize| {
            t.get(i)
                .and_then(|&k| m.int_of(k))
                .and_then(|v| usize::try_from(v).ok())
        };
        let view = (|| {
            let (target, root) = (key(0)?, key(1)?);
            let (&(off, len), &size) = (out.get(&root)?, sizes.get(&root)?);
            let start = int(2)?.checked_mul(size)?;
            let n = int(3)?.checked_mul(size)?;
            (start.checked_add(n)? <= len).then_some((target, size, off + start, n))
        })();
        let Some((target, size, off, n)) = view else {
            return problem("storage view is malformed or out of bounds", pos);
        };
        out.insert(target.clone(), (off, n));
        sizes.insert(target, size);
    }
    None
}

/// The legacy tar `tensors` member: tensors named by their key (see [`tar_names`]).
pub fn tar_tensors<'d>(
    bytes: &'d [u8],
    base: u64,
    storages: &Storages,
) -> Parsed<'d, Vec<TensorRef>> {
    let mut m = crate::joblib::machine(bytes, base);
    let mut out = Vec::new();
    let mut issue = None;
    let s = m.run_stream(0);
    let mut pos = s.end;
    let count = s
        .root
        .filter(|_| s.error.is_none())
        .and_then(|r| m.int_of(r));
    match count {
        Some(n) if n >= 0 && (n as u64) <= bytes.len() as u64 => {
            for _ in 0..n {
                let s = m.run_stream(pos);
                if s.error.is_some() {
                    break;
                }
                let call = base + pos as u64;
                pos = s.end;
                let args = s.root.and_then(|r| m.seq_of(r)).unwrap_or(&[]);
                let key = |i: usize| args.get(i).and_then(|&k| key_of(&m, k));
                // The storage dtype comes from the tensor type (`torch.FloatTensor`).
                let dtype = args.get(2).and_then(|&t| m.global_name(t)).and_then(|t| {
                    let base = t.rsplit('.').next().unwrap_or(&t).to_owned();
                    DType::from_torch_storage(&format!("{}Storage", base.strip_suffix("Tensor")?))
                });
                let (Some(key), Some(storage), Some(dtype)) = (key(0), key(1), dtype) else {
                    issue = problem("tensor record is not (key, storage key, tensor type)", pos);
                    break;
                };
                let ndim = bytes
                    .get(pos..pos + 4)
                    .map(|b| i32::from_le_bytes(b.try_into().expect("4")))
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n <= 64);
                let Some(ndim) = ndim else {
                    issue = problem(format!("tensor `{key}`: bad or truncated ndim"), pos);
                    break;
                };
                let ints: Option<Vec<u64>> = (0..2 * ndim + 1)
                    .map(|i| {
                        u64_at(bytes, pos + 8 + 8 * i)
                            .and_then(|v| i64::try_from(v).ok())
                            .and_then(|v| u64::try_from(v).ok())
                    })
                    .collect();
                let Some(ints) = ints else {
                    issue = problem(format!("tensor `{key}`: truncated or negative sizes"), pos);
                    break;
                };
                pos += 8 + 8 * (2 * ndim + 1);
                let numel = storages
                    .get(&storage)
                    .map_or(0, |&(_, len)| (len / dtype.size()) as u64);
                out.push(TensorRef {
                    name: key,
                    dtype,
                    shape: ints[..ndim].to_vec(),
                    stride: ints[ndim..2 * ndim].to_vec(),
                    storage_offset: ints[2 * ndim],
                    storage_key: storage,
                    storage_numel: numel,
                    offset: call,
                });
            }
        }
        _ if s.error.is_none() => {
            issue = problem("tensor count is not a non-negative integer", 0);
        }
        _ => {}
    }
    Parsed {
        machine: m,
        value: out,
        problem: issue,
    }
}

/// Renames the `tensors` member's tensors by the state-dict names the `pickle` member gives
/// their keys (persistent ids), and drops those it does not name: only they are part of the
/// loaded object.
pub fn tar_names(m: &Machine<'_>, root: NodeId, tensors: &mut Vec<TensorRef>) {
    let mut names: HashMap<String, String> = HashMap::new();
    for (name, pid) in collect_persistent_ids(m, root) {
        if let Some(key) = key_of(m, pid) {
            names.entry(key).or_insert(name);
        }
    }
    tensors.retain_mut(|t| match names.get(&t.name) {
        Some(n) => {
            t.name = if n.is_empty() {
                "tensor".into()
            } else {
                n.clone()
            };
            true
        }
        None => false,
    });
}
