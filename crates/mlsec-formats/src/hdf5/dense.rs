//! Dense storage of links and attributes: a fractal heap holding the encoded messages and a
//! version 2 B-tree indexing them by name. Every node, block and object is bounds-checked,
//! visited at most once, and the walk is capped in depth and size.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use super::{Hdf5Error, Reader, Result, err, uint};

/// At most this many B-tree nodes or heap blocks are visited for one index or heap.
const MAX_NODES: usize = 1 << 16;
/// Deeper B-trees or indirect-block nesting than this are rejected.
const MAX_DEPTH: u16 = 32;

/// `ceil(log2(n + 1) / 8)` the way libhdf5 sizes record counters (`H5VM_limit_enc_size`).
fn limit_enc_size(n: u64) -> usize {
    (64 - n.max(1).leading_zeros() as usize - 1) / 8 + 1
}

fn log2(n: u64) -> u32 {
    63 - n.max(1).leading_zeros()
}

/// A fractal heap header, with what is needed to find objects.
pub(crate) struct Heap {
    addr: u64,
    id_len: usize,
    filtered: bool,
    huge_btree: Option<u64>,
    table_width: u64,
    start_block: u64,
    max_direct: u64,
    off_size: usize,
    len_size: usize,
    root: Option<u64>,
    root_rows: u64,
    checksummed_direct: bool,
    /// Huge objects by ID (address, length), read from their B-tree on first use.
    huge_map: OnceCell<HashMap<u64, (Option<u64>, u64)>>,
}

impl<'a> Reader<'a> {
    pub(crate) fn fractal_heap(&self, addr: u64) -> Result<Heap> {
        let (so, sl) = (self.so, self.sl);
        let len = 4 + 1 + 2 + 2 + 1 + 4 + sl + so + sl + so + sl * 8 + 2 + sl + sl + 2 + 2 + so + 2;
        let h = self.at(addr, len as u64, "fractal heap header")?;
        if &h[..4] != b"FRHP" {
            return err(format!("no fractal heap header (FRHP) at offset {addr}"));
        }
        if h[4] != 0 {
            return err(format!(
                "unsupported fractal heap version {} at offset {addr}",
                h[4]
            ));
        }
        let id_len = uint(h, 5, 2)? as usize;
        let filter_len = uint(h, 7, 2)?;
        let flags = h[9];
        let max_managed = uint(h, 10, 4)?;
        let mut p = 14 + sl; // next huge object id
        let huge_btree = self.addr(h, p)?;
        p += so + sl + so + sl * 8; // free space, free-space manager, 8 lengths
        let table_width = uint(h, p, 2)?;
        let start_block = uint(h, p + 2, sl)?;
        let max_direct = uint(h, p + 2 + sl, sl)?;
        let max_heap_bits = uint(h, p + 2 + 2 * sl, 2)?;
        p += 2 + 2 * sl + 2 + 2; // + starting rows
        let root = self.addr(h, p)?;
        let root_rows = uint(h, p + so, 2)?;
        if table_width == 0
            || table_width > 1 << 16
            || !start_block.is_power_of_two()
            || !max_direct.is_power_of_two()
            || max_direct < start_block
            || !(1..=64).contains(&max_heap_bits)
            || id_len == 0
            || id_len > 1024
        {
            return err(format!(
                "fractal heap at offset {addr} has an invalid doubling table or heap ID size"
            ));
        }
        let off_size = (max_heap_bits as usize).div_ceil(8);
        let len_size = limit_enc_size(max_managed).min((log2(max_direct) as usize).div_ceil(8));
        Ok(Heap {
            addr,
            id_len,
            filtered: filter_len > 0,
            huge_btree,
            table_width,
            start_block,
            max_direct,
            off_size,
            len_size,
            root,
            root_rows,
            checksummed_direct: flags & 0x02 != 0,
            huge_map: OnceCell::new(),
        })
    }

