"""Fixtures for the DTLS suite: a real mosquitto, the real gateway with [udp] and [dtls] side by
side, a PSK file and certificates made with openssl in the test's tmp dir, and the status JSON
(published every second) to read the gateway's DTLS counters."""
import json
import os
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

from harness import Gateway, Mosquitto, Observer, free_port, wait_until  # noqa: E402

KEYS = {"sensor-1": "00112233445566778899aabbccddeeff",
        "sensor-2": "ffeeddccbbaa99887766554433221100",
        "fieldtool": "0123456789abcdef0123456789abcdef"}


def write_psk_file(d, keys=KEYS, mode=0o600):
    path = os.path.join(d, "psk")
    with open(path, "w") as f:
        f.write("# identity:hexkey\n")
        for ident, key in keys.items():
            f.write("%s:%s\n" % (ident, key))
    os.chmod(path, mode)
    return path


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name,
             cwd=d)
    return os.path.join(d, name + ".crt")


def make_cert(d, ca, name, cn):
    """A certificate with CN `cn` signed by CA `ca` (basename): (cert, key) paths."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-out", name + ".crt", "-days", "2", cwd=d)
    return os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")


class DtlsGateway(Gateway):
    """The real gateway with [dtls] on its own loopback port, status JSON every second."""

    def __init__(self, broker_uri, workdir, dtls, admission=None):
        self.dtls_port = free_port(socket.SOCK_DGRAM)
        keys = {"enabled": True, "listen": ["127.0.0.1:%d" % self.dtls_port]}
        keys.update(dtls)
        sections = {"dtls": keys, "status": {"interval_s": 1}}
        if admission:
            sections["admission"] = admission
        super().__init__(broker_uri, workdir=workdir, ipv6=False, sections=sections)


class StatusWatch:
    """The gateway's retained status JSON, as the broker sees it."""

    def __init__(self, broker, gw_id=7):
        self.obs = Observer(broker.port)
        self.topic = "mqttsn-gateway/%d/status" % gw_id
        self.obs.subscribe(self.topic)

    def latest(self):
        msgs = [m for m in self.obs.messages if m.topic == self.topic and m.payload]
        return json.loads(msgs[-1].payload) if msgs else None

    def wait(self, pred, timeout=10):
        """The first status JSON for which pred(json) holds, or the last one seen (test asserts)."""
        def ok():
            s = self.latest()
            return s if s is not None and "dtls" in s and pred(s) else None
        return wait_until(ok, timeout, 0.1) or self.latest()

    def close(self):
        self.obs.close()

    stop = close


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for gw in getattr(item, "_gateways", []):
            rep.sections.append(("gateway log", gw.log_text()))


@pytest.fixture
def cleanup():
    things = []
    yield things
    for t in reversed(things):
        t.stop() if hasattr(t, "stop") else t.close()


@pytest.fixture
def broker(tmp_path, cleanup):
    d = tmp_path / "mosq"
    d.mkdir()
    b = Mosquitto(str(d)).start()
    cleanup.append(b)
    return b


@pytest.fixture
def start_gateway(request, tmp_path, broker, cleanup):
    """start_gateway(dtls={...}, admission=None) -> a started DtlsGateway (stopped cleanly after)."""
    def start(dtls, admission=None):
        d = tmp_path / ("gw%d" % len(getattr(request.node, "_gateways", [])))
        d.mkdir()
        gw = DtlsGateway(broker.uri, str(d), dtls, admission)
        request.node._gateways = getattr(request.node, "_gateways", []) + [gw]
        gw.start()
        cleanup.append(gw)
        return gw
    yield start
    for gw in getattr(request.node, "_gateways", []):
        if gw.proc is not None and gw.proc.poll() is None:
            assert gw.stop() == 0, "gateway did not exit cleanly"


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    d = str(d)
    p = {"dir": d, "ca": make_ca(d, "ca"), "other_ca": make_ca(d, "other-ca")}
    p["server"] = make_cert(d, "ca", "server", "mqttsn-gateway")
    p["client"] = make_cert(d, "ca", "client", "cert-sensor")
    p["stranger"] = make_cert(d, "other-ca", "stranger", "cert-sensor")
    return p
