"""contrib/bench/peer_attacks.py: hostile peers of a rumord, driven by
peer_tool (test/functional/peer_tool, a crafted peer that speaks the real
protocol through the node's own session code; its attack modes are in
test/functional/peer_attack.c).  Shared by contrib/bench/hostile (which
prints figures) and test/functional/test_p2p_battery.py (which asserts that
each attack is contained).  Python 3 standard library only; loopback only.

ATTACKS lists the battery in order, each an Attack spec: the peer_tool mode
and arguments, and what the attack needs made first (a 4 MiB block the
target holds, a signed item).  PeerAttack runs one of them as a subprocess
(start(), wait() or stop(), by pid) and parses what peer_tool printed.

Each attack runs from its own source addresses (127.150+k.0.1 for the
single-connection attacks, 127.SOURCE.x.y for the connection floods), so
that limits per address or per network group applied to one attack never
touch another attack or the honest peers (127.0.0.1).
"""

import os
import re
import signal
import subprocess
import time

# The target's defaults these attacks are sized against (doc/design.md,
# "Limits"): net/relay.c max_announced_per_peer, net/message.h
# RUMOR_MSG_INV_MAX, crypto/item.h RUMOR_BLOCK_TX_MAX, net/blockpool.c
# pool_bytes, src/peers.c --maxinbound.
MAX_ANNOUNCED_PER_PEER = 20000
INV_MAX = 50000
BLOCK_TX_MAX = 131066
POOL_BLOCKS_4MIB = 8          # 32 MiB of 4 MiB blocks
MAX_INBOUND = 64
SERVE_WAITING_MAX = 4000      # getdata entries waiting per peer (net/core.c)
BLOCK_BYTES = 4 << 20


class Attack:
    """One attack of the battery.  args(ctx) gives peer_tool's arguments
    (ctx: dict with "block_id", "tx", "block", "bad_tx", "bad_block", and
    for Repeating "tx_signed", the valid tx bad_tx was made from); multi: it
    opens many connections."""

    def __init__(self, name, mode, args, what, seconds=True, multi=False):
        self.name, self.mode, self.args, self.what = name, mode, args, what
        self.takes_seconds = seconds
        self.multi = multi


def flip_last_byte(item_hex, variant=0):
    """The same item with its last signature byte flipped: well formed,
    its signature no longer verifies (and its id is that of the new bytes).
    variant k > 0 flips one more signature byte, so that each variant is
    an item of its own (a node never fetches a rejected id again)."""
    raw = bytearray(bytes.fromhex(item_hex))
    raw[-1] ^= 0x01
    if variant:
        raw[-2 - (variant - 1) % 62] ^= 0x80
    return raw.hex()


ATTACKS = [
    Attack("garbage", "random", lambda c: [], "4 KiB of random bytes instead of a handshake",
           seconds=False),
    Attack("oversize", "oversized", lambda c: [],
           "continuation frames past the 4 MiB + 1 KiB message limit", seconds=False),
    Attack("inv-at-cap", "invflood",
           lambda c: ["--count=%d" % MAX_ANNOUNCED_PER_PEER, "--per-msg=1000"],
           "20000 unique tx ids (max_announced_per_peer) in invs of 1000, getdata unanswered"),
    Attack("inv-over-cap", "invflood",
           lambda c: ["--count=%d" % (5 * MAX_ANNOUNCED_PER_PEER), "--per-msg=%d" % INV_MAX],
           "100000 unique tx ids in invs of 50000 (the per-message cap), five times "
           "max_announced_per_peer"),
    Attack("inv-over-msg-cap", "invbig", lambda c: ["--per-msg=%d" % (INV_MAX + 1)],
           "one inv of 50001 entries (over the per-message cap)", seconds=False),
    Attack("unrequested-tx", "payload", lambda c: ["--item=" + c["tx"], "--unrequested"],
           "a valid tx nobody asked for"),
    Attack("unrequested-block", "payload", lambda c: ["--item=" + c["block"], "--unrequested"],
           "a valid block nobody asked for"),
    Attack("badsig-tx", "payload", lambda c: ["--item=" + c["bad_tx"]],
           "a tx with a bad signature, announced and sent on request"),
    Attack("badsig-block", "payload", lambda c: ["--item=" + c["bad_block"]],
           "a block with a bad signature, announced and sent on request"),
    Attack("badsig-bigblock", "bigblock", lambda c: ["--txs=%d" % BLOCK_TX_MAX, "--badsig"],
           "a 4 MiB block naming 131066 unknown txs with a bad signature"),
    Attack("bigblocks", "bigblock",
           lambda c: ["--txs=%d" % BLOCK_TX_MAX, "--count=%d" % (POOL_BLOCKS_4MIB + 4)],
           "12 validly signed 4 MiB blocks naming 131066 unknown txs each (the pool holds 8)"),
    Attack("getdata-flood", "getdataflood",
           lambda c: ["--getdata=" + c["block_id"], "--count=10", "--per-msg=1000"],
           "10 getdata of 1000 entries naming a 4 MiB block, everything read"),
    Attack("slow-reader", "slowreader",
           lambda c: ["--getdata=" + c["block_id"], "--count=10", "--per-msg=1000"],
           "the same getdata, then never reading"),
    Attack("conn-flood", "connflood",
           lambda c: ["--conns=200", "--addrs=50", "--netgroups=10", "--source=20"],
           "200 connections from 50 addresses in 10 /16s, half a handshake each, reopened",
           multi=True),
    Attack("squat", "squat",
           lambda c: ["--conns=%d" % (MAX_INBOUND + 16), "--addrs=%d" % (MAX_INBOUND + 16),
                      "--netgroups=1", "--source=40"],
           "80 handshake-and-idle peers from 80 addresses in one /16", multi=True),
    Attack("squat-16-groups", "squat",
           lambda c: ["--conns=%d" % MAX_INBOUND, "--netgroups=16", "--source=60"],
           "64 handshake-and-idle peers from 16 /16s (4 each) while an honest peer connects",
           multi=True),
]
BY_NAME = {a.name: a for a in ATTACKS}


