//! A compact table of standard operators: name and the opset that introduced it.
//!
//! Covers `ai.onnx` up to opset 25 (ONNX 1.20, IR 14), `ai.onnx.ml` and
//! `ai.onnx.preview.training`. Deprecated ops (`Upsample`, `Scatter`) are kept with their
//! introduction version: runtimes still accept them.

/// The newest `ai.onnx` opset the table describes.
pub const MAX_KNOWN_OPSET: i64 = 25;

const AI_ONNX: &str = "Abs:1 Acos:7 Acosh:9 Add:1 AffineGrid:20 And:1 ArgMax:1 ArgMin:1 Asin:7 \
Asinh:9 Atan:7 Atanh:9 Attention:23 AveragePool:1 BatchNormalization:1 Bernoulli:15 BitCast:25 \
BitShift:11 BitwiseAnd:18 BitwiseNot:18 BitwiseOr:18 BitwiseXor:18 BlackmanWindow:17 Cast:1 \
CastLike:15 Ceil:1 Celu:12 CenterCropPad:18 Clip:1 Col2Im:18 Compress:9 Concat:1 \
ConcatFromSequence:11 Constant:1 ConstantOfShape:9 Conv:1 ConvInteger:10 ConvTranspose:1 Cos:7 \
Cosh:9 CumProd:24 CumSum:11 DFT:17 DeformConv:19 DepthToSpace:1 DequantizeLinear:10 Det:11 Div:1 \
Dropout:1 DynamicQuantizeLinear:11 Einsum:12 Elu:1 Equal:1 Erf:9 Exp:1 Expand:8 EyeLike:9 \
Flatten:1 Floor:1 GRU:1 Gather:1 GatherElements:11 GatherND:11 Gelu:20 Gemm:1 GlobalAveragePool:1 \
GlobalLpPool:1 GlobalMaxPool:1 Greater:1 GreaterOrEqual:12 GridSample:16 GroupNormalization:18 \
HammingWindow:17 HannWindow:17 HardSigmoid:1 HardSwish:14 Hardmax:1 Identity:1 If:1 \
ImageDecoder:20 InstanceNormalization:1 IsInf:10 IsNaN:9 LRN:1 LSTM:1 LayerNormalization:17 \
LeakyRelu:1 Less:1 LessOrEqual:12 Log:1 LogSoftmax:1 Loop:1 LpNormalization:1 LpPool:1 MatMul:1 \
MatMulInteger:10 Max:1 MaxPool:1 MaxRoiPool:1 MaxUnpool:9 Mean:1 MeanVarianceNormalization:9 \
MelWeightMatrix:17 Min:1 Mish:18 Mod:10 Mul:1 Multinomial:7 Neg:1 NegativeLogLikelihoodLoss:12 \
NonMaxSuppression:10 NonZero:9 Not:1 OneHot:9 Optional:15 OptionalGetElement:15 \
OptionalHasElement:15 Or:1 PRelu:1 Pad:1 Pow:1 QLinearConv:10 QLinearMatMul:10 QuantizeLinear:10 \
RMSNormalization:23 RNN:1 RandomNormal:1 RandomNormalLike:1 RandomUniform:1 RandomUniformLike:1 \
Range:11 Reciprocal:1 ReduceL1:1 ReduceL2:1 ReduceLogSum:1 ReduceLogSumExp:1 ReduceMax:1 \
ReduceMean:1 ReduceMin:1 ReduceProd:1 ReduceSum:1 ReduceSumSquare:1 RegexFullMatch:20 Relu:1 \
Reshape:1 Resize:10 ReverseSequence:10 RoiAlign:10 RotaryEmbedding:23 Round:11 STFT:17 Scan:8 \
Scatter:9 ScatterElements:11 ScatterND:11 Selu:1 SequenceAt:11 SequenceConstruct:11 \
SequenceEmpty:11 SequenceErase:11 SequenceInsert:11 SequenceLength:11 SequenceMap:17 Shape:1 \
Shrink:9 Sigmoid:1 Sign:9 Sin:7 Sinh:9 Size:1 Slice:1 Softmax:1 SoftmaxCrossEntropyLoss:12 \
Softplus:1 Softsign:1 SpaceToDepth:1 Split:1 SplitToSequence:11 Sqrt:1 Squeeze:1 StringConcat:20 \
StringNormalizer:10 StringSplit:20 Sub:1 Sum:1 Swish:24 Tan:7 Tanh:1 TensorScatter:24 \
TfIdfVectorizer:9 ThresholdedRelu:10 Tile:1 TopK:1 Transpose:1 Trilu:14 Unique:11 Unsqueeze:1 \
Upsample:7 Where:9 Xor:1";

