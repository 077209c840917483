"""The core scenarios through a real RabbitMQ 3.10 node (rabbitmq_mqtt plugin), in both broker
modes: connect, register/publish QoS 0/1/2, subscribe by name and by wildcard, will, sleep and
wake, broker restart. docs/brokers.md lists how RabbitMQ differs from mosquitto."""
import time

from harness import Sensor, wait_until
import mqttsn_packets as sn


def cid(mode, name):
    return "rmq-%s-%s" % (mode[:3], name)


def test_connect_register_publish_qos012(sensor, observer, mode):
    observer.subscribe("rmq/pub/#", qos=1)
    sensor.connect(cid(mode, "pub"))
    tid = sensor.register("rmq/pub/%s" % mode)
    sensor.publish(tid, b"q0", qos=0)
    sensor.publish(tid, b"q1", qos=1)
    # RabbitMQ 3.10 takes a QoS 2 PUBLISH as QoS 1: the sensor still sees the whole QoS 2 flow.
    sensor.publish(tid, b"q2", qos=2)
    for payload in (b"q0", b"q1", b"q2"):
        observer.wait_payload("rmq/pub/%s" % mode, payload)


def test_subscribe_by_name_and_wildcard(sensor, observer, mode):
    sensor.connect(cid(mode, "sub"))
    named = sensor.subscribe("rmq/sub/%s/a" % mode, qos=1)
    assert named.topic_id not in (0, 0xFFFF)
    wild = sensor.subscribe("rmq/wild/%s/#" % mode, qos=1)
    assert wild.topic_id == 0
    time.sleep(0.3)
    observer.publish("rmq/sub/%s/a" % mode, b"by name", qos=1)
    p = sensor.receive_publish()
    assert (p.data, p.topic_id) == (b"by name", named.topic_id)
    observer.publish("rmq/wild/%s/x/y" % mode, b"by wildcard", qos=1)
    p = sensor.receive_publish()
    assert p.data == b"by wildcard"


def test_will_on_keepalive_loss(sensor, observer, mode):
    observer.subscribe("rmq/will/#", qos=1)
    sensor.connect(cid(mode, "will"), duration=2, will=("rmq/will/%s" % mode, b"gone", 1, False))
    observer.wait_payload("rmq/will/%s" % mode, b"gone", timeout=15)


def test_sleep_and_wake(sensor, observer, mode):
    client_id = cid(mode, "sleep")
    sensor.connect(client_id)
    sub = sensor.subscribe("rmq/sleep/%s" % mode, qos=1)
    sensor.disconnect(duration=30)
    time.sleep(0.3)
    observer.publish("rmq/sleep/%s" % mode, b"while asleep", qos=1)
    sensor.expect_nothing(1.0)
    sensor.pingreq(client_id)
    p = sensor.receive_publish()
    assert (p.data, p.topic_id) == (b"while asleep", sub.topic_id)
    sensor.expect(sn.PINGRESP)


def test_broker_restart(rabbit, gateway, things, observer, mode):
    s = Sensor(gateway, name="restart")
    things.append(s)
    s.connect(cid(mode, "restart"), duration=120)
    tid = s.register("rmq/restart/%s" % mode)
    s.publish(tid, b"before", qos=1)
    observer.close()
    rabbit.stop()
    rabbit.start()
    # The gateway reconnects by itself; the sensor's QoS 1 retries go through once it has.
    obs = type(observer)(rabbit.port)
    things.append(obs)
    obs.subscribe("rmq/restart/#", qos=1)

    def delivered():
        try:
            s.publish(tid, b"after", qos=1)
            return True
        except AssertionError:
            return False
    assert wait_until(delivered, 60, interval=1.0), gateway.log_text()[-3000:]
    obs.wait_payload("rmq/restart/%s" % mode, b"after", timeout=15)


def test_differences_qos2_granted_1_and_retained_not_matched_by_wildcard(sensor, observer, mode):
    """docs/brokers.md: RabbitMQ 3.10 grants QoS 2 as QoS 1 and sends retained messages only to
    subscriptions of the exact name. The gateway passes both on as the broker answers."""
    topic = "rmq/ret/%s/last" % mode
    observer.publish(topic, b"retained value", qos=1, retain=True)
    time.sleep(0.3)
    sensor.connect(cid(mode, "diff"))
    p = sensor.subscribe("rmq/ret/%s/#" % mode, qos=2)
    assert p.qos == 1, p  # granted QoS passed on
    sensor.expect_nothing(1.0)  # no retained message for the wildcard filter
    sensor.subscribe(topic, qos=1)
    got = sensor.receive_publish()
    assert (got.data, got.retain) == (b"retained value", True)
    observer.publish(topic, b"", qos=1, retain=True)  # clear it


def test_mqtt5_refused_by_rabbitmq_310(rabbit, tmp_path, things):
    """RabbitMQ 3.10 speaks MQTT 3.1.1 only: with broker.mqtt_version = 5 sensors get 0x01."""
    from harness import Gateway
    gw = Gateway(rabbit.uri, workdir=str(tmp_path), mode="transparent", gw_id=30)
    with open(gw.config) as f:
        text = f.read()
    with open(gw.config, "w") as f:
        f.write(text.replace("connect_timeout_ms = 3000\n",
                             "connect_timeout_ms = 3000\nmqtt_version = 5\n", 1))
    things.append(gw.start())
    s = Sensor(gw, name="v5")
    things.append(s)
    assert s.connect("rmq-v5", expect_rc=None).return_code == sn.REJ_CONGESTION


def test_denied_publish_reaches_the_sensor(rabbit, tmp_path, things):
    """RabbitMQ topic authorisation with per-sensor user names: a PUBLISH outside the sensor's
    subtree makes RabbitMQ close the connection (MQTT 3.1.1 has no refusal code). The sensor's
    retry failing the same way is answered PUBACK 0x03 instead of being retried forever."""
    from harness import Gateway
    rabbit.ctl("add_user", "rmqlimited", "pw")
    rabbit.ctl("set_permissions", "-p", "/", "rmqlimited", ".*", ".*", ".*")
    rabbit.ctl("set_topic_permissions", "-p", "/", "rmqlimited", "amq.topic",
               "^sensors\\.rmqlimited\\.", "^sensors\\.rmqlimited\\.")
    gw = Gateway(rabbit.uri, workdir=str(tmp_path), mode="transparent", gw_id=31)
    with open(gw.config) as f:
        text = f.read()
    with open(gw.config, "w") as f:
        f.write(text.replace("connect_timeout_ms = 3000\n", "connect_timeout_ms = 3000\n"
                             "username_template = \"{client_id}\"\npassword = \"pw\"\n", 1))
    things.append(gw.start())
    s = Sensor(gw, name="limited")
    things.append(s)
    s.connect("rmqlimited")
    own = s.register("sensors/rmqlimited/x")
    s.publish(own, b"mine", qos=1)
    other = s.register("sensors/other/x")
    mid = s.next_msg_id()
    s.send(sn.publish(other, b"not mine", mid, 1, False))
    s.expect_nothing(0.5)  # not acknowledged: dropped with the connection
    assert wait_until(lambda: "upstream connected again" in gw.log_text(), 15), gw.log_text()
    s.send(sn.publish(other, b"not mine", mid, 1, False, dup=True))  # the sensor's retry
    s.expect(sn.PUBACK, timeout=10, msg_id=mid, return_code=sn.REJ_NOT_SUPPORTED)
    # The session goes on: its own subtree still works once reconnected.
    assert wait_until(lambda: gw.log_text().count("upstream connected again") >= 2, 15)
    s.publish(own, b"mine again", qos=1)
