# pty_session.py: the integration tests' driver of a program on a pseudo-terminal (repl_tty.sh,
# repl_robot.sh, operator_tty.sh): what it writes collected as it comes, patterns and conditions
# awaited with a deadline (what the program printed decides, not a sleep: a loaded machine starts
# it late), keys typed, Ctrl-C sent.
#   sys.path.insert(0, os.path.join(SRC, "tests", "integration", "lib"))
#   from pty_session import Tty
import os
import pty
import re
import select
import signal
import time


class Tty:
    """argv[0] run on a new pseudo-terminal (stdin, stdout and stderr), in cwd with env;
    `timeout` is the default wait of expect and until. Raises OSError when no terminal can be
    made."""

    def __init__(self, argv, env=None, cwd=None, timeout=10):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                if cwd:
                    os.chdir(cwd)
                os.execve(argv[0], argv, os.environ if env is None else env)
            finally:
                os._exit(127)
        self.out, self.mark, self.timeout = "", 0, timeout

    def pump(self, seconds):
        """collect output for `seconds` (less when the program has closed the terminal)"""
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    return
                if not data:
                    return
                self.out += data.decode("utf-8", "replace")

    def until(self, pred, seconds=None):
        """pump until pred() holds; its last value after `seconds`"""
        end = time.time() + (seconds or self.timeout)
        while not pred() and time.time() < end:
            self.pump(0.05)
        return pred()

    def expect(self, pattern, seconds=None):
        """the first match of pattern in the output after the last one; None (and the output
        since printed) when it has not come within `seconds`"""
        end = time.time() + (seconds or self.timeout)
        while True:
            m = re.search(pattern, self.out[self.mark:])
            if m:
                self.mark += m.end()
                return m
            if time.time() >= end:
                print("  (output since the last match: %r)" % self.out[self.mark:][-600:])
                return None
            self.pump(0.05)

    def send(self, keys):
        """type keys (str or bytes)"""
        os.write(self.fd, keys.encode() if isinstance(keys, str) else keys)

    def interrupt(self):
        """SIGINT to the program itself (Ctrl-C, whatever its terminal mode)"""
        os.kill(self.pid, signal.SIGINT)

    def close(self, keys=None, seconds=None):
        """type keys (Ctrl-D, say) if given and wait for the exit, collecting what comes; a
        program still running after `seconds` is killed (the test fails instead of hanging);
        the exit status"""
        if keys:
            self.send(keys)
        end = time.time() + (seconds or self.timeout)
        while True:
            self.pump(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.time() >= end:
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                break
        self.pump(0.2)
        return os.waitstatus_to_exitcode(status)
