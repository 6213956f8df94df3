"""torch_grad.py: the PyTorch twin of bench_grad.c's feedback gradient (method 1 on the car
figure-eight, 1075 recorded steps, 64-64 tanh MLP, gamma = 0.5 car_drag model with RK4, METHODS.md's
car cost after the first lap), written the way the reference implementation builds it with
reverse-mode AD: xt[k+1] = f(xt[k], ut[k]) - f(x[k], u[k]) + x[k+1] with the recorded values as
constants, so forward values are the plant's and only derivatives come from the model.

Prints "name median_ms" like the C bench. Run with /usr/bin/python3 (Debian's python3-torch).
Threads: BENCH_THREADS (default 1).

  torch_grad.py [reps]              time the gradient on a trajectory recorded here
  torch_grad.py --check DIR         load X.npy, U.npy, theta.npy (spinal's layout) and g.npy from
                                    DIR, recompute the gradient, print the relative difference
"""
import math
import os
import sys
import time

import torch

R, PERIOD, DT, STEPS, SKIP = 1.5, 5.5, 0.02, 1075, 275
PLANT = (11.25, 0.55, 6.5, 0.1)
MODEL = tuple(0.5 * p for p in PLANT)
K0 = torch.tensor([0.45, 0.45, 0.35, 0.35, 0.0, 0.0], dtype=torch.float64)
SCALES = torch.tensor([0.5, 0.5, 1.0, 1.0] + [0.3] * 6, dtype=torch.float64)


def reference(t):
    """figure-eight reference (x, y, xd, yd, xdd, ydd) and the active circle (cx, dir)"""
    w = 4 * math.pi / PERIOD
    s = (t % PERIOD) / PERIOD
    if s < 0.5:  # right circle, clockwise
        a = w * (s * PERIOD)
        r = [R - R * math.cos(a), R * math.sin(a), R * w * math.sin(a), R * w * math.cos(a),
             R * w * w * math.cos(a), -R * w * w * math.sin(a)]
        return r, R, -1.0
    a = w * (s * PERIOD - PERIOD / 2)
    r = [-R + R * math.cos(a), R * math.sin(a), -R * w * math.sin(a), R * w * math.cos(a),
         -R * w * w * math.cos(a), -R * w * w * math.sin(a)]
    return r, -R, 1.0


def wrap(a):
    return a - 2 * math.pi * torch.ceil((a - math.pi) / (2 * math.pi)).detach()


def car_f(x, u, p):
    ka, cd, ks, bs = p
    v, phi = x[2], x[3]
    return torch.stack([v * torch.cos(phi), v * torch.sin(phi), ka * u[0] - cd * v * torch.abs(v),
                        (ks * u[1] + bs) * v])


def rk4(x, u, p):
    k1 = car_f(x, u, p)
    k2 = car_f(x + 0.5 * DT * k1, u, p)
    k3 = car_f(x + 0.5 * DT * k2, u, p)
    k4 = car_f(x + DT * k3, u, p)
    return x + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def make_net():
    torch.manual_seed(1)
    layers = [torch.nn.Linear(6, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
              torch.nn.Linear(64, 10), torch.nn.Tanh()]
    net = torch.nn.Sequential(*layers).double()
    with torch.no_grad():
        net[4].weight.mul_(0.05)
        net[4].bias.mul_(0.05)
    return net


def policy(net, x, t):
    s = (t / PERIOD) % 1.0
    f = torch.stack([x[0], x[1], x[2] * torch.cos(x[3]), x[2] * torch.sin(x[3]),
                     torch.tensor(math.cos(2 * math.pi * s), dtype=torch.float64),
                     torch.tensor(math.sin(2 * math.pi * s), dtype=torch.float64)])
    y = net(f) * SCALES
    r, _, _ = reference(t)
    xd, yd, xdd, ydd = r[0] + y[0], r[1] + y[1], r[2] + y[2], r[3] + y[3]
    kx, ky, kv, kphi, ka, kw = [K0[i] + y[4 + i] for i in range(6)]
    xs, ys = xdd + kx * (xd - x[0]), ydd + ky * (yd - x[1])
    vd = torch.sqrt(xs * xs + ys * ys)
    phid = torch.atan2(ys, xs)
    s2 = xdd * xdd + ydd * ydd + 1e-6
    sq = torch.sqrt(s2)
    a_ff = (xdd * r[4] + ydd * r[5]) / sq
    w_ff = (xdd * r[5] - ydd * r[4]) / (sq * s2)
    throttle = torch.clamp(ka * a_ff + kv * (vd - x[2]), -0.75, 0.75)
    steer = torch.clamp(kw * w_ff + kphi * wrap(phid - x[3]), -1.0, 1.0)
    return torch.stack([throttle, steer])


def cost(x, t):
    r, cx, d = reference(t)
    rho = torch.sqrt((x[0] - cx) ** 2 + x[1] ** 2)
    vref = math.hypot(r[2], r[3])
    phides = torch.atan2(x[1], x[0] - cx) + d * math.pi / 2
    return (rho - R) ** 2 + (x[2] - vref) ** 2 / 30 + (10 / 30) * wrap(x[3] - phides) ** 2


def record(net):
    with torch.no_grad():
        r, _, _ = reference(0.0)
        x = torch.tensor([r[0], r[1], 0.0, math.pi / 2], dtype=torch.float64)
        X, U = [x], []
        for k in range(STEPS):
            u = policy(net, x, k * DT)
            x = rk4(x, u, PLANT)
            X.append(x)
            U.append(u)
    return torch.stack(X), torch.stack(U)


def gradient(net, X, U):
    net.zero_grad()
    xt = X[0]
    J = torch.zeros((), dtype=torch.float64)
    for k in range(STEPS):
        t = k * DT
        if k >= SKIP:
            J = J + cost(xt, t)
        u = policy(net, xt, t)
        xt = rk4(xt, u, MODEL) - rk4(X[k], U[k], MODEL).detach() + X[k + 1]
    J.backward()
    return J.item(), torch.cat([torch.cat([l.weight.grad.flatten(), l.bias.grad])
                                for l in (net[0], net[2], net[4])])


def main():
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    net = make_net()
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        import numpy as np
        d = sys.argv[2]
        X = torch.tensor(np.load(os.path.join(d, "X.npy")))
        U = torch.tensor(np.load(os.path.join(d, "U.npy")))
        theta = np.load(os.path.join(d, "theta.npy")).ravel()
        g_sp = np.load(os.path.join(d, "g.npy")).ravel()
        off = 0
        with torch.no_grad():
            for l in (net[0], net[2], net[4]):
                for prm in (l.weight, l.bias):
                    n = prm.numel()
                    prm.copy_(torch.tensor(theta[off:off + n]).reshape(prm.shape))
                    off += n
        J, g = gradient(net, X, U)
        g = g.numpy()
        print("J %.10g  |g| %.6g  rel diff to spinal %.3e" %
              (J, np.linalg.norm(g), np.linalg.norm(g - g_sp) / np.linalg.norm(g_sp)))
        return
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 2  # each takes seconds
    X, U = record(net)
    times = []
    for k in range(-1, reps):
        t0 = time.perf_counter()
        gradient(net, X, U)
        if k >= 0:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print("feedback_grad_car_1075_64x64 %.4f" % times[len(times) // 2])


if __name__ == "__main__":
    main()
