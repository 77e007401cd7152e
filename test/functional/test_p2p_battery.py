#!/usr/bin/env python3
"""The hostile-peer battery (issue 14): every peer attack is contained while
honest peers and an honest RPC client carry on beside it.

Nodes (real rumord processes on loopback, default limits):
  T   the target; it dials H1 (outbound) and H2 dials it (inbound); it
      holds a 4 MiB block (bench-ingest bigblock) for the getdata attacks.
  H1, H2  honest peers; H3 connects during the last attack.
T runs with --loopbacknetgroups when rumord has it (each 127.a.0.0/16 its
own network group).

The attacks (contrib/bench/peer_attacks.py, driven by peer_tool, which
speaks the real protocol; each from source addresses of its own): garbage
and oversize frames; inv floods at and over max_announced_per_peer and over
the per-message entry cap; unrequested tx and block payloads; txs and
blocks with bad signatures; a 4 MiB block naming 131066 unknown txs with a
bad signature, and 12 valid ones; getdata floods for the 4 MiB block; a
slow reader; a connection flood from 50 addresses; 80 handshake-and-idle
squatters; 64 squatters from 16 network groups while an honest peer (H3)
connects.

For each attack, while it runs: an honest RPC client calls getinfo on T on
fresh connections (every call must succeed), and a fresh tx submitted to
H1 or H2 must reach all of T, H1 and H2 (bounded wait).  Afterwards T still
lists H1 and H2 with the same conn_since_us and they still list T (no
honest peer lost), and the attack's own containment holds:
  garbage, oversize, inv-over-msg-cap   T closes the connection
  inv-at-cap, inv-over-cap   T tracks at most max_announced_per_peer (20000)
      of the ids at once (or disconnects the attacker), and forgets them
      when it is gone
  unrequested-tx/-block, badsig-tx/-block   T closes the connection, counts
      it (unrequested_received / invalid_received), and the item is stored
      at none of T, H1, H2
  badsig-bigblock   T checks the signature before asking for any of the
      131066 txs (no getdata for them) and closes the connection
  bigblocks   T holds at most 8 of the 12 blocks (32 MiB pool), asks the
      attacker for at most 20000 txs, and relays none of the blocks
  getdata-flood   the attacker is gone from T when it stops; T skipped the
      999 repeated entries of each getdata it took (getdata_duplicates)
  slow-reader   T closes the connection, or holds what it queued for it
      to the output limit (16 MiB + one block)
  conn-flood   T accepts a fresh honest peer after the flood
  squat   a fresh honest peer is accepted while the squatters are there
  squat-16-groups   H3 (a real rumord) gets in while the squatters are
      there and keeps its connection
An attack that is not contained is reported by name, and the others still
run; the test then fails listing them.  No timing is asserted: every wait is
bounded, and the figures are contrib/bench/hostile's.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (BUILDDIR, PEER_TOOL, SRCDIR, RPCError, TestBase, TestFailure, check,
                       check_equal, createblock, createtx, item_id, keygen, log, peer_tool,
                       require_p2p, rumor_tx_many, rumord_help_has, run_tool, scan_for_bugs,
                       wait_for_items, wait_until)

sys.path.insert(0, os.path.join(SRCDIR, "contrib", "bench"))
import peer_attacks  # noqa: E402
import rpc_attacks  # noqa: E402

NET = "testnet"
BENCH_INGEST = os.path.join(BUILDDIR, "contrib", "bench", "bench-ingest")
ATTACK_S = 6.0           # how long a flood runs
SQUAT_S = 14.0           # squatters stay this long (H3 connects meanwhile)
BIGBLOCKS_S = 14.0       # 12 blocks of 4 MiB, sent as T takes them (ASan is slow)
RELAY_WAIT_S = 40.0      # bound of the relay probe (ASan on a loaded machine)
TRACKED_MARGIN = 50      # ids the honest side may have tracked at once
# What T may queue for a peer that does not read: the session's hard limit
# (16 MiB, net/session.h) and one 4 MiB block past it.
OUTPUT_BOUND = (16 << 20) + (4 << 20) + (1 << 20)
ZERO_ID = "00" * 32


class Battery(TestBase):
    # ---- honest side ----

    def honest_snapshot(self):
        """conn_since_us of each honest link, seen from both ends."""
        snap = {}
        for a, b in ((self.t, self.h1), (self.t, self.h2), (self.h1, self.t), (self.h2, self.t)):
            peers = {p["node_id"]: p for p in a.peers()}
            bid = self.ids[b.name]
            if bid not in peers:
                raise TestFailure("%s does not list %s: an honest peer was lost (peers: %s)"
                                  % (a.name, b.name, sorted(peers)[:5]))
            snap[(a.name, b.name)] = peers[bid]["conn_since_us"]
        return snap

    def check_honest_kept(self, what):
        now = self.honest_snapshot()
        check_equal(now, self.links, "%s: T-H1 and T-H2 are the same connections, both ends" % what)

    def relay_probe(self, what):
        """A fresh tx at H1 or H2 (alternately) must reach T, H1 and H2."""
        tx = self.honest_txs.pop()
        src = self.h1 if len(self.honest_txs) % 2 else self.h2
        txid = src.rpc("sendrawtransaction", tx)
        wait_for_items([self.t, self.h1, self.h2], [txid], timeout=RELAY_WAIT_S,
                       what="the honest tx sent to %s during %s" % (src.name, what))

    def attacker_peer(self, name):
        """T's getpeerinfo entry of a single-connection attack, or None."""
        bind = peer_attacks.single_bind(name)
        for p in self.t.peers():
            if p["addr"].rsplit(":", 1)[0] == bind:
                return p
        return None

    # ---- one attack ----

    def battle(self, name, during=None, seconds=ATTACK_S, timeout=90):
        attack = peer_attacks.BY_NAME[name]
        log("attack %s: %s" % (name, attack.what))
        relay0 = self.t.rpc("getrelayinfo")
        honest = rpc_attacks.Honest(self.t.host, self.t.port, self.t.auth_header(), timeout=30,
                                    pause=0.05).start()
        pa = peer_attacks.PeerAttack(PEER_TOOL, attack, self.t_hostport, NET, self.ctx,
                                     seconds=seconds, timeout=20)
        self.log_cmd([PEER_TOOL] + pa.cmd[1:])
        pa.start()
        try:
            seen = during(pa) if during else None
            self.relay_probe(name)
            rc = pa.wait(timeout)
        finally:
            pa.stop()
            honest.stop()
        scan_for_bugs(pa.err, "peer_tool %s" % attack.mode)
        for line in pa.lines():
            log("    peer_tool: " + line)
        for line in pa.err.strip().splitlines()[-3:]:
            log("    peer_tool stderr: " + line)
        check(not honest.failures and honest.latencies,
              "%s: every honest RPC call answered (%d ok, failures %s)"
              % (name, len(honest.latencies), honest.failures[:3]))
        check(self.t.running(), "%s: T is still running" % name)
        self.check_honest_kept(name)
        relay1 = self.t.rpc("getrelayinfo")
        return pa, rc, seen, relay0, relay1

    def check_closed(self, pa, rc, name, reason_words=()):
        check(rc == 0 and pa.closed_by_node(),
              "%s: T closed the attacker's connection (exit %s, %r)" % (name, rc, pa.outcome()))
        for w in reason_words:
            check(w in (pa.outcome() or ""), "%s: the reason says %r (%r)" % (name, w, pa.outcome()))

    def check_not_stored(self, item_hex, what):
        iid = item_id(item_hex)
        for n in (self.t, self.h1, self.h2):
            try:
                n.rpc("getiteminfo", iid)
            except RPCError as e:
                if e.code == -5:
                    continue
                raise
            raise TestFailure("%s: %s stored %s" % (what, n.name, iid[:16]))
        log("  ok: %s is stored nowhere (T, H1, H2)" % what)

    def watch_caps(self, name):
        """During an inv flood: the most ids T tracked (announced ids not
        yet received: the per-peer cap applies to them), sampled until the
        attacker leaves; and what T saw it announce."""
        most = {"tracked": 0, "announced": 0, "samples": 0}

        def sample(pa):
            wait_until(lambda: self.attacker_peer(name) or not pa.running(),
                       "%s: the attacker to be listed by T" % name)
            while pa.running():
                p = self.attacker_peer(name)
                if p is None:
                    break
                most["tracked"] = max(most["tracked"], self.t.rpc("getrelayinfo")["ids_tracked"])
                most["announced"] = max(most["announced"], p["announced_to_us"])
                most["samples"] += 1
                time.sleep(0.1)
            return most
        return sample

    # ---- the run ----

    def run(self):
        require_p2p()
        for path in (PEER_TOOL, BENCH_INGEST):
            if not os.access(path, os.X_OK):
                raise TestFailure("%s not built (make check builds it)" % path)
        netgroups = rumord_help_has("--loopbacknetgroups")
        extra = self.extra = ["--loopbacknetgroups"] if netgroups else []
        if not netgroups:
            log("note: rumord has no --loopbacknetgroups: all of 127/8 is one network group")

        key = os.path.join(self.tmpdir, "k.key")
        keygen(key)
        good_tx = createtx(key, NET, payload="aa" * 40, nonce=1)
        good_block = createblock(key, NET, 0, ZERO_ID)
        self.ctx = {"tx": good_tx, "block": good_block,
                    "bad_tx": peer_attacks.flip_last_byte(createtx(key, NET, payload="bb" * 40,
                                                                   nonce=2)),
                    "bad_block": peer_attacks.flip_last_byte(createblock(key, NET, 0, ZERO_ID)),
                    "seconds": ATTACK_S}
        self.honest_txs = rumor_tx_many(
            [["createtx", "--key=" + key, "--network=" + NET, "--payload=%04x" % i,
              "--nonce=%d" % (100 + i)] for i in range(len(peer_attacks.ATTACKS) + 2)])

        self.h1 = self.node("H1", network=NET).start(extra)
        self.t = self.node("T", network=NET).start(extra)
        big = run_tool(BENCH_INGEST, ["bigblock", "--network=" + NET], timeout=60).stdout.strip()
        self.ctx["block_id"] = self.t.rpc("submitblock", big)
        del big
        log("T holds the 4 MiB block %s" % self.ctx["block_id"][:16])
        self.t.rpc("addnode", self.h1.p2p_target(), "add")
        self.h2 = self.node("H2", network=NET).start(extra + ["--connect=" + self.t.p2p_target()])
        self.ids = {n.name: n.node_id() for n in (self.t, self.h1, self.h2)}
        self.t.wait_peer_ids([self.ids["H1"], self.ids["H2"]])
        wait_until(lambda: len(self.h1.peers()) == 1 and len(self.h2.peers()) == 1,
                   "H1 and H2 to list T")
        host, port = self.t.p2p_address()
        self.t_hostport = "%s:%d" % (host, port)
        self.links = self.honest_snapshot()
        self.relay_probe("the quiet start")

        failed = []
        for name, fn in (("garbage", self.frames), ("oversize", self.frames),
                         ("inv-at-cap", self.inv_flood), ("inv-over-cap", self.inv_flood),
                         ("inv-over-msg-cap", self.inv_over_msg_cap),
                         ("unrequested-tx", self.payload), ("unrequested-block", self.payload),
                         ("badsig-tx", self.payload), ("badsig-block", self.payload),
                         ("badsig-bigblock", self.badsig_bigblock), ("bigblocks", self.bigblocks),
                         ("getdata-flood", self.getdata_flood), ("slow-reader", self.slow_reader),
                         ("conn-flood", self.conn_flood), ("squat", self.squat),
                         ("squat-16-groups", self.squat_16_groups)):
            try:
                fn(name)
            except TestFailure as e:
                # Each attack is judged on its own: one not contained must
                # not hide how the others fare.  The honest links must hold.
                log("FAILED %s: %s" % (name, e))
                failed.append("%s (%s)" % (name, e))
                check(self.t.running(), "T is still running after %s" % name)
                self.check_honest_kept("after %s" % name)

        log("nothing invalid or unrequested reached the honest peers")
        for n in (self.h1, self.h2):
            r = n.rpc("getrelayinfo")
            check_equal((r["invalid_received"], r["unrequested_received"]), (0, 0),
                        "%s: invalid and unrequested items received" % n.name)
        self.check_honest_kept("the end")
        for n in (self.h2, self.t, self.h1):
            n.stop()
        if failed:
            raise TestFailure("%d of %d attacks not contained: %s"
                              % (len(failed), len(peer_attacks.ATTACKS), "; ".join(failed)))


    # ---- the attacks ----

    def frames(self, name):
        pa, rc, _, _, _ = self.battle(name)
        self.check_closed(pa, rc, name)

    def inv_flood(self, name):
        pa, rc, most, _, _ = self.battle(name, during=self.watch_caps(name))
        cap = peer_attacks.MAX_ANNOUNCED_PER_PEER
        want = cap if name == "inv-at-cap" else 5 * cap
        check_equal(pa.number(r"^sent (\d+) unique ids"), want, "%s: ids sent" % name)
        check(most["samples"] > 0 or pa.closed_by_node(),
              "%s: T was watched while the attacker was listed (%d samples, %d ids announced), "
              "or it was disconnected (%r)" % (name, most["samples"], most["announced"],
                                               pa.outcome()))
        check(most["tracked"] <= cap + TRACKED_MARGIN,
              "%s: T tracked at most the cap (+%d honest) ids at once (%d)"
              % (name, TRACKED_MARGIN, most["tracked"]))
        wait_until(lambda: self.t.rpc("getrelayinfo")["ids_tracked"] <= TRACKED_MARGIN,
                   "%s: T to forget the attacker's ids once it is gone" % name)

    def inv_over_msg_cap(self, name):
        pa, rc, _, _, _ = self.battle(name)
        self.check_closed(pa, rc, name)
        self.t.wait_log(r"peer disconnected: %s \S+: .*too many entries" % pa.local_id(),
                        "T: the 50001-entry inv named as the reason")

    def payload(self, name):
        item, counter = {"unrequested-tx": (self.ctx["tx"], "unrequested_received"),
                         "unrequested-block": (self.ctx["block"], "unrequested_received"),
                         "badsig-tx": (self.ctx["bad_tx"], "invalid_received"),
                         "badsig-block": (self.ctx["bad_block"], "invalid_received")}[name]
        pa, rc, _, r0, r1 = self.battle(name)
        self.check_closed(pa, rc, name, ["closed by node: sent"])
        check_equal(r1[counter] - r0[counter], 1, "%s: T counted it in %s" % (name, counter))
        self.check_not_stored(item, name)

    def badsig_bigblock(self, name):
        pa, rc, _, _, _ = self.battle(name)
        check_equal(pa.number(r"^sent (\d+) of 1 block"), 1, "%s: the block was sent" % name)
        check_equal(pa.number(r"^getdata asked for (\d+) of their transactions"), 0,
                    "%s: T checked the signature before asking for any of its txs" % name)
        self.check_closed(pa, rc, name, ["signature"])

    def bigblocks(self, name):
        def watch_pool(pa):
            most = {"pending": 0}
            while pa.running():
                most["pending"] = max(most["pending"], self.t.rpc("getrelayinfo")["pending_blocks"])
                time.sleep(0.1)
            return most
        pa, rc, most, _, r1 = self.battle(name, during=watch_pool, seconds=BIGBLOCKS_S)
        sent = pa.number(r"^sent (\d+) of \d+ block")
        check(sent is not None and sent > peer_attacks.POOL_BLOCKS_4MIB,
              "%s: more blocks sent (%s) than the pool holds" % (name, sent))
        pending = max(most["pending"], r1["pending_blocks"])
        check(pending <= peer_attacks.POOL_BLOCKS_4MIB,
              "%s: T held at most %d of them (32 MiB) in its pool (%d)"
              % (name, peer_attacks.POOL_BLOCKS_4MIB, pending))
        asked = pa.number(r"^getdata asked for (\d+) of their transactions")
        check(asked is not None and asked <= peer_attacks.MAX_ANNOUNCED_PER_PEER,
              "%s: T asked the attacker for at most %d of the missing txs (%s)"
              % (name, peer_attacks.MAX_ANNOUNCED_PER_PEER, asked))
        for n in (self.h1, self.h2):
            check_equal(n.rpc("getinfo")["items"]["block"], 0,
                        "%s: %s got none of the incomplete blocks" % (name, n.name))

    def getdata_flood(self, name):
        pa, rc, _, _, _ = self.battle(name)
        check(rc == 0 and pa.outcome() is not None,
              "%s: the attack ran (%r, %s bytes received)"
              % (name, pa.outcome(), pa.number(r"^received (\d+) bytes")))
        wait_until(lambda: self.attacker_peer(name) is None, "%s: the attacker gone from T" % name)
        # Each getdata names the block 1000 times: T serves it once per
        # getdata and skips the 999 copies (at least one getdata was taken).
        dups = self.t.rpc("getrelayinfo")["getdata_duplicates"]
        check(dups >= 999 and dups % 999 == 0,
              "%s: T skipped the repeated entries of each getdata (%d)" % (name, dups))

    def slow_reader(self, name):
        def watch_queue(pa):
            # Only while it does not read: ATTACK_S from its handshake (it
            # then reads for 3 s to see whether T closed the connection).
            most = {"sent": 0, "samples": 0}
            wait_until(lambda: self.attacker_peer(name) or not pa.running(),
                       "%s: the attacker to be listed by T" % name)
            until = time.monotonic() + ATTACK_S - 0.5
            while pa.running() and time.monotonic() < until:
                p = self.attacker_peer(name)
                if p is None:
                    break
                most["sent"] = max(most["sent"], p["bytes_sent"])
                most["samples"] += 1
                time.sleep(0.1)
            return most
        pa, rc, most, _, _ = self.battle(name, during=watch_queue)
        closed = rc == 0 and (pa.outcome() or "").startswith("closed by node")
        check(closed or (most["samples"] > 0 and most["sent"] <= OUTPUT_BOUND),
              "%s: T dropped the peer that does not read (%r), or held what it queued for it "
              "to %d MiB (%.1f MiB)" % (name, pa.outcome(), OUTPUT_BOUND >> 20,
                                         most["sent"] / 1048576.0))
        if closed:
            self.t.wait_log(r"peer disconnected: %s \S+: " % pa.local_id(),
                            "T: peer disconnected: SLOW READER")

    def conn_flood(self, name):
        pa, rc, _, _, _ = self.battle(name)
        opened = pa.number(r"^opened (\d+)")
        check(rc == 0 and opened is not None and opened >= 200,
              "%s: at least 200 connections opened (%s)" % (name, opened))
        wait_until(lambda: peer_tool(self.t_hostport, "handshake", NET).returncode == 0,
                   "%s: T to accept a fresh honest peer after the flood" % name)
        log("  ok: a fresh peer is accepted after the flood")

    def wait_squatters(self, pa):
        """Until T's peer count has not changed for 1.5 s (the squatters are
        in, or as many as T lets in), at most half the attack."""
        start = last_change = time.monotonic()
        last = -1
        while pa.running() and time.monotonic() - start < SQUAT_S / 2:
            n = len(self.t.peers())
            if n != last:
                last, last_change = n, time.monotonic()
            elif time.monotonic() - last_change >= 1.5 and n > 2:
                break
            time.sleep(0.1)
        log("  T lists %d peers with the squatters there" % last)

    def squat(self, name):
        def newcomer(pa):
            self.wait_squatters(pa)
            return peer_tool(self.t_hostport, "handshake", NET), pa.running()
        pa, rc, (cp, during_attack), _, _ = self.battle(name, during=newcomer, seconds=SQUAT_S)
        check(during_attack, "%s: the newcomer tried while the squatters were there" % name)
        check_equal(cp.returncode, 0,
                    "%s: a new honest peer is accepted while the squatters hold the slots "
                    "(peer_tool handshake: %s)" % (name, cp.stderr.strip()[-200:]))

    def squat_16_groups(self, name):
        def honest_h3(pa):
            self.wait_squatters(pa)
            h3 = self.node("H3", network=NET).start(self.extra
                                                    + ["--connect=" + self.t.p2p_target()])
            h3_id = h3.node_id()
            try:
                got = wait_until(lambda: (lambda p: p if h3_id in p else None)(
                    {x["node_id"]: x for x in self.t.peers()}),
                    "%s: T to accept H3 while the squatters hold the slots" % name, timeout=30)
            except TestFailure:
                h3.stop()
                raise
            return h3, h3_id, got[h3_id]["conn_since_us"], pa.running()
        pa, rc, seen, _, _ = self.battle(name, during=honest_h3, seconds=SQUAT_S)
        h3, h3_id, h3_since, during_attack = seen
        try:
            check(during_attack, "%s: H3 got in while the squatters were still there" % name)
            h3_now = {x["node_id"]: x for x in self.t.peers()}.get(h3_id)
            check(h3_now is not None and h3_now["conn_since_us"] == h3_since,
                  "%s: H3 kept its connection through the rest of the attack" % name)
        finally:
            h3.stop()

if __name__ == "__main__":
    Battery().main()
