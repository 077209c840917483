#!/usr/bin/python3
"""The shipped gateway.toml must be accepted by the gateway as it is (all commented out) and with
every commented setting switched on, so each documented key is a real key with a valid value.
Usage: check_config.py GATEWAY_EXE gateway.toml"""
import os
import re
import subprocess
import sys
import tempfile


def check(exe, path, what):
    r = subprocess.run([exe, "--check-config", "--config", path], capture_output=True, text=True,
                       timeout=30)
    print("%s: exit %d\n%s%s" % (what, r.returncode, r.stdout, r.stderr))
    return r.returncode == 0


def main():
    exe, config = sys.argv[1], sys.argv[2]
    with open(config) as f:
        text = f.read()
    # Settings are written "#key = value" (no space after '#'); prose comments are "# ...".
    enabled, n = re.subn(r"^#(?=[\w\"])", "", text, flags=re.M)
    print("switched on %d settings" % n)
    with tempfile.TemporaryDirectory() as d:
        full = os.path.join(d, "gateway.toml")
        with open(full, "w") as f:
            f.write(enabled)
        ok = check(exe, config, "as shipped") & check(exe, full, "every setting switched on")
    return 0 if ok and n > 20 else 1


if __name__ == "__main__":
    sys.exit(main())
