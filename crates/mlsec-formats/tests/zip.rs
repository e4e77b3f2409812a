//! The zip reader over archives written by the test kit's writer.

use mlsec_formats::zip::{ZipAnomaly, ZipArchive, ZipError, ZipLimits};
use mlsec_testkit::ZipWriter;

#[test]
fn roundtrip_and_anomalies() {
    let mut w = ZipWriter::new();
    w.add("a/data.pkl", b"\x80\x02N.", false, 64);
    w.add("a/data/0", &[7u8; 5000], true, 0);
    let zip = w.finish();
    let z = ZipArchive::parse(&zip, ZipLimits::default()).unwrap();
    assert!(z.anomalies.is_empty(), "{:?}", z.anomalies);
    assert_eq!(z.entries.len(), 2);
    assert_eq!(z.entries[0].data_offset % 64, 0);
    let m = z.read(&z.entries[1]).unwrap();
    assert!(m.crc_ok);
    assert_eq!(m.bytes.len(), 5000);

    let mut pre = b"#!/bin/sh\n".to_vec();
    pre.extend_from_slice(&zip);
    pre.extend_from_slice(b"tail");
    let z = ZipArchive::parse(&pre, ZipLimits::default()).unwrap();
    assert!(z.anomalies.contains(&ZipAnomaly::PrependedData { len: 10 }));
    assert!(matches!(
        z.anomalies[0],
        ZipAnomaly::TrailingData { len: 4, .. }
    ));
    assert_eq!(&z.read(&z.entries[0]).unwrap().bytes[..], b"\x80\x02N.");

    let strict = ZipLimits {
        max_ratio: 10,
        ..ZipLimits::default()
    };
    let z = ZipArchive::parse(&zip, strict).unwrap();
    assert!(matches!(z.read(&z.entries[1]), Err(ZipError::Bomb { .. })));
    assert!(ZipArchive::parse(&zip[..zip.len() - 3], ZipLimits::default()).is_err());
}