    /// The bytes of the object with heap ID `id`, and their file offset.
    pub(crate) fn heap_object(&self, heap: &Heap, id: &'a [u8]) -> Result<(&'a [u8], u64)> {
        let Some(&first) = id.first() else {
            return err("empty fractal heap ID");
        };
        if first >> 6 != 0 {
            return err(format!(
                "unsupported fractal heap ID version {}",
                first >> 6
            ));
        }
        match (first >> 4) & 3 {
            0 => {
                if heap.filtered {
                    return err(format!(
                        "fractal heap at offset {} has I/O filters (compressed heap blocks are not supported)",
                        heap.addr
                    ));
                }
                let off = uint(id, 1, heap.off_size)?;
                let len = uint(id, 1 + heap.off_size, heap.len_size)?;
                self.managed(heap, off, len)
            }
            1 => self.huge(heap, id),
            2 => {
                // Tiny: the object is in the ID itself.
                let (len, start) = if heap.id_len <= 18 {
                    (usize::from(first & 0x0f) + 1, 1)
                } else {
                    (
                        (usize::from(first & 0x0f) << 8 | usize::from(*id.get(1).unwrap_or(&0)))
                            + 1,
                        2,
                    )
                };
                let b = id.get(start..start + len).ok_or_else(|| {
                    Hdf5Error("tiny fractal heap object runs past its heap ID".into())
                })?;
                Ok((b, 0))
            }
            t => err(format!("unknown fractal heap object type {t}")),
        }
    }

    fn huge(&self, heap: &Heap, id: &'a [u8]) -> Result<(&'a [u8], u64)> {
        if heap.filtered {
            return err("filtered huge fractal heap objects are not supported");
        }
        if heap.id_len >= 1 + self.so + self.sl {
            // Directly accessed: address and length in the ID.
            let Some(addr) = self.addr(id, 1)? else {
                return err("huge fractal heap object with an undefined address");
            };
            let len = uint(id, 1 + self.so, self.sl)?;
            return Ok((self.at(addr, len, "huge fractal heap object")?, addr));
        }
        let key_len = (heap.id_len - 1).min(self.sl);
        let key = uint(id, 1, key_len)?;
        let Some(bt) = heap.huge_btree else {
            return err("huge fractal heap object but the heap has no huge-object B-tree");
        };
        if heap.huge_map.get().is_none() {
            let mut map = HashMap::new();
            self.btree2(bt, &mut |rtype, rec| {
                if rtype == 1 {
                    let id = uint(rec, self.so + self.sl, self.sl)?;
                    let addr = self.addr(rec, 0)?;
                    let len = uint(rec, self.so, self.sl)?;
                    map.entry(id).or_insert((addr, len));
                }
                Ok(())
            })?;
            let _ = heap.huge_map.set(map);
        }
        match heap.huge_map.get().and_then(|m| m.get(&key)) {
            Some(&(Some(addr), len)) => Ok((self.at(addr, len, "huge fractal heap object")?, addr)),
            _ => err(format!(
                "huge fractal heap object {key} not found in its B-tree at offset {bt}"
            )),
        }
    }

