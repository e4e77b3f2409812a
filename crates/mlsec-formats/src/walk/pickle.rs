//! Pickles: raw and compressed joblib dumps and pickles, legacy `torch.save`, joblib's arrays
//! and companion files, and the machine handed to the visitor.

use super::*;

impl<V: Visitor> Walker<'_, V> {
    /// A whole-file compressed joblib dump (`joblib.dump(..., compress=...)`, or a plain pickle
    /// written through a compressor, which `joblib.load` reads the same way): expanded under
    /// the zip member size limit ([`joblib::expand`]), then read like a raw joblib pickle. A
    /// stream that fails part-way is a problem, and what it decoded before is still walked
    /// (the loader unpickles those bytes). Offsets are in the expanded stream, located at the
    /// start of the file. A file that only looks compressed is unrecognised unless `explicit`.
    pub(super) fn compressed_joblib(&mut self, data: &[u8], compression: &str, explicit: bool) {
        self.format = format!("joblib-{compression}");
        let limit = usize::try_from(self.limits.max_member_size).unwrap_or(usize::MAX);
        let expanded = joblib::expand(data, limit);
        let pickle = looks_like_pickle(&expanded.data);
        if !pickle && !explicit {
            return self.visitor.entry(Entry::Unrecognised);
        }
        match &expanded.error {
            Some(e) if pickle && !expanded.data.is_empty() => self.problem(
                format!(
                    "{e}; the {} bytes decoded before are checked",
                    expanded.data.len()
                ),
                Some(0),
            ),
            Some(e) => return self.problem(format!("{e}: not checked"), Some(0)),
            None if !pickle => {
                return self.problem(
                    format!("{compression}-compressed data is not a pickle: not checked"),
                    Some(0),
                );
            }
            None => {}
        }
        let site = Site {
            file: self.file.clone(),
            member: Some(format!("{compression} stream")),
            mapped: false,
            anchor: 0,
            nested: Vec::new(),
        };
        let mut m = joblib::machine(&expanded.data, 0);
        m.run_all();
        self.format = load::compressed_format(&m, compression);
        if let Some(m) = self.finish_pickle(m, &site, 0, None, true) {
            self.joblib_arrays(&m, &site);
            self.joblib_companions(&m, &site, 0);
        }
    }

    /// The arrays an old joblib file (joblib < 0.10) keeps in companion files next to it
    /// ([`joblib::companions`]), read from [`Walker::dir`] the way joblib reads them: an
    /// `NDArrayWrapper`'s `.npy` like any `.npy` (an object array is a pickle that numpy
    /// unpickles), a `ZNDArrayWrapper`'s zfile as the raw elements of the dtype and shape in
    /// the pickle. A name that leaves the directory (`..`, an absolute path, a symlink out)
    /// and a missing companion are problems naming it. What is found in a companion is about
    /// the companion file ([`Entry::Companion`]).
    pub(super) fn joblib_companions(&mut self, m: &Machine<'_>, site: &Site, depth: usize) {
        use joblib::CompanionKind;
        for c in joblib::companions(m) {
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    self.problem(format!("{e}: not checked"), None);
                    continue;
                }
            };
            let name = c
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| c.file.clone());
            let at = Some(site.span(c.offset));
            let Some(dir) = self.dir.clone() else {
                self.problem(
                    format!(
                        "joblib array {name}: stored in the companion file `{}` (joblib < 0.10 format), which is not read when only the file's bytes are scanned: not checked",
                        c.file
                    ),
                    at,
                );
                continue;
            };
            let (canon, bytes) = match joblib::open_companion(&dir, &c.file) {
                Ok(found) => found,
                Err(e) => {
                    self.problem(format!("joblib array {name}: {e}: not checked"), at);
                    continue;
                }
            };
            if self.companions.contains(&canon) {
                continue;
            }
            self.companions.push(canon);
            let rel = match self.file.rsplit_once('/') {
                Some((d, _)) => format!("{d}/{}", c.file),
                None => c.file.clone(),
            };
            self.visitor.entry(Entry::Companion(Some(&rel)));
            let csite = Site::file(&rel);
            match c.kind {
                CompanionKind::Npy if bytes.starts_with(npy::MAGIC) => {
                    self.npy(&bytes, &csite, depth, &name);
                }
                CompanionKind::Npy => self.problem(
                    format!(
                        "joblib array {name}: the companion file is not an .npy file: not checked"
                    ),
                    Some(0),
                ),
                CompanionKind::Zfile {
                    descr,
                    body,
                    shape,
                    fortran_order,
                } => self.zfile_companion(&bytes, &name, c.node, descr, body, shape, fortran_order),
            }
            self.visitor.entry(Entry::Companion(None));
        }
    }

    /// A `ZNDArrayWrapper`'s zfile: the raw elements of the dtype and shape in the pickle.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn zfile_companion(
        &mut self,
        bytes: &[u8],
        name: &str,
        node: mlsec_pickle::NodeId,
        descr: String,
        body: joblib::Body,
        shape: Vec<u64>,
        fortran_order: bool,
    ) {
        if !bytes.starts_with(b"ZF") {
            return self.problem(
                format!("joblib array {name}: the companion file is not a zfile: not checked"),
                Some(0),
            );
        }
        let limit = usize::try_from(self.limits.max_member_size).unwrap_or(usize::MAX);
        let e = joblib::expand(bytes, limit);
        if let Some(err) = &e.error {
            return self.problem(format!("joblib array {name}: {err}: not checked"), Some(0));
        }
        let joblib::Body::Raw { dtype, .. } = body else {
            return self.problem(
                format!("joblib array {name}: dtype `{descr}` of the companion is not a tensor type: not checked"),
                Some(0),
            );
        };
        let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let want = numel.and_then(|n| n.checked_mul(dtype.size() as u64));
        if want != Some(e.data.len() as u64) {
            return self.problem(
                format!(
                    "joblib array {name}: the companion holds {} bytes, shape {shape:?} and dtype `{descr}` need {}: not checked",
                    e.data.len(),
                    want.map_or_else(|| "more than can be counted".into(), |w| w.to_string())
                ),
                Some(0),
            );
        }
        let a = joblib::JoblibArray {
            path: Some(name.to_owned()),
            node,
            descr,
            body,
            shape: shape.clone(),
            fortran_order,
            subclass: None,
            data: 0..e.data.len() as u64,
        };
        // Swapped to little-endian and C order as joblib arrays are.
        let cm = joblib::machine(&e.data, 0);
        if let Some(bytes) = a.elements(&cm) {
            self.tensors(
                vec![TensorView {
                    name: name.to_owned(),
                    dtype,
                    shape,
                    bytes,
                    offset: 0,
                    storage: None,
                }],
                true,
            );
        }
    }

    /// The numeric arrays of a joblib pickle. Arrays that cannot be understood are problems;
    /// object arrays are pickles the audit already covered, and non-numeric arrays (strings,
    /// dates) hold no weights.
    pub(super) fn joblib_arrays(&mut self, m: &Machine<'_>, site: &Site) {
        let mut views = Vec::new();
        let mut problems = Vec::new();
        let skipped = load::joblib_tensors(m, &mut |v| views.push(v), &mut |p| problems.push(p));
        for v in &mut views {
            v.offset = site.span(v.offset);
        }
        self.tensors(views, true);
        for p in skipped {
            self.visitor.entry(Entry::NotNumbers {
                message: format!("{}{}", site.prefix(), p.message),
                span: p.offset.map(|o| site.span(o)),
            });
        }
        for p in problems {
            let prefix = site.prefix();
            self.problem(
                format!("{prefix}{}: not checked", p.message),
                p.offset.map(|o| site.span(o)),
            );
        }
    }

    /// Runs the pickle machine over every stream in `data` and hands it over. Returns the
    /// machine for tensor reconstruction when the first stream parsed.
    pub(super) fn pickle<'d>(
        &mut self,
        data: &'d [u8],
        site: &Site,
        depth: usize,
        profile: Option<Profile>,
    ) -> Option<Machine<'d>> {
        let base = if site.mapped { site.anchor } else { 0 };
        let mut m = joblib::machine(data, base);
        m.run_all();
        self.finish_pickle(m, site, depth, profile, true)
    }

    /// Hands a machine that ran to the visitor, then walks the payloads it returns (up to
    /// [`MAX_NESTING`] deep; marshal payloads are code objects, not walked).
    pub(super) fn finish_pickle<'d>(
        &mut self,
        m: Machine<'d>,
        site: &Site,
        depth: usize,
        profile: Option<Profile>,
        parse_errors: bool,
    ) -> Option<Machine<'d>> {
        let payloads = self.visitor.pickle(Pickle {
            machine: &m,
            site,
            profile,
            parse_errors,
            depth,
        });
        for p in payloads {
            if depth >= MAX_NESTING {
                self.problem(
                    "nested payloads are nested too deeply to check",
                    Some(p.site.anchor),
                );
                continue;
            }
            self.buffer(&p.bytes, &p.site, depth + 1, p.profile);
        }
        let ok = m.streams.first().is_some_and(|s| s.error.is_none());
        ok.then_some(m)
    }

    pub(super) fn raw_pickle(&mut self, data: &[u8], site: &Site, depth: usize) {
        // Legacy torch.save: magic, protocol, sys_info, the object, storage keys, storages.
        // The magic-number stream is 14 bytes: probe only the head.
        let mut probe = joblib::machine(&data[..data.len().min(64)], 0);
        let first = probe.run_stream(0);
        if first.error.is_none() && first.root.is_some_and(|r| is_legacy_magic(&probe, r)) {
            self.format = "torch-legacy".into();
            return self.legacy(data, site, depth);
        }
        let Some(m) = self.pickle(data, site, depth, None) else {
            return;
        };
        if Profile::infer(&m) == Profile::Joblib || !m.inline_nodes.is_empty() {
            self.format = "joblib".into();
            self.joblib_arrays(&m, site);
            self.joblib_companions(&m, site, depth);
        }
    }

    pub(super) fn legacy(&mut self, data: &[u8], site: &Site, depth: usize) {
        let mut m = joblib::machine(data, 0);
        let mut pos = 0;
        for _ in 0..5 {
            let s = m.run_stream(pos);
            if s.error.is_some() {
                break;
            }
            pos = s.end;
        }
        let Some(m) = self.finish_pickle(m, site, depth, Some(Profile::Torch), true) else {
            return;
        };
        if m.streams.len() < 5 || m.streams.iter().any(|s| s.error.is_some()) {
            if m.streams.iter().all(|s| s.error.is_none()) {
                self.problem(
                    "legacy torch checkpoint ends before its storage list",
                    Some(pos as u64),
                );
            }
            return;
        }
        let (Some(root), Some(keys_root)) = (m.streams[3].root, m.streams[4].root) else {
            return;
        };
        let (tensors, problems) = collect_tensors(&m, root);
        self.tensor_problems(&problems);
        let keys: Vec<String> = m
            .seq_of(keys_root)
            .unwrap_or(&[])
            .iter()
            .filter_map(|&k| m.str_of(k).map(str::to_owned))
            .collect();
        let (storages, end) = match legacy::pickle_storages(data, pos, &keys, &tensors) {
            Ok(read) => read,
            Err(p) => return self.problem(p.message, Some(p.offset as u64)),
        };
        if end < data.len() {
            self.visitor.entry(Entry::TrailingData {
                site,
                offset: end as u64,
                len: (data.len() - end) as u64,
            });
        }
        let lookup = |key: &str| {
            storages
                .get(key)
                .map(|&(off, len)| (Cow::Borrowed(&data[off..off + len]), off as u64))
        };
        self.views(&tensors, site, lookup);
    }
}
