"""torch_mlp.py: the PyTorch twin of bench_mlp.c: one Adam training step (zero_grad, forward,
mean squared error, backward, step) of
  mlp_train_step_3x256_b256_f32               a 64-256-256-256-64 tanh MLP, batch 256, float32
  mlp_train_step_6x64x64x10_b{1,16}_{f32,f64} a 6-64-64-10 tanh MLP, batch 1 and 16, both dtypes
Prints "name median_ms" like the C bench.

Run with /usr/bin/python3 (Debian's python3-torch). Threads: BENCH_THREADS (default 1), the same
number bench/run gives OpenBLAS.
"""
import os
import sys
import time

import torch


def bench(name, sizes, dtype, batch, reps):
    torch.manual_seed(1)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers).to(dtype)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, sizes[0], dtype=dtype)
    t = torch.randn(batch, sizes[-1], dtype=dtype)
    times = []
    for k in range(-20, reps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), t)
        loss.backward()
        opt.step()
        if k >= 0:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print("%s %.4f" % (name, times[len(times) // 2]), flush=True)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    bench("mlp_train_step_3x256_b256_f32", [64, 256, 256, 256, 64], torch.float32, 256, reps)
    small = [6, 64, 64, 10]
    for batch in (1, 16):
        for dname, dtype in (("f32", torch.float32), ("f64", torch.float64)):
            bench("mlp_train_step_6x64x64x10_b%d_%s" % (batch, dname), small, dtype, batch,
                  5 * reps)


if __name__ == "__main__":
    main()
