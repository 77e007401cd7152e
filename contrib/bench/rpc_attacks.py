"""contrib/bench/rpc_attacks.py: hostile clients of rumord's JSON-RPC port,
and an honest one to run beside them.  Shared by contrib/bench/hostile (which
prints figures) and test/functional/test_rpc_hostile.py (which asserts that
each attack is contained).  Python 3 standard library only; loopback only.

Each attack is a class with start() and stop(); it runs on threads of its own
until stop(), which joins them and returns a dict of counters.  Every socket
it opens is closed by stop().  The attacks:

  idle        N connections that never send a byte, reopened when closed
  slowloris   N connections that send a request's headers one byte at a
              time (one byte per connection every `interval` s), reopened
              when closed; counts the 408 answers
  batch       K authenticated keep-alive clients sending batches of 1000
              getblock(ID, false) calls (ID: a 4 MiB block) back to back
  tiny        one authenticated client sending 32 MiB bodies of tiny values
              ("params":[0,0,...]) back to back; counts answered_early when
              the server answered (and closed) before the body was all sent
  bruteforce  K clients trying wrong passwords, each on a fresh connection

The honest client (Honest) makes getinfo calls, each on a fresh connection
(as rumor-cli does), and records each call's latency, or its failure.
"""

import base64
import json
import multiprocessing
import socket
import threading
import time

IDLE_SWEEP_S = 0.02


