#!/usr/bin/env python3
"""rumord as a service: metrics, health, log file, SIGHUP, systemd readiness.

Checks, with real rumord processes on loopback:
  - GET /metrics parses with a real Prometheus parser (python3-prometheus-client)
    and agrees with the RPC counters after a transaction is relayed A -> B:
    items by kind/source/result, wire bytes by message type (A's sent tx
    bytes equal B's received tx bytes and getrelayinfo's), peers by
    direction, store commits and the commit histogram, invalid and duplicate
    submissions; GET /health says "serving"; other paths 404, POST 405, HEAD
    has no body; a metrics port in use fails the start before the datadir
    is created;
  - --logfile with rotation: files renamed and SIGHUP sent while
    transactions flow; every transaction's "stored tx ID" line is in one of
    the files, nothing is duplicated, the node keeps serving; SIGHUP without
    --logfile does not kill the node (it used to: exit 129, cookie left);
  - log lines: a refused submission (info, with the reason and the caller),
    `stop` with its caller;
  - with libsystemd: READY=1 reaches $NOTIFY_SOCKET once the RPC port is
    open, STOPPING=1 when shutdown begins.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (BUILDDIR, RUMORD, TestBase, TestFailure, basic_auth, check, check_equal, createtx,
                       keygen, log, require_p2p, wait_until, _PROCS)

METRICS_RE = re.compile(r"metrics: listening on (\S+):(\d+)")


def prometheus_parser():
    """The parser of python3-prometheus-client (contrib/deps installs it).
    The interpreter running the tests may be another Python than Debian's
    (pyenv, venv): Debian's pure-Python package is then looked up where
    apt put it."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            raise TestFailure("python3-prometheus-client is not installed (contrib/deps "
                              "installs it): the metrics must be checked by a real parser")
    return text_string_to_metric_families


