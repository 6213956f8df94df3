"""torch_wm.py: the PyTorch twin of bench_wm.c's world-model batch:
  wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32
zero_grad; from the first state of 256 windows, 8 autoregressive applications of a 12-joint world
model (features [p_z, R(q)^T e_z, v, w, qj, qd] and the action normalised, a 3 x 256 ELU MLP in
float32 predicting normalised velocity changes, trapezoidal integration of position, quaternion
and joints, as engine/wm/wm.h); the per-component mean absolute errors (geodesic angle for the
orientation) weighted 1, 4, 1, 4, 1, 1; backward; Adam. States and integration in float64 as in
spinal, the network in float32. Prints "name median_ms" like the C bench.

Run with /usr/bin/python3 (Debian's python3-torch). Threads: BENCH_THREADS (default 1).
"""
import os
import sys
import time

import torch

NJ, NU, B, N, DT = 12, 12, 256, 8, 0.02
NX, NF, ND = 13 + 2 * NJ, 10 + 2 * NJ, 6 + NJ


def qmul(a, b):
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack((aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw), -1)


def rotate(q, v, s=1.0):
    w, u = q[..., :1], s * q[..., 1:]
    uv = (u * v).sum(-1, keepdim=True)
    uu = (u * u).sum(-1, keepdim=True)
    return (w * w - uu) * v + 2 * uv * u + 2 * w * torch.cross(u, v, dim=-1)


def qexp(r):
    t = r.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.cat((torch.cos(t / 2), torch.sin(t / 2) / t * r), -1)


def qlog_angle(q):
    w = q[..., 0].abs()
    n = q[..., 1:].norm(dim=-1)
    return 2 * torch.atan2(n, w)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    torch.manual_seed(1)
    layers, width = [], NF + NU
    for _ in range(3):
        layers += [torch.nn.Linear(width, 256), torch.nn.ELU()]
        width = 256
    layers.append(torch.nn.Linear(width, ND))
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    S = torch.randn(B, N + 1, NX, dtype=torch.float64)
    S[..., 3:7] = S[..., 3:7] / S[..., 3:7].norm(dim=-1, keepdim=True)
    A = torch.randn(B, N, NU, dtype=torch.float64)
    fm, fs = torch.zeros(NF, dtype=torch.float64), torch.ones(NF, dtype=torch.float64)
    am, asd = torch.zeros(NU, dtype=torch.float64), torch.ones(NU, dtype=torch.float64)
    dm, ds = torch.zeros(ND, dtype=torch.float64), torch.ones(ND, dtype=torch.float64)
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(B, 3)
    weights = (1, 4, 1, 4, 1, 1)
    h = DT / 2
    times = []
    for k in range(-3, reps):
        t0 = time.perf_counter()
        opt.zero_grad()
        s = S[:, 0]
        parts = [0.0] * 6
        for i in range(N):
            p, q, v, w = s[:, :3], s[:, 3:7], s[:, 7:10], s[:, 10:13]
            qj, qd = s[:, 13:13 + NJ], s[:, 13 + NJ:]
            f = torch.cat((p[:, 2:3], rotate(q, ez, -1.0), v, w, qj, qd), -1)
            x = torch.cat(((f - fm) / fs, (A[:, i] - am) / asd), -1).float()
            d = dm + ds * net(x).double()
            v1, w1, qd1 = v + d[:, :3], w + d[:, 3:6], qd + d[:, 6:]
            q1 = qmul(q, qexp(h * (w + w1)))
            p1 = p + h * (rotate(q, v) + rotate(q1, v1))
            qj1 = qj + h * (qd + qd1)
            s = torch.cat((p1, q1, v1, w1, qj1, qd1), -1)
            r = S[:, i + 1]
            rc = torch.cat((r[:, 3:4], -r[:, 4:7]), -1)
            parts[0] = parts[0] + (p1 - r[:, :3]).abs().mean()
            parts[1] = parts[1] + qlog_angle(qmul(rc, q1)).mean()
            parts[2] = parts[2] + (v1 - r[:, 7:10]).abs().mean()
            parts[3] = parts[3] + (w1 - r[:, 10:13]).abs().mean()
            parts[4] = parts[4] + (qj1 - r[:, 13:13 + NJ]).abs().mean()
            parts[5] = parts[5] + (qd1 - r[:, 13 + NJ:]).abs().mean()
        loss = sum(wc * pc / N for wc, pc in zip(weights, parts))
        loss.backward()
        opt.step()
        if k >= 0:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print("wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32 %.4f" % times[len(times) // 2],
          flush=True)


if __name__ == "__main__":
    main()
