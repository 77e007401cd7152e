#!/usr/bin/env python3
"""Inbound slots and eviction (issue 14, point 3), with real rumord on
loopback and crafted peers (peer_tool) from distinct 127.a.b.c addresses.

Node N runs with --loopbacknetgroups (each 127.a.0.0/16 a network group),
--maxinbound=20 and --maxhandshakespernetgroup=2.
  1. 20 handshake-and-idle squatters fill N's inbound slots: 19 alternate
     between 127.0/16 and 127.2/16, the 20th is alone in 127.3/16.  Then N
     is given a static peer O by `addnode` (outbound, the youngest peer,
     from 127.0.0.1: in the biggest group).
  2. An honest peer from a new group (127.9.0.1) connects: it gets in, one
     squatter is evicted, and with no ping measured yet it is exactly the
     one the rules name (squatter 18: the youngest of 127.0/16 once the
     oldest of each group, the 8 next oldest and the older half of the
     rest are protected); not O (outbound), not squatter 19 (the youngest,
     but alone in its group).
  3. Handshakes: two silent ones from 127.5/16 are held, a third from
     127.5.0.3 is refused at once, one from 127.6.0.1 is held meanwhile,
     and N closes all three at its 5 s inbound handshake deadline.
  4. Discouragement: a peer from 127.7.0.1 gets in (evicting a squatter)
     and breaks the transport (a tampered frame): N discourages
     127.7.0.1.  Its next connection is accepted while a slot is free and
     is the first evicted when an honest peer (127.10.0.1) needs a slot,
     although it is in a group of its own; once the slots are full again
     127.7.0.1 is refused at accept.
  5. A static peer P of N (addnode on both sides; P's node id is made
     lower than N's, so the simultaneous-dial rule keeps P's connection,
     inbound at N) is never evicted: it is the youngest inbound peer, from
     127.0.0.1, in the group with the youngest members, so without that
     rule it is the one the next honest newcomer (127.11.0.1) would evict.
  6. A peer the core closes with disconnect misbehaviour (relay_peer sends
     a transaction nobody asked for) has its address discouraged too.
O stays connected throughout, and getinfo's "inbound" counts match."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (BUILDDIR, RUMOR_TX, PeerToolProcess, TestBase, check,
                       check_equal, createtx, keygen, log, peer_tool, require_p2p, run_tool,
                       wait_until)

RELAY_PEER = os.path.join(BUILDDIR, "test", "functional", "relay_peer")

SLOTS = 20
HOLD_S = 300


def squatter_addr(i):
    if i == SLOTS - 1:
        return "127.3.0.1"
    return ("127.0.0.%d" if i % 2 == 0 else "127.2.0.%d") % (10 + i)


class P2PEvict(TestBase):
    def run(self):
        require_p2p()
        o = self.node("O").start()
        ido = o.node_id()
        n = self.node("N").start(["--loopbacknetgroups", "--maxinbound=%d" % SLOTS,
                                  "--maxhandshakespernetgroup=2"])
        idn = n.node_id()
        _, port = n.p2p_address()
        target = "%s@127.0.0.1:%d" % (idn, port)
        procs = []
        self.p = None
        try:
            self.steps(n, o, ido, target, procs)
        finally:
            for p in procs:
                p.stop()
        n.stop()
        o.stop()
        if self.p is not None:
            self.p.stop()

    def inbound(self, n):
        return n.rpc("getinfo")["inbound"]

    def steps(self, n, o, ido, target, procs):
        idn = n.node_id()
        log("1. %d squatters fill the inbound slots" % SLOTS)
        squatters = []
        for i in range(SLOTS):
            p = PeerToolProcess(target, "hold", seconds=HOLD_S, bind=squatter_addr(i))
            procs.append(p)
            p.wait_line(r"^ready " + idn)
            squatters.append(p)
            # one at a time: N's order of arrival is the list's
            wait_until(lambda: self.inbound(n)["peers"] == i + 1, "N to count %d" % (i + 1))
        check_equal(n.rpc("addnode", o.p2p_target(), "add"), None, "addnode O")
        peers = wait_until(lambda: (lambda p: p if len(p) == SLOTS + 1 else None)(n.peers()),
                           "N to list the squatters and O")
        o_at_n = [p for p in peers if p["node_id"] == ido]
        check(len(o_at_n) == 1 and not o_at_n[0]["inbound"], "N has O as an outbound peer")
        check_equal(o_at_n[0]["netgroup"], "127.0.0.0/16", "getpeerinfo: O's network group")
        by_addr = {p["addr"].rsplit(":", 1)[0]: p for p in peers}
        check_equal(sorted((a, by_addr[a]["netgroup"], by_addr[a]["discouraged"])
                           for a in map(squatter_addr, (0, 1, SLOTS - 1))),
                    [("127.0.0.10", "127.0.0.0/16", False), ("127.2.0.11", "127.2.0.0/16", False),
                     ("127.3.0.1", "127.3.0.0/16", False)],
                    "getpeerinfo: the squatters' network groups")
        no_ping = all(p.get("ping_us") == -1 for p in peers)
        log("  ok: %d inbound squatters and O (outbound); pings measured: %s"
            % (SLOTS, not no_ping))

        log("2. an honest peer from 127.9.0.1 gets in; one squatter is evicted")
        mark = n.log_mark()
        honest = PeerToolProcess(target, "hold", seconds=HOLD_S, bind="127.9.0.1")
        procs.append(honest)
        honest.wait_line(r"^ready " + idn)
        gone = wait_until(lambda: [i for i, p in enumerate(squatters) if p.proc.poll() is not None]
                          or None, "a squatter to be dropped")
        check_equal(len(gone), 1, "exactly one squatter was evicted")
        victim = gone[0]
        m = n.wait_log(r"p2p: evicting [0-9a-f]{64} (127\.[0-9.]+):\d+ \(network group "
                       r"(\S+), \d+ inbound peers\) to make room for [0-9a-f]{64} "
                       r"127\.9\.0\.1:\d+", "N: evicting ...", since=mark)
        check_equal(m.group(1), squatter_addr(victim), "the log names the evicted squatter")
        if no_ping:
            check_equal(victim, SLOTS - 2, "the rules' choice: the youngest of 127.0/16")
            check_equal(m.group(2), "127.0.0.0/16", "evicted from the biggest group")
        check(squatters[SLOTS - 1].proc.poll() is None, "the youngest squatter, alone in its "
              "group, is still connected" if no_ping else "squatter 19 still connected")
        peers = n.peers()
        check([p for p in peers if p["node_id"] == ido], "O (outbound) is never evicted")
        check_equal(self.inbound(n)["evicted"], 1, "getinfo inbound.evicted")
        check_equal(self.inbound(n)["peers"], SLOTS, "still %d inbound peers" % SLOTS)
        log("  ok: squatter %d (%s, group %s) evicted; O and the honest peer stay"
            % (victim, m.group(1), m.group(2)))

        log("3. handshakes: capped per network group, closed at the deadline")
        silent = []
        for i, addr in enumerate(("127.5.0.1", "127.5.0.2")):
            p = PeerToolProcess(target, "truncated", timeout=30, bind=addr)
            procs.append(p)
            silent.append(p)
            wait_until(lambda: self.inbound(n)["handshakes"] == i + 1,
                       "N to hold %d handshakes" % (i + 1))
        mark = n.log_mark()
        peer_tool(target, "truncated", expect_rc=0, bind="127.5.0.3", timeout=30)
        n.wait_log(r"refusing 127\.5\.0\.3:\d+: too many handshakes from network group "
                   r"127\.5\.0\.0/16 \(2\)", "N: refusing 127.5.0.3", since=mark)
        p = PeerToolProcess(target, "truncated", timeout=30, bind="127.6.0.1")
        procs.append(p)
        silent.append(p)
        wait_until(lambda: self.inbound(n)["handshakes"] == 3, "N to hold 127.6.0.1's handshake")
        log("  ok: 127.5.0.3 refused (the group has 2), 127.6.0.1 held meanwhile")
        for p in silent:
            p.wait_line(r"^closed", timeout=30)
        for addr in ("127.5.0.1", "127.5.0.2", "127.6.0.1"):
            n.wait_log(r"peer disconnected: - %s:\d+: handshake not finished within 5000 ms"
                       % re.escape(addr), "N: %s timed out at 5 s" % addr, since=mark)
        # a closed connection holds its slot until its handles are closed
        wait_until(lambda: self.inbound(n)["handshakes"] == 0, "N to hold no handshake")
        log("  ok: all three closed by the 5 s inbound handshake deadline")

        log("4. a peer that breaks a rule is discouraged")
        mark = n.log_mark()
        peer_tool(target, "tamper", expect_rc=0, bind="127.7.0.1", timeout=30)
        n.wait_log(r"p2p: discouraging 127\.7\.0\.1 for 86400 s", "N: discouraging 127.7.0.1",
                   since=mark)
        check_equal(self.inbound(n)["discouraged"], 1, "getinfo inbound.discouraged")
        # its admission evicted a squatter; after its close one slot is free
        wait_until(lambda: self.inbound(n)["peers"] == SLOTS - 1, "a free slot")
        back = PeerToolProcess(target, "hold", seconds=HOLD_S, bind="127.7.0.1")
        procs.append(back)
        back.wait_line(r"^ready " + idn)
        n.wait_log(r"p2p: accepting 127\.7\.0\.1:\d+ from a discouraged address", since=mark)
        wait_until(lambda: self.inbound(n)["peers"] == SLOTS, "the slots to be full")
        check_equal([p["discouraged"] for p in n.peers()
                     if p["addr"].startswith("127.7.0.1:")], [True],
                    "getpeerinfo: the peer from 127.7.0.1 is marked discouraged")
        log("  ok: while a slot is free, the discouraged address is accepted")
        alive = [i for i, p in enumerate(squatters) if p.proc.poll() is None]
        mark = n.log_mark()
        honest2 = PeerToolProcess(target, "hold", seconds=HOLD_S, bind="127.10.0.1")
        procs.append(honest2)
        honest2.wait_line(r"^ready " + idn)
        back.proc.wait(timeout=30)
        n.wait_log(r"p2p: evicting [0-9a-f]{64} 127\.7\.0\.1:\d+, discouraged address",
                   "N: evicting the discouraged peer", since=mark)
        check_equal([i for i in alive if squatters[i].proc.poll() is not None], [],
                    "no squatter evicted this time")
        log("  ok: the discouraged peer is the first evicted (group of its own, all the same)")
        mark = n.log_mark()
        cp = peer_tool(target, "handshake", bind="127.7.0.1", timeout=30)
        check(cp.returncode != 0, "a discouraged address is refused when the slots are full")
        n.wait_log(r"refusing 127\.7\.0\.1:\d+: inbound slots full and the address is "
                   r"discouraged", "N: refusing the discouraged address", since=mark)
        info = self.inbound(n)
        check(info["refused_at_accept"] >= 2, "getinfo inbound.refused_at_accept counts it")
        check_equal(info["evicted"], 3, "three evictions in all")
        check(honest.proc.poll() is None and honest2.proc.poll() is None,
              "both honest peers still connected")
        check([p for p in n.peers() if p["node_id"] == ido], "O still connected")
        log("  ok: refused at accept; getinfo inbound: %s" % info)

        log("5. a static peer whose connection is inbound is never evicted")
        pnode = self.node("P")
        os.makedirs(pnode.datadir)
        key = os.path.join(pnode.datadir, "node.key")
        for _ in range(64):
            if os.path.exists(key):
                os.remove(key)
            cp = run_tool(RUMOR_TX, ["keygen", "--out=" + key])
            check_equal(cp.returncode, 0, "rumor-tx keygen")
            idp = cp.stdout.strip()
            if idp < idn:
                break
        check(idp < idn, "a key lower than N's id")
        self.p = pnode.start()
        check_equal(pnode.node_id(), idp, "P runs with the key made for it")
        check_equal(n.rpc("addnode", pnode.p2p_target(), "add"), None, "N: addnode P")
        wait_until(lambda: [x for x in n.peers() if x["node_id"] == idp and not x["inbound"]],
                   "N to dial P")
        check_equal(pnode.rpc("addnode", n.p2p_target(), "add"), None, "P: addnode N")
        p_at_n = wait_until(lambda: [x for x in n.peers() if x["node_id"] == idp and x["inbound"]],
                            "N to keep P's own connection (inbound)")[0]
        log("  ok: N keeps P's connection, inbound from %s" % p_at_n["addr"])
        wait_until(lambda: self.inbound(n)["peers"] == SLOTS, "the slots to be full")
        mark = n.log_mark()
        honest3 = PeerToolProcess(target, "hold", seconds=HOLD_S, bind="127.11.0.1")
        procs.append(honest3)
        honest3.wait_line(r"^ready " + idn)
        m = n.wait_log(r"p2p: evicting [0-9a-f]{64} (127\.[0-9.]+:\d+) .*to make room for "
                       r"[0-9a-f]{64} 127\.11\.0\.1:\d+", "N: evicting for 127.11.0.1", since=mark)
        check(m.group(1) != p_at_n["addr"], "P was not the one evicted (%s was)" % m.group(1))
        still = [x for x in n.peers() if x["node_id"] == idp]
        check(still and still[0]["conn_since_us"] == p_at_n["conn_since_us"],
              "P is still connected, on the same inbound connection")
        log("  ok: %s evicted instead; P stays" % m.group(1))

        log("6. the core's misbehaviour close discourages the address as well")
        key = os.path.join(self.tmpdir, "tx.key")
        keygen(key)
        tx = createtx(key, "testnet", payload="ab" * 20)
        mark = n.log_mark()
        cp = subprocess.run([RELAY_PEER, "--connect=" + n.p2p_target(), "--network=testnet",
                             "--mode=unrequested", "--item=" + tx, "--timeout=20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=40)
        check_equal(cp.returncode, 0, "relay_peer unrequested: the node closed it (%s)"
                    % cp.stdout.strip().splitlines()[-1:])
        n.wait_log(r"p2p: discouraging 127\.0\.0\.1 for 86400 s: sent an item that was not "
                   r"requested", "N: discouraging 127.0.0.1", since=mark)
        check_equal(self.inbound(n)["discouraged"], 2, "getinfo inbound.discouraged")
        log("  ok: 127.0.0.1 discouraged after a misbehaviour close")


if __name__ == "__main__":
    P2PEvict().main()
