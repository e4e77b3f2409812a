//! HDF5: Keras configs, every object's attributes, variable-length rows, datasets.

use super::*;

impl<V: Visitor> Walker<'_, V> {
    /// An HDF5 file (a Keras `.h5`, a `save_weights` file, the `model.weights.h5` of a
    /// `.keras`, a PyTables, pandas or h5py data file): the `model_config` and
    /// `training_config` root attributes as Keras configs; the attributes of every object,
    /// where any value PyTables would unpickle, or that looks like a pickle, goes to the
    /// visitor as a pickle ([`Walker::hdf5_attribute`]); the rows of PyTables `ObjectAtom`
    /// VLArrays (pickles, located at `path[row]`) and any variable-length byte row that looks
    /// like a pickle, likewise; then every dataset (and every numeric field of a compound
    /// dataset) as a tensor ([`load::hdf5_tensors`]), as weights only in Keras files
    /// ([`keras_weights`]). Objects that cannot be read, external links and truncation are
    /// problems; data without numbers (strings) is a note.
    pub(super) fn hdf5(&mut self, data: &[u8], site: &Site) {
        // Offsets in `data` as this site's offsets (file offsets when mapped).
        let at = |o: u64| if site.mapped { site.anchor + o } else { o };
        let prefix = site.prefix();
        let top = site.member.is_none() && site.nested.is_empty();
        let limits = load::hdf5_limits(self.limits);
        let file = match hdf5::File::open(data) {
            Ok(f) => f,
            Err(e) => {
                return self.problem(format!("{prefix}{e}: not checked"), Some(site.span(at(0))));
            }
        };
        let root = match file.attributes(file.root) {
            Ok(r) => r,
            Err(e) => {
                self.problem(
                    format!("{prefix}HDF5 attributes of `/`: {e}: not checked"),
                    Some(site.span(at(file.root))),
                );
                Vec::new()
            }
        };
        let mut configs = 0;
        for name in ["model_config", "training_config"] {
            let Some(attr) = root.iter().find(|a| a.name == name) else {
                continue;
            };
            configs += 1;
            let offset = at(attr.offset);
            let text = match &attr.value {
                AttrValue::Strings(v) if v.len() == 1 => &v[0],
                AttrValue::Strings(v) => {
                    self.problem(
                        format!("{prefix}HDF5 attribute `{name}` holds {} strings, not one JSON document: not checked", v.len()),
                        Some(site.span(offset)),
                    );
                    continue;
                }
                AttrValue::Other(class) => {
                    self.problem(
                        format!("{prefix}HDF5 attribute `{name}` is a {class} value, not a JSON string: not checked"),
                        Some(site.span(offset)),
                    );
                    continue;
                }
                AttrValue::Unreadable(_) => continue, // reported with every attribute below
            };
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(config) => self.visitor.entry(Entry::KerasConfig {
                    site,
                    config: &config,
                    source: KerasSource::Attribute(name, offset),
                }),
                Err(e) => self.problem(
                    format!("{prefix}HDF5 attribute `{name}` is not JSON: {e}"),
                    Some(site.span(offset)),
                ),
            }
        }
        if configs > 0 && top {
            self.format = "keras-h5".into();
        }
        // The attributes of every object.
        let walk = file.walk(&limits);
        let mut objects = HashSet::new();
        for (path, header) in &walk.objects {
            let attrs = if *header == file.root {
                root.clone()
            } else {
                match file.attributes(*header) {
                    Ok(a) => a,
                    Err(e) => {
                        self.problem(
                            format!("{prefix}HDF5 attributes of `{path}`: {e}: not checked"),
                            Some(site.span(at(*header))),
                        );
                        continue;
                    }
                }
            };
            for a in &attrs {
                self.hdf5_attribute(path, a, site, at(a.offset));
            }
            // PyTables' marker of a VLArray of pickled objects (`ObjectAtom`).
            if attrs.iter().any(|a| {
                a.name == "PSEUDOATOM" && a.value == AttrValue::Strings(vec!["object".into()])
            }) {
                objects.insert(*header);
            }
        }
        // Variable-length byte sequences: PyTables unpickles every row of an `ObjectAtom`
        // VLArray (pandas' fixed format keeps object columns there) when the array is read.
        // Rows of other byte sequences and strings are walked when they look like pickles.
        // Read errors are reported with the datasets below.
        for info in &walk.datasets {
            if !matches!(info.element, hdf5::Element::Variable { base: 1, .. }) {
                continue;
            }
            let Ok(stored) = file.read(info, &limits) else {
                continue;
            };
            let Ok(items) = file.variable(info, &stored) else {
                continue;
            };
            let object = objects.contains(&info.offset);
            // Rows that reference the same heap object are the same bytes: walked once, at
            // the first row (a few compressed bytes can repeat one reference millions of times).
            let mut seen: HashSet<(usize, usize)> = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !item.is_empty() && !seen.insert((item.as_ptr() as usize, item.len())) {
                    continue;
                }
                if !(object || item.first() == Some(&0x80) || looks_like_pickle(item)) {
                    continue;
                }
                let inner = Site {
                    file: site.file.clone(),
                    member: Some(format!("{prefix}{}[{i}]", info.path)),
                    mapped: false,
                    anchor: site.span(at(info.offset)),
                    nested: site.nested.clone(),
                };
                let mut m = joblib::machine(item, 0);
                m.run_all();
                // A row PyTables must unpickle and that does not parse is a problem.
                self.finish_pickle(m, &inner, 0, None, object);
            }
        }
        let weights = keras_weights(&root, &walk) || !top;
        // The datasets, decoded one at a time and handed over in batches.
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let mut batch: Vec<TensorView<'_>> = Vec::new();
        let mut held = 0usize;
        load::hdf5_tensors(
            data,
            &limits,
            &mut |mut v| {
                v.offset = site.span(at(v.offset));
                if let Cow::Owned(b) = &v.bytes {
                    held += b.len();
                }
                batch.push(v);
                if held > BATCH_BYTES {
                    self.tensors(std::mem::take(&mut batch), weights);
                    held = 0;
                }
            },
            &mut |p| problems.push(p),
            &mut |n| notes.push(n.message),
        );
        self.tensors(batch, weights);
        for p in problems {
            self.problem(
                format!("{prefix}{}", p.message),
                p.offset.map(|o| site.span(at(o))),
            );
        }
        if !weights && !walk.datasets.is_empty() {
            self.note(format!(
                "{prefix}HDF5 data file (no Keras model or weights layout): its datasets are summarised, not judged as weights"
            ));
        }
        for n in notes {
            self.note(format!("{prefix}{n}"));
        }
    }

    /// One HDF5 attribute: every element that PyTables would unpickle (a scalar non-UTF-8
    /// string ending in `.`, see `tables/attributeset.py`) or that merely looks like a pickle
    /// (any string, opaque or byte-sequence element starting with a PROTO opcode or parsing
    /// as a pickle) goes to the visitor as a pickle, located at `path/@name` (`[i]` for the
    /// i-th element of an array). A value that does not parse is what PyTables then returns
    /// as the string itself: not a problem, unless code was called before the parse failed.
    /// An unreadable attribute is a problem: it could hide a pickle.
    pub(super) fn hdf5_attribute(
        &mut self,
        path: &str,
        a: &hdf5::Attribute,
        site: &Site,
        offset: u64,
    ) {
        let outer = site.prefix();
        let node = if path == "/" {
            format!("/@{}", a.name)
        } else {
            format!("{path}/@{}", a.name)
        };
        if let AttrValue::Unreadable(why) = &a.value {
            return self.problem(
                format!("{outer}HDF5 attribute `{node}` cannot be read: {why}"),
                Some(site.span(offset)),
            );
        }
        let string = matches!(a.value, AttrValue::Strings(_));
        for (i, raw) in a.raw.iter().enumerate() {
            let pytables =
                a.scalar && string && !a.utf8 && raw.ends_with(b".") && raw.as_slice() != b"0.";
            let looks = raw.first() == Some(&0x80) || raw.ends_with(b".") || looks_like_pickle(raw);
            if !(pytables || looks) {
                continue;
            }
            let pointer = if a.raw.len() > 1 {
                format!("{node}[{i}]")
            } else {
                node.clone()
            };
            let inner = Site {
                file: site.file.clone(),
                member: Some(format!("{outer}{pointer}")),
                mapped: false,
                anchor: site.span(offset),
                nested: site.nested.clone(),
            };
            // A variable-length string is read up to its first NUL by PyTables: both readings.
            let mut readings: Vec<&[u8]> = vec![raw];
            if let Some(nul) = raw.iter().position(|&b| b == 0) {
                readings.push(&raw[..nul]);
            }
            for bytes in readings {
                let mut m = joblib::machine(bytes, 0);
                m.run_all();
                self.finish_pickle(m, &inner, 0, None, false);
            }
        }
    }
}

/// Whether an HDF5 file holds Keras weights, which are model weights: a Keras 2 model or
/// `save_weights` file (root attributes `model_config`, `training_config`, `keras_version`,
/// `backend` or `layer_names`, or a `/model_weights` group) or the Keras 3 weights layout
/// (groups named `vars`, as in `model.weights.h5`). Any other HDF5 file (h5py, PyTables and
/// pandas data) holds data, where NaN marks missing values and magnitudes are whatever was
/// measured.
pub fn keras_weights(root: &[hdf5::Attribute], walk: &hdf5::Walk) -> bool {
    const KERAS: [&str; 5] = [
        "model_config",
        "training_config",
        "keras_version",
        "backend",
        "layer_names",
    ];
    root.iter().any(|a| KERAS.contains(&a.name.as_str()))
        || walk
            .groups
            .iter()
            .any(|(p, _)| p == "/model_weights" || p == "/vars" || p.ends_with("/vars"))
}
