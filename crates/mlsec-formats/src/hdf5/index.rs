//! Chunk indexes: where each chunk of a chunked dataset is stored. Version 1 B-trees (layout
//! v3) and, for layout v4/v5, single chunk, implicit, fixed array, extensible array and
//! version 2 B-tree indexes. Array-like indexes number chunks row-major over the maximum
//! shape (the unlimited dimension first); every structure is bounds-checked and charged to
//! the reader's budget.

use super::data::{ChunkIndex, DatasetInfo};
use super::{Hdf5Error, Reader, Result, err, uint};

/// Called with (element index, element bytes, filtered) for each array index element.
type ElementFn<'f> = dyn FnMut(u64, &[u8], bool) -> Result<()> + 'f;

/// One stored chunk: element offsets, address, stored size, filter mask.
pub(crate) struct Chunk {
    pub(crate) offsets: Vec<u64>,
    pub(crate) address: u64,
    pub(crate) size: u64,
    pub(crate) mask: u32,
}

impl<'a> Reader<'a> {
    pub(crate) fn chunks(
        &self,
        info: &DatasetInfo,
        chunk: &[u64],
        index: &ChunkIndex,
    ) -> Result<Vec<Chunk>> {
        let rank = info.shape.len();
        let chunk_bytes = chunk
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Hdf5Error("chunk size overflows".into()))?;
        // Array-like indexes (implicit, fixed and extensible arrays) number chunks row-major
        // over the maximum shape, the unlimited dimension (extensible arrays) moved first.
        let unlimited: Vec<usize> = (0..rank)
            .filter(|&d| info.max_shape[d] == u64::MAX)
            .collect();
        let order: Vec<usize> = unlimited
            .iter()
            .copied()
            .chain((0..rank).filter(|d| !unlimited.contains(d)))
            .collect();
        let grid: Vec<u64> = order
            .iter()
            .map(|&d| {
                if info.max_shape[d] == u64::MAX {
                    info.shape[d].div_ceil(chunk[d])
                } else {
                    info.max_shape[d].div_ceil(chunk[d])
                }
            })
            .collect();
        let nchunks = grid
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Hdf5Error("chunk count overflows".into()))?;
        // Element offsets of chunk `i`, or `None` outside the current extent.
        let offsets_of = |mut i: u64| -> Option<Vec<u64>> {
            let mut o = vec![0u64; rank];
            for k in (0..rank).rev() {
                let d = order[k];
                let n = if k == 0 { i } else { i % grid[k].max(1) };
                o[d] = n.checked_mul(chunk[d])?;
                i /= grid[k].max(1);
            }
            (0..rank).all(|d| o[d] < info.shape[d]).then_some(o)
        };
        // One array element: chunk address, and for filtered chunks stored size and mask.
        let element = |e: &[u8], filtered: bool| -> Result<Option<(u64, u64, u32)>> {
            let Some(address) = self.addr(e, 0)? else {
                return Ok(None);
            };
            Ok(Some(if filtered {
                let len = e.len().saturating_sub(self.so + 4);
                if len == 0 {
                    return err("array chunk index element too small for a filtered chunk");
                }
                (
                    address,
                    uint(e, self.so, len)?,
                    uint(e, self.so + len, 4)? as u32,
                )
            } else {
                (address, chunk_bytes, 0)
            }))
        };
        let mut out = Vec::new();
        match *index {
            ChunkIndex::BTreeV1 { address: None }
            | ChunkIndex::Single { address: None, .. }
            | ChunkIndex::Implicit { address: None }
            | ChunkIndex::FixedArray { address: None }
            | ChunkIndex::BTreeV2 { address: None }
            | ChunkIndex::ExtensibleArray { address: None } => {}
            ChunkIndex::BTreeV2 { address: Some(a) } => {
                let so = self.so;
                let filtered = !info.filters.is_empty();
                let mut bad = None;
                self.btree2(a, &mut |rtype, rec| {
                    // Records: address, [stored size, filter mask,] scaled offsets (8 bytes each).
                    let want = if filtered { 11 } else { 10 };
                    let fixed = so + 8 * rank + if filtered { 4 } else { 0 };
                    if rtype != want || rec.len() < fixed + usize::from(filtered) {
                        bad = Some(rtype);
                        return Ok(());
                    }
                    let Some(address) = self.addr(rec, 0)? else {
                        return Ok(());
                    };
                    let (size, mask, at) = if filtered {
                        let len = rec.len() - fixed;
                        (
                            uint(rec, so, len)?,
                            uint(rec, so + len, 4)? as u32,
                            so + len + 4,
                        )
                    } else {
                        (chunk_bytes, 0, so)
                    };
                    let offsets = (0..rank)
                        .map(|d| {
                            uint(rec, at + 8 * d, 8)?
                                .checked_mul(chunk[d])
                                .ok_or_else(|| Hdf5Error("chunk offset overflows".into()))
                        })
                        .collect::<Result<Vec<u64>>>()?;
                    out.push(Chunk {
                        offsets,
                        address,
                        size,
                        mask,
                    });
                    Ok(())
                })?;
                if let Some(t) = bad {
                    return err(format!(
                        "v2 B-tree chunk index at offset {a} has record type {t} or short records"
                    ));
                }
            }
            ChunkIndex::BTreeV1 { address: Some(a) } => {
                self.btree1(a, 1, rank + 1, &mut |key, child| {
                    let size = uint(key, 0, 4)?;
                    let mask = uint(key, 4, 4)? as u32;
                    let offsets = (0..rank)
                        .map(|i| uint(key, 8 + 8 * i, 8))
                        .collect::<Result<Vec<u64>>>()?;
                    out.push(Chunk {
                        offsets,
                        address: child,
                        size,
                        mask,
                    });
                    Ok(())
                })?;
            }
            ChunkIndex::Single {
                address: Some(a),
                filtered,
            } => {
                let (size, mask) = filtered.unwrap_or((chunk_bytes, 0));
                out.push(Chunk {
                    offsets: vec![0; rank],
                    address: a,
                    size,
                    mask,
                });
            }
            ChunkIndex::Implicit { address: Some(a) } => {
                if nchunks.saturating_mul(chunk_bytes) > self.d.len() as u64 {
                    return err("implicit chunk index extends past the end of the file");
                }
                for i in 0..nchunks {
                    if let Some(offsets) = offsets_of(i) {
                        out.push(Chunk {
                            offsets,
                            address: a.saturating_add(i * chunk_bytes),
                            size: chunk_bytes,
                            mask: 0,
                        });
                    }
                }
            }
            ChunkIndex::FixedArray { address: Some(a) } => {
                let (so, sl) = (self.so, self.sl);
                let h = self.at(a, (8 + sl + so) as u64, "fixed array header")?;
                if &h[..4] != b"FAHD" {
                    return err(format!("no fixed array header (FAHD) at offset {a}"));
                }
                let filtered = h[5] == 1;
                let esize = usize::from(h[6]);
                let page_bits = u32::from(h[7]);
                let max = uint(h, 8, sl)?;
                let Some(db) = self.addr(h, 8 + sl)? else {
                    return Ok(out);
                };
                if max != nchunks {
                    return err(format!(
                        "fixed array holds {max} chunk entries, the maximum shape needs {nchunks}"
                    ));
                }
                if esize < so || (filtered && esize < so + 5) || page_bits > 32 {
                    return err(format!(
                        "fixed array entry size {esize} or page bits {page_bits} are invalid"
                    ));
                }
                let hb = self.at(db, 6 + so as u64, "fixed array data block")?;
                if &hb[..4] != b"FADB" {
                    return err(format!("no fixed array data block (FADB) at offset {db}"));
                }
                let prefix = db + 6 + so as u64;
                let page = 1u64 << page_bits;
                // (first element index, element count, file offset) of each stored run.
                let mut runs = Vec::new();
                if max <= page {
                    runs.push((0, max, prefix));
                } else {
                    // Paged: an initialisation bitmap, the block's checksum, then the pages,
                    // each with its own checksum.
                    let npages = max.div_ceil(page);
                    let bitmap = self.at(prefix, npages.div_ceil(8), "fixed array page bitmap")?;
                    let mut at = prefix + npages.div_ceil(8) + 4;
                    for p in 0..npages {
                        let n = page.min(max - p * page);
                        // libhdf5's H5VM_bit_get: most significant bit first.
                        if bitmap[(p / 8) as usize] & (0x80 >> (p % 8)) != 0 {
                            runs.push((p * page, n, at));
                        }
                        at = at.saturating_add(page * esize as u64 + 4);
                    }
                }
                for (first, n, at) in runs {
                    let total = n
                        .checked_mul(esize as u64)
                        .ok_or_else(|| Hdf5Error("fixed array size overflows".into()))?;
                    let entries = self.at(at, total, "fixed array elements")?;
                    self.spend(total, "fixed array")?;
                    for (j, e) in entries.chunks(esize).enumerate() {
                        let Some((address, size, mask)) = element(e, filtered)? else {
                            continue;
                        };
                        if let Some(offsets) = offsets_of(first + j as u64) {
                            out.push(Chunk {
                                offsets,
                                address,
                                size,
                                mask,
                            });
                        }
                    }
                }
            }
            ChunkIndex::ExtensibleArray { address: Some(a) } => {
                if unlimited.len() != 1 {
                    return err(
                        "extensible array chunk index without exactly one unlimited dimension",
                    );
                }
                self.extensible_array(a, nchunks, &mut |i, e, filtered| {
                    if let Some((address, size, mask)) = element(e, filtered)?
                        && let Some(offsets) = offsets_of(i)
                    {
                        out.push(Chunk {
                            offsets,
                            address,
                            size,
                            mask,
                        });
                    }
                    Ok(())
                })?;
            }
        }
        Ok(out)
    }

    /// Calls `f(element index, element bytes, filtered)` for every element of the extensible
    /// array whose header is at `a` (libhdf5 `H5EA`: index block, super blocks, data blocks).
    fn extensible_array(&self, a: u64, limit: u64, f: &mut ElementFn) -> Result<()> {
        let (so, sl) = (self.so, self.sl);
        let h = self.at(a, (12 + 6 * sl + so) as u64, "extensible array header")?;
        if &h[..4] != b"EAHD" {
            return err(format!("no extensible array header (EAHD) at offset {a}"));
        }
        let filtered = h[5] == 1;
        let esize = usize::from(h[6]);
        let max_bits = u32::from(h[7]);
        let idx_elmts = u64::from(h[8]);
        let dblk_min = u64::from(h[9]);
        let sblk_min_ptrs = u64::from(h[10]);
        let page_bits = u32::from(h[11]);
        let max_set = uint(h, 12 + 4 * sl, sl)?.min(limit);
        let Some(ib) = self.addr(h, 12 + 6 * sl)? else {
            return Ok(());
        };
        if esize < so
            || !dblk_min.is_power_of_two()
            || !sblk_min_ptrs.is_power_of_two()
            || !(1..=64).contains(&max_bits)
            || max_bits < dblk_min.trailing_zeros()
            || page_bits > 32
        {
            return err(format!(
                "extensible array header at offset {a} has invalid parameters"
            ));
        }
        let nsblks = u64::from(1 + max_bits - dblk_min.trailing_zeros());
        let iblock_sblks = 2 * u64::from(sblk_min_ptrs.trailing_zeros());
        let ndblk_addrs = 2 * (sblk_min_ptrs - 1);
        let nsblk_addrs = nsblks.saturating_sub(iblock_sblks);
        let off_size = max_bits.div_ceil(8) as u64;
        let ibh = self.at(ib, 6 + so as u64, "extensible array index block")?;
        if &ibh[..4] != b"EAIB" {
            return err(format!(
                "no extensible array index block (EAIB) at offset {ib}"
            ));
        }
        let mut at = ib + 6 + so as u64;
        let es = esize as u64;
        let elems = self.at(at, idx_elmts * es, "extensible array index block")?;
        at += idx_elmts * es;
        let dblks = self.at(at, ndblk_addrs * so as u64, "extensible array index block")?;
        at += ndblk_addrs * so as u64;
        let sblks = self.at(at, nsblk_addrs * so as u64, "extensible array index block")?;
        let mut index = 0u64;
        for e in elems.chunks(esize) {
            if index >= max_set {
                return Ok(());
            }
            f(index, e, filtered)?;
            index += 1;
        }
        let mut dblk_no = 0usize;
        for s in 0..nsblks {
            if index >= max_set {
                break;
            }
            let ndblks = 1u64 << (s / 2);
            let dblk_nelmts = (1u64 << s.div_ceil(2)) * dblk_min;
            let page = 1u64 << page_bits;
            let paged = dblk_nelmts > page;
            let npages = dblk_nelmts.div_ceil(page);
            let bitmap_len = npages.div_ceil(8);
            // Data block addresses (and, when paged, each block's page bitmap): in the index
            // block for the first super blocks, else in a super block.
            let span = ndblks.saturating_mul(dblk_nelmts);
            let list_len = ndblks
                .checked_mul(so as u64)
                .zip(ndblks.checked_mul(bitmap_len))
                .ok_or_else(|| Hdf5Error("extensible array super block size overflows".into()))?;
            let (addrs, bitmaps): (Vec<Option<u64>>, &[u8]) = if s < iblock_sblks {
                if paged {
                    return err("paged extensible array data blocks in the index block");
                }
                let v = (0..ndblks as usize)
                    .map(|k| self.addr(dblks, (dblk_no + k) * so))
                    .collect::<Result<Vec<_>>>()?;
                dblk_no += ndblks as usize;
                (v, &[])
            } else {
                match self.addr(sblks, (s - iblock_sblks) as usize * so)? {
                    None => {
                        // Never allocated: its elements are all undefined.
                        index = index.saturating_add(span);
                        continue;
                    }
                    Some(sb) => {
                        let hdr =
                            self.at(sb, 6 + so as u64 + off_size, "extensible array super block")?;
                        if &hdr[..4] != b"EASB" {
                            return err(format!(
                                "no extensible array super block (EASB) at offset {sb}"
                            ));
                        }
                        let mut p = sb + 6 + so as u64 + off_size;
                        let bitmaps: &[u8] = if paged {
                            let b = self.at(p, list_len.1, "extensible array page bitmap")?;
                            p += list_len.1;
                            b
                        } else {
                            &[]
                        };
                        let list = self.at(p, list_len.0, "extensible array super block")?;
                        let v = (0..ndblks as usize)
                            .map(|k| self.addr(list, k * so))
                            .collect::<Result<Vec<_>>>()?;
                        (v, bitmaps)
                    }
                }
            };
            for (k, d) in addrs.into_iter().enumerate() {
                if index >= max_set {
                    break;
                }
                if let Some(d) = d {
                    let hdr =
                        self.at(d, 6 + so as u64 + off_size, "extensible array data block")?;
                    if &hdr[..4] != b"EADB" {
                        return err(format!(
                            "no extensible array data block (EADB) at offset {d}"
                        ));
                    }
                    let start = d + 6 + so as u64 + off_size;
                    // (first element, count, file offset) of each stored run of elements.
                    let mut runs = Vec::new();
                    if paged {
                        // The block's checksum, then pages with a checksum each.
                        let bitmap = &bitmaps[k * bitmap_len as usize..][..bitmap_len as usize];
                        for p in 0..npages {
                            if bitmap[(p / 8) as usize] & (0x80 >> (p % 8)) != 0 {
                                let n = page.min(dblk_nelmts - p * page);
                                let at = (page * es + 4)
                                    .checked_mul(p)
                                    .and_then(|o| o.checked_add(start + 4))
                                    .ok_or_else(|| {
                                        Hdf5Error("extensible array page offset overflows".into())
                                    })?;
                                runs.push((p * page, n, at));
                            }
                        }
                    } else {
                        runs.push((0, dblk_nelmts, start));
                    }
                    for (first, n, at) in runs {
                        let len = n.checked_mul(es).ok_or_else(|| {
                            Hdf5Error("extensible array data block size overflows".into())
                        })?;
                        self.spend(len, "extensible array data block")?;
                        let body = self.at(at, len, "extensible array data block")?;
                        for (j, e) in body.chunks(esize).enumerate() {
                            let i = index + first + j as u64;
                            if i >= max_set {
                                break;
                            }
                            f(i, e, filtered)?;
                        }
                    }
                }
                index = index.saturating_add(dblk_nelmts);
            }
        }
        Ok(())
    }
}
