"""BLE at fleet scale, end to end: the real mqttsn-gateway, fake_bluez.py with several adapters that
refuse links beyond their limit like a controller, and a real mosquitto. More sensors than slots;
sleeping sensors give their links up; an adapter goes away mid-run.

Prints the figures docs/ble.md quotes (time until every sensor published, links per adapter,
refused connects); run with `pytest -s` to see them.
"""

import json
import os
import sys
import threading
import time

import dbus
import dbus.bus
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from ble_harness import Bus, wait_until  # noqa: E402
from harness import Gateway, Mosquitto, Observer, Sensor  # noqa: E402
import mqttsn_packets as sn  # noqa: E402
from test_ble_gateway import BleLink  # noqa: E402

ADDRS = ["C0:FF:EE:00:01:%02X" % i for i in range(10)]
AWAKE = ADDRS[9]  # stays awake (mid-exchange) for the whole run


class Sampler:
    """Links per adapter, read from the fake every 100 ms on its own bus connection."""

    def __init__(self, address, adapters):
        self.adapters = adapters
        self.max = {a: 0 for a in adapters}
        self.timeline = []  # (seconds, {adapter: links})
        self.stop_flag = False
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self.run, args=(address,), daemon=True)
        self.thread.start()

    def run(self, address):
        conn = dbus.bus.BusConnection(address)
        control = dbus.Interface(conn.get_object("org.example.FakeBlueZ", "/test"),
                                 "org.example.FakeBlueZ.Control")
        while not self.stop_flag:
            now = {}
            for a in self.adapters:
                try:
                    now[a] = int(control.AdapterStats(a)["links"])
                except dbus.DBusException:
                    now[a] = 0
                self.max[a] = max(self.max[a], now[a])
            self.timeline.append((time.monotonic() - self.t0, now))
            time.sleep(0.1)
        conn.close()

    def stop(self):
        self.stop_flag = True
        self.thread.join(5)


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(str(tmp_path)).start()
    yield b
    b.stop()


@pytest.fixture
def observer(broker):
    o = Observer(broker.port)
    yield o
    o.close()


def start_gateway(bus, broker, tmp_path, ble_lines):
    gw = Gateway(broker.uri, workdir=str(tmp_path), protocol={"retry_interval_ms": 2000})
    with open(gw.config, "a") as f:
        f.write("\n[ble]\nenabled = true\n" + "".join(line + "\n" for line in ble_lines))
        f.write("\n[status]\ninterval_s = 1\n")
    gw.start()
    return gw


def allow(addrs):
    return "allow = [%s]" % ", ".join('"%s"' % a for a in addrs)


def attempts(st):
    """Links the gateway asked for: the first one comes through Pair."""
    return int(st["connect_calls"]) + int(st["pair_calls"])


def stats(bus, adapter):
    return {str(k): int(v) for k, v in bus.control.AdapterStats(adapter).items()}


def serve(bus, sensors, addrs, step, deadline):
    """Runs step(addr) for each sensor as soon as it has a link; returns when all are done."""
    pending = list(addrs)
    while pending:
        assert time.monotonic() < deadline, "no link for %s" % pending
        for a in list(pending):
            if bus.state(a)["notifying"]:
                step(a)
                pending.remove(a)
        time.sleep(0.05)


def test_ten_sensors_on_two_adapters_with_three_slots(tmp_path, broker, observer, monkeypatch):
    bus = Bus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    try:
        bus.control.AddAdapter("hci0", 3, True)
        bus.control.AddAdapter("hci1", 3, True)
        bus.control.AddSensor(AWAKE, "awake", -40, True)
        sampler = Sampler(bus.address, ["hci0", "hci1"])
        gw = start_gateway(bus, broker, tmp_path, [
            'adapters = ["hci0", "hci1"]', "max_connections = 3", "idle_disconnect_s = 0",
            allow(ADDRS)])
        try:
            wait_until(lambda: bus.state(AWAKE)["notifying"], 15, "the awake sensor's link")
            for i, a in enumerate(ADDRS[:9]):
                bus.control.AddSensor(a, "s%d" % i, -60 - i, True)
            run_fleet(bus, gw, observer, sampler)
        except BaseException:
            print(gw.log_text()[-20000:])
            raise
        finally:
            sampler.stop()
            gw.stop()
    finally:
        bus.close()


