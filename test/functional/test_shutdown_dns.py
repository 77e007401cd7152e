#!/usr/bin/env python3
"""Shutdown does not wait for a name lookup that hangs.

`rumord --connect=NAME:PORT` resolves NAME with getaddrinfo.  When the DNS
server does not answer, glibc waits `timeout` seconds per server and attempt
(30 s here); SIGTERM must still stop the node with exit 0 within 2 seconds,
cookie removed, and the log must say that the lookup was not waited for.

The node runs in network and mount namespaces the test makes itself
(unshare, as root): loopback only, and /etc/resolv.conf bound over, inside
the mount namespace alone, by one that names a DNS server on 127.0.0.1 which
reads queries and never answers.  That server is a Python script the test
starts in the namespace; it ends by itself after 60 s and is killed by pid
at the end.  Skipped (exit 77) without root, unshare or ip.
"""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (SkipTest, TestBase, TestFailure, check, check_equal, log, p2p_supported,
                       wait_until)

SHUTDOWN_LIMIT_S = 2.0
DNS_TIMEOUT_S = 30  # what glibc waits for the silent server, per attempt

# Binds 127.0.0.1:53/udp, writes its pid, says it is ready, notes the first
# query, answers nothing; ends after argv[2] seconds.
SILENT_DNS = r"""
import os, socket, sys, time
state, life = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
s.settimeout(0.5)
with open(os.path.join(state, "dns.pid"), "w") as f:
    f.write("%d\n" % os.getpid())
open(os.path.join(state, "ready"), "w").close()
end = time.monotonic() + life
while time.monotonic() < end:
    try:
        s.recvfrom(4096)
    except socket.timeout:
        continue
    open(os.path.join(state, "query"), "w").close()
"""


def namespaces_usable():
    if os.geteuid() != 0:
        return "needs root (unshare of network and mount namespaces)"
    for tool in ("unshare", "ip"):
        if not shutil.which(tool):
            return "%s not installed" % tool
    cp = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True,
                        stdin=subprocess.DEVNULL, timeout=20)
    if cp.returncode != 0:
        return "unshare --net --mount refused: %s" % cp.stderr.decode(errors="replace").strip()
    return None


class ShutdownDns(TestBase):
    def run(self):
        if not p2p_supported():
            raise SkipTest("this rumord has no peer support")
        why = namespaces_usable()
        if why:
            raise SkipTest(why)
        state = os.path.join(self.tmpdir, "dns")
        os.mkdir(state)
        resolv = os.path.join(state, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:%d attempts:1\n" % DNS_TIMEOUT_S)
        script = os.path.join(state, "silent_dns.py")
        with open(script, "w") as f:
            f.write(SILENT_DNS)
        q = shlex.quote
        setup = ("set -e; ip link set lo up; mount --bind %s /etc/resolv.conf; "
                 "%s %s %s 60 & "
                 "i=0; while [ ! -e %s ]; do i=$((i+1)); [ $i -le 400 ] || exit 90; "
                 "sleep 0.05; done; "
                 'exec "$0" "$@"'
                 % (q(resolv), q(sys.executable), q(script), q(state),
                    q(os.path.join(state, "ready"))))
        wrapper = ["unshare", "--net", "--mount", "sh", "-c", setup]
        try:
            self.check_shutdown(state, wrapper)
        finally:
            self.kill_dns(state)

    def check_shutdown(self, state, wrapper):
        log("rumord --connect=peer.slow.test:8633 with a DNS server that never answers")
        node = self.node()
        node.start(["--connect=peer.slow.test:8633"], wrapper=wrapper)
        wait_until(lambda: os.path.exists(os.path.join(state, "query")),
                   "the node's DNS query to reach the silent server")
        log("  the lookup is under way (the silent server got the query)")
        cookie = node.cookie_path
        t0 = time.monotonic()
        node.send_signal(signal.SIGTERM)
        try:
            rc = node.proc.wait(timeout=DNS_TIMEOUT_S - 5)
        except subprocess.TimeoutExpired:
            raise TestFailure("rumord did not exit within %d s of SIGTERM: it waited for the "
                              "lookup" % (DNS_TIMEOUT_S - 5))
        elapsed = time.monotonic() - t0
        node.finish_run()
        check_equal(rc, 0, "exit status after SIGTERM")
        check(elapsed < SHUTDOWN_LIMIT_S, "exited %.2f s after SIGTERM (limit %.0f s, the lookup "
              "would take %d s)" % (elapsed, SHUTDOWN_LIMIT_S, DNS_TIMEOUT_S))
        check(not os.path.exists(cookie), "cookie removed")
        text = node.stderr_text()
        check("not waiting for 1 name lookup still running" in text,
              "the log says the lookup was not waited for")
        check("shutdown complete" in text, "the log says shutdown completed")

    def kill_dns(self, state):
        try:
            with open(os.path.join(state, "dns.pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    ShutdownDns().main()
