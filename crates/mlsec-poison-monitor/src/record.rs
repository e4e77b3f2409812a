//! Worker records: the v1 JSON record and the original tool's 7-field record.
//!
//! Parsing is lenient where Python is (the bare `NaN`, `Infinity`, `-Infinity` tokens that
//! `json.dumps` emits are values, and a non-finite value is a signal, not an error) and strict
//! where it matters (missing required fields, wrong types, out-of-range values make the record
//! invalid).

use serde::Deserialize;

/// The longest record line or datagram we parse; longer ones are invalid.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;
/// Bounds on the length of a record's `sketch`.
pub const MIN_SKETCH: usize = 8;
pub const MAX_SKETCH: usize = 1024;
/// Ranks above this are invalid (no job has a million workers; this bounds memory).
pub const MAX_RANK: u64 = 65_535;

/// A per-rank statistic the detector charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stat {
    Loss,
    GradNorm,
    CosMean,
    CosLoo,
    SignAgree,
    /// Optional v1 field: ‖g‖₁ / (√numel ‖g‖₂), the shape of the rank's gradient.
    L1Ratio,
    /// Optional v1 field: cosine to the running mean of the all-reduced gradients.
    CosRef,
    /// Not a field: the detector's cosine of the rank's `sketch` to the running mean sketch in
    /// the metric of the ranks' gradient noise ([`crate::whiten`]).
    CosRefWhite,
    /// 7-field record: L∞ norm of the rank's gradient.
    Linf,
    /// 7-field record: standard deviation of the rank's gradient entries.
    Std,
    /// 7-field record: mean of the rank's gradient entries.
    Mean,
}

pub const N_STATS: usize = 11;

impl Stat {
    pub const ALL: [Stat; N_STATS] = [
        Stat::Loss,
        Stat::GradNorm,
        Stat::CosMean,
        Stat::CosLoo,
        Stat::SignAgree,
        Stat::L1Ratio,
        Stat::CosRef,
        Stat::CosRefWhite,
        Stat::Linf,
        Stat::Std,
        Stat::Mean,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The field name in the record.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Loss => "loss",
            Stat::GradNorm => "grad_norm",
            Stat::CosMean => "cos_mean",
            Stat::CosLoo => "cos_loo",
            Stat::SignAgree => "sign_agree",
            Stat::L1Ratio => "l1_ratio",
            Stat::CosRef => "cos_ref",
            Stat::CosRefWhite => "cos_ref_white",
            Stat::Linf => "global_linf",
            Stat::Std => "std",
            Stat::Mean => "mean",
        }
    }

    /// The variance-stabilising transform: log for norms (and the loss), atanh for cosines,
    /// logit for fractions, identity for the signed mean. `None` when the value cannot be
    /// charted (non-finite, or a loss that is not positive).
    pub fn transform(self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        Some(match self {
            Stat::Loss => {
                if x <= 0.0 {
                    return None;
                }
                x.ln()
            }
            // A zeroed gradient is an attack, not a missing value: map 0 far below any norm.
            Stat::GradNorm | Stat::Linf | Stat::Std => x.max(1e-30).ln(),
            Stat::L1Ratio => x.max(1e-30).ln(),
            Stat::CosMean | Stat::CosLoo | Stat::CosRef | Stat::CosRefWhite => {
                x.clamp(-0.999_999, 0.999_999).atanh()
            }
            Stat::SignAgree => {
                let p = x.clamp(1e-6, 1.0 - 1e-6);
                (p / (1.0 - p)).ln()
            }
            Stat::Mean => x,
        })
    }
}

/// Which schema a record followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    V1,
    Legacy7,
}

