"""Broker outage during QoS 1 traffic from 50 sensors: every acknowledged message arrives.

mosquitto runs with persistence, so what it acknowledged to the gateway and had not yet delivered to
the observer (a clean_session=False client with a QoS 1 subscription) survives the restart. The
broker is stopped with SIGTERM, which makes mosquitto write its database on exit. With SIGKILL only
the last autosave (autosave_interval 1) survives: what the broker acknowledged after it is lost by
the broker itself (measured: about 1 s of traffic, 100 messages, while the observer is offline), so
that variant tests mosquitto rather than the gateway and is not run.

The sensors behave like real ones: one QoS 1 PUBLISH in flight, retransmitted with DUP (same MsgId)
when no PUBACK comes within 1 s, PUBACK return codes handled, DISCONNECT from the gateway answered
by reconnecting, and after too many retries the gateway is considered lost and the sensor reconnects.
"""
import os
import select
import signal
import socket
import threading
import time

import paho.mqtt.client as paho
import pytest

import mqttsn_packets as sn
from harness import Mosquitto, Sensor, UdpLink, wait_until

N = 50
PUBLISH_INTERVAL = 0.5  # s between one sensor's messages: 100 msg/s in total
RETRY_INTERVAL = 1.0  # s without PUBACK before a DUP retransmission
RETRY_LIMIT = 5  # retransmissions before the sensor considers the gateway lost
OUTAGE = 3.0  # s the broker is down
DOWN_TOPIC = "outage/down"


class PersistentMosquitto(Mosquitto):
    """mosquitto that keeps sessions and queued QoS 1 messages across a restart on the same port."""

    def __init__(self, workdir):
        super().__init__(workdir)
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n"
                    "persistence true\npersistence_location %s/\nautosave_interval 1\n"
                    "max_queued_messages 100000\nmax_inflight_messages 0\n"
                    "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
                    % (self.port, self.dir))
            if os.geteuid() == 0:  # else mosquitto drops to user "mosquitto", who cannot write here
                f.write("user root\n")
        self.starts = 0

    def start(self):
        if self.starts:  # keep the first run's log for failure reports
            os.replace(self.log, "%s.%d" % (self.log, self.starts))
        self.starts += 1
        return super().start()

    def log_text(self):
        text = ""
        for i in range(1, self.starts):
            try:
                with open("%s.%d" % (self.log, i), "rb") as f:
                    text += "--- run %d ---\n%s" % (i, f.read().decode(errors="replace"))
            except OSError:
                pass
        return text + "--- current run ---\n" + super().log_text()


