//! Element types and their conversion to `f32`/`f64` for statistics.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    F8E4M3,
    F8E5M2,
    F8E4M3Fnuz,
    F8E5M2Fnuz,
    C64,
    C128,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 | DType::C64 => 8,
            DType::C128 => 16,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F8E4M3
            | DType::F8E5M2
            | DType::F8E4M3Fnuz
            | DType::F8E5M2Fnuz
            | DType::I8
            | DType::U8
            | DType::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F64
                | DType::F32
                | DType::F16
                | DType::BF16
                | DType::F8E4M3
                | DType::F8E5M2
                | DType::F8E4M3Fnuz
                | DType::F8E5M2Fnuz
                | DType::C64
                | DType::C128
        )
    }

    /// The safetensors spelling (`F32`, `BF16`, `F8_E4M3`, ...).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F64 => "F64",
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E5M2 => "F8_E5M2",
            DType::F8E4M3Fnuz => "F8_E4M3FNUZ",
            DType::F8E5M2Fnuz => "F8_E5M2FNUZ",
            DType::C64 => "C64",
            DType::C128 => "C128",
            DType::I64 => "I64",
            DType::I32 => "I32",
            DType::I16 => "I16",
            DType::I8 => "I8",
            DType::U64 => "U64",
            DType::U32 => "U32",
            DType::U16 => "U16",
            DType::U8 => "U8",
            DType::Bool => "BOOL",
        }
    }

    pub fn from_safetensors(name: &str) -> Option<DType> {
        ALL.iter().copied().find(|d| d.safetensors_name() == name)
    }

    /// From an ONNX `TensorProto.DataType` number (`None` for strings and 4-bit types).
    pub fn from_onnx(data_type: i32) -> Option<DType> {
        Some(match data_type {
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            4 => DType::U16,
            5 => DType::I16,
            6 => DType::I32,
            7 => DType::I64,
            9 => DType::Bool,
            10 => DType::F16,
            11 => DType::F64,
            12 => DType::U32,
            13 => DType::U64,
            14 => DType::C64,
            15 => DType::C128,
            16 => DType::BF16,
            17 => DType::F8E4M3,
            18 => DType::F8E4M3Fnuz,
            19 => DType::F8E5M2,
            20 => DType::F8E5M2Fnuz,
            _ => return None,
        })
    }

    /// From a PyTorch storage class name (`FloatStorage`, `BFloat16Storage`, ...).
    pub fn from_torch_storage(name: &str) -> Option<DType> {
        Some(match name.strip_suffix("Storage")? {
            "Double" => DType::F64,
            "Float" => DType::F32,
            "Half" => DType::F16,
            "BFloat16" => DType::BF16,
            "Float8_e4m3fn" => DType::F8E4M3,
            "Float8_e5m2" => DType::F8E5M2,
            "Float8_e4m3fnuz" => DType::F8E4M3Fnuz,
            "Float8_e5m2fnuz" => DType::F8E5M2Fnuz,
            "ComplexFloat" => DType::C64,
            "ComplexDouble" => DType::C128,
            "Long" => DType::I64,
            "Int" => DType::I32,
            "Short" => DType::I16,
            "Char" => DType::I8,
            "Byte" | "Untyped" => DType::U8,
            "Bool" => DType::Bool,
            _ => return None,
        })
    }

    /// The PyTorch storage class name.
    pub fn torch_storage(self) -> &'static str {
        match self {
            DType::F64 => "DoubleStorage",
            DType::F32 => "FloatStorage",
            DType::F16 => "HalfStorage",
            DType::BF16 => "BFloat16Storage",
            DType::F8E4M3 => "Float8_e4m3fnStorage",
            DType::F8E5M2 => "Float8_e5m2Storage",
            DType::F8E4M3Fnuz => "Float8_e4m3fnuzStorage",
            DType::F8E5M2Fnuz => "Float8_e5m2fnuzStorage",
            DType::C64 => "ComplexFloatStorage",
            DType::C128 => "ComplexDoubleStorage",
            DType::I64 => "LongStorage",
            DType::I32 => "IntStorage",
            DType::I16 => "ShortStorage",
            DType::I8 => "CharStorage",
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => "ByteStorage",
            DType::Bool => "BoolStorage",
        }
    }

    /// From a numpy `descr` such as `<f4`; returns the type and whether it is big-endian.
    pub fn from_numpy(descr: &str) -> Option<(DType, bool)> {
        let (order, code) = match descr.as_bytes().first()? {
            b'<' | b'=' | b'|' => (false, &descr[1..]),
            b'>' => (true, &descr[1..]),
            _ => (false, descr),
        };
        let d = match code {
            "f8" => DType::F64,
            "f4" => DType::F32,
            "f2" => DType::F16,
            "c8" => DType::C64,
            "c16" => DType::C128,
            "i8" => DType::I64,
            "i4" => DType::I32,
            "i2" => DType::I16,
            "i1" => DType::I8,
            "u8" => DType::U64,
            "u4" => DType::U32,
            "u2" => DType::U16,
            "u1" => DType::U8,
            "b1" | "?" => DType::Bool,
            _ => return None,
        };
        Some((d, order && d.size() > 1))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.safetensors_name())
    }
}

