//! Writers for fixtures, tests and benchmarks: pickle opcodes and the byte layout `torch.save`
//! produces (protocol-2 `data.pkl` with `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2` and `('storage', torch.FloatStorage, key, 'cpu', n)`
//! persistent ids, in a 64-byte-aligned stored zip under one prefix).

use mlsec_formats::dtype::DType;

/// Emits pickle opcodes.
#[derive(Debug, Default, Clone)]
pub struct PickleWriter {
    pub buf: Vec<u8>,
    memo: u32,
}

impl PickleWriter {
    pub fn new() -> PickleWriter {
        PickleWriter::default()
    }
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    pub fn proto(&mut self, p: u8) -> &mut Self {
        self.raw(&[0x80, p])
    }
    /// GLOBAL `module\nname\n`.
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.raw(b"c")
            .raw(module.as_bytes())
            .raw(b"\n")
            .raw(name.as_bytes())
            .raw(b"\n")
    }
    /// BINUNICODE.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.raw(b"X")
            .raw(&(s.len() as u32).to_le_bytes())
            .raw(s.as_bytes())
    }
    /// SHORT_BINUNICODE (protocol 4).
    pub fn short_str(&mut self, s: &str) -> &mut Self {
        self.raw(&[0x8c, s.len() as u8]).raw(s.as_bytes())
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.raw(b"B").raw(&(b.len() as u32).to_le_bytes()).raw(b)
    }
    pub fn int(&mut self, i: i64) -> &mut Self {
        match i {
            0..=0xff => self.raw(&[b'K', i as u8]),
            0x100..=0xffff => self.raw(b"M").raw(&(i as u16).to_le_bytes()),
            _ if i32::try_from(i).is_ok() => self.raw(b"J").raw(&(i as i32).to_le_bytes()),
            _ => self.raw(&[0x8a, 8]).raw(&i.to_le_bytes()),
        }
    }
    pub fn float(&mut self, f: f64) -> &mut Self {
        self.raw(b"G").raw(&f.to_be_bytes())
    }
    /// BINPUT/LONG_BINPUT with the next memo index.
    pub fn put(&mut self) -> &mut Self {
        let i = self.memo;
        self.memo += 1;
        if i < 256 {
            self.raw(&[b'q', i as u8])
        } else {
            self.raw(b"r").raw(&i.to_le_bytes())
        }
    }
    pub fn get(&mut self, i: u32) -> &mut Self {
        if i < 256 {
            self.raw(&[b'h', i as u8])
        } else {
            self.raw(b"j").raw(&i.to_le_bytes())
        }
    }
    pub fn memo_len(&self) -> u32 {
        self.memo
    }
    pub fn mark(&mut self) -> &mut Self {
        self.raw(b"(")
    }
    pub fn tuple(&mut self) -> &mut Self {
        self.raw(b"t")
    }
    pub fn empty_tuple(&mut self) -> &mut Self {
        self.raw(b")")
    }
    pub fn tuple2(&mut self) -> &mut Self {
        self.raw(&[0x86])
    }
    pub fn reduce(&mut self) -> &mut Self {
        self.raw(b"R")
    }
    pub fn build(&mut self) -> &mut Self {
        self.raw(b"b")
    }
    pub fn empty_dict(&mut self) -> &mut Self {
        self.raw(b"}")
    }
    pub fn setitem(&mut self) -> &mut Self {
        self.raw(b"s")
    }
    pub fn setitems(&mut self) -> &mut Self {
        self.raw(b"u")
    }
    pub fn persid(&mut self) -> &mut Self {
        self.raw(b"Q")
    }
    pub fn newfalse(&mut self) -> &mut Self {
        self.raw(&[0x89])
    }
    pub fn none(&mut self) -> &mut Self {
        self.raw(b"N")
    }
    pub fn stop(&mut self) -> &mut Self {
        self.raw(b".")
    }
    pub fn finish(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

/// One tensor of a state dict: name, dtype, shape, storage key, storage offset, storage numel.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub storage_key: String,
    pub storage_offset: u64,
    pub storage_numel: u64,
}

/// The protocol-2 pickle `torch.save(model.state_dict())` writes, memo and all.
pub fn torch_state_dict_pickle(tensors: &[TensorSpec]) -> Vec<u8> {
    torch_state_dict_pickle_with(tensors, &|_| {})
}

