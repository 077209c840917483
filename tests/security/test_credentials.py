"""Broker credentials: mosquitto with a password file and no anonymous access; the gateway's
password_file must not be readable by everyone (refused at --check-config)."""
import os
import subprocess

import pytest

from conftest import SecureMosquitto, secure_gateway
from harness import Sensor, gateway_exe
import mqttsn_packets as sn


@pytest.fixture
def locked_broker(tmp_path, cleanup):
    d = str(tmp_path / "mosq")
    os.mkdir(d)
    pw = os.path.join(d, "passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", pw, "gwuser", "s3cret"], check=True,
                   capture_output=True)
    os.chmod(pw, 0o600)
    b = SecureMosquitto(d, password_file=pw).start()
    cleanup.append(b)
    return b


def secret_file(tmp_path, text, mode=0o600):
    p = str(tmp_path / "broker.pass")
    with open(p, "w") as f:
        f.write(text + "\n")
    os.chmod(p, mode)
    return p


def gateway_with(tmp_path, cleanup, broker, keys):
    os.mkdir(str(tmp_path / "gw"))
    gw = secure_gateway("tcp://127.0.0.1:%d" % broker.port, str(tmp_path / "gw"), broker=keys).start()
    cleanup.append(gw)
    s = Sensor(gw, name="cred-sensor")
    cleanup.append(s)
    return gw, s


def test_right_password_from_file_accepted(tmp_path, cleanup, locked_broker):
    gw, s = gateway_with(tmp_path, cleanup, locked_broker,
                         {"username": "gwuser", "password_file": secret_file(tmp_path, "s3cret")})
    s.connect("cred-ok", expect_rc=sn.ACCEPTED)
    tid = s.register("sec/cred/ok")
    s.publish(tid, b"authenticated", qos=1)


def test_username_template_per_sensor(tmp_path, cleanup, locked_broker):
    # "gw{client_id}" with ClientId "user" -> user name "gwuser": only that sensor gets in.
    gw, s = gateway_with(tmp_path, cleanup, locked_broker,
                         {"username_template": "gw{client_id}", "password": "s3cret"})
    s.connect("user", expect_rc=sn.ACCEPTED)
    other = Sensor(gw, name="other")
    cleanup.append(other)
    assert other.connect("nobody", expect_rc=None).return_code == sn.REJ_CONGESTION


def test_wrong_password_refused(tmp_path, cleanup, locked_broker):
    # Refused upstream -> CONNACK 0x01 (congestion): the sensor retries later (docs/security.md).
    gw, s = gateway_with(tmp_path, cleanup, locked_broker,
                         {"username": "gwuser", "password": "wrong"})
    p = s.connect("cred-bad", expect_rc=None)
    assert p.return_code == sn.REJ_CONGESTION, p
    assert "bad user name or password" in gw.log_text() or "not authorized" in gw.log_text(), \
        gw.log_text()[-3000:]


def check_config(tmp_path, text):
    p = str(tmp_path / "check.toml")
    with open(p, "w") as f:
        f.write(text)
    return subprocess.run([gateway_exe(), "--config", p, "--check-config"], capture_output=True,
                          text=True, timeout=30)


def test_world_readable_password_file_refused(tmp_path):
    pw = secret_file(tmp_path, "s3cret", mode=0o644)
    r = check_config(tmp_path, '[broker]\nusername = "u"\npassword_file = "%s"\n' % pw)
    assert r.returncode != 0, r
    assert "broker.password_file" in r.stderr and "readable by everyone" in r.stderr, r.stderr
    os.chmod(pw, 0o640)
    r = check_config(tmp_path, '[broker]\nusername = "u"\npassword_file = "%s"\n' % pw)
    assert r.returncode == 0, r.stderr


def test_bad_security_keys_named(tmp_path):
    r = check_config(tmp_path, '[broker]\nmqtt_version = 4\n[broker.tls]\nca_file = "/nonexistent"\n'
                     'verify_hostnme = false\n')
    assert r.returncode != 0
    for key in ("broker.mqtt_version", "broker.tls.ca_file", "broker.tls.verify_hostnme"):
        assert key in r.stderr, r.stderr


def test_client_id_prefix_upstream(tmp_path, cleanup, locked_broker):
    from harness import wait_until
    gw, s = gateway_with(tmp_path, cleanup, locked_broker,
                         {"username": "gwuser", "password": "s3cret", "client_id_prefix": "pfx-"})
    s.connect("cred-prefixed", expect_rc=sn.ACCEPTED)
    assert wait_until(lambda: " as pfx-cred-prefixed " in locked_broker.log_text(), 5), \
        locked_broker.log_text()[-3000:]
    # The shared client keeps its own ClientId.
    assert " as pfx-mqttsn-gw-" not in locked_broker.log_text()


def test_mqtt5_right_and_wrong_password(tmp_path, cleanup, locked_broker):
    gw, s = gateway_with(tmp_path, cleanup, locked_broker,
                         {"username_template": "gw{client_id}", "password": "s3cret",
                          "mqtt_version": 5})
    s.connect("user", expect_rc=sn.ACCEPTED)
    tid = s.register("sec/cred/v5")
    s.publish(tid, b"mqtt5", qos=1)
    other = Sensor(gw, name="v5-other")
    cleanup.append(other)
    assert other.connect("nobody", expect_rc=None).return_code == sn.REJ_CONGESTION
    log = gw.log_text()
    assert "not authorized" in log or "bad user name or password" in log, log[-3000:]
