#!/usr/bin/env python3
"""Submit and read back over JSON-RPC: one node on network "testnet".

Checks: ids are SHA-256 of the item bytes; sendrawtransaction over HTTP and
via rumor-cli; getrawtransaction round trip; getiteminfo fields; resubmit
returns the same id; createblock/submitblock/getblock (verbose and not);
named params; getinfo fields and counts; help; batches answered in order;
notification-only requests get 204; keep-alive; `stop` exits 0 and removes
the cookie."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (HEX64, RPCError, TestBase, TestFailure, check, check_equal, createblock,
                       createtx, expect_rpc_error, item_id, keygen, log, rumor_tx)


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (debug|info|notice|warn|error): \S")


class RPCBasic(TestBase):
    def run(self):
        node = self.node(network="testnet").start()
        key = os.path.join(self.tmpdir, "alice.key")
        pub = keygen(key)
        check(HEX64.match(pub) is not None, "keygen printed a 64-hex public key")

        log("getinfo on a fresh node")
        info = node.rpc("getinfo")
        for field in ("version", "network", "node_id", "items", "uptime_s"):
            check(field in info, "getinfo has field %r" % field)
        check_equal(info["version"], "0.1.0", "getinfo version")
        check_equal(info["network"], "testnet", "getinfo network")
        check(isinstance(info["node_id"], str) and HEX64.match(info["node_id"]) is not None,
              "getinfo node_id is 64 hex")
        check_equal(info["items"], {"tx": 0, "block": 0}, "getinfo items on a fresh node")
        check(isinstance(info["uptime_s"], int) and info["uptime_s"] >= 0, "uptime_s is an integer >= 0")

        log("sendrawtransaction over HTTP")
        tx1 = createtx(key, "testnet", payload="68656c6c6f", nonce=1)
        t_before = time.time()
        txid1 = node.rpc("sendrawtransaction", tx1)
        t_after = time.time()
        check(isinstance(txid1, str) and HEX64.match(txid1) is not None, "sendrawtransaction returns 64 hex")
        check_equal(txid1, item_id(tx1), "tx id is SHA-256 of the item bytes")

        log("keep-alive: several calls on one connection")
        sock = node.conn.sock
        node.rpc("getinfo")
        node.rpc("getinfo")
        check(node.conn is not None and node.conn.sock is sock, "the server kept the connection open")

        log("getrawtransaction / getiteminfo")
        check_equal(node.rpc("getrawtransaction", txid1), tx1, "getrawtransaction returns the same hex")
        ii = node.rpc("getiteminfo", txid1)
        check_equal(ii.get("kind"), "tx", "getiteminfo kind")
        check_equal(ii.get("size"), len(tx1) // 2, "getiteminfo size")
        check_equal(ii.get("source"), "rpc", "getiteminfo source")
        fs = ii.get("first_seen_us")
        check(isinstance(fs, int), "first_seen_us is an integer")
        # Loose window around the submission (no timing assertion, just that
        # the unit is microseconds since the epoch and the clock is the real one).
        check(t_before * 1e6 - 60e6 <= fs <= t_after * 1e6 + 60e6,
              "first_seen_us (%d) is close to now (%d)" % (fs, int(t_after * 1e6)))

        log("submitting again returns the same id and stores nothing new")
        check_equal(node.rpc("sendrawtransaction", tx1), txid1, "resubmit returns the same id")
        check_equal(node.rpc("getiteminfo", txid1).get("first_seen_us"), fs, "first_seen_us unchanged by resubmit")
        check_equal(node.rpc("getinfo")["items"], {"tx": 1, "block": 0}, "one tx stored")

        log("sendrawtransaction via rumor-cli")
        tx2 = createtx(key, "testnet", payload="", nonce=2)
        out = node.cli("sendrawtransaction", tx2, ok=True)
        check_equal(out, item_id(tx2), "rumor-cli prints the bare tx id")
        txid2 = out
        check_equal(node.rpc("getrawtransaction", txid2), tx2, "tx sent via rumor-cli is readable over HTTP")
        check_equal(node.cli("getrawtransaction", txid2, ok=True), tx2, "rumor-cli getrawtransaction")

        log("a large tx (60000-byte payload, ~120 KB request body)")
        big = createtx(key, "testnet", payload=("%02x" % 0x5a) * 60000, nonce=99)
        bigid = node.rpc("sendrawtransaction", big)
        check_equal(bigid, item_id(big), "large tx accepted")
        check_equal(node.rpc("getrawtransaction", bigid), big, "large tx read back intact")
        check_equal(node.rpc("getiteminfo", bigid).get("size"), 122 + 60000, "large tx size")

        log("named params")
        check_equal(node.rpc("getrawtransaction", id=txid1), tx1, "getrawtransaction with named params")

        log("createblock with two txs, submitblock, getblock")
        prev = "ab" * 32  # height > 0 must name a parent
        blk = createblock(key, "testnet", 1, prev, [tx1, tx2])
        n_tx = 3  # tx1, tx2, big
        blkid = node.rpc("submitblock", blk)
        check_equal(blkid, item_id(blk), "submitblock returns SHA-256 of the block bytes")
        check_equal(node.rpc("submitblock", blk), blkid, "resubmitting the block returns the same id")
        vb = node.rpc("getblock", blkid)
        check(isinstance(vb, dict), "getblock default is verbose (an object)")
        for field in ("id", "version", "network_magic", "height", "prev", "timestamp", "producer",
                      "merkle_root", "tx", "size"):
            check(field in vb, "verbose block has field %r" % field)
        check_equal(vb["id"], blkid, "block id")
        check_equal(vb["height"], 1, "block height")
        check_equal(vb["prev"], prev, "block prev")
        check_equal(vb["producer"], pub, "block producer is the key's public key")
        check_equal(vb["tx"], [txid1, txid2], "block lists the two tx ids in order")
        check_equal(vb["size"], len(blk) // 2, "block size")
        check(HEX64.match(str(vb["merkle_root"])) is not None, "merkle_root is 64 hex")
        # every field as rumor-tx decodes the same bytes (rumord writes the
        # verbose object directly, without jansson)
        dec = json.loads(rumor_tx("decode", "--network=testnet", blk))
        check_equal({k: vb[k] for k in sorted(vb)},
                    {k: dec[k] for k in sorted(vb)}, "verbose block equals rumor-tx decode")
        check_equal(node.rpc("getblock", blkid, True), vb, "getblock(id, true) equals the default")
        check_equal(node.rpc("getblock", blkid, False), blk, "getblock(id, false) returns the block hex")
        check_equal(node.rpc("getblock", id=blkid, verbose=False), blk, "getblock with named params")
        bi = node.rpc("getiteminfo", blkid)
        check_equal((bi.get("kind"), bi.get("size"), bi.get("source")), ("block", len(blk) // 2, "rpc"),
                    "getiteminfo of the block")
        expect_rpc_error(lambda: node.rpc("getrawtransaction", blkid), -5, "getrawtransaction of a block id")
        expect_rpc_error(lambda: node.rpc("getblock", txid1), -5, "getblock of a tx id")

        info = node.rpc("getinfo")
        check_equal(info["items"], {"tx": n_tx, "block": 1}, "getinfo counts after three txs and one block")

        log("help")
        h = node.rpc("help")
        check(isinstance(h, str), "help returns a string")
        for m in ("sendrawtransaction", "submitblock", "getrawtransaction", "getblock",
                  "getiteminfo", "getinfo", "help", "stop"):
            check(m in h, "help lists %s" % m)
        hm = node.rpc("help", "getblock")
        check(isinstance(hm, str) and "getblock" in hm and hm != h, "help getblock describes getblock")
        try:
            r = node.rpc("help", "nosuchmethod")
            check(isinstance(r, str), "help of an unknown method answers (string)")
        except RPCError as e:
            check(e.code in (-32601, -32602, -1), "help of an unknown method: error %d" % e.code)

        log("batch answered in order")
        batch = [
            {"jsonrpc": "2.0", "method": "getrawtransaction", "params": [txid1], "id": 10},
            {"jsonrpc": "2.0", "method": "nosuchmethod", "params": [], "id": "eleven"},
            {"jsonrpc": "2.0", "method": "getinfo", "id": 12},
            {"jsonrpc": "2.0", "method": "getinfo"},  # notification: no answer
            {"jsonrpc": "2.0", "method": "getblock", "params": [blkid, False], "id": 13},
            {"jsonrpc": "2.0", "method": "sendrawtransaction", "params": [tx2], "id": None},
        ]
        reply = node.call_json(batch)
        check(isinstance(reply, list), "batch reply is an array")
        check_equal([r.get("id") for r in reply], [10, "eleven", 12, 13, None],
                    "batch answers in request order, notification left out")
        check_equal(reply[0].get("result"), tx1, "batch[0] result")
        check_equal(reply[1].get("error", {}).get("code"), -32601, "batch[1] unknown method error")
        check_equal(reply[2].get("result", {}).get("network"), "testnet", "batch[2] getinfo")
        check_equal(reply[3].get("result"), blk, "batch[3] getblock hex")
        check_equal(reply[4].get("result"), txid2, "batch[4] id null is a call, not a notification")
        for r in reply:
            check_equal(r.get("jsonrpc"), "2.0", "batch reply member has jsonrpc 2.0")

        log("notification-only requests get 204")
        status, hdrs, body = node.post({"jsonrpc": "2.0", "method": "getinfo"})
        check_equal((status, body), (204, b""), "single notification -> 204, no body")
        status, hdrs, body = node.post([{"jsonrpc": "2.0", "method": "getinfo"},
                                        {"jsonrpc": "2.0", "method": "help", "params": []}])
        check_equal((status, body), (204, b""), "batch of notifications -> 204, no body")
        tx3 = createtx(key, "testnet", payload="ff", nonce=3)
        status, hdrs, body = node.post({"jsonrpc": "2.0", "method": "sendrawtransaction", "params": [tx3]})
        check_equal(status, 204, "sendrawtransaction as a notification -> 204")
        # The notification's submission still happened.
        check_equal(node.rpc("getrawtransaction", item_id(tx3)), tx3, "notified tx was stored")
        check_equal(node.rpc("getinfo")["items"], {"tx": n_tx + 1, "block": 1}, "getinfo counts")

        log("stop")
        check(os.path.exists(node.cookie_path), "cookie exists while running")
        check_equal(node.rpc("stop"), "rumord stopping", "stop answers")
        rc = node.wait_exit()
        check_equal(rc, 0, "rumord exit status after stop")
        check(not os.path.exists(node.cookie_path), "cookie removed at clean shutdown")
        lines = node.stderr_text().splitlines()
        bad = [l for l in lines if not LOG_LINE.match(l)]
        check(lines and not bad, "all %d log lines carry time and level (first bad: %r)"
              % (len(lines), bad[:1]))
        check(any(" debug: " in l for l in lines), "--loglevel=debug shows debug lines")

        log("restart: items persisted")
        node.start()
        check_equal(node.rpc("getinfo")["items"], {"tx": n_tx + 1, "block": 1}, "counts after restart")
        check_equal(node.rpc("getblock", blkid, False), blk, "block after restart")
        node.stop()


if __name__ == "__main__":
    RPCBasic().main()
