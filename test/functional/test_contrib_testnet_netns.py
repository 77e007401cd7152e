#!/usr/bin/env python3
"""contrib/testnet as root: ten nodes, each in a network namespace of its own
with its own address (four /16s), joined by a bridge the tool makes; a block
producer, transactions at random nodes, and nodes 5-9 cut off from 0-4 in the
middle of the run (their links moved to a second bridge: a TCP connection
across the cut gets no answer, one within a side does).  What is checked
is listed in testnet_check.py.  Then `stop` must leave no process, namespace,
veth or bridge behind, and keep the data and the report; whatever happens,
the test removes every namespace, interface and process of its testnet at
the end.  Skipped (exit 77) without root or without ip netns.
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import SkipTest, TestBase, check, log  # noqa: E402
import testnet_check  # noqa: E402


def namespaces_usable():
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth and bridge)"
    if not shutil.which("ip"):
        return "ip (iproute2) not installed"
    name = "rumor-probe-%d" % os.getpid()
    cp = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if cp.returncode != 0:
        return "ip netns add refused: %s" % cp.stderr.strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


class TestnetNetns(TestBase):
    def run(self):
        why = namespaces_usable()
        if why:
            raise SkipTest(why)
        tdir = os.path.join(self.tmpdir, "tn")
        try:
            log("contrib/testnet start: 10 nodes in network namespaces, producer, partition")
            cfg, rep = testnet_check.run_partition_scenario(tdir,
                                                            during_partition=self.probe)
            check(cfg["mode"] == "netns", "the nodes run in network namespaces")
            groups = {tuple(n["addr"].split(".")[:2]) for n in cfg["nodes"]}
            check(len(groups) == 4, "node addresses spread over 4 /16s (%s)"
                  % sorted(".".join(g) for g in groups))
            peers = testnet_check.ask_node(cfg, cfg["nodes"][3], [])["getpeerinfo"]
            want = {n["addr"] for n in cfg["nodes"]
                    if [3, n["index"]] in cfg["edges"] or [n["index"], 3] in cfg["edges"]}
            got = {p["addr"].rsplit(":", 1)[0] for p in peers}
            check(got == want, "node 3 sees its peers at their own addresses (%s)" % sorted(got))
            testnet_check.stop_and_check(tdir, cfg)
        finally:
            left = testnet_check.sweep(tdir)
            if left:
                log("  (removed at cleanup: %s)" % left)


    @staticmethod
    def probe(cfg):
        """During the partition, a TCP connection from node 6's namespace
        to node 0's peer port gets no answer, and one to node 9 (same side)
        does: the cut is in the network, not only in the nodes' peer lists."""
        far, near, same = cfg["nodes"][6], cfg["nodes"][0], cfg["nodes"][9]
        script = ("import socket, sys\n"
                  "for a in sys.argv[1:]:\n"
                  "    try:\n"
                  "        socket.create_connection((a, %d), timeout=1.5).close()\n"
                  "        print(a, 'open')\n"
                  "    except OSError as e:\n"
                  "        print(a, 'no answer')\n" % near["p2p_port"])
        cp = subprocess.run(["ip", "netns", "exec", far["ns"], "python3", "-c", script,
                             near["addr"], same["addr"]], capture_output=True, text=True,
                            timeout=20)
        got = cp.stdout.split("\n")
        return (got[:2] == ["%s no answer" % near["addr"], "%s open" % same["addr"]],
                "during the partition node 6 cannot reach node 0 over TCP and can reach node 9 "
                "(%s)" % ", ".join(got[:2]))


if __name__ == "__main__":
    TestnetNetns().main()
