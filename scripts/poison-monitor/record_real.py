"""Records per-rank poison-monitor statistics from real PyTorch DDP training (gloo, CPU).

Writes testdata/poison-monitor/real/<run>/ for every run below:

- ``worker_<rank>.jsonl``: the v1 records exactly as ``integrations/pytorch/mlsec_hook`` writes
  them, rounded to 7 significant digits and without the wall-clock ``t`` (compact, and the
  files do not change from one recording to the next).
- ``pairs.txt``: per step, the cosines between every pair of ranks' local gradients (upper
  triangle, row-major), from an all-gather this recorder does beside the hook. The monitor
  never reads it: the replay (``mlsec_poison_monitor::replay``) uses it to inject attacks into
  the honest recording (scale, sign flip, noise, drift) with every rank's statistics
  recomputed consistently.
- ``noise.txt``: per step and rank, the ``l1_ratio`` the rank's gradient would have with
  Gaussian noise of 1x and 3x its norm added (a seeded draw per rank and step, computed on
  the real gradient here): the shape statistic is not a function of the Gram matrix, so the
  replay's noise attacks take it from this file instead of approximating it. (Scaling and
  sign flips leave ``l1_ratio`` unchanged.)
- ``oracle.txt``: per step, the cosine of every rank's local gradient to the gradient of the
  loss over the whole training set at the same weights (the direction the ranks' batch
  gradients estimate; computed here with an extra backward pass per rank, which changes
  nothing the hook sees). The monitor never reads it: ``cargo xtask bench poison-monitor``
  uses it for the best a detector could do against a sign flip (a test that knows this
  direction), next to what the detector does.
- ``sketch_<rank>.i8``: the ``sketch`` of each of the rank's records, in the order of its
  ``worker_<rank>.jsonl`` lines, moved out of the JSON (256 numbers as text would make the
  recordings ten times larger): per record a little-endian float32 scale and ``sketch_dim``
  signed bytes, value = scale x byte / 127 (the largest magnitude maps to +-127; a scale of 0:
  the record has no sketch). The monitor whitens with a ridge of a tenth of the mean variance,
  far above this rounding.
- ``meta.json``: the run's configuration, the torch version, the gradient size and
  ``sketch_dim``.

The hook's records carry ``cos_ref`` (cosine to the running mean gradient, ``ref_beta`` 0.99)
and ``l1_ratio`` since the hook computes them; the running reference is updated during the
``skip`` steps of a resumed job too, as it would be in the job itself.

Pinned: torch==2.15.0 (PyPI wheel, CPU), numpy 2.4.6, Python 3.11. Every run is seeded; gloo
on CPU with one thread per rank. Run with the venv that has torch:

    nice /work/venvs/torch/bin/python scripts/poison-monitor/record_real.py [--only NAME] [--out DIR] [--ref-beta B]

``--ref-beta`` records with another running-mean memory than the hook's default (experiments
outside the fixtures; the value goes into ``meta.json``).

Total: 12 runs, about 18 000 rank-steps, a few minutes on 2 cores.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "integrations", "pytorch"))

TORCH_VERSION = "2.15.0"

# name, model, world, steps, batch, optimiser, lr, schedule, steps trained before recording
RUNS = [
    dict(name="mlp-w4-sgd", model="mlp", world=4, steps=300, batch=64, opt="sgd", lr=0.05, sched="const", skip=0),
    dict(name="mlp-w4-adam-warmcos", model="mlp", world=4, steps=300, batch=64, opt="adam", lr=3e-3, sched="warmcos", skip=0),
    dict(name="mlp-w8-sgd-b256", model="mlp", world=8, steps=300, batch=256, opt="sgd", lr=0.1, sched="const", skip=0),
    dict(name="mlp-w2-sgd-b32", model="mlp", world=2, steps=300, batch=32, opt="sgd", lr=0.05, sched="const", skip=0),
    dict(name="mlp-w16-sgd-warmcos-b16", model="mlp", world=16, steps=200, batch=16, opt="sgd", lr=0.05, sched="warmcos", skip=0),
    dict(name="mlp-w4-sgd-resumed", model="mlp", world=4, steps=300, batch=64, opt="sgd", lr=0.05, sched="const", skip=600),
    dict(name="cnn-w4-sgd", model="cnn", world=4, steps=300, batch=32, opt="sgd", lr=0.05, sched="const", skip=0),
    dict(name="cnn-w8-adam-warmcos", model="cnn", world=8, steps=300, batch=32, opt="adam", lr=3e-3, sched="warmcos", skip=0),
    dict(name="cnn-w3-sgd-resumed-b64", model="cnn", world=3, steps=300, batch=64, opt="sgd", lr=0.05, sched="decay", skip=400),
    dict(name="tf-w4-adam-warmcos", model="transformer", world=4, steps=300, batch=32, opt="adam", lr=3e-3, sched="warmcos", skip=0),
    dict(name="tf-w6-adam-b16", model="transformer", world=6, steps=300, batch=16, opt="adam", lr=1e-3, sched="const", skip=0),
    dict(name="tf-w2-adam-resumed", model="transformer", world=2, steps=300, batch=32, opt="adam", lr=1e-3, sched="decay", skip=400),
]


def make_task(torch, kind, seed=0):
    """(dataset inputs, targets, model factory, loss function) of a small synthetic task."""
    g = torch.Generator().manual_seed(1000 + seed)
    nn = torch.nn
    if kind == "mlp":
        x = torch.randn(16384, 32, generator=g)
        teacher = torch.randn(32, 10, generator=g)
        y = (x @ teacher + 0.5 * torch.randn(16384, 10, generator=g)).argmax(1)

        def model():
            return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))

        return x, y, model, nn.functional.cross_entropy
    if kind == "cnn":
        x = torch.randn(8192, 1, 12, 12, generator=g)
        filt = torch.randn(10, 1, 5, 5, generator=g)
        y = nn.functional.conv2d(x, filt).amax(dim=(2, 3)).argmax(1)

        def model():
            return nn.Sequential(
                nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

        return x, y, model, nn.functional.cross_entropy
    if kind == "transformer":
        vocab, length = 32, 17
        logits = 3.0 * torch.randn(vocab, vocab, generator=g)
        trans = torch.softmax(logits, 1)
        seqs = torch.empty(8192, length, dtype=torch.long)
        seqs[:, 0] = torch.randint(vocab, (8192,), generator=g)
        for t in range(1, length):
            seqs[:, t] = torch.multinomial(trans[seqs[:, t - 1]], 1, generator=g).squeeze(1)

        class Tiny(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(vocab, 32)
                self.pos = nn.Parameter(0.02 * torch.randn(length - 1, 32))
                self.block = nn.TransformerEncoderLayer(32, 2, 64, dropout=0.0, batch_first=True)
                self.head = nn.Linear(32, vocab)
                self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(length - 1))

            def forward(self, s):
                h = self.emb(s) + self.pos
                return self.head(self.block(h, src_mask=self.mask, is_causal=True))

        def loss(out, target):
            return nn.functional.cross_entropy(out.reshape(-1, vocab), target.reshape(-1))

        return seqs[:, :-1], seqs[:, 1:], Tiny, loss
    raise ValueError(kind)


NOISE_SIGMAS = (1.0, 3.0)


def noisy_l1_ratio(torch, g, sigma, rank, step):
    """l1_ratio of g + n, n Gaussian with ||n|| = sigma ||g|| (seeded by rank and step)."""
    gen = torch.Generator().manual_seed(1_000_003 * (rank + 1) + 7919 * step + int(10 * sigma))
    u = torch.randn(g.numel(), generator=gen, dtype=torch.float64)
    x = g + sigma * g.norm() * u / u.norm()
    n2 = x.norm().item()
    return x.abs().sum().item() / (math.sqrt(x.numel()) * n2) if n2 > 0 else 0.0


def oracle_cosines(torch, dist, module, loss_fn, x, y, idx, world, rank):
    """Rank 0: the cosine of each rank's gradient on its batch ``idx`` to the gradient of the
    loss over all of ``x`` (same weights, before this step's update). Parameter order, outside
    DDP (``autograd.grad`` on the module: no all-reduce, no ``.grad`` written)."""
    params = list(module.parameters())
    local = torch.autograd.grad(loss_fn(module(x[idx]), y[idx]), params)
    local = torch.cat([t.reshape(-1) for t in local]).double()
    gathered = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(gathered, local)
    if rank != 0:
        return None
    full = torch.autograd.grad(loss_fn(module(x), y), params)
    full = torch.cat([t.reshape(-1) for t in full]).double()
    g = torch.stack(gathered)
    return ((g @ full) / (g.norm(dim=1) * full.norm()).clamp_min(1e-300)).tolist()


def lr_at(cfg, step):
    base, total = cfg["lr"], cfg["skip"] + cfg["steps"]
    if cfg["sched"] == "const":
        return base
    if cfg["sched"] == "decay":  # step decay: x0.3 at 60 % and 85 % of the job
        return base * (0.3 ** ((step >= 0.6 * total) + (step >= 0.85 * total)))
    warm = 30
    if step < warm:
        return base * (step + 1) / warm
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))


def worker(rank, cfg, out, port):
    import torch
    import torch.distributed as dist
    from mlsec_hook import PoisonMonitorHook

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    world = cfg["world"]
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(7)
    x, y, factory, loss_fn = make_task(torch, cfg["model"])
    model = torch.nn.parallel.DistributedDataParallel(factory())

    class Recording(PoisonMonitorHook):
        """The shipped hook, plus this rank's local bucket gradients for the pair cosines."""

        def _accumulate(self, torch_, local, mean, bucket):
            self.locals.append(local.reshape(-1))
            super()._accumulate(torch_, local, mean, bucket)

    monitor = Recording(run=cfg["name"], log_dir=out, host=None, ref_beta=cfg.get("ref_beta", 0.99))
    monitor.locals = []
    model.register_comm_hook(state=None, hook=monitor.hook)
    params = model.parameters()
    opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9) if cfg["opt"] == "sgd" else torch.optim.Adam(params, lr=cfg["lr"])
    shard = torch.arange(rank, x.shape[0], world)
    gen = torch.Generator().manual_seed(100 * rank + 17)
    pairs = [] if rank == 0 else None
    noise_lines = []
    oracle_lines = []
    numel = sum(p.numel() for p in model.parameters())
    for step in range(cfg["skip"] + cfg["steps"]):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, step)
        idx = shard[torch.randint(len(shard), (cfg["batch"],), generator=gen)]
        if step >= cfg["skip"]:
            oracle = oracle_cosines(torch, dist, model.module, loss_fn, x, y, idx, world, rank)
            if rank == 0:
                oracle_lines.append("%d %s" % (step, " ".join("%.5f" % v for v in oracle)))
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        monitor.locals = []
        loss.backward()
        opt.step()
        if step < cfg["skip"]:
            monitor.reset()
            continue
        flat = torch.cat(monitor.locals).double()
        gathered = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        noisy = torch.tensor([noisy_l1_ratio(torch, flat, sigma, rank, step) for sigma in NOISE_SIGMAS],
                             dtype=torch.float64)
        noisy_all = [torch.empty_like(noisy) for _ in range(world)]
        dist.all_gather(noisy_all, noisy)
        if rank == 0:
            noise_lines.append("%d %s" % (step, " ".join("%.7g" % v for v in torch.cat(noisy_all).tolist())))
        if rank == 0:
            gram = torch.stack(gathered)
            norms = gram.norm(dim=1).clamp_min(1e-300)
            cos = (gram @ gram.T) / (norms[:, None] * norms[None, :])
            iu = torch.triu_indices(world, world, 1)
            pairs.append("%d %s" % (step, " ".join("%.5f" % v for v in cos[iu[0], iu[1]].tolist())))
        monitor.flush(step, loss.item(), opt.param_groups[0]["lr"])
    monitor.close()
    if rank == 0:
        with open(os.path.join(out, "pairs.txt"), "w") as f:
            f.write("# cosines between the ranks' local gradients, pairs (i<j) row-major, per step\n")
            f.write("\n".join(pairs) + "\n")
        with open(os.path.join(out, "noise.txt"), "w") as f:
            f.write("# l1_ratio with Gaussian noise of %s x the gradient's norm added, per step: "
                    "rank 0 (each sigma), rank 1, ...\n" % " and ".join("%g" % s for s in NOISE_SIGMAS))
            f.write("\n".join(noise_lines) + "\n")
        with open(os.path.join(out, "oracle.txt"), "w") as f:
            f.write("# cosine of each rank's local gradient to the whole training set's gradient, per step: "
                    "rank 0, rank 1, ...\n")
            f.write("\n".join(oracle_lines) + "\n")
        with open(os.path.join(out, "numel"), "w") as f:
            f.write(str(numel))
    dist.barrier()
    dist.destroy_process_group()


