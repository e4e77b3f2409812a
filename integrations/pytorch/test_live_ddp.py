"""Live test: real DDP (4 ranks, gloo, CPU) with the hook registered as documented, sending to
``mlsec poison-monitor listen``. An honest run is silent from step 0; a run where rank 2 sends
its gradient scaled by -5 from step 100, and one where it adds Gaussian noise of its
gradient's own norm from step 100, are alarmed within 10 steps and rank 2 is named.

Needs torch and the mlsec binary; skips with a visible message when either is missing, and
fails instead when ``MLSEC_LIVE_REQUIRED=1`` (as ``scripts/poison-monitor/live-test.sh`` and CI
set it):

    MLSEC_BIN=target/debug/mlsec python -m unittest integrations/pytorch/test_live_ddp.py
    MLSEC_TORCH_PYTHON=python MLSEC_BIN=target/debug/mlsec scripts/poison-monitor/live-test.sh

``MLSEC_LIVE_STEPS`` (default 300) shortens the runs on a slow machine (at least 130: the
attack starts at step 100). About a minute in all on 2 cores.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

try:
    import torch  # noqa: F401
    import torch.distributed  # noqa: F401
    import torch.multiprocessing  # noqa: F401

    TORCH = None
except Exception as e:  # ImportError, or a broken install
    TORCH = "torch is not importable (%s): the live DDP test is SKIPPED" % e


def find_mlsec():
    candidates = [os.environ.get("MLSEC_BIN", "")]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    candidates += [os.path.join(target, p, "mlsec") for p in ("debug", "release")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


MLSEC = find_mlsec()
SKIP = TORCH or (None if MLSEC else
                 "no mlsec binary (set MLSEC_BIN or build target/debug/mlsec): the live DDP test is SKIPPED")
REQUIRED = os.environ.get("MLSEC_LIVE_REQUIRED", "") not in ("", "0")
if SKIP:
    print("test_live_ddp: " + SKIP, file=sys.stderr)
WORLD = 4
STEPS = max(130, int(os.environ.get("MLSEC_LIVE_STEPS", "300")))
ATTACKER = 2
ATTACK_START = 100


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(rank, udp_port, tcp_port, attack, run):
    """One rank: an MLP on synthetic data, the hook registered as the README says."""
    import torch
    import torch.distributed as dist
    from mlsec_hook import PoisonMonitorHook

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(tcp_port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8192, 32, generator=g)
    y = (x @ torch.randn(32, 10, generator=g)).argmax(1)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    model = torch.nn.parallel.DistributedDataParallel(model)  # on GPU: device_ids=[local_rank]
    monitor = PoisonMonitorHook(run=run, host="127.0.0.1", port=udp_port)
    state = {"step": 0}
    hook = monitor.hook
    if attack and rank == ATTACKER:
        noise = torch.Generator().manual_seed(99)

        def hook(s, bucket):  # the poisoner changes its bucket before the all-reduce
            if state["step"] >= ATTACK_START:
                buf = bucket.buffer()
                if attack == "scale":  # x -5
                    buf.mul_(-5.0)
                else:  # Gaussian noise with the bucket's own norm
                    n = torch.randn(buf.shape, generator=noise, dtype=buf.dtype)
                    buf.add_(n * (buf.norm() / n.norm().clamp_min(1e-30)))
            return monitor.hook(s, bucket)
    model.register_comm_hook(state=None, hook=hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batches = torch.Generator().manual_seed(10 + rank)
    for step in range(STEPS):
        state["step"] = step
        idx = torch.randint(len(x), (64,), generator=batches)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        monitor.flush(step, loss.item(), opt.param_groups[0]["lr"])
    dist.barrier()
    dist.destroy_process_group()


class LiveDdpRequirements(unittest.TestCase):
    @unittest.skipUnless(REQUIRED, "MLSEC_LIVE_REQUIRED is not set")
    def test_torch_and_the_binary_are_there_when_required(self):
        self.assertIsNone(SKIP, "MLSEC_LIVE_REQUIRED=1 but " + (SKIP or ""))


@unittest.skipIf(SKIP is not None, SKIP or "")
class LiveDdpTest(unittest.TestCase):
    def run_job(self, attack):
        import torch.multiprocessing as mp

        tmp = tempfile.mkdtemp(prefix="mlsec-live-")
        self.addCleanup(shutil.rmtree, tmp, True)
        alerts = os.path.join(tmp, "alerts.jsonl")
        udp = free_port(socket.SOCK_DGRAM)
        listener = subprocess.Popen(
            [MLSEC, "poison-monitor", "listen", "--port", str(udp), "--expected-workers", str(WORLD),
             "--max-steps", str(STEPS), "--alerts", alerts, "--json", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # The listener binds before it prints its status line; give it a moment.
            import time
            time.sleep(1.0)
            mp.spawn(train, args=(udp, free_port(socket.SOCK_STREAM), attack, "live-%s" % attack),
                     nprocs=WORLD, join=True)
            out, err = listener.communicate(timeout=120)
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.communicate()
        with open(alerts) if os.path.exists(alerts) else open(os.devnull) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        report = json.loads(out)
        return listener.returncode, lines, report, err.decode(errors="replace")

    def test_honest_run_is_silent_and_a_poisoner_is_named(self):
        code, alerts, report, err = self.run_job(attack=None)
        data = report["data"]["poison_monitor"]
        self.assertEqual(data["records"], WORLD * STEPS, err)
        self.assertEqual(alerts, [], "false alarms on an honest run: %s" % alerts)
        self.assertEqual(code, 0, err)

        for attack in ("scale", "noise"):
            code, alerts, report, err = self.run_job(attack=attack)
            self.assertEqual(code, 2, err)
            self.assertTrue(alerts, err)
            first = alerts[0]
            self.assertEqual(first["rank"], ATTACKER, alerts)
            self.assertIs(first["evidence"]["attribution"], True, first)
            self.assertGreaterEqual(first["step"], ATTACK_START)
            self.assertLessEqual(first["step"], ATTACK_START + 10, first)
            print("\nlive DDP (%s): honest run silent; attacker rank %d named at step %d (%s)"
                  % (attack, first["rank"], first["step"], first["evidence"].get("statistic")), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
