"""Sign flips on the real-training runs: what a test that knows the attacker and the start
could catch within 10 steps, along several reference directions.

An experiment behind docs/poison-monitor.md (Evaluation, "How far any reference direction
gets"), not a fixture generator and not part of any test. For each run of ``record_real.py``
it retrains the job in one process: the ranks' batch gradients are computed one after the
other and averaged as DDP does (same seeds, batches, model and optimiser; float sums in another
order than gloo's, so the trajectory matches the recording statistically, not bit for bit).
Every rank (at most 8, spread over the ranks, as ``replay::evaluate`` picks them) then flips
its gradient in turn from each of the replay's starts (30 steps in, the middle, 20 steps before
the end; ``replay::starts``), and the flipped gradients enter the running means every rank's
reference is built from, as they would in the job.

For each trial it runs the test of ``replay::oracle_catches_flip``: 10 steps, the attacker's
statistic against the mean of the other ranks', in units of the ranks' pooled cross-rank
standard deviation of the honest values in the window, one-sided at 10^-4 (Z <= -3.719). The
statistics:

- ``train-set``: the gradient's projection on the whole training set's gradient at the same
  weights (the bench's oracle),
- ``ref .99``: the cosine to the running mean gradient (beta 0.99, the hook's ``cos_ref``),
- ``refs 3``: the cosines to the running means with beta 0.99, 0.9 and the previous step's
  mean, combined by the cross-rank discriminant w = C^-1 pi (pi: the ranks' mean cosines, C:
  their cross-rank covariance, both over the 50 steps before the start; ridge 5 % of the mean
  variance),
- ``refs 5``: the same with beta 0.99, 0.9, 0.7, 0.5 and the previous step's mean.

A test that knows the start and the attacker and looks at a fixed window is stronger than any
monitor, which must find both while holding its false-alarm rate, so the caught counts are
ceilings for detectors built on these statistics. The ``chart`` columns are closer to what a
monitor would get: the same three statistics through a replica of the detector's cross-rank
chart (``chart_catches``), from 50 honest steps before the start, an alarm on the attacker
within the 10 attacked steps.

    nice /work/venvs/grad/bin/python scripts/poison-monitor/flip_bounds.py [--only NAME]

About 3 minutes for the 12 runs on 2 cores (torch 2.15.0, CPU).
"""

import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import record_real  # noqa: E402  (the runs, their tasks and schedules)

Z_CRIT = 3.719  # replay::ORACLE_Z: one-sided 1 - 1e-4
WINDOW = 10
FIT_STEPS = 50  # steps before the start the discriminant is fitted on
RIDGE = 0.05
BETAS = (0.99, 0.9, 0.7, 0.5, 0.0)  # 0.0: the previous step's mean
SETS = (("ref .99", (0.99,)), ("refs 3", (0.99, 0.9, 0.0)), ("refs 5", BETAS))
LABELS = ["train-set"] + [s[0] for s in SETS] + ["chart " + s[0] for s in SETS]


def train(torch, cfg):
    """Every step's (world x numel) matrix of the ranks' gradients, and a function giving the
    whole training set's gradient at a step (re-evaluated from saved weights)."""
    world = cfg["world"]
    torch.manual_seed(7)
    x, y, factory, loss_fn = record_real.make_task(torch, cfg["model"])
    model = factory()
    params = list(model.parameters())
    if cfg["opt"] == "sgd":
        opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9)
    else:
        opt = torch.optim.Adam(params, lr=cfg["lr"])
    shards = [torch.arange(r, x.shape[0], world) for r in range(world)]
    gens = [torch.Generator().manual_seed(100 * r + 17) for r in range(world)]
    grads, weights = [], {}
    for step in range(cfg["skip"] + cfg["steps"]):
        for group in opt.param_groups:
            group["lr"] = record_real.lr_at(cfg, step)
        weights[step] = [p.detach().clone() for p in params]
        rows = []
        for r in range(world):
            idx = shards[r][torch.randint(len(shards[r]), (cfg["batch"],), generator=gens[r])]
            g = torch.autograd.grad(loss_fn(model(x[idx]), y[idx]), params)
            rows.append(torch.cat([t.reshape(-1) for t in g]).double())
        G = torch.stack(rows)
        grads.append(G)
        for p, gp in zip(params, torch.split(G.mean(0).float(), [p.numel() for p in params])):
            p.grad = gp.view_as(p).clone()
        opt.step()

    def full_gradient(step):
        with torch.no_grad():
            for p, w in zip(params, weights[step]):
                p.copy_(w)
        g = torch.autograd.grad(loss_fn(model(x), y), params)
        return torch.cat([t.reshape(-1) for t in g]).double()

    return grads, full_gradient


def cosines(torch, G, refs):
    """(world x len(refs)) cosines of the ranks' gradients to each reference."""
    norms = G.norm(dim=1).clamp_min(1e-300)
    cols = []
    for r in refs:
        rn = r.norm()
        cols.append((G @ r) / (norms * rn) if rn > 0 else torch.zeros(G.shape[0], dtype=G.dtype))
    return torch.stack(cols, dim=1).numpy()


def update(refs, mean):
    for r, beta in zip(refs, BETAS):
        r.mul_(beta).add_(mean, alpha=1.0 - beta)


