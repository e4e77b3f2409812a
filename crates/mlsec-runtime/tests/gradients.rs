//! Input gradients of every supported op, with every attribute combination the evaluator
//! accepts, against central finite differences in f64.
//!
//! Each case is a small graph whose input `x` feeds the op under test; the loss is
//! `Σ y·r` with fixed random weights `r`, so every output cell's gradient counts with its own
//! weight. The analytic gradient (candle backward + our kernels) is computed in f64
//! ([`OnnxModel::with_float_dtype`]) and compared with `(L(x+h·eᵢ) − L(x−h·eᵢ)) / 2h`,
//! h = 1e-5: the truncation error is h²·|L'''|/6 ≈ 1e-11 and the rounding error
//! ε·|L|/h ≈ 1e-10 for these sizes, so a tolerance of 1e-7·(1 + |numeric|) is tight and still
//! far above both (a wrong gradient is off by O(1)). The production f32 path must give the
//! same gradient to 1e-4 relative.
//!
//! Inputs are a shuffled grid with jitter: all values distinct by at least 1/n and at least
//! 0.4/n away from 0, so no max has a tie and no kink (ReLU, |x|, max) lies within h of an
//! input. `positive` inputs (log, sqrt, reciprocal, pow, divisors) lie in [0.5, 2.5].
//!
//! `every_supported_op_has_a_gradient_case` keeps the table and `SUPPORTED_OPS` equal: a new op
//! cannot land without a case here.

use std::collections::{BTreeMap, BTreeSet};

use mlsec_runtime::eval::SUPPORTED_OPS;
use mlsec_runtime::ir::{Attr, Graph, Node, TensorData, ValueInfo};
use mlsec_runtime::{DType, Device, Model, OnnxModel, Tensor, loss_gradient};

const H: f64 = 1e-5;
const TOL: f64 = 1e-7;

