"""Fixtures for the field-tool tests: the tools' paths, a scripted fake gateway, and (through
tests/integration/harness.py) a real mosquitto + mqttsn-gateway pair on free loopback ports."""
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import mqttsn_packets as sn  # noqa: E402


def _tool(env_name, name):
    exe = os.environ.get(env_name)
    if exe:
        return exe
    for cand in ("build-tools", "build"):
        p = os.path.join(HERE, "..", "..", cand, "gateway", "tools", name)
        if os.path.exists(p):
            return os.path.abspath(p)
    pytest.skip("set %s to the %s binary" % (env_name, name))


@pytest.fixture
def pub_exe():
    return _tool("MQTTSN_PUB", "mqttsn-pub")


@pytest.fixture
def sub_exe():
    return _tool("MQTTSN_SUB", "mqttsn-sub")


def run(args, timeout=20, stdin=None):
    """Runs a tool to completion; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)


class Tool:
    """A tool running in the background; stderr lines are collected as they come (for -d)."""

    def __init__(self, args):
        self.args = args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.err_lines = []
        self._cv = threading.Condition()
        self.out = bytearray()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._out_reader.start()

    def _read_stdout(self):
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            with self._cv:
                self.out += chunk

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self._cv:
                self.err_lines.append((time.monotonic(), line.decode(errors="replace").rstrip("\n")))
                self._cv.notify_all()

    def wait_stderr(self, needle, timeout=10, after=0):
        """Waits for a stderr line containing `needle` (from line index `after`); returns its index."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for i, (_, line) in enumerate(self.err_lines[after:], start=after):
                    if needle in line:
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError("no stderr line with %r from %r; stderr so far:\n%s"
                                         % (needle, self.args, self.stderr()))
                self._cv.wait(min(left, 0.2))

    def stderr(self):
        with self._cv:
            return "\n".join(line for _, line in self.err_lines)

    def finish(self, timeout=20):
        """Waits for exit; returns (exit code, stdout bytes)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%r did not exit in %ss; stderr:\n%s" % (self.args, timeout, self.stderr()))
        self._reader.join(5)
        self._out_reader.join(5)
        return self.proc.returncode, bytes(self.out)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def tools():
    """tools(args) -> a background Tool; any still running at the end is killed."""
    made = []

    def start(args):
        t = Tool([str(a) for a in args])
        made.append(t)
        return t
    yield start
    for t in made:
        t.kill()


class FakeGateway:
    """A scripted gateway on a loopback UDP port: the test plays the gateway's side by hand."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.client = None
        self.seen = []

    def recv(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            data, self.client = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        p = sn.parse(data)
        self.seen.append(p)
        return p

    def expect(self, msg_type, timeout=5.0, **fields):
        p = self.recv(timeout)
        want = sn.TYPE_NAMES[msg_type]
        assert p is not None, "expected %s within %ss; seen: %r" % (want, timeout, self.seen)
        assert p.type == msg_type, "expected %s, got %r; seen: %r" % (want, p, self.seen)
        for k, v in fields.items():
            assert getattr(p, k, None) == v, "expected %s with %s=%r, got %r" % (want, k, v, p)
        return p

    def send(self, raw):
        self.sock.sendto(raw, self.client)

    def close(self):
        self.sock.close()


@pytest.fixture
def fake_gw():
    g = FakeGateway()
    yield g
    g.close()


# ---- the real gateway (skipped when harness.py, mosquitto or the gateway binary is missing)

def _harness():
    try:
        import harness
    except ImportError as e:
        pytest.skip("tests/integration/harness.py unavailable: %s" % e)
    try:
        harness.gateway_exe()
    except RuntimeError as e:
        pytest.skip(str(e))
    return harness


@pytest.fixture
def broker(tmp_path):
    h = _harness()
    b = h.Mosquitto(str(tmp_path)).start()
    yield b
    b.stop()


@pytest.fixture
def gateway(broker, tmp_path):
    h = _harness()
    d = tmp_path / "gw"
    d.mkdir()
    gw = h.Gateway(broker.uri, workdir=str(d), ipv6=False, log_level="info").start()
    # The broker link comes up asynchronously; ADVERTISE says it is up (design: "while the broker
    # is reachable").
    gw.wait_advertise(10)
    yield gw
    code = gw.stop()
    assert code == 0, "gateway exit %r; log:\n%s" % (code, gw.log_text()[-4000:])


@pytest.fixture
def observer(broker):
    h = _harness()
    o = h.Observer(broker.port)
    yield o
    o.close()
