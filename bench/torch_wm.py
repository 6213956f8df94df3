"""torch_wm.py: the PyTorch twins of bench_wm.c's two batches.

  wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32
zero_grad; from the first state of 256 windows, 8 autoregressive applications of a 12-joint world
model (features [p_z, R(q)^T e_z, v, w, qj, qd] and the action normalised, a 3 x 256 ELU MLP in
float32 predicting normalised velocity changes, trapezoidal integration of position, quaternion
and joints, as engine/wm/wm.h); the per-component mean absolute errors (geodesic angle for the
orientation) weighted 1, 4, 1, 4, 1, 1; backward; Adam. States and integration in float64 as in
spinal, the network in float32.

  vae_train_batch_nx37_nu12_hid256_layers2_lat32_b256_h24_f32
zero_grad; the VAE policy of engine/wm/vae.h (prior nf -> 2 x 256 ELU -> 32, encoder nf + 148 ->
2 x 256 ELU -> 32, decoder nf + 32 -> 2 x 256 ELU -> 12, float32, features not normalised) rolled
24 steps inside that world model (its parameters frozen: no gradient is computed for them) from
256 start states with z = mu_p + E + 0.3 eps; loss = sum_k 0.95^k [tracking (the six components
weighted 0.2, 0.1, 0.5, 0.5, 1, 0.1, height 1.2, up direction 3) + action penalties (L1 0.01, L2
0.001 on a - a_nom) + 0.01 |E|^2 / (2 0.3^2)], means over rows; backward into the policy; Adam.

Prints "name median_ms median_cpu_ms" (wall and this thread's CPU time: with one thread, PyTorch
runs the operators and the autograd engine's CPU work in the calling thread).

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


def median(x):
    return sorted(x)[len(x) // 2]


def mlp(nin, nout, layers):
    mods, width = [], nin
    for _ in range(layers):
        mods += [torch.nn.Linear(width, 256), torch.nn.ELU()]
        width = 256
    mods.append(torch.nn.Linear(width, nout))
    return torch.nn.Sequential(*mods)


def unit_norms():
    """the normalisers (mean, scale) of features, actions and velocity changes"""
    z = lambda n: torch.zeros(n, dtype=torch.float64)
    o = lambda n: torch.ones(n, dtype=torch.float64)
    return (z(NF), o(NF)), (z(NU), o(NU)), (z(ND), o(ND))


def wm_step(net, norms, s, a, h):
    """one application of the world model (engine/wm/wm.h)"""
    (fm, fs), (am, asd), (dm, ds) = norms
    p, q, v, w = s[:, :3], s[:, 3:7], s[:, 7:10], s[:, 10:13]
    qj, qd = s[:, 13:13 + NJ], s[:, 13 + NJ:]
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(s.shape[0], 3)
    f = torch.cat((p[:, 2:3], rotate(q, ez, -1.0), v, w, qj, qd), -1)
    x = torch.cat(((f - fm) / fs, (a - am) / asd), -1).float()
    d = dm + ds * net(x).double()
    v1, w1, qd1 = v + d[:, :3], w + d[:, 3:6], qd + d[:, 6:]
    q1 = qmul(q, qexp(h * (w + w1)))
    p1 = p + h * (rotate(q, v) + rotate(q1, v1))
    qj1 = qj + h * (qd + qd1)
    return torch.cat((p1, q1, v1, w1, qj1, qd1), -1)


def errors(s1, r):
    """the six per-coordinate mean absolute errors of s1 against r"""
    rc = torch.cat((r[:, 3:4], -r[:, 4:7]), -1)
    return ((s1[:, :3] - r[:, :3]).abs().mean(),
            qlog_angle(qmul(rc, s1[:, 3:7])).mean(),
            (s1[:, 7:10] - r[:, 7:10]).abs().mean(),
            (s1[:, 10:13] - r[:, 10:13]).abs().mean(),
            (s1[:, 13:13 + NJ] - r[:, 13:13 + NJ]).abs().mean(),
            (s1[:, 13 + NJ:] - r[:, 13 + NJ:]).abs().mean())


def vae_bench(net, norms, reps):
    H, LAT, NC, SIGMA, GAMMA, BETA = 24, 32, 4 * NX, 0.3, 0.95, 0.01
    track, w_height, w_up, l1, l2 = (0.2, 0.1, 0.5, 0.5, 1, 0.1), 1.2, 3.0, 0.01, 0.001
    for p in net.parameters():
        p.requires_grad_(False)  # backpropagation through a frozen world model
    prior, enc, dec = mlp(NF, LAT, 2), mlp(NF + NC, LAT, 2), mlp(NF + LAT, NU, 2)
    params = list(prior.parameters()) + list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    S0 = torch.randn(B, NX, dtype=torch.float64)
    S0[:, 3:7] = S0[:, 3:7] / S0[:, 3:7].norm(dim=-1, keepdim=True)
    R = torch.randn(B, H, NX, dtype=torch.float64)
    R[..., 3:7] = R[..., 3:7] / R[..., 3:7].norm(dim=-1, keepdim=True)
    C = torch.randn(B, H, NC, dtype=torch.float64)
    E = torch.randn(B, H, LAT, dtype=torch.float64)
    a_nom = torch.zeros(NU, dtype=torch.float64)
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(B, 3)
    h = DT / 2
    times, cpus = [], []
    for k in range(-2, reps):
        t0, c0 = time.perf_counter(), time.thread_time()
        opt.zero_grad()
        s = S0
        loss = 0.0
        for i in range(H):
            gk = GAMMA ** i
            f = torch.cat((s[:, 2:3], rotate(s[:, 3:7], ez, -1.0), s[:, 7:]), -1)
            mp = prior(f.float()).double()
            e = enc(torch.cat((f, C[:, i]), -1).float()).double()
            z = mp + e + SIGMA * E[:, i]
            a = a_nom + dec(torch.cat((f, z), -1).float()).double()
            s = wm_step(net, norms, s, a, h)
            r = R[:, i]
            err = errors(s, r)
            up = rotate(s[:, 3:7], ez, -1.0)
            upr = rotate(r[:, 3:7], ez, -1.0)
            da = a - a_nom
            step = (sum(wc * ec for wc, ec in zip(track, err))
                    + w_height * (s[:, 2] - r[:, 2]).abs().mean()
                    + w_up * (up - upr).abs().mean()
                    + (l1 * da.abs() + l2 * da * da).mean()
                    + BETA * (e * e).sum(-1).mean() / (2 * SIGMA * SIGMA))
            loss = loss + gk * step
        loss.backward()
        opt.step()
        if k >= 0:
            times.append((time.perf_counter() - t0) * 1e3)
            cpus.append((time.thread_time() - c0) * 1e3)
    print("vae_train_batch_nx37_nu12_hid256_layers2_lat32_b256_h24_f32 %.4f %.4f"
          % (median(times), median(cpus)), flush=True)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    torch.manual_seed(1)
    net = mlp(NF + NU, ND, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    S = torch.randn(B, N + 1, NX, dtype=torch.float64)
    S[..., 3:7] = S[..., 3:7] / S[..., 3:7].norm(dim=-1, keepdim=True)
    A = torch.randn(B, N, NU, dtype=torch.float64)
    norms = unit_norms()
    weights = (1, 4, 1, 4, 1, 1)
    h = DT / 2
    times, cpus = [], []
    for k in range(-3, reps):
        t0, c0 = time.perf_counter(), time.thread_time()
        opt.zero_grad()
        s = S[:, 0]
        parts = [0.0] * 6
        for i in range(N):
            s = wm_step(net, norms, s, A[:, i], h)
            parts = [pc + ec for pc, ec in zip(parts, errors(s, S[:, i + 1]))]
        loss = sum(wc * pc / N for wc, pc in zip(weights, parts))
        loss.backward()
        opt.step()
        if k >= 0:
            times.append((time.perf_counter() - t0) * 1e3)
            cpus.append((time.thread_time() - c0) * 1e3)
    print("wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32 %.4f %.4f"
          % (median(times), median(cpus)), flush=True)
    vae_bench(net, norms, reps)


if __name__ == "__main__":
    main()
