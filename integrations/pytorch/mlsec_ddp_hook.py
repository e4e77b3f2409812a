"""mlsec poison-monitor hook for PyTorch DistributedDataParallel.

A DDP communication hook that wraps the standard all-reduce and, from what every rank already
has (its own bucket gradient before the all-reduce and the averaged gradient after it),
accumulates per step and without any extra communication:

- ``grad_norm``: this rank's global L2 gradient norm (sqrt of the sum of ||g_b||^2 over buckets)
- ``mean_norm``: the norm of the all-reduced (mean) gradient
- ``cos_mean``: cosine between this rank's gradient and the mean
- ``cos_loo``: cosine to the leave-one-out mean of the other ranks, from ||g||^2, ||m||^2,
  <g, m> and the world size n: m_loo = (n m - g) / (n - 1)
- ``sign_agree``: fraction of coordinates whose sign matches the mean's

``flush(step, loss, lr)`` writes one JSON line per step (``worker_<rank>.jsonl`` in ``log_dir``)
and sends the same record as one UDP datagram to ``mlsec poison-monitor listen``; with a key,
the datagram is ``<64 hex HMAC-SHA256 of the JSON bytes> <space> <JSON bytes>``. Every error
in the hook's bookkeeping is swallowed: monitoring never breaks or blocks training.

Usage::

    from mlsec_ddp_hook import PoisonMonitorHook
    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank])
    monitor = PoisonMonitorHook(run="job-42", log_dir="logs/", host="10.0.0.5", port=5454,
                                key=open("mlsec.key", "rb").read())
    model.register_comm_hook(state=None, hook=monitor.hook)
    for step, batch in enumerate(loader):
        loss = model(batch).mean(); loss.backward(); opt.step(); opt.zero_grad()
        monitor.flush(step, loss.item(), opt.param_groups[0]["lr"])

Only the standard library is needed at import time; torch is imported when the hook runs.
"""

import hashlib
import hmac
import json
import math
import os
import socket
import time

__all__ = ["PoisonMonitorHook", "cosines_from_dots", "record_from_sums", "seal", "ListAccumulator"]


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


def record_from_sums(run, rank, world, step, loss, lr, gg, mm, gm, agree, numel, layers=None, t=None):
    """The v1 record (a dict) from the accumulated sums of one step."""
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
    if gg != gg or mm != mm or gm != gm:  # NaN anywhere: report it, it is the signal
        record["grad_norm"] = float("nan") if gg != gg else record["grad_norm"]
        record["cos_mean"] = float("nan")
        record["cos_loo"] = float("nan")
    if layers:
        record["layers"] = layers
    return record


def seal(key, payload):
    """The authenticated datagram: hex HMAC-SHA256 tag, one space, the JSON bytes."""
    tag = hmac.new(key, payload, hashlib.sha256).hexdigest()
    return tag.encode("ascii") + b" " + payload


class ListAccumulator:
    """The hook's arithmetic on plain Python lists (what the tests check without torch)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.gg = self.mm = self.gm = 0.0
        self.agree = 0
        self.numel = 0

    def add_bucket(self, local, mean):
        for g, m in zip(local, mean):
            self.gg += g * g
            self.mm += m * m
            self.gm += g * m
            if g != 0 and (g > 0) == (m > 0) and m != 0:
                self.agree += 1
        self.numel += len(local)


class PoisonMonitorHook:
    """DDP communication hook: all-reduce (mean) plus per-rank statistics, one record per step."""

    def __init__(self, run="run", log_dir=None, host="127.0.0.1", port=5454, key=None,
                 process_group=None, per_bucket=False):
        self.run = str(run)
        self.log_dir = log_dir
        self.address = (host, int(port)) if host else None
        self.key = key.rstrip() if isinstance(key, (bytes, bytearray)) else (key.encode().rstrip() if key else None)
        self.process_group = process_group
        self.per_bucket = per_bucket
        self._sock = None
        self._file = None
        self._acc = None
        self._layers = {}
        self._numel = 0

    # -- the hook ---------------------------------------------------------------------------

    def hook(self, state, bucket):
        import torch
        import torch.distributed as dist

        group = self.process_group if self.process_group is not None else dist.group.WORLD
        world = dist.get_world_size(group)
        tensor = bucket.buffer()
        try:
            local = tensor.detach().clone()
        except Exception:
            local = None
        tensor.div_(world)
        fut = dist.all_reduce(tensor, group=group, async_op=True).get_future()

        def done(fut):
            mean = fut.value()[0]
            try:
                if local is not None:
                    self._accumulate(torch, local, mean, bucket)
            except Exception:
                pass
            return mean

        return fut.then(done)

    def _accumulate(self, torch, local, mean, bucket):
        # Device-side sums: no host synchronisation until flush().
        g = local.detach().double()
        m = mean.detach().double()
        sums = torch.stack([
            (g * g).sum(),
            (m * m).sum(),
            (g * m).sum(),
            ((torch.sign(g) == torch.sign(m)) & (g != 0)).double().sum(),
        ])
        self._acc = sums if self._acc is None else self._acc + sums
        self._numel += g.numel()
        if self.per_bucket:
            try:
                index = bucket.index()
            except Exception:
                index = len(self._layers)
            self._layers["bucket.%d" % index] = sums[0]

    # -- per step ---------------------------------------------------------------------------

    def flush(self, step, loss, lr):
        """Writes and sends this step's record; never raises."""
        try:
            self._flush(step, loss, lr)
        except Exception:
            pass
        finally:
            self._acc = None
            self._numel = 0
            self._layers = {}

    def _flush(self, step, loss, lr):
        import torch.distributed as dist

        if self._acc is None:
            return
        gg, mm, gm, agree = (float(x) for x in self._acc.tolist())
        group = self.process_group if self.process_group is not None else dist.group.WORLD
        rank = dist.get_rank(group)
        world = dist.get_world_size(group)
        layers = {k: math.sqrt(float(v)) for k, v in self._layers.items()} if self._layers else None
        record = record_from_sums(self.run, rank, world, int(step), loss, lr, gg, mm, gm, agree,
                                  self._numel, layers)
        self.emit(record, rank)

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
