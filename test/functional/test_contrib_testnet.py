#!/usr/bin/env python3
"""contrib/testnet on loopback (--loopback; what it does without root), run
the way an operator runs it.

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
