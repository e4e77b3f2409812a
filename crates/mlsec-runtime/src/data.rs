//! Inputs to run a model on (labelled for `adversarial`, unlabelled probes for `inspect`): any
//! file the one traversal reads ([`mlsec_formats::load::visit`]: `.npz`, `.npy`,
//! `.safetensors`, HDF5, a torch or joblib file of arrays; sniffed by content, keys
//! configurable), or a folder of `{key}.npy` files. Every malformed file is an error naming what
//! is wrong; sizes are checked against the file before anything is allocated.

use std::collections::BTreeMap;
use std::path::Path;

use mlsec_formats::dtype::{DType, element_f64};
use mlsec_formats::sniff::{Format, sniff};
use mlsec_formats::zip::ZipLimits;
use sha2::{Digest, Sha256};

/// Why a data file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {len} bytes is more than the {max} bytes accepted")]
    TooLarge { path: String, len: u64, max: u64 },
    /// A part of the file the traversal could not read (`format`: the container).
    #[error("{message} ({format} file)")]
    Unreadable { message: String, format: String },
    #[error("no {what} under key `{key}`{hint}")]
    MissingKey {
        what: &'static str,
        key: String,
        hint: &'static str,
    },
    /// The arrays were read but do not make inputs (or labels): shape, dtype, values.
    #[error("{0}")]
    Invalid(String),
    /// One file of a folder of `.npy` files.
    #[error("{file}: {source}")]
    InFile {
        file: String,
        #[source]
        source: Box<DataError>,
    },
}

impl From<String> for DataError {
    fn from(s: String) -> DataError {
        DataError::Invalid(s)
    }
}

impl From<&str> for DataError {
    fn from(s: &str) -> DataError {
        DataError::Invalid(s.to_owned())
    }
}

/// Inputs (flattened per sample) and integer labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Shape of one sample (e.g. `[1, 8, 8]`).
    pub sample_shape: Vec<usize>,
    /// `n * prod(sample_shape)` values, row-major.
    pub x: Vec<f32>,
    pub y: Vec<i64>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Keeps the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.y.truncate(n);
            self.x.truncate(n * self.sample_len());
        }
    }

    /// SHA-256 over the sample shape, inputs and labels as used (after `--limit`).
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for d in &self.sample_shape {
            h.update((*d as u64).to_le_bytes());
        }
        h.update((self.len() as u64).to_le_bytes());
        for v in &self.x {
            h.update(v.to_le_bytes());
        }
        for v in &self.y {
            h.update(v.to_le_bytes());
        }
        mlsec_util::hex::encode(&h.finalize())
    }

    /// Smallest and largest input value.
    pub fn value_range(&self) -> (f32, f32) {
        self.x
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }
}

/// An n-dimensional array read from a file, converted to f64 for checking.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Values,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Float(Vec<f32>),
    Int(Vec<i64>),
}

/// Loads `path` (.npz, .safetensors, or a directory of .npy) with inputs under `x_key` and
/// labels under `y_key`.
pub fn load(path: &Path, x_key: &str, y_key: &str) -> Result<Dataset, DataError> {
    if is_single_npy(path) {
        return Err(
            "a single .npy holds no labels: give a .npz, a .safetensors, or a folder with x.npy and y.npy"
                .into(),
        );
    }
    let mut arrays = read_arrays(path, &[x_key, y_key])?;
    let x = arrays.remove(x_key).ok_or_else(|| DataError::MissingKey {
        what: "inputs",
        key: x_key.to_owned(),
        hint: " (use --x-key)",
    })?;
    let y = arrays.remove(y_key).ok_or_else(|| DataError::MissingKey {
        what: "labels",
        key: y_key.to_owned(),
        hint: " (use --y-key)",
    })?;
    into_dataset(x, y)
}

/// Unlabelled inputs: the shape of one sample and `n * prod(sample_shape)` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub sample_shape: Vec<usize>,
    pub x: Vec<f32>,
}

