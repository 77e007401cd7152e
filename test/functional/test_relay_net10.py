#!/usr/bin/env python3
"""Relay over a 10-node network (issue 4), wired from
test/functional/data/topology-10-3.json (a copy of
../shared/bench/topology-10-3.json; edge [a, b]: node a dials node b with the
addnode RPC).

Checks:
  - every node gets exactly its degree in peers;
  - txs submitted at one node reach every node;
  - txs submitted at four nodes at once reach every node;
  - a block referencing txs, submitted at another node, reaches every node;
  - no duplicate payloads and nothing invalid counted anywhere;
  - one node (chosen so that the graph stays connected without it) is
    killed with SIGKILL in the middle of a flood of 50 txs submitted at two
    other nodes: the nine survivors still converge on all 50.

Nodes log at info level (ten ASan processes on two cores); item counts are
small.  Skipped (77) only while rumord has no relay (no --addnode)."""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (SRCDIR, SkipTest, TestBase, TestFailure, check, check_equal, createblock,
                       item_id, keygen, log, relay_node_args, rumor_tx_many,
                       rumord_help_has, wait_for_items, wait_for_peers, wait_until)

NET = "testnet"
TOPOLOGY = os.path.join(SRCDIR, "test", "functional", "data", "topology-10-3.json")
FLOOD = 50


def load_topology(path):
    with open(path) as f:
        topo = json.load(f)
    n, edges = topo["n"], [tuple(e) for e in topo["edges"]]
    for a, b in edges:
        if not (0 <= a < n and 0 <= b < n and a != b):
            raise TestFailure("bad edge %r in %s" % ((a, b), path))
    if len({frozenset(e) for e in edges}) != len(edges):
        raise TestFailure("%s lists a pair twice" % path)
    return n, edges


