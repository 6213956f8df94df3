# repl_pipe.py: the integration tests' driver of `spinal repl` over pipes (repl_robot.sh,
# repl_lowlevel.sh): output collected as it comes, patterns awaited with a deadline, Lua values
# asked for between markers, and a check() that counts failures.
#   sys.path.insert(0, os.path.join(SRC, "tests", "integration", "lib"))
#   from repl_pipe import Pipe, check, failures, done
import os
import re
import select
import subprocess
import sys
import time

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def done():
    """the script's exit: status 1 with a count when a check failed"""
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


class Pipe:
    """a process (argv) with stdin/stdout/stderr as pipes; `timeout` is expect's default wait"""

    def __init__(self, argv, cwd, env, timeout=10):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.timeout = timeout
        for f in (self.p.stdout, self.p.stderr):
            os.set_blocking(f.fileno(), False)
        self.out, self.err, self.mark = "", "", 0

    def pump(self, seconds):
        """collect output for `seconds`"""
        end = time.time() + seconds
        while True:
            fds = [self.p.stdout, self.p.stderr]
            r, _, _ = select.select(fds, [], [], max(0, min(0.05, end - time.time())))
            for f in r:
                data = f.read()
                if data:
                    if f is self.p.stdout:
                        self.out += data.decode()
                    else:
                        self.err += data.decode()
            if time.time() >= end:
                return

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def expect(self, pattern, seconds=None):
        """the first match of pattern in stdout after the last one; None (and the output so far
        printed) when it has not come within `seconds`"""
        end = time.time() + (seconds or self.timeout)
        while time.time() < end:
            m = re.search(pattern, self.out[self.mark:])
            if m:
                self.mark += m.end()
                return m
            self.pump(0.05)
        print("  (output so far: %r)" % self.out[self.mark:][-600:])
        print("  (stderr: %r)" % self.err[-600:])
        return None

    def ask(self, code, seconds=None):
        """the text of tostring(code) as the REPL prints it, between markers; None on timeout"""
        tag = "@@%d@@" % time.time_ns()
        self.send('io.write("%s", tostring(%s), "%s\\n")' % (tag, code, tag))
        m = self.expect(re.escape(tag) + "(.*?)" + re.escape(tag), seconds)
        return m.group(1) if m else None

    def finish(self, seconds=None, close=False):
        """wait for the exit (close: end stdin first, Ctrl-D); killed after `seconds`; the exit
        status"""
        if close:
            self.p.stdin.close()
        try:
            self.p.wait(seconds or self.timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.pump(0.2)
        return self.p.returncode
