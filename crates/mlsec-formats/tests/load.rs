//! `load::visit`: every tensor of a file through the one traversal.

use mlsec_formats::load::visit;
use mlsec_formats::zip::ZipLimits;
use mlsec_testkit::npy;

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// A Fortran-order array is handed over in C order, as numpy indexes it
/// (`np.asfortranarray(np.arange(6).reshape(2, 3))` stores 0 3 1 4 2 5).
#[test]
fn fortran_order_arrays_are_read_in_c_order() {
    let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
    let file = npy(header, &f32s(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
    let mut got = Vec::new();
    let l = visit(&file, ZipLimits::default(), &mut |v| {
        got.push((v.shape.clone(), values(&v.bytes)))
    });
    assert!(l.problems.is_empty(), "{:?}", l.problems);
    assert_eq!(got, [(vec![2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])]);
    // A C-order file is handed over as it is.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    let file = npy(header, &f32s(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]));
    let mut got = Vec::new();
    visit(&file, ZipLimits::default(), &mut |v| {
        got.push(values(&v.bytes))
    });
    assert_eq!(got, [vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]]);
}

/// A zip member whose bytes do not match its CRC-32 is a problem: its tensors are corrupt.
#[test]
fn crc_mismatch_is_a_problem() {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    let mut z = mlsec_testkit::ZipWriter::new();
    z.add("x.npy", &npy(header, &f32s(&[1.0, 2.0])), false, 0);
    let mut zip = z.finish();
    let cd = zip
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    zip[cd + 16] ^= 0xff;
    let l = visit(&zip, ZipLimits::default(), &mut |_| {});
    assert!(
        l.problems.iter().any(|p| p.message.contains("CRC-32")),
        "{:?}",
        l.problems
    );
}
