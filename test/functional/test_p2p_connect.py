#!/usr/bin/env python3
"""Two nodes connect over the encrypted, authenticated transport.

A listens on 127.0.0.1 (a port it picks); B dials NODEID@HOST:PORT of A.
Checks: each side's getpeerinfo lists exactly the other, with the node id
the other's getinfo reports (authenticated by the handshake), the right
inbound flag, the dialled address, version 1, a user agent, bytes on the
wire both ways with "handshake" and "hello" among the per-message counts
(which add up to the totals, and match what the other side counted once the
link is quiet), a conn_since_us between the test's start and now, and the
"peer connected" log lines.  C dials HOST:PORT without an id and connects
too.  Stopping B and then C empties A's getpeerinfo, with a "peer
disconnected" line for each; A still answers RPC and a fresh crafted peer."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (HEX64, TestBase, TestFailure, check, check_equal, log, peer_tool,
                       require_p2p, wait_until)


def by_id(peers, node_id):
    for p in peers:
        if p.get("node_id") == node_id:
            return p
    raise TestFailure("no peer %s in %r" % (node_id[:16], peers))


class P2PConnect(TestBase):
    def check_peer(self, where, p, want_id, inbound, t_start_us, addr=None):
        log("%s sees %s" % (where, want_id[:16]))
        check_equal(p.get("node_id"), want_id, "%s: node_id is the other's getinfo node_id" % where)
        check(p.get("inbound") is inbound, "%s: inbound is %s" % (where, inbound))
        check(isinstance(p.get("addr"), str) and p["addr"].startswith("127.0.0.1:"),
              "%s: addr %r is a loopback HOST:PORT" % (where, p.get("addr")))
        if addr is not None:
            check_equal(p["addr"], addr, "%s: addr is the dialled address" % where)
        check_equal(p.get("version"), 1, "%s: protocol version" % where)
        check(isinstance(p.get("user_agent"), str) and p["user_agent"] != "",
              "%s: user_agent %r non-empty" % (where, p.get("user_agent")))
        for direction in ("sent", "recv"):
            total = p.get("bytes_" + direction)
            per = p.get("bytes_%s_per_msg" % direction)
            check(isinstance(total, int) and total > 0, "%s: bytes_%s %r > 0" % (where, direction, total))
            check(isinstance(per, dict), "%s: bytes_%s_per_msg is an object" % (where, direction))
            for kind in ("handshake", "hello"):
                check(isinstance(per.get(kind), int) and per[kind] > 0,
                      "%s: bytes_%s_per_msg.%s = %r > 0" % (where, direction, kind, per.get(kind)))
            check(all(isinstance(v, int) and v >= 0 for v in per.values()),
                  "%s: bytes_%s_per_msg values are counts" % (where, direction))
            check_equal(sum(per.values()), total,
                        "%s: bytes_%s_per_msg adds up to bytes_%s" % (where, direction, direction))
        since = p.get("conn_since_us")
        now_us = int(time.time() * 1e6)
        check(isinstance(since, int) and t_start_us - 5_000_000 <= since <= now_us + 5_000_000,
              "%s: conn_since_us %r is Unix time between the test's start and now" % (where, since))
        ping = p.get("ping_us")
        check(ping is None or (isinstance(ping, int) and ping >= -1),
              "%s: ping_us %r is a number (or null/-1 before the first pong)" % (where, ping))

    def run(self):
        require_p2p()
        t_start_us = int(time.time() * 1e6)

        a = self.node("A").start()
        ida = a.node_id()
        a_host, a_port = a.p2p_address()
        check_equal(a_host, "127.0.0.1", "A listens on the --listen host")
        check(a_port > 0, "A picked a port (%d)" % a_port)
        check_equal(a.peers(), [], "A has no peers yet")

        log("B dials A by NODEID@HOST:PORT")
        b = self.node("B").start(["--connect=%s@127.0.0.1:%d" % (ida, a_port)])
        idb = b.node_id()
        check(HEX64.match(ida) and HEX64.match(idb) and ida != idb, "two distinct node ids")
        pa = a.wait_peer_ids([idb])
        pb = b.wait_peer_ids([ida])
        self.check_peer("A", pa[0], idb, True, t_start_us)
        self.check_peer("B", pb[0], ida, False, t_start_us, addr="127.0.0.1:%d" % a_port)
        b.wait_log(r"peer connected: %s 127\.0\.0\.1:%d outbound" % (ida, a_port),
                   "B: peer connected: IDA ... outbound")
        a.wait_log(r"peer connected: %s 127\.0\.0\.1:\d+ inbound" % idb,
                   "A: peer connected: IDB ... inbound")
        check_equal(pa[0]["addr"].rsplit(":", 1)[0], "127.0.0.1", "A: B's address host")

        log("once the link is quiet, each side counted the bytes the other did")

        def counts_match():
            x, y = by_id(a.peers(), idb), by_id(b.peers(), ida)
            return (x["bytes_recv"] == y["bytes_sent"] and x["bytes_sent"] == y["bytes_recv"]
                    and x["bytes_recv_per_msg"].get("handshake") == y["bytes_sent_per_msg"].get("handshake")
                    and x["bytes_recv_per_msg"].get("hello") == y["bytes_sent_per_msg"].get("hello"))
        wait_until(counts_match, "A's received bytes to equal B's sent bytes and vice versa")
        log("  ok: bytes and per-message counts agree across the link")

        log("C dials HOST:PORT without a node id")
        c = self.node("C").start(["--connect=127.0.0.1:%d" % a_port])
        idc = c.node_id()
        pc = c.wait_peer_ids([ida])
        self.check_peer("C", pc[0], ida, False, t_start_us, addr="127.0.0.1:%d" % a_port)
        a.wait_peer_ids([idb, idc])
        log("  ok: A lists B and C")

        log("a crafted peer (our session code in another process) sees A's id too")
        cp = peer_tool("%s@%s:%d" % (ida, a_host, a_port), "handshake", expect_rc=0)
        check("ready " + ida in cp.stdout, "peer_tool: A proved its id")

        log("stop B: A drops it")
        mark = a.log_mark()
        b.stop()
        a.wait_peer_ids([idc])
        a.wait_log(r"peer disconnected: %s 127\.0\.0\.1:\d+: \S" % idb,
                   "A: peer disconnected: IDB ADDR: REASON", since=mark)
        log("  ok: A lists only C")

        log("stop C: A's getpeerinfo is empty")
        c.stop()
        a.wait_peer_ids([])
        check_equal(a.peers(), [], "A has no peers")
        check_equal(a.node_id(), ida, "A still answers RPC")
        peer_tool("%s@%s:%d" % (ida, a_host, a_port), "handshake", expect_rc=0)
        log("  ok: A still accepts a fresh peer")
        a.stop()


if __name__ == "__main__":
    P2PConnect().main()
