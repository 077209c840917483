"""The real BleTransport (through tests/ble/ble_driver) against fake_bluez.py on a private dbus-daemon."""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ble_harness import Bus, Driver, NUS_SERVICE, publish, reassemble, wait_until  # noqa: E402

SENSOR = "C0:FF:EE:00:00:01"
STRANGER = "C0:FF:EE:00:00:02"


@pytest.fixture
def bus():
    b = Bus()
    yield b
    b.close()


@pytest.fixture
def drivers():
    started = []
    yield started
    for d in started:
        d.stop()


def start(bus, drivers, *args):
    d = Driver(bus, "--allow", SENSOR.lower(), *args)
    drivers.append(d)
    return d


def ready(bus, addr=SENSOR, timeout=15):
    wait_until(lambda: bus.state(addr)["notifying"], timeout, addr + " connected and notifying")


def exchange(bus, d, total=300, seed=0):
    """One message each way, checked byte for byte and chunk by chunk."""
    mtu = int(bus.state(SENSOR)["mtu"])
    up = publish(total, seed)
    bus.notify_message(SENSOR, up)
    assert d.recv() == (SENSOR, up)
    bus.control.ClearWritten(SENSOR)
    down = publish(total, seed + 7)
    d.send(SENSOR, down)
    want = -(-total // (mtu - 3))
    wait_until(lambda: len(bus.written(SENSOR)) >= want, 10, "writes")
    chunks = bus.written(SENSOR)
    assert all(len(c) <= mtu - 3 for c in chunks)
    assert reassemble(chunks) == [down]
    assert int(bus.state(SENSOR)["write_errors"]) == 0


def test_allow_listed_sensor_is_paired_trusted_connected(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    bus.control.AddSensor(STRANGER, "stranger", -40, True)
    d = start(bus, drivers)
    ready(bus)
    s = bus.state(SENSOR)
    assert s["paired"] and s["trusted"] and s["connected"]
    a = bus.adapter()
    assert a["agent_path"] == "/org/mqttsn/ble/agent"
    assert a["agent_capability"] == "NoInputNoOutput"
    assert a["discovering"]
    assert str(a["filter"]["Transport"]) == "le"
    assert [str(u) for u in a["filter"]["UUIDs"]] == [NUS_SERVICE]
    devs = d.devices()
    assert devs[SENSOR]["connected"] == "1" and devs[SENSOR]["bonded"] == "1" and devs[SENSOR]["mtu"] == "23"
    assert devs[SENSOR]["name"] == "sensor1"
    # The stranger was discovered but never touched.
    t = bus.state(STRANGER)
    assert t["exists"]
    assert t["pair_calls"] == 0 and t["connect_calls"] == 0 and not t["connected"] and not t["paired"]


def test_agent_rejects_sensors_not_in_allow_list(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    bus.control.AddSensor(STRANGER, "stranger", -40, True)
    start(bus, drivers)
    ready(bus)
    assert bus.control.SensorPair(STRANGER) == "org.bluez.Error.Rejected"
    assert not bus.state(STRANGER)["paired"]


def test_agent_accepts_allow_listed_sensor_pairing(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, False)  # not advertising NUS: only the sensor can start
    start(bus, drivers)
    wait_until(lambda: bus.adapter()["agent_path"], 10, "agent")
    assert bus.control.SensorPair(SENSOR) == "accepted"


@pytest.mark.parametrize("acquire", [True, False], ids=["acquired-sockets", "writevalue-fallback"])
@pytest.mark.parametrize("mtu", [23, 247])
def test_300_bytes_each_way(bus, drivers, mtu, acquire):
    """Both data paths: AcquireWrite/AcquireNotify sockets on the loop where BlueZ offers them,
    WriteValue/PropertiesChanged where it answers NotSupported."""
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    bus.control.SetMtu(SENSOR, mtu)
    bus.control.SetAcquire(acquire)
    d = start(bus, drivers)
    ready(bus)
    wait_until(lambda: bus.state(SENSOR)["write_acquired"] == acquire, 5, "write path chosen")
    st = bus.state(SENSOR)
    assert st["notify_acquired"] == acquire and st["write_acquired"] == acquire, st
    exchange(bus, d, 300)
    exchange(bus, d, 7, seed=3)
    # Several messages queued at once go out one write at a time, in order.
    bus.control.ClearWritten(SENSOR)
    msgs = [publish(300, 1), bytes([0x02, 0x16]), publish(40, 2), publish(257, 3)]  # 0x16: PINGREQ
    for m in msgs:
        d.send(SENSOR, m)
    wait_until(lambda: reassemble(bus.written(SENSOR)) == msgs, 10, "queued writes")
    assert int(bus.state(SENSOR)["write_errors"]) == 0
    assert (int(bus.state(SENSOR)["notified_by_socket"]) > 0) == acquire


def test_passkey_from_config(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    bus.control.SetPasskey(SENSOR, 424242)
    d = start(bus, drivers, "--passkey", SENSOR + "=424242")
    ready(bus)
    assert bus.adapter()["agent_capability"] == "KeyboardDisplay"
    exchange(bus, d, 30)


def test_wrong_passkey_never_connects(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    bus.control.SetPasskey(SENSOR, 424242)
    start(bus, drivers, "--passkey", SENSOR + "=111111")
    wait_until(lambda: bus.state(SENSOR)["pair_calls"] >= 1, 10, "pair attempt")
    assert not bus.state(SENSOR)["paired"]
    assert not bus.state(SENSOR)["notifying"]


def test_rssi_floor_in_discovery_filter(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -90, True)
    start(bus, drivers, "--rssi-min", "-70")
    wait_until(lambda: "RSSI" in bus.adapter()["filter"], 10, "filter")
    assert int(bus.adapter()["filter"]["RSSI"]) == -70
    assert not bus.state(SENSOR)["exists"]


def test_link_drop_then_reconnect(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    ready(bus)
    # A partial message at the drop must not be glued to the next one.
    bus.control.Notify(SENSOR, publish(100)[:20])
    bus.control.DropLink(SENSOR)
    ready(bus)
    assert bus.state(SENSOR)["pair_calls"] == 1  # the bond is kept: no second pairing
    exchange(bus, d, 120)


def test_sleeping_sensor_reconnects_when_it_advertises(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    ready(bus)
    bus.control.SetInRange(SENSOR, False)
    wait_until(lambda: not bus.state(SENSOR)["connected"], 5, "link down")
    d.send(SENSOR, publish(10))  # not connected: dropped and counted, no crash
    wait_until(lambda: d.devices()[SENSOR]["connected"] == "0", 5, "transport sees link down")
    bus.control.SetInRange(SENSOR, True)
    ready(bus)
    exchange(bus, d, 50)


def test_bluetoothd_restart_is_survived(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    ready(bus)
    bus.control.Restart(500)
    wait_until(lambda: bus.adapter()["up"] and bus.adapter()["agent_path"], 10, "agent registered again")
    ready(bus)
    assert bus.state(SENSOR)["pair_calls"] == 1
    exchange(bus, d, 300)


def test_adapter_power_off_and_on(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    ready(bus)
    bus.control.SetPowered(False)
    wait_until(lambda: not bus.state(SENSOR)["connected"], 5, "link down")
    # The gateway powers the adapter back on by itself.
    ready(bus, timeout=20)
    assert bus.adapter()["powered"]
    exchange(bus, d, 40)


def test_rfkill_block_then_unblock(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    ready(bus)
    bus.control.SetBlocked(True)
    wait_until(lambda: not bus.state(SENSOR)["connected"], 5, "link down")
    time.sleep(4)  # the gateway retries and gets org.bluez.Error.Blocked
    assert not bus.adapter()["powered"]
    bus.control.SetBlocked(False)
    ready(bus, timeout=20)
    exchange(bus, d, 40)


def test_adapter_appears_late_and_comes_back(bus, drivers):
    bus.control.SetAdapterPresent(False)
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    time.sleep(0.5)
    bus.control.SetAdapterPresent(True)
    ready(bus)
    bus.control.SetAdapterPresent(False)
    time.sleep(0.5)
    bus.control.SetAdapterPresent(True)
    ready(bus)
    exchange(bus, d, 40)


def test_gateway_restart_keeps_the_bond(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    ready(bus)
    assert d.stop() == 0
    assert d.out.next(lambda l: l.startswith("closed ")) == "closed 0"
    bus.control.DropLink(SENSOR)
    d2 = start(bus, drivers)
    ready(bus)
    assert bus.state(SENSOR)["pair_calls"] == 1
    exchange(bus, d2, 30)


def test_lost_bus_connection_is_fatal(bus, drivers):
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    d = start(bus, drivers)
    ready(bus)
    bus.kill_bus()
    line = d.out.next(lambda l: l.startswith("fatal "), 10)
    assert "D-Bus connection lost" in line
    d.proc.wait(10)
    assert d.proc.returncode == 3


def test_allow_list_setter_applies_live(bus, drivers):
    """SIGHUP's set_allow: the dropped sensor is disconnected and never paired or connected again
    (and the agent refuses it); the newly allowed one, already discovered, is paired and connected."""
    bus.control.AddSensor(SENSOR, "sensor1", -50, True)
    bus.control.AddSensor(STRANGER, "stranger", -40, True)
    d = start(bus, drivers)
    ready(bus)
    assert bus.state(STRANGER)["pair_calls"] == 0
    # A malformed address: refused, nothing changes.
    d.cmd("allow zz:00 " + STRANGER)
    assert d.out.next(lambda l: l.startswith("allowed")).startswith("allowed BLE: bad address")
    time.sleep(0.5)
    assert bus.state(SENSOR)["connected"] and bus.state(STRANGER)["pair_calls"] == 0

    d.cmd("allow " + STRANGER.lower())
    assert d.out.next(lambda l: l.startswith("allowed")) == "allowed"
    ready(bus, STRANGER)
    wait_until(lambda: not bus.state(SENSOR)["connected"], 5, "dropped sensor disconnected")
    s = bus.state(SENSOR)
    calls = (s["connect_calls"], s["pair_calls"])
    # Well past the first reconnect back-off (1 s) and while it advertises: left alone.
    time.sleep(3)
    s = bus.state(SENSOR)
    assert not s["connected"] and (s["connect_calls"], s["pair_calls"]) == calls
    assert bus.control.SensorPair(SENSOR) == "org.bluez.Error.Rejected"
    devs = d.devices()
    assert devs[STRANGER]["connected"] == "1" and devs[SENSOR]["connected"] == "0"
    # And back: allowing it again reconnects it (it is still bonded: no new Pair).
    d.cmd("allow %s %s" % (SENSOR, STRANGER))
    assert d.out.next(lambda l: l.startswith("allowed")) == "allowed"
    ready(bus, SENSOR)
    assert bus.state(SENSOR)["pair_calls"] == calls[1]
