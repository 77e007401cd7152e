#!/usr/bin/env python3
"""Persist before you acknowledge: an item the RPC port reported as accepted
survives SIGKILL right after the reply.

1. Submit one tx over HTTP, read the reply, SIGKILL at once, restart on the
   same datadir: getrawtransaction returns it.
2. Submit 50 txs in one JSON-RPC batch, SIGKILL right after the reply,
   restart: all 50 are there.
3. The same for a block, and for a batch mixing txs and a block."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (TestBase, check, check_equal, createblock, createtx, item_id, keygen, log,
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

        log("several kill -9 cycles leave a usable database")
        for i in range(3):
            t = createtx(key, "testnet", payload="", nonce=900 + i)
            node.rpc("sendrawtransaction", t)
            self.kill_and_restart(node)
            check_equal(node.rpc("getrawtransaction", item_id(t)), t, "cycle %d: tx survived" % i)
        node.stop()


if __name__ == "__main__":
    Durability().main()
