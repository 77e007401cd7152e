#!/usr/bin/env python3
"""The benchmark drivers in contrib/bench, run end to end on tiny loads.

This checks that the scripts work, not how fast anything is (figures come
from the benchmarks themselves, never from the test suite):

1. `rpc-ingest` with 60 single calls and 300 batched ones: exit 0, every
   call accepted, the durability check passed (SIGKILL, restart, read-back),
   the node stopped cleanly, and the JSON line carries every figure the
   README documents, steal included.
2. `transport` with one small size and one short round: exit 0 and its
   figures.
Bounded in time; every rumord the benchmark reports is killed by pid at the
end if it still runs.
"""

import json
import os
import re
import signal
import subprocess
import sys

SRCDIR = os.environ.get("RUMOR_SRCDIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BUILDDIR = os.environ.get("RUMOR_BUILDDIR") or SRCDIR
BENCH = os.path.join(SRCDIR, "contrib", "bench")

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


def run(script, args, timeout=240):
    """Runs a driver; returns (exit status, output, its JSON line or None)."""
    try:
        cp = subprocess.run([os.path.join(BENCH, script), "--builddir=" + BUILDDIR] + args,
                            capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
        rc, out = cp.returncode, cp.stdout + cp.stderr
        last = [l for l in cp.stdout.splitlines() if l.startswith("{")]
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        rc, out, last = -1, text(e.stdout) + text(e.stderr) + "\n(timed out)", []
    pids.extend(int(p) for p in re.findall(r"rumord pid (\d+)", out))
    try:
        result = json.loads(last[-1]) if last else None
    except json.JSONDecodeError:
        result = None
    return rc, out, result


def rpc_ingest():
    print("contrib/bench/rpc-ingest, tiny load")
    rc, out, r = run("rpc-ingest", ["--count=60", "--batch-count=300", "--batch=100",
                                    "--connections=2", "--seconds=0.3", "--threads=1",
                                    "--sample=0"])
    check(rc == 0, "exit status 0 (%d)" % rc)
    check(r is not None, "prints one JSON line")
    if r is None:
        print(out)
        return
    check(r.get("accepted") == 360 and r.get("errors") == 0,
          "every call accepted (%s accepted, %s errors)" % (r.get("accepted"), r.get("errors")))
    check(r.get("durable") is True and r.get("clean_stop") is True,
          "durable across SIGKILL and restart, then a clean stop")
    check(r.get("count") == 60 and r.get("batch_count") == 300,
          "the counts of both modes are reported")
    check(isinstance(r.get("verify_rate_all_cores"), (int, float))
          and r["verify_rate_all_cores"] > 0, "a baseline was measured")
    steal = r.get("verify_steal_pct")
    check(isinstance(steal, list) and len(steal) == 2, "steal over both baselines is reported")
    for mode, n in (("single", 60), ("batch100", 300)):
        m = r.get(mode) or {}
        check(m.get("accepted") == n and m.get("items_per_s", 0) > 0
              and isinstance(m.get("ratio"), (int, float)),
              "%s: %d accepted, a rate and a ratio" % (mode, n))
        check("steal_pct" in m and "node_cpu_us_per_item" in m,
              "%s: steal and node CPU per item are reported" % mode)
    if failures:
        print(out)


def transport():
    print("contrib/bench/transport, one small size, one round")
    rc, out, r = run("transport", ["--sizes=1K", "--seconds=0.3", "--raw-seconds=0.2",
                                   "--handshake-seconds=0.3", "--rounds=1"])
    check(rc == 0, "exit status 0 (%d)" % rc)
    check(r is not None and r.get("ok") is True, "prints its JSON line with ok: true")
    if r is not None:
        check(r.get("transport_MBps", {}).get("1024", 0) > 0
              and r.get("raw_chacha_MBps", {}).get("1024", 0) > 0,
              "transport and raw ChaCha20-Poly1305 rates for 1 KiB")
        check(r.get("handshakes_per_s_tcp", 0) > 0, "handshakes over TCP were counted")
    if rc != 0 or r is None:
        print(out)


if __name__ == "__main__":
    try:
        rpc_ingest()
        transport()
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    print("test_contrib_bench.py: %s" % ("FAIL" if failures else "PASS"))
    sys.exit(1 if failures else 0)