/// [`torch_state_dict_pickle`] with `extra` emitting more key/value pairs into the state
/// dict's items (for fixtures that plant something).
pub fn torch_state_dict_pickle_with(
    tensors: &[TensorSpec],
    extra: &dyn Fn(&mut PickleWriter),
) -> Vec<u8> {
    let mut p = PickleWriter::new();
    p.proto(2).global("collections", "OrderedDict").put();
    let od = 0;
    p.empty_tuple().reduce().put().mark();
    let mut rebuild: Option<u32> = None;
    let mut storage_types: Vec<(DType, u32)> = Vec::new();
    let mut storage_str: Option<u32> = None;
    let mut cpu: Option<u32> = None;
    let mut keys: Vec<(String, u32)> = Vec::new();
    for t in tensors {
        p.str(&t.name).put();
        match rebuild {
            Some(i) => p.get(i),
            None => {
                p.global("torch._utils", "_rebuild_tensor_v2").put();
                rebuild = Some(p.memo_len() - 1);
                &mut p
            }
        };
        p.mark();
        if let Some(&(_, k)) = keys.iter().find(|(k, _)| k == &t.storage_key) {
            // A storage already saved: torch memoizes its persistent id result.
            p.get(k);
        } else {
            p.mark();
            match storage_str {
                Some(i) => p.get(i),
                None => {
                    p.str("storage").put();
                    storage_str = Some(p.memo_len() - 1);
                    &mut p
                }
            };
            match storage_types.iter().find(|(d, _)| *d == t.dtype) {
                Some(&(_, i)) => p.get(i),
                None => {
                    p.global("torch", t.dtype.torch_storage()).put();
                    storage_types.push((t.dtype, p.memo_len() - 1));
                    &mut p
                }
            };
            p.str(&t.storage_key).put();
            match cpu {
                Some(i) => p.get(i),
                None => {
                    p.str("cpu").put();
                    cpu = Some(p.memo_len() - 1);
                    &mut p
                }
            };
            p.int(t.storage_numel as i64).tuple().put().persid().put();
            keys.push((t.storage_key.clone(), p.memo_len() - 1));
        }
        p.int(t.storage_offset as i64);
        let mut stride = vec![1u64; t.shape.len()];
        for i in (0..t.shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * t.shape[i + 1];
        }
        p.mark();
        for &d in &t.shape {
            p.int(d as i64);
        }
        p.tuple().put().mark();
        for &s in &stride {
            p.int(s as i64);
        }
        p.tuple()
            .put()
            .newfalse()
            .get(od)
            .empty_tuple()
            .reduce()
            .put()
            .tuple()
            .put()
            .reduce()
            .put();
    }
    extra(&mut p);
    p.setitems();
    // state_dict's `_metadata` attribute, restored by BUILD.
    p.empty_dict()
        .put()
        .str("_metadata")
        .put()
        .get(od)
        .empty_tuple()
        .reduce()
        .put();
    p.mark()
        .str("")
        .put()
        .empty_dict()
        .put()
        .str("version")
        .put()
        .int(1)
        .setitem()
        .setitems();
    p.setitem().build().stop();
    p.finish()
}

/// A `torch.save` zip: `<prefix>/data.pkl`, `byteorder`, `data/<key>`, `version`,
/// `.data/serialization_id`, stored and 64-byte aligned.
pub fn torch_zip(prefix: &str, pickle: &[u8], storages: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut z = ZipWriter::new();
    z.add(&format!("{prefix}/data.pkl"), pickle, false, 64);
    z.add(&format!("{prefix}/.format_version"), b"1", false, 64);
    z.add(&format!("{prefix}/.storage_alignment"), b"64", false, 64);
    z.add(&format!("{prefix}/byteorder"), b"little", false, 64);
    for (key, bytes) in storages {
        z.add(&format!("{prefix}/data/{key}"), bytes, false, 64);
    }
    z.add(&format!("{prefix}/version"), b"3\n", false, 64);
    z.add(
        &format!("{prefix}/.data/serialization_id"),
        b"0123456789012345678901234567890123456789",
        false,
        64,
    );
    z.finish()
}

/// Little-endian bytes of `f32` values.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A minimal zip writer (stored and deflated members), used by fixture generators and tests.
#[derive(Default)]
pub struct ZipWriter {
    pub out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

impl ZipWriter {
    pub fn new() -> ZipWriter {
        ZipWriter::default()
    }

    /// Adds a member; `deflate` compresses it. `align` pads data to that many bytes like
    /// PyTorch's writer (0 for none).
    pub fn add(&mut self, name: &str, data: &[u8], deflate: bool, align: usize) {
        let crc = crc32fast::hash(data);
        let body = if deflate {
            miniz_oxide::deflate::compress_to_vec(data, 6)
        } else {
            data.to_vec()
        };
        let offset = self.out.len() as u32;
        let mut extra = Vec::new();
        if align > 0 {
            let unpadded = self.out.len() + 30 + name.len() + 4;
            let pad = (align - unpadded % align) % align;
            extra.extend_from_slice(&0x4246u16.to_le_bytes()); // "FB", as PyTorch writes
            extra.extend_from_slice(&(pad as u16).to_le_bytes());
            extra.extend(std::iter::repeat_n(b'Z', pad));
        }
        let method: u16 = if deflate { 8 } else { 0 };
        let header = |sig: &[u8], central: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(sig);
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes()); // time/date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(body.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h
        };
        let mut local = header(b"PK\x03\x04", false);
        local.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        local.extend_from_slice(&extra);
        self.out.extend_from_slice(&local);
        self.out.extend_from_slice(&body);
        let mut central = header(b"PK\x01\x02", true);
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        self.central.extend_from_slice(&central);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        let cd_offset = self.out.len() as u32;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(b"PK\x05\x06");
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out
            .extend_from_slice(&(self.central.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&cd_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out
    }
}

/// A version-1 `.npy` file: the header dict as given (`{'descr': '<f4', 'fortran_order': False,
/// 'shape': (2, 3), }`), padded to 64 bytes as numpy pads it, then `data`.
pub fn npy(header_dict: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header_dict.to_owned();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(h.len()).unwrap().to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}
