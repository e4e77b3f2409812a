"""mlsec poison-monitor hook for PyTorch DistributedDataParallel.

A DDP communication hook that wraps the standard all-reduce (mean) and, from what every rank
already has (its own bucket gradient before the all-reduce and the averaged gradient after
it), accumulates per step and without any extra communication:

- ``grad_norm``: this rank's global L2 gradient norm
- ``mean_norm``: the norm of the all-reduced (mean) gradient
- ``cos_mean``: cosine between this rank's gradient and the mean
- ``cos_loo``: cosine to the leave-one-out mean of the other ranks, from ||g||^2, ||m||^2,
  <g, m> and the world size n: m_loo = (n m - g) / (n - 1)
- ``sign_agree``: fraction of coordinates whose sign matches the mean's
- ``l1_ratio``: ||g||_1 / (sqrt(numel) ||g||_2), the shape of this rank's gradient (1 for a
  flat gradient, sqrt(2/pi) = 0.80 for Gaussian noise, lower for real gradients, whose scale
  differs from layer to layer); invariant to scaling and sign flips, moved by added noise
- ``cos_ref``: cosine between this rank's gradient and the *running* mean gradient, an
  exponential moving average (``ref_beta``, default 0.99: about 100 steps) of the all-reduced
  gradients of the previous steps. It is the same reference for every rank and, unlike the
  mean of one step, its noise has averaged out: while training follows a direction, a rank
  whose gradient points against it (a sign flip) has a negative ``cos_ref``. Absent on a step
  where the reference was (re)started (the first step, or after DDP rebuilt its buckets).
- ``sketch``: ``sketch_dim`` numbers (default 256), a fixed random linear map of this rank's
  gradient: each bucket is cut into rows of ``sketch_dim`` entries, each row is multiplied by
  a random sign (the same on every rank: seeded by the bucket's index and size) and the rows
  are summed. The monitor estimates the covariance of the ranks' gradient noise in this
  space and derives ``cos_ref_white``, the gradient against the direction of training in the
  metric of that noise (it sees a sign flip that plain cosines miss). Absent where
  ``cos_ref`` is; ``sketch_dim=None`` leaves it out (a record of about 3.5 kB instead of
  300 bytes).

Per bucket the hook costs one copy of the bucket (the all-reduce works in place), one
element-wise product, five BLAS dot products, an absolute sum, one count, one in-place
``lerp_`` of the reference (a float32 buffer the size of the gradient, kept per bucket; pass
``ref_beta=None`` to do without it and ``cos_ref``) and one matrix-vector product for the
sketch (its signs: one float32 per ``sketch_dim`` entries of the bucket), written into
preallocated device tensors: no Python loop over elements, no host synchronisation until
``flush``.

``flush(step, loss, lr)`` writes one JSON line per step (``worker_<rank>.jsonl`` in
``log_dir``) and sends the same record as one UDP datagram to ``mlsec poison-monitor listen``;
with a key, the datagram is ``<64 hex HMAC-SHA256 of the JSON bytes> <space> <JSON bytes>``.
Every error in the hook's bookkeeping is swallowed: monitoring never breaks or blocks training.

Example (runs on CPU with the gloo backend and on GPUs with NCCL)::

    import os, torch, torch.distributed as dist
    from mlsec_hook import PoisonMonitorHook

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    model = torch.nn.Linear(16, 1)
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        model = torch.nn.parallel.DistributedDataParallel(model.cuda(), device_ids=[local_rank])
    else:
        model = torch.nn.parallel.DistributedDataParallel(model)
    monitor = PoisonMonitorHook(run="job-42", log_dir="logs", host="127.0.0.1", port=5454)
    model.register_comm_hook(state=None, hook=monitor.hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    device = next(model.parameters()).device
    for step in range(100):
        x = torch.randn(32, 16, device=device)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        monitor.flush(step, loss.item(), opt.param_groups[0]["lr"])

Launch it with ``torchrun --nproc-per-node 4 train.py`` beside
``mlsec poison-monitor listen --expected-workers 4``. Keys: ``key=open("mlsec.key", "rb").read()``
here and ``--key-file mlsec.key`` there.

Only the standard library is needed at import time; torch is imported when the hook runs.
"""

import hashlib
import hmac
import json
import math
import os
import socket
import time

__all__ = [
    "PoisonMonitorHook",
    "cosines_from_dots",
    "record_from_sums",
    "seal",
    "ListAccumulator",
]