def quantised_sketch(sketch, dim):
    """The ``sketch_<rank>.i8`` entry of one record (see the module docstring)."""
    if sketch is None:
        return struct.pack("<f", 0.0) + bytes(dim)
    scale = max(abs(x) for x in sketch)
    if scale == 0.0:
        return struct.pack("<f", 0.0) + bytes(dim)
    q = [max(-127, min(127, round(127.0 * x / scale))) for x in sketch]
    return struct.pack("<f%db" % dim, scale, *q)


def compact(out, cfg, torch_version, seconds):
    """Rounds the hook's records to 7 significant digits, drops the wall-clock time and moves
    the sketches into ``sketch_<rank>.i8``."""

    def g7(v):
        return float("%.7g" % v) if isinstance(v, float) and math.isfinite(v) else v

    dim = None
    for name in sorted(os.listdir(out)):
        if not name.endswith(".jsonl"):
            continue
        path = os.path.join(out, name)
        lines = []
        sketches = []
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                rec.pop("t", None)
                sketch = rec.pop("sketch", None)
                if sketch is not None:
                    dim = dim or len(sketch)
                    assert len(sketch) == dim, "sketch length changed"
                sketches.append(sketch)
                lines.append(json.dumps({k: g7(v) for k, v in rec.items()}, separators=(",", ":")))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if dim:
            rank = name[len("worker_"):-len(".jsonl")]
            with open(os.path.join(out, "sketch_%s.i8" % rank), "wb") as f:
                f.write(b"".join(quantised_sketch(s, dim) for s in sketches))
    with open(os.path.join(out, "numel")) as f:
        numel = int(f.read())
    os.remove(os.path.join(out, "numel"))
    meta = dict(cfg, torch=torch_version, numel=numel, record_seconds=round(seconds, 1),
                generator="scripts/poison-monitor/record_real.py", sketch_dim=dim)
    with open(os.path.join(out, "meta.json"), "w") as f:
        f.write(json.dumps(meta, indent=1, sort_keys=True) + "\n")


