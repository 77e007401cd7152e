"""Functional test framework for rumor: start real rumord processes on
loopback and talk to them the way users do (HTTP/1.1 JSON-RPC with
keep-alive, rumor-cli and rumor-tx as subprocesses).

Python 3 standard library only.  Where things are:
  RUMOR_BUILDDIR  top of the build tree (binaries in $RUMOR_BUILDDIR/src)
  RUMOR_SRCDIR    top of the source tree
Both default to two levels above this file, so a script can also be run by
hand from an in-tree build.

Rules every test follows (see test/functional/Makefile.inc):
  - loopback only; the node picks its RPC port (--rpcbind=127.0.0.1:0) and
    the test reads it from the "rpc: listening on HOST:PORT" log line, so
    parallel `make -j check` runs never collide;
  - every wait is bounded (WAIT_S, polled every POLL_S);
  - every process started is killed by pid at the end (SIGTERM, then
    SIGKILL after 5 s), even when the test fails;
  - after a node exits its stderr is scanned: a line with "BROKEN" or a
    sanitizer report fails the test;
  - the temporary directory is removed at the end.

Exit status of a script: 0 pass, 1 fail, 77 skipped.
"""

import atexit
import base64
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

WAIT_S = 20.0       # upper bound of every wait
POLL_S = 0.05       # poll interval
KILL_GRACE_S = 5.0  # SIGTERM -> SIGKILL during cleanup

EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77

_HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("RUMOR_SRCDIR") or os.path.dirname(os.path.dirname(_HERE))
BUILDDIR = os.environ.get("RUMOR_BUILDDIR") or SRCDIR
RUMORD = os.path.join(BUILDDIR, "src", "rumord")
RUMOR_CLI = os.path.join(BUILDDIR, "src", "rumor-cli")
RUMOR_TX = os.path.join(BUILDDIR, "src", "rumor-tx")

# Lines that mean a bug in the program that printed them.
BAD_LOG_PATTERNS = ("BROKEN", "ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

HEX64 = re.compile(r"^[0-9a-f]{64}$")
LISTEN_RE = re.compile(r"rpc: listening on (\S+):(\d+)")

# Peer-to-peer (test_p2p_*.py).  peer_tool is a crafted peer built from our
# own session code (test/functional/peer_tool.c, a check_PROGRAM).
PEER_TOOL = os.path.join(BUILDDIR, "test", "functional", "peer_tool")
P2P_LISTEN_RE = re.compile(r"p2p: listening on (\S+):(\d+)")
P2P_TEST_LISTEN = "127.0.0.1:0"  # every node listens on loopback, on a port it picks

# Sanitizer defaults when a script is run by hand (make check sets these).
os.environ.setdefault("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=1")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")


class TestFailure(Exception):
    """A check failed."""


class SkipTest(Exception):
    """The facility a test needs is genuinely unavailable."""


class RPCError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__("RPC error %s: %s" % (code, message))
        self.code = code
        self.message = message
        self.data = data


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    """Assert cond; print what was checked."""
    if not cond:
        raise TestFailure(msg)
    log("  ok: " + msg)


def check_equal(got, want, msg):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (msg, got, want))
    log("  ok: %s (%r)" % (msg, want if len(repr(want)) < 80 else repr(want)[:77] + "..."))


def expect_rpc_error(fn, code, msg, contains=None):
    """Call fn(); it must raise RPCError with this code (and, if given, a
    message containing every string in contains, case-insensitive)."""
    try:
        res = fn()
    except RPCError as e:
        if e.code != code:
            raise TestFailure("%s: got error %s %r, want code %s" % (msg, e.code, e.message, code))
        for word in ([contains] if isinstance(contains, str) else (contains or [])):
            if word.lower() not in str(e.message).lower():
                raise TestFailure("%s: error message %r does not mention %r" % (msg, e.message, word))
        log("  ok: %s -> %s %r" % (msg, code, e.message))
        return e
    raise TestFailure("%s: expected RPC error %s, got result %r" % (msg, code, res))