    /// A managed object at heap offset `off`, found by walking the doubling table.
    fn managed(&self, heap: &Heap, off: u64, len: u64) -> Result<(&'a [u8], u64)> {
        let Some(root) = heap.root else {
            return err(format!(
                "fractal heap at offset {} is empty but an object is referenced",
                heap.addr
            ));
        };
        let mut block = root;
        let mut block_off = 0u64; // heap offset of the current block
        let mut rows = heap.root_rows;
        for _ in 0..=MAX_DEPTH {
            if rows == 0 {
                // A direct block.
                let hdr = 5 + self.so + heap.off_size + if heap.checksummed_direct { 4 } else { 0 };
                let h = self.at(block, hdr as u64, "fractal heap direct block")?;
                if &h[..4] != b"FHDB" {
                    return err(format!(
                        "no fractal heap direct block (FHDB) at offset {block}"
                    ));
                }
                let rel = off - block_off;
                if rel < hdr as u64 {
                    return err(format!(
                        "fractal heap object offset {off} points into a block header"
                    ));
                }
                let pos = block
                    .checked_add(rel)
                    .ok_or_else(|| Hdf5Error("fractal heap address overflows".into()))?;
                return Ok((self.at(pos, len, "fractal heap object")?, pos));
            }
            // An indirect block: find the row and column covering `off`.
            let h = self.at(block, 5, "fractal heap indirect block")?;
            if &h[..4] != b"FHIB" {
                return err(format!(
                    "no fractal heap indirect block (FHIB) at offset {block}"
                ));
            }
            let entries_at = block + 5 + self.so as u64 + heap.off_size as u64;
            let mut row_start = block_off;
            let mut next = None;
            let max_direct_rows = u64::from(log2(heap.max_direct) - log2(heap.start_block)) + 2;
            for r in 0..rows.min(64) {
                let size = if r < 2 {
                    heap.start_block
                } else {
                    heap.start_block.checked_shl((r - 1) as u32).unwrap_or(0)
                };
                if size == 0 {
                    break;
                }
                let span = size.saturating_mul(heap.table_width);
                if off < row_start.saturating_add(span) {
                    let col = (off - row_start) / size;
                    let index = r * heap.table_width + col;
                    let e = self.at(
                        entries_at + index * self.so as u64,
                        self.so as u64,
                        "fractal heap indirect block entry",
                    )?;
                    let child_rows = if r < max_direct_rows {
                        0
                    } else {
                        // An indirect child spans `size` bytes: rows of `width` blocks, the
                        // first two of the starting size, then doubling.
                        let first = heap.start_block.saturating_mul(heap.table_width);
                        match log2(size).checked_sub(log2(first)) {
                            Some(n) => u64::from(n) + 1,
                            None => {
                                return err(format!(
                                    "fractal heap at offset {} has an inconsistent doubling table",
                                    heap.addr
                                ));
                            }
                        }
                    };
                    next = Some((self.addr(e, 0)?, row_start + col * size, child_rows));
                    break;
                }
                row_start = row_start.saturating_add(span);
            }
            match next {
                Some((Some(addr), start, child_rows)) => {
                    block = addr;
                    block_off = start;
                    rows = child_rows;
                }
                Some((None, ..)) => {
                    return err(format!(
                        "fractal heap object at heap offset {off} lies in an unallocated block"
                    ));
                }
                None => {
                    return err(format!(
                        "fractal heap object offset {off} lies outside the heap"
                    ));
                }
            }
        }
        err(format!(
            "fractal heap at offset {} nests deeper than {MAX_DEPTH} blocks",
            heap.addr
        ))
    }