def main():
    import torch
    import torch.multiprocessing as mp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "testdata", "poison-monitor", "real"))
    parser.add_argument("--only", action="append", help="record only these runs")
    parser.add_argument("--ref-beta", type=float, default=None, help="the hook's ref_beta (default: the hook's, 0.99)")
    args = parser.parse_args()
    version = torch.__version__.split("+")[0]
    if version != TORCH_VERSION:
        print("warning: torch %s, the fixtures were recorded with %s" % (version, TORCH_VERSION), file=sys.stderr)
    for i, cfg in enumerate(RUNS):
        if args.only and cfg["name"] not in args.only:
            continue
        if args.ref_beta is not None:
            cfg = dict(cfg, ref_beta=args.ref_beta)
        out = os.path.join(args.out, cfg["name"])
        tmp = tempfile.mkdtemp(prefix="mlsec-record-")
        start = time.time()
        mp.spawn(worker, args=(cfg, tmp, 29500 + (os.getpid() % 200) * 20 + i), nprocs=cfg["world"], join=True)
        compact(tmp, cfg, version, time.time() - start)
        if os.path.exists(out):
            shutil.rmtree(out)
        shutil.copytree(tmp, out)
        shutil.rmtree(tmp)
        print("%s: %d ranks x %d steps in %.0f s" % (cfg["name"], cfg["world"], cfg["steps"], time.time() - start), flush=True)


if __name__ == "__main__":
    main()