def http_get(host, port, path, method="GET"):
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Service(TestBase):
    def metrics_address(self, node):
        m = node.wait_log(METRICS_RE.pattern, "metrics: listening on")
        return m.group(1), int(m.group(2))

    def scrape(self, node):
        """{(name, frozenset(labels)): value} and the families by name."""
        host, port = self.metrics_address(node)
        status, headers, body = http_get(host, port, "/metrics")
        check_equal(status, 200, "%s: GET /metrics status" % node.name)
        ctype = headers.get("Content-Type", "")
        check(ctype.startswith("text/plain; version=0.0.4"),
              "%s: Prometheus text content type (%r)" % (node.name, ctype))
        text = body.decode("utf-8")
        samples, families = {}, {}
        for fam in self.parse(text):
            families[fam.name] = fam
            for s in fam.samples:
                key = (s.name, frozenset(s.labels.items()))
                if key in samples:
                    raise TestFailure("sample %s %s appears twice" % (s.name, s.labels))
                samples[key] = s.value
        bad = [name for name in families if not name.startswith("rumor_")]
        check_equal(bad, [], "every family has the rumor_ prefix")
        return samples, families, text

    @staticmethod
    def value(samples, name, **labels):
        key = (name, frozenset(labels.items()))
        if key not in samples:
            raise TestFailure("no sample %s%s in /metrics" % (name, labels))
        return samples[key]

    def run(self):
        require_p2p()
        self.parse = prometheus_parser()
        self.metrics_and_health()
        self.logfile_rotation()
        self.sighup_without_logfile()
        self.systemd_notify()

    # ---- metrics ------------------------------------------------------

    def metrics_and_health(self):
        log("metrics: A and B connected, one transaction relayed A -> B")
        a = self.node("A").start(["--metricsbind=127.0.0.1:0"])
        ida = a.node_id()
        b = self.node("B").start(["--metricsbind=127.0.0.1:0",
                                  "--connect=" + a.p2p_target()])
        idb = b.node_id()
        a.wait_peer_ids([idb])
        b.wait_peer_ids([ida])

        key = os.path.join(self.tmpdir, "alice.key")
        keygen(key)
        tx = createtx(key, "testnet", payload="6d6574726963")
        txid = a.rpc("sendrawtransaction", tx)
        wait_until(lambda: b.rpc("getiteminfo", txid) if self.has(b, txid) else None,
                   "B has the transaction")
        check_equal(a.rpc("sendrawtransaction", tx), txid, "a resubmission gives the same id")
        bad = tx[:130] + ("00" if tx[130:132] != "00" else "11") + tx[132:]
        try:
            a.rpc("sendrawtransaction", bad)
            raise TestFailure("a tampered transaction was accepted")
        except Exception as e:
            if isinstance(e, TestFailure):
                raise
        a.wait_log(r"info: rpc: rejected tx [0-9a-f]{16} from 127\.0\.0\.1:\d+: \S",
                   "A logs the refused submission with id, caller and reason")

        # One wrong password: counted by getinfo and by the metrics alike.
        status, _, _ = a.post({"jsonrpc": "2.0", "method": "getinfo", "id": 1},
                              auth=basic_auth(a.user, "wrong"))
        check_equal(status, 401, "A refuses a wrong password")
        a.close_conn()
        # One malformed request (GET): a bad request in the RPC metrics.
        status, _, _ = http_get(a.host, a.port, "/")
        check_equal(status, 405, "A's RPC port refuses GET")

        # The relay is done when B's counters settle: take both scrapes
        # after B has the item and A has seen B's inventory exchange.
        ra = a.rpc("getrelayinfo")
        rb = b.rpc("getrelayinfo")
        sa, fa, text_a = self.scrape(a)
        sb, fb, _ = self.scrape(b)
        log("  /metrics parsed: %d families, %d samples on A" % (len(fa), len(sa)))

        v = self.value
        check_equal(v(sa, "rumor_items_total", kind="tx", source="rpc", result="accepted"), 1.0,
                    "A: one tx accepted over RPC")
        check_equal(v(sa, "rumor_items_total", kind="tx", source="rpc", result="duplicate"), 1.0,
                    "A: the resubmission counts as a duplicate")
        check_equal(v(sa, "rumor_items_total", kind="tx", source="rpc", result="invalid"), 1.0,
                    "A: the tampered tx counts as invalid")
        check_equal(v(sa, "rumor_items_total", kind="tx", source="rpc", result="accepted"),
                    float(ra["items_accepted"]["by_source"]["rpc"]), "A: metrics agree with getrelayinfo accepted_rpc")
        check_equal(v(sb, "rumor_items_total", kind="tx", source="peer", result="accepted"), 1.0,
                    "B: one tx accepted from a peer")
        check_equal(v(sb, "rumor_items_total", kind="tx", source="peer", result="accepted"),
                    float(rb["items_accepted"]["by_source"]["peer"]), "B: metrics agree with getrelayinfo accepted_peer")
        check_equal(v(sa, "rumor_peers", direction="inbound"), 1.0, "A: one inbound peer")
        check_equal(v(sa, "rumor_peers", direction="outbound"), 0.0, "A: no outbound peer")
        check_equal(v(sb, "rumor_peers", direction="outbound"), 1.0, "B: one outbound peer")

        sent_tx = v(sa, "rumor_p2p_sent_bytes_total", type="tx")
        check(sent_tx > len(tx) / 2, "A sent the tx bytes (%r)" % sent_tx)
        check_equal(sent_tx, float(ra["bytes_sent_per_msg"]["tx"]),
                    "A: tx bytes sent agree with getrelayinfo")
        check_equal(v(sb, "rumor_p2p_received_bytes_total", type="tx"), sent_tx,
                    "B received exactly the tx bytes A sent")
        check_equal(v(sa, "rumor_p2p_sent_bytes_total", type="handshake"),
                    float(ra["bytes_sent_per_msg"]["handshake"]),
                    "A: handshake bytes agree with getrelayinfo")

        # Store: commits and their histogram agree, and B's item-to-store
        # latency histogram holds the one relayed item.
        commits = v(sa, "rumor_store_commits_total")
        check(commits >= 1, "A committed at least once (%r)" % commits)
        check_equal(v(sa, "rumor_store_commit_duration_seconds_count"), commits,
                    "A: one commit-duration observation per commit")
        check_equal(v(sa, "rumor_store_commit_duration_seconds_bucket", le="+Inf"), commits,
                    "A: the +Inf bucket holds every commit")
        check_equal(v(sa, "rumor_store_items", kind="tx"), 1.0, "A stores one tx")
        check_equal(v(sb, "rumor_item_store_latency_seconds_count", source="peer"), 1.0,
                    "B: one peer item timed to its commit")
        check_equal(v(sa, "rumor_item_store_latency_seconds_count", source="rpc"), 1.0,
                    "A: one RPC item timed to its commit")
        check(v(sa, "rumor_process_resident_memory_bytes") > 1e6, "A: RSS is reported")
        check(v(sa, "rumor_process_cpu_seconds_total") > 0, "A: CPU time is reported")
        check_equal(v(sa, "rumor_up"), 1.0, "A: rumor_up is 1")
        check_equal(v(sa, "rumor_rpc_auth_failures_total"), 1.0, "A: one failed authentication")
        check_equal(v(sa, "rumor_rpc_auth_failures_total"),
                    float(a.rpc("getinfo")["rpc_auth_failures"]),
                    "A: auth failures agree with getinfo")
        # The RPC port's HTTP server: the calls above, one GET refused,
        # nothing evicted, refused or late.
        accepted = v(sa, "rumor_rpc_connections_total", result="accepted")
        check(accepted >= 3, "A: RPC connections accepted (%r)" % accepted)
        check(v(sa, "rumor_rpc_requests_total", result="all") >= accepted - 1,
              "A: RPC requests read")
        check_equal(v(sa, "rumor_rpc_requests_total", result="bad"), 1.0,
                    "A: one bad RPC request (the GET)")
        for result in ("refused", "evicted"):
            check_equal(v(sa, "rumor_rpc_connections_total", result=result), 0.0,
                        "A: no RPC connection %s" % result)
        for phase in ("headers", "body"):
            check_equal(v(sa, "rumor_rpc_timeouts_total", phase=phase), 0.0,
                        "A: no RPC %s timeout" % phase)
        check_equal(v(sa, "rumor_rpc_json_refused_total"), 0.0, "A: no JSON body refused")
        check(v(sa, "rumor_rpc_clients") >= 0, "A: open RPC connections reported")
        check_equal(v(sa, "rumor_relay_requests_in_flight"), float(ra["requests_in_flight"]),
                    "A: requests in flight agree with getrelayinfo")
        check_equal(v(sa, "rumor_relay_request_timeouts_total"),
                    float(ra["request_timeouts"]), "A: request timeouts agree with getrelayinfo")
        check_equal(v(sa, "rumor_peer_read_pauses_total"), float(ra["throttle_pauses"]),
                    "A: read pauses agree with getrelayinfo")
        check_equal(v(sa, "rumor_peer_read_pauses_total"), 0.0,
                    "A: an honest peer never goes over its message budget")
        check_equal(v(sa, "rumor_peer_serve_budget_waits_total"),
                    float(ra["serve_budget_waits"]),
                    "A: serving budget waits agree with getrelayinfo")
        check_equal(v(sa, "rumor_peer_serve_budget_waits_total"), 0.0,
                    "A: serving an honest peer never waits for its budget")
        check_equal(v(sa, "rumor_getdata_duplicates_total"), float(ra["getdata_duplicates"]),
                    "A: skipped getdata duplicates agree with getrelayinfo")
        check_equal(v(sa, "rumor_verify_queue_items"), 0.0, "A: nothing waits for verification")
        types = {name: fam.type for name, fam in fa.items()}
        check_equal(types.get("rumor_store_commit_duration_seconds"), "histogram",
                    "the commit duration is a histogram")
        # The parser names a counter family without its _total suffix.
        check_equal(types.get("rumor_items"), "counter", "items are a counter")

        log("health and the other paths")
        host, port = self.metrics_address(a)
        status, headers, body = http_get(host, port, "/health")
        check_equal(status, 200, "/health status while serving")
        health = json.loads(body)
        check_equal(health["status"], "serving", "/health says serving")
        check_equal(health["peers"], 1, "/health counts A's peer")
        check_equal(http_get(host, port, "/nothing")[0], 404, "an unknown path is 404")
        status, headers, _ = http_get(host, port, "/metrics", method="POST")
        check_equal(status, 405, "POST /metrics is 405")
        status, headers, body = http_get(host, port, "/metrics", method="HEAD")
        check_equal((status, body), (200, b""), "HEAD /metrics: 200, no body")

        check(re.search(r"debug: stored tx %s from rpc -" % txid[:16], a.stderr_text()),
              "A logs the stored item with its short id and source")
        check(re.search(r"debug: stored tx %s from peer %s" % (txid[:16], ida[:16]),
                        b.stderr_text()), "B logs the stored item with its id and the peer")
        log("stop is logged with its caller")
        a.cli("stop", ok=True)
        check_equal(a.wait_exit(), 0, "A exits 0 after stop")
        check(re.search(r"info: stop requested over RPC by 127\.0\.0\.1:\d+", a.stderr_text()),
              "A logs `stop` with the caller's address")
        b.stop()

        log("a metrics port in use fails the start before the datadir is made")
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        bport = busy.getsockname()[1]
        try:
            c = self.node("C")
            rc, err = c.start_expect_failure(["--metricsbind=127.0.0.1:%d" % bport])
        finally:
            busy.close()
        check_equal(rc, 1, "exit status with the metrics port taken")
        check("error: cannot listen for metrics on 127.0.0.1:%d: address already in use" % bport
              in err, "the reason names the metrics address (%r)" % err.strip()[-200:])
        check(not os.path.exists(c.datadir), "no datadir left behind")

    @staticmethod
    def has(node, txid):
        try:
            node.rpc("getiteminfo", txid)
            return True
        except Exception:
            return False

    # ---- log file and SIGHUP ------------------------------------------

    def start_with_logfile(self, node, logfile, extra=()):
        node.spawn(list(extra) + ["--logfile=" + logfile])
        def listening():
            if node.proc.poll() is not None:
                raise TestFailure("rumord exited (%s): %s" % (node.proc.returncode,
                                                               node.stderr_text()[-500:]))
            try:
                with open(logfile) as f:
                    return re.search(r"rpc: listening on (\S+):(\d+)", f.read())
            except FileNotFoundError:
                return None
        m = wait_until(listening, "rpc: listening in the log file")
        node.host, node.port = m.group(1), int(m.group(2))
        node.read_cookie()

    def logfile_rotation(self):
        log("--logfile: rotate with mv + SIGHUP while transactions flow")
        node = self.node("L")
        logfile = os.path.join(self.tmpdir, "L.log")
        self.start_with_logfile(node, logfile)
        check_equal(node.stderr_text().strip(), "", "nothing on stderr with --logfile")

        key = os.path.join(self.tmpdir, "bob.key")
        keygen(key)
        txs = [createtx(key, "testnet", payload="%04x" % i, nonce=i) for i in range(200)]
        ids = []
        errors = []

        def submit():
            try:
                for t in txs:
                    ids.append(node.rpc("sendrawtransaction", t))
            except Exception as e:  # reported by the main thread
                errors.append(repr(e))

        th = threading.Thread(target=submit)
        th.start()
        rotated = []
        for i in range(4):
            # Rotate while the submissions are under way, at set points.
            wait_until(lambda: len(ids) >= 40 * (i + 1) or errors or None,
                       "%d transactions submitted" % (40 * (i + 1)))
            dest = "%s.%d" % (logfile, i + 1)
            os.rename(logfile, dest)
            rotated.append(dest)
            node.send_signal(signal.SIGHUP)
            wait_until(lambda: os.path.exists(logfile), "the log file is reopened after SIGHUP")
        th.join(timeout=60)
        check(not th.is_alive(), "the submissions finished")
        check_equal(errors, [], "no submission failed during rotation")
        check_equal(len(ids), len(txs), "every transaction was accepted")
        check(node.running(), "the node survived four SIGHUPs")
        node.rpc("getinfo")

        node.close_conn()
        node.send_signal(signal.SIGTERM)
        check_equal(node.wait_exit(), 0, "exit status after SIGTERM")
        check(not os.path.exists(node.cookie_path), "the cookie is removed at shutdown")

        texts = []
        for path in rotated + [logfile]:
            with open(path) as f:
                texts.append(f.read())
        allt = "".join(texts)
        for i, t in enumerate(texts[1:], 1):
            check("received SIGHUP: reopened log file %s" % logfile in t,
                  "file %d starts with the reopen line" % i)
        stored = re.findall(r"debug: stored tx ([0-9a-f]{16}) from rpc -", allt)
        check_equal(sorted(stored), sorted(i[:16] for i in ids),
                    "every transaction's 'stored tx' line is in exactly one file")
        check("shutdown complete" in texts[-1], "the last file has the shutdown line")
        per_file = [len(re.findall(r"debug: stored tx ", t)) for t in texts]
        check(sum(1 for n in per_file if n) >= 3,
              "the stored lines are spread over the rotated files (%s)" % per_file)
        lines = [l for l in allt.splitlines() if l]
        check(all(re.match(r"\d{4}-\d\d-\d\dT\S+Z (debug|info|notice|warn|error): ", l)
                  for l in lines), "every line is whole (no torn writes)")
        log("  ok: %d stored lines across %d files, none lost or doubled"
            % (len(stored), len(texts)))

    def sighup_without_logfile(self):
        log("SIGHUP without --logfile: logged, the node keeps serving")
        node = self.node("H").start()
        node.send_signal(signal.SIGHUP)
        node.wait_log(r"info: received SIGHUP: logging to stderr, nothing to reopen")
        check(node.running(), "still running after SIGHUP")
        node.rpc("getinfo")
        node.stop()

    # ---- systemd ------------------------------------------------------

    def systemd_notify(self):
        with open(os.path.join(BUILDDIR, "config.h")) as f:
            if "#define HAVE_SYSTEMD 1" not in f.read():
                log("  (built without libsystemd: no sd_notify check)")
                return
        log("sd_notify: READY=1 once the RPC port is open, STOPPING=1 when stopping")
        path = os.path.join(self.tmpdir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        node = self.node("N")
        os.environ["NOTIFY_SOCKET"] = path
        try:
            node.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        msg = sock.recv(4096).decode()
        check("READY=1" in msg.split("\n"), "READY=1 sent (%r)" % msg)
        node.rpc("getinfo")  # ready meant serving
        node.cli("stop", ok=True)
        msg = sock.recv(4096).decode()
        check("STOPPING=1" in msg.split("\n"), "STOPPING=1 sent as shutdown begins (%r)" % msg)
        check_equal(node.wait_exit(), 0, "exit status after stop")
        sock.close()


if __name__ == "__main__":
    Service().main()