def run_fleet(bus, gw, observer, sampler):
    t0 = time.monotonic()
    sensors = {a: Sensor(link=BleLink(bus, a), name="ble-" + a[-2:]) for a in ADDRS}
    cid = {a: "fleet-" + a[-2:] for a in ADDRS}
    published = {}
    observer.subscribe("fleet/#")

    # Phase 1: everyone connects, subscribes, publishes QoS 1 and (all but one) sleeps.
    def first_contact(a):
        s = sensors[a]
        s.connect(cid[a], duration=120)
        s.subscribe("fleet/%s/cmd" % a[-2:], qos=1)
        tid = s.register("fleet/%s/temp" % a[-2:])
        s.publish(tid, b"21." + a[-2:].encode(), qos=1)
        published[a] = time.monotonic() - t0
        if a != AWAKE:
            s.disconnect(duration=600)  # asleep: the gateway keeps session and buffer
            bus.control.SetAdvertising(a, False)  # radio off while asleep

    serve(bus, sensors, ADDRS, first_contact, t0 + 150)
    all_published = max(published.values())
    for a in ADDRS:
        observer.wait_payload("fleet/%s/temp" % a[-2:], b"21." + a[-2:].encode())
    # Asleep links were released for the others; the awake sensor's link never was.
    awake = bus.state(AWAKE)
    assert awake["connected"] and attempts(awake) == 1, awake
    assert sampler.max["hci0"] <= 3 and sampler.max["hci1"] <= 3, sampler.max
    assert sampler.max["hci0"] + sampler.max["hci1"] == 6, sampler.max  # both adapters used
    sensors[AWAKE].pingreq()
    sensors[AWAKE].expect(sn.PINGRESP, timeout=10)

    # Phase 2: 4 asleep sensors get a message, wake (advertise), and get it before PINGRESP.
    woken = ADDRS[0:4]

    def wake_and_ping(a):
        s = sensors[a]
        s.pingreq(cid[a])
        p = s.receive_publish(timeout=10)
        assert p.data == b"cmd " + a[-2:].encode(), p
        s.expect(sn.PINGRESP, timeout=10)
        bus.control.SetAdvertising(a, False)  # back to sleep

    for a in woken:
        observer.publish("fleet/%s/cmd" % a[-2:], b"cmd " + a[-2:].encode(), qos=1)
    time.sleep(0.5)
    for a in woken:
        bus.control.SetAdvertising(a, True)
    t_wake = time.monotonic()
    serve(bus, sensors, woken, wake_and_ping, t_wake + 60)
    wake_s = time.monotonic() - t_wake
    awake = bus.state(AWAKE)
    assert awake["connected"] and attempts(awake) == 1, awake

    # Phase 3: hci1 goes away; its sensors come back on hci0 as they advertise.
    on_hci1 = [a for a in ADDRS if bus.state(a)["adapter"] == "hci1"]
    bus.control.AddAdapter("hci1", 3, False)
    later = [a for a in on_hci1 if a != AWAKE][:2]
    assert later, "nobody was on hci1"
    for a in later:
        observer.publish("fleet/%s/cmd" % a[-2:], b"cmd " + a[-2:].encode(), qos=1)
    time.sleep(0.5)
    for a in later:
        bus.control.SetAdvertising(a, True)
    serve(bus, sensors, later, wake_and_ping, time.monotonic() + 60)
    for a in later:
        assert bus.state(a)["adapter"] == "hci0", bus.state(a)  # moved over
    assert stats(bus, "hci0")["max_links_seen"] <= 3
    refused = stats(bus, "hci0")["refused"] + stats(bus, "hci1")["refused"]

    # The gateway's own view: per-adapter links and counters in <prefix>/status.
    observer.subscribe("mqttsn-gateway/7/status")

    def status():
        got = [m for m in observer.on("mqttsn-gateway/7/status") if m.payload]
        return json.loads(got[-1].payload) if got else None

    wait_until(lambda: status() and "ble" in status(), 10, "status with ble")
    st = status()["ble"]["adapters"]
    assert "hci0" in st and "hci1" not in st, st
    assert st["hci0"]["links"] <= 3 and st["hci0"]["max_connections"] == 3, st
    connecting_lines = gw.log_text().count("BLE: connecting ")

    timeline = sampler.timeline
    print("\nBLE fleet: 10 sensors, 2 adapters x 3 slots, idle_disconnect_s = 0")
    print("  time until every sensor published: %.1f s (first %.1f s)" %
          (all_published, min(published.values())))
    print("  4 asleep sensors woken, message before PINGRESP: %.1f s for all four" % wake_s)
    print("  max links per adapter (sampled every 100 ms): %s; fake's own count hci0 %d hci1 %d" %
          (sampler.max, stats(bus, "hci0")["max_links_seen"], stats(bus, "hci1")["max_links_seen"]))
    print("  links over time: %s" % " ".join(
        "%.0fs:%d/%d" % (t, v.get("hci0", 0), v.get("hci1", 0)) for t, v in timeline[::20]))
    print("  refused connects (controller): %d; 'BLE: connecting' lines: %d; moved from hci1: %s" %
          (refused, connecting_lines, on_hci1))
    print("  gateway status: %s" % st)


