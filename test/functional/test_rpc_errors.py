#!/usr/bin/env python3
"""Bad input never stops the RPC server; each gets the documented answer.

HTTP level: garbage -> 400, oversized header -> 431, oversized body -> 413,
GET -> 405.  JSON-RPC level: -32700, -32600, -32601, -32602.  Items: -22
(cannot decode), -26 (validation rule, with a reason), -5 (unknown id).
Limits: more clients than --rpcmaxclients at once, and an idle client past
--rpctimeout.  After each group the node must still answer and accept a
valid transaction."""

import json
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (HEX64, WAIT_S, RPCError, TestBase, TestFailure, check, check_equal, createblock,
                       createtx, expect_rpc_error, item_id, keygen, log, network_magic, rumor_tx,
                       wait_until)


def flip(item_hex, byte_index, mask=0x01):
    b = bytearray.fromhex(item_hex)
    b[byte_index] ^= mask
    return b.hex()


class RPCErrors(TestBase):
    def still_serving(self, node, what):
        """getinfo answers and a fresh valid tx is accepted."""
        self.nonce += 1
        tx = createtx(self.key, node.network, payload="%04x" % self.nonce, nonce=self.nonce)
        txid = node.rpc("sendrawtransaction", tx)
        check(txid == item_id(tx) and node.rpc("getinfo")["network"] == node.network,
              "node still serves and accepts a valid tx after %s" % what)

    def json_error(self, node, body, what, code, batch_len=None):
        status, hdrs, data = node.raw_http("POST", "/", body)
        check_equal(status, 200, "%s: HTTP status" % what)
        reply = json.loads(data)
        if batch_len is not None:
            check(isinstance(reply, list) and len(reply) == batch_len,
                  "%s: answered with an array of %d (%r)" % (what, batch_len, reply))
            for r in reply:
                check_equal(r.get("error", {}).get("code"), code, "%s: member error code" % what)
                check_equal(r.get("id", "missing"), None, "%s: member id is null" % what)
        else:
            check(isinstance(reply, dict), "%s: answered with one object (%r)" % (what, reply))
            check_equal(reply.get("jsonrpc"), "2.0", "%s: jsonrpc" % what)
            check_equal(reply.get("error", {}).get("code"), code, "%s: error code" % what)
            check(isinstance(reply["error"].get("message"), str), "%s: error has a message" % what)
            check("result" not in reply, "%s: no result member" % what)
        return reply

    def run(self):
        self.nonce = 1000
        self.key = os.path.join(self.tmpdir, "k1")
        pub = keygen(self.key)
        node = self.node(network="testnet").start()
        self.http_errors(node)
        self.still_serving(node, "malformed HTTP")
        self.jsonrpc_errors(node)
        self.still_serving(node, "malformed JSON-RPC")
        self.item_errors(node, pub)
        self.still_serving(node, "invalid items")
        node.stop()

        limits = self.node(name="limits", network="testnet")
        key2 = os.path.join(self.tmpdir, "k2")
        pub2 = keygen(key2)
        limits.start(["--rpcmaxbody=1024", "--rpcmaxclients=4", "--rpctimeout=1",
                      "--blockproducer=" + pub2])
        self.limit_errors(limits, pub2, key2)
        self.still_serving(limits, "limits")
        limits.stop()

    # ---- HTTP ----

    def http_errors(self, node):
        log("malformed HTTP")
        for what, raw in [
            ("garbage request line", b"this is not http at all\r\n\r\n"),
            ("binary garbage", bytes(range(256)) * 4 + b"\r\n\r\n"),
            ("bad header line", b"POST / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"),
            ("bad Content-Length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        ]:
            status, got = node.raw_socket(raw)
            check_equal(status, 400, "%s -> 400" % what)
            check(node.rpc("getinfo")["network"] == "testnet", "node serves after %s" % what)

        log("oversized header")
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + node.auth_header().encode() +
               b"\r\nX-Filler: " + b"a" * 10000 + b"\r\nContent-Length: 2\r\n\r\n{}")
        status, got = node.raw_socket(raw)
        check_equal(status, 431, "10 KB header -> 431")
        raw = b"POST / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n"
        status, got = node.raw_socket(raw)
        check_equal(status, 431, "2000 small header lines -> 431")

        log("a huge Content-Length is refused without waiting for the body")
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + node.auth_header().encode() +
               b"\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{")
        status, got = node.raw_socket(raw)
        check_equal(status, 413, "Content-Length 10^12 -> 413")

        log("methods other than POST")
        for m in ("GET", "PUT", "DELETE"):
            status, hdrs, body = node.raw_http(m, "/", b"")
            check_equal(status, 405, "%s / -> 405" % m)
        check(node.rpc("getinfo")["network"] == "testnet", "node serves after the HTTP errors")

        log("Connection: close and HTTP/1.0 are honoured")
        req = json.dumps({"jsonrpc": "2.0", "method": "getinfo", "id": 5}).encode()
        for what, start, extra in [("Connection: close", b"POST / HTTP/1.1\r\n", b"Connection: close\r\n"),
                                   ("HTTP/1.0", b"POST / HTTP/1.0\r\n", b"")]:
            raw = (start + b"Host: x\r\nAuthorization: " + node.auth_header().encode() + b"\r\n" + extra +
                   b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(req) + req)
            got = self.read_until_close(node, raw)
            check(b" 200 " in got.split(b"\r\n", 1)[0] and b"testnet" in got,
                  "%s: answered (%r)" % (what, got[:30]))
            check(True, "%s: server closed the connection after the answer" % what)

        log("pipelined requests on one connection are answered in order")
        req = json.dumps({"jsonrpc": "2.0", "method": "getinfo", "id": 7}).encode()
        one = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + node.auth_header().encode() +
               b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(req) + req)
        s = socket.create_connection((node.host, node.port), timeout=WAIT_S)
        try:
            s.sendall(one * 3)
            got = b""
            deadline = time.monotonic() + WAIT_S
            while got.count(b'"id": 7') + got.count(b'"id":7') < 3 and time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], deadline - time.monotonic())
                chunk = s.recv(65536) if r else b""
                if not chunk:
                    break
                got += chunk
        finally:
            s.close()
        check_equal(got.count(b"HTTP/1.1 200"), 3, "three pipelined requests, three 200 answers")

    def read_until_close(self, node, raw):
        s = socket.create_connection((node.host, node.port), timeout=WAIT_S)
        got = b""
        try:
            s.sendall(raw)
            deadline = time.monotonic() + WAIT_S
            while True:
                if time.monotonic() >= deadline:
                    raise TestFailure("server kept the connection open (got %r)" % got[:80])
                r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
                if not r:
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    return got
                got += chunk
        finally:
            s.close()

    # ---- JSON-RPC ----

    def jsonrpc_errors(self, node):
        log("parse errors -32700")
        for body in ["{not json", "{\"jsonrpc\": \"2.0\", \"method\": \"getinfo\", \"id\": 1",
                     "[{\"jsonrpc\": \"2.0\", \"method\": \"getinfo\", \"id\": 1},", "\x00\x01", "nul"]:
            r = self.json_error(node, body, "body %r" % body[:30], -32700)
            check_equal(r.get("id", "missing"), None, "parse error reply has id null")

        log("invalid requests -32600")
        r = self.json_error(node, {"jsonrpc": "2.0", "method": 1, "id": 1}, "method is a number", -32600)
        check(r.get("id") in (1, None), "id is 1 or null")
        self.json_error(node, {"jsonrpc": "2.0", "id": 2}, "no method", -32600)
        self.json_error(node, {"jsonrpc": "1.0", "method": "getinfo", "id": 3}, "jsonrpc 1.0", -32600)
        self.json_error(node, {"jsonrpc": "2.0", "method": "getinfo", "params": 5, "id": 4},
                        "params is a number", -32600)
        self.json_error(node, {"jsonrpc": "2.0", "method": "getinfo", "id": {"a": 1}},
                        "id is an object", -32600)
        self.json_error(node, "[]", "empty batch", -32600)
        self.json_error(node, "5", "bare number", -32600)
        self.json_error(node, "\"getinfo\"", "bare string", -32600)
        self.json_error(node, "[1]", "batch [1]", -32600, batch_len=1)
        self.json_error(node, "[1, 2, 3]", "batch [1,2,3]", -32600, batch_len=3)
        mixed = [{"jsonrpc": "2.0", "method": "getinfo", "id": 1}, 7]
        status, _, data = node.raw_http("POST", "/", mixed)
        reply = json.loads(data)
        check(isinstance(reply, list) and len(reply) == 2 and "result" in reply[0]
              and reply[1].get("error", {}).get("code") == -32600,
              "batch with one good call and one invalid member: both answered in order")

        log("batch size cap (1000 calls, see rpc/jsonrpc.h)")
        call = {"jsonrpc": "2.0", "method": "getinfo", "params": []}
        reply = node.call_json([dict(call, id=i) for i in range(1000)])
        check(isinstance(reply, list) and [r.get("id") for r in reply] == list(range(1000)),
              "a batch of 1000 calls gets 1000 answers in order")
        self.json_error(node, [dict(call, id=i) for i in range(1001)], "a batch of 1001 calls", -32600)

        log("unknown method -32601")
        expect_rpc_error(lambda: node.rpc("nosuchmethod"), -32601, "unknown method")
        expect_rpc_error(lambda: node.rpc("GETINFO"), -32601, "method names are case-sensitive")
        expect_rpc_error(lambda: node.rpc(""), -32601, "empty method name")

        log("invalid params -32602")
        some_id = "00" * 32
        for what, fn in [
            ("sendrawtransaction without params", lambda: node.rpc("sendrawtransaction")),
            ("sendrawtransaction(123)", lambda: node.rpc("sendrawtransaction", 123)),
            ("sendrawtransaction(null)", lambda: node.rpc("sendrawtransaction", None)),
            ("sendrawtransaction(a, b) too many", lambda: node.rpc("sendrawtransaction", "00", "00")),
            ("submitblock([])", lambda: node.rpc("submitblock", [])),
            ("getrawtransaction without params", lambda: node.rpc("getrawtransaction")),
            ("getrawtransaction({})", lambda: node.rpc("getrawtransaction", {})),
            ("getblock(id, \"yes\")", lambda: node.rpc("getblock", some_id, "yes")),
            ("getblock(id, true, 1) too many", lambda: node.rpc("getblock", some_id, True, 1)),
            ("getiteminfo(1.5)", lambda: node.rpc("getiteminfo", 1.5)),
            ("getinfo(\"extra\") too many", lambda: node.rpc("getinfo", "extra")),
            ("stop(1) too many", lambda: node.rpc("stop", 1)),
            ("help(1, 2) too many", lambda: node.rpc("help", "getinfo", "getblock")),
            ("unknown named param", lambda: node.rpc("getrawtransaction", txid=some_id)),
        ]:
            expect_rpc_error(fn, -32602, what)
        check(node.running(), "the node did not stop on a bad stop() call")

    # ---- items ----

    def item_errors(self, node, pub):
        key = self.key
        base = node.rpc("getinfo")["items"]["tx"]  # from still_serving()
        good = createtx(key, "testnet", payload="c0ffee", nonce=1)

        log("cannot decode -22")
        other_kind_block = createblock(key, "testnet", 5, "11" * 32, [good])
        for what, hexstr in [
            ("not hex", "zz" * 130),
            ("odd hex length", good[:-1]),
            ("empty string", ""),
            ("hex with a space", good[:10] + " " + good[11:]),
            ("truncated tx (one byte short)", good[:-2]),
            ("truncated tx (header only)", good[:60]),
            ("trailing byte", good + "00"),
            ("a block", other_kind_block),
        ]:
            expect_rpc_error(lambda: node.rpc("sendrawtransaction", hexstr), -22,
                             "sendrawtransaction: %s" % what)
        expect_rpc_error(lambda: node.rpc("submitblock", good), -22, "submitblock: a transaction")
        expect_rpc_error(lambda: node.rpc("submitblock", other_kind_block + "00"), -22,
                         "submitblock: trailing byte")
        # Structure limits are checked before the signature (no signature work
        # needed to reject): a payload_len over 64 KiB, with that many bytes.
        raw = bytearray.fromhex(good)
        big = bytes(raw[:54]) + struct.pack("<I", 65537) + b"\x00" * 65537 + b"\x00" * 64
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", big.hex()), -22,
                         "tx with payload over 64 KiB")
        # Wrong version byte.
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", flip(good, 0, 0x80)), -22,
                         "tx with an unknown version")
        check_equal(node.rpc("getinfo")["items"]["tx"], base, "nothing stored from invalid submissions")

        log("rejected by a rule -26")
        main_tx = createtx(key, "main", payload="c0ffee", nonce=1)
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", main_tx), -26, "tx for network main",
                         contains="network")
        # Same bytes relabelled with testnet's magic: the signature covers the
        # network, so it must fail.
        b = bytearray.fromhex(main_tx)
        b[2:6] = network_magic("testnet")
        relabelled = b.hex()
        if relabelled != main_tx:
            expect_rpc_error(lambda: node.rpc("sendrawtransaction", relabelled), -26,
                             "main tx relabelled as testnet", contains="signature")
        n = len(good) // 2
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", flip(good, n - 1)), -26,
                         "flipped last signature byte", contains="signature")
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", flip(good, n - 64)), -26,
                         "flipped first signature byte", contains="signature")
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", flip(good, n - 65)), -26,
                         "flipped payload byte", contains="signature")
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", flip(good, 10)), -26,
                         "flipped sender key byte")
        now = int(time.time())
        future = createtx(key, "testnet", payload="01", nonce=2, timestamp=now + 3 * 3600)
        expect_rpc_error(lambda: node.rpc("sendrawtransaction", future), -26, "tx 3 h in the future")
        soon = createtx(key, "testnet", payload="01", nonce=3, timestamp=now + 3600)
        check_equal(node.rpc("sendrawtransaction", soon), item_id(soon), "tx 1 h in the future is accepted")
        old = createtx(key, "testnet", payload="01", nonce=4, timestamp=now - 30 * 86400)
        check_equal(node.rpc("sendrawtransaction", old), item_id(old), "tx 30 days old is accepted")

        fblock = createblock(key, "testnet", 0, "00" * 32, [], timestamp=now + 3 * 3600)
        expect_rpc_error(lambda: node.rpc("submitblock", fblock), -26, "block 3 h in the future")
        mblock = createblock(key, "main", 0, "00" * 32, [])
        expect_rpc_error(lambda: node.rpc("submitblock", mblock), -26, "block for network main",
                         contains="network")
        blk = createblock(key, "testnet", 0, "00" * 32, [good])
        zp = createblock(key, "testnet", 1, "00" * 32, [])
        expect_rpc_error(lambda: node.rpc("submitblock", zp), -26, "block at height 1 with an all-zero prev",
                         contains="prev")
        bn = len(blk) // 2
        expect_rpc_error(lambda: node.rpc("submitblock", flip(blk, bn - 1)), -26,
                         "block with a flipped signature byte", contains="signature")
        # merkle_root at offset 1+1+4+8+32+8+32 = 86
        expect_rpc_error(lambda: node.rpc("submitblock", flip(blk, 86)), -26,
                         "block with a wrong Merkle root")
        cp = rumor_tx("createblock", "--key=" + key, "--network=testnet", "--height=0",
                      "--prev=" + "00" * 32, good, good, ok=False)
        if cp.returncode == 0:
            expect_rpc_error(lambda: node.rpc("submitblock", cp.stdout.strip()), -26,
                             "block listing the same tx twice")
        else:
            log("  (rumor-tx refuses a block with a duplicate tx: %s)" % cp.stderr.strip())

        log("unknown ids -5")
        unknown = "ab" * 32
        for m in ("getrawtransaction", "getblock", "getiteminfo"):
            expect_rpc_error(lambda: node.rpc(m, unknown), -5, "%s of an unknown id" % m)
        e = None
        try:
            node.rpc("getrawtransaction", "xyz")
        except RPCError as err:
            e = err
        check(e is not None and e.code in (-22, -5, -8, -32602),
              "getrawtransaction of a non-hex id is an error (%s)" % (e and e.code))
        try:
            node.rpc("getrawtransaction", "ab" * 31)
        except RPCError as err:
            e = err
        check(e is not None and e.code in (-22, -5, -8, -32602),
              "getrawtransaction of a 31-byte id is an error (%s)" % (e and e.code))

        info = node.rpc("getinfo")
        check_equal(info["items"], {"tx": base + 2, "block": 0}, "only the two valid txs were stored")

    # ---- limits ----

    def limit_errors(self, node, producer_pub, producer_key):
        log("block producers (--blockproducer)")
        blk = createblock(self.key, "testnet", 0, "00" * 32, [])
        expect_rpc_error(lambda: node.rpc("submitblock", blk), -26, "block from a producer not allowed",
                         contains="producer")
        blk2 = createblock(producer_key, "testnet", 0, "00" * 32, [])
        check_equal(node.rpc("submitblock", blk2), item_id(blk2), "block from the allowed producer")

        log("body over --rpcmaxbody=1024 (rumord refuses limits below 1024)")
        body = json.dumps({"jsonrpc": "2.0", "method": "sendrawtransaction", "params": ["00" * 980],
                           "id": 1}).encode()
        check(len(body) > 1024 and len(body) < 2100, "body is %d bytes" % len(body))
        status, hdrs, data = node.raw_http("POST", "/", body)
        check_equal(status, 413, "a %d-byte body -> 413" % len(body))
        body = json.dumps({"jsonrpc": "2.0", "method": "getinfo", "id": 1, "pad": "x" * 900}).encode()
        status, hdrs, data = node.raw_http("POST", "/", body)
        check_equal((status, len(body) <= 1000), (200, True), "a %d-byte body is fine" % len(body))

        log("more clients than --rpcmaxclients=4 at once")
        node.close_conn()
        socks = []
        req = json.dumps({"jsonrpc": "2.0", "method": "getinfo", "id": 1}).encode()
        one = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + node.auth_header().encode() +
               b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(req) + req)
        try:
            for _ in range(12):
                s = socket.create_connection((node.host, node.port), timeout=WAIT_S)
                socks.append(s)
            for s in socks:
                try:
                    s.sendall(one)
                except OSError:
                    pass
            answers = {}
            closed = set()

            def done(s):
                return s in closed or b"testnet" in answers.get(s, b"")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                live = [s for s in socks if not done(s)]
                if not live:
                    break
                r, _, _ = select.select(live, [], [], 0.2)
                for s in r:
                    try:
                        chunk = s.recv(65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        closed.add(s)
                    else:
                        answers[s] = answers.get(s, b"") + chunk
            served = sum(1 for v in answers.values() if v.startswith(b"HTTP/1.1 200") and b"testnet" in v)
            log("  %d of %d connections served while all were open, %d closed by the server"
                % (served, len(socks), len(closed)))
            refused = [v for v in answers.values() if not v.startswith(b"HTTP/1.1 200")]
            for v in refused[:1]:
                log("  refused with: %r" % v[:80])
            check(all(v.startswith(b"HTTP/1.1 503") for v in refused),
                  "clients over the limit get 503 or a plain close (%d got 503)" % len(refused))
            check(served >= 1, "at least one of the 12 simultaneous clients was served")
            check(served <= 4 + 0, "no more than --rpcmaxclients=4 served at once (%d)" % served)
        finally:
            for s in socks:
                s.close()
        check(node.running(), "node survived 12 simultaneous clients")

        def serves_again():
            try:
                status, _, data = node.raw_http("POST", "/", req)
                return status == 200 and b"testnet" in data
            except OSError:
                return False
        wait_until(serves_again, "the node to serve again after the crowd left")
        check(True, "node serves again after the crowd left")

        log("idle client past --rpctimeout=1 is disconnected")
        s = socket.create_connection((node.host, node.port), timeout=WAIT_S)
        try:
            r, _, _ = select.select([s], [], [], WAIT_S)
            got = s.recv(65536) if r else None
            check(got is not None, "server acted on the idle connection within %d s" % WAIT_S)
            check(got == b"" or got.startswith(b"HTTP/1.1 408"),
                  "idle connection closed by the server (%r)" % (got[:40] if got else got))
        except ConnectionResetError:
            check(True, "idle connection reset by the server")
        finally:
            s.close()
        log("a half-sent request also times out")
        s = socket.create_connection((node.host, node.port), timeout=WAIT_S)
        try:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le")
            r, _, _ = select.select([s], [], [], WAIT_S)
            try:
                got = s.recv(65536) if r else None
            except ConnectionResetError:
                got = b""
            check(got is not None and (got == b"" or got.startswith(b"HTTP/1.1 408")),
                  "slow request cut off (%r)" % (got[:40] if got else got))
        finally:
            s.close()
        log("a keep-alive connection idle past the timeout is closed, the next call reconnects")
        node.rpc("getinfo")
        sock = node.conn.sock if node.conn else None
        wait_until(lambda: sock is None or select.select([sock], [], [], 0)[0], "keep-alive idle close")
        check(sock is None or sock.recv(1) == b"", "kept-alive connection closed after idling")
        check_equal(node.rpc("getinfo")["network"], "testnet", "next call on a new connection works")


if __name__ == "__main__":
    RPCErrors().main()