impl Inputs {
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    pub fn len(&self) -> usize {
        self.x.len().checked_div(self.sample_len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loads inputs without labels: the array `x_key` of a .npz / .safetensors, `{x_key}.npy` in a
/// folder, or a single `.npy` file (the whole file is the inputs). Shape `[samples, ...]`.
pub fn load_inputs(path: &Path, x_key: &str) -> Result<Inputs, DataError> {
    let x = if is_single_npy(path) {
        let bytes = read_bounded(path)?;
        parse_npy(&bytes)?
    } else {
        read_arrays(path, &[x_key])?
            .remove(x_key)
            .ok_or_else(|| DataError::MissingKey {
                what: "inputs",
                key: x_key.to_owned(),
                hint: "",
            })?
    };
    if x.shape.is_empty() {
        return Err("inputs are a scalar, expected [samples, ...]".into());
    }
    let x_values = match x.values {
        Values::Float(v) => v,
        Values::Int(v) => v.iter().map(|&i| i as f32).collect(),
    };
    if x_values.iter().any(|v| !v.is_finite()) {
        return Err("inputs contain NaN or infinite values".into());
    }
    Ok(Inputs {
        sample_shape: x.shape[1..].to_vec(),
        x: x_values,
    })
}

/// Whether `path` is one `.npy` file (by content): the whole file is one array.
fn is_single_npy(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    !path.is_dir()
        && std::fs::File::open(path)
            .and_then(|f| f.take(16).read_to_end(&mut head))
            .is_ok()
        && sniff(&head) == Format::Npy
}

/// Reads the arrays `keys` from a folder of `{key}.npy` files, or from any file the traversal
/// reads.
fn read_arrays(path: &Path, keys: &[&str]) -> Result<BTreeMap<String, Array>, DataError> {
    if path.is_dir() {
        let mut arrays = BTreeMap::new();
        for key in keys {
            let file = path.join(format!("{key}.npy"));
            let bytes = read_bounded(&file)?;
            let array = parse_npy(&bytes).map_err(|e| DataError::InFile {
                file: file.display().to_string(),
                source: Box::new(e),
            })?;
            arrays.insert((*key).to_owned(), array);
        }
        return Ok(arrays);
    }
    arrays(&read_bounded(path)?, keys)
}

fn into_dataset(x: Array, y: Array) -> Result<Dataset, DataError> {
    let n = *x
        .shape
        .first()
        .ok_or("inputs are a scalar, expected [samples, ...]")?;
    let labels: Vec<i64> = match y.values {
        Values::Int(v) => v,
        Values::Float(v) => v
            .iter()
            .map(|&f| {
                if f.fract() == 0.0 && f.is_finite() {
                    Ok(f as i64)
                } else {
                    Err(format!("label {f} is not an integer class index"))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let label_rank_ok = y.shape.len() == 1 || (y.shape.len() == 2 && y.shape[1] == 1);
    if !label_rank_ok {
        return Err(DataError::Invalid(format!(
            "labels have shape {:?}; expected [samples] integer class indices",
            y.shape
        )));
    }
    if labels.len() != n {
        return Err(DataError::Invalid(format!(
            "{n} inputs but {} labels",
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l < 0) {
        return Err(DataError::Invalid(format!("negative label {bad}")));
    }
    let sample_shape = x.shape[1..].to_vec();
    let x = match x.values {
        Values::Float(v) => v,
        Values::Int(v) => v.iter().map(|&i| i as f32).collect(),
    };
    if x.iter().any(|v| !v.is_finite()) {
        return Err("inputs contain NaN or infinite values".into());
    }
    Ok(Dataset {
        sample_shape,
        x,
        y: labels,
    })
}

/// Data files larger than this are refused (the attacks hold everything in memory).
pub const MAX_DATA_BYTES: u64 = 8 << 30;

fn read_bounded(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_DATA_BYTES {
        return Err(DataError::TooLarge {
            path: path.display().to_string(),
            len: meta.len(),
            max: MAX_DATA_BYTES,
        });
    }
    std::fs::read(path).map_err(io)
}

/// The arrays named `keys` of a file's bytes (a `.npz` member `x.npy` is `x`), through the one
/// traversal: sniffed by content, zip members under the bomb limits and CRC-checked, big-endian
/// and Fortran-order arrays converted. A file that could not be read fully (a corrupt member,
/// truncation) and an array that cannot be decoded are errors naming what is wrong; a missing
/// key is for the caller to report.
pub fn arrays(bytes: &[u8], keys: &[&str]) -> Result<BTreeMap<String, Array>, DataError> {
    let limits = ZipLimits {
        max_member_size: MAX_DATA_BYTES,
        ..ZipLimits::default()
    };
    let mut out = BTreeMap::new();
    let mut bad = None;
    let loaded = mlsec_formats::load::visit(bytes, limits, &mut |v| {
        if !keys.contains(&v.name.as_str()) || out.contains_key(&v.name) || bad.is_some() {
            return;
        }
        match decode(v.dtype, &v.bytes, &v.shape) {
            Ok(a) => {
                out.insert(v.name, a);
            }
            Err(e) => bad = Some(format!("`{}`: {e}", v.name)),
        }
    });
    if let Some(e) = bad {
        return Err(DataError::Invalid(e));
    }
    // A part that could not be read (a corrupt member, a truncated file) may be the data.
    if let Some(p) = loaded.unreadable().next() {
        return Err(DataError::Unreadable {
            message: p.message.clone(),
            format: loaded.format.clone(),
        });
    }
    if let Some(p) = loaded
        .problems
        .first()
        .filter(|_| keys.iter().any(|k| !out.contains_key(*k)))
    {
        return Err(DataError::Unreadable {
            message: p.message.clone(),
            format: loaded.format.clone(),
        });
    }
    Ok(out)
}

/// Reads a `.npy` file's array.
pub fn parse_npy(b: &[u8]) -> Result<Array, DataError> {
    if sniff(b) != Format::Npy {
        return Err("not an .npy file".into());
    }
    let mut found = None;
    let loaded = mlsec_formats::load::visit(b, ZipLimits::default(), &mut |v| {
        found = Some(decode(v.dtype, &v.bytes, &v.shape));
    });
    match (found, loaded.problems.first()) {
        (Some(a), _) => a,
        (None, Some(p)) => Err(DataError::Unreadable {
            message: p.message.clone(),
            format: loaded.format.clone(),
        }),
        (None, None) => Err("the .npy file holds no array".into()),
    }
}

/// Converts raw little-endian elements to inputs (floats) or labels (integers).
fn decode(dtype: DType, data: &[u8], shape: &[u64]) -> Result<Array, DataError> {
    if matches!(dtype, DType::C64 | DType::C128) {
        return Err(DataError::Invalid(format!(
            "complex dtype {dtype:?} is not supported"
        )));
    }
    let count = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let width = dtype.size() as u64;
    let need = count.checked_mul(width).ok_or("shape overflows")?;
    if (data.len() as u64) < need {
        return Err(DataError::Invalid(format!(
            "data has {} bytes, shape {shape:?} of {dtype:?} needs {need}",
            data.len()
        )));
    }
    let elements = data[..need as usize].chunks_exact(width as usize);
    let values = if dtype.is_float() {
        Values::Float(elements.map(|e| element_f64(dtype, e) as f32).collect())
    } else {
        Values::Int(elements.map(|e| element_f64(dtype, e) as i64).collect())
    };
    let shape = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| "dimension too large".to_owned()))
        .collect::<Result<_, _>>()?;
    Ok(Array { shape, values })
}
