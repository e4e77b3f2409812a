"""Checks the hook's statistics arithmetic and wire format with plain lists (no torch needed).

Run: python3 -m unittest integrations/pytorch/test_stats.py
"""

import json
import math
import os
import random
import socket
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import torch
except Exception:  # the stdlib-only tests run without torch
    torch = None

from mlsec_ddp_hook import ListAccumulator, PoisonMonitorHook, cosines_from_dots, record_from_sums, seal  # noqa: E402


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def cos(a, b):
    return dot(a, b) / math.sqrt(dot(a, a) * dot(b, b))


class StatsTest(unittest.TestCase):
    def setUp(self):
        rng = random.Random(5)
        self.n = 5
        self.dim = 40
        truth = [rng.gauss(0, 1) for _ in range(self.dim)]
        self.grads = [[t + 1.5 * rng.gauss(0, 1) for t in truth] for _ in range(self.n)]
        self.mean = [sum(g[d] for g in self.grads) / self.n for d in range(self.dim)]

    def test_leave_one_out_cosine_needs_no_extra_communication(self):
        for i, g in enumerate(self.grads):
            others = [self.grads[k] for k in range(self.n) if k != i]
            loo = [sum(o[d] for o in others) / (self.n - 1) for d in range(self.dim)]
            cm, cl = cosines_from_dots(dot(g, g), dot(self.mean, self.mean), dot(g, self.mean), self.n)
            self.assertAlmostEqual(cm, cos(g, self.mean), places=12)
            self.assertAlmostEqual(cl, cos(g, loo), places=12)

    def test_buckets_accumulate_to_the_whole_gradient(self):
        g = self.grads[2]
        acc = ListAccumulator()
        for start in range(0, self.dim, 7):  # uneven buckets
            acc.add_bucket(g[start:start + 7], self.mean[start:start + 7])
        record = record_from_sums("job", 2, self.n, 10, 2.5, 0.1, acc.gg, acc.mm, acc.gm, acc.agree, acc.numel, t=0.0)
        self.assertAlmostEqual(record["grad_norm"], math.sqrt(dot(g, g)), places=12)
        self.assertAlmostEqual(record["mean_norm"], math.sqrt(dot(self.mean, self.mean)), places=12)
        self.assertAlmostEqual(record["cos_mean"], cos(g, self.mean), places=12)
        agree = sum(1 for a, b in zip(g, self.mean) if a != 0 and (a > 0) == (b > 0)) / self.dim
        self.assertAlmostEqual(record["sign_agree"], agree, places=12)
        for field in ("v", "run", "rank", "world", "step", "t", "loss", "lr", "cos_loo"):
            self.assertIn(field, record)

    def test_degenerate_and_non_finite_inputs(self):
        self.assertEqual(cosines_from_dots(0.0, 1.0, 0.0, 4), (0.0, 0.0))
        record = record_from_sums("job", 0, 4, 1, float("nan"), 0.1, float("nan"), 1.0, 0.5, 0, 10, t=0.0)
        text = json.dumps(record)
        self.assertIn("NaN", text)  # Python writes bare NaN; the monitor treats it as a signal

    def test_hmac_wire_format_matches_rfc4231(self):
        sealed = seal(b"Jefe", b"what do ya want for nothing?")
        self.assertEqual(sealed[:64], b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        self.assertEqual(sealed[64:65], b" ")
        self.assertEqual(sealed[65:], b"what do ya want for nothing?")

    def test_emit_writes_jsonl_and_sends_a_datagram_and_never_raises(self):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        with tempfile.TemporaryDirectory() as tmp:
            hook = PoisonMonitorHook(run="job", log_dir=tmp, host="127.0.0.1", port=receiver.getsockname()[1],
                                     key=b"0123456789abcdef-key\n")
            record = record_from_sums("job", 1, 2, 3, 1.0, 0.1, 4.0, 1.0, 1.5, 5, 10, t=0.0)
            hook.emit(record, 1)
            datagram, _ = receiver.recvfrom(65536)
            self.assertEqual(datagram, seal(b"0123456789abcdef-key", datagram[65:]))
            self.assertEqual(json.loads(datagram[65:])["rank"], 1)
            with open(os.path.join(tmp, "worker_1.jsonl")) as f:
                self.assertEqual(json.loads(f.readline())["step"], 3)
            # Unreachable destination and unwritable directory: swallowed.
            broken = PoisonMonitorHook(run="job", log_dir=os.path.join(tmp, "worker_1.jsonl", "x"), host="256.0.0.1")
            broken.emit(record, 1)
            broken.flush(4, 1.0, 0.1)
        receiver.close()

    def test_the_package_and_the_old_module_name_are_the_same_hook(self):
        import mlsec_ddp_hook
        import mlsec_hook

        self.assertIs(mlsec_hook.PoisonMonitorHook, mlsec_ddp_hook.PoisonMonitorHook)
        doc = mlsec_hook.__doc__
        self.assertIn("register_comm_hook", doc)
        # The documented example runs on CPU: device_ids only where a GPU is used.
        self.assertIn("if torch.cuda.is_available()", doc)
        self.assertIn('"gloo"', doc)

    def test_zeros_never_count_as_sign_agreement(self):
        acc = ListAccumulator()
        acc.add_bucket([1.0, -2.0, 0.0, 3.0, -1.0], [2.0, -1.0, 1.0, 0.0, 1.0])
        self.assertEqual(acc.agree, 2)
        self.assertEqual(acc.numel, 5)

    def test_reset_drops_a_step_without_sending(self):
        hook = PoisonMonitorHook(run="job", host=None)
        hook._acc = object()
        hook._numel = 7
        hook.reset()
        self.assertIsNone(hook._acc)
        self.assertEqual(hook._numel, 0)
        hook.flush(1, 1.0, 0.1)  # nothing accumulated: nothing written, no error

    @unittest.skipIf(torch is None, "torch is not importable: bucket_sums is checked against lists only with torch")
    def test_fused_bucket_sums_match_the_list_arithmetic(self):
        from mlsec_hook import bucket_sums

        g = self.grads[1] + [0.0]
        m = self.mean + [0.5]
        ref = [0.25 * x - 0.5 for x in m]
        acc = ListAccumulator()
        acc.add_bucket(g, m, ref)
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            sums = bucket_sums(torch, torch.tensor(g, dtype=dtype), torch.tensor(m, dtype=dtype),
                               torch.tensor(ref, dtype=torch.float32)).tolist()
            rel = 1e-7 if dtype == torch.float64 else (1e-5 if dtype == torch.float32 else 2e-2)
            want = (acc.gg, acc.mm, acc.gm, acc.agree, acc.l1, acc.ge, acc.ee)
            for got, w in zip(sums, want):
                self.assertAlmostEqual(got, w, delta=rel * max(1.0, abs(w)))
            self.assertEqual(sums[3], acc.agree)
            no_ref = bucket_sums(torch, torch.tensor(g, dtype=dtype), torch.tensor(m, dtype=dtype)).tolist()
            self.assertEqual(no_ref[5:], [0.0, 0.0])

    @unittest.skipIf(torch is None, "torch is not importable")
    def test_the_reference_follows_the_mean_and_survives_a_nan_step(self):
        class Bucket:
            def __init__(self, buf, params):
                self.buf, self.params = buf, params

            def index(self):
                return 0

            def buffer(self):
                return self.buf

            def parameters(self):
                return self.params

        params = [torch.zeros(2)]
        records = []
        hook = PoisonMonitorHook(run="job", host=None)
        hook._world, hook._rank = 2, 0
        hook.emit = lambda record, rank: records.append(record)
        g = torch.tensor([1.0, 2.0, -1.0])
        for step, mean in enumerate([g, g, torch.full((3,), float("nan")), g, -g]):
            hook._accumulate(torch, g.clone(), mean, Bucket(mean, params))
            hook.flush(step, 1.0, 0.1)
        self.assertNotIn("cos_ref", records[0])  # no reference before the first step
        self.assertAlmostEqual(records[1]["cos_ref"], 1.0, places=5)
        self.assertAlmostEqual(records[3]["cos_ref"], 1.0, places=5)  # the NaN step did not stick
        self.assertAlmostEqual(records[4]["cos_ref"], 1.0, places=5)  # r is from earlier steps
        # The sketch comes with the reference: 256 numbers, the map's sign times g for 3 entries.
        self.assertNotIn("sketch", records[0])
        self.assertEqual(len(records[1]["sketch"]), 256)
        self.assertEqual(records[1]["sketch"][3:], [0.0] * 253)
        self.assertEqual([abs(x) for x in records[1]["sketch"][:3]], [1.0, 2.0, 1.0])
        self.assertEqual(records[4]["sketch"], records[1]["sketch"])  # the same map every step
        # A bucket rebuilt over other parameters restarts the reference.
        hook._accumulate(torch, g.clone(), g, Bucket(g, [torch.zeros(2)]))
        hook.flush(5, 1.0, 0.1)
        self.assertNotIn("cos_ref", records[5])
        self.assertNotIn("sketch", records[5])  # a new map with the new bucket

    @unittest.skipIf(torch is None, "torch is not importable")
    def test_the_fused_sketch_matches_the_list_arithmetic(self):
        from mlsec_hook import bucket_sketch, sketch_signs

        dim = 8
        buckets = [self.grads[3][:21], self.grads[3][21:], self.grads[3][:5]]  # short and uneven
        acc = ListAccumulator(sketch_dim=dim)
        total = torch.zeros(dim, dtype=torch.float64)
        for index, g in enumerate(buckets):
            signs = sketch_signs(torch, index, len(g), dim)
            self.assertEqual(len(signs), -(-len(g) // dim))
            self.assertTrue(all(x in (-1.0, 1.0) for x in signs.tolist()))
            self.assertTrue(torch.equal(signs, sketch_signs(torch, index, len(g), dim)))  # every rank
            acc.add_bucket(g, g, signs=signs.tolist())
            total += bucket_sketch(torch, torch.tensor(g, dtype=torch.float64), signs, dim)
        for got, want in zip(total.tolist(), acc.sketch):
            self.assertAlmostEqual(got, want, places=12)
        # Linear: the sketch of a flipped gradient is the flipped sketch.
        signs = sketch_signs(torch, 0, 21, dim)
        g = torch.tensor(buckets[0], dtype=torch.float64)
        self.assertTrue(torch.equal(bucket_sketch(torch, -g, signs, dim), -bucket_sketch(torch, g, signs, dim)))

    def test_shape_and_reference_fields(self):
        acc = ListAccumulator()
        acc.add_bucket([3.0, -4.0], [1.0, 1.0], [-3.0, 4.0])  # the reference points the other way
        record = record_from_sums("job", 0, 4, 5, 1.0, 0.1, acc.gg, acc.mm, acc.gm, acc.agree, acc.numel,
                                  t=0.0, l1=acc.l1, ge=acc.ge, ee=acc.ee)
        self.assertAlmostEqual(record["cos_ref"], -1.0)
        self.assertAlmostEqual(record["l1_ratio"], 7.0 / (2 ** 0.5 * 5.0))
        without = record_from_sums("job", 0, 4, 5, 1.0, 0.1, acc.gg, acc.mm, acc.gm, acc.agree, acc.numel, t=0.0)
        self.assertNotIn("cos_ref", without)
        self.assertNotIn("l1_ratio", without)


if __name__ == "__main__":
    unittest.main()
