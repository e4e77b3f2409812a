//! The `weights` check: every tensor of the model's weight files, read by the shared reader
//! (`mlsec_formats::load`, ONNX initializers through `mlsec-onnx`), never executed.
//!
//! Each tensor is summarised once ([`Summary`]: statistics, outlier count, dead and duplicated
//! rows, spectral norm), in parallel; the files are memory-mapped and tensors are read where
//! they lie. Then the rules decide: per tensor NaN/Inf, robust outliers, dead and duplicated
//! rows; across tensors each weight against its peers in the other numbered blocks
//! (`crate::rules`). The statistics also fill the `weights` table and `report.data["weights"]`.

pub mod rows;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use mlsec_core::{Report, ScanError, Table};
use mlsec_formats::dtype::DType;
use mlsec_formats::sniff::{Format, sniff};
use mlsec_formats::stats::{self, Stats};
use mlsec_formats::zip::ZipLimits;
use serde_json::json;

use crate::rules::{self, WeightsCx};
pub use rows::Rows;

/// One tensor's summary.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The file, as shown to the user.
    pub file: String,
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub stats: Stats,
    pub rows: Option<Rows>,
}

/// A file that holds weights.
struct WeightFile {
    path: PathBuf,
    shown: String,
    format: Format,
}

/// A tensor's bytes: a view into a mapped file, or ONNX data (shared, possibly external).
enum Data<'d> {
    View(Cow<'d, [u8]>),
    Shared(Bytes),
}

impl Data<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::View(c) => c,
            Data::Shared(b) => b,
        }
    }
}

struct Item<'d> {
    file: usize,
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    data: Data<'d>,
}

/// Runs the `weights` check on a file or a folder; findings, errors, the `weights` table and
/// `report.data["weights"]` go into `report`. Returns the summaries (for the HTML report).
pub fn check(model: &Path, jobs: usize, report: &mut Report) -> Vec<Summary> {
    let files = weight_files(model, report);
    let mut blobs: Vec<Option<Bytes>> = Vec::with_capacity(files.len());
    for f in &files {
        match mlsec_onnx::read_any(&f.path) {
            Ok(b) => blobs.push(Some(b)),
            Err(e) => {
                report
                    .errors
                    .push(ScanError::new(&f.shown, format!("cannot read: {e}")));
                blobs.push(None);
            }
        }
    }
    let mut items: Vec<Item<'_>> = Vec::new();
    let mut names: Vec<HashSet<String>> = vec![HashSet::new(); files.len()];
    for (i, (f, blob)) in files.iter().zip(&blobs).enumerate() {
        let Some(blob) = blob else { continue };
        report.scanned += 1;
        let before = items.len();
        if f.format == Format::Onnx {
            onnx_items(i, f, blob, &mut items, report);
        } else if f.format == Format::Zip && mlsec_runtime::pt2::is_pt2_bytes(blob) {
            pt2_items(i, f, blob, &mut items, report);
        } else {
            let loaded = mlsec_formats::load::visit(blob, ZipLimits::default(), &mut |v| {
                items.push(Item {
                    file: i,
                    name: v.name,
                    dtype: v.dtype,
                    shape: v.shape,
                    data: Data::View(v.bytes),
                })
            });
            for p in loaded.problems {
                let mut e = ScanError::new(&f.shown, p.message);
                if let Some(offset) = p.offset {
                    e = e.with_span(mlsec_core::Span::Bytes { offset, len: 0 });
                }
                report.errors.push(e);
            }
        }
        names[i].extend(items[before..].iter().map(|t| t.name.clone()));
    }
    if model.is_dir() {
        check_indexes(model, &files, &names, report);
    }
    let summaries = summarise_all(&items, &files, jobs);
    drop(items);
    findings(&summaries, report);
    report.tables.push(table(&summaries));
    report.data.insert(
        "weights".into(),
        summaries.iter().map(summary_json).collect(),
    );
    summaries
}