const AI_ONNX_ML: &str = "ArrayFeatureExtractor:1 Binarizer:1 CastMap:1 CategoryMapper:1 \
DictVectorizer:1 FeatureVectorizer:1 Imputer:1 LabelEncoder:1 LinearClassifier:1 \
LinearRegressor:1 Normalizer:1 OneHotEncoder:1 SVMClassifier:1 SVMRegressor:1 Scaler:1 \
TreeEnsemble:5 TreeEnsembleClassifier:1 TreeEnsembleRegressor:1 ZipMap:1";

const TRAINING: &str = "Adagrad:1 Adam:1 Gradient:1 Momentum:1";

/// The domain the training operators live in.
pub const TRAINING_DOMAIN: &str = "ai.onnx.preview.training";

/// Runtime-specific domains whose ops are compiled into the runtime itself: onnxruntime's
/// contrib ops (`com.microsoft`, its sub-domains, the internal NHWC layout domain) ship in
/// every official onnxruntime build and are what its own quantizer and optimizer emit
/// (ddddocr's `com.microsoft::DynamicQuantizeLSTM`). They load no library.
pub fn is_builtin_runtime_domain(domain: &str) -> bool {
    domain == "com.microsoft"
        || domain.starts_with("com.microsoft.")
        || domain == "com.ms.internal.nhwc"
}

/// Domains whose ops run only on one runtime (and may load extension libraries).
pub fn is_runtime_domain(domain: &str) -> bool {
    is_builtin_runtime_domain(domain)
        || domain == "ai.onnx.contrib"
        || domain == "org.pytorch.aten"
        || domain.starts_with("org.pytorch.")
        || domain == "com.intel.ai"
        || domain == "trt.plugins"
}

/// The standard domain name (`""` and `"ai.onnx"` are the same domain).
pub fn normal_domain(domain: &str) -> &str {
    if domain == "ai.onnx" { "" } else { domain }
}

/// Whether a domain is one the table describes.
pub fn is_standard_domain(domain: &str) -> bool {
    matches!(normal_domain(domain), "" | "ai.onnx.ml" | TRAINING_DOMAIN)
}

/// The opset that introduced `op` in a standard `domain`, `None` when the op is unknown.
pub fn since_version(domain: &str, op: &str) -> Option<i64> {
    let table = match normal_domain(domain) {
        "" => AI_ONNX,
        "ai.onnx.ml" => AI_ONNX_ML,
        TRAINING_DOMAIN => TRAINING,
        _ => return None,
    };
    table.split_whitespace().find_map(|entry| {
        let (name, since) = entry.split_once(':')?;
        (name == op).then(|| since.parse().ok()).flatten()
    })
}

/// Ops that carry the learned computation of a model (the "trunk").
pub fn is_trunk(op: &str) -> bool {
    matches!(
        op,
        "Conv"
            | "ConvTranspose"
            | "ConvInteger"
            | "QLinearConv"
            | "MatMul"
            | "MatMulInteger"
            | "QLinearMatMul"
            | "Gemm"
            | "LSTM"
            | "GRU"
            | "RNN"
            | "Attention"
            | "DeformConv"
            | "Einsum"
    )
}

/// Comparison ops.
pub fn is_comparison(op: &str) -> bool {
    matches!(
        op,
        "Equal" | "Greater" | "Less" | "GreaterOrEqual" | "LessOrEqual" | "IsNaN" | "IsInf"
    )
}

/// Reductions.
pub fn is_reduction(op: &str) -> bool {
    op.starts_with("Reduce")
        || matches!(
            op,
            "ArgMax" | "ArgMin" | "GlobalAveragePool" | "GlobalMaxPool"
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_lookups() {
        assert_eq!(super::since_version("", "Where"), Some(9));
        assert_eq!(super::since_version("ai.onnx", "Gelu"), Some(20));
        assert_eq!(super::since_version("", "NoSuchOp"), None);
        assert_eq!(super::since_version("ai.onnx.ml", "ZipMap"), Some(1));
        assert_eq!(super::since_version("com.example", "Relu"), None);
    }
}