def connected(n, edges, without=None):
    """Is the graph (minus vertex `without`) connected?"""
    adj = {v: set() for v in range(n) if v != without}
    for a, b in edges:
        if without not in (a, b):
            adj[a].add(b)
            adj[b].add(a)
    start = next(iter(adj))
    seen, todo = {start}, [start]
    while todo:
        for w in adj[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return len(seen) == len(adj)


def make_txs(key, first_nonce, count):
    return rumor_tx_many([["createtx", "--key=" + key, "--network=" + NET,
                           "--payload=%08x" % (first_nonce + i), "--nonce=%d" % (first_nonce + i)]
                          for i in range(count)])


class Submitter(threading.Thread):
    """Submits txs at one node; sets `halfway` after `mark` of them."""

    def __init__(self, node, txs, mark=None):
        super().__init__(daemon=True)
        self.node, self.txs, self.mark = node, txs, mark
        self.halfway = threading.Event()
        self.error = None

    def run(self):
        try:
            for i, tx in enumerate(self.txs):
                if i == self.mark:
                    self.halfway.set()
                got = self.node.rpc("sendrawtransaction", tx)
                if got != item_id(tx):
                    raise TestFailure("%s: sendrawtransaction returned %r" % (self.node.name, got))
        except Exception as e:  # checked by the main thread
            self.error = e
        finally:
            self.halfway.set()


def run_submitters(subs):
    for s in subs:
        s.start()
    return subs


def join_submitters(subs):
    for s in subs:
        s.join(120)
        if s.is_alive():
            raise TestFailure("submission at %s did not finish" % s.node.name)
        if s.error:
            raise TestFailure("submission at %s failed: %r" % (s.node.name, s.error))


def check_relay_counters(nodes):
    for n in nodes:
        ri = n.rpc("getrelayinfo")
        dup, timeouts = ri["duplicates_received"], ri["request_timeouts"]
        if timeouts == 0:
            check_equal(dup, 0, "%s: duplicates_received" % n.name)
        else:  # a timed-out request is asked again elsewhere: both may answer
            check(dup <= timeouts, "%s: duplicates_received %d <= request_timeouts %d"
                  % (n.name, dup, timeouts))
        check_equal(ri["invalid_received"], 0, "%s: invalid_received" % n.name)


class RelayNet10(TestBase):
    def run(self):
        if not rumord_help_has("--addnode"):
            raise SkipTest("rumord has no relay yet (no --addnode in rumord --help)")
        n, edges = load_topology(TOPOLOGY)
        check_equal(n, 10, "topology size")
        check(connected(n, edges), "the topology is connected")
        degree = [sum(v in e for e in edges) for v in range(n)]

        key = os.path.join(self.tmpdir, "k.key")
        keygen(key)
        log("pre-signing transactions")
        txs = make_txs(key, 0, 10 + 4 * 5 + 3 + FLOOD)
        one_node, several, in_block, flood = txs[:10], txs[10:30], txs[30:33], txs[33:]

        log("starting %d nodes" % n)
        nodes = []
        for v in range(n):
            node = self.node("n%d" % v, network=NET)
            node.start(relay_node_args(node), base=False)
            nodes.append(node)
        targets = [node.p2p_target() for node in nodes]
        log("wiring %d edges with addnode" % len(edges))
        for a, b in edges:
            check_equal(nodes[a].rpc("addnode", targets[b], "add"), None,
                        "n%d addnode n%d" % (a, b))
        for v, node in enumerate(nodes):
            peers = wait_for_peers(node, degree[v])
            outbound = sorted(p["node_id"] for p in peers if not p["inbound"])
            want = sorted(targets[b].split("@")[0] for a, b in edges if a == v)
            check_equal(outbound, want, "n%d's outbound peers are the ones it dialed" % v)

        log("10 txs at n0")
        for tx in one_node:
            nodes[0].rpc("sendrawtransaction", tx)
        wait_for_items(nodes, [item_id(t) for t in one_node], what="txs from n0")

        log("5 txs each at n1, n4, n6 and n9 at once")
        join_submitters(run_submitters([Submitter(nodes[v], several[5 * i:5 * i + 5])
                                        for i, v in enumerate((1, 4, 6, 9))]))
        wait_for_items(nodes, [item_id(t) for t in several], what="txs from four nodes")

        log("3 txs and a genesis block listing them at n7")
        blk = createblock(key, NET, 0, "00" * 32, in_block)
        for tx in in_block:
            nodes[7].rpc("sendrawtransaction", tx)
        bid = nodes[7].rpc("submitblock", blk)
        wait_for_items(nodes, [item_id(t) for t in in_block] + [bid], what="the block and its txs")
        sofar = len(one_node) + len(several) + len(in_block)
        for node in nodes:
            check_equal(node.rpc("getinfo")["items"], {"tx": sofar, "block": 1},
                        "%s: getinfo counts" % node.name)
        check_relay_counters(nodes)

        # The victim: not a submitter, the graph stays connected without it;
        # among those, the best-connected one (it relays the most).
        submit_at = (0, 5)
        candidates = [v for v in range(n) if v not in submit_at and connected(n, edges, v)]
        check(candidates, "some node can go without disconnecting the graph")
        victim = max(candidates, key=lambda v: (degree[v], -v))
        log("flood of %d txs at n0 and n5; SIGKILL n%d (degree %d) midway"
            % (FLOOD, victim, degree[victim]))
        half = FLOOD // 2
        subs = run_submitters([Submitter(nodes[0], flood[:half], mark=half // 3),
                               Submitter(nodes[5], flood[half:], mark=half // 3)])
        for s in subs:
            s.halfway.wait(60)
        nodes[victim].kill9()
        log("  n%d killed" % victim)
        join_submitters(subs)
        survivors = [node for v, node in enumerate(nodes) if v != victim]
        wait_for_items(survivors, [item_id(t) for t in flood], what="flood txs at the survivors")
        for node in survivors:
            check_equal(node.rpc("getinfo")["items"], {"tx": sofar + FLOOD, "block": 1},
                        "%s: getinfo counts after the flood" % node.name)
        check_relay_counters(survivors)
        gone = targets[victim].split("@")[0]
        for node in survivors:
            wait_until(lambda: gone not in [p["node_id"] for p in node.rpc("getpeerinfo")],
                       "%s to drop the killed node from getpeerinfo" % node.name)
        log("  ok: no survivor lists the killed node as a peer")

        for node in survivors:
            node.stop()


if __name__ == "__main__":
    RelayNet10().main()