class PersistentObserver:
    """clean_session=False, fixed ClientId, QoS 1 subscription: counts (sensor, seq) across reconnects."""

    def __init__(self, port, topic_filter):
        self.topic_filter = topic_filter
        self.c = paho.Client(client_id="it-outage-obs-%d" % os.getpid(), clean_session=False,
                             protocol=paho.MQTTv311)
        self.c.reconnect_delay_set(min_delay=1, max_delay=1)
        self.lock = threading.Lock()
        self.received = []  # (sensor, seq)
        self.connects = []  # session_present flag of every CONNACK
        self.subscribed = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda c, u, mid, granted: self.subscribed.set()
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        assert self.subscribed.wait(10), "observer: no SUBACK"

    def _on_connect(self, c, u, flags, rc):
        with self.lock:
            self.connects.append(bool(flags.get("session present")))
        if rc == 0 and not flags.get("session present"):
            c.subscribe(self.topic_filter, 1)  # first connect, or the broker lost our session

    def _on_message(self, c, u, m):
        if m.topic == DOWN_TOPIC:
            return
        try:
            name, seq = bytes(m.payload).decode().split()
            key = (int(name[1:]), int(seq))
        except ValueError:
            return
        with self.lock:
            self.received.append(key)

    def pause(self):
        """Go offline: the broker queues for our session what it acknowledges meanwhile."""
        self.c.disconnect()
        self.c.loop_stop()

    def resume(self):
        self.c.reconnect()
        self.c.loop_start()

    def snapshot(self):
        with self.lock:
            return list(self.received)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class SimSensor:
    """One publishing sensor as a state machine driven by Fleet (one thread for all of them)."""

    def __init__(self, index, gw_addr, stats):
        self.i = index
        self.client_id = "outage-%02d" % index
        self.topic = "outage/%02d" % index
        self.link = UdpLink(gw_addr)
        self.stats = stats
        self.state = "connect"
        self.deadline = 0.0  # when to (re)send in the current state
        self.mid = 0
        self.topic_id = None
        self.next_seq = 0
        self.current = None  # seq in flight (or waiting to be resent)
        self.current_mid = None
        self.retries = 0
        self.mids = {}  # every MsgId we used for a PUBLISH -> seq (a late PUBACK still counts)
        self.next_publish = 0.0

    def _mid(self):
        self.mid = self.mid % 0xFFFF + 1
        return self.mid

    def tick(self, now, publishing):
        if now < self.deadline:
            return
        if self.state == "connect":
            self.link.send(sn.connect(self.client_id, 60, clean=True))
            self.stats["connects"] += 1
            self.deadline = now + 2.0
        elif self.state == "register":
            self.reg_mid = self._mid()
            self.link.send(sn.register(0, self.reg_mid, self.topic))
            self.deadline = now + RETRY_INTERVAL
        elif self.state == "active":
            if self.current_mid is not None:  # no PUBACK in time: DUP, same MsgId
                if self.retries >= RETRY_LIMIT:
                    self.stats["gave_up"] += 1
                    self._lost()
                    return
                self.retries += 1
                self.stats["retransmissions"] += 1
                self._send_current(now, dup=True)
            elif self.current is not None or (publishing and now >= self.next_publish):
                if self.current is None:
                    self.current = self.next_seq
                    self.next_seq += 1
                    self.stats["sent"] += 1
                    self.next_publish = now + PUBLISH_INTERVAL
                self.current_mid = self._mid()
                self.mids[self.current_mid] = self.current
                self.retries = 0
                self._send_current(now, dup=False)
            else:
                self.deadline = self.next_publish if publishing else now + 0.1

    def _send_current(self, now, dup):
        self.stats["transmissions"] += 1
        self.stats["first_sent"].setdefault((self.i, self.current), now)
        self.link.send(sn.publish(self.topic_id, b"s%02d %d" % (self.i, self.current), self.current_mid,
                                  qos=1, dup=dup))
        self.deadline = now + RETRY_INTERVAL

    def _lost(self):
        """Start over with CONNECT; the message in flight (if any) is sent again afterwards."""
        self.state, self.deadline, self.current_mid = "connect", 0.0, None

    def on_packet(self, p, now):
        st = self.stats
        if p.type == sn.DISCONNECT:
            st["disconnects"] += 1
            self._lost()
        elif p.type == sn.CONNACK and self.state == "connect":
            st["connack_rc"][p.return_code] = st["connack_rc"].get(p.return_code, 0) + 1
            if p.return_code == sn.ACCEPTED:
                self.state, self.deadline = "register", 0.0
            else:
                self.deadline = now + 0.5  # congestion: try again shortly
        elif p.type == sn.REGACK and self.state == "register" and p.msg_id == self.reg_mid:
            if p.return_code == sn.ACCEPTED:
                self.topic_id, self.state, self.deadline = p.topic_id, "active", 0.0
            else:
                self.deadline = now + 0.5
        elif p.type == sn.PUBACK:
            seq = self.mids.get(p.msg_id)
            if seq is None:
                st["stray"].append((self.i, p))
                return
            st["puback_rc"][p.return_code] = st["puback_rc"].get(p.return_code, 0) + 1
            if p.return_code == sn.ACCEPTED:
                st["acked"].setdefault((self.i, seq), now)
                if seq == self.current:  # also a late ack for an earlier MsgId of this message
                    self.current, self.current_mid, self.deadline = None, None, 0.0
                return
            if p.msg_id != self.current_mid:
                return  # a late refusal of an earlier transmission
            self.current_mid = None
            if p.return_code == sn.REJ_INVALID_TOPIC_ID:
                self.state, self.deadline = "register", 0.0
            elif p.return_code == sn.REJ_CONGESTION:
                self.deadline = now + 0.5  # resend later with a new MsgId
            else:
                st["not_supported"] += 1  # 0x03: drop this message
                self.current, self.deadline = None, 0.0
        elif p.type == sn.PUBLISH:
            st["unexpected"].append((self.i, p))


