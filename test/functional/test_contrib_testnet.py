#!/usr/bin/env python3
"""contrib/testnet on loopback (--loopback; what it does without root), run
the way an operator runs it.

0. Bad options and scenario files are refused with a message naming the
   problem, before anything is made.
1. `start --hold`: ten nodes on 127.G.0.H addresses, a block producer,
   transactions at random nodes and a partition in the middle; checked as
   listed in testnet_check.py (chain and transactions everywhere, the report
   equal to what the nodes say over RPC, valid PNG plots).
2. Commands on the running testnet: `status`, `kill 3` (node 3 is down, the
   others serve), `restart 3` (back with every item it had and its peers),
   `cli 3 getinfo`, and clear errors for a node that does not exist, a
   partition of every node and a heal with no partition.
3. `stop` leaves no process and keeps the data, logs and report;
   `stop --clean` removes the folder.
4. `run --scenario=FILE` in the foreground: six nodes, a block a second;
   node 2 killed at 3 s and restarted at 6 s, a node added at 8 s.  The
   faults happen in order, no earlier than planned; every block and every
   transaction a block lists reach all seven nodes in the end (the restarted
   and the new node fetch the blocks they missed as orphans, with their
   transactions); every transaction not submitted at the moment of the kill
   is in a block; the run ends by itself with a report and nothing running.
Bounded in time; every process of the testnet is killed by pid at the end
even when the test fails.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import TestBase, check, check_equal, log  # noqa: E402
import testnet_check  # noqa: E402
from testnet_check import testnet  # noqa: E402

UP = re.compile(r"^  node +\d+ .* pid \d+ +peers", re.M)


class TestnetLoopback(TestBase):
    def run(self):
        self.bad_options()
        tdir = os.path.join(self.tmpdir, "tn")
        try:
            log("contrib/testnet start --loopback: 10 nodes, producer, partition")
            cfg, rep = testnet_check.run_partition_scenario(tdir, ["--loopback"])
            check(cfg["mode"] == "loopback", "the nodes run on loopback")
            self.commands(tdir, cfg)
            testnet_check.stop_and_check(tdir, cfg)
            testnet(tdir, "stop", "--clean")
            check(not os.path.exists(tdir), "stop --clean removed the folder")
        finally:
            left = testnet_check.sweep(tdir)
            if left:
                log("  (removed at cleanup: %s)" % left)
        tdir = os.path.join(self.tmpdir, "tn2")
        try:
            self.scenario(tdir)
        finally:
            left = testnet_check.sweep(tdir)
            if left:
                log("  (removed at cleanup: %s)" % left)

    def scenario(self, tdir):
        log("contrib/testnet run --scenario: kill, restart and add on a timeline")
        path = os.path.join(self.tmpdir, "scenario.json")
        with open(path, "w") as f:
            json.dump({"duration": "14s", "blocks": "1s", "txrate": 5,
                       "events": [{"at": 3, "kill": 2}, {"at": "6s", "restart": 2},
                                  {"at": 8, "add": 1}]}, f)
        cp = testnet(tdir, "run", "--loopback", "--nodes=6", "--degree=2", "--seed=11",
                     "--settle=3s", "--scenario=" + path,
                     "--builddir=" + testnet_check.BUILDDIR, timeout=180)
        for text in ("killed node 2", "restarted node 2", "added node 6", "Stopped every node"):
            check(text in cp.stdout, "run says: %s" % text)
        cfg = json.load(open(os.path.join(tdir, "testnet.json")))
        check(not testnet_check.leftovers(cfg), "nothing runs after the run")
        rep = json.load(open(os.path.join(tdir, "report.json")))
        events = [e for e in rep["events"] if e["kind"] in ("kill", "restart", "add")]
        check_equal([(e["kind"], e["node"]) for e in events],
                    [("kill", 2), ("restart", 2), ("add", 6)], "the faults, in order")
        check(all(e["t_s"] >= at - 0.05 for e, at in zip(events, (3, 6, 8))),
              "no fault earlier than planned (%s)" % [e["t_s"] for e in events])
        check(events[1].get("connected_us") and events[2].get("connected_us"),
              "the restarted and the added node connected to their peers")
        check_equal(rep["summary"]["nodes_up_at_report"], 7, "nodes up at the end")
        items = testnet_check.read_jsonl(os.path.join(tdir, "items.jsonl"))
        by_id = {r["id"]: r for r in rep["items"]}
        blocks = [it for it in items if it["kind"] == "block"]
        listed = {t for b in blocks for t in b["txs"]}
        lacking = [b["height"] for b in blocks if by_id[b["id"]]["reached"] != 7]
        check(len(blocks) >= 12 and not lacking, "all %d blocks reached all 7 nodes (not: %s)"
              % (len(blocks), lacking))
        lacking = [t[:12] for t in listed if by_id[t]["reached"] != 7]
        check(not lacking, "all %d transactions the blocks list reached all 7 nodes (not: %s)"
              % (len(listed), lacking[:5]))
        kill_us = rep["testnet"]["start_us"] + events[0]["t_s"] * 1e6
        outside = [it for it in items if it["kind"] == "tx"
                   and not kill_us - 500_000 <= it["submit_us"] <= kill_us + 100_000]
        check(len(outside) >= 10 and all(it["id"] in listed for it in outside),
              "every one of the %d transactions not submitted at the moment of the kill is in a "
              "block" % len(outside))
        for name in ("report-cdf.png", "report-timeline.png"):
            ok, what = testnet_check.png_check(os.path.join(tdir, name))
            check(ok, "%s is a valid image: %s" % (name, what))

    def bad_options(self):
        log("bad options: a clear error, exit 1, nothing made")
        tdir = os.path.join(self.tmpdir, "bad")
        scenario = os.path.join(self.tmpdir, "bad-scenario.json")
        with open(scenario, "w") as f:
            f.write('{"events": [{"at": 1, "explode": 2}]}')
        for args, text in (
                (["--nodes=1"], "--nodes must be from 2 to 200"),
                (["--topology=" + os.path.join(self.tmpdir, "none.json")], "not a topology file"),
                (["--blocks=soon"], "is not a duration"),
                (["--partition=1,2"], "write A,B,...@FROM-TO"),
                (["--partition=1@5-3"], "must end after it starts"),
                (["--kill=12@3"], "names node 12, but there are nodes 0 to 9"),
                (["--add=1@1", "--restart=10@0.5"], "names node 10"),
                (["--network=a/b"], "--network: 1 to 32 characters"),
                (["--scenario=" + scenario], "an event is one of kill, restart, partition, add")):
            cp = testnet(tdir, "run", "--loopback", "--builddir=" + testnet_check.BUILDDIR,
                         *args, ok=False)
            check(cp.returncode == 1 and text in cp.stderr and not os.path.exists(tdir),
                  "%s: %s" % (" ".join(args), cp.stderr.strip()))
        cp = testnet(tdir, "status", ok=False)
        check(cp.returncode == 1 and "no testnet in" in cp.stderr, "status without a testnet: %s"
              % cp.stderr.strip())

    def commands(self, tdir, cfg):
        log("commands on the running testnet")
        out = testnet(tdir, "status").stdout
        check(len(UP.findall(out)) == 10, "status lists 10 running nodes")
        ids = [it["id"] for it in testnet_check.read_jsonl(os.path.join(tdir, "items.jsonl"))]
        n3 = cfg["nodes"][3]
        before = testnet_check.ask_node(cfg, n3, ids)
        held = {x for x, v in before["items"].items() if v}
        testnet(tdir, "kill", "3")
        out = testnet(tdir, "status").stdout
        check(len(UP.findall(out)) == 9 and re.search(r"^  node +3 .* down$", out, re.M),
              "after kill 3, status shows node 3 down and the other 9 up")
        cp = testnet(tdir, "cli", "4", "getinfo")
        check(json.loads(cp.stdout)["items"]["block"] > 0, "node 4 still serves RPC")
        testnet(tdir, "restart", "3")
        after = testnet_check.ask_node(cfg, n3, ids)
        check_equal({x for x, v in after["items"].items() if v}, held,
                    "node 3 has every item it had before it was killed")
        want = sum(1 for a, b in cfg["edges"] if 3 in (a, b))
        check_equal(len(after["getpeerinfo"]), want, "node 3 is connected to its peers again")
        cp = testnet(tdir, "cli", "3", "getinfo")
        check(json.loads(cp.stdout)["node_id"] == n3["node_id"], "cli 3 getinfo answers as node 3")
        for args, text in ((["kill", "10"], "no node '10'"),
                           (["partition", ",".join(map(str, range(10)))], "each side"),
                           (["heal"], "no partition")):
            cp = testnet(tdir, *args, ok=False)
            check(cp.returncode == 1 and text in cp.stderr,
                  "%s is refused: %s" % (" ".join(args), cp.stderr.strip()))


if __name__ == "__main__":
    TestnetLoopback().main()
