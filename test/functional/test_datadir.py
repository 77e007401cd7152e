#!/usr/bin/env python3
"""Start-up and shutdown of rumord around its datadir and configuration.

Checks: datadir (0700) and node.key (0600) created on first start; node_id
stable across restarts; a second rumord on the same datadir is refused and
the first keeps serving; a corrupt database, an unwritable datadir, an
unknown option and a bad rumor.conf line each stop start-up with a message
and a non-zero exit (the config error names file and line); rumor.conf and
--conf settings apply; SIGINT and SIGTERM each stop the node with exit 0
within 2 seconds."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (HEX64, RUMORD, TestBase, TestFailure, check, check_equal, file_mode, log,
                       wait_until)

SHUTDOWN_LIMIT_S = 2.0


class Datadir(TestBase):
    def expect_refusal(self, node, extra_args, what, mentions=None, base=True):
        if base:
            # Our own base arguments, so an option under test is never
            # given twice.
            extra_args = ["--datadir=" + node.datadir, "--rpcbind=127.0.0.1:0"] + list(extra_args)
        rc, err = node.start_expect_failure(extra_args, base=False)
        check(rc != 0 and rc > 0, "%s: non-zero exit status (%d)" % (what, rc))
        msg = err.strip()
        check(msg != "", "%s: a message on stderr (%r)" % (what, msg[-300:]))
        if mentions:
            check(re.search(mentions, msg, re.I) is not None,
                  "%s: message matches /%s/ (%r)" % (what, mentions, msg[-300:]))
        return msg

    def run(self):
        log("first start creates the datadir, node.key and database")
        base = os.path.join(self.tmpdir, "fresh", "sub")  # parent does not exist either
        node = self.node(datadir=base).start()
        check_equal(file_mode(node.datadir), 0o700, "datadir mode")
        keyfile = os.path.join(node.datadir, "node.key")
        check(os.path.isfile(keyfile), "node.key exists")
        check_equal(file_mode(keyfile), 0o600, "node.key mode")
        check(os.path.isfile(os.path.join(node.datadir, "rumor.sqlite")), "rumor.sqlite exists")
        with open(keyfile, "rb") as f:
            key_bytes = f.read()
        node_id = node.rpc("getinfo")["node_id"]
        check(HEX64.match(node_id) is not None, "node_id is 64 hex")

        log("a second rumord on the same datadir is refused")
        cookie_before = node.read_cookie()
        second = self.node(name="second", datadir=node.datadir)
        self.expect_refusal(second, [], "second rumord on the same datadir",
                            mentions=r"error.*(lock|already|in use|running|another)")
        check_equal(open(node.cookie_path).read().strip(), cookie_before,
                    "the refused instance left the running node's cookie alone")
        check(node.running(), "the first node is still running")
        check_equal(node.rpc("getinfo")["node_id"], node_id, "the first node still serves")

        log("SIGTERM: clean exit within %.0f s" % SHUTDOWN_LIMIT_S)
        self.timed_stop(node, signal.SIGTERM)
        check_equal(open(keyfile, "rb").read(), key_bytes, "node.key unchanged")

        log("restart: same node_id")
        node.start()
        check_equal(node.rpc("getinfo")["node_id"], node_id, "node_id stable across restarts")
        log("SIGINT: clean exit within %.0f s" % SHUTDOWN_LIMIT_S)
        self.timed_stop(node, signal.SIGINT)

        log("SIGTERM while a client holds a keep-alive connection open")
        node.start()
        node.rpc("getinfo")  # leaves the connection open
        self.timed_stop(node, signal.SIGTERM, keep_conn=True)

        log("SIGTERM while a client is half-way through a request")
        node.start()
        half = socket.create_connection((node.host, node.port), timeout=20)
        try:
            half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"")
            node.rpc("getinfo")  # the half request has reached the server by now
            self.timed_stop(node, signal.SIGTERM)
        finally:
            half.close()

        log("--loglevel=error hides info lines")
        node.spawn(["--loglevel=error"])  # later options win over the framework's --loglevel=debug
        wait_until(lambda: os.path.exists(node.cookie_path) or node.proc.poll() is not None,
                   "the cookie file (start-up done)")
        check(node.running(), "node with --loglevel=error is running")
        node.send_signal(signal.SIGTERM)
        check_equal(node.wait_exit(), 0, "exit status")
        quiet = node.stderr_text()
        check(" info: " not in quiet and " debug: " not in quiet,
              "no info/debug lines at --loglevel=error (%r)" % quiet[:200])

        log("corrupt database")
        bad = self.node(name="corrupt")
        os.makedirs(bad.datadir, mode=0o700)
        with open(os.path.join(bad.datadir, "rumor.sqlite"), "wb") as f:
            f.write(b"this is not an SQLite database, just garbage\n" * 200)
        self.expect_refusal(bad, [], "corrupt database",
                            mentions=r"error.*(database|sqlite|rumor\.sqlite|corrupt)")
        check(not os.path.exists(bad.cookie_path), "no cookie left behind by the refused start")

        log("an SQLite file with a valid header but garbage pages")
        bad2 = self.node(name="corrupt2")
        bad2.start()
        bad2.stop()
        dbfile = os.path.join(bad2.datadir, "rumor.sqlite")
        with open(dbfile, "r+b") as f:
            data = bytearray(f.read())
            for i in range(100, len(data)):
                data[i] = (i * 7 + 13) & 0xFF
            f.seek(0)
            f.write(data)
        self.expect_refusal(bad2, [], "corrupt pages after the SQLite header",
                            mentions=r"error")

        log("unwritable datadir")
        blocker = os.path.join(self.tmpdir, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        under_file = self.node(name="underfile", datadir=os.path.join(blocker, "datadir"))
        self.expect_refusal(under_file, [], "datadir below a regular file", mentions=r"error")
        # With the config file elsewhere, the failure must come from creating
        # the datadir itself (this case fails for root too).
        empty_conf = os.path.join(self.tmpdir, "empty.conf")
        open(empty_conf, "w").close()
        self.expect_refusal(under_file, ["--conf=" + empty_conf], "datadir below a regular file (--conf elsewhere)",
                            mentions=r"error.*a-file/datadir")
        self.expect_refusal(self.node(name="fileasdir", datadir=blocker), ["--conf=" + empty_conf],
                            "datadir that is a regular file", mentions=r"error.*a-file")
        if os.geteuid() != 0:
            ro = self.node(name="readonly")
            os.makedirs(ro.datadir, mode=0o700)
            os.chmod(ro.datadir, 0o500)
            try:
                self.expect_refusal(ro, [], "datadir with mode 0500", mentions=r"error")
            finally:
                os.chmod(ro.datadir, 0o700)
        else:
            log("  (running as root: mode 0500 does not stop root, that case is skipped)")

        log("unknown option")
        opt = self.node(name="opts")
        self.expect_refusal(opt, ["--no-such-option=1"], "unknown option", mentions=r"no-such-option")
        self.expect_refusal(opt, ["--loglevel=loud"], "bad --loglevel value", mentions=r"loglevel|loud")
        self.expect_refusal(opt, ["--rpcbind=127.0.0.1:99999"], "bad --rpcbind port", mentions=r"rpcbind|99999|port")
        self.expect_refusal(opt, ["--network=bad network!"], "bad --network name", mentions=r"network")
        self.expect_refusal(opt, ["stray-argument"], "stray positional argument")

        log("--help and --version")
        cp = subprocess.run([RUMORD, "--help"], capture_output=True, text=True, timeout=20)
        check(cp.returncode == 0 and "--datadir" in cp.stdout + cp.stderr, "--help exits 0 and lists --datadir")
        cp = subprocess.run([RUMORD, "--version"], capture_output=True, text=True, timeout=20)
        check(cp.returncode == 0 and "0.1.0" in cp.stdout, "--version prints 0.1.0")

        log("rumor.conf")
        conf_node = self.node(name="conf", network="ignored")
        os.makedirs(conf_node.datadir, mode=0o700)
        conf = os.path.join(conf_node.datadir, "rumor.conf")
        with open(conf, "w") as f:
            f.write("# a comment\n\nnetwork=confnet\nloglevel=debug\n")
        conf_node.start(["--datadir=" + conf_node.datadir, "--rpcbind=127.0.0.1:0"], base=False)
        check_equal(conf_node.rpc("getinfo")["network"], "confnet", "network taken from rumor.conf")
        conf_node.stop()
        # The datadir records the network of its first start and refuses
        # another (test_safe_defaults.py): forget it to test precedence.
        marker = os.path.join(conf_node.datadir, "network")
        os.unlink(marker)
        conf_node.start(["--datadir=" + conf_node.datadir, "--rpcbind=127.0.0.1:0", "--network=cmdnet"],
                        base=False)
        check_equal(conf_node.rpc("getinfo")["network"], "cmdnet", "command line overrides rumor.conf")
        conf_node.stop()

        log("bad rumor.conf lines")
        for body, line, what in [
            ("# ok\nnetwork=confnet\n\nthis line has no equals sign\n", 4, "line without '='"),
            ("network=confnet\nno_such_option=1\n", 2, "unknown option in rumor.conf"),
            ("\n\n\nloglevel=shouting\n", 4, "bad value in rumor.conf"),
        ]:
            with open(conf, "w") as f:
                f.write(body)
            msg = self.expect_refusal(conf_node, ["--datadir=" + conf_node.datadir,
                                                  "--rpcbind=127.0.0.1:0"], what, base=False)
            check("rumor.conf:%d" % line in msg, "%s: message names rumor.conf:%d (%r)" % (what, line, msg[-300:]))
        os.unlink(conf)

        log("--conf=FILE")
        os.unlink(marker)
        other_conf = os.path.join(self.tmpdir, "other.conf")
        with open(other_conf, "w") as f:
            f.write("network=othernet\n")
        conf_node.start(["--datadir=" + conf_node.datadir, "--rpcbind=127.0.0.1:0",
                         "--conf=" + other_conf], base=False)
        check_equal(conf_node.rpc("getinfo")["network"], "othernet", "network taken from --conf file")
        conf_node.stop()
        with open(other_conf, "w") as f:
            f.write("network=othernet\n\n\nbogus\n")
        msg = self.expect_refusal(conf_node, ["--datadir=" + conf_node.datadir, "--rpcbind=127.0.0.1:0",
                                              "--conf=" + other_conf], "bad line in --conf file", base=False)
        check("other.conf:4" in msg, "message names other.conf:4 (%r)" % msg[-300:])
        self.expect_refusal(conf_node, ["--datadir=" + conf_node.datadir, "--rpcbind=127.0.0.1:0",
                                        "--conf=" + os.path.join(self.tmpdir, "missing.conf")],
                            "--conf naming a missing file", mentions=r"missing\.conf", base=False)

        log("RPC port already in use")
        node.start()
        busy = self.node(name="busy")
        self.expect_refusal(busy, ["--datadir=" + busy.datadir, "--rpcbind=127.0.0.1:%d" % node.port],
                            "RPC port in use", base=False,
                            mentions=r"error")
        check(not os.path.exists(busy.cookie_path), "no cookie left behind when the port is busy")
        check_equal(node.rpc("getinfo")["node_id"], node_id, "the first node still serves")
        node.stop()

    def timed_stop(self, node, sig, keep_conn=False):
        cookie = node.cookie_path
        if not keep_conn:
            node.close_conn()
        t0 = time.monotonic()
        node.send_signal(sig)
        try:
            rc = node.proc.wait(timeout=20)
        except Exception:
            raise TestFailure("node did not exit within 20 s of %s" % signal.Signals(sig).name)
        elapsed = time.monotonic() - t0
        node.finish_run()
        check_equal(rc, 0, "exit status after %s" % signal.Signals(sig).name)
        check(elapsed < SHUTDOWN_LIMIT_S, "%s: exited %.2f s after the signal (limit %.0f s)"
              % (signal.Signals(sig).name, elapsed, SHUTDOWN_LIMIT_S))
        check(not os.path.exists(cookie), "cookie removed after %s" % signal.Signals(sig).name)


if __name__ == "__main__":
    Datadir().main()