/// One rank's statistics at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub run: String,
    pub rank: u32,
    pub step: u64,
    pub world: Option<u32>,
    pub schema: Schema,
    /// Raw values by [`Stat::index`]; `None` when the schema does not carry the statistic.
    pub values: [Option<f64>; N_STATS],
    /// Norm of the all-reduced gradient (v1), kept for the non-finite check and the report.
    pub mean_norm: Option<f64>,
    /// Names of the fields that held NaN or ±Infinity.
    pub nonfinite: Vec<&'static str>,
    /// Optional v1 field: a fixed random linear sketch of the rank's gradient
    /// ([`crate::whiten`]); `None` when absent or not finite.
    pub sketch: Option<Box<[f64]>>,
}

impl Record {
    pub fn value(&self, stat: Stat) -> Option<f64> {
        self.values[stat.index()]
    }

    /// The value whose exact repetition betrays a replayed gradient: the rank's own norm.
    pub fn norm_bits(&self) -> Option<u64> {
        self.values[Stat::GradNorm.index()]
            .filter(|x| x.is_finite() && *x > 0.0)
            .map(f64::to_bits)
    }
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is {0} bytes, over the {MAX_RECORD_BYTES}-byte limit")]
    TooLong(usize),
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("unsupported record version {0} (expected 1)")]
    Version(String),
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("field `{0}`: {1}")]
    Bad(&'static str, String),
    #[error("neither a v1 record (`grad_norm`) nor a 7-field record (`global_l2`)")]
    UnknownSchema,
}

