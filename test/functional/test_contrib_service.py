#!/usr/bin/env python3
"""contrib/rumor.conf.example and contrib/init/rumord.service.

Checks:
  - the example lists every option rumord accepts in a config file, each
    under a comment that is exactly its line of `rumord --help`, and the
    value shown is the default --help states (so neither can drift);
  - the example with every default-valued line uncommented is accepted by
    rumord's own parser, and a node started with it (RPC and p2p moved to
    loopback on the command line) serves;
  - the built unit (paths and Type of this build) passes
    `systemd-analyze verify` (skipped, with the reason, where systemd-analyze
    is missing or cannot run here), and carries the hardening the service
    relies on.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from framework import (BUILDDIR, RUMORD, TestBase, TestFailure, check, check_equal, log,
                       run_tool)

SRCDIR = os.environ.get("RUMOR_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(SRCDIR, "contrib", "rumor.conf.example")
UNIT = os.path.join(BUILDDIR, "contrib", "init", "rumord.service")
NOT_IN_FILE = {"datadir", "conf", "help", "version"}


def help_lines():
    cp = run_tool(RUMORD, ["--help"])
    if cp.returncode != 0:
        raise TestFailure("rumord --help exited %d" % cp.returncode)
    out = {}
    for line in cp.stdout.splitlines():
        m = re.match(r"  --([a-z-]+)", line)
        if m:
            out[m.group(1)] = line.strip()
    return out


def literal_default(help_line):
    """The default --help states as a value for the file, or None
    ("default: none", "default: off" ...)."""
    m = re.search(r"\(default ([^:;) ][^;) ]*)[;)]", help_line)
    return m.group(1) if m else None


class ContribService(TestBase):
    def run(self):
        self.example()
        self.unit()

    def example(self):
        log("contrib/rumor.conf.example against rumord --help")
        helps = help_lines()
        with open(EXAMPLE) as f:
            lines = f.read().splitlines()
        entries = {}
        for i, line in enumerate(lines):
            m = re.match(r"#([a-z-]+)=(.*)$", line)
            if not m:
                continue
            name, value = m.group(1), m.group(2)
            if name in entries:
                raise TestFailure("%s is listed twice in the example" % name)
            above = lines[i - 1] if i > 0 else ""
            entries[name] = (value, above)
        want = sorted(set(helps) - NOT_IN_FILE)
        check_equal(sorted(entries), want, "the example lists every config-file option")
        for name, (value, above) in sorted(entries.items()):
            if above.lstrip("# ").strip() != helps[name]:
                raise TestFailure("the comment above %s=%s is not its --help line:\n  %r\n  %r"
                                  % (name, value, above, helps[name]))
            default = literal_default(helps[name])
            if default is not None and value != default:
                raise TestFailure("example %s=%s, but --help says the default is %s"
                                  % (name, value, default))
        with_default = sorted(n for n in entries if literal_default(helps[n]) is not None)
        log("  ok: %d options, each under its --help line; %d with a default, all matching"
            % (len(entries), len(with_default)))

        log("the defaults, uncommented, are accepted and the node serves")
        conf = os.path.join(self.tmpdir, "defaults.conf")
        with open(conf, "w") as f:
            for name in with_default:
                f.write("%s=%s   # from the example\n" % (name, entries[name][0]))
        node = self.node("defaults")
        node.start(["--datadir=" + node.datadir, "--conf=" + conf, "--network=testnet",
                    "--rpcbind=127.0.0.1:0", "--listen=127.0.0.1:0"], base=False)
        info = node.rpc("getinfo")
        check_equal(info["network"], "testnet", "the command line wins over the file")
        node.stop()

    def unit(self):
        log("contrib/init/rumord.service")
        check(os.path.exists(UNIT), "the unit is built (%s)" % UNIT)
        with open(UNIT) as f:
            text = f.read()
        check_equal(re.findall(r"@[A-Za-z_]+@", text), [], "every @placeholder@ is filled in")
        with open(os.path.join(BUILDDIR, "config.h")) as f:
            want_type = "notify" if "#define HAVE_SYSTEMD 1" in f.read() else "exec"
        check("\nType=%s\n" % want_type in text, "Type=%s for this build" % want_type)
        for setting in ("User=rumor", "NoNewPrivileges=yes", "ProtectSystem=strict",
                        "ReadWritePaths=/var/lib/rumor", "PrivateTmp=yes",
                        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                        "MemoryDenyWriteExecute=yes", "CapabilityBoundingSet=\n",
                        "ExecReload=/bin/kill -HUP $MAINPID"):
            if setting not in text:
                raise TestFailure("the unit lacks %s" % setting.strip())

        analyze = shutil.which("systemd-analyze")
        if not analyze:
            log("  SKIP systemd-analyze verify: systemd-analyze is not installed")
            return
        # verify checks that ExecStart's program exists: point it at this
        # build's rumord (the installed path may not exist yet).
        unitdir = os.path.join(self.tmpdir, "units")
        os.makedirs(unitdir)
        path = os.path.join(unitdir, "rumord.service")
        with open(path, "w") as f:
            f.write(re.sub(r"(?m)^ExecStart=\S+", "ExecStart=" + os.path.abspath(RUMORD), text))
        # --man=no: the man pages of Documentation= are not installed yet.
        cp = subprocess.run([analyze, "verify", "--man=no", path], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=60,
                            env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
        out = cp.stdout.decode("utf-8", "replace").strip()
        # Lines about the unit itself; other units of this machine may
        # have problems of their own that verify also prints.
        mine = [l for l in out.splitlines() if "rumord.service" in l]
        if cp.returncode != 0 and not mine:
            log("  SKIP systemd-analyze verify: it cannot run here (exit %d): %s"
                % (cp.returncode, out[-300:]))
            return
        check_equal(mine, [], "systemd-analyze verify has nothing to say about the unit")
        check_equal(cp.returncode, 0, "systemd-analyze verify exit status (output: %s)"
                    % out[-300:])


if __name__ == "__main__":
    ContribService().main()
