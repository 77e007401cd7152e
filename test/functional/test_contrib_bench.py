#!/usr/bin/env python3
"""The benchmark drivers in contrib/bench, run end to end on tiny loads.

This checks that the scripts work, not how fast anything is (figures come
from the benchmarks themselves, never from the test suite):

1. `rpc-ingest` with 60 single calls and 300 batched ones: exit 0, every
   call accepted, the durability check passed (SIGKILL, restart, read-back),
   the node stopped cleanly, and the JSON line carries the figures the
   README documents, steal included.
2. `transport` with one small size and one short round: exit 0 and its
   figures.
3. `hostile` with 5 honest calls and 3 honest txs per phase, small RPC
   attacks and two peer attacks: exit 0 (every honest call answered, every
   honest tx relayed to every node, no honest peer lost, a clean stop) and a
   row per phase with its figures.
4. `sim` with one run of 50 simulated nodes: exit 0, the run ok, and its
   wall time, CPU time, resident memory and events.
Each driver runs in a process group of its own, killed whole at the end, so
no rumord or load generator it started outlives the test, even on a timeout.
"""

import json
import os
import signal
import subprocess

from framework import BUILDDIR, SRCDIR, TestBase, TestFailure, check, check_equal, log, \
    scan_for_bugs

BENCH = os.path.join(SRCDIR, "contrib", "bench")
TIMEOUT_S = 240


def run_driver(script, args):
    """Runs contrib/bench/SCRIPT; returns its JSON line.  Fails on a
    non-zero exit, a timeout, no JSON line or a sanitizer report."""
    cmd = [os.path.join(BENCH, script), "--builddir=" + BUILDDIR] + args
    log("  $ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        out = None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the driver left running
        except ProcessLookupError:
            pass
        if out is None:
            out, _ = proc.communicate()
            raise TestFailure("%s did not finish within %d s:\n%s" % (script, TIMEOUT_S, out))
    if proc.returncode != 0:
        raise TestFailure("%s exited with status %d:\n%s" % (script, proc.returncode, out))
    scan_for_bugs(out, script)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise TestFailure("%s printed no JSON line:\n%s" % (script, out))


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class ContribBench(TestBase):
    def run(self):
        log("contrib/bench/rpc-ingest, tiny load")
        r = run_driver("rpc-ingest", ["--count=60", "--batch-count=300", "--batch=100",
                                      "--connections=2", "--seconds=0.3", "--threads=1",
                                      "--sample=0"])
        check_equal((r.get("accepted"), r.get("errors")), (360, 0), "every call accepted")
        check(r.get("durable") is True and r.get("clean_stop") is True,
              "durable across SIGKILL and restart, then a clean stop")
        check_equal((r.get("count"), r.get("batch_count")), (60, 300), "counts of both modes")
        check(is_number(r.get("verify_rate_all_cores")) and r["verify_rate_all_cores"] > 0,
              "a baseline was measured")
        steal = r.get("verify_steal_pct")
        check(isinstance(steal, list) and len(steal) == 2, "steal over both baselines")
        for mode, n in (("single", 60), ("batch100", 300)):
            m = r.get(mode) or {}
            check_equal(m.get("accepted"), n, "%s: accepted" % mode)
            check(is_number(m.get("items_per_s")) and m["items_per_s"] > 0
                  and is_number(m.get("ratio")), "%s: a rate and a ratio" % mode)
            check("steal_pct" in m and is_number(m.get("node_cpu_us_per_item")),
                  "%s: steal and node CPU per item" % mode)

        log("contrib/bench/transport, one small size, one round")
        r = run_driver("transport", ["--sizes=1K", "--seconds=0.3", "--raw-seconds=0.2",
                                     "--handshake-seconds=0.3", "--rounds=1"])
        check(r.get("ok") is True, "transport reports ok")
        check(r.get("transport_MBps", {}).get("1024", 0) > 0
              and r.get("raw_chacha_MBps", {}).get("1024", 0) > 0,
              "transport and raw ChaCha20-Poly1305 rates for 1 KiB")
        check(r.get("handshakes_per_s_tcp", 0) > 0, "handshakes over TCP were counted")

        log("contrib/bench/hostile, small RPC attacks and two peer attacks, 5 honest calls "
            "and 3 honest txs each")
        phases = ["idle", "slowloris", "batch", "tiny", "bruteforce", "garbage", "badsig-tx"]
        r = run_driver("hostile", ["--calls=5", "--settle=0.3", "--idle=80", "--slowloris=80",
                                   "--bruteforce=2", "--timeout=20", "--relay-items=3",
                                   "--relay-rate=20", "--attacks=" + ",".join(phases)])
        check_equal([row.get("phase") for row in r.get("rows", [])], ["baseline"] + phases,
                    "a row per phase")
        for row in r["rows"]:
            check(row.get("ok", 0) >= 5 and row.get("failed") == 0 and is_number(row.get("p99_ms"))
                  and is_number(row.get("rss_max_mb")) and is_number(row.get("loadavg_1m")),
                  "%s: at least 5 honest calls answered, p99, RSS and load average"
                  % row.get("phase"))
            check(row.get("relay_arrived") == 3 and is_number(row.get("relay_p99_ms"))
                  and row.get("honest_peers") == 3 and row.get("honest_peers_lost") == [],
                  "%s: 3 honest txs relayed to every node with their p99, no honest peer lost"
                  % row.get("phase"))
        check(r["rows"][-1]["attack"].get("runs", 0) >= 1,
              "badsig-tx: the peer attack ran (%r)" % r["rows"][-1]["attack"])
        log("contrib/bench/sim, one run of 50 nodes")
        r = run_driver("sim", ["--sizes=50", "--runs=1", "--items=20"])
        check(r.get("ok") is True and len(r.get("runs", [])) == 1, "sim reports one run, ok")
        run = r["runs"][0]
        check_equal((run.get("nodes"), run.get("ok")), (50, True), "50 nodes, invariants held")
        check(all(is_number(run.get(k)) and run[k] > 0
                  for k in ("wall_s", "cpu_s", "max_rss_mib", "events", "max_core_bytes")),
              "wall, CPU, RSS, events and core memory measured: %r" % run)


if __name__ == "__main__":
    ContribBench().main()