/// The weight files of `model`: the file itself, or the top-level files of a folder that hold
/// tensors (configs and tokenizers are passed over). In a folder with safetensors, PyTorch
/// pickles are the same weights in another format: they are skipped with a warning.
fn weight_files(model: &Path, report: &mut Report) -> Vec<WeightFile> {
    let shown = model.display().to_string();
    if !model.is_dir() {
        return match crate::runnable::head(model) {
            Ok(h) => vec![WeightFile {
                path: model.to_owned(),
                shown,
                format: sniff(&h),
            }],
            Err(e) => {
                report
                    .errors
                    .push(ScanError::new(shown, format!("cannot read: {e}")));
                Vec::new()
            }
        };
    }
    let entries = match std::fs::read_dir(model) {
        Ok(rd) => rd,
        Err(e) => {
            report
                .errors
                .push(ScanError::new(shown, format!("cannot list: {e}")));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        match crate::runnable::head(&path) {
            Ok(h) => {
                let format = sniff(&h);
                if !matches!(format, Format::Unknown) {
                    files.push(WeightFile {
                        path,
                        shown,
                        format,
                    });
                }
            }
            Err(e) => report
                .errors
                .push(ScanError::new(shown, format!("cannot read: {e}"))),
        }
    }
    if files.iter().any(|f| f.format == Format::Safetensors) {
        let (pickles, rest): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|f| matches!(f.format, Format::Zip | Format::Pickle | Format::Tar));
        for p in &pickles {
            report.warnings.push(format!(
                "{}: skipped, the folder's weights are read from its safetensors files (run `mlsec checkpoint` on pickles)",
                p.shown
            ));
        }
        files = rest;
    }
    if files.is_empty() {
        report.errors.push(ScanError::new(
            shown,
            "no weight files in this folder (safetensors, PyTorch, numpy, ONNX, ...): nothing checked",
        ));
    }
    files
}

/// The weights of a `torch.export` archive (`.pt2`), read by the runtime's reader (raw
/// tensor members, never unpickled); floating-point weights are summarised as f32.
fn pt2_items(
    i: usize,
    f: &WeightFile,
    blob: &Bytes,
    items: &mut Vec<Item<'_>>,
    report: &mut Report,
) {
    use mlsec_runtime::ir::TensorValues;
    let stored = match mlsec_runtime::pt2::stored_tensors(blob) {
        Ok(s) => s,
        Err(e) => {
            report.errors.push(ScanError::new(&f.shown, e.to_string()));
            return;
        }
    };
    for (name, t) in stored {
        let (dtype, bytes): (DType, Vec<u8>) = match &t.values {
            TensorValues::F32(v) => (DType::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorValues::I64(v) => (DType::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        items.push(Item {
            file: i,
            name,
            dtype,
            shape: t.dims.iter().map(|&d| d as u64).collect(),
            data: Data::Shared(Bytes::from(bytes)),
        });
    }
}

fn onnx_items<'d>(
    i: usize,
    f: &WeightFile,
    blob: &Bytes,
    items: &mut Vec<Item<'d>>,
    report: &mut Report,
) {
    let model = match mlsec_onnx::decode_model(blob.clone()) {
        Ok(m) => m,
        Err(e) => {
            report.errors.push(ScanError::new(&f.shown, e.to_string()));
            return;
        }
    };
    let dir = f
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    for t in model.graph.iter().flat_map(|g| &g.initializer) {
        let name = t.name.clone().unwrap_or_default();
        let Some(dtype) = t.data_type.and_then(DType::from_onnx) else {
            continue; // strings and 4-bit types carry no weights we summarise
        };
        let Some(shape) = t
            .dims
            .iter()
            .map(|&d| u64::try_from(d).ok())
            .collect::<Option<Vec<u64>>>()
        else {
            report.errors.push(ScanError::new(
                &f.shown,
                format!("initializer `{name}`: negative dimension"),
            ));
            continue;
        };
        match mlsec_onnx::tensor::tensor_bytes(t, dir) {
            Ok(bytes) => {
                let want = shape
                    .iter()
                    .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d));
                if want != Some(bytes.len() as u64) {
                    report.errors.push(ScanError::new(
                        &f.shown,
                        format!(
                            "initializer `{name}`: {} bytes of data for shape {shape:?} of {dtype}",
                            bytes.len()
                        ),
                    ));
                    continue;
                }
                items.push(Item {
                    file: i,
                    name,
                    dtype,
                    shape,
                    data: Data::Shared(bytes),
                });
            }
            Err(e) => report.errors.push(ScanError::new(
                &f.shown,
                format!("initializer `{name}`: {e}"),
            )),
        }
    }
}