/// One gradient check: `op` is the op under test (the key the meta-test counts).
struct Case {
    op: &'static str,
    what: String,
    opset: i64,
    nodes: Vec<Node>,
    consts: Vec<(&'static str, TensorData)>,
    shape: Vec<usize>,
    positive: bool,
    /// The output does not depend on the input's values through the op (random ops): the
    /// expected gradient is given instead of finite differences, as a factor times `r`.
    exact: Option<f64>,
}

fn n(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, Attr)>) -> Node {
    Node {
        name: format!("{op}_node"),
        op_type: op.into(),
        domain: String::new(),
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        outputs: outputs.iter().map(|s| (*s).to_owned()).collect(),
        attrs: attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

fn f32s(dims: &[usize], seed: u64) -> TensorData {
    let len = dims.iter().product();
    let v = Rng(seed)
        .uniform(len)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    TensorData::f32(dims.to_vec(), v)
}

/// Values in [0.5, 2.5): safe divisors and bases.
fn pos32s(dims: &[usize], seed: u64) -> TensorData {
    let len = dims.iter().product();
    let v = Rng(seed)
        .uniform(len)
        .into_iter()
        .map(|v| 1.5 + v as f32)
        .collect();
    TensorData::f32(dims.to_vec(), v)
}

fn i64s(dims: &[usize], v: &[i64]) -> TensorData {
    TensorData::i64(dims.to_vec(), v.to_vec())
}

fn scalar(v: f32) -> TensorData {
    TensorData::f32(vec![], vec![v])
}

/// A single-node case `y = op(x, consts...)`.
fn one(
    op: &'static str,
    what: impl Into<String>,
    inputs: &[&str],
    attrs: Vec<(&str, Attr)>,
    consts: Vec<(&'static str, TensorData)>,
    shape: &[usize],
) -> Case {
    Case {
        op,
        what: what.into(),
        opset: 17,
        nodes: vec![n(op, inputs, &["y"], attrs)],
        consts,
        shape: shape.to_vec(),
        positive: false,
        exact: None,
    }
}

impl Case {
    fn positive(mut self) -> Case {
        self.positive = true;
        self
    }

    fn opset(mut self, opset: i64) -> Case {
        self.opset = opset;
        self
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self, len: usize) -> Vec<f64> {
        (0..len).map(|_| 2.0 * self.next() - 1.0).collect()
    }

    /// Distinct values in (-1, 1), at least 1/len apart and 0.4/len away from 0: a shuffled
    /// grid of cell centres with a jitter of at most a tenth of a cell.
    fn spread(&mut self, len: usize) -> Vec<f64> {
        let cell = 2.0 / len as f64;
        let mut v: Vec<f64> = (0..len)
            .map(|k| -1.0 + cell * (k as f64 + 0.5) + cell * 0.1 * (2.0 * self.next() - 1.0))
            .collect();
        for i in (1..len).rev() {
            let j = (self.next() * (i + 1) as f64) as usize;
            v.swap(i, j.min(i));
        }
        // An even count puts two cell centres at ±cell/2: keep them off 0 by the jitter only.
        v
    }
}

fn model(case: &Case) -> OnnxModel {
    let g = Graph {
        name: case.what.clone(),
        opset: case.opset,
        nodes: case.nodes.clone(),
        initializers: case
            .consts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        inputs: vec![ValueInfo {
            name: "x".into(),
            dims: None,
        }],
        outputs: vec!["y".into()],
        metadata: BTreeMap::new(),
    };
    OnnxModel::from_graph(g, String::new())
        .unwrap_or_else(|e| panic!("{} ({}): {e}", case.op, case.what))
}

fn flat64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// Checks one case; returns the largest error relative to the tolerance (≤ 1 passes).
fn check(case: &Case, seed: u64) -> f64 {
    let label = format!("{} ({})", case.op, case.what);
    let m32 = model(case);
    let m64 = model(case).with_float_dtype(DType::F64).unwrap();
    let len: usize = case.shape.iter().product();
    let mut rng = Rng(seed);
    let mut x = rng.spread(len);
    if case.positive {
        x.iter_mut().for_each(|v| *v += 1.5);
    }
    let xt = Tensor::from_slice(&x, case.shape.as_slice(), &Device::Cpu).unwrap();
    let y = m64.forward(&xt).unwrap_or_else(|e| panic!("{label}: {e}"));
    let r = Rng(seed ^ 0xabcd).uniform(y.elem_count());
    let rt = Tensor::from_slice(&r, y.dims(), &Device::Cpu).unwrap();
    let loss = |y: &Tensor| (y * rt.to_dtype(y.dtype())?)?.sum_all();
    let (_, grad) = loss_gradient(&m64, &xt, &loss).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(grad.dims(), xt.dims(), "{label}");
    let analytic = flat64(&grad);
    assert!(
        analytic.iter().all(|g| g.is_finite()) && analytic.iter().any(|&g| g != 0.0),
        "{label}: gradient {analytic:?} is not finite or all zero"
    );
    let value = |v: &[f64]| -> f64 {
        let t = Tensor::from_slice(v, case.shape.as_slice(), &Device::Cpu).unwrap();
        let y = flat64(&m64.forward(&t).unwrap());
        y.iter().zip(&r).map(|(a, b)| a * b).sum()
    };
    let expected: Vec<f64> = match case.exact {
        Some(k) => r.iter().map(|v| v * k).collect(),
        None => (0..len)
            .map(|i| {
                let mut p = x.clone();
                let mut q = x.clone();
                p[i] += H;
                q[i] -= H;
                (value(&p) - value(&q)) / (2.0 * H)
            })
            .collect(),
    };
    let mut worst = 0f64;
    for (i, (a, e)) in analytic.iter().zip(&expected).enumerate() {
        let ratio = (a - e).abs() / (TOL * (1.0 + e.abs()));
        assert!(
            ratio <= 1.0,
            "{label}: d/dx[{i}] analytic {a} vs finite differences {e}\n analytic {analytic:?}\n numeric {expected:?}"
        );
        worst = worst.max(ratio);
    }
    // The production path (f32) uses the same kernels: same gradient to f32 precision.
    let x32 = xt.to_dtype(DType::F32).unwrap();
    let (_, g32) = loss_gradient(&m32, &x32, &loss).unwrap_or_else(|e| panic!("{label}: {e}"));
    let scale = analytic.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in flat64(&g32).iter().zip(&analytic).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{label}: f32 gradient [{i}] {a} vs f64 {b}"
        );
    }
    worst
}

fn pool(
    op: &'static str,
    what: impl Into<String>,
    attrs: Vec<(&str, Attr)>,
    shape: &[usize],
) -> Case {
    one(op, what, &["x"], attrs, vec![], shape)
}

fn cases() -> Vec<Case> {
    let k = |v: &[i64]| ("kernel_shape", ints(v));
    let s = |v: &[i64]| ("strides", ints(v));
    let p = |v: &[i64]| ("pads", ints(v));
    let d = |v: &[i64]| ("dilations", ints(v));
    let ceil = ("ceil_mode", Attr::Int(1));
    let incl = ("count_include_pad", Attr::Int(1));
    let axis = |a: i64| ("axis", Attr::Int(a));
    let unary = |op: &'static str| one(op, "elementwise", &["x"], vec![], vec![], &[2, 3, 4]);
    let mut v = vec![
        unary("Abs"),
        unary("Erf"),
        unary("Exp"),
        unary("Identity"),
        unary("Neg"),
        unary("Relu"),
        unary("Sigmoid"),
        unary("Tanh"),
        unary("Dropout"),
        unary("Log").positive(),
        unary("Reciprocal").positive(),
        unary("Sqrt").positive(),
        one(
            "LeakyRelu",
            "alpha 0.1",
            &["x"],
            vec![("alpha", Attr::Float(0.1))],
            vec![],
            &[2, 3, 4],
        ),
        one(
            "LeakyRelu",
            "default alpha",
            &["x"],
            vec![],
            vec![],
            &[3, 5],
        ),
        one("Gelu", "erf", &["x"], vec![], vec![], &[2, 3, 4]),
        one(
            "Gelu",
            "tanh",
            &["x"],
            vec![("approximate", Attr::Str("tanh".into()))],
            vec![],
            &[2, 3, 4],
        ),
        one(
            "Clip",
            "min and max inputs",
            &["x", "lo", "hi"],
            vec![],
            vec![("lo", scalar(-0.33)), ("hi", scalar(0.41))],
            &[2, 3, 4],
        ),
        one(
            "Clip",
            "min only",
            &["x", "lo"],
            vec![],
            vec![("lo", scalar(-0.27))],
            &[2, 3, 4],
        ),
        one(
            "Clip",
            "max only (empty min)",
            &["x", "", "hi"],
            vec![],
            vec![("hi", scalar(0.23))],
            &[2, 3, 4],
        ),
        one(
            "Clip",
            "opset 6 attributes",
            &["x"],
            vec![("min", Attr::Float(-0.43)), ("max", Attr::Float(0.37))],
            vec![],
            &[2, 3, 4],
        )
        .opset(6),
    ];
    // Binary ops: same shape, a broadcast constant, the input broadcast, the input on the
    // right, the input on both sides.
    for op in ["Add", "Sub", "Mul", "Div"] {
        let c = if op == "Div" { pos32s } else { f32s };
        v.push(one(
            op,
            "same shape",
            &["x", "c"],
            vec![],
            vec![("c", c(&[2, 3, 4], 1))],
            &[2, 3, 4],
        ));
        v.push(one(
            op,
            "constant broadcast [4]",
            &["x", "c"],
            vec![],
            vec![("c", c(&[4], 2))],
            &[2, 3, 4],
        ));
        v.push(one(
            op,
            "constant broadcast [3,1]",
            &["x", "c"],
            vec![],
            vec![("c", c(&[3, 1], 3))],
            &[2, 3, 4],
        ));
        v.push(one(
            op,
            "input broadcast [3,1] against [2,3,4]",
            &["x", "c"],
            vec![],
            vec![("c", c(&[2, 3, 4], 4))],
            &[3, 1],
        ));
        let right = one(
            op,
            "input on the right, broadcast",
            &["c", "x"],
            vec![],
            vec![("c", c(&[2, 1, 4], 5))],
            &[3, 4],
        );
        v.push(if op == "Div" { right.positive() } else { right });
        // x − x and x / x are constant: only Add and Mul have a gradient to check here.
        if matches!(op, "Add" | "Mul") {
            v.push(one(
                op,
                "input on both sides",
                &["x", "x"],
                vec![],
                vec![],
                &[2, 3],
            ));
        }
    }
    v.extend([
        one(
            "Pow",
            "square",
            &["x", "e"],
            vec![],
            vec![("e", scalar(2.0))],
            &[2, 3, 4],
        ),
        one(
            "Pow",
            "cube",
            &["x", "e"],
            vec![],
            vec![("e", scalar(3.0))],
            &[2, 3, 4],
        ),
        one(
            "Pow",
            "square root",
            &["x", "e"],
            vec![],
            vec![("e", scalar(0.5))],
            &[2, 3, 4],
        )
        .positive(),
        one(
            "Pow",
            "exponent 1",
            &["x", "e"],
            vec![],
            vec![("e", scalar(1.0))],
            &[2, 3, 4],
        ),
        one(
            "Pow",
            "exponent 1.7",
            &["x", "e"],
            vec![],
            vec![("e", scalar(1.7))],
            &[2, 3, 4],
        )
        .positive(),
        one(
            "Pow",
            "broadcast exponent tensor",
            &["x", "e"],
            vec![],
            vec![("e", TensorData::f32(vec![4], vec![0.5, 1.3, 2.2, -0.7]))],
            &[2, 3, 4],
        )
        .positive(),
        one(
            "Pow",
            "input as exponent",
            &["b", "x"],
            vec![],
            vec![("b", TensorData::f32(vec![4], vec![0.5, 1.3, 2.2, 3.1]))],
            &[3, 4],
        ),
    ]);
    v.extend([
        one(
            "Gemm",
            "plain with bias",
            &["x", "w", "b"],
            vec![],
            vec![("w", f32s(&[4, 3], 1)), ("b", f32s(&[3], 2))],
            &[2, 4],
        ),
        one(
            "Gemm",
            "transA transB alpha beta",
            &["x", "w", "b"],
            vec![
                ("transA", Attr::Int(1)),
                ("transB", Attr::Int(1)),
                ("alpha", Attr::Float(0.7)),
                ("beta", Attr::Float(1.9)),
            ],
            vec![("w", f32s(&[3, 4], 1)), ("b", f32s(&[1, 3], 2))],
            &[4, 2],
        ),
        one(
            "Gemm",
            "input as B, no bias",
            &["a", "x"],
            vec![],
            vec![("a", f32s(&[2, 4], 3))],
            &[4, 3],
        ),
        one(
            "MatMul",
            "2-D",
            &["x", "w"],
            vec![],
            vec![("w", f32s(&[4, 3], 1))],
            &[2, 4],
        ),
        one(
            "MatMul",
            "batched, broadcast weight",
            &["x", "w"],
            vec![],
            vec![("w", f32s(&[4, 5], 2))],
            &[2, 3, 4],
        ),
        one(
            "MatMul",
            "vector times matrix",
            &["x", "w"],
            vec![],
            vec![("w", f32s(&[4, 3], 3))],
            &[4],
        ),
        one(
            "MatMul",
            "matrix times vector input",
            &["w", "x"],
            vec![],
            vec![("w", f32s(&[2, 3, 4], 4))],
            &[4],
        ),
        one(
            "MatMul",
            "input on the right, broadcast batch",
            &["w", "x"],
            vec![],
            vec![("w", f32s(&[2, 3, 4], 5))],
            &[4, 5],
        ),
    ]);
    // Convolutions.
    let conv = |what, attrs, w: &[usize], bias: bool, shape: &[usize]| {
        let mut consts = vec![("w", f32s(w, 7))];
        let mut inputs = vec!["x", "w"];
        if bias {
            consts.push(("b", f32s(&[w[0]], 8)));
            inputs.push("b");
        }
        one("Conv", what, &inputs, attrs, consts, shape)
    };
    v.extend([
        conv("3x3, bias", vec![], &[2, 1, 3, 3], true, &[1, 1, 5, 5]),
        conv(
            "3x3 pads 1",
            vec![p(&[1, 1, 1, 1])],
            &[2, 2, 3, 3],
            true,
            &[2, 2, 5, 5],
        ),
        conv(
            "stride 2 on 7x8 (different remainders per axis)",
            vec![s(&[2, 2])],
            &[2, 1, 3, 3],
            false,
            &[1, 1, 7, 8],
        ),
        conv(
            "stride 2 pads 1 on 8x7",
            vec![s(&[2, 2]), p(&[1, 1, 1, 1])],
            &[2, 1, 3, 3],
            true,
            &[1, 1, 8, 7],
        ),
        conv(
            "3x3/2 pads 1 on 7x7 (ResNet-style)",
            vec![s(&[2, 2]), p(&[1, 1, 1, 1])],
            &[3, 2, 3, 3],
            true,
            &[2, 2, 7, 7],
        ),
        conv(
            "asymmetric pads",
            vec![p(&[0, 1, 2, 1])],
            &[2, 1, 2, 2],
            false,
            &[1, 1, 4, 5],
        ),
        conv(
            "non-square kernel 2x3 stride 2",
            vec![s(&[2, 2])],
            &[2, 1, 2, 3],
            true,
            &[1, 1, 6, 7],
        ),
        conv(
            "dilation 2",
            vec![d(&[2, 2])],
            &[2, 1, 3, 3],
            true,
            &[1, 1, 7, 6],
        ),
        conv(
            "dilation 2 stride 2 pads 2",
            vec![d(&[2, 2]), s(&[2, 2]), p(&[2, 2, 2, 2])],
            &[2, 1, 3, 3],
            false,
            &[1, 1, 7, 6],
        ),
        conv(
            "groups 2",
            vec![("group", Attr::Int(2)), p(&[1, 1, 1, 1])],
            &[4, 2, 3, 3],
            true,
            &[1, 4, 5, 5],
        ),
        conv(
            "depthwise stride 2",
            vec![("group", Attr::Int(3)), s(&[2, 2])],
            &[3, 1, 3, 3],
            true,
            &[2, 3, 7, 6],
        ),
        conv(
            "auto_pad SAME_UPPER stride 2",
            vec![("auto_pad", Attr::Str("SAME_UPPER".into())), s(&[2, 2])],
            &[2, 1, 3, 3],
            false,
            &[1, 1, 6, 7],
        ),
        conv(
            "auto_pad SAME_LOWER",
            vec![("auto_pad", Attr::Str("SAME_LOWER".into()))],
            &[2, 1, 2, 2],
            false,
            &[1, 1, 5, 5],
        ),
        conv(
            "1-D stride 2 pads 1 bias",
            vec![s(&[2]), p(&[1, 1])],
            &[3, 2, 3],
            true,
            &[2, 2, 9],
        ),
        conv(
            "1-D dilation 2 groups 2",
            vec![d(&[2]), ("group", Attr::Int(2))],
            &[2, 1, 3],
            false,
            &[1, 2, 8],
        ),
        one(
            "ConvTranspose",
            "3x3 stride 2 pads 1 output_padding 1",
            &["x", "w", "b"],
            vec![
                s(&[2, 2]),
                p(&[1, 1, 1, 1]),
                ("output_padding", ints(&[1, 1])),
            ],
            vec![("w", f32s(&[2, 3, 3, 3], 1)), ("b", f32s(&[3], 2))],
            &[1, 2, 4, 3],
        ),
        one(
            "ConvTranspose",
            "2x2 stride 2",
            &["x", "w"],
            vec![s(&[2, 2])],
            vec![("w", f32s(&[1, 2, 2, 2], 3))],
            &[2, 1, 3, 4],
        ),
        one(
            "ConvTranspose",
            "dilation 2",
            &["x", "w"],
            vec![d(&[2, 2])],
            vec![("w", f32s(&[2, 1, 3, 3], 4))],
            &[1, 2, 3, 3],
        ),
    ]);
    // Pooling: kernel = stride, odd sizes, kernel ≠ stride, pads, ceil_mode, dilation, 1-D.
    for (op, incl_pad) in [
        ("MaxPool", false),
        ("AveragePool", false),
        ("AveragePool", true),
    ] {
        let with = |mut a: Vec<(&'static str, Attr)>, incl_pad: bool| {
            if incl_pad {
                a.push(incl.clone());
            }
            a
        };
        let tag = |what: &str| {
            if incl_pad {
                format!("{what}, count_include_pad")
            } else {
                what.to_owned()
            }
        };
        v.extend([
            pool(
                op,
                tag("2x2/2 on 8x8"),
                with(vec![k(&[2, 2]), s(&[2, 2])], incl_pad),
                &[2, 2, 8, 8],
            ),
            pool(
                op,
                tag("2x2/2 on 7x7 (odd size)"),
                with(vec![k(&[2, 2]), s(&[2, 2])], incl_pad),
                &[1, 2, 7, 7],
            ),
            pool(
                op,
                tag("2x2 stride 1 (default strides)"),
                with(vec![k(&[2, 2])], incl_pad),
                &[1, 1, 5, 6],
            ),
            pool(
                op,
                tag("3x3/2 pads 1 (ResNet stem)"),
                with(vec![k(&[3, 3]), s(&[2, 2]), p(&[1, 1, 1, 1])], incl_pad),
                &[1, 2, 9, 9],
            ),
            pool(
                op,
                tag("3x3/2 pads 1 on 8x8"),
                with(vec![k(&[3, 3]), s(&[2, 2]), p(&[1, 1, 1, 1])], incl_pad),
                &[1, 1, 8, 8],
            ),
            pool(
                op,
                tag("3x3/2 ceil_mode on 8x8"),
                with(vec![k(&[3, 3]), s(&[2, 2]), ceil.clone()], incl_pad),
                &[1, 1, 8, 8],
            ),
            pool(
                op,
                tag("2x2/2 ceil_mode pads 1 on 7x6"),
                with(
                    vec![k(&[2, 2]), s(&[2, 2]), p(&[1, 1, 1, 1]), ceil.clone()],
                    incl_pad,
                ),
                &[1, 1, 7, 6],
            ),
            pool(
                op,
                tag("asymmetric pads"),
                with(vec![k(&[3, 2]), p(&[0, 1, 2, 0])], incl_pad),
                &[1, 1, 5, 5],
            ),
            pool(
                op,
                tag("rectangular 2x3 strides 1x2"),
                with(vec![k(&[2, 3]), s(&[1, 2])], incl_pad),
                &[1, 2, 5, 7],
            ),
            pool(
                op,
                tag("dilation 2 stride 2"),
                with(vec![k(&[2, 2]), s(&[2, 2]), d(&[2, 2])], incl_pad),
                &[1, 1, 7, 8],
            ),
            pool(
                op,
                tag("auto_pad SAME_UPPER 3x3/2"),
                with(
                    vec![
                        k(&[3, 3]),
                        s(&[2, 2]),
                        ("auto_pad", Attr::Str("SAME_UPPER".into())),
                    ],
                    incl_pad,
                ),
                &[1, 1, 6, 7],
            ),
            pool(
                op,
                tag("1-D 3/2 pads 1"),
                with(vec![k(&[3]), s(&[2]), p(&[1, 1])], incl_pad),
                &[2, 2, 9],
            ),
            pool(
                op,
                tag("1-D 2/2 ceil_mode"),
                with(vec![k(&[2]), s(&[2]), ceil.clone()], incl_pad),
                &[1, 2, 7],
            ),
        ]);
    }
    v.extend([
        pool("GlobalMaxPool", "2-D", vec![], &[2, 3, 4, 5]),
        pool("GlobalMaxPool", "1-D", vec![], &[2, 3, 7]),
        pool("GlobalMaxPool", "3-D", vec![], &[1, 2, 2, 3, 2]),
        pool("GlobalAveragePool", "2-D", vec![], &[2, 3, 4, 5]),
        pool("GlobalAveragePool", "1-D", vec![], &[2, 3, 7]),
    ]);
    // Normalisation.
    let bn = |shape: &[usize], c: usize| {
        one(
            "BatchNormalization",
            if shape.len() == 4 { "NCHW" } else { "NC" },
            &["x", "s", "b", "m", "v"],
            vec![("epsilon", Attr::Float(1e-3))],
            vec![
                ("s", f32s(&[c], 1)),
                ("b", f32s(&[c], 2)),
                ("m", f32s(&[c], 3)),
                (
                    "v",
                    TensorData::f32(vec![c], (0..c).map(|i| 0.5 + i as f32 * 0.3).collect()),
                ),
            ],
            shape,
        )
    };
    v.extend([
        bn(&[2, 3, 4, 4], 3),
        bn(&[4, 3], 3),
        one(
            "LayerNormalization",
            "last axis with bias",
            &["x", "s", "b"],
            vec![],
            vec![("s", f32s(&[4], 1)), ("b", f32s(&[4], 2))],
            &[2, 3, 4],
        ),
        one(
            "LayerNormalization",
            "axis 1, no bias",
            &["x", "s"],
            vec![axis(1), ("epsilon", Attr::Float(1e-3))],
            vec![("s", f32s(&[3, 4], 3))],
            &[2, 3, 4],
        ),
        one(
            "LayerNormalization",
            "axis -2",
            &["x", "s"],
            vec![axis(-2)],
            vec![("s", f32s(&[3, 4], 4))],
            &[2, 3, 4],
        ),
    ]);
    for op in ["Softmax", "LogSoftmax"] {
        v.extend([
            one(op, "default axis (-1)", &["x"], vec![], vec![], &[2, 3, 4]),
            one(op, "axis 1", &["x"], vec![axis(1)], vec![], &[2, 3, 4]),
            one(op, "axis 0", &["x"], vec![axis(0)], vec![], &[3, 4]),
            one(
                op,
                "opset 11: coerced to 2-D at axis 1",
                &["x"],
                vec![axis(1)],
                vec![],
                &[2, 3, 4],
            )
            .opset(11),
            one(op, "opset 11 default axis", &["x"], vec![], vec![], &[2, 5]).opset(11),
        ]);
    }
    // Reductions: attribute axes (opset 13; ReduceSum takes an input), input axes (opset 18),
    // keepdims, all axes, noop_with_empty_axes.
    for op in ["ReduceMax", "ReduceMean", "ReduceSum"] {
        let attr_axes = if op == "ReduceSum" { 11 } else { 13 };
        v.extend([
            one(
                op,
                "axes attribute, keepdims",
                &["x"],
                vec![("axes", ints(&[1]))],
                vec![],
                &[2, 3, 4],
            )
            .opset(attr_axes),
            one(
                op,
                "two axes attribute, keepdims 0",
                &["x"],
                vec![("axes", ints(&[0, -1])), ("keepdims", Attr::Int(0))],
                vec![],
                &[2, 3, 4],
            )
            .opset(attr_axes),
            one(op, "all axes", &["x"], vec![], vec![], &[2, 3, 4]).opset(attr_axes),
            one(
                op,
                "axes input, keepdims 0",
                &["x", "a"],
                vec![("keepdims", Attr::Int(0))],
                vec![("a", i64s(&[2], &[2, 1]))],
                &[2, 3, 4],
            )
            .opset(18),
            one(
                op,
                "empty axes, noop_with_empty_axes",
                &["x"],
                vec![("noop_with_empty_axes", Attr::Int(1))],
                vec![],
                &[2, 3],
            )
            .opset(18),
        ]);
    }
    // Shapes and indexing.
    v.extend([
        one("Flatten", "axis 1", &["x"], vec![], vec![], &[2, 3, 4]),
        one(
            "Flatten",
            "axis 0",
            &["x"],
            vec![axis(0)],
            vec![],
            &[2, 3, 4],
        ),
        one(
            "Flatten",
            "axis -1",
            &["x"],
            vec![axis(-1)],
            vec![],
            &[2, 3, 4],
        ),
        one(
            "Reshape",
            "with -1 and 0",
            &["x", "s"],
            vec![],
            vec![("s", i64s(&[3], &[0, -1, 2]))],
            &[2, 3, 4],
        ),
        one(
            "Reshape",
            "allowzero 0, plain",
            &["x", "s"],
            vec![],
            vec![("s", i64s(&[2], &[4, 6]))],
            &[2, 3, 4],
        ),
        one(
            "Transpose",
            "perm",
            &["x"],
            vec![("perm", ints(&[1, 2, 0]))],
            vec![],
            &[2, 3, 4],
        ),
        one(
            "Transpose",
            "default reverses",
            &["x"],
            vec![],
            vec![],
            &[2, 3, 4],
        ),
        one(
            "Squeeze",
            "axes input",
            &["x", "a"],
            vec![],
            vec![("a", i64s(&[1], &[1]))],
            &[2, 1, 4],
        ),
        one("Squeeze", "all ones", &["x"], vec![], vec![], &[2, 1, 4, 1]),
        one(
            "Squeeze",
            "opset 11 axes attribute",
            &["x"],
            vec![("axes", ints(&[-1]))],
            vec![],
            &[2, 3, 1],
        )
        .opset(11),
        one(
            "Unsqueeze",
            "axes input",
            &["x", "a"],
            vec![],
            vec![("a", i64s(&[2], &[0, 3]))],
            &[2, 3],
        ),
        one(
            "Unsqueeze",
            "opset 11 axes attribute",
            &["x"],
            vec![("axes", ints(&[-1]))],
            vec![],
            &[2, 3],
        )
        .opset(11),
        one(
            "Concat",
            "with a constant, axis 1",
            &["x", "c"],
            vec![axis(1)],
            vec![("c", f32s(&[2, 2, 4], 1))],
            &[2, 3, 4],
        ),
        one(
            "Concat",
            "input twice, axis -1",
            &["x", "c", "x"],
            vec![axis(-1)],
            vec![("c", f32s(&[2, 3, 1], 2))],
            &[2, 3, 4],
        ),
        one(
            "Gather",
            "axis 0, repeated index",
            &["x", "i"],
            vec![],
            vec![("i", i64s(&[3], &[2, 0, 2]))],
            &[3, 4],
        ),
        one(
            "Gather",
            "axis 1, negative index, 2-D indices",
            &["x", "i"],
            vec![axis(1)],
            vec![("i", i64s(&[2, 2], &[-1, 0, 1, -1]))],
            &[2, 3, 4],
        ),
        one(
            "Gather",
            "scalar index",
            &["x", "i"],
            vec![axis(2)],
            vec![("i", i64s(&[], &[1]))],
            &[2, 3, 4],
        ),
        one(
            "Slice",
            "step 1 with axes",
            &["x", "st", "en", "ax"],
            vec![],
            vec![
                ("st", i64s(&[2], &[1, 0])),
                ("en", i64s(&[2], &[3, -1])),
                ("ax", i64s(&[2], &[1, 2])),
            ],
            &[2, 3, 4],
        ),
        one(
            "Slice",
            "step 2",
            &["x", "st", "en", "ax", "sp"],
            vec![],
            vec![
                ("st", i64s(&[1], &[0])),
                ("en", i64s(&[1], &[100])),
                ("ax", i64s(&[1], &[-1])),
                ("sp", i64s(&[1], &[2])),
            ],
            &[2, 3, 5],
        ),
        one(
            "Slice",
            "negative step",
            &["x", "st", "en", "ax", "sp"],
            vec![],
            vec![
                ("st", i64s(&[1], &[-1])),
                ("en", i64s(&[1], &[-100])),
                ("ax", i64s(&[1], &[1])),
                ("sp", i64s(&[1], &[-2])),
            ],
            &[2, 5, 3],
        ),
        one(
            "Slice",
            "opset 9 attributes",
            &["x"],
            vec![
                ("starts", ints(&[1])),
                ("ends", ints(&[3])),
                ("axes", ints(&[0])),
            ],
            vec![],
            &[4, 3],
        )
        .opset(9),
        one(
            "Pad",
            "constant value, both sides",
            &["x", "p", "v"],
            vec![],
            vec![("p", i64s(&[6], &[0, 1, 2, 0, 2, 1])), ("v", scalar(0.7))],
            &[2, 3, 4],
        ),
        one(
            "Pad",
            "edge",
            &["x", "p"],
            vec![("mode", Attr::Str("edge".into()))],
            vec![("p", i64s(&[4], &[1, 2, 2, 1]))],
            &[3, 4],
        ),
        one(
            "Pad",
            "negative pads crop",
            &["x", "p"],
            vec![],
            vec![("p", i64s(&[4], &[-1, 1, 0, -2]))],
            &[3, 4],
        ),
        one(
            "Pad",
            "axes input (opset 18)",
            &["x", "p", "", "a"],
            vec![],
            vec![("p", i64s(&[2], &[1, 2])), ("a", i64s(&[1], &[-1]))],
            &[2, 3],
        )
        .opset(18),
        one(
            "Pad",
            "opset 2 attributes",
            &["x"],
            vec![("pads", ints(&[1, 0, 0, 1])), ("value", Attr::Float(-0.5))],
            vec![],
            &[2, 3],
        )
        .opset(2),
    ]);
    // Ops that make constants or shapes: tested inside a graph that multiplies the input by
    // what they produce.
    v.extend([
        Case {
            op: "Shape",
            what: "x · Σ shape(x)".into(),
            opset: 17,
            nodes: vec![
                n("Shape", &["x"], &["s"], vec![]),
                n("Cast", &["s"], &["sf"], vec![("to", Attr::Int(1))]),
                n(
                    "ReduceSum",
                    &["sf"],
                    &["k"],
                    vec![("keepdims", Attr::Int(0))],
                ),
                n("Mul", &["x", "k"], &["y"], vec![]),
            ],
            consts: vec![],
            shape: vec![2, 3],
            positive: false,
            exact: None,
        },
        Case {
            op: "ConstantOfShape",
            what: "x · ConstantOfShape(shape(x), 2.5)".into(),
            opset: 17,
            nodes: vec![
                n("Shape", &["x"], &["s"], vec![]),
                n(
                    "ConstantOfShape",
                    &["s"],
                    &["c"],
                    vec![("value", Attr::Tensor(TensorData::f32(vec![1], vec![2.5])))],
                ),
                n("Mul", &["x", "c"], &["y"], vec![]),
            ],
            consts: vec![],
            shape: vec![2, 3],
            positive: false,
            exact: None,
        },
        Case {
            op: "Constant",
            what: "x · Constant tensor + Constant float".into(),
            opset: 17,
            nodes: vec![
                n(
                    "Constant",
                    &[],
                    &["c"],
                    vec![(
                        "value",
                        Attr::Tensor(TensorData::f32(vec![3], vec![0.5, -1.5, 2.0])),
                    )],
                ),
                n(
                    "Constant",
                    &[],
                    &["f"],
                    vec![("value_float", Attr::Float(0.25))],
                ),
                n("Mul", &["x", "c"], &["xc"], vec![]),
                n("Add", &["xc", "f"], &["y"], vec![]),
            ],
            consts: vec![],
            shape: vec![2, 3],
            positive: false,
            exact: None,
        },
        Case {
            op: "Cast",
            what: "float to float, plus a round trip through int64 (no gradient)".into(),
            opset: 17,
            nodes: vec![
                n("Cast", &["x"], &["xf"], vec![("to", Attr::Int(1))]),
                n("Mul", &["x", "x"], &["x2"], vec![]),
                n("Cast", &["x2"], &["xi"], vec![("to", Attr::Int(7))]),
                n("Cast", &["xi"], &["xr"], vec![("to", Attr::Int(1))]),
                n("Add", &["xf", "xr"], &["y"], vec![]),
            ],
            consts: vec![],
            shape: vec![2, 3],
            positive: false,
            exact: None,
        },
    ]);
    for op in ["RandomNormalLike", "RandomUniformLike"] {
        v.push(Case {
            op,
            what: "x + noise shaped like x: gradient of x alone".into(),
            opset: 17,
            nodes: vec![
                n(op, &["x"], &["z"], vec![]),
                n("Add", &["x", "z"], &["y"], vec![]),
            ],
            consts: vec![],
            shape: vec![2, 3],
            positive: false,
            exact: Some(1.0),
        });
    }
    v
}

#[test]
#[allow(clippy::print_stderr)] // the margin, visible with --nocapture
fn every_op_gradient_matches_finite_differences() {
    let mut worst = (0f64, String::new());
    let mut failures = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        // Every case runs, so one failure does not hide another.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(case, 1000 + i as u64)
        }));
        match run {
            Ok(w) if w > worst.0 => worst = (w, format!("{} ({})", case.op, case.what)),
            Ok(_) => {}
            Err(e) => failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
            ),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Visible with --nocapture: how close the worst case came to the tolerance.
    eprintln!("worst error / tolerance: {:.3} in {}", worst.0, worst.1);
}

#[test]
fn every_supported_op_has_a_gradient_case() {
    let tested: BTreeSet<&str> = cases().iter().map(|c| c.op).collect();
    let supported: BTreeSet<&str> = SUPPORTED_OPS.iter().copied().collect();
    let untested: Vec<_> = supported.difference(&tested).collect();
    let unknown: Vec<_> = tested.difference(&supported).collect();
    assert!(
        untested.is_empty() && unknown.is_empty(),
        "ops without a gradient case: {untested:?}; cases for ops the runtime does not support: {unknown:?}"
    );
}
