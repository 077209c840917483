"""Fixtures for the ACL suite: a CA and per-sensor certificates made with openssl, mosquitto with
a certificate-only TLS listener (the certificate's CN is the user name) or a password file, an
acl_file that gives each user only sensors/<user>/#, and the real gateway."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import Gateway, Mosquitto, free_port, _toml_value  # noqa: E402


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def ec_req(cwd, name, cn):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=cwd)


class Pki:
    """A CA, a server certificate for 127.0.0.1, and client certificates named after their CN."""

    def __init__(self, d):
        self.dir = d
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=acl-ca",
                cwd=d)
        self.ca = os.path.join(d, "ca.crt")
        with open(os.path.join(d, "server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ec_req(d, "server", "127.0.0.1")
        self._sign("server", ["-extfile", "server.ext"])
        self.server = (os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
        self.sensors = os.path.join(d, "sensors")
        os.mkdir(self.sensors)

    def _sign(self, name, extra=()):
        openssl("x509", "-req", "-in", name + ".csr", "-CA", os.path.join(self.dir, "ca.crt"),
                "-CAkey", os.path.join(self.dir, "ca.key"), "-CAcreateserial", "-out",
                name + ".crt", "-days", "2", *extra, cwd=self.dir)

    def client(self, cn, into=None):
        """A client certificate with CN `cn`: returns (crt, key) paths (in `into`, default here)."""
        ec_req(self.dir, "c-" + cn, cn)
        self._sign("c-" + cn)
        into = into or self.dir
        crt, key = os.path.join(into, cn + ".crt"), os.path.join(into, cn + ".key")
        os.replace(os.path.join(self.dir, "c-" + cn + ".crt"), crt)
        os.replace(os.path.join(self.dir, "c-" + cn + ".key"), key)
        return crt, key

    def sensor(self, client_id):
        return self.client(client_id, into=self.sensors)


class AclMosquitto(Mosquitto):
    """mosquitto with an anonymous plain listener (`port`; the observer may only read) and either
    a TLS listener requiring client certificates (`tls_port`) or password login on `auth_port`."""

    def __init__(self, workdir, pki=None, password_file=None):
        super().__init__(workdir)
        acl = os.path.join(workdir, "acl")
        with open(acl, "w") as f:
            # Before any "user" line: the anonymous observer. Patterns: every user.
            f.write("topic read #\n\npattern readwrite sensors/%u/#\n")
        lines = []
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot read tmp files
        lines += ["persistence false", "log_dest stderr", "log_type error", "log_type warning",
                  "log_type notice", "per_listener_settings true",
                  "listener %d 127.0.0.1" % self.port, "allow_anonymous true", "acl_file " + acl]
        self.tls_port = self.auth_port = None
        if pki is not None:
            self.tls_port = free_port()
            lines += ["listener %d 127.0.0.1" % self.tls_port, "cafile " + pki.ca,
                      "certfile " + pki.server[0], "keyfile " + pki.server[1],
                      "require_certificate true", "use_identity_as_username true",
                      "allow_anonymous false", "acl_file " + acl]
        if password_file is not None:
            self.auth_port = free_port()
            lines += ["listener %d 127.0.0.1" % self.auth_port, "allow_anonymous false",
                      "password_file " + password_file, "acl_file " + acl]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")


def acl_gateway(broker_uri, workdir, broker=None, tls=None, mode=None):
    """A Gateway whose config gets extra [broker] keys and a [broker.tls] table."""
    gw = Gateway(broker_uri, workdir=workdir, mode=mode or "transparent")
    with open(gw.config) as f:
        text = f.read()
    extra = "".join("%s = %s\n" % (k, _toml_value(v)) for k, v in (broker or {}).items())
    text = text.replace("connect_timeout_ms = 3000\n", "connect_timeout_ms = 3000\n" + extra, 1)
    if tls is not None:
        text += "\n[broker.tls]\n" + "".join("%s = %s\n" % (k, _toml_value(v))
                                             for k, v in tls.items())
    with open(gw.config, "w") as f:
        f.write(text)
    return gw


@pytest.fixture
def cleanup():
    things = []
    yield things
    bad = []
    for t in reversed(things):
        if isinstance(t, Gateway):
            code = t.stop()  # a clean SIGTERM exit (and no sanitizer report) is part of every test
            if code != 0:
                bad.append((t.config, code, t.log_text()[-3000:]))
        else:
            t.stop() if hasattr(t, "stop") else t.close()
    assert not bad, "gateway did not exit 0 on SIGTERM: %r" % bad


@pytest.fixture
def pki(tmp_path):
    d = str(tmp_path / "pki")
    os.mkdir(d)
    return Pki(d)
