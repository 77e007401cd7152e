#!/usr/bin/env python3
"""Attacks on the JSON-RPC port are contained: beside each, an honest client
(getinfo on a fresh connection per call, as rumor-cli does) is served, the
node keeps answering, and its resident memory stays under a generous bound.

One rumord with the default RPC limits (64 connection slots, 5 s to send a
request's headers, 32 MiB bodies).  The attacks (contrib/bench/rpc_attacks.py,
shared with contrib/bench/hostile, which prints figures):
  idle        200 connections that never send a byte, reopened when closed:
              more than the 64 slots, so before the fix no honest call got in
  slowloris   150 connections sending headers a byte at a time, reopened
              when closed (the server cuts them off with 408 or evicts them)
  batch       2 authenticated clients sending batches of 1000
              getblock(ID, false) on a 4 MiB block, back to back: each batch
              is answered, with at most 4 results (the 32 MiB answer budget)
              and "response too large" for the rest, refused before running
  tiny        32 MiB bodies of tiny values: each is refused with -32600
              "more than 100000 JSON values", not parsed whole
  bruteforce  4 clients trying wrong passwords: each is answered 401 after
              the delay, getinfo counts them (rpc_auth_failures), and the log
              reports them rate-limited (not one line each)
Assertions are about containment (every honest call succeeds, the answers
are the bounded ones), never about timing figures; the honest client's
per-call timeout (20 s) only bounds a hung test.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (BUILDDIR, SRCDIR, TestBase, TestFailure, check, check_equal, item_id,
                       log, run_tool)

sys.path.insert(0, os.path.join(SRCDIR, "contrib", "bench"))
import rpc_attacks  # noqa: E402

BENCH_INGEST = os.path.join(BUILDDIR, "contrib", "bench", "bench-ingest")
HONEST_CALLS = 15
# Generous: the issue measured 1.2 GB for the tiny-value bodies alone.
# Sanitizer builds keep freed memory in quarantine, so they get more room.
RSS_LIMIT = 512 << 20
RSS_LIMIT_ASAN = 1536 << 20


def built_with_asan(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


class RpcHostile(TestBase):
    def honest_beside(self, node, attack, settle=0.5):
        """Starts the attack, lets it take hold, runs the honest calls,
        stops it.  Returns (counters, honest, max RSS during the attack)."""
        # in a process of its own: its Python threads must not delay the
        # honest client's (rpc_attacks.Isolated)
        attack = rpc_attacks.Isolated(attack)
        rss = rpc_attacks.RssSampler(node.proc.pid).start()
        attack.start()
        time.sleep(settle)
        honest = rpc_attacks.Honest(node.host, node.port, node.auth_header()).run_calls(HONEST_CALLS)
        counters = attack.stop()
        rss.stop()
        if attack.errors:
            raise TestFailure("the %s attack itself failed: %s" % (attack.name, attack.errors))
        log("  %s: %s" % (attack.name, counters))
        log("  honest: %d ok, %d failed; max RSS %.0f MB"
            % (len(honest.latencies), len(honest.failures), rss.max / 1048576.0))
        check(not honest.failures, "every honest call during %s succeeds (failures: %s)"
              % (attack.name, honest.failures[:3]))
        check_equal(len(honest.latencies), HONEST_CALLS, "honest calls answered")
        check(rss.max < self.rss_limit, "RSS during %s stays under %d MB (max %.0f MB)"
              % (attack.name, self.rss_limit >> 20, rss.max / 1048576.0))
        check(node.running(), "the node is still running")
        return counters, honest, rss.max

    def run(self):
        self.rss_limit = RSS_LIMIT_ASAN if built_with_asan(os.path.join(BUILDDIR, "src", "rumord")) \
            else RSS_LIMIT
        node = self.node("A").start()
        host, port = node.host, node.port

        log("a 4 MiB block to read")
        cp = run_tool(BENCH_INGEST, ["bigblock", "--network=testnet"], timeout=60)
        block = cp.stdout.strip()
        check(len(block) > 8_000_000, "bench-ingest bigblock made a block of about 4 MiB")
        block_id = node.rpc("submitblock", block)
        del block

        log("idle connections (200 > 64 slots)")
        c, _, _ = self.honest_beside(node, rpc_attacks.Idle(host, port, 200), settle=1.0)
        check(c.get("closed_by_server", 0) > 0, "the server closed idle connections")

        log("slowloris (150 connections, a header byte each per 0.2 s)")
        c, _, _ = self.honest_beside(node, rpc_attacks.Slowloris(host, port, 150, interval=0.2),
                                     settle=1.0)
        check(c.get("closed_by_server", 0) > 0, "the server cut slowloris connections off")

        log("expensive batches: 1000 x getblock(4 MiB block, false)")
        c, _, _ = self.honest_beside(node, rpc_attacks.Batch(host, port, node.auth_header(),
                                                             block_id, clients=2))
        check(c.get("batches", 0) > 0, "at least one batch was answered")
        check(c["max_results_per_batch"] <= 4,
              "a batch gets at most 4 blocks (32 MiB budget), the rest refused unrun (got %d)"
              % c["max_results_per_batch"])

        log("tiny-value bodies (32 MiB of [0,0,...])")
        c, _, _ = self.honest_beside(node, rpc_attacks.Tiny(host, port, node.auth_header()))
        check(c.get("bodies", 0) > 0, "at least one tiny-value body was answered")
        for m in c["messages"]:
            check(m.startswith("-32600 invalid request: more than 100000 JSON values"),
                  "tiny-value body refused at the value limit: %r" % m)

        log("password brute force (4 clients)")
        before = node.rpc("getinfo")["rpc_auth_failures"]
        mark = node.log_mark()
        t0 = time.monotonic()
        c, _, _ = self.honest_beside(node, rpc_attacks.BruteForce(host, port, clients=4))
        elapsed = time.monotonic() - t0
        answered = c.get("answer_401", 0)
        check(answered > 0, "wrong passwords are answered 401")
        check(c.get("min_401_s", 0) >= 0.2, "a 401 comes only after the delay (fastest %.3f s)"
              % c.get("min_401_s", 0))
        after = node.rpc("getinfo")["rpc_auth_failures"]
        check(after - before >= answered, "getinfo counts every failure (%d counted, %d answered)"
              % (after - before, answered))
        lines = re.findall(r"failed authentication", node.stderr_text()[mark:])
        check(1 <= len(lines) <= 2 + elapsed / 10,
              "failures are logged rate-limited (%d lines for %d failures in %.0f s)"
              % (len(lines), answered, elapsed))

        check_equal(item_id(node.rpc("getblock", block_id, False)), block_id,
                    "the node still serves the block, intact")
        node.stop()


if __name__ == "__main__":
    RpcHostile().main()
