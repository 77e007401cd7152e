#!/usr/bin/env python3
"""Safe defaults and clear refusals, with their exact messages.

Checks:
  - a datadir records its network (DATADIR/network) at first start; a start
    with another network, or with none (main), is refused and names both;
  - --rpcbind on a non-loopback address is refused without --rpcallowremote;
    with it the node starts and warns what it exposes;
  - a start that fails (RPC port in use) leaves no datadir behind, and in an
    existing datadir leaves the files exactly as they were;
  - rumor.conf accepts "# comments" at line end (a '#' inside a value stays);
  - rumor-cli reads rpcbind from DATADIR/rumor.conf, has --version, and when
    another node answers on the address it names the likely cause;
  - a peer on another network: the dialer warns "the peer uses a different
    network or PSK", once however many times it redials within a minute.
"""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (RUMOR_CLI, TestBase, check, check_equal, log, require_p2p, run_tool,
                       wait_until)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def error_line(text):
    lines = [l for l in text.splitlines() if l.startswith("error: ")]
    return lines[-1] if lines else ""


def snapshot(d):
    out = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        with open(p, "rb") as f:
            out[name] = f.read()
    return out


class SafeDefaults(TestBase):
    def run(self):
        self.network_marker()
        self.rpcbind_remote()
        self.failed_start_leaves_nothing()
        self.conf_comments_and_cli()
        self.mismatch_warning()

    def network_marker(self):
        log("the datadir remembers its network")
        node = self.node("net", network="testnet").start()
        marker = os.path.join(node.datadir, "network")
        with open(marker) as f:
            check_equal(f.read(), "testnet\n", "DATADIR/network records the network")
        node.stop()
        for args, asked in ((["--network=main"], "main"), ([], "main")):
            rc, err = node.start_expect_failure(
                ["--datadir=" + node.datadir, "--rpcbind=127.0.0.1:0", "--nolisten"] + args,
                base=False)
            check_equal(rc, 1, "exit status for another network (%s)" % (args or "no --network"))
            check_equal(error_line(err),
                        "error: data directory %s belongs to network 'testnet' (recorded in "
                        "%s), not '%s': pass --network=testnet, or use another --datadir"
                        % (node.datadir, marker, asked),
                        "the refusal names both networks")
        node.start()  # the right network still starts
        node.stop()

    def rpcbind_remote(self):
        log("a non-loopback --rpcbind needs --rpcallowremote")
        node = self.node("remote")
        rc, err = node.start_expect_failure(
            ["--datadir=" + node.datadir, "--rpcbind=0.0.0.0:0", "--nolisten"], base=False)
        check_equal(rc, 1, "exit status for --rpcbind=0.0.0.0 alone")
        check_equal(error_line(err),
                    "error: --rpcbind=0.0.0.0:0 is not a loopback address: the JSON-RPC port "
                    "uses HTTP Basic authentication without TLS, so anyone on that network "
                    "could read the credentials and control the node; bind to 127.0.0.1, or "
                    "pass --rpcallowremote (rpcallowremote=1 in rumor.conf) to expose it "
                    "anyway", "the refusal says what is exposed and how to proceed")
        check(not os.path.exists(node.datadir), "the refusal created no datadir")
        # Loopback addresses other than 127.0.0.1 need nothing.
        node.start(["--datadir=" + node.datadir, "--rpcbind=127.0.0.2:0", "--nolisten"],
                   base=False)
        node.rpc("getinfo")
        node.stop()
        # With the opt-in: the node starts (all interfaces, a port of its
        # choosing; this test talks to it on loopback only) and warns.
        node.start(["--datadir=" + node.datadir, "--rpcbind=0.0.0.0:0", "--rpcallowremote",
                    "--nolisten"], base=False)
        node.host = "127.0.0.1"
        node.rpc("getinfo")
        node.wait_log(r"warn: rpc: listening on a non-loopback address \(--rpcallowremote\): "
                      r"anyone who can reach 0\.0\.0\.0 sees the RPC credentials in clear text")
        node.stop()

    def failed_start_leaves_nothing(self):
        log("a start that fails leaves the datadir as it was")
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            fresh = self.node("fresh")
            rc, err = fresh.start_expect_failure(
                ["--datadir=" + fresh.datadir, "--rpcbind=127.0.0.1:%d" % port, "--nolisten"],
                base=False)
            check_equal(rc, 1, "exit status with the RPC port taken")
            check_equal(error_line(err), "error: cannot listen for RPC on 127.0.0.1:%d: "
                        "address already in use" % port, "the reason")
            check(not os.path.exists(fresh.datadir),
                  "no datadir, key or database left behind by the failed first start")

            old = self.node("old").start(["--nolisten"])
            old.stop()
            before = snapshot(old.datadir)
            rc, err = old.start_expect_failure(
                ["--datadir=" + old.datadir, "--rpcbind=127.0.0.1:%d" % port, "--nolisten"],
                base=False)
            check_equal(rc, 1, "exit status with the RPC port taken (existing datadir)")
            check_equal(snapshot(old.datadir), before,
                        "the existing datadir's files are exactly as before")
        finally:
            busy.close()

    def conf_comments_and_cli(self):
        log("rumor.conf: comments at line end; rumor-cli reads rpcbind from it")
        node = self.node("conf")
        os.makedirs(node.datadir, mode=0o700)
        port = free_port()
        with open(os.path.join(node.datadir, "rumor.conf"), "w") as f:
            f.write("# a whole-line comment\n"
                    "network=testnet   # the test network\n"
                    "rpcbind=127.0.0.1:%d\t# loopback only\n"
                    "nolisten=1 #\n"
                    "loglevel=debug# no space before '#': part of the value\n" % port)
        rc, err = node.start_expect_failure(["--datadir=" + node.datadir], base=False)
        check_equal(error_line(err), "error: %s/rumor.conf:5: loglevel must be debug, info, "
                    "warn or error" % node.datadir,
                    "a '#' without a space before it stays in the value")
        with open(os.path.join(node.datadir, "rumor.conf"), "r+") as f:
            text = f.read().replace("loglevel=debug# no", "loglevel=debug # no")
            f.seek(0)
            f.truncate()
            f.write(text)
        node.start(["--datadir=" + node.datadir], base=False)
        check_equal(node.port, port, "rpcbind from rumor.conf (comment stripped)")
        info = node.rpc("getinfo")
        check_equal(info["network"], "testnet", "network from rumor.conf (comment stripped)")

        cp = run_tool(RUMOR_CLI, ["--datadir=" + node.datadir, "getinfo"])
        check_equal(cp.returncode, 0, "rumor-cli --datadir=D finds the node through rumor.conf "
                    "(%s)" % cp.stderr.strip())
        check(info["node_id"] in cp.stdout, "and gets its getinfo")

        # A line rumor-cli cannot use (a PSK file it cannot read) after
        # rpcbind: a warning, and the call still goes to the right node.
        with open(os.path.join(node.datadir, "rumor.conf"), "a") as f:
            f.write("network-psk=%s/no-such.psk\n" % node.datadir)
        cp = run_tool(RUMOR_CLI, ["--datadir=" + node.datadir, "getinfo"])
        check_equal(cp.returncode, 0, "rumor-cli still reaches the node (%s)" % cp.stderr.strip())
        check(cp.stderr.startswith("warning: %s/rumor.conf:6: network-psk: cannot read"
                                   % node.datadir), "and warns about the line (%r)" % cp.stderr)

        cp = run_tool(RUMOR_CLI, ["--version"])
        check_equal((cp.returncode, cp.stdout.strip()), (0, "rumor-cli 0.1.0"), "--version")

        log("rumor-cli: another node answering at the address")
        other = self.node("other").start(["--nolisten"])
        cp = run_tool(RUMOR_CLI, ["--datadir=" + other.datadir,
                                  "--rpcconnect=127.0.0.1:%d" % port, "getinfo"])
        check_equal(cp.returncode, 3, "exit status 3")
        check_equal(cp.stderr.strip(),
                    "error: authorization failed at 127.0.0.1:%d: the node answering there did "
                    "not accept the cookie of %s (network main); it is probably another "
                    "rumord: check --rpcconnect" % (port, other.datadir),
                    "the message names the address and the datadir whose cookie was sent")
        other.stop()
        node.stop()

    def mismatch_warning(self):
        require_p2p()
        log("a peer on another network: one clear warning, rate-limited")
        a = self.node("A").start()
        _, a_port = a.p2p_address()
        w = self.node("W", network="othernet").start(["--connect=127.0.0.1:%d" % a_port])
        rx = (r"warn: p2p: handshake with 127\.0\.0\.1:%d failed: the peer uses a different "
              r"network or PSK \(check --network and --network-psk on both nodes\)" % a_port)
        w.wait_log(rx, "W warns about the network mismatch")
        # Redials come after 1 s, 2 s, ...: wait for two more failures.
        fails = r"peer disconnected: - 127\.0\.0\.1:%d: handshake: the peer uses a different " \
                r"network or PSK" % a_port
        wait_until(lambda: len(re.findall(fails, w.stderr_text())) >= 3 or None,
                   "three failed handshakes", timeout=15)
        check_equal(len(re.findall(rx, w.stderr_text())), 1,
                    "one warning for three failures within a minute")
        w.stop()
        a.stop()


if __name__ == "__main__":
    SafeDefaults().main()