def single_bind(name):
    """The source address of a single-connection attack."""
    return "127.%d.0.1" % (150 + [a.name for a in ATTACKS].index(name))


class PeerAttack:
    """peer_tool running one attack against HOST:PORT."""

    def __init__(self, peer_tool, attack, hostport, network, ctx, seconds=6.0, timeout=20.0):
        self.attack = attack
        args = [peer_tool, "--connect=" + hostport, "--network=" + network,
                "--timeout=%g" % timeout]
        if attack.takes_seconds:
            args.append("--seconds=%g" % seconds)
        if not attack.multi:
            args.append("--bind=" + single_bind(attack.name))
        args += attack.args(ctx)
        args.append(attack.mode)
        self.cmd = args
        self.proc = None
        self.out = ""
        self.err = ""
        self.rc = None

    def describe(self):
        return " ".join(a if len(a) < 100 else a[:40] + "...(%d chars)" % len(a)
                        for a in self.cmd[1:])

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        return self

    def wait(self, timeout):
        """Waits for peer_tool to finish (killing it by pid after timeout);
        returns its exit status."""
        try:
            self.out, self.err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError("peer_tool %s did not finish within %.0f s"
                               % (self.attack.mode, timeout))
        self.rc = self.proc.returncode
        return self.rc

    def stop(self):
        if self.proc and self.proc.poll() is not None and self.rc is None:
            self.out, self.err = self.proc.communicate()  # ended on its own
            self.rc = self.proc.returncode
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.out, self.err = self.proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.out, self.err = self.proc.communicate()
            self.rc = self.proc.returncode

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- what peer_tool printed ----

    def lines(self):
        return [l for l in self.out.splitlines() if l.strip()]

    def local_id(self):
        m = re.search(r"^local_id ([0-9a-f]{64})$", self.out, re.M)
        return m.group(1) if m else None

    def outcome(self):
        """'held', 'closed by node: REASON', 'closed: REASON' or 'closed'
        (the last line of a single-connection mode)."""
        for line in reversed(self.lines()):
            if line == "held" or line.startswith("closed"):
                return line
        return None

    def closed_by_node(self):
        o = self.outcome() or ""
        # the older modes print "closed" / "closed: REASON" for the node's close
        return o.startswith("closed by node") or (self.attack.mode in ("random", "oversized",
                                                                      "invbig")
                                                  and o.startswith("closed"))

    def number(self, pattern):
        m = re.search(pattern, self.out, re.M)
        return int(m.group(1)) if m else None


def wait_for(pred, timeout, every=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(every)


class Repeating:
    """contrib/bench/hostile's runner: keeps one attack going for a whole
    phase.  A flood runs for `seconds`; an attack that is over at once (a
    payload, garbage, one oversized message) is started again as soon as
    peer_tool exits, so the node meets it throughout.  start()/stop() like
    rpc_attacks.Attack; stop() kills peer_tool by pid and returns counters."""

    def __init__(self, peer_tool, attack, hostport, network, ctx, seconds):
        import threading
        self.peer_tool, self.attack = peer_tool, attack
        self.hostport, self.network, self.ctx = hostport, network, ctx
        self.seconds = seconds
        self.name = attack.name
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.current = None
        self.counters = {"runs": 0, "closed_by_node": 0}
        self.errors = []
        self.last = None

    def run(self):
        try:
            while not self.stopping.is_set():
                ctx = dict(self.ctx)
                if self.counters["runs"]:  # a fresh invalid item each time
                    ctx["bad_tx"] = flip_last_byte(self.ctx["tx_signed"], self.counters["runs"])
                    ctx["bad_block"] = flip_last_byte(self.ctx["block"], self.counters["runs"])
                pa = PeerAttack(self.peer_tool, self.attack, self.hostport, self.network, ctx,
                                seconds=self.seconds, timeout=10.0)
                self.current = pa.start()
                while pa.running() and not self.stopping.is_set():
                    self.stopping.wait(0.05)
                pa.stop()
                if pa.rc not in (0, 2, None, -signal.SIGTERM) and not self.stopping.is_set():
                    self.errors.append("%s: peer_tool exit %s: %s" % (self.name, pa.rc,
                                                                      pa.err.strip()[-200:]))
                    self.stopping.wait(0.5)
                self.counters["runs"] += 1
                self.counters["closed_by_node"] += int(pa.closed_by_node())
                if pa.rc not in (-signal.SIGTERM, -signal.SIGKILL) or self.last is None:
                    self.last = pa  # the last run that ended on its own
        except Exception as e:  # reported by stop()
            self.errors.append("%s: %r" % (self.name, e))

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)
        if self.last is not None:
            self.counters["last"] = self.last.outcome()
            for key, pattern in (("ids_sent", r"^sent (\d+) unique ids"),
                                 ("getdata_ids", r"^getdata asked for (\d+)"),
                                 ("opened", r"^opened (\d+)"),
                                 ("ready", r"^opened \d+, ready (\d+)"),
                                 ("bytes_in", r"^received (\d+) bytes")):
                v = self.last.number(pattern)
                if v is not None:
                    self.counters[key] = v
        return dict(self.counters)
