#!/usr/bin/env python3
"""ImpactArbiter's autograd trap, done straightforwardly, as a reference
for tests/bench/grad-trap.sh.

For every radix-2d `case` record it builds a KV cache of shape
[H, total_blocks_h, block_size, head_dim] (H = head_idx + 1), takes
L = (KV[route(t)] * g_t).sum() once through the candidate's route and once
through the oracle's, calls backward, and compares the two gradients:
divergence = max|G_cand - G_oracle| / max|G_oracle|; the case diverges
when divergence > tol.  That is the per-case comparison ImpactArbiter does.

With torch (Debian python3-torch) the gradients come from autograd; without
it, the same computation in plain Python: the gradient of L with respect to
the cache is the scatter of g_t into the routed cell, kept as a dict from
cell to a list of head_dim floats.  A route outside the cache puts its mass
outside the tensor, so no in-cache gradient (divergence 1 against a routed
oracle).

The candidates are Python ports of the two C candidates the bench writes:
`ok` (the correct radix-2d formula) and `nowrap` (the same without
`% total_blocks_h`).  The oracle is the radix-2d formula, computed here
independently; a record's `expect`, where present, must agree with it.

Prints one line: "cases N diverged K seconds S" (S: reading and checking,
not interpreter start-up).  Exit 0, or 2 on bad input.

  python3 impactarbiter_ref.py [--candidate ok|nowrap] [--tol X]
                               [--head-dim N] [--backend auto|torch|plain]
                               [FILE ...]
"""

import argparse
import json
import sys
import time


def route_ok(b, h, p, n, bs):
    a = p + b
    return (h, (a // bs) % n, a % bs)


def route_nowrap(b, h, p, n, bs):
    a = p + b
    return (h, a // bs, a % bs)


def route_oracle(b, h, p, n, bs):
    a = p + b
    return (h, (a // bs) % n, a % bs)


CANDIDATES = {"ok": route_ok, "nowrap": route_nowrap}
INPUTS = ("b_local_idx", "head_idx", "prefix_length_h", "total_blocks_h",
          "block_size")


def signature(t, d):
    """g_t: head_dim distinct floats per token, exact in float32 (k/65536,
    1 <= k <= 65536)."""
    return [float((t * 2654435761 + i * 40503) % 65536 + 1) / 65536.0
            for i in range(d)]


def in_bounds(cell, shape):
    return all(0 <= c < s for c, s in zip(cell, shape))


def divergence_plain(cand, orac, shape, g):
    """Gradient of L = <KV[cell], g> w.r.t. KV: g scattered into the cell."""
    def grad(cell):
        gr = {}
        if in_bounds(cell, shape):
            row = gr.setdefault(cell, [0.0] * len(g))
            for i, x in enumerate(g):
                row[i] += x
        return gr

    gc, go = grad(cand), grad(orac)
    zero = [0.0] * len(g)
    num = 0.0
    for cell in set(gc) | set(go):
        a, b = gc.get(cell, zero), go.get(cell, zero)
        num = max(num, max(abs(x - y) for x, y in zip(a, b)))
    den = max((abs(x) for row in go.values() for x in row), default=0.0)
    return num / den if den else (0.0 if num == 0.0 else float("inf"))


def make_divergence_torch(torch):
    def divergence(cand, orac, shape, g):
        gt = torch.tensor(g, dtype=torch.float32)

        def grad(cell):
            kv = torch.zeros(*shape, len(g), dtype=torch.float32,
                             requires_grad=True)
            if not in_bounds(cell, shape):
                return torch.zeros_like(kv)
            loss = (kv[cell] * gt).sum()
            loss.backward()
            return kv.grad

        gc, go = grad(cand), grad(orac)
        num = (gc - go).abs().max().item()
        den = go.abs().max().item()
        return num / den if den else (0.0 if num == 0.0 else float("inf"))
    return divergence


def die(msg):
    sys.stderr.write("impactarbiter_ref: %s\n" % msg)
    sys.exit(2)


def records(paths):
    if not paths:
        paths = ["-"]
    for path in paths:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8")
        try:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield path, lineno, json.loads(line)
        finally:
            if f is not sys.stdin:
                f.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidate", choices=sorted(CANDIDATES), default="ok")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--backend", choices=("auto", "torch", "plain"),
                    default="auto")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()

    backend = args.backend
    if backend in ("auto", "torch"):
        try:
            import torch
            divergence = make_divergence_torch(torch)
            backend = "torch"
        except ImportError:
            if backend == "torch":
                die("torch is not installed")
            backend = "plain"
    if backend == "plain":
        divergence = divergence_plain

    route = CANDIDATES[args.candidate]
    cases = diverged = 0
    t0 = time.perf_counter()
    try:
        for path, lineno, r in records(args.files):
            if r.get("type") != "case":
                continue
            if r.get("oracle", "radix-2d") != "radix-2d":
                die("%s:%d: oracle %r, not radix-2d"
                    % (path, lineno, r.get("oracle")))
            x = [r[k] for k in INPUTS]
            orac = route_oracle(*x)
            e = r.get("expect")
            if e is not None and (e["head"], e["block"], e["offset"]) != orac:
                die("%s:%d: expect %s, radix-2d says %s"
                    % (path, lineno, json.dumps(e), orac))
            shape = (x[1] + 1, x[3], x[4])   # H, total_blocks_h, block_size
            g = signature(cases, args.head_dim)
            if divergence(route(*x), orac, shape, g) > args.tol:
                diverged += 1
            cases += 1
    except (ValueError, KeyError, TypeError) as exc:
        die("bad case record: %r" % (exc,))
    secs = time.perf_counter() - t0
    print("cases %d diverged %d seconds %.6f" % (cases, diverged, secs))


if __name__ == "__main__":
    main()