def test_refused_connects_are_bounded(tmp_path, broker, monkeypatch):
    """The controller has room for 2 links, the gateway is told 5: refusals back off per sensor
    (fewer than 3 attempts a minute) and the adapter is treated as full; no log flood."""
    bus = Bus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    addrs = ADDRS[:6]
    try:
        bus.control.AddAdapter("hci0", 2, True)
        for i, a in enumerate(addrs):
            bus.control.AddSensor(a, "s%d" % i, -50 - i, True)
        gw = start_gateway(bus, broker, tmp_path, ["max_connections = 5", allow(addrs)])
        try:
            t0 = time.monotonic()
            wait_until(lambda: stats(bus, "hci0")["links"] == 2, 15, "two links")
            time.sleep(max(0.0, 25 - (time.monotonic() - t0)))
            st = stats(bus, "hci0")
            calls = {a: attempts(bus.state(a)) for a in addrs}
            print("\nBLE refusals over 25 s, 6 sensors, controller room 2, max_connections 5: "
                  "refused %d, attempts per sensor %s" % (st["refused"], sorted(calls.values())))
            assert st["max_links_seen"] == 2, st
            assert 1 <= st["refused"] <= 4, st
            for a, n in calls.items():
                assert n <= 2, (a, n)  # < 3 attempts per sensor per minute
            assert gw.log_text().count("BLE: connecting ") <= 12
        except BaseException:
            print(gw.log_text()[-20000:])
            raise
        finally:
            gw.stop()
    finally:
        bus.close()


def test_asleep_link_released_after_idle_disconnect(tmp_path, broker, observer, monkeypatch):
    bus = Bus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    a, b = ADDRS[0], ADDRS[1]
    try:
        for x in (a, b):
            bus.control.AddSensor(x, "s", -50, True)
        gw = start_gateway(bus, broker, tmp_path, ["idle_disconnect_s = 2", allow([a, b])])
        try:
            wait_until(lambda: bus.state(a)["notifying"] and bus.state(b)["notifying"], 15, "links")
            sa, sb = Sensor(link=BleLink(bus, a), name="a"), Sensor(link=BleLink(bus, b), name="b")
            sa.connect("idle-a", duration=60)
            sb.connect("idle-b", duration=60)
            sa.subscribe("idle/a", qos=1)
            sa.disconnect(duration=120)
            bus.control.SetAdvertising(a, False)
            slept = time.monotonic()
            wait_until(lambda: not bus.state(a)["connected"], 10, "asleep link released")
            released_after = time.monotonic() - slept
            assert 1.5 <= released_after <= 5, released_after
            assert bus.state(b)["connected"]  # awake: kept
            # Its session and buffer stayed: it wakes, advertises, and gets the message first.
            observer.publish("idle/a", b"kept for you", qos=1)
            time.sleep(0.5)
            bus.control.SetAdvertising(a, True)
            wait_until(lambda: bus.state(a)["notifying"], 15, "link again")
            sa.pingreq("idle-a")
            assert sa.receive_publish(timeout=10).data == b"kept for you"
            sa.expect(sn.PINGRESP, timeout=10)
            time.sleep(3)
            assert bus.state(b)["connected"] and attempts(bus.state(b)) == 1
            assert "releasing the link of asleep " + a in gw.log_text()
        except BaseException:
            print(gw.log_text()[-20000:])
            raise
        finally:
            gw.stop()
    finally:
        bus.close()