class Fleet(threading.Thread):
    def __init__(self, gw_addr):
        super().__init__(daemon=True)
        self.stats = {"sent": 0, "transmissions": 0, "retransmissions": 0, "connects": 0,
                      "disconnects": 0, "gave_up": 0, "not_supported": 0, "connack_rc": {},
                      "puback_rc": {}, "acked": {}, "first_sent": {}, "stray": [], "unexpected": []}
        self.sensors = [SimSensor(i, gw_addr, self.stats) for i in range(N)]
        self.by_fd = {s.link.fileno(): s for s in self.sensors}
        self.publishing = True
        self.running = True
        self.error = None

    def run(self):
        try:
            while self.running:
                now = time.monotonic()
                for s in self.sensors:
                    s.tick(now, self.publishing)
                r, _, _ = select.select(list(self.by_fd), [], [], 0.02)
                now = time.monotonic()
                for fd in r:
                    s = self.by_fd[fd]
                    raw = s.link.recv(0)
                    if raw is not None:
                        s.on_packet(sn.parse(raw), now)
        except Exception as e:  # surfaced by the test
            self.error = e

    def idle(self):
        return all(s.state == "active" and s.current is None for s in self.sensors)

    def stop(self):
        self.running = False
        self.join(5)
        for s in self.sensors:
            s.link.close()


@pytest.fixture
def pbroker(request, tmp_path):
    b = PersistentMosquitto(str(tmp_path)).start()
    request.node._brokers = getattr(request.node, "_brokers", []) + [b]
    yield b
    b.stop()


@pytest.fixture
def broker(pbroker):  # conftest's make_gateway takes its broker from here
    return pbroker


def _downlink(subscriber, observer_client, payload, timeout):
    """Publish `payload` on DOWN_TOPIC every second until the subscriber gets it; seconds taken or None."""
    t0 = time.monotonic()
    next_pub = t0
    while time.monotonic() - t0 < timeout:
        if time.monotonic() >= next_pub:
            observer_client.publish(DOWN_TOPIC, payload, qos=1)
            next_pub += 1.0
        p = subscriber.recv(0.1)
        if p is None:
            continue
        if p.type == sn.PUBLISH:
            subscriber.ack(p)
            if p.data == payload:
                return time.monotonic() - t0
        elif p.type == sn.DISCONNECT:
            raise AssertionError("subscriber got DISCONNECT from the gateway: %r" % p)
        elif p.type == sn.REGISTER:
            subscriber.ack(p)
    return None


def _publish_during_outage(sensor, topic_id, qos):
    """Seconds until PUBACK 0x01 answered a QoS 1/2 PUBLISH, or None if none came within 1 s."""
    mid = sensor.next_msg_id()
    t0 = time.monotonic()
    sensor.send(sn.publish(topic_id, b"during", mid, qos))
    while time.monotonic() - t0 < 1.0:
        p = sensor.recv(0.1)
        if p is not None and p.type == sn.PUBACK and p.msg_id == mid:
            return time.monotonic() - t0 if p.return_code == sn.REJ_CONGESTION else None
    return None


