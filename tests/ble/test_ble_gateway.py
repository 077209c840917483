"""End to end over BLE: the real mqttsn-gateway with [ble] enabled, fake_bluez.py on a private
dbus-daemon, and a real mosquitto. The sensor's MQTT-SN messages go up as TX notifications; the
gateway's answers come back as RX writes. Reuses tests/integration's harness (Sensor, Observer...)
with a BLE link in place of the UDP socket.
"""

import calendar
import json
import os
import re
import signal
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from ble_harness import Bus, wait_until  # noqa: E402
from harness import Gateway, Mosquitto, Observer, Sensor, free_port  # noqa: E402
import mqttsn_packets as sn  # noqa: E402

SENSOR = "C0:FF:EE:00:00:01"


class BleLink:
    """A sensor's side of the BLE link, through the fake's test controls."""

    def __init__(self, bus, addr):
        self.bus, self.addr = bus, addr
        self.seen = 0  # writes already consumed
        self.partial, self.need = b"", 0

    def send(self, raw):
        self.bus.notify_message(self.addr, raw)

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            chunks = self.bus.written(self.addr)
            while self.seen < len(chunks):
                c = chunks[self.seen]
                self.seen += 1
                if not self.partial:
                    self.need = c[0] if c[0] != 0x01 else (c[1] << 8) | c[2]
                self.partial += c
                if len(self.partial) >= self.need:
                    msg, self.partial = self.partial, b""
                    # Leave the rest for the next call.
                    return msg
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def close(self):
        pass


@pytest.fixture
def bus(monkeypatch):
    b = Bus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", b.address)
    b.control.AddSensor(SENSOR, "sensor1", -50, True)
    yield b
    b.close()


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(str(tmp_path)).start()
    yield b
    b.stop()


def ready(bus, timeout=15):
    wait_until(lambda: bus.state(SENSOR)["notifying"], timeout, "sensor connected and notifying")


@pytest.fixture
def gateway(bus, broker, tmp_path):
    gw = Gateway(broker.uri, workdir=str(tmp_path), protocol={"retry_interval_ms": 2000})
    with open(gw.config, "a") as f:
        f.write('\n[ble]\nenabled = true\nallow = ["%s"]\n' % SENSOR.lower())
        f.write("\n[status]\ninterval_s = 1\n")
        gw.metrics_port = free_port()
        f.write('\n[metrics]\nlisten = "127.0.0.1:%d"\n' % gw.metrics_port)
    gw.start()
    time.sleep(0.3)
    if "not built into this gateway" in gw.log_text() or "without BLE" in gw.log_text():
        gw.stop()
        pytest.skip("this mqttsn-gateway has no BLE transport wired in yet")
    try:
        ready(bus)
    except AssertionError:
        print(gw.log_text())
        raise
    yield gw
    rc = gw.stop()
    if rc is not None and rc != 0 and bus.daemon.poll() is None:
        print(gw.log_text())
        raise AssertionError("gateway exit code %r" % rc)


@pytest.fixture
def observer(broker):
    o = Observer(broker.port)
    yield o
    o.close()


def test_connect_register_publish_qos1_reach_the_broker(bus, gateway, observer):
    observer.subscribe("ble/#")
    s = Sensor(link=BleLink(bus, SENSOR), name="ble-sensor")
    s.connect("ble-sensor-1")
    tid = s.register("ble/temperature")
    s.publish(tid, b"21.5", qos=1)
    observer.wait_payload("ble/temperature", b"21.5")


def test_300_bytes_each_way_through_the_gateway(bus, gateway, observer):
    observer.subscribe("ble/#")
    s = Sensor(link=BleLink(bus, SENSOR), name="ble-sensor")
    s.connect("ble-sensor-2")
    up = bytes(i % 251 for i in range(300))
    tid = s.register("ble/big")
    s.publish(tid, up, qos=1, long_length=True)
    observer.wait_payload("ble/big", up)
    s.subscribe("ble/down", qos=1)
    down = bytes((i * 7) % 253 for i in range(300))
    observer.publish("ble/down", down, qos=1)
    p = s.receive_publish(timeout=10)
    assert p.data == down


def test_link_drop_keeps_the_session(bus, gateway, observer):
    observer.subscribe("ble/#")
    s = Sensor(link=BleLink(bus, SENSOR), name="ble-sensor")
    s.connect("ble-sensor-3", duration=60)
    tid = s.register("ble/after-drop")
    bus.control.DropLink(SENSOR)
    wait_until(lambda: not bus.state(SENSOR)["notifying"], 5, "link down")
    ready(bus)
    s.publish(tid, b"still here", qos=1)  # same session, same topic id, no new CONNECT
    observer.wait_payload("ble/after-drop", b"still here")