def wait_until(pred, what, timeout=WAIT_S):
    """Poll pred() until it returns a true value; return it.  Bounded."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(POLL_S)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def item_id(item_hex):
    """An item's id is the SHA-256 of its full encoding."""
    return sha256_hex(bytes.fromhex(item_hex))


def network_magic(name):
    """The 4-byte magic that binds an item to a network (doc/protocol.md)."""
    return hashlib.sha256(b"rumor/network/" + name.encode()).digest()[:4]


def file_mode(path):
    return os.stat(path).st_mode & 0o777


def scan_for_bugs(text, where):
    """Raise if text has a line that reports an internal bug or a sanitizer
    finding."""
    for line in text.splitlines():
        for pat in BAD_LOG_PATTERNS:
            if pat in line:
                raise TestFailure("%s: bad line in output: %s" % (where, line.strip()))


# Processes started by any test: killed at exit no matter what.
_PROCS = []


def _kill_proc(proc):
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            pass


def _kill_all():
    for p in list(_PROCS):
        _kill_proc(p)


atexit.register(_kill_all)


def run_tool(path, args, timeout=WAIT_S, input_data=None):
    """Run a short-lived tool; returns CompletedProcess (text).  Its stderr
    is scanned for sanitizer reports."""
    try:
        cp = subprocess.run([path] + [str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout, input=input_data)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s %s did not finish within %.0f s" % (os.path.basename(path), args, timeout))
    scan_for_bugs(cp.stderr, os.path.basename(path))
    return cp


def rumor_tx(*args, ok=True):
    """Run rumor-tx; with ok=True it must exit 0 and its stdout (stripped)
    is returned, else the CompletedProcess."""
    cp = run_tool(RUMOR_TX, list(args))
    if not ok:
        return cp
    if cp.returncode != 0:
        raise TestFailure("rumor-tx %s exited %d: %s" % (" ".join(map(str, args)), cp.returncode,
                                                          cp.stderr.strip()))
    return cp.stdout.strip()


def rumor_tx_many(arg_lists, parallel=4):
    """Run rumor-tx once per argument list, a few at a time; return the
    stripped outputs in order."""
    out = [None] * len(arg_lists)
    running = []
    todo = list(enumerate(arg_lists))
    deadline = time.monotonic() + 120

    def reap(i, p):
        o, e = p.communicate(timeout=WAIT_S)
        scan_for_bugs(e, "rumor-tx")
        if p.returncode != 0:
            raise TestFailure("rumor-tx %s exited %d: %s" % (arg_lists[i], p.returncode, e.strip()))
        out[i] = o.strip()

    while todo or running:
        while todo and len(running) < parallel:
            i, a = todo.pop(0)
            p = subprocess.Popen([RUMOR_TX] + [str(x) for x in a], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            _PROCS.append(p)
            running.append((i, p))
        i, p = running.pop(0)
        reap(i, p)
        if time.monotonic() > deadline:
            raise TestFailure("rumor-tx runs took too long")
    return out


def keygen(path):
    """Make a key file with rumor-tx keygen; return the public key hex."""
    out = rumor_tx("keygen", "--out=" + path)
    m = re.search(r"\b[0-9a-f]{64}\b", out)
    if not m:
        raise TestFailure("rumor-tx keygen printed no public key: %r" % out)
    return m.group(0)


def createtx(key, network, payload="", nonce=None, timestamp=None):
    args = ["createtx", "--key=" + key, "--network=" + network, "--payload=" + payload]
    if nonce is not None:
        args.append("--nonce=%d" % nonce)
    if timestamp is not None:
        args.append("--timestamp=%d" % timestamp)
    return rumor_tx(*args)


def createblock(key, network, height, prev, txs=(), timestamp=None):
    args = ["createblock", "--key=" + key, "--network=" + network, "--height=%d" % height,
            "--prev=" + prev]
    if timestamp is not None:
        args.append("--timestamp=%d" % timestamp)
    return rumor_tx(*(args + list(txs)))


def basic_auth(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class StartupError(Exception):
    def __init__(self, rc, stderr):
        super().__init__("rumord exited %s during start-up: %s" % (rc, stderr.strip()[-2000:]))
        self.rc = rc
        self.stderr = stderr


class Node:
    """One rumord process.  The datadir survives restarts of the same Node.

    rpc() keeps one HTTP/1.1 connection open (keep-alive) and reuses it;
    raw_http() and raw_socket() open a fresh connection each time."""

    def __init__(self, test, name="node0", datadir=None, network="testnet",
                 listen=P2P_TEST_LISTEN):
        self.test = test
        self.listen = listen  # --listen added by base_args (None: not given)
        self.name = name
        self.datadir = datadir or os.path.join(test.tmpdir, name)
        self.network = network
        self.proc = None
        self.host = None
        self.port = None
        self.user = None
        self.password = None
        self.conn = None
        self.runs = 0
        self.stderr_path = None
        self.next_id = 0
        test.nodes.append(self)

    # ---- process control ----

    @property
    def cookie_path(self):
        return os.path.join(self.datadir, ".cookie")

    def base_args(self):
        args = ["--datadir=" + self.datadir, "--network=" + self.network,
                "--rpcbind=127.0.0.1:0", "--loglevel=debug"]
        # Never the default 0.0.0.0:8633: loopback, and a port of the node's
        # choosing, so tests run side by side.  Later options still win.
        if self.listen and p2p_supported():
            args.append("--listen=" + self.listen)
        return args

    def spawn(self, extra_args=(), base=True, wrapper=()):
        """Start rumord without waiting for it; returns the Popen.  wrapper:
        a command that runs rumord and its arguments (it gets them last),
        e.g. one that sets up a namespace first and then execs them."""
        self.runs += 1
        self.stderr_path = os.path.join(self.test.tmpdir, "%s.run%d.stderr" % (self.name, self.runs))
        self.stderr_file = open(self.stderr_path, "w+b")
        extra_args = list(extra_args)
        if not base and p2p_supported() and not any(
                a.startswith("--listen") or a == "--nolisten" for a in extra_args):
            # Even a hand-built command line stays on loopback and never
            # takes the default 0.0.0.0:8633.
            extra_args.insert(0, "--listen=127.0.0.1:0")
        args = list(wrapper) + [RUMORD] + (self.base_args() if base else []) + extra_args
        self.test.log_cmd(args)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.stderr_file,
                                     stderr=self.stderr_file)
        _PROCS.append(self.proc)
        self.port = None
        self.close_conn()
        return self.proc

    def stderr_text(self):
        if not self.stderr_path:
            return ""
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def start(self, extra_args=(), base=True, wrapper=()):
        """Start rumord and wait until its RPC port is open and the cookie
        written.  Raises StartupError if it exits first."""
        self.spawn(extra_args, base, wrapper)
        deadline = time.monotonic() + WAIT_S
        while True:
            text = self.stderr_text()
            m = LISTEN_RE.search(text)
            if m:
                self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
                break
            rc = self.proc.poll()
            if rc is not None:
                self.finish_run()
                raise StartupError(rc, text)
            if time.monotonic() >= deadline:
                raise TestFailure("%s: no 'rpc: listening on' line within %.0f s; log:\n%s"
                                  % (self.name, WAIT_S, text[-2000:]))
            time.sleep(POLL_S)
        self.read_cookie()
        return self

    def start_expect_failure(self, extra_args=(), base=True):
        """Start rumord, expecting it to refuse to start.  Returns (rc,
        stderr).  Fails if it opens its RPC port or does not exit."""
        self.spawn(extra_args, base)
        try:
            rc = self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s: rumord %s did not exit within %.0f s (log: %s)"
                              % (self.name, list(extra_args), WAIT_S, self.stderr_text()[-1000:]))
        text = self.stderr_text()
        self.finish_run()
        return rc, text

    def read_cookie(self):
        with open(self.cookie_path) as f:
            content = f.read().strip()
        self.user, _, self.password = content.partition(":")
        return content

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=WAIT_S):
        """Wait for the process to exit; return its exit status (negative:
        killed by that signal).  Scans the log."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s: did not exit within %.1f s" % (self.name, timeout))
        self.finish_run()
        return rc

    def finish_run(self):
        self.close_conn()
        if getattr(self, "stderr_file", None):
            self.stderr_file.close()
            self.stderr_file = None
        scan_for_bugs(self.stderr_text(), "%s run %d stderr" % (self.name, self.runs))

    def stop(self, sig=signal.SIGTERM):
        """Clean shutdown by signal: exit status 0 required."""
        self.close_conn()
        self.send_signal(sig)
        rc = self.wait_exit()
        if rc != 0:
            raise TestFailure("%s: exit status %d after %s; log tail:\n%s"
                              % (self.name, rc, signal.Signals(sig).name, self.stderr_text()[-2000:]))
        return rc

    def kill9(self):
        self.close_conn()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=WAIT_S)
        self.finish_run()

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            _kill_proc(self.proc)
        if self.proc is not None:
            try:
                self.finish_run()
            except TestFailure as e:
                return str(e)
        return None

    # ---- JSON-RPC over HTTP ----

    def auth_header(self):
        return basic_auth(self.user, self.password)

    def close_conn(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def http_connection(self, timeout=WAIT_S):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def post(self, body, auth=None, headers=None):
        """POST body on the kept-alive connection.  Returns (status,
        headers dict (lower-case names), body bytes).  A connection the
        server closed while idle is reopened once."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": "application/json", "Authorization": auth or self.auth_header()}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = self.http_connection()
            try:
                self.conn.request("POST", "/", body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.BadStatusLine) as e:
                self.close_conn()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection
                raise TestFailure("%s: HTTP request failed: %r" % (self.name, e))
            h = {k.lower(): v for k, v in resp.getheaders()}
            if resp.will_close:
                self.close_conn()
            return resp.status, h, data
        raise AssertionError("unreachable")

    def call_json(self, obj, auth=None):
        """POST a JSON-RPC object; returns the decoded JSON reply (None for
        an empty 204 answer).  Non-200/204 statuses raise."""
        status, h, data = self.post(obj, auth=auth)
        if status == 204:
            return None
        if status != 200:
            raise TestFailure("%s: HTTP %d: %r" % (self.name, status, data[:300]))
        try:
            return json.loads(data)
        except ValueError:
            raise TestFailure("%s: reply is not JSON: %r" % (self.name, data[:300]))

    def rpc(self, method, *params, **named):
        """Call a method; return its result or raise RPCError."""
        if params and named:
            raise ValueError("positional or named params, not both")
        self.next_id += 1
        req = {"jsonrpc": "2.0", "method": method, "id": self.next_id}
        if named:
            req["params"] = named
        else:
            req["params"] = list(params)
        reply = self.call_json(req)
        return self.check_reply(reply, self.next_id)

    @staticmethod
    def check_reply(reply, want_id):
        if not isinstance(reply, dict):
            raise TestFailure("reply is not a JSON object: %r" % (reply,))
        if reply.get("jsonrpc") != "2.0":
            raise TestFailure("reply lacks \"jsonrpc\": \"2.0\": %r" % (reply,))
        if reply.get("id") != want_id:
            raise TestFailure("reply id %r, want %r" % (reply.get("id"), want_id))
        if ("result" in reply) == ("error" in reply):
            raise TestFailure("reply must have exactly one of result/error: %r" % (reply,))
        if "error" in reply:
            err = reply["error"]
            if not isinstance(err, dict) or not isinstance(err.get("code"), int) \
                    or not isinstance(err.get("message"), str):
                raise TestFailure("malformed error object: %r" % (err,))
            raise RPCError(err["code"], err["message"], err.get("data"))
        return reply["result"]

    def raw_http(self, method="POST", path="/", body=b"", headers=None, auth=True):
        """One request on a fresh connection; returns (status, headers,
        body).  auth=True adds the cookie credentials, a string is used as
        the Authorization header, False/None sends none."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {}
        if body or method == "POST":
            hdrs["Content-Type"] = "application/json"
        if auth is True:
            hdrs["Authorization"] = self.auth_header()
        elif auth:
            hdrs["Authorization"] = auth
        hdrs.update(headers or {})
        conn = self.http_connection()
        try:
            conn.request(method, path, body=body if body or method == "POST" else None, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def raw_socket(self, data, timeout=WAIT_S):
        """Send raw bytes on a fresh TCP connection and read the answer
        until the server closes or a full response head with its body has
        arrived.  Returns (status or None, raw bytes)."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        got = b""
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading it all
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
                if not r:
                    break
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
                if response_complete(got):
                    break
        finally:
            s.close()
        return parse_status(got), got

    # ---- rumor-cli ----

    def cli(self, *args, auth=True, ok=None):
        """Run rumor-cli against this node.  auth=True reads the cookie via
        --datadir; otherwise pass the options yourself.  Returns the
        CompletedProcess; ok=True requires exit 0 (and then returns the
        stripped stdout)."""
        pre = ["--rpcconnect=%s:%d" % (self.host, self.port)]
        if auth:
            pre.insert(0, "--datadir=" + self.datadir)
        self.test.log_cmd([RUMOR_CLI] + pre + list(args))
        cp = run_tool(RUMOR_CLI, pre + list(args))
        if ok:
            if cp.returncode != 0:
                raise TestFailure("rumor-cli %s exited %d: %s" % (list(args), cp.returncode,
                                                                  cp.stderr.strip()))
            return cp.stdout.strip()
        return cp


    # ---- peer-to-peer ----

    def log_mark(self):
        """An offset into this run's log, for wait_log(since=...)."""
        return len(self.stderr_text())

    def wait_log(self, pattern, what=None, since=0, timeout=WAIT_S):
        """Wait (bounded) for a log line of this run matching the regex
        pattern, at or after offset since; returns the match."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.stderr_text(), since),
                          "%s: log line /%s/" % (self.name, what or pattern), timeout)

    def p2p_address(self, timeout=WAIT_S):
        """(host, port) of this run's "p2p: listening on HOST:PORT" line."""
        m = self.wait_log(P2P_LISTEN_RE.pattern, "p2p: listening on", timeout=timeout)
        return m.group(1).strip("[]"), int(m.group(2))

    def node_id(self):
        return self.rpc("getinfo")["node_id"]

    def p2p_target(self, with_id=True):
        """[NODEID@]HOST:PORT for --connect and peer_tool."""
        host, port = self.p2p_address()
        return ("%s@%s:%d" % (self.node_id(), host, port)) if with_id else "%s:%d" % (host, port)

    def peers(self):
        return self.rpc("getpeerinfo")

    def wait_peer_ids(self, ids, timeout=WAIT_S):
        """Wait until getpeerinfo lists exactly the node ids in ids (any
        order); returns the list."""
        want = sorted(ids)
        last = []

        def ok():
            p = self.peers()
            last[:] = [(x.get("node_id", "?")[:12], x.get("addr")) for x in p]
            return (p,) if sorted(x.get("node_id") for x in p) == want else None  # [] is falsy
        try:
            return wait_until(ok, "%s: peers %s" % (self.name, [i[:12] for i in want]), timeout)[0]
        except TestFailure as e:
            raise TestFailure("%s; the last getpeerinfo listed %s" % (e, last))


