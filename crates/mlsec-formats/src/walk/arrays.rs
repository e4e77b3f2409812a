//! Tensors: views cut from storages, `.npy`, GGUF, safetensors, Keras JSON.

use super::*;

impl<V: Visitor> Walker<'_, V> {
    pub(super) fn tensor_problems(&mut self, problems: &[TensorProblem]) {
        for p in problems {
            self.problem(
                format!("tensor `{}`: {}", p.name, p.message),
                Some(p.offset),
            );
        }
    }

    /// Cuts each tensor's view from its storage, checks bounds, and hands the views over.
    pub(super) fn views<'s>(
        &mut self,
        tensors: &[TensorRef],
        site: &Site,
        storage: impl Fn(&str) -> Option<Storage<'s>>,
    ) {
        let mut cache: HashMap<&str, Option<Storage<'s>>> = HashMap::new();
        for t in tensors {
            cache
                .entry(&t.storage_key)
                .or_insert_with(|| storage(&t.storage_key));
        }
        let mut ready: Vec<TensorView<'_>> = Vec::new();
        for t in tensors {
            let Some((bytes, _)) = &cache[t.storage_key.as_str()] else {
                self.visitor.entry(Entry::BadView {
                    site,
                    tensor: t,
                    why: BadView::Missing,
                });
                continue;
            };
            let view = match cut(t, bytes) {
                Ok(view) => view,
                Err(ViewError::OutOfBounds { have, end }) => {
                    self.visitor.entry(Entry::BadView {
                        site,
                        tensor: t,
                        why: BadView::OutOfBounds { have, end },
                    });
                    continue;
                }
                Err(ViewError::TooLarge { numel }) => {
                    self.visitor.entry(Entry::BadView {
                        site,
                        tensor: t,
                        why: BadView::TooLarge { numel },
                    });
                    continue;
                }
            };
            ready.push(TensorView {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
                bytes: view,
                offset: site.span(t.offset),
                storage: Some((t.storage_key.clone(), t.storage_offset)),
            });
        }
        self.tensors(ready, true);
    }

    pub(super) fn npy(&mut self, data: &[u8], site: &Site, depth: usize, name: &str) {
        let parsed = match npy::parse(data) {
            Ok(p) => p,
            Err(e) => {
                return self.problem(format!("{}{e}", site.prefix()), Some(site.span(0)));
            }
        };
        let body = &data[parsed.data_offset..];
        match parsed.body {
            npy::NpyBody::Object => {
                self.visitor.entry(Entry::NotNumbers {
                    message: format!("{name}: object array (a pickle), not numbers: not read"),
                    span: Some(site.span(site.anchor + parsed.data_offset as u64)),
                });
                let mut inner = site.clone();
                inner.anchor = if site.mapped {
                    site.anchor + parsed.data_offset as u64
                } else {
                    site.anchor
                };
                self.pickle(body, &inner, depth, Some(Profile::Numpy));
            }
            // Strings, dates, structured records: read and size-checked, no numbers.
            npy::NpyBody::Records { .. } => {}
            npy::NpyBody::Array { dtype, big_endian } => {
                let bytes: Cow<'_, [u8]> = if big_endian {
                    Cow::Owned(swap_bytes(body, dtype.size()))
                } else {
                    Cow::Borrowed(body)
                };
                // Tensors are C order, as numpy indexes them.
                let bytes = load::c_order(bytes, &parsed.shape, dtype.size(), parsed.fortran_order);
                let name = name.strip_suffix(".npy").unwrap_or(name).to_owned();
                let view = TensorView {
                    name,
                    dtype,
                    shape: parsed.shape.clone(),
                    bytes,
                    offset: site.span(site.anchor + parsed.data_offset as u64),
                    storage: None,
                };
                self.tensors(vec![view], true);
            }
        }
    }

    /// A Keras model saved as JSON (`model.to_json()`, Keras 1 and 2).
    pub(super) fn keras_json(&mut self, data: &[u8]) {
        self.format = "keras-json".into();
        match serde_json::from_slice::<serde_json::Value>(data) {
            Ok(config) => {
                let site = Site::file(&self.file);
                let name = self.file.clone();
                self.visitor.entry(Entry::KerasConfig {
                    site: &site,
                    config: &config,
                    source: KerasSource::Member(&name),
                });
            }
            Err(e) => self.problem(format!("Keras model JSON: {e}"), None),
        }
    }

    /// A GGUF (llama.cpp) file: its header for the visitor, then every plain (F32, F16, BF16,
    /// F64, integer) tensor; quantized tensors are counted in a note, not decoded.
    pub(super) fn gguf(&mut self, data: &[u8]) {
        self.format = "gguf".into();
        let g = match gguf::parse(data) {
            Ok(g) => g,
            Err(e) => return self.problem(format!("{e}: not checked"), Some(e.offset)),
        };
        self.visitor.entry(Entry::Gguf { gguf: &g });
        // Tensors whose data is not in the file are header anomalies.
        let mut views = Vec::new();
        let quantized = load::gguf_tensors(data, &g, &mut |v| views.push(v));
        self.tensors(views, true);
        if !quantized.is_empty() {
            let n: usize = quantized.values().sum();
            let kinds: Vec<String> = quantized.iter().map(|(k, v)| format!("{v} {k}")).collect();
            self.note(format!(
                "{n} quantized GGUF tensor(s) not summarised ({}): weight statistics cover F32, F16, BF16, F64 and integer tensors",
                kinds.join(", ")
            ));
        }
    }

    pub(super) fn safetensors(&mut self, data: &[u8]) {
        self.format = "safetensors".into();
        let st = match safetensors::parse(data) {
            Ok(st) => st,
            Err(e) => return self.problem(e.to_string(), Some(0)),
        };
        self.visitor.entry(Entry::Safetensors { st: &st });
        let views = st
            .tensors
            .iter()
            .map(|t| {
                let s = (st.data_start + t.begin) as usize;
                let e = (st.data_start + t.end) as usize;
                TensorView {
                    name: t.name.clone(),
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    bytes: Cow::Borrowed(&data[s..e]),
                    offset: s as u64,
                    storage: None,
                }
            })
            .collect();
        self.tensors(views, true);
    }
}
