"""mqttsn-ble (the operator's pairing tool) against fake_bluez.py on a private dbus-daemon."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ble_harness import Bus  # noqa: E402

SENSOR = "C0:FF:EE:00:00:01"
OTHER = "C0:FF:EE:00:00:02"


@pytest.fixture
def bus():
    b = Bus()
    b.control.AddSensor(SENSOR, "sensor1", -50, True)
    b.control.AddSensor(OTHER, "other", -70, False)  # does not advertise the service
    yield b
    b.close()


def tool(bus, *args):
    exe = os.environ.get("MQTTSN_BLE")
    assert exe, "MQTTSN_BLE not set (run through meson test)"
    return subprocess.run([exe, *args], env=bus.env, capture_output=True, text=True, timeout=60)


def rows(out):
    return {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}


def test_scan_shows_only_service_advertisers_unless_all(bus):
    r = tool(bus, "scan", "--seconds", "1")
    assert r.returncode == 0, r.stderr
    assert list(rows(r.stdout)) == [SENSOR]
    assert rows(r.stdout)[SENSOR][1:3] == ["sensor1", "-50"]
    r = tool(bus, "scan", "--seconds", "1", "--all")
    assert set(rows(r.stdout)) == {SENSOR, OTHER}


def test_pair_prints_the_allow_line_and_list_shows_the_bond(bus):
    r = tool(bus, "pair", SENSOR.lower())
    assert r.returncode == 0, r.stderr
    assert 'allow = ["%s"]' % SENSOR in r.stdout
    s = bus.state(SENSOR)
    assert s["paired"] and s["trusted"]
    r = tool(bus, "list")
    assert rows(r.stdout)[SENSOR][3:7] == ["yes", "yes", "yes", "yes"]  # paired bonded trusted connected


def test_pair_adds_to_config_keeping_comments(bus, tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text("# my gateway\n[ble]\nenabled = true\nallow = [\n  \"AA:BB:CC:DD:EE:FF\",  # kitchen\n]\n\n"
                   "[broker]\nhost = \"127.0.0.1\"\n")
    r = tool(bus, "pair", SENSOR, "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    text = cfg.read_text()
    assert "# kitchen" in text and "# my gateway" in text
    import tomllib
    assert tomllib.loads(text)["ble"]["allow"] == ["AA:BB:CC:DD:EE:FF", SENSOR]
    r = tool(bus, "pair", SENSOR, "--config", str(cfg))  # already paired and listed: harmless
    assert r.returncode == 0, r.stderr
    assert tomllib.loads(cfg.read_text())["ble"]["allow"] == ["AA:BB:CC:DD:EE:FF", SENSOR]


@pytest.mark.parametrize("allow,expected", [
    ('allow = []', []),
    ('allow = ["AA:BB:CC:DD:EE:FF"]', ["AA:BB:CC:DD:EE:FF"]),
    ('allow = ["AA:BB:CC:DD:EE:FF", ]  # trailing comma', ["AA:BB:CC:DD:EE:FF"]),
    ('allow = [\n  "AA:BB:CC:DD:EE:FF"  # no comma\n]', ["AA:BB:CC:DD:EE:FF"]),
    ('allow = [\n]', []),
    ('adapter = "hci0"', []),
])
def test_pair_edits_allow_arrays_of_every_shape(bus, tmp_path, allow, expected):
    import tomllib
    cfg = tmp_path / "gateway.toml"
    cfg.write_text("[ble]\nenabled = true\n%s\n\n[ble.passkeys]\n\"AA:BB:CC:DD:EE:FF\" = 123456\n" % allow)
    r = tool(bus, "pair", SENSOR, "--config", str(cfg))
    assert r.returncode == 0, r.stderr + cfg.read_text()
    assert tomllib.loads(cfg.read_text())["ble"]["allow"] == expected + [SENSOR], cfg.read_text()


def test_pair_creates_ble_section(bus, tmp_path):
    cfg = tmp_path / "gateway.toml"
    cfg.write_text("[broker]\nhost = \"127.0.0.1\"\n")
    assert tool(bus, "pair", SENSOR, "--config", str(cfg)).returncode == 0
    import tomllib
    assert tomllib.loads(cfg.read_text())["ble"]["allow"] == [SENSOR]


def test_pair_with_passkey_through_our_agent(bus):
    bus.control.SetPasskey(OTHER, 123456)
    r = tool(bus, "pair", OTHER, "--all", "--passkey", "654321", "--seconds", "2")
    assert r.returncode != 0
    assert not bus.state(OTHER)["paired"]
    r = tool(bus, "pair", OTHER, "--all", "--passkey", "123456", "--seconds", "2")
    assert r.returncode == 0, r.stderr
    assert bus.state(OTHER)["paired"]


def test_pair_unknown_sensor_fails_clearly(bus):
    r = tool(bus, "pair", "C0:FF:EE:00:00:09", "--seconds", "1")
    assert r.returncode == 1
    assert "not found" in r.stderr


def test_remove_deletes_the_bond(bus):
    assert tool(bus, "pair", SENSOR).returncode == 0
    r = tool(bus, "remove", SENSOR)
    assert r.returncode == 0, r.stderr
    assert not bus.state(SENSOR)["exists"] and not bus.state(SENSOR)["paired"]
    assert tool(bus, "remove", SENSOR).returncode == 1


def test_bad_address_is_refused(bus):
    assert tool(bus, "pair", "C0-FF-EE-00-00-01").returncode != 0


def test_list_shows_adapter_and_slot_use(bus, tmp_path):
    bus.control.AddAdapter("hci1", 0, True)
    r = tool(bus, "pair", SENSOR)
    assert r.returncode == 0, r.stderr
    cfg = tmp_path / "gateway.toml"
    cfg.write_text("[ble]\nenabled = true\nmax_connections = 3\n")
    r = tool(bus, "list", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    table = rows(r.stdout)
    assert table[SENSOR][-1] == "hci0", r.stdout
    assert table["hci0"] == ["hci0", "yes", "1/3"], r.stdout
    assert table["hci1"] == ["hci1", "yes", "0/3"], r.stdout