def cosines_from_dots(gg, mm, gm, n):
    """(cos to the mean, cos to the leave-one-out mean) from ||g||^2, ||m||^2, <g,m>, world n.

    ``m`` is the mean over all ``n`` ranks, ``g`` included. Degenerate norms give 0.
    """

    def cos(dot, a, b):
        if a <= 0.0 or b <= 0.0:
            return 0.0
        return max(-1.0, min(1.0, dot / math.sqrt(a * b)))

    cos_mean = cos(gm, gg, mm)
    if n < 2:
        return cos_mean, cos_mean
    g_mloo = (n * gm - gg) / (n - 1.0)
    mloo_sq = max(0.0, (n * n * mm - 2.0 * n * gm + gg) / ((n - 1.0) ** 2))
    return cos_mean, cos(g_mloo, gg, mloo_sq)


def record_from_sums(run, rank, world, step, loss, lr, gg, mm, gm, agree, numel, layers=None, t=None,
                     l1=None, ge=None, ee=None, sketch=None):
    """The v1 record (a dict) from the accumulated sums of one step.

    ``l1`` is ||g||_1; ``ge`` and ``ee`` are <g, r> and ||r||^2 for the running reference r
    (``cos_ref`` is written only when ``ee`` > 0); ``sketch`` is the list of sketch values
    (written with 7 significant digits, when all are finite).
    """
    cos_mean, cos_loo = cosines_from_dots(gg, mm, gm, world)
    record = {
        "v": 1,
        "run": run,
        "rank": rank,
        "world": world,
        "step": step,
        "t": time.time() if t is None else t,
        "loss": float(loss),
        "lr": float(lr),
        "grad_norm": math.sqrt(gg) if gg >= 0 else float("nan"),
        "mean_norm": math.sqrt(mm) if mm >= 0 else float("nan"),
        "cos_mean": cos_mean,
        "cos_loo": cos_loo,
        "sign_agree": (agree / numel) if numel else 0.0,
    }
    if l1 is not None and numel and gg > 0:
        record["l1_ratio"] = min(1.0, l1 / math.sqrt(numel * gg))
    if ee is not None and ge is not None and ee > 0 and gg > 0:
        record["cos_ref"] = max(-1.0, min(1.0, ge / math.sqrt(gg * ee)))
    if gg != gg or mm != mm or gm != gm:  # NaN anywhere: report it, it is the signal
        record["grad_norm"] = float("nan") if gg != gg else record["grad_norm"]
        record["cos_mean"] = float("nan")
        record["cos_loo"] = float("nan")
    if sketch is not None and all(math.isfinite(x) for x in sketch):
        record["sketch"] = [float("%.7g" % x) for x in sketch]
    if layers:
        record["layers"] = layers
    return record


def seal(key, payload):
    """The authenticated datagram: hex HMAC-SHA256 tag, one space, the JSON bytes."""
    tag = hmac.new(key, payload, hashlib.sha256).hexdigest()
    return tag.encode("ascii") + b" " + payload