def p2p_supported():
    """Does this rumord have peer-to-peer options (--listen in --help)?"""
    global _P2P_SUPPORTED
    if _P2P_SUPPORTED is None:
        cp = run_tool(RUMORD, ["--help"])
        _P2P_SUPPORTED = "--listen" in cp.stdout + cp.stderr
    return _P2P_SUPPORTED


_P2P_SUPPORTED = None


def require_p2p():
    """Skip (exit 77) when the node has no peer support yet; fail when the
    crafted peer is not built."""
    if not p2p_supported():
        raise SkipTest("rumord has no --listen (peer-to-peer not built in yet)")
    if not os.access(PEER_TOOL, os.X_OK):
        raise TestFailure("%s not built: make check builds it (or make test/functional/peer_tool)"
                          % PEER_TOOL)


def peer_tool(target, mode, network="testnet", *, expect_rc=None, timeout=WAIT_S + 5, **opts):
    """Run peer_tool MODE against HOST:PORT target (a NODEID@ prefix turns
    into --expect); opts become --name=value (psk, bind, timeout, seconds).
    Returns the CompletedProcess; with expect_rc, the exit status must be
    that."""
    args = []
    if "@" in target:
        node_id, target = target.split("@", 1)
        args.append("--expect=" + node_id)
    args += ["--connect=" + target, "--network=" + network]
    args += ["--%s=%s" % (k, v) for k, v in sorted(opts.items()) if v is not None]
    args.append(mode)
    cp = run_tool(PEER_TOOL, args, timeout=timeout)
    if expect_rc is not None and cp.returncode != expect_rc:
        raise TestFailure("peer_tool %s exited %d, want %d\nstdout: %s\nstderr: %s"
                          % (" ".join(args), cp.returncode, expect_rc, cp.stdout.strip(),
                             cp.stderr.strip()))
    return cp