    /// Calls `f(record type, record)` for every record of the v2 B-tree at `addr`.
    pub(crate) fn btree2(
        &self,
        addr: u64,
        f: &mut dyn FnMut(u8, &'a [u8]) -> Result<()>,
    ) -> Result<()> {
        let (so, sl) = (self.so, self.sl);
        let h = self.at(
            addr,
            (4 + 1 + 1 + 4 + 2 + 2 + 2 + so + 2 + sl) as u64,
            "v2 B-tree header",
        )?;
        if &h[..4] != b"BTHD" {
            return err(format!("no v2 B-tree header (BTHD) at offset {addr}"));
        }
        let rtype = h[5];
        let node_size = uint(h, 6, 4)?;
        let rec_size = uint(h, 10, 2)?;
        let depth = uint(h, 12, 2)? as u16;
        let root = self.addr(h, 16)?;
        let root_n = uint(h, 16 + so, 2)?;
        if rec_size == 0 || node_size <= 10 + rec_size || node_size > 1 << 24 || depth > MAX_DEPTH {
            return err(format!(
                "v2 B-tree at offset {addr} has an invalid node size, record size or depth"
            ));
        }
        let Some(root) = root else {
            return Ok(());
        };
        // Sizes of the child pointers' record counters, per depth (libhdf5 H5B2__hdr_init).
        let leaf_max = (node_size - 10) / rec_size;
        let nrec_size = limit_enc_size(leaf_max);
        let mut cum_max = vec![leaf_max];
        let mut cum_size = vec![0usize];
        for d in 1..=usize::from(depth) {
            let ptr = (so + nrec_size + if d > 1 { cum_size[d - 1] } else { 0 }) as u64;
            let max = (node_size.saturating_sub(10 + ptr)) / (rec_size + ptr);
            let cum = (max + 1).saturating_mul(cum_max[d - 1]).saturating_add(max);
            cum_max.push(cum);
            cum_size.push(limit_enc_size(cum));
        }
        let mut seen = HashSet::new();
        let mut stack = vec![(root, root_n, depth)];
        while let Some((node, n, d)) = stack.pop() {
            if !seen.insert(node) || seen.len() > MAX_NODES {
                return err(format!(
                    "v2 B-tree at offset {addr} revisits node {node} or has too many nodes"
                ));
            }
            let block = self.at(node, node_size, "v2 B-tree node")?;
            let sig: &[u8] = if d == 0 { b"BTLF" } else { b"BTIN" };
            if &block[..4] != sig || block[5] != rtype {
                return err(format!(
                    "v2 B-tree node at offset {node} lacks its {} signature or has the wrong type",
                    String::from_utf8_lossy(sig)
                ));
            }
            let recs = 6u64;
            let rec_end = n
                .checked_mul(rec_size)
                .and_then(|x| x.checked_add(recs))
                .filter(|&e| e <= node_size)
                .ok_or_else(|| {
                    Hdf5Error(format!(
                        "v2 B-tree node at offset {node} claims more records than fit"
                    ))
                })?;
            self.spend(node_size, "v2 B-tree")?;
            for i in 0..n {
                let s = (recs + i * rec_size) as usize;
                f(rtype, &block[s..s + rec_size as usize])?;
            }
            if d > 0 {
                let csize = if d > 1 {
                    cum_size[usize::from(d) - 1]
                } else {
                    0
                };
                let ptr = so + nrec_size + csize;
                for c in 0..=n {
                    let s = rec_end as usize + c as usize * ptr;
                    let child = self.addr(block, s)?;
                    let cn = uint(block, s + so, nrec_size)?;
                    let Some(child) = child else {
                        return err(format!(
                            "v2 B-tree node at offset {node} has an undefined child"
                        ));
                    };
                    stack.push((child, cn, d - 1));
                }
            }
        }
        Ok(())
    }
}

/// The objects a dense name index points to: (bytes, file offset) per record, in index order.
/// `expect` is the record type of the index (5 for links, 8 for attributes).
pub(crate) fn heap_objects<'a>(
    r: &Reader<'a>,
    heap_addr: u64,
    index: u64,
    expect: u8,
) -> Result<Vec<(&'a [u8], u64)>> {
    let heap = r.fractal_heap(heap_addr)?;
    let mut ids: Vec<&'a [u8]> = Vec::new();
    let mut bad = None;
    r.btree2(index, &mut |rtype, rec| {
        if rtype != expect {
            bad = Some(rtype);
            return Ok(());
        }
        let id = match rtype {
            5 => rec.get(4..),
            8 => {
                if rec.get(8).is_some_and(|f| f & 0x02 != 0) {
                    return err(
                        "shared attribute messages (in the shared message heap) are not supported",
                    );
                }
                rec.get(..8)
            }
            _ => None,
        };
        ids.push(id.ok_or_else(|| Hdf5Error("v2 B-tree record is too short".into()))?);
        Ok(())
    })?;
    if let Some(t) = bad {
        return err(format!(
            "v2 B-tree at offset {index} has record type {t}, expected {expect}"
        ));
    }
    ids.into_iter()
        .map(|id| {
            let (obj, off) = r.heap_object(&heap, id)?;
            r.spend(obj.len() as u64, "fractal heap object")?;
            Ok((obj, off))
        })
        .collect()
}