pub const ALL: [DType; 19] = [
    DType::F64,
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F8E4M3,
    DType::F8E5M2,
    DType::F8E4M3Fnuz,
    DType::F8E5M2Fnuz,
    DType::C64,
    DType::C128,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U64,
    DType::U32,
    DType::U16,
    DType::U8,
    DType::Bool,
];

/// IEEE half precision, through the `half` crate.
pub fn f16_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// bfloat16, through the `half` crate.
pub fn bf16_to_f32(h: u16) -> f32 {
    half::bf16::from_bits(h).to_f32()
}

/// An 8-bit float with `exp_bits` exponent bits; `fn_` variants have no infinities (the
/// all-ones pattern is NaN), `fnuz` variants use 0x80 as their only NaN.
fn fp8_to_f32(b: u8, exp_bits: u32, bias: i32, fnuz: bool, fn_: bool) -> f32 {
    let man_bits = 7 - exp_bits;
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    if fnuz && b == 0x80 {
        return f32::NAN;
    }
    let e = i32::from((b >> man_bits) & ((1 << exp_bits) - 1) as u8);
    let m = f32::from(b & ((1 << man_bits) - 1) as u8);
    let max_e = (1 << exp_bits) - 1;
    if !fnuz && !fn_ && e == max_e {
        return if m == 0.0 {
            sign * f32::INFINITY
        } else {
            f32::NAN
        };
    }
    if fn_ && e == max_e && m as u32 == (1 << man_bits) - 1 {
        return f32::NAN;
    }
    let scale = (1u32 << man_bits) as f32;
    if e == 0 {
        sign * (m / scale) * 2f32.powi(1 - bias)
    } else {
        sign * (1.0 + m / scale) * 2f32.powi(e - bias)
    }
}

/// Converts one element to `f64` (the real part for complex types). `be` swaps bytes.
pub fn element_f64(d: DType, b: &[u8]) -> f64 {
    macro_rules! le {
        ($t:ty, $n:expr) => {
            <$t>::from_le_bytes(b[..$n].try_into().expect("element size"))
        };
    }
    match d {
        DType::F64 | DType::C128 => le!(f64, 8),
        DType::F32 | DType::C64 => f64::from(le!(f32, 4)),
        DType::F16 => f64::from(f16_to_f32(le!(u16, 2))),
        DType::BF16 => f64::from(bf16_to_f32(le!(u16, 2))),
        DType::F8E4M3 => f64::from(fp8_to_f32(b[0], 4, 7, false, true)),
        DType::F8E5M2 => f64::from(fp8_to_f32(b[0], 5, 15, false, false)),
        DType::F8E4M3Fnuz => f64::from(fp8_to_f32(b[0], 4, 8, true, false)),
        DType::F8E5M2Fnuz => f64::from(fp8_to_f32(b[0], 5, 16, true, false)),
        DType::I64 => le!(i64, 8) as f64,
        DType::I32 => f64::from(le!(i32, 4)),
        DType::I16 => f64::from(le!(i16, 2)),
        DType::I8 => f64::from(b[0] as i8),
        DType::U64 => le!(u64, 8) as f64,
        DType::U32 => f64::from(le!(u32, 4)),
        DType::U16 => f64::from(le!(u16, 2)),
        DType::U8 | DType::Bool => f64::from(b[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(fp8_to_f32(0x38, 4, 7, false, true), 1.0);
        assert!(fp8_to_f32(0x7f, 4, 7, false, true).is_nan());
        assert_eq!(fp8_to_f32(0x7e, 4, 7, false, true), 448.0);
        assert_eq!(fp8_to_f32(0x3c, 5, 15, false, false), 1.0);
        assert_eq!(DType::from_numpy("<f4"), Some((DType::F32, false)));
        assert_eq!(DType::from_numpy(">i8"), Some((DType::I64, true)));
        assert_eq!(
            DType::from_torch_storage("BFloat16Storage"),
            Some(DType::BF16)
        );
    }
}
