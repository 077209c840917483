"""Test harness: a private dbus-daemon, fake_bluez.py on it, and processes pointed at it."""

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import dbus
import dbus.bus

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

HERE = os.path.dirname(os.path.abspath(__file__))
NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"


def wait_until(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class LineReader:
    """Collects a process's stdout lines on a thread."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        self.seen = []
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for raw in stream:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def next(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out; lines seen: %r" % self.seen[-20:])
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("process ended; lines seen: %r" % self.seen[-20:])
            self.seen.append(line)
            if pred(line):
                return line


class Bus:
    """A private system bus with the fake bluetoothd on it."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="ble-test-")
        cfg = os.path.join(self.dir.name, "bus.conf")
        with open(cfg, "w") as f:
            f.write(BUS_CONFIG.format(socket=os.path.join(self.dir.name, "bus")))
        self.daemon = subprocess.Popen(["dbus-daemon", "--config-file=" + cfg, "--nofork", "--print-address=1"],
                                       stdout=subprocess.PIPE)
        self.address = self.daemon.stdout.readline().decode().strip()
        assert self.address, "dbus-daemon did not start"
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        fake = os.environ.get("FAKE_BLUEZ", os.path.join(HERE, "fake_bluez.py"))
        self.fake = subprocess.Popen(["/usr/bin/python3", fake], env=self.env, stdout=subprocess.PIPE)
        assert self.fake.stdout.readline().strip() == b"ready", "fake_bluez did not start"
        self.conn = dbus.bus.BusConnection(self.address)
        self.control = dbus.Interface(self.conn.get_object("org.example.FakeBlueZ", "/test"),
                                      "org.example.FakeBlueZ.Control")

    def state(self, addr):
        return {str(k): v for k, v in self.control.State(addr).items()}

    def adapter(self):
        return {str(k): v for k, v in self.control.Adapter().items()}

    def written(self, addr):
        return [bytes(w) for w in self.control.Written(addr)]

    def notify_message(self, addr, message):
        mtu = int(self.state(addr)["mtu"])
        for i in range(0, len(message), mtu - 3):
            assert self.control.Notify(addr, dbus.ByteArray(message[i:i + mtu - 3])), "Notify refused"

    def kill_bus(self):
        self.daemon.kill()
        self.daemon.wait()

    def close(self):
        for p in (self.fake, self.daemon):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.dir.cleanup()


class Driver:
    """tests/ble/ble_driver: the real BleTransport on a libuv loop, driven by lines."""

    def __init__(self, bus, *args):
        exe = os.environ.get("BLE_DRIVER")
        assert exe, "BLE_DRIVER not set (run through meson test)"
        self.proc = subprocess.Popen([exe, *args], env=bus.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=sys.stderr)
        self.out = LineReader(self.proc.stdout)
        self.out.next(lambda l: l == "started")

    def cmd(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def send(self, addr, data):
        self.cmd("send %s %s" % (addr, data.hex()))

    def recv(self, timeout=10.0):
        line = self.out.next(lambda l: l.startswith("recv ") or l.startswith("fatal "), timeout)
        assert line.startswith("recv "), line
        _, addr, data = line.split(" ")
        return addr, bytes.fromhex(data)

    def devices(self):
        self.cmd("devices")
        out = {}
        while True:
            line = self.out.next(lambda l: l.startswith("device ") or l == "end")
            if line == "end":
                return out
            parts = line.split(" ")
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            out[parts[1]] = fields

    def stop(self):
        if self.proc.poll() is None:
            self.cmd("stop")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def publish(total, seed=0):
    """A PUBLISH-shaped MQTT-SN frame of `total` octets (long length form above 255)."""
    if total > 255:
        head = bytes([0x01, total >> 8, total & 0xFF, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x01])
    else:
        head = bytes([total, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x01])
    body = bytes((seed + i) % 251 for i in range(total - len(head)))
    return head + body


def reassemble(chunks):
    """The gateway's writes put back together by the MQTT-SN length header."""
    msgs, cur, need = [], b"", 0
    for c in chunks:
        if not cur:
            need = c[0] if c[0] != 0x01 else (c[1] << 8) | c[2]
        cur += c
        if len(cur) >= need:
            msgs.append(cur)
            cur = b""
    return msgs
