"""Fixtures for the security suite: certificates made with openssl, mosquitto with a TLS listener
or a password file, and the real gateway with [broker] security keys."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Gateway, Mosquitto, free_port  # noqa: E402


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name,
             cwd=d)
    return os.path.join(d, name + ".crt")


def make_server_cert(d, ca, name, cn, sans):
    """A server certificate signed by CA `ca` (basename); sans like "IP:127.0.0.1,DNS:localhost"."""
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\n" % sans)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext", cwd=d)
    return os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")


class SecureMosquitto(Mosquitto):
    """mosquitto with a plain listener (`port`, anonymous: for the observer) and optionally a TLS
    listener (`tls_port`), or only a password-protected listener."""

    def __init__(self, workdir, cert=None, key=None, ca=None, password_file=None):
        super().__init__(workdir)
        lines = []
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot read tmp files
        lines += ["persistence false", "log_dest stderr", "log_type error", "log_type warning",
                  "log_type notice", "listener %d 127.0.0.1" % self.port]
        if password_file:
            lines += ["allow_anonymous false", "password_file " + password_file]
        else:
            lines += ["allow_anonymous true"]
        self.tls_port = None
        if cert:
            self.tls_port = free_port()
            lines += ["listener %d 127.0.0.1" % self.tls_port, "cafile " + ca,
                      "certfile " + cert, "keyfile " + key]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")


def secure_gateway(broker_uri, workdir, broker=None, tls=None):
    """A Gateway whose config gets extra [broker] keys and a [broker.tls] table."""
    from harness import _toml_value
    gw = Gateway(broker_uri, workdir=workdir)
    with open(gw.config) as f:
        text = f.read()
    extra = "".join("%s = %s\n" % (k, _toml_value(v)) for k, v in (broker or {}).items())
    text = text.replace("connect_timeout_ms = 3000\n", "connect_timeout_ms = 3000\n" + extra, 1)
    if tls is not None:
        text += "\n[broker.tls]\n" + "".join("%s = %s\n" % (k, _toml_value(v)) for k, v in tls.items())
    with open(gw.config, "w") as f:
        f.write(text)
    return gw


@pytest.fixture
def cleanup():
    things = []
    yield things
    for t in reversed(things):
        t.stop() if hasattr(t, "stop") else t.close()
