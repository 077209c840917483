"""Sensors as themselves at the broker: per-sensor certificates ([broker.tls] cert_file_template)
and per-sensor user names against mosquitto with `pattern readwrite sensors/%u/#`. Each sensor
may use only its own subtree; what the broker refuses reaches the sensor (README "Broker
refusals"); a sensor without a usable certificate is refused before anything reaches the broker."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import AclMosquitto, acl_gateway
from harness import Observer, Sensor, gateway_exe, wait_until
import mqttsn_packets as sn

VERSIONS = [3, 5]  # broker.mqtt_version: 3 = MQTT 3.1.1, 5 = MQTT 5


def cert_setup(tmp_path, cleanup, pki, version, sensors=("s1", "s2")):
    for cid in sensors:
        pki.sensor(cid)
    gw_crt, gw_key = pki.client("gateway")
    os.mkdir(str(tmp_path / "mosq"))
    b = AclMosquitto(str(tmp_path / "mosq"), pki=pki).start()
    cleanup.append(b)
    os.mkdir(str(tmp_path / "gw"))
    gw = acl_gateway("ssl://127.0.0.1:%d" % b.tls_port, str(tmp_path / "gw"),
                     broker={"mqtt_version": version},
                     tls={"ca_file": pki.ca, "cert_file": gw_crt, "key_file": gw_key,
                          "cert_file_template": os.path.join(pki.sensors, "{client_id}.crt"),
                          "key_file_template": os.path.join(pki.sensors, "{client_id}.key")})
    gw.start()
    cleanup.append(gw)
    obs = Observer(b.port)
    cleanup.append(obs)
    obs.subscribe("sensors/#")
    return b, gw, obs


def sensor(gw, cleanup, name):
    s = Sensor(gw, name=name)
    cleanup.append(s)
    return s


def own_subtree_only(gw, obs, cleanup, version):
    s1 = sensor(gw, cleanup, "s1")
    s1.connect("s1")
    own = s1.register("sensors/s1/temp")
    s1.publish(own, b"mine", qos=1)
    obs.wait_payload("sensors/s1/temp", b"mine")
    s1.publish(own, b"mine2", qos=2)
    obs.wait_payload("sensors/s1/temp", b"mine2")
    other = s1.register("sensors/s2/temp")
    # mosquitto 2.0 grants any subscription and applies the ACL when delivering: s1 subscribed
    # to s2's subtree gets nothing of it (a SUBACK refusal, 0x80 / 0x87, is covered by
    # tests/session/test_broker_refusal.cpp).
    s1.subscribe("sensors/s2/#", qos=1)
    s2 = sensor(gw, cleanup, "s2")
    s2.connect("s2")
    t2 = s2.register("sensors/s2/temp")
    s2.publish(t2, b"from s2", qos=1)
    obs.wait_payload("sensors/s2/temp", b"from s2")
    s1.expect_nothing(0.5)
    if version == 5:
        # MQTT 5 PUBACK 0x87 -> PUBACK "rejected: not supported"; QoS 2: PUBREC 0x87 -> PUBACK.
        s1.publish(other, b"not mine", qos=1, expect_rc=sn.REJ_NOT_SUPPORTED)
        mid = s1.next_msg_id()
        s1.send(sn.publish(other, b"not mine 2", mid, 2, False))
        s1.expect(sn.PUBACK, timeout=10, msg_id=mid, return_code=sn.REJ_NOT_SUPPORTED)
    else:
        # MQTT 3.1.1 has no refusal in PUBACK: mosquitto acknowledges and drops the message.
        s1.publish(other, b"not mine", qos=1)
    time.sleep(0.5)
    assert [m.payload for m in obs.on("sensors/s2/temp")] == [b"from s2"]
    # The session is still fine after the refusals.
    s1.publish(own, b"still mine", qos=1)
    obs.wait_payload("sensors/s1/temp", b"still mine")
    assert "0x87" in gw.log_text() or version == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_per_sensor_own_subtree_only(tmp_path, cleanup, pki, version):
    b, gw, obs = cert_setup(tmp_path, cleanup, pki, version)
    own_subtree_only(gw, obs, cleanup, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_missing_certificate_refused_before_the_broker(tmp_path, cleanup, pki, version):
    b, gw, obs = cert_setup(tmp_path, cleanup, pki, version)
    s = sensor(gw, cleanup, "s9")
    assert s.connect("s9", expect_rc=None).return_code == sn.REJ_NOT_SUPPORTED
    log = gw.log_text()
    assert os.path.join(pki.sensors, "s9.crt") in log, log[-2000:]
    # A ClientId that would leave the directory is never put into a file name.
    bad = sensor(gw, cleanup, "bad")
    assert bad.connect("../s1", expect_rc=None).return_code == sn.REJ_NOT_SUPPORTED
    assert "ClientId not usable" in gw.log_text()
    # A key that does not belong to the certificate.
    shutil.copy(os.path.join(pki.sensors, "s2.key"), os.path.join(pki.sensors, "s1.key"))
    s1 = sensor(gw, cleanup, "s1")
    assert s1.connect("s1", expect_rc=None).return_code == sn.REJ_NOT_SUPPORTED
    assert "does not belong" in gw.log_text()
    # Nothing of these reached the broker (mosquitto logs each new client at notice level).
    for cid in ("s9", "../s1", "s1"):
        assert "as %s " % cid not in b.log_text() and "as %s\n" % cid not in b.log_text(), \
            b.log_text()[-2000:]


def test_rotated_certificate_used_from_next_connect(tmp_path, cleanup, pki):
    b, gw, obs = cert_setup(tmp_path, cleanup, pki, 5)
    s = sensor(gw, cleanup, "s1")
    s.connect("s1")
    tid = s.register("sensors/s1/x")
    s.publish(tid, b"first", qos=1)
    # Rotate: s1's files now hold s2's identity (CN=s2); no SIGHUP needed, read at connect.
    for ext in (".crt", ".key"):
        shutil.copy(os.path.join(pki.sensors, "s2" + ext), os.path.join(pki.sensors, "s1" + ext))
    s.disconnect()
    s.connect("s1")
    tid = s.register("sensors/s1/x")
    s.publish(tid, b"as s2 now", qos=1, expect_rc=sn.REJ_NOT_SUPPORTED)
    tid2 = s.register("sensors/s2/x")
    s.publish(tid2, b"as s2", qos=1)
    obs.wait_payload("sensors/s2/x", b"as s2")


@pytest.mark.parametrize("version", VERSIONS)
def test_username_template_with_password_file(tmp_path, cleanup, version):
    d = str(tmp_path / "mosq")
    os.mkdir(d)
    pw = os.path.join(d, "passwd")
    for i, user in enumerate(("gateway", "s1", "s2")):
        subprocess.run(["mosquitto_passwd", "-b"] + ([] if i else ["-c"]) + [pw, user, "pw"],
                       check=True, capture_output=True)
    os.chmod(pw, 0o600)
    b = AclMosquitto(d, password_file=pw).start()
    cleanup.append(b)
    os.mkdir(str(tmp_path / "gw"))
    gw = acl_gateway("tcp://127.0.0.1:%d" % b.auth_port, str(tmp_path / "gw"),
                     broker={"mqtt_version": version, "username": "gateway", "password": "pw",
                             "username_template": "{client_id}"}).start()
    cleanup.append(gw)
    obs = Observer(b.port)
    cleanup.append(obs)
    obs.subscribe("sensors/#")
    own_subtree_only(gw, obs, cleanup, version)
    # No such user: refused by the broker at connect -> congestion (docs/security.md).
    s9 = sensor(gw, cleanup, "s9")
    assert s9.connect("s9", expect_rc=None).return_code == sn.REJ_CONGESTION


def check_config(tmp_path, text):
    p = str(tmp_path / "check.toml")
    with open(p, "w") as f:
        f.write(text)
    return subprocess.run([gateway_exe(), "--config", p, "--check-config"], capture_output=True,
                          text=True, timeout=30)


def test_templates_refused_in_aggregating_mode(tmp_path):
    r = check_config(tmp_path, '[broker]\nuri = "ssl://127.0.0.1:8883"\nmode = "aggregating"\n'
                               '[broker.tls]\ncert_file_template = "/x/{client_id}.crt"\n')
    assert r.returncode != 0
    assert "cert_file_template" in r.stdout + r.stderr and "aggregating" in r.stdout + r.stderr
    r = check_config(tmp_path, '[broker]\nuri = "tcp://127.0.0.1:1883"\n'
                               '[broker.tls]\ncert_file_template = "/x/{client_id}.crt"\n')
    assert r.returncode != 0 and "needs TLS" in r.stdout + r.stderr
    r = check_config(tmp_path, '[broker]\nuri = "ssl://127.0.0.1:8883"\n'
                               '[broker.tls]\ncert_file_template = "/x/all.crt"\n')
    assert r.returncode != 0 and "{client_id}" in r.stdout + r.stderr
    r = check_config(tmp_path, '[broker]\nuri = "ssl://127.0.0.1:8883"\n'
                               '[broker.tls]\ncert_file_template = "/x/{client_id}.crt"\n'
                               'key_file_template = "/x/{client_id}.key"\n')
    assert r.returncode == 0, r.stdout + r.stderr
