#!/usr/bin/env python3
"""hostile_peer.py: a host that does what a careless or hostile peer would, frame by frame, against
two `spinal bridge` processes serving the same robot in lockstep (tests/integration/
bridge_hostile.sh). Frames are built here from docs/protocol.md alone (struct + zlib's CRC-32),
not with spinal's encoder, so the test also checks the document.

  hostile_peer.py PORT_A PORT_B [WATCHDOG_LIMIT_MS (the robot file's safety.watchdog; 100)]

On A: HELLO asking for a watchdog of 0xffffffff ms, NaN and Inf commands, commands 130 times
over the throttle limit, a frame with a sequence number a million ahead, then GOODBYE. On B, a
well-behaved twin: the commands the robot's safety filter should have made of A's. Prints
"check NAME ok" per check; exits 1 at the first failure.
"""
import math
import socket
import struct
import sys
import time
import zlib

HELLO, CONFIG, STATE, COMMAND, HEARTBEAT, ESTOP, GOODBYE = 1, 2, 3, 4, 5, 6, 7
WATCHDOG, SAFE_STOP, ESTOP_BIT, FAULT, LIMITED, REJECTED = 1, 2, 4, 8, 16, 32


def check(name, cond, detail=""):
    if not cond:
        print(f"check {name} FAILED: {detail}", flush=True)
        sys.exit(1)
    print(f"check {name} ok" + (f" ({detail})" if detail else ""), flush=True)


class Peer:
    def __init__(self, port):
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.seq = 1

    def send(self, kind, payload=b"", seq=None):
        if seq is None:
            seq, self.seq = self.seq, self.seq + 1
        head = b"SPNL" + struct.pack("<BBHIIqq", 1, kind, 0, seq, len(payload),
                                     time.monotonic_ns(), 0)
        frame = head + payload
        self.sock.sendto(frame + struct.pack("<I", zlib.crc32(frame)), self.addr)

    def hello(self, watchdog_ms):
        self.send(HELLO, struct.pack("<HHHHdI", 1, 0, 0, 0, 50.0, watchdog_ms) + b"\x04test")

    def command(self, u, seq=None):
        self.send(COMMAND, struct.pack("<HH", len(u), 0) + struct.pack(f"<{len(u)}d", *u), seq)

    def recv(self, want, timeout=1.0):
        """the next frame of type want: (header fields, payload), or None on timeout"""
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                data, _ = self.sock.recvfrom(9000)
            except socket.timeout:
                return None
            assert zlib.crc32(data[:-4]) == struct.unpack("<I", data[-4:])[0], "bad CRC from robot"
            version, kind, flags, seq, plen = struct.unpack("<BBHII", data[4:16])
            if kind == want:
                return data[32:32 + plen]
        return None

    def state(self, timeout=1.0):
        p = self.recv(STATE, timeout)
        if p is None:
            return None
        t, status, n = struct.unpack("<qIH", p[:14])
        return status, struct.unpack(f"<{n}d", p[16:16 + 8 * n])


def config_watchdog(p):
    # proto_version, nx, nu, reserved, rate_hz, watchdog_ms
    return struct.unpack("<HHHHdI", p[:20])[5]


def main():
    a, b = Peer(int(sys.argv[1])), Peer(int(sys.argv[2]))
    limit_ms = int(sys.argv[3]) if len(sys.argv) > 3 else 100  # the robot file's safety.watchdog

    # a HELLO asking for a watchdog of 0xffffffff ms gets the robot file's limit
    a.hello(0xFFFFFFFF)
    conf = a.recv(CONFIG)
    check("config_answered", conf is not None)
    wd = config_watchdog(conf)
    check("hello_watchdog_bounded", wd == limit_ms, f"CONFIG watchdog_ms {wd}")
    x0 = a.state()
    check("first_state", x0 is not None)
    b.hello(limit_ms)
    check("twin_config", b.recv(CONFIG) is not None and b.state() is not None)

    # NaN and Inf commands: replaced by the safe command, flagged, the state stays finite
    for u in ([math.nan, 0.0], [math.inf, -math.inf]):
        a.command(u)
        st = a.state()
        check("nonfinite_answered", st is not None, str(u))
        status, x = st
        check("nonfinite_flagged", status & REJECTED and status & SAFE_STOP, f"status 0x{status:x}")
        check("state_finite", all(math.isfinite(v) for v in x), str(x))
        b.command([0.0, 0.0])
        b.state()

    # throttle 100 against a limit of 0.75 (rate limit 15/s at 50 Hz: 0.3 per tick)
    for k in range(3):
        a.command([100.0, 0.0])
        status, xa = a.state()
        check("out_of_limits_flagged", status & LIMITED and not status & REJECTED,
              f"status 0x{status:x}")
        b.command([min(0.3 * (k + 1), 0.75), 0.0])
        _, xb = b.state()
        check("filtered_like_a_careful_host", xa == xb, f"{xa} vs {xb}")

    # one valid frame far ahead is neither applied nor adopted: the next ordinary command is
    # answered as the twin's is (a stale drop would leave it unanswered, an applied far-ahead
    # command would have stepped the car once more)
    a.command([0.75, 0.0], seq=a.seq + 1_000_000)
    a.command([0.0, 0.0])
    b.command([0.0, 0.0])
    sa, sb = a.state(), b.state()
    check("next_command_not_stale", sa is not None)
    check("far_ahead_not_applied", sa[1] == sb[1], f"{sa[1]} vs {sb[1]}")

    # GOODBYE: the safe command at once, and no watchdog trip afterwards
    a.send(GOODBYE)
    st = a.state()
    check("goodbye_answered", st is not None)
    check("goodbye_safe_stop", st[0] & SAFE_STOP and not st[0] & WATCHDOG, f"status 0x{st[0]:x}")
    time.sleep(3 * limit_ms / 1000)  # three watchdog periods
    print("peer: done", flush=True)


main()