class ListAccumulator:
    """The hook's arithmetic on plain Python lists (what the tests check without torch)."""

    def __init__(self, sketch_dim=None):
        self.sketch_dim = sketch_dim
        self.reset()

    def reset(self):
        self.gg = self.mm = self.gm = self.l1 = self.ge = self.ee = 0.0
        self.agree = 0
        self.numel = 0
        self.sketch = [0.0] * self.sketch_dim if self.sketch_dim else None

    def add_bucket(self, local, mean, ref=None, signs=None):
        """``signs``: the bucket's row signs (``sketch_signs``), with ``sketch_dim`` set."""
        if self.sketch is not None:
            for j, g in enumerate(local):
                self.sketch[j % self.sketch_dim] += signs[j // self.sketch_dim] * g
        ref = ref if ref is not None else [0.0] * len(local)
        for g, m, r in zip(local, mean, ref):
            self.gg += g * g
            self.mm += m * m
            self.gm += g * m
            self.l1 += abs(g)
            self.ge += g * r
            self.ee += r * r
            if g * m > 0:  # same sign, both non-zero
                self.agree += 1
        self.numel += len(local)


def sketch_signs(torch, index, numel, dim, device=None):
    """The row signs of bucket ``index`` (``numel`` entries) for a sketch of ``dim``: one +-1
    per started row, from a generator seeded by the bucket's index and size, so every rank
    draws the same."""
    rows = -(-numel // dim)
    gen = torch.Generator().manual_seed(0x6D6C7365 + 1_000_003 * index + numel)
    signs = torch.randint(0, 2, (rows,), generator=gen).float() * 2.0 - 1.0
    return signs.to(device) if device is not None else signs


def bucket_sketch(torch, g, signs, dim):
    """The sketch of one flat bucket: rows of ``dim`` entries (the last one short), each times
    its sign, summed: one matrix-vector product and a short tail."""
    full = g.numel() // dim
    s = signs.to(g.dtype)
    out = s[:full] @ g[:full * dim].view(full, dim) if full else g.new_zeros(dim)
    tail = g.numel() - full * dim
    if tail:
        out[:tail] += s[full] * g[full * dim:]
    return out


def bucket_sums(torch, local, mean, ref=None):
    """(||g||^2, ||m||^2, <g,m>, sign matches, ||g||_1, <g,r>, ||r||^2) of one bucket as one
    7-vector on the device; ``ref`` is the bucket's running reference (float32) or None (0, 0).

    The sign matches (``g * m > 0``: same sign, both non-zero) are counted from s = sign(g * m)
    as (sum(s) + <s, s>) / 2, a sum and a dot: on CPU that is 2-4x cheaper than summing the
    boolean ``g * m > 0`` (exact in float32 up to 2^24 elements per bucket; DDP's default 25 MB
    bucket holds 6.5 M float32). Half-precision buckets are summed in float32 (their squares
    overflow float16).
    """
    g = local.reshape(-1)
    m = mean.reshape(-1)
    if g.dtype not in (torch.float32, torch.float64):
        g = g.float()
        m = m.float()
    prod = g * m
    gm = prod.sum()
    if ref is None:
        zero = g.new_zeros(())
        ge = ee = zero
    else:
        r = ref.to(g.dtype)
        ge = torch.dot(g, r)
        ee = torch.dot(r, r)
    sign = prod.sign_()  # prod is summed first, then reused in place
    return torch.stack((torch.dot(g, g), torch.dot(m, m), gm, (sign.sum() + torch.dot(sign, sign)) * 0.5,
                        g.abs().sum(), ge, ee))


def torch_cat(a, b):
    """``torch.cat((a, b))`` without importing torch at module level."""
    import torch

    return torch.cat((a, b.to(a.device, a.dtype)))


class PoisonMonitorHook:
    """DDP communication hook: all-reduce (mean) plus per-rank statistics, one record per step."""

    def __init__(self, run="run", log_dir=None, host="127.0.0.1", port=5454, key=None,
                 process_group=None, per_bucket=False, ref_beta=0.99, sketch_dim=256):
        self.run = str(run)
        self.log_dir = log_dir
        self.address = (host, int(port)) if host else None
        self.key = key.rstrip() if isinstance(key, (bytes, bytearray)) else (key.encode().rstrip() if key else None)
        self.process_group = process_group
        self.per_bucket = per_bucket
        self.ref_beta = ref_beta
        self.sketch_dim = int(sketch_dim) if sketch_dim and ref_beta is not None else None
        self._refs = {}  # bucket index -> (signature, float32 running mean of the all-reduced bucket, sketch signs)
        self._sketch = None
        self._ref_restarted = False
        self._sock = None
        self._file = None
        self._acc = None
        self._layers = {}
        self._numel = 0
        self._world = None
        self._rank = None

    # -- the hook ---------------------------------------------------------------------------

    def _group(self, dist):
        return self.process_group if self.process_group is not None else dist.group.WORLD

    def hook(self, state, bucket):
        """The communication hook: ``ddp_model.register_comm_hook(state=None, hook=monitor.hook)``."""
        import torch
        import torch.distributed as dist

        group = self._group(dist)
        if self._world is None:
            self._world = dist.get_world_size(group)
            self._rank = dist.get_rank(group)
        tensor = bucket.buffer()
        try:
            local = tensor.clone()
        except Exception:
            local = None
        tensor.div_(self._world)
        fut = dist.all_reduce(tensor, group=group, async_op=True).get_future()

        def done(fut):
            mean = fut.value()[0]
            if local is not None:
                try:
                    self._accumulate(torch, local, mean, bucket)
                except Exception:
                    pass
            return mean

        return fut.then(done)

    def _reference(self, torch, mean, bucket):
        """This bucket's running reference before this step, or None when it (re)starts.

        DDP rebuilds its buckets after the first step (and may again): a reference is kept
        only while the bucket holds the same parameters (first and last storage, count).
        """
        if self.ref_beta is None:
            return None
        params = bucket.parameters()
        signature = (mean.numel(), len(params), params[0].data_ptr(), params[-1].data_ptr()) if params else None
        index = bucket.index()
        kept = self._refs.get(index)
        if kept is not None and kept[0] == signature:
            return kept[1]
        signs = sketch_signs(torch, index, mean.numel(), self.sketch_dim, mean.device) if self.sketch_dim else None
        self._refs[index] = (signature, torch.zeros(mean.numel(), dtype=torch.float32, device=mean.device), signs)
        self._ref_restarted = True
        return None

    def _accumulate(self, torch, local, mean, bucket):
        ref = None
        try:
            ref = self._reference(torch, mean, bucket)
        except Exception:
            self._ref_restarted = True
        sums = bucket_sums(torch, local, mean, ref)
        kept = self._refs.get(bucket.index())
        if self.sketch_dim and kept is not None:
            g = local.reshape(-1)
            # Summed in the bucket's precision (float32 for half buckets), widened once at the
            # flush: the detector's whitening needs no more than float32's 7 digits.
            sketch = bucket_sketch(torch, g if g.dtype in (torch.float32, torch.float64) else g.float(), kept[2],
                                   self.sketch_dim)
            self._sketch = sketch if self._sketch is None else self._sketch.add_(sketch)
        if self.ref_beta is not None and bucket.index() in self._refs:
            # A non-finite mean (an AMP overflow step the scaler skips, or a NaN rank) must not
            # stay in the reference for good: it enters as zeros.
            m = torch.nan_to_num(mean.reshape(-1).float(), nan=0.0, posinf=0.0, neginf=0.0)
            self._refs[bucket.index()][1].lerp_(m, 1.0 - self.ref_beta)
        if self._acc is None:
            self._acc = sums.to(torch.float64)
        else:
            self._acc.add_(sums)
        self._numel += local.numel()
        if self.per_bucket:
            try:
                index = bucket.index()
            except Exception:
                index = len(self._layers)
            self._layers["bucket.%d" % index] = sums[0]

    # -- per step ---------------------------------------------------------------------------

    def reset(self):
        """Drops this step's sums without reporting them (e.g. steps not to be monitored)."""
        self._acc = None
        self._sketch = None
        self._numel = 0
        self._layers = {}
        self._ref_restarted = False

    def flush(self, step, loss, lr):
        """Writes and sends this step's record; never raises."""
        try:
            self._flush(step, loss, lr)
        except Exception:
            pass
        finally:
            self.reset()

    def _flush(self, step, loss, lr):
        if self._acc is None:
            return
        with_sketch = self._sketch is not None
        values = (torch_cat(self._acc, self._sketch) if with_sketch else self._acc).tolist()  # the one host sync
        gg, mm, gm, agree, l1, ge, ee = values[:7]
        layers = {k: math.sqrt(float(v)) for k, v in self._layers.items()} if self._layers else None
        with_ref = self.ref_beta is not None and not self._ref_restarted
        sketch = values[7:] if with_ref and with_sketch else None
        record = record_from_sums(self.run, self._rank, self._world, int(step), loss, lr, gg, mm, gm,
                                  agree, self._numel, layers, l1=l1, ge=ge if with_ref else None,
                                  ee=ee if with_ref else None, sketch=sketch)
        self.emit(record, self._rank)

    def emit(self, record, rank):
        """Writes the JSON line and sends the datagram (each error swallowed separately)."""
        payload = json.dumps(record, separators=(",", ":")).encode("utf-8")
        if self.log_dir:
            try:
                if self._file is None:
                    os.makedirs(self.log_dir, exist_ok=True)
                    self._file = open(os.path.join(self.log_dir, "worker_%d.jsonl" % rank), "ab")
                self._file.write(payload + b"\n")
                self._file.flush()
            except Exception:
                pass
        if self.address:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    self._sock.setblocking(False)
                datagram = seal(self.key, payload) if self.key else payload
                self._sock.sendto(datagram, self.address)
            except Exception:
                pass

    def close(self):
        """Closes the log file and the socket (optional; both are closed at exit anyway)."""
        for f in (self._file, self._sock):
            try:
                if f is not None:
                    f.close()
            except Exception:
                pass
        self._file = None
        self._sock = None
