#!/usr/bin/env python3
"""A peer over its message budget waits, end to end in rumord.

peer_tool notfoundflood sends notfound messages of 1000 ids (cost 1001
each against the per-peer budget of 100 000 a second, burst 200 000) as
fast as the node reads them.  The node's core emits READ_PAUSE, which
src/conn.c carries out with uv_read_stop, so the flooder's writes block in
TCP until READ_RESUME: getrelayinfo's throttle_pauses and the flooder's
getpeerinfo read_pauses count it, and metrics agree.  Meanwhile the node
answers RPC, an honest peer stays connected on the same connection with
nothing counted against it, and the flooder is still connected when it
stops (6 s: less than the 60 s abuse window, so it only waited).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (PeerToolProcess, TestBase, check, check_equal, log, require_p2p,
                       wait_until)


class P2PBudget(TestBase):
    def run(self):
        require_p2p()
        a = self.node("A").start()
        ida = a.node_id()
        _, port = a.p2p_address()
        target = "%s@127.0.0.1:%d" % (ida, port)
        b = self.node("B").start(["--connect=" + target])
        idb = b.node_id()
        b_at_a = a.wait_peer_ids([idb])[0]
        log("A and B connected")

        flood = PeerToolProcess(target, "notfoundflood", seconds=6)
        try:
            flood.wait_line(r"^ready " + ida)
            wait_until(lambda: a.rpc("getrelayinfo")["throttle_pauses"] > 0,
                       "A to stop reading the flooding peer (throttle_pauses)")
            flooder = [p for p in a.peers() if p["node_id"] != idb]
            check_equal(len(flooder), 1, "A lists the flooder")
            check(flooder[0]["read_pauses"] > 0,
                  "getpeerinfo counts the flooder's pauses (%r)" % flooder[0]["read_pauses"])
            check_equal(a.node_id(), ida, "A answers RPC during the flood")
            honest = [p for p in a.peers() if p["node_id"] == idb][0]
            check_equal(honest["read_pauses"], 0, "the honest peer never waited")
            check_equal(honest["conn_since_us"], b_at_a["conn_since_us"],
                        "A keeps B on the same connection")
            m = flood.wait_line(r"^flooded (\d+) entries", timeout=60)
            log("  ok: the flooder sent %s notfound entries in 6 s" % m.group(1).decode())
            flood.wait_line(r"^held$", timeout=10)
            log("  ok: it only waited (not closed within the abuse window)")
        finally:
            flood.stop()
        relay = a.rpc("getrelayinfo")
        check(relay["throttle_pauses"] > 0, "throttle_pauses %r" % relay["throttle_pauses"])
        check_equal(relay["throttle_closes"], 0, "nobody closed for the budget in 6 s")
        check_equal(b.rpc("getrelayinfo")["throttle_pauses"], 0, "B paused nobody")
        b.stop()
        a.stop()


if __name__ == "__main__":
    P2PBudget().main()
