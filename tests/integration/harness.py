"""Black-box harness: a real mosquitto, the real mqttsn-gateway, UDP sensors and a broker-side observer.

Importable on its own (e.g. by field-tool tests):
    from harness import Mosquitto, Gateway, Sensor, Observer
    import mqttsn_packets as sn
Every process and socket listens on loopback only, on ports chosen free at start.
"""
import os
import queue
import random
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

import paho.mqtt.client as paho

import mqttsn_packets as sn

PREDEFINED = {1: "sensors/predefined/one", 2: "sensors/predefined/two"}


def gateway_exe():
    exe = os.environ.get("MQTTSN_GATEWAY")
    if not exe:
        here = os.path.dirname(os.path.abspath(__file__))
        for cand in ("build-it", "build"):
            p = os.path.join(here, "..", "..", cand, "gateway", "mqttsn-gateway")
            if os.path.exists(p):
                return os.path.abspath(p)
        raise RuntimeError("set MQTTSN_GATEWAY to the mqttsn-gateway binary")
    return exe


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(kind=socket.SOCK_STREAM, v6_too=False):
    """A port free on 127.0.0.1 (and on ::1 when v6_too) at the time of asking, picked below the
    kernel's ephemeral range: a port from that range can be handed to another test's sensor socket
    (tests run side by side, some with thousands of sockets) before the gateway binds it."""
    low, _ = _ephemeral_range()
    for _ in range(200):
        # An unusual range (ephemeral ports from below 11000): let the kernel pick.
        port = random.randint(10000, low - 1) if low > 11000 else 0
        try:
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))
                port = s.getsockname()[1]
                if v6_too:
                    with socket.socket(socket.AF_INET6, kind) as s6:
                        s6.bind(("::1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def wait_until(pred, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Mosquitto:
    def __init__(self, workdir=None):
        self.port = free_port()
        self.dir = workdir or tempfile.mkdtemp(prefix="it-mosq-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log = os.path.join(self.dir, "mosquitto.log")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 10000\nlog_dest stderr\nlog_type error\nlog_type warning\n"
                    % self.port)
        self.proc = None

    def start(self):
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self._logf,
                                     stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: " + self.log_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        if not wait_until(up, 10):
            raise RuntimeError("mosquitto did not listen on %d: %s" % (self.port, self.log_text()))
        return self

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._logf.close()


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def default_protocol():
    # Short timers so lifecycle tests take seconds.
    return {"retry_interval_ms": 700, "retry_count": 2, "advertise_interval_s": 1,
            "max_buffered_per_client": 100}


def broker_mode():
    """The broker.mode the tests run the gateway in (MQTTSN_IT_MODE, default transparent)."""
    return os.environ.get("MQTTSN_IT_MODE", "transparent")


class Gateway:
    """The real mqttsn-gateway with a generated TOML config; stop() asserts a clean exit (0)."""

    def __init__(self, broker_uri, workdir=None, gw_id=7, protocol=None, predefined=None,
                 ipv6=True, extra_args=(), log_level="debug", sections=None, state_path=None,
                 mode=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="it-gw-")
        # broker.mode; MQTTSN_IT_MODE=aggregating runs a whole file in aggregating mode.
        self.mode = mode or broker_mode()
        self.gw_id = gw_id
        self.port = free_port(socket.SOCK_DGRAM, v6_too=ipv6)
        self.ipv6 = ipv6
        # The gateway ADVERTISEs to this socket (it also tells us when the broker link is up).
        self.adv_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.adv_sock.bind(("127.0.0.1", 0))
        self.adv_port = self.adv_sock.getsockname()[1]
        self.protocol = default_protocol()
        self.protocol.update(protocol or {})
        self.predefined = dict(PREDEFINED if predefined is None else predefined)
        listen = ["127.0.0.1:%d" % self.port] + (["[::1]:%d" % self.port] if ipv6 else [])
        lines = ["[gateway]", "id = %d" % gw_id, "log_level = %s" % _toml_value(log_level), "",
                 "[broker]", "uri = %s" % _toml_value(broker_uri), "connect_timeout_ms = 3000",
                 "mode = %s" % _toml_value(self.mode), "",
                 "[udp]", "listen = %s" % _toml_value(listen),
                 "advertise_to = %s" % _toml_value(["127.0.0.1:%d" % self.adv_port]), "",
                 "[topics.predefined]"]
        lines += ['"%d" = %s' % (k, _toml_value(v)) for k, v in sorted(self.predefined.items())]
        lines += ["", "[protocol]"] + ["%s = %s" % (k, _toml_value(v)) for k, v in self.protocol.items()]
        # [state] path: sessions kept across restarts (kill() / terminate() then start() again).
        self.state_path = state_path
        if state_path is not None:
            lines += ["", "[state]", "path = %s" % _toml_value(state_path)]
        # Further sections, e.g. {"admission": {...}, "status": {...}}, written last.
        for name, keys in (sections or {}).items():
            lines += ["", "[%s]" % name] + ["%s = %s" % (k, _toml_value(v)) for k, v in keys.items()]
        self.config = os.path.join(self.dir, "gateway.toml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = os.path.join(self.dir, "gateway.log")
        self.args = [gateway_exe(), "--config", self.config, "--log-level", log_level] + list(extra_args)
        self.proc = None
        self.exit_code = None

    @property
    def addr4(self):
        return ("127.0.0.1", self.port)

    @property
    def addr6(self):
        return ("::1", self.port)

    def start(self, ready_timeout=10):
        # Appends: a restarted gateway's log follows the first run's.
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self._logf, stderr=subprocess.STDOUT)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.settimeout(0.1)
        try:
            deadline = time.monotonic() + ready_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError("gateway exited with %s before it was ready:\n%s"
                                       % (self.proc.returncode, self.log_text()))
                probe.sendto(sn.searchgw(0), self.addr4)
                try:
                    data, _ = probe.recvfrom(65535)
                    p = sn.parse(data)
                    if p.type == sn.GWINFO:
                        return self
                except (socket.timeout, sn.MalformedPacket):
                    pass
            raise RuntimeError("gateway never answered SEARCHGW with GWINFO:\n" + self.log_text())
        finally:
            probe.close()

    def wait_advertise(self, timeout=5):
        """Next ADVERTISE at the advertise_to address, or None."""
        self.adv_sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.adv_sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.adv_sock.recvfrom(65535)
            except socket.timeout:
                return None
            try:
                p = sn.parse(data)
            except sn.MalformedPacket:
                continue
            if p.type == sn.ADVERTISE:
                return p
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return text[-60000:]

    def kill(self):
        """SIGKILL, as a crash: nothing is cleaned up. start() runs it again (same port, config)."""
        self.proc.kill()
        self.proc.wait()
        self._logf.close()

    def terminate(self, timeout=10):
        """A clean stop (SIGTERM) that can be followed by start(); returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = "killed after SIGTERM timeout"
        self._logf.close()
        return code

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, offset):
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def stop(self, timeout=10):
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_code = "killed after SIGTERM timeout"
        if self.exit_code is None:
            self.exit_code = self.proc.returncode
        self._logf.close()
        self.adv_sock.close()
        return self.exit_code


class ProtocolError(AssertionError):
    pass


class UdpLink:
    """A plain UDP socket talking to the gateway."""

    def __init__(self, gw_addr, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.gw_addr = gw_addr

    def send(self, raw):
        self.sock.sendto(raw, self.gw_addr)

    def recv(self, timeout):
        """Next datagram (bytes) or None on timeout."""
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return None
        data, _ = self.sock.recvfrom(65535)
        return data

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()


class Forwarder:
    """One UDP address carrying several wireless nodes with 0xFE encapsulation (§5.5)."""

    def __init__(self, gw_addr, family=socket.AF_INET):
        self.link = UdpLink(gw_addr, family)
        self.queues = {}
        self.unencapsulated = []  # anything that came back without encapsulation

    def node(self, node_id):
        node_id = bytes(node_id)
        self.queues.setdefault(node_id, [])
        return _NodeLink(self, node_id)

    def _pump(self, timeout):
        data = self.link.recv(timeout)
        if data is None:
            return False
        try:
            p = sn.parse(data)
        except sn.MalformedPacket:
            self.unencapsulated.append(data)
            return True
        if p.type != sn.ENCAPSULATED:
            self.unencapsulated.append(data)
            return True
        self.queues.setdefault(bytes(p.node_id), []).append(p.inner.raw)
        return True

    def close(self):
        self.link.close()


class _NodeLink:
    def __init__(self, fwd, node_id):
        self.fwd, self.node_id = fwd, node_id

    def send(self, raw):
        self.fwd.link.send(sn.encapsulate(self.node_id, raw))

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        q = self.fwd.queues[self.node_id]
        while not q:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self.fwd.unencapsulated:
                raise ProtocolError("forwarder got a reply without 0xFE encapsulation: %r"
                                    % self.fwd.unencapsulated)
            self.fwd._pump(left)
        return q.pop(0)

    def close(self):
        pass


class Sensor:
    """An MQTT-SN client driven step by step by a test. All helpers assert what they expect."""

    def __init__(self, gateway=None, family=socket.AF_INET, link=None, name="sensor"):
        if link is None:
            addr = gateway.addr6 if family == socket.AF_INET6 else gateway.addr4
            link = UdpLink(addr, family)
        self.link = link
        self.name = name
        self._mid = 0
        self.log = []  # (direction, Packet or raw) for failure messages
        self.pending = []  # packets received but not yet consumed by expect()

    # -- raw I/O
    def next_msg_id(self):
        self._mid = self._mid % 0xFFFF + 1
        return self._mid

    def send(self, raw):
        try:
            self.log.append((">", sn.parse(raw)))
        except sn.MalformedPacket:
            self.log.append((">", raw))
        self.link.send(raw)

    def recv(self, timeout=5.0):
        """Next packet from the gateway, or None."""
        if self.pending:
            return self.pending.pop(0)
        raw = self.link.recv(timeout)
        if raw is None:
            return None
        try:
            p = sn.parse(raw)
        except sn.MalformedPacket as e:
            raise ProtocolError("%s: gateway sent a malformed datagram: %s" % (self.name, e))
        self.log.append(("<", p))
        return p

    def history(self):
        return "\n".join("  %s %r" % e for e in self.log[-30:])

    def expect(self, msg_type, timeout=5.0, **fields):
        """The next packet must be msg_type (and match the given fields)."""
        p = self.recv(timeout)
        want = sn.TYPE_NAMES[msg_type]
        if p is None:
            raise ProtocolError("%s: expected %s within %.1fs, got nothing\n%s"
                                % (self.name, want, timeout, self.history()))
        if p.type != msg_type:
            raise ProtocolError("%s: expected %s, got %r\n%s" % (self.name, want, p, self.history()))
        for k, v in fields.items():
            if getattr(p, k, None) != v:
                raise ProtocolError("%s: expected %s with %s=%r, got %r\n%s"
                                    % (self.name, want, k, v, p, self.history()))
        return p

    def expect_nothing(self, duration=1.0):
        p = self.recv(duration)
        if p is not None:
            raise ProtocolError("%s: expected silence for %.1fs, got %r\n%s"
                                % (self.name, duration, p, self.history()))

    # -- procedures
    def connect(self, client_id, duration=60, clean=True, will=None, expect_rc=sn.ACCEPTED):
        """will = (topic, message, qos, retain) runs the §6.2 will prompting first."""
        self.client_id = client_id
        self.send(sn.connect(client_id, duration, clean=clean, will=will is not None))
        if will is not None:
            topic, msg, qos, retain = will
            self.expect(sn.WILLTOPICREQ)
            self.send(sn.willtopic(topic, qos, retain))
            self.expect(sn.WILLMSGREQ)
            self.send(sn.willmsg(msg))
        p = self.expect(sn.CONNACK, timeout=10)
        if expect_rc is not None and p.return_code != expect_rc:
            raise ProtocolError("%s: CONNACK return code %d, wanted %d\n%s"
                                % (self.name, p.return_code, expect_rc, self.history()))
        return p

    def register(self, topic_name):
        mid = self.next_msg_id()
        self.send(sn.register(0, mid, topic_name))
        p = self.expect(sn.REGACK, msg_id=mid, return_code=sn.ACCEPTED)
        assert p.topic_id not in (0x0000, 0xFFFF), "reserved topic id %r" % p
        return p.topic_id

    def publish(self, topic_id, data, qos=0, retain=False, topic_id_type=sn.TOPIC_NORMAL,
                long_length=False, expect_rc=sn.ACCEPTED):
        """Runs the whole client publish flow for qos 0/1/2/-1 and returns the final ack (or None)."""
        mid = self.next_msg_id() if qos in (1, 2) else 0
        self.send(sn.publish(topic_id, data, mid, qos, retain, topic_id_type=topic_id_type,
                             long_length=long_length))
        tid = sn.short_topic_id(topic_id) if isinstance(topic_id, str) else topic_id
        if qos == 1:
            return self.expect(sn.PUBACK, timeout=10, msg_id=mid, topic_id=tid, return_code=expect_rc)
        if qos == 2:
            self.expect(sn.PUBREC, timeout=10, msg_id=mid)
            self.send(sn.pubrel(mid))
            return self.expect(sn.PUBCOMP, timeout=10, msg_id=mid)
        return None

    def subscribe(self, topic, qos=0, topic_id_type=sn.TOPIC_NORMAL, expect_rc=sn.ACCEPTED):
        mid = self.next_msg_id()
        self.send(sn.subscribe(mid, topic, qos, topic_id_type))
        p = self.expect(sn.SUBACK, timeout=10, msg_id=mid)
        if expect_rc is not None and p.return_code != expect_rc:
            raise ProtocolError("%s: SUBACK return code %d\n%s" % (self.name, p.return_code, self.history()))
        return p

    def unsubscribe(self, topic, topic_id_type=sn.TOPIC_NORMAL):
        mid = self.next_msg_id()
        self.send(sn.unsubscribe(mid, topic, topic_id_type))
        return self.expect(sn.UNSUBACK, timeout=10, msg_id=mid)

    def ack(self, p):
        """Acknowledge a gateway PUBLISH or REGISTER as a well-behaved client (QoS 2: full flow)."""
        if p.type == sn.REGISTER:
            self.send(sn.regack(p.topic_id, p.msg_id, sn.ACCEPTED))
        elif p.type == sn.PUBLISH and p.qos == 1:
            self.send(sn.puback(p.topic_id, p.msg_id, sn.ACCEPTED))
        elif p.type == sn.PUBLISH and p.qos == 2:
            self.send(sn.pubrec(p.msg_id))
            self.expect(sn.PUBREL, msg_id=p.msg_id)
            self.send(sn.pubcomp(p.msg_id))

    def receive_publish(self, timeout=5.0, registrations=None):
        """Next gateway PUBLISH, acknowledged; REGISTERs before it are accepted and recorded
        in `registrations` (topic_id -> name)."""
        while True:
            p = self.recv(timeout)
            if p is None:
                raise ProtocolError("%s: expected PUBLISH within %.1fs, got nothing\n%s"
                                    % (self.name, timeout, self.history()))
            if p.type == sn.REGISTER:
                if registrations is not None:
                    registrations[p.topic_id] = p.topic_name
                self.ack(p)
                continue
            if p.type != sn.PUBLISH:
                raise ProtocolError("%s: expected PUBLISH, got %r\n%s" % (self.name, p, self.history()))
            self.ack(p)
            return p

    def pingreq(self, client_id=None):
        self.send(sn.pingreq(client_id))

    def disconnect(self, duration=None):
        self.send(sn.disconnect(duration))
        return self.expect(sn.DISCONNECT, timeout=10, duration=None)

    def close(self):
        self.link.close()


class Message:
    def __init__(self, m):
        self.topic, self.payload, self.qos, self.retain = m.topic, bytes(m.payload), m.qos, bool(m.retain)
        self.time = time.monotonic()

    def __repr__(self):
        return "Message(%r, %r, qos=%d, retain=%s)" % (self.topic, self.payload[:60], self.qos, self.retain)


class Observer:
    """A plain MQTT client on the broker: watches what the gateway forwards and injects downlink."""

    _n = 0

    def __init__(self, broker_port, client_id=None):
        Observer._n += 1
        self.client_id = client_id or "it-observer-%d-%d" % (os.getpid(), Observer._n)
        self.c = paho.Client(client_id=self.client_id, clean_session=True, protocol=paho.MQTTv311)
        self.messages = []
        self.cv = threading.Condition()
        self._subacks = queue.Queue()
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda c, u, mid, granted: self._subacks.put(mid)
        self.c.connect("127.0.0.1", broker_port, keepalive=30)
        self.c.loop_start()
        with self.cv:
            pass
        if not wait_until(self.c.is_connected, 10):
            raise RuntimeError("observer could not connect to the broker")

    def _on_message(self, c, u, m):
        with self.cv:
            self.messages.append(Message(m))
            self.cv.notify_all()

    def subscribe(self, topic_filter, qos=2):
        rc, mid = self.c.subscribe(topic_filter, qos)
        assert rc == paho.MQTT_ERR_SUCCESS
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self._subacks.get(timeout=0.1) == mid:
                    return
            except queue.Empty:
                pass
        raise RuntimeError("no SUBACK from the broker for %s" % topic_filter)

    def publish(self, topic, payload, qos=0, retain=False):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(10)
        assert info.is_published(), "broker did not take our publish on %s" % topic

    def on(self, topic):
        with self.cv:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic, count=1, timeout=10.0):
        """Wait until `count` messages on `topic` arrived; return them all (asserting enough came)."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                got = [m for m in self.messages if m.topic == topic]
                left = deadline - time.monotonic()
                if len(got) >= count or left <= 0:
                    break
                self.cv.wait(left)
        assert len(got) >= count, ("expected %d message(s) on %r at the broker, got %d; all: %r"
                                   % (count, topic, len(got), self.messages[-20:]))
        return got

    def wait_payload(self, topic, payload, timeout=10.0):
        payload = payload.encode() if isinstance(payload, str) else payload
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                got = [m for m in self.messages if m.topic == topic and m.payload == payload]
                left = deadline - time.monotonic()
                if got or left <= 0:
                    break
                self.cv.wait(left)
        assert got, "expected %r on %r at the broker; got %r" % (payload[:60], topic, self.messages[-20:])
        return got[0]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()