def test_sleeping_ble_sensor_gets_its_buffer(bus, gateway, observer):
    s = Sensor(link=BleLink(bus, SENSOR), name="ble-sensor")
    s.connect("ble-sleeper", duration=60)
    s.subscribe("ble/cmd", qos=1)
    s.disconnect(duration=60)  # asleep
    bus.control.SetInRange(SENSOR, False)  # radio off while asleep
    observer.publish("ble/cmd", b"wake up", qos=1)
    time.sleep(0.5)
    bus.control.SetInRange(SENSOR, True)
    ready(bus)
    s.pingreq("ble-sleeper")
    p = s.receive_publish(timeout=10)
    assert p.data == b"wake up"
    s.expect(sn.PINGRESP, timeout=10)


def test_dbus_connection_lost_makes_the_gateway_exit_nonzero(bus, gateway):
    bus.kill_bus()
    gateway.proc.wait(15)
    assert gateway.proc.returncode not in (0, None)
    assert "D-Bus connection lost" in gateway.log_text()


OTHER = "C0:FF:EE:00:00:03"


def test_sighup_with_a_new_allow_list_swaps_the_sensors(bus, gateway, observer):
    """[ble] allow is applied live: the refused sensor is connected and works end to end, the one
    taken off the list is dropped and left alone."""
    bus.control.AddSensor(OTHER, "sensor2", -45, True)
    wait_until(lambda: "ignoring " + OTHER in gateway.log_text(), 10, "other sensor refused")
    assert bus.state(OTHER)["pair_calls"] == 0 and not bus.state(OTHER)["connected"]
    with open(gateway.config) as f:
        text = f.read()
    with open(gateway.config, "w") as f:
        f.write(text.replace('allow = ["%s"]' % SENSOR.lower(), 'allow = ["%s"]' % OTHER))
    os.kill(gateway.proc.pid, signal.SIGHUP)
    wait_until(lambda: bus.state(OTHER)["notifying"], 15, "newly allowed sensor connected")
    wait_until(lambda: not bus.state(SENSOR)["connected"], 5, "dropped sensor disconnected")
    log = gateway.log_text()
    assert "reload: ble.allow: +1 -1" in log, log
    assert "needs a restart" not in log, log
    assert re.search(r"BLE: allow-list changed: 1 allowed now, added \[%s\], removed \[%s\]" % (OTHER, SENSOR),
                     log), log
    connects = bus.state(SENSOR)["connect_calls"]
    time.sleep(2.5)  # past the 1 s reconnect back-off
    assert not bus.state(SENSOR)["connected"] and bus.state(SENSOR)["connect_calls"] == connects

    observer.subscribe("ble/#")
    s = Sensor(link=BleLink(bus, OTHER), name="ble-other")
    s.connect("ble-other-1")
    tid = s.register("ble/other")
    s.publish(tid, b"let in by SIGHUP", qos=1)
    observer.wait_payload("ble/other", b"let in by SIGHUP")


def test_sensor_status_has_rssi_mtu_and_last_seen(bus, gateway, observer):
    topic = "mqttsn-gateway/7/sensors/ble-status-1"
    observer.subscribe(topic)
    s = Sensor(link=BleLink(bus, SENSOR), name="ble-status")
    s.connect("ble-status-1", duration=60)
    tid = s.register("ble/status")
    s.publish(tid, b"x", qos=1)
    sent_at = time.time()

    def latest():
        got = [m for m in observer.on(topic) if m.payload]
        return json.loads(got[-1].payload) if got else None

    wait_until(lambda: latest() is not None, 10, "sensor status")
    st = latest()
    assert st["transport"] == "ble" and st["address"] == "ble:" + SENSOR, st
    assert st["rssi"] == -50 and st["mtu"] == 23, st
    seen = calendar.timegm(time.strptime(st["last_seen"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(seen - sent_at) <= 3, (st, sent_at)
    assert 0 <= st["last_seen_s"] <= 3, st
    bus.control.SetMtu(SENSOR, 247)
    wait_until(lambda: latest()["mtu"] == 247, 10, "new MTU in the status")


def test_metrics_count_the_ble_link(bus, gateway, observer):
    import urllib.request

    def scrape():
        url = "http://127.0.0.1:%d/metrics" % gateway.metrics_port
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    # The allow-listed sensor is connected (the fixture waited for it): one GATT link.
    text = scrape()
    assert 'mqttsn_gateway_ble_links{adapter="hci0"} 1\n' in text
    assert 'mqttsn_gateway_ble_max_connections{adapter="hci0"} 5\n' in text
    assert 'mqttsn_gateway_ble_connects_refused_total{adapter="hci0"} 0\n' in text
    s = Sensor(link=BleLink(bus, SENSOR), name="ble-metrics")
    s.connect("ble-metrics-1", duration=60)
    text = scrape()
    assert 'mqttsn_gateway_sensors_by_transport{transport="ble"} 1\n' in text, text
    assert 'mqttsn_gateway_sensors_by_transport{transport="udp"} 0\n' in text, text
