#!/usr/bin/env python3
"""Relay RPCs and block handling between two real rumord processes.

- Both nodes addnode each other at once: the simultaneous-dial tie-break
  leaves exactly one connection (started by the node with the lower id);
  adding the same target again is error -23.
- A block whose parent is unknown is held as an orphan (getrelayinfo
  orphan_blocks) and relayed once the parent arrives.
- A block whose transaction is missing is held as pending (pending_blocks)
  and relayed once the transaction arrives; its source peer is recorded.
- addnode remove (-24 when not added), disconnectnode (-5 when not
  connected), and onetry.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (TestBase, check, check_equal, createblock, createtx, expect_rpc_error,  # noqa: E402
                       item_id, keygen, log, relay_node_args, wait_for_items,
                       wait_for_peers, wait_until)

NET = "testnet"


class RelayRpc(TestBase):
    def run(self):
        key = os.path.join(self.tmpdir, "k.key")
        keygen(key)
        a = self.node("A", network=NET)
        a.start(relay_node_args(a), base=False)
        b = self.node("B", network=NET)
        b.start(relay_node_args(b), base=False)
        ida, idb = a.rpc("getinfo")["node_id"], b.rpc("getinfo")["node_id"]
        log("simultaneous addnode both ways")
        a.rpc("addnode", b.p2p_target(), "add")
        b.rpc("addnode", a.p2p_target(), "add")
        # Both dial: the tie-break keeps the connection started by the node
        # with the lower id, on both ends (bounded wait, no fixed sleep).
        # A's dial may be up before B's arrives and replaces it: wait for the
        # settled state rather than the first moment with one connection.
        a_inbound = ida > idb  # A accepted it when B has the lower id

        def settled():
            pa, pb = a.rpc("getpeerinfo"), b.rpc("getpeerinfo")
            return (len(pa) == 1 and len(pb) == 1 and pa[0]["inbound"] == a_inbound
                    and pb[0]["inbound"] == (not a_inbound))
        wait_until(settled, "one connection between A and B, dialled by the lower id")
        check_equal(a.rpc("getpeerinfo")[0]["node_id"], idb, "A's one peer is B")
        expect_rpc_error(lambda: a.rpc("addnode", b.p2p_target(), "add"), -23, "dup add")
        log("orphan: block 1 at A before genesis")
        t1 = createtx(key, NET, payload="01", nonce=1)
        g = createblock(key, NET, 0, "00" * 32, [])
        b1 = createblock(key, NET, 1, item_id(g), [t1])
        a.rpc("sendrawtransaction", t1)
        a.rpc("submitblock", b1)
        wait_until(lambda: b.rpc("getrelayinfo")["orphan_blocks"] == 1, "B to hold an orphan")
        a.rpc("submitblock", g)
        wait_for_items([b], [item_id(g), item_id(b1), item_id(t1)], what="orphan resolved")
        check_equal(b.rpc("getrelayinfo")["orphan_blocks"], 0, "no orphan left")
        log("pending: block 2 at A before its tx")
        t2 = createtx(key, NET, payload="02", nonce=2)
        b2 = createblock(key, NET, 2, item_id(b1), [t2])
        a.rpc("submitblock", b2)
        wait_until(lambda: b.rpc("getrelayinfo")["pending_blocks"] == 1, "B to hold a pending block")
        a.rpc("sendrawtransaction", t2)
        wait_for_items([b], [item_id(b2), item_id(t2)], what="pending resolved")
        check_equal(b.rpc("getrelayinfo")["pending_blocks"], 0, "no pending left")
        check_equal(b.rpc("getiteminfo", item_id(b2))["peer"], ida, "b2 from A")
        log("remove / disconnect")
        check_equal(a.rpc("addnode", b.p2p_target(), "remove"), None, "remove")
        expect_rpc_error(lambda: a.rpc("addnode", b.p2p_target(), "remove"), -24, "remove again")
        # B still has A as a target, so B redials A.
        wait_for_peers(a, 1, 15)
        check_equal(b.rpc("disconnectnode", ida), None, "disconnectnode")
        expect_rpc_error(lambda: b.rpc("disconnectnode", "00" * 32), -5, "not connected")
        wait_for_peers(a, 1, 15)
        check_equal(b.rpc("addnode", a.p2p_target(), "remove"), None, "B remove")
        wait_for_peers(a, 0, 15)
        log("onetry")
        check_equal(a.rpc("addnode", b.p2p_target(), "onetry"), None, "onetry")
        wait_for_peers(a, 1, 15)
        check_equal(a.rpc("getrelayinfo")["invalid_received"], 0, "nothing invalid on A")
        a.stop()
        b.stop()

if __name__ == "__main__":
    RelayRpc().main()