/// A JSON number, or one of the non-finite tokens Python writes.
#[derive(Debug, Clone, Copy)]
struct Num(f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, NaN or Infinity")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Num, E> {
                match v {
                    "NaN" | "nan" => Ok(Num(f64::NAN)),
                    "Infinity" | "inf" | "+Infinity" => Ok(Num(f64::INFINITY)),
                    "-Infinity" | "-inf" => Ok(Num(f64::NEG_INFINITY)),
                    _ => Err(E::custom(format!("expected a number, found string {v:?}"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A run name: a string or a number.
#[derive(Debug, Clone)]
struct RunName(String);

impl<'de> Deserialize<'de> for RunName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RunName, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(RunName(s)),
            serde_json::Value::Number(n) => Ok(RunName(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, found {other}"
            ))),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Raw {
    v: Option<serde_json::Value>,
    run: Option<RunName>,
    rank: Option<Num>,
    world: Option<Num>,
    step: Option<Num>,
    loss: Option<Num>,
    grad_norm: Option<Num>,
    mean_norm: Option<Num>,
    cos_mean: Option<Num>,
    cos_loo: Option<Num>,
    sign_agree: Option<Num>,
    l1_ratio: Option<Num>,
    cos_ref: Option<Num>,
    sketch: Option<Vec<Num>>,
    global_l2: Option<Num>,
    global_linf: Option<Num>,
    mean: Option<Num>,
    std: Option<Num>,
    parameter_count: Option<Num>,
}

/// Rewrites the bare `NaN`, `Infinity` and `-Infinity` tokens outside strings into strings so
/// serde_json accepts them; [`Num`] turns them back into floats.
fn quote_nonfinite_tokens(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else {
            let rest = &text[i..];
            let token = ["-Infinity", "Infinity", "NaN"]
                .into_iter()
                .find(|t| rest.starts_with(t));
            if let Some(token) = token {
                out.push('"');
                out.push_str(token);
                out.push('"');
                i += token.len();
                continue;
            }
        }
        // Push the whole UTF-8 character starting here.
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// Parses one record (a JSONL line or a datagram's JSON).
pub fn parse_record(bytes: &[u8]) -> Result<Record, RecordError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLong(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| RecordError::NotUtf8)?;
    if !text.trim_start().starts_with('{') {
        return Err(RecordError::Json("expected a JSON object".into()));
    }
    let raw: Raw = if text.contains("NaN") || text.contains("Infinity") {
        serde_json::from_str(&quote_nonfinite_tokens(text))
    } else {
        serde_json::from_str(text)
    }
    .map_err(|e| RecordError::Json(e.to_string()))?;
    from_raw(raw)
}

fn integer(field: &'static str, value: Option<Num>, max: u64) -> Result<Option<u64>, RecordError> {
    let Some(Num(x)) = value else { return Ok(None) };
    if !x.is_finite() || x < 0.0 || x.fract() != 0.0 || x > max as f64 {
        return Err(RecordError::Bad(
            field,
            format!("expected an integer in 0..={max}, found {x}"),
        ));
    }
    Ok(Some(x as u64))
}

fn from_raw(raw: Raw) -> Result<Record, RecordError> {
    if let Some(v) = &raw.v
        && v.as_u64() != Some(1)
    {
        return Err(RecordError::Version(v.to_string()));
    }
    let rank = integer("rank", raw.rank, MAX_RANK)?.ok_or(RecordError::Missing("rank"))? as u32;
    let step = integer("step", raw.step, u64::MAX >> 11)?.ok_or(RecordError::Missing("step"))?;
    let world = integer("world", raw.world, MAX_RANK + 1)?.map(|w| w as u32);
    if let Some(world) = world
        && rank >= world
    {
        return Err(RecordError::Bad(
            "rank",
            format!("rank {rank} is not below world {world}"),
        ));
    }
    let run = raw.run.map_or_else(String::new, |r| r.0);
    if run.len() > 256 {
        return Err(RecordError::Bad("run", "longer than 256 bytes".into()));
    }
    let mut values = [None; N_STATS];
    let mut nonfinite = Vec::new();
    let mut put = |stat: Stat, value: Option<Num>, required: bool| -> Result<(), RecordError> {
        let name = stat.name();
        let Some(Num(x)) = value else {
            return if required {
                Err(RecordError::Missing(name))
            } else {
                Ok(())
            };
        };
        if !x.is_finite() {
            nonfinite.push(name);
        } else {
            check_range(stat, x)?;
        }
        values[stat.index()] = Some(x);
        Ok(())
    };
    let schema = if raw.v.is_some() || raw.grad_norm.is_some() {
        put(Stat::GradNorm, raw.grad_norm, true)?;
        put(Stat::CosMean, raw.cos_mean, true)?;
        put(Stat::CosLoo, raw.cos_loo, true)?;
        put(Stat::SignAgree, raw.sign_agree, true)?;
        put(Stat::Loss, raw.loss, false)?;
        put(Stat::L1Ratio, raw.l1_ratio, false)?;
        put(Stat::CosRef, raw.cos_ref, false)?;
        Schema::V1
    } else if raw.global_l2.is_some() {
        put(Stat::GradNorm, raw.global_l2, true)?;
        put(Stat::Linf, raw.global_linf, true)?;
        put(Stat::Mean, raw.mean, true)?;
        put(Stat::Std, raw.std, true)?;
        integer("parameter_count", raw.parameter_count, u64::MAX >> 11)?
            .ok_or(RecordError::Missing("parameter_count"))?;
        Schema::Legacy7
    } else {
        return Err(RecordError::UnknownSchema);
    };
    let mean_norm = match raw.mean_norm {
        Some(Num(x)) if !x.is_finite() => {
            nonfinite.push("mean_norm");
            Some(x)
        }
        Some(Num(x)) if x < 0.0 => {
            return Err(RecordError::Bad(
                "mean_norm",
                format!("a norm cannot be negative ({x})"),
            ));
        }
        Some(Num(x)) => Some(x),
        None if schema == Schema::V1 => return Err(RecordError::Missing("mean_norm")),
        None => None,
    };
    let sketch = match raw.sketch {
        Some(_) if schema != Schema::V1 => None,
        Some(v) if !(MIN_SKETCH..=MAX_SKETCH).contains(&v.len()) => {
            return Err(RecordError::Bad(
                "sketch",
                format!("{} values, expected {MIN_SKETCH} to {MAX_SKETCH}", v.len()),
            ));
        }
        Some(v) if v.iter().any(|x| !x.0.is_finite()) => {
            nonfinite.push("sketch");
            None
        }
        Some(v) => Some(v.into_iter().map(|x| x.0).collect()),
        None => None,
    };
    Ok(Record {
        run,
        rank,
        step,
        world,
        schema,
        values,
        mean_norm,
        nonfinite,
        sketch,
    })
}

fn check_range(stat: Stat, x: f64) -> Result<(), RecordError> {
    let ok = match stat {
        Stat::GradNorm | Stat::Linf | Stat::Std => x >= 0.0,
        // Cosines computed in float16/bfloat16 can overshoot 1 slightly.
        Stat::CosMean | Stat::CosLoo | Stat::CosRef | Stat::CosRefWhite => {
            (-1.001..=1.001).contains(&x)
        }
        Stat::L1Ratio => (0.0..=1.001).contains(&x),
        Stat::SignAgree => (0.0..=1.0).contains(&x),
        Stat::Loss | Stat::Mean => true,
    };
    if ok {
        Ok(())
    } else {
        Err(RecordError::Bad(
            stat.name(),
            format!("value {x} is out of range"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"v":1,"run":"job-42","rank":3,"world":8,"step":1200,"t":1716450000.1,"loss":2.31,"lr":0.05,"grad_norm":0.534,"mean_norm":0.334,"cos_mean":0.743,"cos_loo":0.457,"sign_agree":0.758,"layers":{"encoder.0.weight":0.357},"extra":[1,2]}"#;

    #[test]
    fn parses_the_v1_record() {
        let r = parse_record(V1.as_bytes()).unwrap();
        assert_eq!(
            (r.run.as_str(), r.rank, r.step, r.world),
            ("job-42", 3, 1200, Some(8))
        );
        assert_eq!(r.schema, Schema::V1);
        assert_eq!(r.value(Stat::CosLoo), Some(0.457));
        assert_eq!(r.value(Stat::Loss), Some(2.31));
        assert_eq!(r.value(Stat::Std), None);
        assert!(r.nonfinite.is_empty());
    }

    #[test]
    fn the_shape_and_reference_fields_are_optional_and_range_checked() {
        let r = parse_record(V1.as_bytes()).unwrap();
        assert_eq!(
            (r.value(Stat::L1Ratio), r.value(Stat::CosRef)),
            (None, None)
        );
        let with = V1.replace(
            "\"sign_agree\"",
            "\"l1_ratio\":0.61,\"cos_ref\":-0.2,\"sign_agree\"",
        );
        let r = parse_record(with.as_bytes()).unwrap();
        assert_eq!(r.value(Stat::L1Ratio), Some(0.61));
        assert_eq!(r.value(Stat::CosRef), Some(-0.2));
        for bad in ["\"l1_ratio\":1.5", "\"l1_ratio\":-0.1", "\"cos_ref\":-2"] {
            let text = V1.replace("\"sign_agree\"", &format!("{bad},\"sign_agree\""));
            assert!(
                matches!(parse_record(text.as_bytes()), Err(RecordError::Bad(..))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_sketch_is_bounded_and_a_non_finite_one_is_a_signal() {
        let with = |values: &str| {
            V1.replace(
                "\"sign_agree\"",
                &format!("\"sketch\":[{values}],\"sign_agree\""),
            )
        };
        let eight = "1,-2.5,0,3e-7,4,5,6,-7";
        let r = parse_record(with(eight).as_bytes()).unwrap();
        assert_eq!(
            r.sketch.as_deref(),
            Some(&[1.0, -2.5, 0.0, 3e-7, 4.0, 5.0, 6.0, -7.0][..])
        );
        assert_eq!(parse_record(V1.as_bytes()).unwrap().sketch, None);
        let short = parse_record(with("1,2,3").as_bytes()).unwrap_err();
        assert!(short.to_string().contains("sketch"), "{short}");
        let long = vec!["1"; MAX_SKETCH + 1].join(",");
        assert!(matches!(
            parse_record(with(&long).as_bytes()),
            Err(RecordError::Bad("sketch", _))
        ));
        let nan = parse_record(with("1,2,3,4,5,6,7,NaN").as_bytes()).unwrap();
        assert_eq!((nan.sketch, nan.nonfinite), (None, vec!["sketch"]));
        let text = parse_record(with("1,2,3,4,5,6,7,\"x\"").as_bytes()).unwrap_err();
        assert!(matches!(text, RecordError::Json(_)), "{text}");
    }

    #[test]
    fn parses_the_seven_field_record() {
        let r = parse_record(
            br#"{"rank":1,"step":7,"global_l2":1.5,"global_linf":0.2,"mean":-1e-4,"std":0.01,"parameter_count":1000}"#,
        )
        .unwrap();
        assert_eq!(r.schema, Schema::Legacy7);
        assert_eq!(r.value(Stat::GradNorm), Some(1.5));
        assert_eq!(r.value(Stat::Mean), Some(-1e-4));
        assert_eq!(r.run, "");
    }

    #[test]
    fn python_nonfinite_tokens_are_values() {
        let text = V1
            .replace("\"grad_norm\":0.534", "\"grad_norm\":NaN")
            .replace("\"loss\":2.31", "\"loss\":-Infinity")
            .replace("job-42", "NaN in a string");
        let r = parse_record(text.as_bytes()).unwrap();
        assert!(r.value(Stat::GradNorm).unwrap().is_nan());
        assert_eq!(r.value(Stat::Loss), Some(f64::NEG_INFINITY));
        assert_eq!(r.run, "NaN in a string");
        assert_eq!(r.nonfinite, vec!["grad_norm", "loss"]);
    }

    #[test]
    fn invalid_records_say_why() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"v":1,"rank":0,"step":1}"#,
                "missing required field `grad_norm`",
            ),
            (
                r#"{"rank":0,"step":1,"global_l2":1}"#,
                "missing required field `global_linf`",
            ),
            (
                r#"{"v":2,"rank":0,"step":1}"#,
                "unsupported record version 2",
            ),
            (
                r#"{"step":1,"grad_norm":1}"#,
                "missing required field `rank`",
            ),
            (r#"{"rank":-1,"step":1,"grad_norm":1}"#, "field `rank`"),
            (r#"{"rank":1.5,"step":1,"grad_norm":1}"#, "field `rank`"),
            (
                r#"{"rank":"0","step":1,"grad_norm":1}"#,
                "expected a number",
            ),
            (r#"{"rank":0,"step":1}"#, "neither a v1 record"),
            (
                r#"{"rank":9,"world":8,"step":1,"grad_norm":1}"#,
                "not below world",
            ),
            (r#"[1,2]"#, "invalid JSON"),
            (r#"{"rank":0,"#, "invalid JSON"),
            (
                r#"{"v":1,"rank":0,"step":1,"grad_norm":1,"mean_norm":1,"cos_mean":3,"cos_loo":0,"sign_agree":0.5}"#,
                "out of range",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_record(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert_eq!(
            parse_record(&[0xff, 0xfe]).unwrap_err(),
            RecordError::NotUtf8
        );
        let long = vec![b' '; MAX_RECORD_BYTES + 1];
        assert!(matches!(parse_record(&long), Err(RecordError::TooLong(_))));
    }

    #[test]
    fn transforms_are_monotone_and_total() {
        assert_eq!(Stat::GradNorm.transform(0.0), Some(1e-30f64.ln()));
        assert_eq!(Stat::CosMean.transform(f64::NAN), None);
        assert!(Stat::CosMean.transform(1.0).unwrap().is_finite());
        assert!(Stat::SignAgree.transform(0.0).unwrap() < -10.0);
        assert_eq!(Stat::Loss.transform(-1.0), None);
        assert!(Stat::CosLoo.transform(0.5).unwrap() > Stat::CosLoo.transform(0.4).unwrap());
    }
}
