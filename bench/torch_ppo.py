"""torch_ppo.py: the PyTorch twin of bench_ppo.c's PPO update:
  ppo_update_obs49_act12_hid512-256-128_n6144_mb1536_e5_f32
A rollout of 256 environments x 24 steps (observations already normalised, as spinal stores
them); bootstrap values, GAE (gamma 0.99, lambda 0.95), advantage normalisation; 5 epochs of 4
shuffled minibatches of 1536: actor and critic MLPs 49 -> 512 -> 256 -> 128 -> (12 | 1), ELU,
float32, a learned log std; clipped surrogate (0.2), clipped value loss (coef 1), entropy bonus
(0.01), the KL to the collecting policy adapting the learning rate (target 0.01), global gradient
norm clipped to 1, Adam. Prints "name median_ms median_cpu_ms" (wall, and this thread's CPU time:
with one thread the fairer figure on a shared machine) like the C bench.

Run with /usr/bin/python3 (Debian's python3-torch). Threads: BENCH_THREADS (default 1).
"""
import math
import os
import sys
import time

import torch

NO, NA, NE, NS, EPOCHS, MB = 49, 12, 256, 24, 5, 4
N = NE * NS


def mlp(nout):
    return torch.nn.Sequential(torch.nn.Linear(NO, 512), torch.nn.ELU(), torch.nn.Linear(512, 256),
                               torch.nn.ELU(), torch.nn.Linear(256, 128), torch.nn.ELU(),
                               torch.nn.Linear(128, nout))


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    torch.manual_seed(1)
    actor, critic = mlp(NA), mlp(1)
    log_std = torch.nn.Parameter(torch.zeros(NA))
    params = list(actor.parameters()) + list(critic.parameters()) + [log_std]
    opt = torch.optim.Adam(params, lr=1e-3)
    lr = 1e-3

    def rollout():
        with torch.no_grad():
            obs = torch.randn(NS, NE, NO)
            mu = actor(obs)
            std = log_std.exp()
            act = mu + std * torch.randn_like(mu)
            logp = torch.distributions.Normal(mu, std).log_prob(act).sum(-1)
            value = critic(obs).squeeze(-1)
            rew = 0.1 * act[..., 0] + 0.01 * torch.randn(NS, NE)
            done = (torch.rand(NS, NE) < 0.01).float()
        return obs, act, mu, std.clone(), logp, value, rew, done

    times, cpus = [], []
    for k in range(-1, reps):
        obs, act, mu_old, std_old, logp_old, value, rew, done = rollout()
        last = torch.randn(NE, NO)
        t0, c0 = time.perf_counter(), time.thread_time()
        with torch.no_grad():
            v_last = critic(last).squeeze(-1)
            adv = torch.zeros(NS, NE)
            nxt = torch.zeros(NE)
            for t in reversed(range(NS)):
                vn = v_last if t == NS - 1 else value[t + 1]
                delta = rew[t] + 0.99 * vn * (1 - done[t]) - value[t]
                nxt = delta + 0.99 * 0.95 * (1 - done[t]) * nxt
                adv[t] = nxt
            ret = adv + value
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        flat = lambda x: x.reshape(N, *x.shape[2:])
        O, A, MU, LP, V, ADV, RET = map(flat, (obs, act, mu_old, logp_old, value, adv, ret))
        mb = N // MB
        for _ in range(EPOCHS):
            perm = torch.randperm(N)
            for b in range(MB):
                idx = perm[b * mb:(b + 1) * mb]
                o, a = O[idx], A[idx]
                mu = actor(o)
                v = critic(o).squeeze(-1)
                std = log_std.exp()
                dist = torch.distributions.Normal(mu, std)
                logp = dist.log_prob(a).sum(-1)
                ent = dist.entropy().sum(-1).mean()
                with torch.no_grad():
                    kl = (torch.log(std / std_old) + (std_old ** 2 + (MU[idx] - mu) ** 2) /
                          (2 * std ** 2) - 0.5).sum(-1).mean().item()
                    if kl > 0.02:
                        lr = max(1e-5, lr / 1.5)
                    elif 0 < kl < 0.005:
                        lr = min(1e-2, lr * 1.5)
                    for g in opt.param_groups:
                        g["lr"] = lr
                ratio = torch.exp(logp - LP[idx])
                s1 = ratio * ADV[idx]
                s2 = torch.clamp(ratio, 0.8, 1.2) * ADV[idx]
                surr = -torch.min(s1, s2).mean()
                vc = V[idx] + (v - V[idx]).clamp(-0.2, 0.2)
                vloss = torch.max((v - RET[idx]) ** 2, (vc - RET[idx]) ** 2).mean()
                loss = surr + 1.0 * vloss - 0.01 * ent
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
        if k >= 0:
            times.append(1e3 * (time.perf_counter() - t0))
            cpus.append(1e3 * (time.thread_time() - c0))
    times.sort()
    cpus.sort()
    print("ppo_update_obs49_act12_hid512-256-128_n6144_mb1536_e5_f32 %.4f %.4f"
          % (times[len(times) // 2], cpus[len(cpus) // 2]))


if __name__ == "__main__":
    main()
