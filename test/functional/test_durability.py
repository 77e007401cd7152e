#!/usr/bin/env python3
"""Persist before you acknowledge: an item the RPC port reported as accepted
survives SIGKILL right after the reply.

1. Submit one tx over HTTP, read the reply, SIGKILL at once, restart on the
   same datadir: getrawtransaction returns it.
2. Submit 50 txs in one JSON-RPC batch, SIGKILL right after the reply,
   restart: all 50 are there.
3. The same for a block, and for a batch mixing txs and a block."""

import http.client
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (WAIT_S, TestBase, TestFailure, check, check_equal, createblock, createtx, item_id, keygen, log,
                       rumor_tx_many)


class Durability(TestBase):
    def kill_and_restart(self, node):
        node.kill9()
        check_equal(node.proc.returncode, -signal.SIGKILL, "node was killed by SIGKILL")
        node.start()

    def run(self):
        key = os.path.join(self.tmpdir, "k")
        keygen(key)
        node = self.node(network="testnet").start()

        log("one tx, SIGKILL right after the reply")
        tx = createtx(key, "testnet", payload="d00d", nonce=1)
        txid = node.rpc("sendrawtransaction", tx)
        self.kill_and_restart(node)
        check_equal(node.rpc("getrawtransaction", txid), tx, "tx present after kill -9 and restart")
        check_equal(node.rpc("getiteminfo", txid).get("source"), "rpc", "its source is still rpc")

        log("prepare 50 txs")
        txs = rumor_tx_many([["createtx", "--key=" + key, "--network=testnet",
                              "--payload=%04x" % i, "--nonce=%d" % (100 + i)] for i in range(50)])
        ids = [item_id(t) for t in txs]
        check_equal(len(set(ids)), 50, "50 distinct txs")

        log("a batch of 50, SIGKILL right after the reply")
        batch = [{"jsonrpc": "2.0", "method": "sendrawtransaction", "params": [t], "id": i}
                 for i, t in enumerate(txs)]
        reply = node.call_json(batch)
        check(isinstance(reply, list) and len(reply) == 50, "50 answers")
        check_equal([r.get("result") for r in reply], ids, "every answer is the right id, in order")
        self.kill_and_restart(node)
        check_equal(node.rpc("getinfo")["items"], {"tx": 51, "block": 0}, "51 txs after restart")
        check_equal(node.call_json([{"jsonrpc": "2.0", "method": "getrawtransaction", "params": [i],
                                     "id": n} for n, i in enumerate(ids)]),
                    [{"jsonrpc": "2.0", "result": t, "id": n} for n, t in enumerate(txs)],
                    "all 50 read back after kill -9 and restart")

        log("a block, SIGKILL right after the reply")
        blk = createblock(key, "testnet", 0, "00" * 32, txs[:3])
        blkid = node.rpc("submitblock", blk)
        self.kill_and_restart(node)
        check_equal(node.rpc("getblock", blkid, False), blk, "block present after kill -9 and restart")

        log("a mixed batch over a fresh connection, SIGKILL right after the reply")
        more = rumor_tx_many([["createtx", "--key=" + key, "--network=testnet", "--payload=ee",
                               "--nonce=%d" % (500 + i)] for i in range(5)])
        blk2 = createblock(key, "testnet", 2, blkid, more)
        batch = [{"jsonrpc": "2.0", "method": "sendrawtransaction", "params": [t], "id": i}
                 for i, t in enumerate(more)]
        batch.append({"jsonrpc": "2.0", "method": "submitblock", "params": [blk2], "id": "b"})
        status, _, data = node.raw_http("POST", "/", batch)
        check_equal(status, 200, "mixed batch answered")
        self.kill_and_restart(node)
        info = node.rpc("getinfo")
        check_equal(info["items"], {"tx": 56, "block": 2}, "every acknowledged item survived")
        check_equal(node.rpc("getblock", item_id(blk2))["tx"], [item_id(t) for t in more],
                    "second block lists its txs")

        log("SIGKILL while four clients are submitting: every acknowledged tx survives")
        self.kill_under_load(node, key)

        log("several kill -9 cycles leave a usable database")
        for i in range(3):
            t = createtx(key, "testnet", payload="", nonce=900 + i)
            node.rpc("sendrawtransaction", t)
            self.kill_and_restart(node)
            check_equal(node.rpc("getrawtransaction", item_id(t)), t, "cycle %d: tx survived" % i)
        node.stop()

    def kill_under_load(self, node, key):
        n_clients, per_client = 4, 15
        txs = rumor_tx_many([["createtx", "--key=" + key, "--network=testnet", "--payload=%06x" % i,
                              "--nonce=%d" % (10000 + i)] for i in range(n_clients * per_client)])
        acked = []            # ids whose reply arrived before the kill
        lock = threading.Lock()
        stop = threading.Event()
        errors = []
        auth = node.auth_header()

        def client(mine):
            conn = http.client.HTTPConnection(node.host, node.port, timeout=WAIT_S)
            try:
                for i, tx in enumerate(mine):
                    if stop.is_set():
                        return
                    body = json.dumps({"jsonrpc": "2.0", "method": "sendrawtransaction",
                                       "params": [tx], "id": i})
                    try:
                        conn.request("POST", "/", body=body, headers={
                            "Authorization": auth, "Content-Type": "application/json"})
                        reply = json.loads(conn.getresponse().read())
                    except (OSError, http.client.HTTPException, ValueError):
                        return  # the node was killed under us
                    if reply.get("result") != item_id(tx):
                        errors.append(reply)
                        return
                    with lock:
                        acked.append(reply["result"])
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(txs[c::n_clients],), daemon=True)
                   for c in range(n_clients)]
        for t in threads:
            t.start()
        # Kill as soon as a good share has been acknowledged, while the
        # clients are still sending.
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with lock:
                if len(acked) >= n_clients * per_client // 2:
                    break
            time.sleep(0.001)
        os.kill(node.proc.pid, signal.SIGKILL)
        with lock:
            snapshot = list(acked)
        stop.set()
        for t in threads:
            t.join(WAIT_S)
        if errors:
            raise TestFailure("wrong answers under load: %r" % errors[:2])
        node.proc.wait(timeout=WAIT_S)
        node.finish_run()
        with lock:
            final = list(acked)  # replies that were read before the socket died
        log("  %d txs acknowledged when SIGKILL was sent, %d in all" % (len(snapshot), len(final)))
        check(len(snapshot) >= 1, "some txs were acknowledged before the kill")
        node.start()
        reply = node.call_json([{"jsonrpc": "2.0", "method": "getiteminfo", "params": [i], "id": n}
                                for n, i in enumerate(final)])
        missing = [final[r["id"]] for r in reply if "result" not in r]
        check(not missing, "all %d acknowledged txs present after kill -9 (missing: %s)"
              % (len(final), missing[:3]))


if __name__ == "__main__":
    Durability().main()
