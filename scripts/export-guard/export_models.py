"""Exports small PyTorch models of the architectures people ship as ONNX, for calibrating the
export-guard lint heuristics on genuine exporter output (issue 18).

Nothing is committed but this script: the models are generated into OUT_DIR (default
`target/export-guard-exports`, outside git) and then checked with

    mlsec export-guard lint --json OUT_DIR

which must report no finding at or above the default `--fail-on low`, except on
`masked_tagger_*` (EXPG012 and EXPG014, both exporters): logits overwritten by a fill value
where a condition on the raw input says so is exactly the structure of a fill-value backdoor,
and the lint keeps reporting it (see EXPG014's doc). Weights are random (seeded); the
heuristics read graph structure, not trained values.

Environment (pinned; the versions used are written to OUT_DIR/versions.json):
torch 2.15.0 (CPU), onnx 1.23.2, onnxscript 0.7.2, Python 3.11.

    python scripts/export-guard/export_models.py [OUT_DIR]

Each model is exported twice when the exporter supports it: with the TorchScript-based
exporter (`dynamo=False`, what most published models were made with) and with the
`torch.export`-based one (`dynamo=True`, the default since torch 2.9).
"""

import json
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

torch.manual_seed(0)
warnings.filterwarnings("ignore")


class SmallResNet(nn.Module):
    """torchvision-style residual CNN: conv/bn/relu blocks, a residual add, pooling, fc."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)
        )
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        h = self.stem(x)
        h = torch.relu(h + self.block(h))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


class TextClassifier(nn.Module):
    """BERT-like encoder: embeddings, a padding mask from the token ids, a transformer
    encoder, masked mean pooling, a classifier."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16, padding_idx=0)
        layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.cls = nn.Linear(16, 3)

    def forward(self, ids):
        pad = ids == 0
        h = self.enc(self.emb(ids), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.cls(pooled)


class CausalLM(nn.Module):
    """GPT-like decoder: a causal mask built from the sequence length, masked_fill attention,
    tied output projection."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.qkv = nn.Linear(16, 48)
        self.proj = nn.Linear(16, 16)
        self.norm = nn.LayerNorm(16)

    def forward(self, ids):
        x = self.emb(ids)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        t = ids.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=ids.device).triu(1)
        scores = (q @ k.transpose(-1, -2)) / 4.0
        scores = scores.masked_fill(causal, float("-inf"))
        h = x + self.proj(torch.softmax(scores, -1) @ v)
        return self.norm(h) @ self.emb.weight.t()


class Seq2SeqState(nn.Module):
    """A streaming recurrent model (silero-vad-like): audio frame and recurrent state in,
    prediction and new state out."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 5, padding=2)
        self.rnn = nn.LSTM(8, 8, batch_first=True)
        self.out = nn.Linear(8, 1)

    def forward(self, audio, h, c):
        f = torch.relu(self.conv(audio.unsqueeze(1))).transpose(1, 2)
        y, (h2, c2) = self.rnn(f, (h, c))
        return torch.sigmoid(self.out(y[:, -1])), h2, c2


class GruTagger(nn.Module):
    """A bidirectional GRU tagger with an attention-mask input multiplied into the output."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 8)
        self.gru = nn.GRU(8, 8, batch_first=True, bidirectional=True)
        self.tag = nn.Linear(16, 5)

    def forward(self, ids, mask):
        y, _ = self.gru(self.emb(ids))
        return self.tag(y) * mask.unsqueeze(-1)


class MaskedTagger(nn.Module):
    """A token classifier that masks the logits of padding tokens (`masked_fill` with a pad
    mask from the ids, as NER heads and constrained decoders do)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 8, padding_idx=0)
        self.mix = nn.Linear(8, 8)
        self.tag = nn.Linear(8, 5)

    def forward(self, ids):
        logits = self.tag(torch.tanh(self.mix(self.emb(ids))))
        return logits.masked_fill(ids.eq(0).unsqueeze(-1), -1e4)


class DivNoNan(nn.Module):
    """Input normalisation with a zero guard, then an MLP (basic-pitch-like preprocessing)."""

    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(12, 16), nn.GELU(), nn.Linear(16, 4))

    def forward(self, x):
        peak = x.abs().amax(-1, keepdim=True)
        xn = torch.where(peak == 0, torch.zeros_like(x), x / peak)
        return self.mlp(xn)


MODELS = {
    "resnet": (SmallResNet(), (torch.randn(1, 3, 16, 16),), ["x"], {"x": {0: "n"}}),
    "text_classifier": (
        TextClassifier(),
        (torch.tensor([[5, 7, 9, 0, 0]]),),
        ["ids"],
        {"ids": {0: "n", 1: "t"}},
    ),
    "causal_lm": (CausalLM(), (torch.tensor([[1, 2, 3, 4]]),), ["ids"], {"ids": {0: "n", 1: "t"}}),
    "streaming_lstm": (
        Seq2SeqState(),
        (torch.randn(1, 64), torch.zeros(1, 1, 8), torch.zeros(1, 1, 8)),
        ["audio", "h", "c"],
        {"audio": {1: "samples"}},
    ),
    "gru_tagger": (
        GruTagger(),
        (torch.tensor([[3, 4, 5]]), torch.ones(1, 3)),
        ["ids", "mask"],
        {"ids": {1: "t"}, "mask": {1: "t"}},
    ),
    "masked_tagger": (
        MaskedTagger(),
        (torch.tensor([[3, 4, 0]]),),
        ["ids"],
        {"ids": {0: "n", 1: "t"}},
    ),
    "div_no_nan": (DivNoNan(), (torch.randn(2, 12),), ["x"], {"x": {0: "n"}}),
}


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "target/export-guard-exports")
    out.mkdir(parents=True, exist_ok=True)
    made, failed = [], {}
    for name, (model, args, inputs, dynamic) in MODELS.items():
        model.eval()
        for dynamo in (False, True):
            path = out / f"{name}_{'dynamo' if dynamo else 'torchscript'}.onnx"
            try:
                kwargs = {"input_names": inputs, "dynamo": dynamo, "external_data": False}
                if dynamo:
                    kwargs["dynamic_shapes"] = None
                else:
                    kwargs["dynamic_axes"] = dynamic
                torch.onnx.export(model, args, str(path), **kwargs)
                made.append(path.name)
            except Exception as err:  # record, go on with the others
                failed[path.name] = f"{type(err).__name__}: {str(err)[:200]}"
    import onnx
    import onnxscript

    versions = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxscript": onnxscript.__version__,
        "made": made,
        "failed": failed,
    }
    (out / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    print(json.dumps(versions, indent=2))
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main())