/// Hugging Face shard indexes (`*.index.json`, `weight_map: {tensor: shard}`): every shard
/// must be there and hold the tensors the index says it does.
fn check_indexes(dir: &Path, files: &[WeightFile], names: &[HashSet<String>], report: &mut Report) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut indexes: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".index.json"))
        })
        .collect();
    indexes.sort();
    let by_file: HashMap<&str, &HashSet<String>> = files
        .iter()
        .zip(names)
        .filter_map(|(f, n)| Some((f.path.file_name()?.to_str()?, n)))
        .collect();
    for index in indexes {
        let shown = index.display().to_string();
        let map = match std::fs::read(&index)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
            }) {
            Ok(v) => v.get("weight_map").and_then(|m| m.as_object()).cloned(),
            Err(e) => {
                report
                    .errors
                    .push(ScanError::new(shown, format!("cannot read the index: {e}")));
                continue;
            }
        };
        let Some(map) = map else {
            report.errors.push(ScanError::new(
                shown,
                "shard index without a `weight_map` object: the shards cannot be checked",
            ));
            continue;
        };
        let mut missing_shards: BTreeMap<&str, usize> = BTreeMap::new();
        let mut missing_tensors: Vec<(&str, &str)> = Vec::new();
        for (tensor, shard) in &map {
            let Some(shard) = shard.as_str() else {
                report.errors.push(ScanError::new(
                    &shown,
                    format!("weight_map entry `{tensor}` is not a file name"),
                ));
                continue;
            };
            match by_file.get(shard) {
                None => *missing_shards.entry(shard).or_default() += 1,
                Some(held) if !held.contains(tensor.as_str()) => {
                    missing_tensors.push((tensor, shard));
                }
                Some(_) => {}
            }
        }
        for (shard, count) in missing_shards {
            let what = if dir.join(shard).is_file() {
                "cannot be read"
            } else {
                "is missing"
            };
            report.errors.push(ScanError::new(
                &shown,
                format!("shard `{shard}` (holding {count} tensors of the index) {what}: those weights were not checked"),
            ));
        }
        for (tensor, shard) in missing_tensors.iter().take(10) {
            report.errors.push(ScanError::new(
                &shown,
                format!("tensor `{tensor}` is not in shard `{shard}`, where the index puts it"),
            ));
        }
        if missing_tensors.len() > 10 {
            report.errors.push(ScanError::new(
                &shown,
                format!(
                    "{} more tensors are not in the shards the index names",
                    missing_tensors.len() - 10
                ),
            ));
        }
    }
}

/// Names whose rows are tokens, not units (zero or repeated rows are legitimate there).
fn is_embedding(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["embed", "wte", "wpe", "lm_head", "vocab"]
        .iter()
        .any(|k| n.contains(k))
}

/// Summaries of every tensor, in the order they were read; the work is spread over `jobs`
/// threads, largest tensors first.
fn summarise_all(items: &[Item<'_>], files: &[WeightFile], jobs: usize) -> Vec<Summary> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(items[i].data.bytes().len()));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            done.push((i, summarise(&items[i], files)));
        }
        done
    };
    let mut out: Vec<(usize, Summary)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..jobs.max(1).min(items.len().max(1)))
            .map(|_| s.spawn(work))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, s)| s).collect()
}

