//! The data readers: the same example in every format loads to the same dataset, and malformed
//! files are errors, never panics.

use std::path::{Path, PathBuf};

use mlsec_adversarial::data::{self, Dataset};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/adversarial/digits_test.npz")
}

fn reference() -> Dataset {
    data::load(&example(), "x", "y").unwrap()
}

fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A zip with deflated members (what `np.savez_compressed` writes).
fn deflated_zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
        let crc = crc32fast::hash(data);
        let offset = out.len() as u32;
        let mut local = vec![0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0];
        local.extend(crc.to_le_bytes());
        local.extend((packed.len() as u32).to_le_bytes());
        local.extend((data.len() as u32).to_le_bytes());
        local.extend((name.len() as u16).to_le_bytes());
        local.extend(0u16.to_le_bytes());
        local.extend(name.as_bytes());
        out.extend(local);
        out.extend(&packed);
        let mut c = vec![0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0];
        c.extend(crc.to_le_bytes());
        c.extend((packed.len() as u32).to_le_bytes());
        c.extend((data.len() as u32).to_le_bytes());
        c.extend((name.len() as u16).to_le_bytes());
        c.extend([0u8; 12]);
        c.extend(offset.to_le_bytes());
        c.extend(name.as_bytes());
        central.extend(c);
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend([0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[test]
fn every_format_loads_the_same_dataset() {
    let d = reference();
    assert_eq!(d.len(), 360);
    assert_eq!(d.sample_shape, vec![1, 8, 8]);
    let dir = tempfile::tempdir().unwrap();
    let mut shape = vec![d.len()];
    shape.extend(&d.sample_shape);
    let x_npy = npy("<f4", &shape, &f32_bytes(&d.x));
    let y_npy = npy("<i8", &[d.len()], &i64_bytes(&d.y));

    // A folder of .npy files, with custom keys.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("images.npy"), &x_npy).unwrap();
    std::fs::write(folder.join("labels.npy"), &y_npy).unwrap();
    assert_eq!(data::load(&folder, "images", "labels").unwrap(), d);

    // A deflated npz.
    let npz = dir.path().join("c.npz");
    std::fs::write(
        &npz,
        deflated_zip(&[("x.npy", x_npy.clone()), ("y.npy", y_npy.clone())]),
    )
    .unwrap();
    assert_eq!(data::load(&npz, "x", "y").unwrap(), d);

    // safetensors.
    let xb = f32_bytes(&d.x);
    let yb = i64_bytes(&d.y);
    let header = serde_json::json!({
        "x": {"dtype": "F32", "shape": shape, "data_offsets": [0, xb.len()]},
        "y": {"dtype": "I64", "shape": [d.len()], "data_offsets": [xb.len(), xb.len() + yb.len()]},
    })
    .to_string();
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend(header.as_bytes());
    st.extend(&xb);
    st.extend(&yb);
    let path = dir.path().join("d.safetensors");
    std::fs::write(&path, st).unwrap();
    assert_eq!(data::load(&path, "x", "y").unwrap(), d);

    // Digest follows the data, including --limit.
    let mut short = d.clone();
    short.truncate(100);
    assert_ne!(short.digest(), d.digest());
    assert_eq!(short.len(), 100);
}

#[test]
fn malformed_files_are_errors() {
    let d = reference();
    let x = npy("<f4", &[2, 2], &f32_bytes(&[0.0, 1.0, 0.5, 0.25]));
    let y = npy("<i8", &[2], &i64_bytes(&[0, 1]));
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.npz", vec![], "unrecognised file format"),
        (
            // An end record whose central directory lies past the end of the file.
            "bad.npz",
            vec![
                0x50, 0x4b, 5, 6, 0, 0, 0, 0, 1, 0, 1, 0, 46, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0,
            ],
            "corrupt zip",
        ),
        (
            "crc.npz",
            {
                let mut z = deflated_zip(&[("x.npy", x.clone()), ("y.npy", y.clone())]);
                // Corrupt the stored CRC of the first member in the central directory.
                let cd = z
                    .windows(4)
                    .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
                    .unwrap();
                z[cd + 16] ^= 0xff;
                z
            },
            "CRC",
        ),
        (
            "labels.npz",
            deflated_zip(&[
                ("x.npy", x.clone()),
                ("y.npy", npy("<i8", &[3], &i64_bytes(&[0, 1, 2]))),
            ]),
            "2 inputs but 3 labels",
        ),
        (
            "nan.npz",
            deflated_zip(&[
                ("x.npy", npy("<f4", &[2, 1], &f32_bytes(&[f32::NAN, 0.0]))),
                ("y.npy", y.clone()),
            ]),
            "NaN",
        ),
        (
            "short.npz",
            deflated_zip(&[
                ("x.npy", npy("<f4", &[4, 4], &f32_bytes(&[0.0; 3]))),
                ("y.npy", y.clone()),
            ]),
            "need 64",
        ),
        (
            "huge.safetensors",
            [&u64::MAX.to_le_bytes()[..], b"{\"x\""].concat(),
            "exceeds the 100000000-byte limit",
        ),
        ("x.npy", x.clone(), "no labels"),
        ("data.csv", b"1,2".to_vec(), "unrecognised file format"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = data::load(&path, "x", "y").unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
    }
    // Big-endian arrays are read as numpy reads them.
    let be: Vec<u8> = [0.0f32, 1.0, 0.5, 0.25]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let path = dir.path().join("big.npz");
    std::fs::write(
        &path,
        deflated_zip(&[("x.npy", npy(">f4", &[2, 2], &be)), ("y.npy", y.clone())]),
    )
    .unwrap();
    assert_eq!(
        data::load(&path, "x", "y").unwrap().x,
        [0.0, 1.0, 0.5, 0.25]
    );
    assert!(!d.is_empty());
    assert!(
        data::load(Path::new("/nonexistent/x.npz"), "x", "y")
            .unwrap_err()
            .to_string()
            .contains("cannot read")
    );
}
