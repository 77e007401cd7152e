#!/usr/bin/env python3
"""Hostile connections are closed, and only they are.

Node A has a good peer B (B dialled IDA@A) for the whole test.  A crafted
peer (peer_tool) then, one at a time:
  random           writes 4 KiB of random bytes instead of a handshake
  truncated        sends half of handshake message 1 and goes silent
                   (A must drop it by its handshake timeout)
  truncated-close  sends half of handshake message 1 and hangs up
  nohello          completes the Noise handshake, then never sends hello
                   (A must drop it by its handshake timeout, which covers
                   the hello too)
  tamper           completes the handshake, then flips a ciphertext byte
  badlength        completes the handshake, then sends an encrypted frame
                   header announcing an impossible length
  oversized        completes the handshake, then sends continuation frames
                   past the 4 MiB + 1 KiB message limit
Each hostile connection must be closed by A; after each, A still lists B
as the same connection (same conn_since_us), answers RPC, and accepts a
fresh well-behaved crafted peer.  When the handshake was done before the
attack, A logs "peer disconnected" with the attacker's node id.

Connection limits: node L with --maxhandshakespernetgroup=2 and
--loopbacknetgroups holds two silent handshakes from 127.0.0.1, refuses a
third from 127.0.0.2 (the same /16) at once while accepting one from
127.1.0.1, and closes all three by its inbound handshake deadline; past
the handshake, three peers from one address are fine.  Node T with
--maxinbound=1 refuses a second peer from any address (its one peer is
protected from eviction).  test_p2p_evict.py covers eviction."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (PeerToolProcess, TestBase, TestFailure, check, check_equal, log, peer_tool,
                       require_p2p, wait_until)

ATTACKS = ("random", "truncated", "truncated-close", "nohello", "tamper", "badlength", "oversized")
AFTER_HANDSHAKE = ("tamper", "badlength", "oversized")


def local_id(cp):
    m = re.search(r"^local_id ([0-9a-f]{64})$", cp.stdout, re.M)
    if not m:
        raise TestFailure("peer_tool printed no local_id: %r" % cp.stdout)
    return m.group(1)


class P2PHostile(TestBase):
    def run(self):
        require_p2p()
        a = self.node("A").start()
        ida = a.node_id()
        _, port = a.p2p_address()
        target = "%s@127.0.0.1:%d" % (ida, port)
        b = self.node("B").start(["--connect=" + target])
        idb = b.node_id()
        b_at_a = a.wait_peer_ids([idb])[0]
        b.wait_peer_ids([ida])
        log("A and B connected")

        for attack in ATTACKS:
            log("attack: %s" % attack)
            mark = a.log_mark()
            cp = peer_tool(target, attack, expect_rc=0, timeout=30)
            lines = [x for x in cp.stdout.splitlines() if not x.startswith("local_id")]
            log("  ok: peer_tool %s: %s" % (attack, " / ".join(lines)))
            if attack in AFTER_HANDSHAKE:
                check("ready " + ida in cp.stdout, "the handshake before the attack completed")
                a.wait_log(r"peer disconnected: %s 127\.0\.0\.1:\d+: \S" % local_id(cp),
                           "A: peer disconnected: ATTACKER ...", since=mark)
            # the good peer is untouched: same connection, both sides
            now = a.wait_peer_ids([idb])[0]
            check_equal(now.get("conn_since_us"), b_at_a.get("conn_since_us"),
                        "A still has B, on the same connection")
            check_equal([p["node_id"] for p in b.peers()], [ida], "B still has A")
            check_equal(a.node_id(), ida, "A answers RPC")
            good = peer_tool(target, "handshake", expect_rc=0)
            check("ready " + ida in good.stdout, "A accepts a fresh well-behaved peer")
            a.wait_peer_ids([idb])  # the fresh peer is gone again

        check(b.running() and a.running(), "A and B still running")
        b.stop()
        a.wait_peer_ids([])
        a.stop()

        log("limit: --maxhandshakespernetgroup=2 --loopbacknetgroups")
        node_l = self.node("L").start(["--maxhandshakespernetgroup=2", "--loopbacknetgroups"])
        idl = node_l.node_id()
        _, lport = node_l.p2p_address()
        ltarget = "%s@127.0.0.1:%d" % (idl, lport)
        holders = []

        def handshakes():
            return node_l.rpc("getinfo")["inbound"]["handshakes"]
        try:
            for i in range(2):
                holders.append(PeerToolProcess(ltarget, "truncated", timeout=30))
                wait_until(lambda: handshakes() == i + 1, "L to hold %d handshakes" % (i + 1))
            log("  ok: two silent handshakes from 127.0.0.1 are held")
            mark = node_l.log_mark()
            peer_tool(ltarget, "truncated", expect_rc=0, bind="127.0.0.2", timeout=30)
            node_l.wait_log(r"refusing 127\.0\.0\.2:\d+: too many handshakes from network "
                            r"group 127\.0\.0\.0/16 \(2\)", "L: refusing 127.0.0.2", since=mark)
            log("  ok: a third from 127.0.0.2 (the same /16) is refused at once")
            holders.append(PeerToolProcess(ltarget, "truncated", timeout=30, bind="127.1.0.1"))
            wait_until(lambda: handshakes() == 3, "L to hold a handshake from 127.1.0.1")
            log("  ok: one from 127.1.0.1 (another /16) is accepted meanwhile")
            for h in holders:  # each is closed by the node's inbound handshake deadline
                h.wait_line(r"^closed", timeout=30)
            # a closed connection holds its slot until its handles are closed
            wait_until(lambda: handshakes() == 0, "L to hold no handshake once they timed out")
            log("  ok: the node closed all three (inbound handshake deadline)")
        finally:
            for h in holders:
                h.stop()
        holders = []
        try:
            for i in range(3):  # past the handshake, peers are not limited per group
                h = PeerToolProcess(ltarget, "hold", seconds=60)
                holders.append(h)
                h.wait_line(r"^ready " + idl)
            peers = wait_until(lambda: (lambda p: p if len(p) == 3 else None)(node_l.peers()),
                               "L to list three peers")
            check_equal([p["addr"].rsplit(":", 1)[0] for p in peers], ["127.0.0.1"] * 3,
                        "L's peers by address")
            log("  ok: three peers from 127.0.0.1 past the handshake")
        finally:
            for h in holders:
                h.stop()
        node_l.wait_peer_ids([])
        node_l.stop()

        log("limit: --maxinbound=1")
        node_t = self.node("T").start(["--maxinbound=1"])
        idt = node_t.node_id()
        _, tport = node_t.p2p_address()
        ttarget = "%s@127.0.0.1:%d" % (idt, tport)
        h = PeerToolProcess(ttarget, "hold", seconds=60)
        try:
            h.wait_line(r"^ready " + idt)
            mark = node_t.log_mark()
            peer_tool(ttarget, "handshake", expect_rc=1, bind="127.0.0.2")
            node_t.wait_log(r"p2p: refusing [0-9a-f]{64} 127\.0\.0\.2:\d+: inbound slots full "
                            r"\(1\) and every inbound peer is protected from eviction",
                            "T: refusing the second peer", since=mark)
            check_equal(node_t.rpc("getinfo")["inbound"]["refused_full"], 1,
                        "getinfo inbound.refused_full")
            log("  ok: a second inbound peer (from 127.0.0.2) is refused")
            check_equal(len(node_t.peers()), 1, "T still lists its one peer")
        finally:
            h.stop()
        node_t.wait_peer_ids([])
        wait_until(lambda: peer_tool(ttarget, "handshake", bind="127.0.0.2").returncode == 0,
                   "T to accept a peer again")
        log("  ok: with the slot free, a peer is accepted")
        node_t.stop()


if __name__ == "__main__":
    P2PHostile().main()
