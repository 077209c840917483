#!/usr/bin/python3
"""`systemd-analyze verify` on the generated unit. Usage: verify_unit.py UNIT [GATEWAY_EXE] [CONFIG]

verify insists that ExecStart's binary exists, so a copy of the unit is checked in which
ExecStart points at the built gateway (or /bin/true when there is none) and the source config.
Any message about our unit fails the test; exit 77 (skip) without systemd-analyze.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def main():
    unit, exe = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else "/bin/true")
    config = sys.argv[3] if len(sys.argv) > 3 else "/dev/null"
    exe, config = os.path.abspath(exe), os.path.abspath(config)  # unit files need absolute paths
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("systemd-analyze not found: skipped")
        return 77
    with open(unit) as f:
        text = f.read()
    exec_start = re.search(r"^ExecStart=(\S+) --config (\S+)$", text, re.M)
    if not exec_start:
        print("no 'ExecStart=<binary> --config <file>' line in %s" % unit)
        return 1
    print("installed:", exec_start.group(0))
    text = text.replace(exec_start.group(0), "ExecStart=%s --config %s" % (exe, config))
    with tempfile.TemporaryDirectory() as d:
        copy = os.path.join(d, "mqttsn-gateway.service")
        with open(copy, "w") as f:
            f.write(text)
        r = subprocess.run([analyze, "verify", "--man=no", copy], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    print(out or "(no messages)")
    ours = [line for line in out.splitlines() if "mqttsn-gateway" in line]
    if r.returncode != 0 or ours:
        print("FAILED: systemd-analyze verify exit %d, %d message(s) about the unit"
              % (r.returncode, len(ours)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
