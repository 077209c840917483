#!/usr/bin/python3
"""The Debian package (scripts/package.sh), two ways:

  check_package.py contents DEB ARCH
      what `dpkg-deb -I/-c` shows: architecture, fields, the file list, the ELF machine.
  check_package.py install BUILD_DIR
      builds the package for this machine into BUILD_DIR, runs lintian, then installs it here
      (dpkg -i), checks the installed files, `systemd-analyze verify`s the unit, runs
      --check-config on the installed config, reinstalls over an edited conffile, and checks
      that dpkg -r keeps config and state and dpkg -P leaves nothing behind. It changes the
      machine, so it runs only as root with MQTTSN_PACKAGE_TEST=1 (the CI sets it), else skips.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PKG = "mqttsn-gateway"
UNIT = "/usr/lib/systemd/system/mqttsn-gateway.service"
CONFIG = "/etc/mqttsn-gateway/gateway.toml"
FILES = ["etc/mqttsn-gateway/gateway.toml", "usr/bin/mqttsn-gateway", "usr/bin/mqttsn-pub",
         "usr/bin/mqttsn-sub", "usr/lib/systemd/system/mqttsn-gateway.service",
         "usr/share/doc/mqttsn-gateway/changelog.gz", "usr/share/doc/mqttsn-gateway/copyright",
         "usr/share/doc/mqttsn-gateway/service.md", "usr/share/doc/mqttsn-gateway/field-tools.md",
         "usr/share/lintian/overrides/mqttsn-gateway"]
ELF_MACHINE = {"amd64": "x86-64", "arm64": "ARM aarch64"}
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, **kw)


def contents(deb, arch):
    info = run("dpkg-deb", "-I", deb)
    check(info.returncode == 0, "dpkg-deb -I reads %s" % deb)
    fields = dict(re.findall(r"^ ([A-Za-z-]+): (.*)$", info.stdout, re.M))
    check(fields.get("Package") == PKG, "Package: %s" % fields.get("Package"))
    check(fields.get("Architecture") == arch, "Architecture: %s" % fields.get("Architecture"))
    depends = fields.get("Depends", "")
    for lib in ("libc6", "libuv1", "libpaho-mqttpp3-1", "libsqlite3-0", "libhttp-parser2.9"):
        check(re.search(r"(^|, )%s( |,|$)" % re.escape(lib), depends) is not None,
              "Depends names %s (dpkg-shlibdeps)" % lib)
    check(fields.get("Recommends") == "mosquitto", "Recommends: mosquitto")
    check(fields.get("Suggests") == "bluez", "Suggests: bluez")
    for script in ("postinst", "prerm", "postrm", "conffiles", "md5sums"):
        check(re.search(r"\s%s\s" % script, info.stdout) is not None, "control member %s" % script)
    listing = run("dpkg-deb", "-c", deb).stdout
    files = set(re.findall(r"^\S+ \S+\s+\d+ \S+ \S+ \./(\S+)$", listing, re.M))
    for f in FILES:
        check(f in files, "contains /%s" % f)
    check(not any(f.startswith(("usr/local", "usr/include", "build")) for f in files),
          "nothing under /usr/local, headers or build files")
    with tempfile.TemporaryDirectory() as d:
        run("dpkg-deb", "-x", deb, d)
        ctl = os.path.join(d, "DEBIAN")
        run("dpkg-deb", "-e", deb, ctl)
        with open(os.path.join(ctl, "conffiles")) as f:
            check(f.read().split() == ["/" + FILES[0]], "conffiles: /%s" % FILES[0])
        for exe in ("mqttsn-gateway", "mqttsn-pub", "mqttsn-sub"):
            desc = run("file", "-b", os.path.join(d, "usr/bin", exe)).stdout
            check(ELF_MACHINE[arch] in desc and "stripped" in desc and "not stripped" not in desc,
                  "%s: %s ELF, stripped (%s)" % (exe, arch, desc.strip()[:60]))
        with open(os.path.join(d, FILES[4])) as f:
            check("ExecStart=/usr/bin/mqttsn-gateway --config /etc/mqttsn-gateway/gateway.toml"
                  in f.read(), "unit runs /usr/bin/mqttsn-gateway with /etc's config")
    print("size: %d KiB" % (os.path.getsize(deb) // 1024))


def ours():
    """Every path with 'mqttsn' in it under the places a package or its scripts may write."""
    found = set()
    for top in ("/etc", "/usr", "/var/lib", "/opt", "/srv"):
        for root, dirs, names in os.walk(top):
            if root.startswith(("/var/lib/dpkg", "/var/lib/apt")):
                dirs[:] = []
                continue
            for n in dirs + names:
                if "mqttsn" in n:
                    found.add(os.path.join(root, n))
    return found


def dpkg_status():
    r = run("dpkg-query", "-W", "-f=${Status}", PKG)
    return r.stdout.strip() if r.returncode == 0 else "not-installed"


def install(build):
    if os.geteuid() != 0 or os.environ.get("MQTTSN_PACKAGE_TEST") != "1":
        print("skipped: installs a package on this machine; run as root with MQTTSN_PACKAGE_TEST=1")
        return 77
    if dpkg_status() not in ("not-installed", "unknown ok not-installed"):
        print("FAIL: %s is already known to dpkg here (%s): not touching it" % (PKG, dpkg_status()))
        return 1
    arch = run("dpkg", "--print-architecture").stdout.strip()
    dist = os.path.join(build, "dist")
    r = subprocess.run(["bash", os.path.join(SRC, "scripts/package.sh"), arch,
                        os.path.join(build, "pkg-build-" + arch)],
                       env=dict(os.environ, DIST=dist))
    check(r.returncode == 0, "scripts/package.sh %s" % arch)
    debs = glob.glob(os.path.join(dist, "%s_*_%s.deb" % (PKG, arch)))
    if len(debs) != 1:
        check(False, "one .deb in %s: %s" % (dist, debs))
        return 1
    deb = debs[0]
    contents(deb, arch)
    lint = run("lintian", "-EvIL", "+pedantic", "--tag-display-limit", "0", deb)
    tags = [line for line in (lint.stdout + lint.stderr).splitlines()
            if re.match(r"^[EWIPX]: ", line)]
    check(lint.returncode == 0 and not tags, "lintian (pedantic): no tags outside the overrides "
          + "; ".join(tags))

    before = ours()
    wants = "/etc/systemd/system/multi-user.target.wants/mqttsn-gateway.service"
    r = run("dpkg", "-i", deb)
    check(r.returncode == 0, "dpkg -i (%s)" % (r.stdout + r.stderr).strip()[-300:])
    check(dpkg_status() == "install ok installed", "dpkg status: %s" % dpkg_status())
    for f in FILES:
        check(os.path.exists("/" + f), "installed /%s" % f)
    check(os.path.islink(wants), "enabled: %s" % wants)
    r = run("dpkg-query", "-W", "-f=${Conffiles}", PKG)
    check(CONFIG in r.stdout, "dpkg knows %s as a conffile" % CONFIG)
    analyze = shutil.which("systemd-analyze")
    if analyze:
        r = run(analyze, "verify", "--man=no", UNIT)
        msgs = [line for line in (r.stdout + r.stderr).splitlines() if "mqttsn" in line]
        check(r.returncode == 0 and not msgs, "systemd-analyze verify %s %s" % (UNIT, msgs))
    else:
        check(False, "systemd-analyze missing (package systemd)")
    r = run("/usr/bin/mqttsn-gateway", "--check-config", "--config", CONFIG)
    check(r.returncode == 0 and "configuration OK" in r.stdout,
          "installed binary: --check-config on the installed config (%s)" % (r.stdout + r.stderr).strip())
    r = run("/usr/bin/mqttsn-gateway", "--version")
    check(r.returncode == 0, "installed binary runs: %s" % r.stdout.strip())

    # An edited conffile survives a reinstall/upgrade of the same package.
    with open(CONFIG, "a") as f:
        f.write("\n# edited by check_package.py\n")
    r = run("dpkg", "-i", "--force-confold", deb)
    check(r.returncode == 0, "dpkg -i again over the installed package")
    with open(CONFIG) as f:
        check("edited by check_package.py" in f.read(), "the edited %s is kept" % CONFIG)

    # What the service would have written (StateDirectory= with DynamicUser=yes).
    os.makedirs("/var/lib/private/mqttsn-gateway", exist_ok=True)
    with open("/var/lib/private/mqttsn-gateway/state.db", "w") as f:
        f.write("x")
    if not os.path.lexists("/var/lib/mqttsn-gateway"):
        os.symlink("private/mqttsn-gateway", "/var/lib/mqttsn-gateway")

    r = run("dpkg", "-r", PKG)
    check(r.returncode == 0, "dpkg -r (%s)" % (r.stdout + r.stderr).strip()[-300:])
    check(dpkg_status() == "deinstall ok config-files", "after -r: %s" % dpkg_status())
    for f in FILES[1:]:
        check(not os.path.exists("/" + f), "after -r: /%s gone" % f)
    check(os.path.exists(CONFIG), "after -r: %s kept" % CONFIG)
    check(os.path.exists("/var/lib/private/mqttsn-gateway/state.db"), "after -r: state kept")

    r = run("dpkg", "-P", PKG)
    check(r.returncode == 0, "dpkg -P (%s)" % (r.stdout + r.stderr).strip()[-300:])
    check(dpkg_status() == "not-installed", "after -P: %s" % dpkg_status())
    left = ours() - before
    check(not left, "after -P: nothing left behind %s" % sorted(left))
    check(not os.path.lexists(wants), "after -P: no enablement symlink")
    print("%d check(s) failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "contents":
        contents(sys.argv[2], sys.argv[3])
        return 1 if failures else 0
    if len(sys.argv) == 3 and sys.argv[1] == "install":
        return install(os.path.abspath(sys.argv[2]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
