#!/usr/bin/env python3
"""README.md's "Using it" section, run as written.

The ```sh blocks of that section are joined, in order, into one bash
script and run with `set -e` (a failing line fails the test), the way a
reader pastes them: from a directory laid out like the checkout after
contrib/quickstart (`build` points at this build), with HOME set to a fresh
directory (so ~/.rumor and ~/.rumor2 are new).  The README uses rumord's
fixed default ports (8632, 8633) and 8642, 8643 for the second node, all on
127.0.0.1: the test takes a lock shared by every checkout on this machine
(so two `make check` runs take turns), and skips, saying which, when one of
those ports is taken by something else.  The script runs in its own
process group, which is killed (by its id) at the end whatever happens.

Checks: exit status 0 within the time limit; the node id and the
transaction id were captured into variables (printed by the README's echo
lines); the second node returned the transaction and its getiteminfo;
both nodes stopped cleanly (cookies removed, networks recorded).
"""

import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (BUILDDIR, SkipTest, TestBase, TestFailure, check, check_equal, item_id,
                       log, scan_for_bugs)

SRCDIR = os.environ.get("RUMOR_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PORTS = (8632, 8633, 8642, 8643)
LOCK = "/tmp/rumor-readme-test.lock"
RUN_LIMIT_S = 90


def readme_blocks():
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Using it\n(.*?)^## ", text, re.S | re.M)
    if not m:
        raise TestFailure("README.md has no '## Using it' section")
    blocks = re.findall(r"^```sh\n(.*?)^```", m.group(1), re.S | re.M)
    if not blocks:
        raise TestFailure("the 'Using it' section has no ```sh blocks")
    return blocks


def port_free(port):
    s = socket.socket()
    # As rumord binds (libuv sets SO_REUSEADDR): connections of an earlier
    # run in TIME-WAIT do not make the port busy.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Readme(TestBase):
    def run(self):
        blocks = readme_blocks()
        log("README 'Using it': %d blocks, %d lines"
            % (len(blocks), sum(b.count("\n") for b in blocks)))

        lock = open(LOCK, "a")
        deadline = time.monotonic() + 180
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SkipTest("another README test held %s for 3 minutes" % LOCK)
                time.sleep(0.5)
        try:
            busy = [p for p in PORTS if not port_free(p)]
            if busy:
                raise SkipTest("the README's fixed ports %s are in use on 127.0.0.1 "
                               "(another rumord?); free them to run this test" % busy)
            self.run_script(blocks)
        finally:
            lock.close()

    def run_script(self, blocks):
        work = os.path.join(self.tmpdir, "checkout")
        home = os.path.join(self.tmpdir, "home")
        os.makedirs(work)
        os.makedirs(home)
        os.symlink(os.path.abspath(BUILDDIR), os.path.join(work, "build"))
        script = "set -e\n" + "\n".join(blocks)
        path = os.path.join(self.tmpdir, "readme.sh")
        with open(path, "w") as f:
            f.write(script)
        out_path = os.path.join(self.tmpdir, "readme.out")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RUMOR_") and k not in ("PWD", "OLDPWD")}
        env["HOME"] = home
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(["bash", path], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=RUN_LIMIT_S)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                self.kill_group(proc.pid)
        with open(out_path, "rb") as f:
            output = f.read().decode("utf-8", "replace")
        if rc != 0:
            raise TestFailure("the README's lines %s; output:\n%s"
                              % ("did not finish within %d s" % RUN_LIMIT_S if rc is None
                                 else "exited %d" % rc, output[-4000:]))
        scan_for_bugs(output, "README run")

        m = re.search(r"^first node: ([0-9a-f]{64})$", output, re.M)
        check(m is not None, "NODEID was captured")
        nodeid = m.group(1)
        m = re.search(r"^transaction: ([0-9a-f]{64})$", output, re.M)
        check(m is not None, "TXID was captured")
        txid = m.group(1)
        check(re.search(r"debug|info: node id %s" % nodeid, output) is not None,
              "NODEID is the first node's id")
        info = self.json_after(output, '"source": "peer"')
        check_equal((info.get("kind"), info.get("peer")), ("tx", nodeid),
                    "the second node's getiteminfo: a tx from the first node")
        raw = re.findall(r"^[0-9a-f]{100,}$", output, re.M)
        check_equal([item_id(r) for r in raw], [txid],
                    "the second node printed the bytes of the transaction TXID names")
        for d in (".rumor", ".rumor2"):
            dd = os.path.join(home, d)
            check(not os.path.exists(os.path.join(dd, ".cookie")),
                  "~/%s: the node stopped cleanly (cookie removed)" % d)
            with open(os.path.join(dd, "network")) as f:
                check_equal(f.read(), "testnet\n", "~/%s records its network" % d)
        check("stop requested over RPC" in output, "the nodes logged the stop calls")

    @staticmethod
    def json_after(output, needle):
        """The JSON object printed around the line containing needle."""
        i = output.find(needle)
        if i < 0:
            raise TestFailure("no %s in the output" % needle)
        start = output.rfind("\n{", 0, i) + 1
        end = output.find("\n}", i) + 2
        return json.loads(output[start:end])

    @staticmethod
    def kill_group(pgid):
        """Stop every process the script started: SIGTERM to its group,
        then SIGKILL if any is left after 5 s."""
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            end = time.monotonic() + wait_s
            while time.monotonic() < end:
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)


if __name__ == "__main__":
    Readme().main()
