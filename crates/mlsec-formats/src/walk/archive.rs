//! Archives: zip (torch layout or not) and tar (legacy `torch.save` or not), every member by
//! content.

use super::*;

impl<V: Visitor> Walker<'_, V> {
    /// A tar archive: the legacy `torch.save` layout (`sys_info`, `pickle`, `storages`,
    /// `tensors`) with tensor reconstruction, and every other member walked by content.
    pub(super) fn tar(&mut self, data: &[u8], site: &Site, depth: usize) {
        let archive = match tar::parse(data) {
            Ok(a) => a,
            Err(e) => return self.problem(format!("{e}"), Some(site.span(0))),
        };
        if archive.missing_end_marker {
            self.problem(
                "tar: no end-of-archive marker after the last member: the archive may be truncated",
                Some(site.span(archive.end)),
            );
        }
        let member = |name: &str| {
            archive
                .entries
                .iter()
                .rev()
                .find(|e| e.is_file() && e.name == name)
        };
        // Pickle offsets inside a member: file offsets when the member is mapped in the file.
        let member_base = |e: &tar::TarEntry| {
            if site.mapped {
                site.anchor + e.data_offset
            } else {
                0
            }
        };
        let member_site = |e: &tar::TarEntry| {
            let mut s = site.clone();
            s.member = Some(match &site.member {
                Some(outer) => format!("{outer}/{}", e.name),
                None => e.name.clone(),
            });
            s.anchor = if site.mapped {
                site.anchor + e.data_offset
            } else {
                site.anchor
            };
            s
        };
        let mut done: HashSet<&str> = HashSet::new();
        let mut recognised = false;
        let legacy_members = (member("storages"), member("tensors"), member("pickle"));
        let profile =
            matches!(legacy_members, (Some(_), Some(_), Some(_))).then_some(Profile::Torch);
        if let (Some(storages), Some(tensors), Some(pickle)) = legacy_members {
            recognised = true;
            self.format = "torch-legacy-tar".into();
            for e in [storages, tensors, pickle] {
                done.insert(e.name.as_str());
            }
            let st = self.legacy_member(
                legacy::tar_storages(storages.data(data), member_base(storages)),
                &member_site(storages),
                depth,
                "storages",
            );
            let ts = st.as_ref().and_then(|st| {
                self.legacy_member(
                    legacy::tar_tensors(tensors.data(data), member_base(tensors), st),
                    &member_site(tensors),
                    depth,
                    "tensors",
                )
            });
            let ps = member_site(pickle);
            let m = self.pickle(pickle.data(data), &ps, depth, profile);
            if let (Some(st), Some(mut ts), Some(m)) = (st, ts, m)
                && let Some(root) = m.streams[0].root
            {
                legacy::tar_names(&m, root, &mut ts);
                let st_bytes = storages.data(data);
                let st_at = site.span(storages.data_offset);
                let lookup = |key: &str| {
                    st.get(key).map(|&(off, len)| {
                        (Cow::Borrowed(&st_bytes[off..off + len]), st_at + off as u64)
                    })
                };
                self.views(&ts, &ps, lookup);
            }
        }
        // Every other member: pickles (sys_info, ...), npy, nested zips and tars, by content.
        for e in archive.entries.iter().filter(|e| e.is_file()) {
            if done.contains(e.name.as_str()) {
                continue;
            }
            let bytes = e.data(data);
            let s = member_site(e);
            if looks_like_pickle(bytes) {
                recognised = true;
                self.pickle(bytes, &s, depth, profile);
            } else if bytes.starts_with(npy::MAGIC) {
                recognised = true;
                self.npy(bytes, &s, depth, &e.name);
            } else if crate::zip::is_zip(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.zip(bytes, &s, depth + 1);
            } else if tar::is_tar(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.tar(bytes, &s, depth + 1);
            }
        }
        if !recognised {
            self.problem(
                "tar archive without a recognised model layout (no pickle, storages and tensors members, no pickle or .npy member)",
                Some(site.span(0)),
            );
        }
    }

    /// Hands a legacy member's pickles over (torch loader), then reports a record that could
    /// not be read: the member's content only if both passed.
    pub(super) fn legacy_member<T>(
        &mut self,
        parsed: legacy::Parsed<'_, T>,
        site: &Site,
        depth: usize,
        member: &str,
    ) -> Option<T> {
        let base = parsed.machine.base;
        let ok = self
            .finish_pickle(parsed.machine, site, depth, Some(Profile::Torch), true)
            .is_some();
        if let Some(p) = parsed.problem {
            self.problem(
                format!(
                    "{}: {}; the rest is not read",
                    site.member.as_deref().unwrap_or(member),
                    p.message
                ),
                Some(site.span(base + p.offset as u64)),
            );
            return None;
        }
        ok.then_some(parsed.value)
    }

    pub(super) fn zip(&mut self, data: &[u8], site: &Site, depth: usize) {
        let z = match ZipArchive::parse(data, self.limits) {
            Ok(z) => z,
            Err(e) => return self.problem(format!("{}{e}", site.prefix()), Some(site.span(0))),
        };
        let at = |o: u64| if site.mapped { site.anchor + o } else { o };
        // The PyTorch layout: `<prefix>/data.pkl`.
        let layout = torch_layout(&z);
        let prefix = layout.as_ref().map(|l| l.prefix.clone());
        self.visitor.entry(Entry::Zip {
            site,
            zip: &z,
            prefix: prefix.as_deref(),
        });
        // Read every member once: CRC, bombs, and what it contains.
        let mut contents: BTreeMap<usize, Cow<'_, [u8]>> = BTreeMap::new();
        for (i, e) in z.entries.iter().enumerate() {
            match z.read(e) {
                Ok(m) => {
                    if !m.crc_ok {
                        self.visitor.entry(Entry::CrcMismatch {
                            site,
                            entry: e,
                            actual: m.actual_crc,
                        });
                    }
                    contents.insert(i, m.bytes);
                }
                Err(err @ ZipError::Bomb { .. }) => {
                    self.visitor.entry(Entry::Bomb {
                        site,
                        entry: e,
                        error: &err,
                    });
                    if let ZipError::Bomb { name, .. } = &err {
                        self.problem(
                            format!("member `{name}` was not inflated (zip bomb limits); its content is not checked"),
                            Some(site.span(at(e.local_offset))),
                        );
                    }
                }
                Err(err) => self.problem(err.to_string(), Some(site.span(at(e.local_offset)))),
            }
        }
        let member_site = |e: &ZipEntry| {
            let mut s = site.clone();
            s.member = Some(match &site.member {
                Some(outer) => format!("{outer}/{}", e.name),
                None => e.name.clone(),
            });
            // Stored members' offsets are file offsets.
            if site.mapped && e.method == 0 {
                s.anchor = site.anchor + e.data_offset;
            } else {
                s.mapped = false;
                s.anchor = site.span(at(e.local_offset));
            }
            s
        };
        let mut storage_members: HashSet<usize> = HashSet::new();
        let mut recognised = false;
        let mut member_profile = Profile::Torch;
        if let (Some(layout), Some(prefix)) = (&layout, &prefix) {
            recognised = true;
            if self.format == "zip" {
                self.format = "torch-zip".into();
            }
            let pkl = layout.pickle;
            let idx = z
                .entries
                .iter()
                .position(|e| std::ptr::eq(e, pkl))
                .expect("the layout's entry is one of the archive's");
            let torch_profile = if layout.torchscript {
                self.format = "torchscript".into();
                Profile::TorchScript
            } else {
                Profile::Torch
            };
            member_profile = torch_profile;
            let s = member_site(pkl);
            let big = layout
                .byteorder
                .and_then(|b| z.entries.iter().position(|e| std::ptr::eq(e, b)))
                .and_then(|i| contents.get(&i))
                .is_some_and(|b| b.as_ref() == b"big");
            if let Some(bytes) = contents.get(&idx) {
                let bytes: &[u8] = bytes;
                let machine = self.pickle(bytes, &s, depth, Some(torch_profile));
                if let Some(m) = machine
                    && let Some(root) = m.streams[0].root
                {
                    let (tensors, problems) = collect_tensors(&m, root);
                    self.tensor_problems(&problems);
                    let names: HashMap<String, usize> = z
                        .entries
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (e.name.clone(), i))
                        .collect();
                    for t in &tensors {
                        if let Some(&i) = names.get(&format!("{prefix}data/{}", t.storage_key)) {
                            storage_members.insert(i);
                        }
                    }
                    let lookup = |key: &str| {
                        let i = *names.get(&format!("{prefix}data/{key}"))?;
                        let b = contents.get(&i)?;
                        let b: Cow<'_, [u8]> = if big {
                            let size = tensors
                                .iter()
                                .find(|t| t.storage_key == key)
                                .map_or(1, |t| t.dtype.size());
                            Cow::Owned(swap_bytes(b, size))
                        } else {
                            Cow::Borrowed(&b[..])
                        };
                        Some((b, z.entries[i].data_offset))
                    };
                    // Tensor locations point at the rebuild call in data.pkl.
                    self.views(&tensors, &s, lookup);
                }
            }
            storage_members.insert(idx);
        }
        // skops: a zip whose `schema.json` says which objects to build on load.
        let skops = prefix.is_none()
            && depth == 0
            && site.member.is_none()
            && z.entries.iter().any(|e| e.name == "schema.json");
        // Every other member that looks like a pickle or .npy is walked, whatever its name.
        for (i, e) in z.entries.iter().enumerate() {
            if storage_members.contains(&i) {
                continue;
            }
            let Some(bytes) = contents.get(&i) else {
                continue;
            };
            let s = member_site(e);
            let code_dir = prefix.as_ref().map(|p| format!("{p}code/"));
            if member_profile == Profile::TorchScript
                && code_dir.is_some_and(|d| e.name.starts_with(&d))
                && e.name.ends_with(".py")
            {
                let text = String::from_utf8_lossy(bytes);
                self.visitor.entry(Entry::Code {
                    site: &s,
                    text: &text,
                });
            } else if bytes.starts_with(npy::MAGIC) {
                recognised = true;
                if prefix.is_none() && self.format == "zip" {
                    self.format = "npz".into();
                }
                self.npy(bytes, &s, depth, &e.name);
            } else if looks_like_pickle(bytes) {
                recognised = true;
                let profile = prefix.is_some().then_some(member_profile);
                self.pickle(bytes, &s, depth, profile);
            } else if crate::zip::is_zip(bytes) && depth < MAX_NESTING {
                recognised = true;
                self.zip(bytes, &s, depth + 1);
            } else if sniff(bytes) == Format::Hdf5 {
                // Keras 3 `.keras`: `model.weights.h5` (any HDF5 member, whatever its name).
                recognised = true;
                self.hdf5(bytes, &s);
            } else if !skops {
                // (A skops file is reported as not scanned as a whole below.)
                self.unread_member(&e.name, prefix.as_deref(), bytes.len(), at(e.local_offset));
            }
        }
        // Keras 3 `.keras`: a zip with `config.json` (and `model.weights.h5`).
        if let Some(i) = z.entries.iter().position(|e| e.name == "config.json")
            && z.entries
                .iter()
                .any(|e| e.name == "model.weights.h5" || e.name == "metadata.json")
        {
            recognised = true;
            self.format = "keras".into();
            match contents
                .get(&i)
                .map(|b| serde_json::from_slice::<serde_json::Value>(b))
            {
                Some(Ok(config)) => {
                    let s = member_site(&z.entries[i]);
                    let member = s.member.clone().unwrap_or_default();
                    self.visitor.entry(Entry::KerasConfig {
                        site: &s,
                        config: &config,
                        source: KerasSource::Member(&member),
                    });
                }
                Some(Err(e)) => self.problem(format!("config.json is not JSON: {e}"), None),
                None => {}
            }
        }
        if skops {
            return self.not_scanned(
                "skops",
                " (its schema.json, which decides what is built, is not checked)",
            );
        }
        if !recognised {
            self.problem(
                "zip archive without a recognised model layout (no data.pkl, pickle or .npy member)",
                None,
            );
        }
    }

    /// A zip member that is none of the formats read: known PyTorch bookkeeping passes, a
    /// member whose name says pickle or numpy is loadable (a loader may read it, and it cannot
    /// be checked), anything else is skipped. Never silently dropped.
    pub(super) fn unread_member(
        &mut self,
        name: &str,
        prefix: Option<&str>,
        len: usize,
        span: u64,
    ) {
        let inner = prefix.and_then(|p| name.strip_prefix(p)).unwrap_or(name);
        let bookkeeping = prefix.is_some()
            && (matches!(
                inner,
                "version"
                    | ".format_version"
                    | ".storage_alignment"
                    | "byteorder"
                    | ".data/version"
                    | ".data/serialization_id"
                    | "serialization_id"
            ) || inner.starts_with("data/")
                || inner.starts_with("code/")
                || inner.starts_with("extra/")
                || inner.starts_with(".data/"));
        // Keras 3 `.keras` metadata is read after the members.
        let keras = prefix.is_none() && matches!(name, "config.json" | "metadata.json");
        if bookkeeping || keras || name.ends_with('/') {
            return;
        }
        let lower = name.to_ascii_lowercase();
        let loadable = [
            ".pkl", ".pickle", ".pt", ".pth", ".npy", ".joblib", ".sav", ".ckpt",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext));
        self.visitor.entry(Entry::Skipped {
            name,
            len,
            span,
            loadable,
        });
    }
}
