"""The gateway as a systemd service: sd_notify messages, SIGTERM with the broker down, SIGHUP reload.

Runs the real mqttsn-gateway (MQTTSN_GATEWAY) against a real mosquitto, through the integration
harness; NOTIFY_SOCKET is a unix datagram socket this test binds.
"""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Gateway, Mosquitto, Observer, Sensor, free_port, wait_until  # noqa: E402
import mqttsn_packets as sn  # noqa: E402


class NotifySocket:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def pump(self, timeout):
        """Reads datagrams for up to `timeout` s; returns every line seen so far."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                break
            self.messages += data.decode().split("\n")
        return self.messages

    def wait(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(m) for m in self.pump(0.1)):
                return True
        return False

    def close(self):
        self.sock.close()


@pytest.fixture
def broker(tmp_path):
    os.makedirs(tmp_path / "broker")
    b = Mosquitto(workdir=str(tmp_path / "broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def notify_env(tmp_path, monkeypatch):
    ns = NotifySocket(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", ns.path)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WATCHDOG=1 every 200 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield ns
    ns.close()


def test_ready_status_watchdog_stopping(broker, notify_env, tmp_path):
    os.makedirs(tmp_path / "gw")
    gw = Gateway(broker.uri, workdir=str(tmp_path / "gw")).start()
    try:
        assert notify_env.wait(lambda m: m == "READY=1"), notify_env.messages
        assert notify_env.wait(lambda m: m.startswith("STATUS=") and "sensors:" in m), notify_env.messages
        n = len([m for m in notify_env.pump(1.0) if m == "WATCHDOG=1"])
        assert n >= 3, notify_env.messages  # ~5 in 1 s at 200 ms
        # A connected sensor shows in the next STATUS= line.
        s = Sensor(gw)
        s.connect("daemon-status")
        assert notify_env.wait(lambda m: m.startswith("STATUS=1 sensors: 1 active"), timeout=10), \
            notify_env.messages
        s.close()
    finally:
        rc = gw.stop()
    assert rc == 0, gw.log_text()
    assert "STOPPING=1" in notify_env.pump(0.5)


def test_sigterm_with_broker_down_exits_quickly(notify_env, tmp_path):
    dead = "tcp://127.0.0.1:%d" % free_port()
    os.makedirs(tmp_path / "gw")
    gw = Gateway(dead, workdir=str(tmp_path / "gw"))
    gw._logf = open(gw.log, "wb")
    # Not gw.start(): that waits for GWINFO, which needs the broker.
    gw.proc = subprocess.Popen(gw.args, stdout=gw._logf, stderr=subprocess.STDOUT)
    # Ready while the broker is still being retried.
    assert notify_env.wait(lambda m: m == "READY=1"), gw.log_text()
    assert notify_env.wait(lambda m: "broker unreachable" in m), notify_env.messages
    t0 = time.monotonic()
    rc = gw.stop(timeout=10)
    assert rc == 0, gw.log_text()
    assert time.monotonic() - t0 < 5, gw.log_text()


def _publish_m1(gw, obs, topic_id, topic, payload):
    """QoS -1 is fire and forget (dropped while the gateway's broker link is still coming up):
    send until the broker-side observer has it."""
    s = Sensor(gw)
    try:
        for _ in range(10):
            s.send(sn.publish(topic_id, payload, qos=-1, topic_id_type=sn.TOPIC_PREDEFINED))
            if wait_until(lambda: any(m.payload == payload for m in obs.on(topic)), 1):
                return
        raise AssertionError("QoS -1 publish to %s never arrived:\n%s" % (topic, gw.log_text()))
    finally:
        s.close()


def _rewrite(gw, text_from_old):
    with open(gw.config) as f:
        old = f.read()
    with open(gw.config, "w") as f:
        f.write(text_from_old(old))


def _reloaded(gw, count):
    return wait_until(lambda: gw.log_text().count("reload:") >= count, 10)


def test_sighup_valid_file_adds_predefined_topic(broker, tmp_path):
    os.makedirs(tmp_path / "gw")
    gw = Gateway(broker.uri, workdir=str(tmp_path / "gw")).start()
    obs = None
    try:
        obs = Observer(broker.port)
        obs.subscribe("sensors/predefined/#")
        _rewrite(gw, lambda old: old.replace("[topics.predefined]\n",
                                             '[topics.predefined]\n"3" = "sensors/predefined/three"\n'))
        gw.proc.send_signal(signal.SIGHUP)
        assert _reloaded(gw, 1), gw.log_text()
        assert "predefined topics: +1 -0" in gw.log_text(), gw.log_text()
        _publish_m1(gw, obs, 3, "sensors/predefined/three", b"after reload")
    finally:
        if obs:
            obs.close()
        rc = gw.stop()
    assert rc == 0, gw.log_text()


def test_sighup_broken_file_keeps_old_config(broker, tmp_path):
    os.makedirs(tmp_path / "gw")
    gw = Gateway(broker.uri, workdir=str(tmp_path / "gw")).start()
    obs = None
    try:
        obs = Observer(broker.port)
        obs.subscribe("sensors/predefined/#")
        _rewrite(gw, lambda old: old + "\n[protocol\nretry_count = 'many'\n")
        gw.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "refused, the old configuration stays in force" in gw.log_text(), 10), \
            gw.log_text()
        assert gw.alive()
        _publish_m1(gw, obs, 1, "sensors/predefined/one", b"still here")
    finally:
        if obs:
            obs.close()
        rc = gw.stop()
    assert rc == 0, gw.log_text()


def test_journal_format_under_systemd(broker, tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")  # what systemd sets for a journal stderr
    os.makedirs(tmp_path / "gw")
    gw = Gateway(broker.uri, workdir=str(tmp_path / "gw")).start()
    try:
        s = Sensor(gw)
        s.connect("journal-sensor")
        assert wait_until(lambda: "journal-sensor" in gw.log_text(), 10), gw.log_text()
        s.close()
    finally:
        rc = gw.stop()
    assert rc == 0, gw.log_text()
    lines = [l for l in gw.log_text().splitlines() if l]
    assert lines and all(l[0] == "<" and l[1] in "01234567" and l[2] == ">" for l in lines), lines[:5]
    # journald adds the time: no timestamp of ours.
    assert not any(l[3:7].isdigit() and l[7] == "-" for l in lines), lines[:5]
    assert any(l.startswith("<6>") and "journal-sensor" in l for l in lines), lines


def assert_retained_offline(port, topic):
    """A subscriber that arrives now is handed the retained {"online": false} on `topic`."""
    import json
    late = Observer(port)
    try:
        late.subscribe(topic)
        assert wait_until(lambda: late.on(topic), 5)
        assert json.loads(late.on(topic)[0].payload) == {"online": False}
        assert late.on(topic)[0].retain
    finally:
        late.close()


def test_status_topics_after_known_traffic(broker, tmp_path):
    import json
    os.makedirs(tmp_path / "gw")
    gw = Gateway(broker.uri, workdir=str(tmp_path / "gw"), gw_id=9)
    with open(gw.config, "a") as f:
        f.write("\n[status]\ninterval_s = 1\n")
    obs = Observer(broker.port)
    obs.subscribe("mqttsn-gateway/9/#")
    obs.subscribe("app/#")
    gw.start()
    try:
        s = Sensor(gw)
        s.connect("status-sensor")
        tid = s.register("app/data")
        for i in range(3):
            s.publish(tid, b"m%d" % i, qos=0)
        obs.wait_for("app/data", 3)

        def latest(topic):
            got = obs.on(topic)
            return got[-1].payload if got else None

        def status_ok():
            p = latest("mqttsn-gateway/9/status")
            if not p:
                return False
            st = json.loads(p)
            return st["sensors"]["active"] == 1 and st["messages"]["in"] >= 5
        assert wait_until(status_ok, 10), obs.on("mqttsn-gateway/9/status")[-1:]
        st = json.loads(latest("mqttsn-gateway/9/status"))
        assert st["online"] is True
        assert st["by_transport"] == {"udp": 1, "ble": 0, "dtls": 0}
        assert st["sensors"] == {"active": 1, "asleep": 0, "awake": 0, "connecting": 0}
        assert st["malformed"] == 0 and st["uptime_s"] >= 0
        assert st["messages"]["out"] >= 2, st  # CONNACK and REGACK at least
        # Published right after <prefix>/status in the same tick.
        assert wait_until(lambda: latest("mqttsn-gateway/9/sensors/status-sensor"), 5), [(m.topic, m.payload) for m in obs.messages]
        sensor = json.loads(latest("mqttsn-gateway/9/sensors/status-sensor"))
        assert sensor["state"] == "active" and sensor["transport"] == "udp"
        assert sensor["address"].startswith("udp:127.0.0.1:"), sensor
        # last_seen: the wall-clock time of its last packet (ISO-8601 UTC) and how long ago.
        import calendar
        first_seen = calendar.timegm(time.strptime(sensor["last_seen"], "%Y-%m-%dT%H:%M:%SZ"))
        assert abs(first_seen - time.time()) <= 3, sensor
        assert 0 <= sensor["last_seen_s"] <= 3, sensor
        assert "rssi" not in sensor and "mtu" not in sensor, sensor  # radio figures are BLE only
        # Silence: last_seen stays, last_seen_s grows; one more packet moves last_seen on.
        assert wait_until(lambda: json.loads(latest("mqttsn-gateway/9/sensors/status-sensor"))["last_seen_s"] >= 2,
                          10), latest("mqttsn-gateway/9/sensors/status-sensor")
        quiet = json.loads(latest("mqttsn-gateway/9/sensors/status-sensor"))
        assert quiet["last_seen"] == sensor["last_seen"] or \
            abs(calendar.timegm(time.strptime(quiet["last_seen"], "%Y-%m-%dT%H:%M:%SZ")) - first_seen) <= 1, quiet
        s.publish(tid, b"later", qos=0)
        obs.wait_for("app/data", 4)

        def seen_again():
            st = json.loads(latest("mqttsn-gateway/9/sensors/status-sensor"))
            return st["last_seen_s"] <= 1 and \
                calendar.timegm(time.strptime(st["last_seen"], "%Y-%m-%dT%H:%M:%SZ")) >= first_seen + 2
        assert wait_until(seen_again, 10), latest("mqttsn-gateway/9/sensors/status-sensor")
        # Session ends: its retained topic is emptied.
        s.disconnect()
        assert wait_until(lambda: latest("mqttsn-gateway/9/sensors/status-sensor") == b"", 10)
        s.close()
    finally:
        rc = gw.stop()
    assert rc == 0, gw.log_text()
    # Clean stop: offline is published (retained).
    assert wait_until(lambda: obs.on("mqttsn-gateway/9/status")
                      and json.loads(obs.on("mqttsn-gateway/9/status")[-1].payload) == {"online": False}, 5)
    try:
        assert_retained_offline(broker.port, "mqttsn-gateway/9/status")
    finally:
        obs.close()


def test_killed_gateway_shows_offline_through_its_will(broker, tmp_path):
    """A gateway that dies without a clean stop is shown offline by the broker (the shared
    client's MQTT will), not left "online" for ever."""
    import json
    os.makedirs(tmp_path / "gw")
    gw = Gateway(broker.uri, workdir=str(tmp_path / "gw"), gw_id=11)
    with open(gw.config, "a") as f:
        f.write("\n[status]\ninterval_s = 1\n")
    obs = Observer(broker.port)
    obs.subscribe("mqttsn-gateway/11/status")
    gw.start()
    try:
        assert wait_until(lambda: any(json.loads(m.payload).get("online") is True
                                      for m in obs.on("mqttsn-gateway/11/status")), 10)
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait(timeout=5)
        # The broker notices the dead TCP connection at once (RST) and publishes the will.
        assert wait_until(lambda: json.loads(obs.on("mqttsn-gateway/11/status")[-1].payload)
                          == {"online": False}, 10), obs.on("mqttsn-gateway/11/status")[-1:]
        assert_retained_offline(broker.port, "mqttsn-gateway/11/status")
    finally:
        obs.close()