class PeerToolProcess:
    """A long-running peer_tool (mode hold) whose stdout lines are read as
    they come."""

    def __init__(self, target, mode="hold", network="testnet", **opts):
        args = [PEER_TOOL]
        if "@" in target:
            node_id, target = target.split("@", 1)
            args.append("--expect=" + node_id)
        args += ["--connect=" + target, "--network=" + network]
        args += ["--%s=%s" % (k, v) for k, v in sorted(opts.items()) if v is not None]
        args.append(mode)
        self.args = args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        _PROCS.append(self.proc)
        self.out = b""

    def wait_line(self, pattern, timeout=WAIT_S):
        """Wait (bounded) for a stdout line matching pattern; returns the
        match.  Fails when the tool exits first."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("peer_tool %s: no line /%s/ within %.0f s; stdout %r"
                                  % (self.args[1:], pattern, timeout, self.out))
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    rc = self.proc.wait(timeout=WAIT_S)
                    err = self.proc.stderr.read().decode("utf-8", "replace")
                    raise TestFailure("peer_tool %s exited %s before /%s/: stdout %r, stderr %r"
                                      % (self.args[1:], rc, pattern, self.out, err.strip()))
                self.out += chunk

    def stop(self):
        """Kill it (by pid) and reap it; returns its stderr."""
        _kill_proc(self.proc)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        scan_for_bugs(err, "peer_tool")
        return err


def response_complete(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m:
        return len(body) >= int(m.group(1))
    status = parse_status(raw)
    return status in (204, 304) or (status is not None and 100 <= status < 200)


def parse_status(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


class TestBase:
    """Subclass and define run(self).  main() runs it with cleanup."""

    def __init__(self):
        self.nodes = []
        self.tmpdir = None
        self.verbose_cmds = os.environ.get("RUMOR_TEST_VERBOSE") == "1"

    def log_cmd(self, args):
        if self.verbose_cmds:
            log("  $ " + " ".join(args))

    def node(self, name=None, **kw):
        return Node(self, name=name or "node%d" % len(self.nodes), **kw)

    def require_binaries(self):
        missing = [p for p in (RUMORD, RUMOR_CLI, RUMOR_TX) if not os.access(p, os.X_OK)]
        if missing:
            raise TestFailure("binaries not built: %s (RUMOR_BUILDDIR=%s)" % (missing, BUILDDIR))

    def main(self):
        name = os.path.basename(sys.argv[0])
        self.tmpdir = tempfile.mkdtemp(prefix="rumor-func-%s-" % name.replace(".py", ""))
        status = EXIT_FAIL
        start = time.monotonic()
        try:
            self.require_binaries()
            self.run()
            status = EXIT_PASS
        except SkipTest as e:
            log("SKIP: %s" % e)
            status = EXIT_SKIP
        except (TestFailure, StartupError, RPCError) as e:
            log("FAIL: %s" % e)
            traceback.print_exc(file=sys.stdout)
        except Exception as e:  # a bug in the test or an unexpected answer
            log("FAIL (unexpected exception): %r" % e)
            traceback.print_exc(file=sys.stdout)
        finally:
            for n in self.nodes:
                err = n.cleanup()
                if err:
                    log("FAIL: %s" % err)
                    status = EXIT_FAIL
            if status == EXIT_FAIL:
                for n in self.nodes:
                    if n.stderr_path and os.path.exists(n.stderr_path):
                        log("---- %s last run stderr (tail) ----" % n.name)
                        log(n.stderr_text()[-3000:])
            _kill_all()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        log("%s: %s in %.1f s" % (name, {0: "PASS", 1: "FAIL", 77: "SKIP"}[status],
                                   time.monotonic() - start))
        sys.exit(status)


# ---- relay helpers (test_relay_*.py) ----------------------------------------

def rumord_help_has(option):
    """Feature detection: does `rumord --help` mention option?"""
    cp = run_tool(RUMORD, ["--help"])
    return option in cp.stdout or option in cp.stderr


def relay_node_args(node, listen="127.0.0.1:0", loglevel="info", extra=()):
    """The full argument list of a relay test node (start it with base=False):
    loopback RPC and p2p on ports the node picks, many inbound peers per IP."""
    return ["--datadir=" + node.datadir, "--network=" + node.network, "--rpcbind=127.0.0.1:0",
            "--loglevel=" + loglevel, "--listen=" + listen, "--maxinboundperip=1000"] + list(extra)


def wait_for_peers(node, count, timeout=WAIT_S):
    """Wait until getpeerinfo lists exactly count peers; return the list."""
    def ok():
        p = node.rpc("getpeerinfo")
        return (p,) if len(p) == count else None  # (p,): an empty list is falsy
    return wait_until(ok, "%s to have %d peers" % (node.name, count), timeout)[0]


def rpc_batch(node, method, params_list):
    """One JSON-RPC batch of method(*params) calls (at most 1000); returns a
    list of (result, error) in order."""
    calls = [{"jsonrpc": "2.0", "id": i, "method": method, "params": list(p)}
             for i, p in enumerate(params_list)]
    reply = node.call_json(calls) if calls else []
    by_id = {r.get("id"): r for r in reply}
    return [(by_id[i].get("result"), by_id[i].get("error")) for i in range(len(calls))]


def missing_items(node, ids):
    """The ids (of a list) that getiteminfo does not know on node."""
    ids = list(ids)
    missing = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for i, (res, err) in zip(chunk, rpc_batch(node, "getiteminfo", [[x] for x in chunk])):
            if err is not None or not isinstance(res, dict):
                missing.append(i)
    return missing


def wait_for_items(nodes, ids, timeout=30.0, what="items"):
    """Wait (bounded) until every node knows every id; the failure names
    which node lacks how many."""
    deadline = time.monotonic() + timeout
    ids = list(ids)
    pending = {n.name: (n, ids) for n in nodes}
    while True:
        for name, (n, left) in list(pending.items()):
            left = missing_items(n, left)
            if left:
                pending[name] = (n, left)
            else:
                del pending[name]
        if not pending:
            log("  ok: %d %s reached all %d nodes" % (len(ids), what, len(nodes)))
            return
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.0f s waiting for %s: %s" % (
                timeout, what, ", ".join("%s lacks %d (first %s)" % (k, len(v[1]), v[1][0][:16])
                                         for k, v in sorted(pending.items()))))
        time.sleep(POLL_S * 2)