def test_broker_restart_during_qos1_traffic_loses_nothing_acknowledged(pbroker, make_gateway, tmp_path):
    broker = pbroker
    gateway = make_gateway()
    observer = PersistentObserver(broker.port, "outage/#")
    subscriber = Sensor(gateway, name="subscriber")
    subscriber.connect("outage-sub", duration=60, clean=True)
    subscriber.subscribe(DOWN_TOPIC, qos=1)
    quiet = Sensor(gateway, name="quiet")  # publishes only during the outage
    quiet.connect("outage-quiet", duration=60, clean=True)
    quiet_topic = quiet.register("outage/quiet")
    fleet = Fleet(gateway.addr4)
    figures = {}
    try:
        assert _downlink(subscriber, observer.c, b"before", 5) is not None, "no downlink before the outage"
        fleet.start()
        assert wait_until(lambda: len(fleet.stats["acked"]) >= 2 * N, 15), \
            "traffic never got going: %r" % {k: v for k, v in fleet.stats.items() if k != "first_sent"}
        time.sleep(1.0)
        # Offline for the last second before the kill and for the outage: what the broker acknowledged
        # to the gateway then can only reach the observer through the broker's saved state.
        observer.pause()
        time.sleep(1.0)

        # --- outage: SIGTERM (mosquitto saves its database on the way out)
        broker.proc.send_signal(signal.SIGTERM)
        broker.proc.wait(10)
        t_down = time.monotonic()
        acked_before_kill = len(fleet.stats["acked"])
        # A QoS 1/2 PUBLISH while the sensor's upstream is down: PUBACK 0x01 at once (§5.4.12), so
        # the sensor waits and resends instead of spending its retries.
        # The gateway learns of the loss from the closed socket; give it until then.
        assert wait_until(lambda: _publish_during_outage(quiet, quiet_topic, 1) is not None, 5, 0), \
            "no PUBACK 0x01 for a QoS 1 PUBLISH during the outage\n" + quiet.history()
        # A CONNECT while the upstream is down (known now, from the PUBACK above): CONNACK 0x01 at once.
        probe = Sensor(gateway, name="probe")
        t0 = time.monotonic()
        probe.send(sn.connect("outage-probe", 60))
        p = probe.expect(sn.CONNACK, timeout=5)
        figures["probe CONNACK during outage"] = "rc=0x%02x after %.2f s" % (p.return_code, time.monotonic() - t0)
        assert p.return_code == sn.REJ_CONGESTION, p
        assert time.monotonic() - t0 < 2.0, "CONNACK 0x01 not prompt: %s" % figures
        probe.close()
        for qos in (1, 2):
            took = _publish_during_outage(quiet, quiet_topic, qos)
            figures["QoS %d PUBACK 0x01 during outage s" % qos] = took
            assert took is not None and took < 0.5, "PUBACK 0x01 not prompt: %s\n%s" % (
                figures, quiet.history())
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - t_down)))
        broker._logf.close()
        t_restart = time.monotonic()
        broker.start()
        t_up = time.monotonic()
        observer.resume()

        # An ACCEPTED PUBACK for a PUBLISH first sent while the broker was down (and acknowledged
        # before it came back) is a lie: the broker cannot have it.
        lies = sorted(k for k, t in fleet.stats["acked"].items()
                      if t < t_restart and fleet.stats["first_sent"].get(k, 0) > t_down + 0.2)
        assert not lies, "PUBACK 0x00 while the broker was down for %d messages, e.g. %r" % (len(lies), lies[:5])

        # --- recovery: every sensor gets a message acknowledged again without a gateway restart
        def all_recovered():
            done = {i for (i, _), t in fleet.stats["acked"].items() if t > t_up}
            return len(done) == N
        recovered = wait_until(all_recovered, 20, 0.1)
        figures["recovery (all 50 acked again) s"] = round(time.monotonic() - t_up, 2) if recovered else None
        assert recovered, "not all sensors recovered after the broker restart: %r" % sorted(
            set(range(N)) - {i for (i, _), t in fleet.stats["acked"].items() if t > t_up})

        took = _downlink(subscriber, observer.c, b"after", 10)
        figures["downlink after restart s"] = took
        assert took is not None, "subscription not restored: no downlink after the restart"
        time.sleep(2.0)

        # --- stop: no new messages; let the ones in flight finish, then let the observer catch up
        fleet.publishing = False
        wait_until(fleet.idle, 10, 0.1)
        acked = set(fleet.stats["acked"])
        wait_until(lambda: acked <= set(observer.snapshot()), 10, 0.1)
    finally:
        fleet.stop()
        quiet.close()
        observer.close()
        subscriber.close()

    assert fleet.error is None, fleet.error
    got = observer.snapshot()
    unique = set(got)
    missing = sorted(acked - unique)
    st = fleet.stats
    figures.update({
        "sent": st["sent"], "transmissions": st["transmissions"],
        "retransmissions (DUP)": st["retransmissions"], "acknowledged (PUBACK 0x00)": len(acked),
        "acknowledged before kill": acked_before_kill, "delivered (unique)": len(unique),
        "duplicates at observer": len(got) - len(unique), "acknowledged but missing": len(missing),
        "delivered but never acknowledged": len(unique - acked), "PUBACK return codes": st["puback_rc"],
        "CONNACK return codes": st["connack_rc"], "DISCONNECTs from gateway": st["disconnects"],
        "sensors that gave up (retry limit)": st["gave_up"], "sent but never acknowledged":
        st["sent"] - len({k for k in acked}), "observer connects (session present)": observer.connects,
    })
    print("\nbroker outage figures:")
    for k, v in figures.items():
        print("  %-40s %s" % (k, v))
    assert not st["stray"], "PUBACK for unknown MsgIds: %r" % st["stray"][:5]
    assert not st["unexpected"], "unexpected PUBLISH to a publishing sensor: %r" % st["unexpected"][:5]
    assert observer.connects[1:] and all(observer.connects[1:]), \
        "the observer's session did not survive the restart (test setup): %r" % observer.connects
    assert not missing, "%d acknowledged messages never arrived, e.g. %r; figures %r" % (
        len(missing), missing[:10], figures)
