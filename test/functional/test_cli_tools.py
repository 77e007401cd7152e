#!/usr/bin/env python3
"""The command-line tools as a user runs them.

rumor-tx: keygen (mode 0600, refuses to overwrite), pubkey, createtx,
createblock and decode (JSON fields), decode of garbage exits 1, rpcauth.
rumor-cli: bare id for sendrawtransaction, JSON for getinfo, JSON arguments
(getblock ID false), exit 1 with "error code:" on an RPC error, non-zero with
a "cannot connect" message when no node listens, usage errors."""

import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (HEX64, RUMOR_CLI, TestBase, TestFailure, check, check_equal, createblock,
                       createtx, file_mode, item_id, keygen, log, network_magic, run_tool, rumor_tx)


def find(obj, *names):
    """First present field among names (decode output naming is checked
    loosely where the interface does not fix it)."""
    for n in names:
        if n in obj:
            return obj[n]
    raise TestFailure("none of the fields %s in %r" % (names, obj))


class CliTools(TestBase):
    def run(self):
        self.rumor_tx_checks()
        self.rumor_cli_checks()

    def rumor_tx_checks(self):
        log("rumor-tx keygen")
        key = os.path.join(self.tmpdir, "alice.key")
        pub = keygen(key)
        check(HEX64.match(pub) is not None, "keygen prints a 64-hex public key")
        check_equal(file_mode(key), 0o600, "key file mode")
        with open(key) as f:
            content = f.read()
        check(re.fullmatch(r"[0-9a-f]{64}\n", content) is not None, "key file is 64 hex + newline")
        check(pub not in content, "key file holds the seed, not the public key")
        cp = rumor_tx("keygen", "--out=" + key, ok=False)
        check(cp.returncode != 0, "keygen refuses to overwrite an existing key file (exit %d)" % cp.returncode)
        check(cp.stderr.strip() != "", "keygen says why: %r" % cp.stderr.strip())
        with open(key) as f:
            check_equal(f.read(), content, "the existing key file is unchanged")
        key2 = os.path.join(self.tmpdir, "bob.key")
        pub2 = keygen(key2)
        check(pub2 != pub, "two keygens give different keys")
        cp = rumor_tx("keygen", ok=False)
        check(cp.returncode == 0 and re.search(r"[0-9a-f]{64}", cp.stdout) is not None,
              "keygen without --out prints key material")

        log("rumor-tx pubkey")
        cp = rumor_tx("pubkey", "--key=" + key, ok=False)
        if cp.returncode != 0:
            cp = rumor_tx("pubkey", key, ok=False)
        check_equal(cp.stdout.strip(), pub, "pubkey prints the key's public key")
        cp = rumor_tx("pubkey", "--key=" + os.path.join(self.tmpdir, "missing.key"), ok=False)
        check(cp.returncode != 0 and cp.stderr.strip() != "", "pubkey of a missing file fails with a message")
        badkey = os.path.join(self.tmpdir, "bad.key")
        with open(badkey, "w") as f:
            f.write("not hex at all\n")
        os.chmod(badkey, 0o600)
        cp = rumor_tx("createtx", "--key=" + badkey, "--network=testnet", "--payload=00", ok=False)
        check(cp.returncode != 0 and cp.stderr.strip() != "", "createtx with a malformed key file fails")

        log("rumor-tx createtx and decode")
        now = int(time.time())
        tx = createtx(key, "testnet", payload="68656c6c6f", nonce=42, timestamp=now)
        check(re.fullmatch(r"[0-9a-f]+", tx) is not None, "createtx prints lower-case hex")
        check_equal(len(tx) // 2, 122 + 5, "tx size is 122 + payload length")
        check_equal(bytes.fromhex(tx)[2:6], network_magic("testnet"), "tx carries testnet's magic")
        again = createtx(key, "testnet", payload="68656c6c6f", nonce=42, timestamp=now)
        check_equal(again, tx, "createtx is deterministic (Ed25519) for the same inputs")
        other = createtx(key, "testnet", payload="68656c6c6f", nonce=43, timestamp=now)
        check(other != tx, "a different nonce gives a different tx")
        d = json.loads(rumor_tx("decode", tx))
        check(isinstance(d, dict), "decode prints a JSON object")
        check_equal(d.get("kind"), "tx", "decode kind")
        check_equal(find(d, "id", "txid"), item_id(tx), "decode id is SHA-256 of the bytes")
        check_equal(find(d, "sender", "pubkey"), pub, "decode sender")
        check_equal(d.get("nonce"), 42, "decode nonce")
        check_equal(d.get("timestamp"), now, "decode timestamp")
        check_equal(d.get("payload"), "68656c6c6f", "decode payload")
        if "size" in d:
            check_equal(d["size"], len(tx) // 2, "decode size")
        empty = createtx(key, "testnet", payload="")
        check_equal(json.loads(rumor_tx("decode", empty)).get("payload"), "", "empty payload")

        log("rumor-tx createblock and decode")
        prev = "11" * 32
        blk = createblock(key, "testnet", 7, prev, [tx, other], timestamp=now)
        d = json.loads(rumor_tx("decode", blk))
        check_equal(d.get("kind"), "block", "decode kind")
        check_equal(find(d, "id", "blockid"), item_id(blk), "decode block id")
        check_equal(d.get("height"), 7, "decode height")
        check_equal(d.get("prev"), prev, "decode prev")
        check_equal(d.get("producer"), pub, "decode producer")
        check_equal(d.get("timestamp"), now, "decode timestamp")
        check_equal(find(d, "tx", "txs", "tx_ids"), [item_id(tx), item_id(other)], "decode tx ids")
        check(HEX64.match(str(d.get("merkle_root"))) is not None, "decode merkle_root")
        eb = createblock(key, "testnet", 0, "00" * 32, [])
        check_equal(find(json.loads(rumor_tx("decode", eb)), "tx", "txs", "tx_ids"), [], "empty block")

        log("rumor-tx errors")
        for what, args in [
            ("decode of garbage hex", ["decode", "deadbeef"]),
            ("decode of non-hex", ["decode", "not hex"]),
            ("decode with a trailing byte", ["decode", tx + "00"]),
            ("createtx with odd payload hex", ["createtx", "--key=" + key, "--network=testnet", "--payload=abc"]),
            ("createtx without --key", ["createtx", "--network=testnet", "--payload=00"]),
            ("createblock with a short --prev", ["createblock", "--key=" + key, "--network=testnet",
                                                 "--height=1", "--prev=00"]),
            ("createblock with a bad tx", ["createblock", "--key=" + key, "--network=testnet",
                                           "--height=1", "--prev=" + prev, "zz"]),
            ("unknown command", ["frobnicate"]),
        ]:
            cp = rumor_tx(*args, ok=False)
            check(cp.returncode != 0 and cp.stderr.strip() != "",
                  "%s: exit %d with a message (%r)" % (what, cp.returncode, cp.stderr.strip()[:100]))
            check_equal(cp.stdout.strip(), "", "%s: nothing on stdout" % what)
        cp = rumor_tx("decode", "deadbeef", ok=False)
        check_equal(cp.returncode, 1, "decode of garbage exits 1")

        self.key, self.pub, self.tx, self.blk = key, pub, tx, blk

    def rumor_cli_checks(self):
        node = self.node(network="testnet").start()

        log("rumor-cli results")
        out = node.cli("sendrawtransaction", self.tx, ok=True)
        check_equal(out, item_id(self.tx), "sendrawtransaction prints the bare id")
        out = node.cli("getinfo", ok=True)
        info = json.loads(out)
        check(isinstance(info, dict) and info.get("network") == "testnet", "getinfo printed as JSON")
        check_equal(info.get("items"), {"tx": 1, "block": 0}, "getinfo counts")
        blkid = node.cli("submitblock", self.blk, ok=True)
        check_equal(blkid, item_id(self.blk), "submitblock prints the bare id")
        out = node.cli("getblock", blkid, "false", ok=True)
        check_equal(out, self.blk, "getblock ID false: JSON false parsed, hex printed bare")
        out = node.cli("getblock", blkid, ok=True)
        check_equal(json.loads(out).get("height"), 7, "getblock ID: verbose JSON")
        out = node.cli("getblock", blkid, "true", ok=True)
        check_equal(json.loads(out).get("id"), blkid, "getblock ID true")
        info = json.loads(node.cli("getiteminfo", item_id(self.tx), ok=True))
        check_equal(info.get("kind"), "tx", "getiteminfo printed as JSON")
        out = node.cli("help", ok=True)
        check("sendrawtransaction" in out and not out.startswith('"'), "help printed as plain text")

        log("rumor-cli RPC errors")
        cp = node.cli("getrawtransaction", "ab" * 32)
        check_equal(cp.returncode, 1, "unknown id: exit 1")
        check("error code: -5" in cp.stderr, "prints 'error code: -5' (%r)" % cp.stderr.strip())
        check("error message:" in cp.stderr, "prints 'error message:'")
        check_equal(cp.stdout.strip(), "", "nothing on stdout on an RPC error")
        cp = node.cli("nosuchmethod")
        check(cp.returncode == 1 and "error code: -32601" in cp.stderr, "unknown method: exit 1, -32601")
        cp = node.cli("sendrawtransaction", "zz")
        check(cp.returncode == 1 and "error code: -22" in cp.stderr, "bad hex: exit 1, -22")
        cp = node.cli("getblock", blkid, "notabool")
        check(cp.returncode == 1 and "error code: -32602" in cp.stderr,
              "a non-JSON argument is passed as a string: -32602 for getblock's verbose")

        log("rumor-cli connection errors")
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            holder.bind(("127.0.0.1", 0))  # bound, not listening: connect is refused
            dead_port = holder.getsockname()[1]
            cp = run_tool(RUMOR_CLI, ["--datadir=" + node.datadir, "--rpcconnect=127.0.0.1:%d" % dead_port,
                                      "getinfo"])
        finally:
            holder.close()
        check(cp.returncode != 0, "no node listening: non-zero exit (%d)" % cp.returncode)
        check(re.search(r"connect|refused", cp.stderr, re.I) is not None,
              "no node listening: says it cannot connect (%r)" % cp.stderr.strip())
        cp = run_tool(RUMOR_CLI, ["--datadir=" + os.path.join(self.tmpdir, "nodatadir"),
                                  "--rpcconnect=127.0.0.1:%d" % node.port, "getinfo"])
        check(cp.returncode != 0 and cp.stderr.strip() != "",
              "no cookie file: non-zero exit with a message (%r)" % cp.stderr.strip())
        cp = run_tool(RUMOR_CLI, ["--datadir=" + node.datadir, "--rpcconnect=127.0.0.1:%d" % node.port])
        check(cp.returncode != 0 and cp.stderr.strip() != "", "no method: usage error (exit %d)" % cp.returncode)
        cp = run_tool(RUMOR_CLI, ["--no-such-option", "getinfo"])
        check(cp.returncode != 0 and cp.stderr.strip() != "", "unknown option: non-zero exit")
        cp = run_tool(RUMOR_CLI, ["--help"])
        check(cp.returncode == 0 and "rpcconnect" in cp.stdout + cp.stderr, "--help mentions --rpcconnect")

        log("rumor-cli stop")
        out = node.cli("stop", ok=True)
        check_equal(out, "rumord stopping", "stop prints the bare string")
        check_equal(node.wait_exit(), 0, "node exits 0 after rumor-cli stop")


if __name__ == "__main__":
    CliTools().main()
