"""torch_mlp.py: the PyTorch twin of bench_mlp.c (one Adam training step of a 64-256-256-256-64
tanh MLP, batch 256, float32, mean squared error). Prints "name median_ms" like the C bench.

Run with /usr/bin/python3 (Debian's python3-torch). Threads: BENCH_THREADS (default 1), the same
number bench/run gives OpenBLAS.
"""
import os
import sys
import time

import torch


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.Tanh(),
        torch.nn.Linear(256, 256), torch.nn.Tanh(),
        torch.nn.Linear(256, 256), torch.nn.Tanh(),
        torch.nn.Linear(256, 64))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(256, 64)
    t = torch.randn(256, 64)
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
    print("mlp_train_step_3x256_b256_f32 %.4f" % times[len(times) // 2])


if __name__ == "__main__":
    main()
