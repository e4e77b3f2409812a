//! `--convert-safetensors`: tensors only, written beside the checkpoint and read back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsec_tensors::dtype::DType;
use mlsec_tensors::safetensors;

use crate::scan::{Options, visit_tensors};

/// name, dtype, shape, bytes, (storage key, offset).
type Owned = (String, DType, Vec<u64>, Vec<u8>, Option<(String, u64)>);

pub struct Converted {
    pub output: PathBuf,
    pub tensors: usize,
    /// Groups of names that shared one storage view in the checkpoint.
    pub tied: Vec<Vec<String>>,
}

/// Where the converted file goes: `<stem>.safetensors` beside `path`.
pub fn output_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.safetensors"))
}

/// Converts the tensors of `data` (read from `path`) and verifies the written file.
pub fn convert(path: &Path, data: &[u8], file: &str, overwrite: bool) -> Result<Converted, String> {
    let output = output_path(path);
    if output.exists() && !overwrite {
        return Err(format!(
            "{} exists; pass --overwrite to replace it",
            output.display()
        ));
    }
    let mut tensors: Vec<Owned> = Vec::new();
    let opts = Options::default();
    let result = visit_tensors(data, file, &opts, &mut |v| {
        tensors.push((
            v.name.clone(),
            v.dtype,
            v.shape.clone(),
            v.bytes.to_vec(),
            v.storage.clone(),
        ));
    });
    if !result.errors.is_empty() {
        return Err(format!(
            "cannot convert a file that could not be fully read ({})",
            result.errors[0].message
        ));
    }
    if tensors.is_empty() {
        return Err("no tensors to convert".into());
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = tensors.iter().find(|t| !seen.insert(t.0.clone())) {
        return Err(format!("tensor name `{}` occurs twice", dup.0));
    }
    // Tied weights: safetensors has no aliasing, so each name gets its own copy and the
    // groups are recorded in the metadata.
    let mut groups: BTreeMap<(String, u64, Vec<u64>), Vec<String>> = BTreeMap::new();
    for (name, _, shape, _, storage) in &tensors {
        if let Some((key, off)) = storage {
            groups
                .entry((key.clone(), *off, shape.clone()))
                .or_default()
                .push(name.clone());
        }
    }
    let tied: Vec<Vec<String>> = groups.into_values().filter(|g| g.len() > 1).collect();
    let mut metadata = BTreeMap::new();
    metadata.insert("format".to_owned(), "pt".to_owned());
    metadata.insert("converted_by".to_owned(), "mlsec checkpoint".to_owned());
    if !tied.is_empty() {
        let text: Vec<String> = tied.iter().map(|g| g.join("=")).collect();
        metadata.insert("tied_weights".to_owned(), text.join(","));
    }
    let refs: Vec<(String, DType, Vec<u64>, &[u8])> = tensors
        .iter()
        .map(|(n, d, s, b, _)| (n.clone(), *d, s.clone(), b.as_slice()))
        .collect();
    let bytes = safetensors::write(&refs, &metadata);
    let tmp = output.with_extension("safetensors.tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    // Read back what was written and compare every tensor bit for bit.
    let back =
        std::fs::read(&tmp).map_err(|e| format!("cannot read back {}: {e}", tmp.display()))?;
    let verify = || -> Result<(), String> {
        let st = safetensors::parse(&back).map_err(|e| e.to_string())?;
        if !st.anomalies.is_empty() || st.tensors.len() != tensors.len() {
            return Err("written file does not validate".into());
        }
        for (name, dtype, shape, data, _) in &tensors {
            let t = st
                .tensors
                .iter()
                .find(|t| &t.name == name)
                .ok_or_else(|| format!("`{name}` missing after write"))?;
            let s = (st.data_start + t.begin) as usize;
            let e = (st.data_start + t.end) as usize;
            if t.dtype != *dtype || &t.shape != shape || &back[s..e] != data.as_slice() {
                return Err(format!("`{name}` differs after write"));
            }
        }
        Ok(())
    };
    if let Err(e) = verify() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("read-back verification failed: {e}"));
    }
    std::fs::rename(&tmp, &output)
        .map_err(|e| format!("cannot move into {}: {e}", output.display()))?;
    Ok(Converted {
        output,
        tensors: tensors.len(),
        tied,
    })
}
