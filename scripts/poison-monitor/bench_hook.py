"""Overhead of the poison-monitor DDP hook: ms/step and % of step time on a small model.

Runs 2 ranks (gloo, CPU, one thread each) of a small MLP with four communication setups and
times the training step (forward, backward with the all-reduce, optimiser step, and the
hook's per-step flush: JSON + UDP datagram to a closed local port):

- ``none``: DDP's built-in all-reduce (no hook), the reference;
- ``allreduce``: a Python comm hook doing only the same all-reduce (the cost of any hook);
- ``legacy``: the hook as it was before (float64 copies, four reductions per bucket);
- ``noref``: ``mlsec_hook.PoisonMonitorHook(ref_beta=None)``: the fused sums without the
  running reference (no ``cos_ref``);
- ``nosketch``: ``mlsec_hook.PoisonMonitorHook(sketch_dim=None)``: the fused sums and the
  running reference, without the gradient sketch;
- ``fused``: ``mlsec_hook.PoisonMonitorHook`` as shipped (the fused sums, ``l1_ratio``, the
  running reference: one ``lerp_`` and two more dots per bucket, and the 256-number sketch:
  one matrix-vector product per bucket).

    nice /work/venvs/torch/bin/python scripts/poison-monitor/bench_hook.py [--steps 400]

Pinned: torch 2.15.0 (CPU). Timings vary with the machine's load; each mode is run in its own
process group, interleaved over ``--rounds`` rounds, and the median per-step time is reported.
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integrations", "pytorch"))

MODES = ["none", "allreduce", "legacy", "noref", "nosketch", "fused"]


def legacy_hook_class():
    from mlsec_hook import PoisonMonitorHook

    class Legacy(PoisonMonitorHook):
        """The accumulation of the hook before the fused version (copied for comparison)."""

        def _accumulate(self, torch, local, mean, bucket):
            g = local.detach().double()
            m = mean.detach().double()
            sums = torch.stack([
                (g * g).sum(),
                (m * m).sum(),
                (g * m).sum(),
                ((torch.sign(g) == torch.sign(m)) & (g != 0)).double().sum(),
                g.new_zeros(()), g.new_zeros(()), g.new_zeros(()),  # the fields it did not have
            ])
            self._acc = sums if self._acc is None else self._acc + sums
            self._numel += g.numel()

    return Legacy


def worker(rank, mode, steps, port, udp_port, out):
    import torch
    import torch.distributed as dist
    from mlsec_hook import PoisonMonitorHook

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.1)  # several buckets
    monitor = None
    if mode == "allreduce":
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
        ddp.register_comm_hook(state=None, hook=default_hooks.allreduce_hook)
    elif mode in ("legacy", "noref", "nosketch", "fused"):
        cls = legacy_hook_class() if mode == "legacy" else PoisonMonitorHook
        extra = {"noref": {"ref_beta": None}, "nosketch": {"sketch_dim": None}}.get(mode, {})
        monitor = cls(run="bench", host="127.0.0.1", port=udp_port, **extra)
        ddp.register_comm_hook(state=None, hook=monitor.hook)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
    x = torch.randn(64, 32)
    y = torch.randint(10, (64,))
    times = []
    for step in range(steps + 50):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(ddp(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if monitor is not None:
            monitor.flush(step, loss.item(), 0.01)
        else:
            loss.item()
        times.append(time.perf_counter() - t0)
    dist.destroy_process_group()
    if rank == 0:
        with open(out, "w") as f:
            f.write("%r %d" % (statistics.median(times[50:]), sum(p.numel() for p in model.parameters())))
    # Skip the interpreter's teardown: with torch 2.15 it intermittently aborts in a gloo
    # thread's destructor ("terminate called without an active exception") after the work is
    # done, which failed the whole run.
    os._exit(0)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    import torch
    import torch.multiprocessing as mp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    udp = free_port(socket.SOCK_DGRAM)  # nobody listens: datagrams are sent and dropped
    results = {m: [] for m in MODES}
    params = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for mode in MODES:
                out = os.path.join(tmp, mode)
                mp.spawn(worker, args=(mode, args.steps, free_port(), udp, out), nprocs=2, join=True)
                with open(out) as f:
                    t, params = f.read().split()
                results[mode].append(float(t))
    base = statistics.median(results["none"])
    print("torch %s, 2 ranks gloo CPU, MLP %d parameters, batch 64, %d steps x %d rounds"
          % (torch.__version__, int(params), args.steps, args.rounds))
    print("| mode | ms/step | over no hook | % of step |")
    print("|---|---|---|---|")
    for mode in MODES:
        t = statistics.median(results[mode])
        print("| %s | %.3f | %+.3f ms | %+.1f %% |" % (mode, 1e3 * t, 1e3 * (t - base), 100 * (t - base) / base))


if __name__ == "__main__":
    main()
