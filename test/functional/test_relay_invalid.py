#!/usr/bin/env python3
"""Invalid and unrequested items from a crafted peer (issue 4).

Node A has one honest peer, B (B dials A).  test/functional/relay_peer (C,
the node's own session code under a fresh identity) dials A and misbehaves:

  1. invalid: it announces the id of a tampered tx (made with rumor-tx
     createtx, then one payload byte flipped, so the signature no longer
     verifies and the id is that of the tampered bytes) and answers A's
     getdata with the tampered bytes.  A must not store it, must count it in
     invalid_received, must close the connection and log the reason; B must
     never hear of it (getiteminfo -5; after a valid tx at A has reached B
     as a barrier, B's getpeerinfo shows exactly one id announced by A, and
     B counts nothing invalid).
  2. reannounce: a new crafted connection announces the rejected id again
     and then a valid tx's id; A asks only for the valid one (recently
     rejected ids are not fetched again) and stores it.
  3. unrequested: a crafted peer sends a tx payload nobody asked for; A
     closes the connection and logs the reason.
  4. fetch: after A restarts (its recent-items cache empty), a crafted
     peer's getdata is served from A's store: a block (read on the store's
     reader thread) and a tx (read on the loop), byte for byte; an id A
     lacks is answered notfound.

Skipped (77) only while rumord has no relay (no --addnode in --help)."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (BUILDDIR, SkipTest, TestBase, TestFailure, _PROCS, check, check_equal,
                       createblock, createtx, expect_rpc_error, item_id, keygen, log, relay_node_args,
                       rumord_help_has, scan_for_bugs, wait_for_items, wait_for_peers,
                       wait_until)

NET = "testnet"
RELAY_PEER = os.path.join(BUILDDIR, "test", "functional", "relay_peer")
PEER_TIMEOUT_S = 25


def tamper(tx_hex):
    """Flip one bit of the first payload byte (offset 58, after the
    58-byte tx header): same length and structure, bad signature."""
    raw = bytearray(bytes.fromhex(tx_hex))
    raw[58] ^= 0x01
    return raw.hex()


def run_peer(node, mode, item, item2=None, kind=None):
    """Run the crafted peer against node; returns (exit status, output lines)."""
    args = [RELAY_PEER, "--connect=" + node.p2p_target(),
            "--network=" + NET, "--mode=" + mode, "--item=" + item,
            "--timeout=%d" % PEER_TIMEOUT_S]
    if item2:
        args.append("--item2=" + item2)
    if kind:
        args.append("--kind=" + kind)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _PROCS.append(p)
    try:
        out, err = p.communicate(timeout=PEER_TIMEOUT_S + 10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise TestFailure("relay_peer --mode=%s did not finish:\n%s%s" % (mode, out, err))
    scan_for_bugs(err, "relay_peer")
    for line in out.splitlines():
        log("    peer: " + line)
    if p.returncode == 2:
        raise TestFailure("relay_peer could not run: %s" % err.strip())
    return p.returncode, out.splitlines()


def peer_id(lines):
    return next(l.split()[1] for l in lines if l.startswith("node_id "))


def node_gone(lines):
    return any(l.startswith("closed by node:") or l in ("eof", "reset") for l in lines)


def wait_disconnect_logged(node, pid):
    pat = re.compile(r"peer disconnected: %s \S+: (.+)" % pid)
    m = wait_until(lambda: pat.search(node.stderr_text()),
                   "%s to log 'peer disconnected: %s.. ADDR: REASON'" % (node.name, pid[:12]))
    log("  ok: %s logged the disconnect of %s..: %s" % (node.name, pid[:12], m.group(1).strip()))
    return m.group(1)


class RelayInvalid(TestBase):
    def run(self):
        if not rumord_help_has("--addnode"):
            raise SkipTest("rumord has no relay yet (no --addnode in rumord --help)")
        if not os.access(RELAY_PEER, os.X_OK):
            raise TestFailure("%s is not built (make check builds it)" % RELAY_PEER)
        key = os.path.join(self.tmpdir, "k.key")
        keygen(key)
        good = [createtx(key, NET, payload="%02x" % i * 40, nonce=i) for i in range(4)]
        bad = tamper(good[0])
        bad_id, good_id = item_id(bad), [item_id(t) for t in good]
        check(bad_id != good_id[0], "the tampered tx has its own id")

        a = self.node("A", network=NET)
        a.start(relay_node_args(a), base=False)
        b = self.node("B", network=NET)
        b.start(relay_node_args(b, extra=["--connect=" + a.p2p_target()]), base=False)
        wait_for_peers(a, 1)
        a_id = a.rpc("getinfo")["node_id"]
        pb = {p["node_id"]: p for p in wait_for_peers(b, 1)}
        announced0 = pb[a_id]["announced_to_us"]

        log("1. a crafted peer announces a tampered tx and delivers it on request")
        rc, lines = run_peer(a, "invalid", bad)
        crafted = peer_id(lines)
        check("ready " + a_id in lines, "the crafted peer completed the handshake with A")
        check(any(l.startswith("recv getdata") and bad_id in l for l in lines),
              "A requested the announced id with getdata")
        check("sent tx " + bad_id in lines, "the crafted peer sent the tampered payload")
        check(node_gone(lines), "A closed the connection")
        check_equal(rc, 0, "relay_peer result (disconnected after the invalid item)")
        wait_disconnect_logged(a, crafted)
        expect_rpc_error(lambda: a.rpc("getiteminfo", bad_id), -5, "A did not store the tampered tx")
        check_equal(a.rpc("getinfo")["items"]["tx"], 0, "A stores no tx")
        check_equal(a.rpc("getrelayinfo")["invalid_received"], 1, "A: invalid_received")
        wait_until(lambda: len(a.rpc("getpeerinfo")) == 1, "A to list only B")
        check_equal([p["node_id"] for p in a.rpc("getpeerinfo")], [b.rpc("getinfo")["node_id"]],
                    "A's one remaining peer is B")

        log("barrier: a valid tx at A reaches B; then B must not know the tampered one")
        a.rpc("sendrawtransaction", good[1])
        wait_for_items([b], [good_id[1]], what="the valid tx at B")
        expect_rpc_error(lambda: b.rpc("getiteminfo", bad_id), -5, "B never got the tampered tx")
        pb = {p["node_id"]: p for p in b.rpc("getpeerinfo")}
        check_equal(pb[a_id]["announced_to_us"] - announced0, 1,
                    "A announced exactly one id to B (the valid one)")
        check_equal(pb[a_id]["requested"], 1, "B requested exactly one id from A")
        rb = b.rpc("getrelayinfo")
        check_equal(rb["invalid_received"], 0, "B: invalid_received")
        check_equal(rb["duplicates_received"], 0, "B: duplicates_received")
        check_equal(rb["items_accepted"]["by_kind"]["tx"], 1, "B accepted one tx")

        log("2. the rejected id announced again is not fetched again")
        rc, lines = run_peer(a, "reannounce", bad, good[2])
        check(any(l.startswith("recv getdata") and good_id[2] in l for l in lines),
              "A requested the new valid id")
        check(not any(l.startswith("recv getdata") and bad_id in l for l in lines),
              "A did not request the rejected id")
        check_equal(rc, 0, "relay_peer result (reannounce)")
        wait_for_items([a, b], [good_id[2]], what="the valid tx from the crafted peer")
        check_equal(a.rpc("getiteminfo", good_id[2])["peer"], peer_id(lines),
                    "A got it from the crafted peer")
        expect_rpc_error(lambda: a.rpc("getiteminfo", bad_id), -5, "still no tampered tx at A")

        log("3. a crafted peer sends a tx nobody asked for")
        rc, lines = run_peer(a, "unrequested", good[3])
        check("sent tx " + good_id[3] in lines, "the crafted peer sent an unrequested tx")
        check(node_gone(lines), "A closed the connection")
        check_equal(rc, 0, "relay_peer result (disconnected after the unrequested item)")
        wait_disconnect_logged(a, peer_id(lines))

        log("A and B are still connected and relaying")
        wait_until(lambda: len(a.rpc("getpeerinfo")) == 1, "A to list only B again")
        check_equal(len(b.rpc("getpeerinfo")), 1, "B still has A")
        check_equal(b.rpc("getrelayinfo")["invalid_received"], 0, "B: still nothing invalid")
        b.stop()

        log("4. after a restart (nothing cached), A serves stored items to a peer")
        blk = createblock(key, NET, 0, "00" * 32, [good[1], good[2]])
        blk_id = a.rpc("submitblock", blk)
        check_equal(blk_id, item_id(blk), "submitblock returned the block's id")
        a.stop()
        a.start(relay_node_args(a), base=False)
        rc, lines = run_peer(a, "fetch", blk, kind="block")
        check("recv item " + blk_id in lines, "A sent the block, read from its store")
        check_equal(rc, 0, "relay_peer result (fetch block)")
        rc, lines = run_peer(a, "fetch", good[1], kind="tx")
        check("recv item " + good_id[1] in lines, "A sent the tx, read from its store")
        check_equal(rc, 0, "relay_peer result (fetch tx)")
        rc, lines = run_peer(a, "fetch", good[3] + "00", kind="block")
        check_equal(rc, 1, "relay_peer result (fetch of an id A lacks: notfound)")
        a.stop()


if __name__ == "__main__":
    RelayInvalid().main()