fn summarise(item: &Item<'_>, files: &[WeightFile]) -> Summary {
    let bytes = item.data.bytes();
    let rows = if is_embedding(&item.name) {
        None
    } else {
        rows::analyse(item.dtype, &item.shape, bytes)
    };
    Summary {
        file: files[item.file].shown.clone(),
        name: item.name.clone(),
        dtype: item.dtype,
        shape: item.shape.clone(),
        stats: stats::summarize(item.dtype, bytes, None),
        rows,
    }
}

/// Runs the weight rules: each tensor's own (`rules::TENSOR_CHECKS`, tensor by tensor in
/// read order), then those that compare tensors (`rules::WEIGHTS_CHECKS`).
fn findings(summaries: &[Summary], report: &mut Report) {
    for s in summaries {
        for (_, check) in rules::TENSOR_CHECKS {
            check(s, &mut report.findings);
        }
    }
    let cx = WeightsCx { summaries };
    for (_, check) in rules::WEIGHTS_CHECKS {
        check(&cx, &mut report.findings);
    }
}

/// A number for people: 4 significant digits, scientific outside [1e-3, 1e5).
pub fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.3e}")
    }
}

fn sparsity(st: &Stats) -> f64 {
    if st.count == 0 {
        0.0
    } else {
        st.zeros as f64 / st.count as f64
    }
}

fn table(summaries: &[Summary]) -> Table {
    let files: HashSet<&str> = summaries.iter().map(|s| s.file.as_str()).collect();
    let many = files.len() > 1;
    let mut columns = vec!["tensor", "dtype", "shape", "mean", "std", "min", "max"];
    columns.extend(["sparsity %", "kurtosis", "spectral norm"]);
    if many {
        columns.insert(0, "file");
    }
    let rows = summaries
        .iter()
        .map(|s| {
            let st = &s.stats;
            let mut row = vec![
                s.name.clone(),
                s.dtype.to_string(),
                format!("{:?}", s.shape),
                num(st.mean),
                num(st.std),
                num(st.min),
                num(st.max),
                format!("{:.1}", 100.0 * sparsity(st)),
                num(st.kurtosis),
                s.rows
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |r| num(r.spectral_norm)),
            ];
            if many {
                let name = Path::new(&s.file)
                    .file_name()
                    .map_or(s.file.clone(), |n| n.to_string_lossy().into_owned());
                row.insert(0, name);
            }
            row
        })
        .collect();
    Table {
        title: "weights".into(),
        columns: columns.into_iter().map(String::from).collect(),
        rows,
    }
}

/// JSON numbers: non-finite values become `null`.
fn jnum(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn summary_json(s: &Summary) -> serde_json::Value {
    let st = &s.stats;
    json!({
        "file": s.file,
        "tensor": s.name,
        "dtype": s.dtype.to_string(),
        "shape": s.shape,
        "count": st.count,
        "nan": st.nan,
        "inf": st.inf,
        "mean": jnum(st.mean),
        "std": jnum(st.std),
        "min": jnum(st.min),
        "max": jnum(st.max),
        "median": jnum(st.median),
        "robust_scale": jnum(st.robust_scale),
        "max_abs": jnum(st.max_abs),
        "outliers": st.outliers,
        "sparsity": jnum(sparsity(st)),
        "kurtosis": jnum(st.kurtosis),
        "spectral_norm": s.rows.as_ref().map(|r| jnum(r.spectral_norm)),
        "zero_rows": s.rows.as_ref().map(|r| r.zero_count),
        "duplicate_rows": s.rows.as_ref().map(|r| r.duplicate_count),
        "histogram": {
            "bins": "sign and octave of |w|: 32 negative octaves (largest first), then 32 positive, 2^-24 to 2^8",
            "counts": st.histogram,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(40.0), "40.00");
        assert_eq!(num(1.5e-7), "1.500e-7");
    }
}