def basic_auth(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def read_response(sock, limit=256 << 20):
    """Reads one HTTP/1.1 response with a Content-Length.  Returns (status,
    body bytes), or (None, b"") when the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length > limit:
        raise ValueError("response of %d bytes" % length)
    parts = [body]
    got = len(body)
    while got < length:
        chunk = sock.recv(min(1 << 20, length - got))
        if not chunk:
            return None, b""
        parts.append(chunk)
        got += len(chunk)
    return status, b"".join(parts)


def request_bytes(body, auth, keep_alive=True):
    if isinstance(body, str):
        body = body.encode()
    head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Authorization: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (auth, len(body), "" if keep_alive else "Connection: close\r\n"))
    return head.encode() + body


class Attack:
    name = "attack"

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.stopping = threading.Event()
        self.threads = []
        self.counters = {}
        self.lock = threading.Lock()
        self.errors = []

    def count(self, key, n=1):
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + n

    def connect(self, timeout=10.0):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def spawn(self, fn, *args):
        t = threading.Thread(target=self._guard, args=(fn,) + args, daemon=True)
        self.threads.append(t)
        t.start()

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # reported by stop(); the attack must not die silently
            self.errors.append("%s: %r" % (self.name, e))

    def start(self):
        raise NotImplementedError

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)
        alive = [t for t in self.threads if t.is_alive()]
        if alive:
            self.errors.append("%s: %d threads did not stop" % (self.name, len(alive)))
        return dict(self.counters)


def _run_isolated(attack, conn):
    try:
        attack.start()
        conn.send("started")
        conn.recv()  # stop
        counters = attack.stop()
    except Exception as e:  # reported to the parent
        attack.errors.append("%s: %r" % (attack.name, e))
        counters = {}
    conn.send((counters, attack.errors))


class Isolated:
    """Runs an attack in a child process of its own: its threads busy
    opening connections or sending bodies would otherwise hold this
    interpreter's lock for milliseconds at a time, and the honest client
    beside it (a thread of this process) would be delayed between its
    connect and its request by the attacker's Python, not by the node; an
    attacker is another party, with its own CPU.  Same interface as
    Attack: start(), stop() -> counters, errors, name."""

    def __init__(self, attack):
        self.attack = attack
        self.name = attack.name
        self.errors = []
        self.proc = None
        self.conn = None

    def start(self):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_run_isolated, args=(self.attack, child), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(30):
            self.errors.append("%s: the attack process did not start" % self.name)
        else:
            self.conn.recv()
        return self

    def stop(self):
        counters = {}
        try:
            self.conn.send("stop")
            if self.conn.poll(90):
                counters, errors = self.conn.recv()
                self.errors.extend(errors)
            else:
                self.errors.append("%s: the attack process did not stop" % self.name)
        except (EOFError, OSError) as e:
            self.errors.append("%s: the attack process died: %r" % (self.name, e))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)
        return counters


class SocketHerd(Attack):
    """Many sockets on one thread; each is reopened when the server closes it.
    step(i, sock) may send something; the herd notices closes."""

    def __init__(self, host, port, connections):
        super().__init__(host, port)
        self.n = connections

    def start(self):
        self.spawn(self.run)
        return self

    def open_one(self):
        try:
            s = self.connect()
        except OSError:
            self.count("connect_failed")
            return None
        s.setblocking(False)
        self.count("opened")
        return s

    def run(self):
        socks = [None] * self.n
        state = [0] * self.n
        try:
            while not self.stopping.is_set():
                for i in range(self.n):
                    if socks[i] is None:
                        socks[i] = self.open_one()
                        state[i] = 0
                        if socks[i] is None:
                            continue
                    s = socks[i]
                    closed = False
                    try:
                        data = s.recv(4096)
                        if not data:
                            closed = True
                        else:
                            self.saw(data)
                            closed = True  # every answer to an attacker is final
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                    if not closed:
                        try:
                            state[i] = self.step(s, state[i])
                        except BlockingIOError:
                            pass
                        except OSError:
                            closed = True
                    if closed:
                        self.count("closed_by_server")
                        s.close()
                        socks[i] = None
                self.stopping.wait(self.pause())
        finally:
            for s in socks:
                if s is not None:
                    s.close()

    def saw(self, data):
        if data.startswith(b"HTTP/1.1 "):
            self.count("answer_%s" % data[9:12].decode("ascii", "replace"))

    def step(self, sock, state):
        return state

    def pause(self):
        return IDLE_SWEEP_S


class Idle(SocketHerd):
    name = "idle"


SLOW_REQUEST = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + \
    b"X-Padding: " + b"a" * 4000 + b"\r\n"


class Slowloris(SocketHerd):
    name = "slowloris"

    def __init__(self, host, port, connections, interval=1.0):
        super().__init__(host, port, connections)
        self.interval = interval
        self.next_round = 0.0

    def run(self):
        self.next_round = time.monotonic()
        super().run()

    def step(self, sock, state):
        if time.monotonic() < self.next_round:
            return state
        sock.send(SLOW_REQUEST[state % len(SLOW_REQUEST):state % len(SLOW_REQUEST) + 1])
        self.count("bytes_sent")
        return state + 1

    def pause(self):
        now = time.monotonic()
        if now >= self.next_round:
            self.next_round = now + self.interval
        return IDLE_SWEEP_S


class Batch(Attack):
    """Batches of `calls` getblock(block_id, false) on keep-alive connections.
    Counts results and "response too large" refusals per answer."""
    name = "batch"

    def __init__(self, host, port, auth, block_id, clients=2, calls=1000):
        super().__init__(host, port)
        self.auth = auth
        self.body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "getblock",
                                 "params": [block_id, False]} for i in range(calls)])
        self.calls = calls
        self.clients = clients
        self.max_results = 0

    def start(self):
        for _ in range(self.clients):
            self.spawn(self.run)
        return self

    def run(self):
        req = request_bytes(self.body, self.auth)
        s = self.connect(timeout=120)
        try:
            while not self.stopping.is_set():
                s.sendall(req)
                status, body = read_response(s)
                if status != 200:
                    raise RuntimeError("batch answered HTTP %r" % status)
                # Counted by bytes, not json.loads: decoding 24 MiB in Python
                # would take this machine's CPU from the node being measured.
                # The results are hex, so these strings occur only as keys.
                answers = body.count(b'"jsonrpc":"2.0"')
                results = body.count(b'"result":')
                refused = body.count(b'"message":"response too large')
                if answers != self.calls or results + refused != self.calls:
                    raise RuntimeError("batch answer: %d answers, %d results, %d refused"
                                       % (answers, results, refused))
                with self.lock:
                    self.max_results = max(self.max_results, results)
                self.count("batches")
                self.count("results", results)
                self.count("refused", refused)
                self.count("answer_bytes", len(body))
        finally:
            s.close()

    def stop(self):
        c = super().stop()
        c["max_results_per_batch"] = self.max_results
        return c


class Tiny(Attack):
    """32 MiB bodies of tiny values, each answered with an error."""
    name = "tiny"

    def __init__(self, host, port, auth, body_bytes=32 << 20):
        super().__init__(host, port)
        self.auth = auth
        head = '{"jsonrpc":"2.0","id":1,"method":"getinfo","params":['
        tail = ']}'
        n = (body_bytes - len(head) - len(tail) - 64) // 2
        self.body = (head + "0," * n + "0" + tail).encode()
        self.messages = set()

    def start(self):
        self.spawn(self.run)
        return self

    def run(self):
        req = request_bytes(self.body, self.auth)
        s = self.connect(timeout=120)
        try:
            while not self.stopping.is_set():
                # The server may answer and close before the body is all
                # sent (it refuses it once a JSON limit is crossed): the
                # send then fails, and the answer is still there to read.
                try:
                    s.sendall(req)
                    sent = True
                except OSError:
                    sent = False
                    self.count("answered_early")
                try:
                    status, body = read_response(s)
                except OSError:
                    status, body = None, b""
                if status is None or not sent:
                    s.close()
                    s = self.connect(timeout=120)
                    if status is None:
                        self.count("reconnects")
                        continue
                if status != 200:
                    raise RuntimeError("tiny-value body answered HTTP %r" % status)
                reply = json.loads(body)
                err = reply.get("error") or {}
                with self.lock:
                    self.messages.add("%s %s" % (err.get("code"), err.get("message")))
                self.count("bodies")
                if sent:
                    self.count("bytes_sent", len(req))
        finally:
            s.close()

    def stop(self):
        c = super().stop()
        c["messages"] = sorted(self.messages)
        return c


class BruteForce(Attack):
    name = "bruteforce"

    def __init__(self, host, port, clients=4, user="__cookie__"):
        super().__init__(host, port)
        self.clients = clients
        self.user = user

    def start(self):
        for k in range(self.clients):
            self.spawn(self.run, k)
        return self

    def run(self, k):
        body = '{"jsonrpc":"2.0","id":1,"method":"getinfo"}'
        n = 0
        while not self.stopping.is_set():
            n += 1
            auth = basic_auth(self.user, "guess-%d-%d" % (k, n))
            try:
                s = self.connect()
            except OSError:
                self.count("connect_failed")
                continue
            try:
                t0 = time.monotonic()
                s.sendall(request_bytes(body, auth, keep_alive=False))
                status, _ = read_response(s)
                self.count("answer_%s" % status)
                if status == 401:
                    with self.lock:
                        self.counters["min_401_s"] = min(self.counters.get("min_401_s", 1e9),
                                                         time.monotonic() - t0)
            except OSError:
                self.count("errors")
            finally:
                s.close()


class Honest:
    """getinfo calls, one per fresh connection, one at a time, with
    `pause` s between them.  Records latencies (s) and failures."""

    def __init__(self, host, port, auth, timeout=20.0, pause=0.02):
        self.host, self.port, self.auth = host, port, auth
        self.timeout = timeout
        self.pause = pause
        self.latencies = []
        self.failures = []
        self.stopping = threading.Event()
        self.thread = None

    def call(self):
        t0 = time.monotonic()
        try:
            s = socket.create_connection((self.host, self.port), timeout=self.timeout)
            try:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(request_bytes('{"jsonrpc":"2.0","id":7,"method":"getinfo"}', self.auth,
                                        keep_alive=False))
                status, body = read_response(s)
            finally:
                s.close()
            if status != 200:
                raise RuntimeError("HTTP %r %r" % (status, body[:200]))
            reply = json.loads(body)
            if "result" not in reply or "node_id" not in reply["result"]:
                raise RuntimeError("bad getinfo reply %r" % (reply,))
        except Exception as e:
            self.failures.append("%.2fs: %r" % (time.monotonic() - t0, e))
            return None
        dt = time.monotonic() - t0
        self.latencies.append(dt)
        return dt

    def run_calls(self, n, max_seconds=None):
        """n calls, or fewer if max_seconds pass first."""
        t0 = time.monotonic()
        for _ in range(n):
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                break
            self.call()
            time.sleep(self.pause)
        return self

    def start(self):
        def loop():
            while not self.stopping.is_set():
                self.call()
                self.stopping.wait(self.pause)
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(timeout=self.timeout + 5)
        return self


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def rss_bytes(pid):
    """Resident set size of a process (Linux /proc), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Samples a process's RSS every `every` s on a thread; max and last."""

    def __init__(self, pid, every=0.05):
        self.pid, self.every = pid, every
        self.max = 0
        self.last = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopping.is_set():
            r = rss_bytes(self.pid)
            if r:
                self.last = r
                self.max = max(self.max, r)
            self.stopping.wait(self.every)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        return self
