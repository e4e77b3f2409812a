//! `--convert-safetensors`: tensors only, written beside the checkpoint and read back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlsec_formats::dtype::DType;
use mlsec_formats::safetensors;

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
/// Why a file was not converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{} exists; pass --overwrite to replace it", .0.display())]
    Exists(PathBuf),
    #[error("cannot convert a file that could not be fully read ({0})")]
    Unreadable(String),
    #[error("no tensors to convert")]
    NoTensors,
    #[error("tensor name `{0}` occurs twice")]
    DuplicateName(String),
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read back {}: {source}", .path.display())]
    ReadBack {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("read-back verification failed: {0}")]
    Verify(#[from] VerifyError),
    #[error("cannot move into {}: {source}", .path.display())]
    Move {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How the written file differs from what was meant to be written.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Parse(#[from] safetensors::StError),
    #[error("written file does not validate")]
    Invalid,
    #[error("`{0}` missing after write")]
    Missing(String),
    #[error("`{0}` differs after write")]
    Differs(String),
}

pub fn convert(
    path: &Path,
    data: &[u8],
    file: &str,
    overwrite: bool,
) -> Result<Converted, ConvertError> {
    let output = output_path(path);
    if output.exists() && !overwrite {
        return Err(ConvertError::Exists(output));
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
        return Err(ConvertError::Unreadable(result.errors[0].message.clone()));
    }
    if tensors.is_empty() {
        return Err(ConvertError::NoTensors);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = tensors.iter().find(|t| !seen.insert(t.0.clone())) {
        return Err(ConvertError::DuplicateName(dup.0.clone()));
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
    std::fs::write(&tmp, &bytes).map_err(|source| ConvertError::Write {
        path: tmp.clone(),
        source,
    })?;
    // Read back what was written and compare every tensor bit for bit.
    let back = std::fs::read(&tmp).map_err(|source| ConvertError::ReadBack {
        path: tmp.clone(),
        source,
    })?;
    let verify = || -> Result<(), VerifyError> {
        let st = safetensors::parse(&back)?;
        if !st.anomalies.is_empty() || st.tensors.len() != tensors.len() {
            return Err(VerifyError::Invalid);
        }
        for (name, dtype, shape, data, _) in &tensors {
            let t = st
                .tensors
                .iter()
                .find(|t| &t.name == name)
                .ok_or_else(|| VerifyError::Missing(name.clone()))?;
            let s = (st.data_start + t.begin) as usize;
            let e = (st.data_start + t.end) as usize;
            if t.dtype != *dtype || &t.shape != shape || &back[s..e] != data.as_slice() {
                return Err(VerifyError::Differs(name.clone()));
            }
        }
        Ok(())
    };
    if let Err(e) = verify() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    std::fs::rename(&tmp, &output).map_err(|source| ConvertError::Move {
        path: output.clone(),
        source,
    })?;
    Ok(Converted {
        output,
        tensors: tensors.len(),
        tied,
    })
}
