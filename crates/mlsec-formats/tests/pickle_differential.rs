//! Differential test of the pickle machine against CPython's real unpicklers.
//!
//! Odd pickles (frames that end inside an operand or a text line, frames inside frames, frames
//! longer than the data) are generated here; a Python subprocess loads each one with
//! `pickle.loads(bytes)`, `pickle.load(io.BytesIO(..))` (the C unpickler on a stream, as
//! `torch.load` reads `data.pkl`) and the pure-Python `pickle._Unpickler` (joblib), where the only
//! callable the pickles import is `builtins.print` printing a marker. What each loader printed
//! must be exactly what the machine, in the matching [`ReadMode`], records as calls of
//! `builtins.print`; and every marker any loader printed must be among the calls of the union of
//! readings a scan audits (`Machine::other_readings`).
//!
//! Needs `python3` (only its standard library); skipped with a message when it is missing.

use std::collections::BTreeMap;
use std::process::Command;

use mlsec_pickle::{Event, Limits, Machine, Node, ReadMode};

const LOADERS: &str = r#"
import contextlib, io, json, pickle, sys
out = []
for path in sys.argv[1:]:
    data = open(path, 'rb').read()
    res = {}
    for mode, load in (
        ('bytes', lambda d: pickle.loads(d)),
        ('stream', lambda d: pickle.load(io.BytesIO(d))),
        ('python', lambda d: pickle._Unpickler(io.BytesIO(d)).load()),
    ):
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                load(data)
        except BaseException:
            pass
        res[mode] = buf.getvalue().split()
    out.append(res)
json.dump(out, sys.stdout)
"#;

/// `builtins.print('<marker>')` and POP, in protocol-0 GLOBAL form (a text line that can
/// straddle a frame end) and protocol-4 binary operands.
fn unit(marker: &str) -> Vec<u8> {
    let mut u = b"cbuiltins\nprint\n".to_vec();
    u.push(0x8c);
    u.push(marker.len() as u8);
    u.extend_from_slice(marker.as_bytes());
    u.extend_from_slice(&[0x85, b'R', b'0']);
    u
}

fn frame(len: u64) -> Vec<u8> {
    let mut f = vec![0x95];
    f.extend_from_slice(&len.to_le_bytes());
    f
}

fn cases() -> Vec<Vec<u8>> {
    let mut body = Vec::new();
    let mut bounds = vec![0];
    for i in 0..5 {
        body.extend(unit(&format!("M{i}")));
        bounds.push(body.len());
    }
    body.extend_from_slice(b"N.");
    let mut out = Vec::new();
    // One frame of every length: conforming, ending inside every operand and line, too long.
    for len in 1..=body.len() as u64 + 4 {
        let mut p = vec![0x80, 4];
        p.extend(frame(len));
        p.extend_from_slice(&body);
        out.push(p);
    }
    // A frame opened inside another, at every unit boundary, with several lengths.
    for &at in &bounds[1..bounds.len() - 1] {
        for outer in [
            at as u64 + 3,
            at as u64 + 9,
            at as u64 + 30,
            body.len() as u64 + 9,
        ] {
            for inner in [4u64, 20, 40, 300] {
                let mut p = vec![0x80, 4];
                p.extend(frame(outer));
                p.extend_from_slice(&body[..at]);
                p.extend(frame(inner));
                p.extend_from_slice(&body[at..]);
                out.push(p);
            }
        }
    }
    out
}

/// The markers the machine's calls of `builtins.print` print, up to the first import of
/// anything else: a misread operand (`uiltins.print`) names a module that does not exist, and
/// the real loader stops there with an ImportError the machine does not model.
fn markers(m: &Machine<'_>) -> Vec<String> {
    m.events
        .iter()
        .take_while(|e| match e {
            Event::Import { index } => m.imports[*index].dotted() == "builtins.print",
            _ => true,
        })
        .filter_map(|e| match e {
            Event::Call { node } => match &*m.node(*node) {
                Node::Obj(o) if m.global_name(o.callee).as_deref() == Some("builtins.print") => m
                    .seq_of(o.args)
                    .and_then(|a| a.first())
                    .and_then(|&a| m.str_of(a))
                    .map(str::to_owned),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[allow(clippy::print_stderr, reason = "a skipped test must say why")]
fn run_python(paths: &[std::path::PathBuf]) -> Option<Vec<BTreeMap<String, Vec<String>>>> {
    let dir = paths.first()?.parent()?;
    let out = Command::new("python3")
        .arg("-I")
        .arg("-c")
        .arg(LOADERS)
        .args(paths)
        .current_dir(dir)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIPPED: pickle differential test needs python3: {e}");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "python loaders failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("python prints JSON"))
}

#[test]
fn machine_matches_cpython_loaders_on_odd_frames() {
    let cases = cases();
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = dir.path().join(format!("case{i:04}.pkl"));
            std::fs::write(&p, c).unwrap();
            p
        })
        .collect();
    let Some(expected) = run_python(&paths) else {
        return;
    };
    let mut differing = 0;
    for (i, (data, want)) in cases.iter().zip(&expected).enumerate() {
        for (mode, key) in [
            (ReadMode::Bytes, "bytes"),
            (ReadMode::Stream, "stream"),
            (ReadMode::Python, "python"),
        ] {
            let mut m = Machine::with_mode(data, 0, Limits::default(), mode)
                .with_inline(mlsec_formats::joblib::inline_rule);
            m.run_stream(0);
            assert_eq!(
                markers(&m),
                want[key],
                "case {i} ({:02x?}) read as {key}",
                data
            );
        }
        // The union a scan audits covers every loader.
        let mut first = mlsec_formats::joblib::machine(data, 0);
        first.run_all();
        let mut seen = markers(&first);
        for other in first.other_readings() {
            seen.extend(markers(&other));
        }
        for got in want.values().flatten() {
            assert!(seen.contains(got), "case {i}: {got} missed by the union");
        }
        let all_same = want["bytes"] == want["stream"] && want["bytes"] == want["python"];
        if !all_same {
            differing += 1;
            assert!(
                first.has_frame_anomaly(),
                "case {i}: loaders differ but no frame anomaly was recorded"
            );
        }
    }
    // The generator must actually produce differentials, or the test proves nothing.
    assert!(
        differing > 20,
        "only {differing} cases made the loaders differ"
    );
}
