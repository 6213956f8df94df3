#!/usr/bin/env python3
"""udp_fault_proxy.py: a UDP proxy that damages traffic on purpose, for HAL link tests.

It sits between a host (spinal's udp plant) and a robot (`spinal bridge`): the host sends to the
proxy's --listen address, the proxy forwards to --target from its own socket, and the replies go
back to the host. Each datagram, in either direction, independently may be
  dropped     (--drop P)
  duplicated  (--dup P: sent twice)
  delayed     (--delay P:MS: held MS milliseconds, so later ones overtake it)
  reordered   (--reorder P: held until the next datagram in the same direction has gone)
  corrupted   (--corrupt P: one random bit flipped)
with a seeded RNG (--seed), so a run is repeatable given the same arrival order.
SIGUSR1 toggles a blackhole of host -> robot traffic (commands stop, states still flow), which is
how a test makes the robot's watchdog fire. SIGTERM/SIGINT print the counts and exit.

  udp_fault_proxy.py --listen 127.0.0.1:0 --target 127.0.0.1:9870 --drop 0.05 --port-file p.txt

Standard library only (Python 3.7+).
"""
import argparse
import heapq
import random
import selectors
import signal
import socket
import sys
import time


def addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def prob_delay(text):
    p, _, ms = text.partition(":")
    return float(p), float(ms or 20) / 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=addr, required=True)
    ap.add_argument("--target", type=addr, required=True)
    ap.add_argument("--drop", type=float, default=0.0)
    ap.add_argument("--dup", type=float, default=0.0)
    ap.add_argument("--delay", type=prob_delay, default=(0.0, 0.02))
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--corrupt", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # faces the host
    front.bind(a.listen)
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # faces the robot
    back.bind((a.listen[0], 0))
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % front.getsockname()[1])
        import os
        os.replace(a.port_file + ".tmp", a.port_file)

    state = {"client": None, "blackhole": False, "stop": False}
    counts = {d: {k: 0 for k in ("in", "out", "drop", "dup", "delay", "reorder", "corrupt",
                                 "blackhole")} for d in ("up", "down")}
    held = {"up": None, "down": None}  # a reordered datagram waiting for the next one
    timers = []  # (due, n, direction, data)
    serial = [0]

    def on_usr1(signum, frame):
        state["blackhole"] = not state["blackhole"]
        print("proxy: blackhole host->robot %s" % ("on" if state["blackhole"] else "off"),
              file=sys.stderr, flush=True)

    def on_stop(signum, frame):
        state["stop"] = True

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    def emit(direction, data):
        counts[direction]["out"] += 1
        try:
            if direction == "up":
                back.sendto(data, a.target)
            elif state["client"] is not None:
                front.sendto(data, state["client"])
        except OSError:
            pass  # the robot is gone (ICMP refused): keep going

    def forward(direction, data):
        c = counts[direction]
        c["in"] += 1
        if direction == "up" and state["blackhole"]:
            c["blackhole"] += 1
            return
        if rng.random() < a.drop:
            c["drop"] += 1
            return
        if rng.random() < a.corrupt and data:
            c["corrupt"] += 1
            b = bytearray(data)
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
            data = bytes(b)
        copies = 2 if rng.random() < a.dup else 1
        if copies == 2:
            c["dup"] += 1
        for _ in range(copies):
            if rng.random() < a.delay[0]:
                c["delay"] += 1
                serial[0] += 1
                heapq.heappush(timers, (time.monotonic() + a.delay[1], serial[0], direction, data))
            elif held[direction] is None and rng.random() < a.reorder:
                c["reorder"] += 1
                held[direction] = (time.monotonic() + 0.05, data)
            else:
                emit(direction, data)
                if held[direction] is not None:  # the held one goes after this one
                    emit(direction, held[direction][1])
                    held[direction] = None

    sel = selectors.DefaultSelector()
    sel.register(front, selectors.EVENT_READ, "up")
    sel.register(back, selectors.EVENT_READ, "down")
    while not state["stop"]:
        now = time.monotonic()
        timeout = 0.01
        if timers:
            timeout = max(0.0, min(timeout, timers[0][0] - now))
        try:
            events = sel.select(timeout)
        except InterruptedError:
            continue
        for key, _ in events:
            try:
                data, src = key.fileobj.recvfrom(65536)
            except OSError:
                continue
            if key.data == "up":
                state["client"] = src
            forward(key.data, data)
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            _, _, direction, data = heapq.heappop(timers)
            emit(direction, data)
        for d in ("up", "down"):  # a held datagram with nothing after it goes out late anyway
            if held[d] is not None and held[d][0] <= now:
                emit(d, held[d][1])
                held[d] = None

    for d in ("up", "down"):
        print("proxy %s: %s" % (d, " ".join("%s=%d" % kv for kv in counts[d].items())),
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
