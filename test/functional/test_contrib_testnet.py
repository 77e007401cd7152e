#!/usr/bin/env python3
"""contrib/testnet, run the way an operator runs it.

1. `contrib/testnet --nodes=3`: three real rumord processes on a private
   network (pre-shared key), wired in a line; a transaction submitted at node
   0 reaches the other two by relay with no duplicate; every node stops
   cleanly and the folder is removed.
2. `--keep`: the nodes keep running and answer RPC on the printed ports;
   the printed stop script stops every one of them and removes the folder.
Bounded in time; every process it learns of is killed by pid at the end.
"""

import os
import re
import signal
import subprocess
import sys
import time

SRCDIR = os.environ.get("RUMOR_SRCDIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BUILDDIR = os.environ.get("RUMOR_BUILDDIR") or SRCDIR
SCRIPT = os.path.join(SRCDIR, "contrib", "testnet")
CLI = os.path.join(BUILDDIR, "src", "rumor-cli")

failures = []
pids = []


def check(cond, what):
    print(("  ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except FileNotFoundError:
        return False
    return False


def run(args, timeout=120):
    try:
        cp = subprocess.run([SCRIPT, "--builddir=" + BUILDDIR] + args, capture_output=True,
                            text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        rc, out = cp.returncode, cp.stdout + cp.stderr
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        rc, out = -1, text(e.stdout) + text(e.stderr) + "\n(timed out)"
    pids.extend(int(p) for p in re.findall(r"node \d+: pid (\d+)", out))
    return rc, out


def main():
    print("contrib/testnet --nodes=3")
    rc, out = run(["--nodes=3"])
    check(rc == 0, "exit status 0 (%d)" % rc)
    check("It reached all 3 nodes" in out, "the transaction reached all 3 nodes")
    check(len(re.findall(r"node [12] has it, relayed by peer", out)) == 2,
          "nodes 1 and 2 got it by relay")
    check("duplicates received on node 2: 0" in out, "no duplicate payload on the last node")
    check("Stopped every node cleanly." in out, "every node stopped cleanly")
    root = re.search(r" in (/\S+)\n", out)
    check(root is not None and not os.path.exists(root.group(1)), "its folder is removed")
    if rc != 0:
        print(out)

    print("contrib/testnet --nodes=2 --keep")
    rc, out = run(["--nodes=2", "--keep"])
    check(rc == 0, "exit status 0 (%d)" % rc)
    stop = re.search(r"Stop it with: (\S+)", out)
    ports = re.findall(r"node \d+: PORT (\d+)", out)
    check(stop is not None and len(ports) == 2, "prints the ports and a stop script")
    if stop and len(ports) == 2:
        root = os.path.dirname(stop.group(1))
        for i, port in enumerate(ports):
            cp = subprocess.run([CLI, "--datadir=%s/node%d" % (root, i),
                                 "--rpcconnect=127.0.0.1:" + port, "getpeerinfo"],
                                capture_output=True, text=True, timeout=30)
            check(cp.returncode == 0 and cp.stdout.count('"node_id"') == 1,
                  "node %d still runs and has its peer" % i)
        subprocess.run([stop.group(1)], timeout=60)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not any(alive(p) for p in pids), "the stop script stopped every node")
        check(not os.path.exists(root), "and removed the folder")
    else:
        print(out)


if __name__ == "__main__":
    try:
        main()
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    print("test_contrib_testnet.py: %s" % ("FAIL" if failures else "PASS"))
    sys.exit(1 if failures else 0)
