#!/usr/bin/env python3
"""The DIM(L) step's GEMM shapes in PyTorch (torch.matmul: MKL / oneDNN on CPU).

The peer of tools/bench/gemm_variants.c and of `cldim bench`'s GEMM rows:
the same shapes (dcgan32, D = 2048, batch 64 and batch 128), the same
transposes, fp32. Prints a markdown table: median wall GFLOP/s and, after a
slash, GFLOP per CPU-second times the thread count (what the product would
run at with the cores to itself, as gemm_variants prints), so that figures
taken on a loaded machine can still be set side by side.

    PYTHON=/path/to/venv/bin/python tools/bench/torch_gemm.py [--threads 2] [--reps 5]
        [--shapes "c1 fwd,B128 c1 dW"]
"""
import argparse
import statistics
import sys
import time

import torch

SHAPES = [  # what, ta, tb, M, N, K (row-major C = op(A) op(B), as in cldim)
    ("conv0", 0, 0, 64, 16384, 48), ("conv1", 0, 0, 128, 4096, 1024),
    ("conv2", 0, 0, 256, 1024, 2048), ("fc", 0, 1, 64, 1024, 4096),
    ("c0 fwd", 0, 1, 4096, 2048, 128), ("c1 fwd", 0, 1, 4096, 2048, 2048),
    ("c1 dW", 1, 0, 2048, 2048, 4096), ("c1 dX", 0, 0, 4096, 2048, 2048),
    ("c1 fwd L49", 0, 1, 3136, 2048, 2048), ("scores", 0, 1, 64, 4096, 2048),
    ("scores dY", 0, 0, 64, 2048, 4096), ("scores dM", 1, 0, 4096, 2048, 64),
    ("B128 c1 fwd", 0, 1, 8192, 2048, 2048), ("B128 c1 dW", 1, 0, 2048, 2048, 8192),
    ("B128 c1 dX", 0, 0, 8192, 2048, 2048), ("B128 scores", 0, 1, 128, 8192, 2048),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--shapes", default="", help="comma-separated names (default: all)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    want = [s.strip() for s in a.shapes.split(",") if s.strip()]
    print("| shape | PyTorch %s matmul (%d threads) |" % (torch.__version__, a.threads))
    print("|---|---:|")
    for what, ta, tb, M, N, K in SHAPES:
        if want and what not in want:
            continue
        # stored as cldim stores them: A is M x K (K x M when transposed), B K x N (N x K)
        A = torch.rand(K, M) if ta else torch.rand(M, K)
        B = torch.rand(N, K) if tb else torch.rand(K, N)
        C = torch.empty(M, N)
        opa = A.t() if ta else A
        opb = B.t() if tb else B
        torch.matmul(opa, opb, out=C)  # warm-up
        wall, cpu = [], []
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            torch.matmul(opa, opb, out=C)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        f = 2.0 * M * N * K * 1e-9
        print("| %s %s%s %dx%dx%d | %.1f / %.1f |" % (
            what, "T" if ta else "N", "T" if tb else "N", M, N, K,
            f / statistics.median(wall), f * a.threads / statistics.median(cpu)))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
