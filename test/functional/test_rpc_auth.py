#!/usr/bin/env python3
"""RPC authentication: every request needs HTTP Basic auth.

Checks: missing, wrong and malformed credentials get 401 (and the node keeps
serving); the cookie file (mode 0600, "__cookie__:" + 64 hex) works, is
removed on SIGTERM and is different at the next start; an --rpcauth user
made with `rumor-tx rpcauth` works with its password only; rumor-cli with a
wrong password fails with an authorization message."""

import base64
import hashlib
import hmac
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (TestBase, TestFailure, basic_auth, check, check_equal, file_mode, log,
                       rumor_tx)

GETINFO = {"jsonrpc": "2.0", "method": "getinfo", "params": [], "id": 1}


class RPCAuth(TestBase):
    def run(self):
        log("rumor-tx rpcauth")
        out = rumor_tx("rpcauth", "alice", "secretpw")
        m = re.search(r"rpcauth=(alice:([^$\s]+)\$([0-9a-f]{64}))", out)
        check(m is not None, "rumor-tx rpcauth prints rpcauth=alice:SALT$HMAC (%r)" % out)
        entry, salt, mac = m.group(1), m.group(2), m.group(3)
        want = hmac.new(salt.encode(), b"secretpw", hashlib.sha256).hexdigest()
        check_equal(mac, want, "HMAC is HMAC-SHA256(key=salt, msg=password)")
        check("secretpw" not in entry, "the rpcauth entry does not contain the password")
        out2 = rumor_tx("rpcauth", "alice", "secretpw")
        m2 = re.search(r"rpcauth=alice:([^$\s]+)\$", out2)
        check(m2 is not None and m2.group(1) != salt, "each rpcauth run uses a fresh salt")

        node = self.node().start(["--rpcauth=" + entry])

        log("cookie file")
        content = node.read_cookie()
        check(re.fullmatch(r"__cookie__:[0-9a-f]{64}", content) is not None,
              "cookie is \"__cookie__:\" + 64 hex")
        check_equal(file_mode(node.cookie_path), 0o600, "cookie file mode")
        check_equal(node.rpc("getinfo")["network"], "testnet", "cookie credentials work")

        log("bad credentials get 401")
        cases = [
            ("no Authorization header", False),
            ("wrong cookie password", basic_auth("__cookie__", "0" * 64)),
            ("cookie password with one char changed",
             basic_auth("__cookie__", node.password[:-1] + ("0" if node.password[-1] != "0" else "1"))),
            ("right password, wrong user", basic_auth("bob", node.password)),
            ("wrong scheme (Bearer)", "Bearer " + node.password),
            ("wrong scheme (Digest)", "Digest username=\"__cookie__\""),
            ("Basic with invalid base64", "Basic !!!not-base64!!!"),
            ("Basic without a colon", "Basic " + base64.b64encode(b"__cookie__").decode()),
            ("empty Basic", "Basic "),
            ("rpcauth user, wrong password", basic_auth("alice", "secretpX")),
            ("rpcauth user, empty password", basic_auth("alice", "")),
            ("rpcauth user with the HMAC as password", basic_auth("alice", mac)),
        ]
        for what, auth in cases:
            status, hdrs, body = node.raw_http("POST", "/", GETINFO, auth=auth)
            check_equal(status, 401, what)
            if what == "no Authorization header":
                check("www-authenticate" in hdrs and "basic" in hdrs["www-authenticate"].lower(),
                      "401 carries WWW-Authenticate: Basic")
        # A 401 must not be answered with data.
        check(b"testnet" not in body, "401 body reveals nothing")

        log("an unauthenticated request is refused before its body is read")
        raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 10000000\r\n\r\n{")
        status, got = node.raw_socket(raw)
        check_equal(status, 401, "no auth, 10 MB announced, 1 byte sent -> 401 at once")

        log("401 on a kept-alive connection, then the right credentials")
        status, _, _ = node.post(GETINFO, auth=basic_auth("__cookie__", "x"))
        check_equal(status, 401, "wrong password on the keep-alive connection")
        check_equal(node.rpc("getinfo")["network"], "testnet", "node still serves with the cookie")

        log("rpcauth user")
        status, hdrs, body = node.raw_http("POST", "/", GETINFO, auth=basic_auth("alice", "secretpw"))
        check_equal(status, 200, "alice with the right password")
        check(b'"testnet"' in body, "alice gets the getinfo result")

        log("rumor-cli")
        cp = node.cli("--rpcuser=alice", "--rpcpassword=secretpw", "getinfo", auth=False)
        check_equal(cp.returncode, 0, "rumor-cli with alice's password exits 0 (%s)" % cp.stderr.strip())
        cp = node.cli("--rpcuser=alice", "--rpcpassword=wrong", "getinfo", auth=False)
        check(cp.returncode != 0, "rumor-cli with a wrong password exits non-zero (%d)" % cp.returncode)
        check(re.search(r"401|auth|unauthori[sz]ed|credential|password", cp.stderr, re.I) is not None,
              "rumor-cli says why: %r" % cp.stderr.strip())
        check_equal(cp.stdout.strip(), "", "nothing on stdout")
        cp = node.cli("getinfo")
        check_equal(cp.returncode, 0, "rumor-cli with the cookie (via --datadir) exits 0")

        log("cookie removed on SIGTERM, new cookie at the next start")
        old = node.read_cookie()
        old_auth = node.auth_header()
        node.stop()
        check(not os.path.exists(node.cookie_path), "cookie removed after SIGTERM")
        node.start(["--rpcauth=" + entry])
        new = node.read_cookie()
        check(re.fullmatch(r"__cookie__:[0-9a-f]{64}", new) is not None, "new cookie well formed")
        check(new != old, "new cookie differs from the old one")
        check_equal(file_mode(node.cookie_path), 0o600, "new cookie file mode")
        status, _, _ = node.raw_http("POST", "/", GETINFO, auth=old_auth)
        check_equal(status, 401, "the old cookie no longer works")
        check_equal(node.rpc("getinfo")["network"], "testnet", "the new cookie works")
        status, _, _ = node.raw_http("POST", "/", GETINFO, auth=basic_auth("alice", "secretpw"))
        check_equal(status, 200, "alice still works after restart")
        node.stop()

        log("without --rpcauth, alice is unknown")
        node.start()
        status, _, _ = node.raw_http("POST", "/", GETINFO, auth=basic_auth("alice", "secretpw"))
        check_equal(status, 401, "alice without --rpcauth")
        node.stop()

        log("a malformed --rpcauth stops start-up")
        rc, err = node.start_expect_failure(["--rpcauth=alice-no-salt"])
        check(rc != 0, "malformed --rpcauth: exit %d" % rc)
        check("error" in err.lower(), "malformed --rpcauth: message %r" % err.strip()[-200:])


if __name__ == "__main__":
    RPCAuth().main()
