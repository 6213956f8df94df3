"""torch_feedback.py: the PyTorch twin of bench_feedback.c. Method 1's feedback gradient on the
car figure-eight of METHODS.md written the way the reference implementation builds it with
reverse-mode AD: x~[k+1] = f(x~[k], u~[k]) - f(x[k], u[k]) + x[k+1] (recorded values constant),
so the forward values equal the recorded real states and only derivatives come from the model.

Same car (real: dv = 11.25 u1 - 0.55 v|v|, dphi = (6.5 u2 + 0.1) v, RK4 x4 at 50 Hz; model:
every parameter x0.5, Euler), same horizon (1075 steps, first 275 unscored), same policy
structure (features (px, py, v cos phi, v sin phi, cos 2 pi s, sin 2 pi s) -> 64 tanh -> 64 tanh
-> 10 tanh, zero last layer; 4 reference and 6 gain corrections of the velocity-field tracker,
clamped), same cost ((r - R)^2 + (v - v_ref)^2 / 30 + (10 / 30) heading error^2), float64.
It is a timing twin: the tracker's feed-forward terms are simplified, so its numbers are not
expected to match spinal's to the last digit. Prints "name median_ms" like the C bench.

Run with /usr/bin/python3 (Debian's python3-torch); threads: BENCH_THREADS (default 1).
"""
import math
import os
import sys
import time

import torch

DT, STEPS, SKIP, ITERS = 0.02, 1075, 275, 15
R, PERIOD = 1.5, 5.5
OMEGA = 2 * math.pi / (PERIOD / 2)
REAL = (11.25, 0.55, 6.5, 0.1)
MODEL = tuple(0.5 * p for p in REAL)
K0 = torch.tensor([0.45, 0.45, 0.35, 0.35, 0.0, 0.0], dtype=torch.float64)
REF_SCALE = torch.tensor([0.5, 0.5, 1.0, 1.0], dtype=torch.float64)


def reference(t):
    """figure-eight: position, velocity, acceleration, circle centre x and direction at t"""
    s = t % PERIOD
    if s < PERIOD / 2:
        cx, d, th = R, -1.0, math.pi - OMEGA * s
    else:
        cx, d, th = -R, 1.0, OMEGA * (s - PERIOD / 2)
    w = d * OMEGA
    p = (cx + R * math.cos(th), R * math.sin(th))
    v = (-R * math.sin(th) * w, R * math.cos(th) * w)
    a = (-R * math.cos(th) * w * w, -R * math.sin(th) * w * w)
    return p, v, a, cx, d


REFS = [reference(k * DT) for k in range(STEPS + 1)]


def f_car(x, u, p, substeps, rk4):
    """one 0.02 s step of the car with parameters p"""
    ka, cd, ks, bs = p

    def deriv(x):
        v, phi = x[2], x[3]
        return torch.stack([v * torch.cos(phi), v * torch.sin(phi),
                            ka * u[0] - cd * v * torch.abs(v), (ks * u[1] + bs) * v])

    h = DT / substeps
    for _ in range(substeps):
        if rk4:
            k1 = deriv(x)
            k2 = deriv(x + 0.5 * h * k1)
            k3 = deriv(x + 0.5 * h * k2)
            k4 = deriv(x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        else:
            x = x + h * deriv(x)
    return x


def make_net(seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                              torch.nn.Tanh(), torch.nn.Linear(64, 10), torch.nn.Tanh()).double()
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    torch.nn.init.zeros_(net[4].weight)
    return net


def policy(net, x, k):
    t = k * DT
    s = (t / PERIOD) % 1.0
    feat = torch.stack([x[0], x[1], x[2] * torch.cos(x[3]), x[2] * torch.sin(x[3]),
                        x.new_tensor(math.cos(2 * math.pi * s)),
                        x.new_tensor(math.sin(2 * math.pi * s))])
    y = net(feat)
    (px, py), (vx, vy), (ax, ay), _, _ = REFS[k]
    r = torch.stack([x.new_tensor(px), x.new_tensor(py), x.new_tensor(vx), x.new_tensor(vy)])
    r = r + REF_SCALE * y[:4]
    K = K0 + 0.3 * y[4:]
    xs = r[2] + K[0] * (r[0] - x[0])
    ys = r[3] + K[1] * (r[1] - x[1])
    vd = torch.sqrt(xs * xs + ys * ys + 1e-12)
    phid = torch.atan2(ys, xs)
    e = torch.atan2(torch.sin(phid - x[3]), torch.cos(phid - x[3]))
    speed = math.hypot(vx, vy)
    a_ff = (vx * ax + vy * ay) / speed
    w_ff = (vx * ay - vy * ax) / (speed * speed)
    throttle = torch.clamp(K[4] * a_ff + K[2] * (vd - x[2]), -0.75, 0.75)
    steer = torch.clamp(K[5] * w_ff + K[3] * e, -1.0, 1.0)
    return torch.stack([throttle, steer])


def cost(x, k):
    _, _, _, cx, d = REFS[k]
    dx, dy = x[0] - cx, x[1]
    r = torch.sqrt(dx * dx + dy * dy)
    phid = torch.atan2(dy, dx) + d * math.pi / 2
    e = torch.atan2(torch.sin(x[3] - phid), torch.cos(x[3] - phid))
    return (r - R) ** 2 + (x[2] - R * OMEGA) ** 2 / 30 + (10 / 30) * e * e


def start():
    (px, py), (vx, vy), _, _, _ = REFS[0]
    return torch.tensor([px, py, 0.0, math.atan2(vy, vx)], dtype=torch.float64)


def rollout(net):
    """the policy on the real car, recorded (no graph)"""
    with torch.no_grad():
        X = [start()]
        U = []
        for k in range(STEPS):
            u = policy(net, X[-1], k)
            U.append(u)
            X.append(f_car(X[-1], u, REAL, 4, True))
    return torch.stack(X), torch.stack(U)


def feedback_gradient(net, X, U):
    """J of the recorded trajectory and its feedback gradient in net's .grad"""
    net.zero_grad()
    x = X[0]
    J = x.new_zeros(())
    for k in range(STEPS):
        if k >= SKIP:
            J = J + cost(x, k)
        u = policy(net, x, k)
        fx = f_car(x, u, MODEL, 1, False)
        x = fx - fx.detach() + X[k + 1]
    J.backward()
    return J.item()


def main():
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    net = make_net(1)
    X, U = rollout(net)
    times = []
    for k in range(-1, reps):
        t0 = time.perf_counter()
        feedback_gradient(net, X, U)
        if k >= 0:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print("car_feedback_gradient_1075_steps_64x64 %.4f" % times[len(times) // 2])
    sys.stdout.flush()

    runs = []
    for _ in range(max(1, reps // 3)):
        net = make_net(1)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        t0 = time.perf_counter()
        for it in range(ITERS + 1):
            X, U = rollout(net)
            if it == ITERS:
                break
            J = feedback_gradient(net, X, U)
            if it == 0:
                first = J
            opt.step()
        runs.append((time.perf_counter() - t0) * 1e3)
    runs.sort()
    print("car_figure8_run_15_iters %.4f" % runs[len(runs) // 2])
    with torch.no_grad():
        last = sum(cost(X[k], k).item() for k in range(SKIP, STEPS))
    print("torch_feedback: cost %.2f -> %.2f over the run" % (first, last), file=sys.stderr)


if __name__ == "__main__":
    main()