def z_of(q, honest, attacker):
    """The oracle's Z: q (steps x world) attacked values, honest the same without the attack."""
    import numpy as np

    n = q.shape[1]
    shift = float((q[:, attacker] - (q.sum(1) - q[:, attacker]) / (n - 1)).sum())
    var = float(np.mean([np.var(row, ddof=1) for row in honest]))
    if var <= 0:
        return -math.inf if shift < 0 else math.inf
    return shift / math.sqrt(var * len(q) * (1 + 1 / (n - 1)))


def run(torch, cfg):
    import numpy as np

    n, skip, steps = cfg["world"], cfg["skip"], cfg["steps"]
    grads, full_gradient = train(torch, cfg)
    starts = [skip + 30, skip + steps // 2, skip + steps - 2 * WINDOW]
    numel = grads[0].shape[1]
    refs = [torch.zeros(numel, dtype=torch.float64) for _ in BETAS]
    honest = np.zeros((len(grads), n, len(BETAS)))
    saved = {}
    for t, G in enumerate(grads):
        if t in starts:
            saved[t] = [r.clone() for r in refs]
        honest[t] = cosines(torch, G, refs)
        update(refs, G.mean(0))
    trials = {label: [] for label in LABELS}
    for t0 in starts:
        window = range(t0, t0 + WINDOW)
        direction = {t: full_gradient(t) for t in window}
        proj = np.array([(grads[t] @ direction[t] / direction[t].norm()).numpy() for t in window])
        for a in range(0, n, -(-n // 8)):
            flipped = proj.copy()
            flipped[:, a] *= -1
            trials["train-set"].append(z_of(flipped, proj, a))
            refs = [r.clone() for r in saved[t0]]
            attacked = []
            for t in window:
                G = grads[t].clone()
                G[a] *= -1
                attacked.append(cosines(torch, G, refs))
                update(refs, G.mean(0))
            attacked = np.array(attacked)
            for label, betas in SETS:
                cols = [BETAS.index(b) for b in betas]
                fit = honest[max(skip + 15, t0 - FIT_STEPS):t0][:, :, cols]
                pi = fit.mean(axis=(0, 1))
                resid = fit - fit.mean(axis=1, keepdims=True)
                C = np.einsum("tnk,tnl->kl", resid, resid) / (len(fit) * (n - 1))
                C += (RIDGE * np.trace(C) / len(cols) + 1e-300) * np.eye(len(cols))
                w = np.linalg.solve(C, pi)
                trials[label].append(z_of(attacked[:, :, cols] @ w, honest[t0:t0 + WINDOW][:, :, cols] @ w, a))
                # From the third step: the hook's reference restarts on the first two (DDP
                # rebuilds its buckets after the first).
                lead = honest[max(skip + 2, t0 - FIT_STEPS):t0][:, :, cols] @ w
                series = np.concatenate([lead, attacked[:, :, cols] @ w])
                trials["chart " + label].append(chart_catches(series, a, len(lead)))
    return trials


def chart_catches(q, attacker, start, k=0.5, h=11.9, warmup=10, clip=3.0, refine=0.5, winsor=4.0):
    """Whether a replica of the detector's chart, run over q (steps x world; the attack from
    row ``start``), alarms on the attacker within the attacked rows. The replica keeps what
    matters for a flip: each rank's residual from the median of the others, the cross-rank
    scale (an average of the squared residuals of the ranks in control over 64 / world steps,
    6 to 32, each clipped at 3 scales), z winsorised at 4 and a two-sided CUSUM at the shipped
    k and h, from 50 honest steps before the start; it leaves out the persistent offsets and
    the quarantine."""
    import numpy as np

    n = q.shape[1]
    memory = min(max(64.0 / n, 6.0), 32.0)
    var, steps = None, 0
    pos, neg = np.zeros(n), np.zeros(n)
    for t in range(len(q)):
        res = np.array([q[t, i] - np.median(np.delete(q[t], i)) for i in range(n)])
        fresh = [res[i] ** 2 for i in range(n) if max(pos[i], neg[i]) < refine * h]
        if fresh:
            reference = var if var else np.median(fresh) / 0.455
            mean = float(np.mean(np.minimum(fresh, clip * clip * reference)))
            steps += 1
            var = mean if var is None else var + (mean - var) / min(steps, memory)
        if steps < warmup or not var:
            continue
        z = np.clip(res / math.sqrt(var), -winsor, winsor)
        pos = np.maximum(0.0, pos + z - k)
        neg = np.maximum(0.0, neg - z - k)
        crossed = np.maximum(pos, neg) > h
        if t >= start and crossed[attacker]:
            return True
        pos[crossed] = 0.0
        neg[crossed] = 0.0
    return False


def main():
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="only these runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| run | ranks | trials | " + " | ".join(LABELS) + " |")
    print("|---|---|---|" + "---|" * len(LABELS))
    totals = {label: 0 for label in LABELS}
    count = 0
    for cfg in record_real.RUNS:
        if args.only and cfg["name"] not in args.only:
            continue
        trials = run(torch, cfg)
        caught = {label: sum((z is True) if label.startswith("chart") else (z <= -Z_CRIT) for z in zs)
                  for label, zs in trials.items()}
        k = len(trials["train-set"])
        count += k
        for label in LABELS:
            totals[label] += caught[label]
        print("| %s | %d | %d | %s |" % (cfg["name"], cfg["world"], k,
                                         " | ".join("%d" % caught[label] for label in LABELS)), flush=True)
    print("| all | | %d | %s |" % (count, " | ".join("%d (%.0f %%)" % (totals[label], 100.0 * totals[label] / max(1, count))
                                                   for label in LABELS)))


if __name__ == "__main__":
    main()
