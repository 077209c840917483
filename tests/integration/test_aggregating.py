"""Aggregating mode (broker.mode = "aggregating"): all sensors share one upstream MQTT
connection; subscriptions are reference-counted across sensors and messages fanned out.

The broker here publishes $SYS every second: its connected-client and subscription counts show
what the gateway holds upstream."""
import threading
import time

import pytest

import mqttsn_packets as sn
from harness import Mosquitto, wait_until

CLIENTS = "$SYS/broker/clients/connected"
SUBSCRIPTIONS = "$SYS/broker/subscriptions/count"


@pytest.fixture
def broker(request, tmp_path):
    b = Mosquitto(str(tmp_path))
    with open(b.conf, "a") as f:
        f.write("sys_interval 1\n")
    b.start()
    request.node._brokers = getattr(request.node, "_brokers", []) + [b]
    yield b
    b.stop()


@pytest.fixture
def gateway(make_gateway):
    return make_gateway(mode="aggregating")


class SysWatch:
    """The latest value of some $SYS topics (mosquitto publishes them when they change)."""

    def __init__(self, observer):
        self.values = {}
        self.lock = threading.Lock()
        self.observer = observer
        for topic in (CLIENTS, SUBSCRIPTIONS):
            observer.subscribe(topic, qos=0)

    def latest(self, topic):
        msgs = self.observer.on(topic)
        return int(msgs[-1].payload) if msgs else None

    def settle(self, topic, want, timeout=8):
        """Wait until $SYS shows `want`; returns the last value seen."""
        wait_until(lambda: self.latest(topic) == want, timeout)
        return self.latest(topic)

    def steady(self, topic, seconds=2.5):
        """The value after at least two $SYS periods without a change we caused."""
        time.sleep(seconds)
        return self.latest(topic)


def test_sensors_share_one_upstream_connection(gateway, sensors, observer):
    watch = SysWatch(observer)
    fleet = [sensors("s%d" % i) for i in range(6)]
    for i, s in enumerate(fleet):
        s.connect("agg-one-%d" % i, duration=60)
        s.subscribe("agg/one/all", qos=1)
    # The gateway's client and the observer; transparent mode would show 2 + 6.
    assert watch.settle(CLIENTS, 2) == 2, observer.on(CLIENTS)
    assert watch.steady(CLIENTS) == 2
    observer.publish("agg/one/all", b"to everyone", qos=1)
    for s in fleet:
        assert s.receive_publish().data == b"to everyone"


def test_two_sensors_on_one_filter_get_each_message_once(gateway, sensors, observer):
    a, b = sensors("a"), sensors("b")
    a.connect("agg-once-a")
    b.connect("agg-once-b")
    a.subscribe("agg/once/+", qos=1)
    b.subscribe("agg/once/+", qos=1)
    for i in range(3):
        observer.publish("agg/once/t", b"m%d" % i, qos=1)
    for s in (a, b):
        assert [s.receive_publish().data for _ in range(3)] == [b"m0", b"m1", b"m2"], s.history()
    a.expect_nothing(1.0)
    b.expect_nothing(0.2)


def test_upstream_subscription_stays_until_the_last_holder_goes(gateway, sensors, observer):
    watch = SysWatch(observer)
    a, b = sensors("a"), sensors("b")
    a.connect("agg-ref-a")
    b.connect("agg-ref-b")
    base = watch.steady(SUBSCRIPTIONS)
    a.subscribe("agg/ref/t", qos=0)
    b.subscribe("agg/ref/t", qos=1)
    assert watch.settle(SUBSCRIPTIONS, base + 1) == base + 1  # one upstream subscription for both
    a.unsubscribe("agg/ref/t")
    observer.publish("agg/ref/t", b"only b", qos=1)
    assert b.receive_publish().data == b"only b"
    a.expect_nothing(1.0)
    assert watch.steady(SUBSCRIPTIONS) == base + 1, "unsubscribed upstream while b still holds it"
    b.unsubscribe("agg/ref/t")
    assert watch.settle(SUBSCRIPTIONS, base) == base, "the last holder left; still subscribed"


def test_will_published_by_the_gateway_on_keepalive_loss(gateway, sensors, observer):
    watch = SysWatch(observer)
    observer.subscribe("agg/will/#", qos=1)
    s = sensors("s")
    s.connect("agg-will", duration=2, will=("agg/will/lost", b"gone", 1, True))
    m = observer.wait_payload("agg/will/lost", b"gone", timeout=12)
    assert (m.qos, m.retain) == (1, False)  # retained flag: a live subscription sees RETAIN=0
    late = observer.make()
    late.subscribe("agg/will/lost", qos=1)
    assert late.wait_payload("agg/will/lost", b"gone", timeout=3).retain
    # Nobody's connection dropped: the gateway published it on the shared link.
    assert watch.steady(CLIENTS, 1.5) == 3


def test_retained_message_goes_only_to_the_new_subscriber(gateway, sensors, observer):
    observer.publish("agg/ret/state", b"on", qos=1, retain=True)
    a, b = sensors("a"), sensors("b")
    a.connect("agg-ret-a")
    b.connect("agg-ret-b")
    a.subscribe("agg/ret/state", qos=1)
    p = a.receive_publish()
    assert (p.data, p.retain) == (b"on", True)
    time.sleep(2.5)  # a's subscription is old now
    b.subscribe("agg/ret/+", qos=1)
    p = b.receive_publish()
    assert (p.data, p.retain) == (b"on", True)
    a.expect_nothing(1.5)  # the broker re-sent it for b's SUBSCRIBE: not a's business
    observer.publish("agg/ret/state", b"off", qos=1)
    for s in (a, b):
        p = s.receive_publish()
        assert (p.data, p.retain) == (b"off", False)


def test_clean_session_false_keeps_subscriptions_and_clean_drops_them(gateway, sensors, observer):
    watch = SysWatch(observer)
    base = watch.steady(SUBSCRIPTIONS)
    s = sensors("s")
    s.connect("agg-park", clean=False)
    s.subscribe("agg/park/t", qos=1)
    s.disconnect()
    # Parked: the subscription is kept upstream for its next CONNECT.
    assert watch.steady(SUBSCRIPTIONS) == base + 1
    again = sensors("again")
    again.connect("agg-park", clean=False)
    observer.publish("agg/park/t", b"kept", qos=1)
    assert again.receive_publish().data == b"kept"
    again.disconnect()
    fresh = sensors("fresh")
    fresh.connect("agg-park", clean=True)
    assert watch.settle(SUBSCRIPTIONS, base) == base, "CleanSession=true left the subscription"
    observer.publish("agg/park/t", b"gone", qos=1)
    fresh.expect_nothing(1.0)


def test_qos_minus_one_and_sensor_publish_use_the_shared_link(gateway, sensors, observer):
    watch = SysWatch(observer)
    observer.subscribe("agg/up/#", qos=1)
    observer.subscribe("q9", qos=1)
    s = sensors("s")
    s.connect("agg-up")  # accepted: the shared link is up (QoS -1 meanwhile is dropped, counted)
    sensors("anon").send(sn.publish("q9", b"fire and forget", qos=-1, topic_id_type=sn.TOPIC_SHORT))
    observer.wait_payload("q9", b"fire and forget")
    tid = s.register("agg/up/t")
    s.publish(tid, b"q1", qos=1)
    s.publish(tid, b"q2", qos=2)
    observer.wait_payload("agg/up/t", b"q1")
    observer.wait_payload("agg/up/t", b"q2")
    # mosquitto updates $SYS about every 2 s: wait for the first count, then for it to stay.
    assert watch.settle(CLIENTS, 2) == 2, observer.on(CLIENTS)
    assert watch.steady(CLIENTS) == 2


def test_parked_session_gets_what_was_published_while_it_was_away(gateway, sensors, observer):
    s = sensors("s")
    s.connect("agg-away", clean=False)
    s.subscribe("agg/away/t", qos=1)
    s.disconnect()
    observer.publish("agg/away/t", b"while away 1", qos=1)
    observer.publish("agg/away/t", b"while away 2", qos=0)
    time.sleep(0.5)  # both reached the gateway before the sensor is back
    back = sensors("back")
    back.connect("agg-away", clean=False)
    assert [back.receive_publish().data for _ in range(2)] == [b"while away 1", b"while away 2"]
    back.expect_nothing(0.5)


def test_messages_published_while_the_gateway_is_down_reach_restored_sessions(
        make_gateway, sensors, observer, tmp_path):
    """The shared link's broker session is persistent (broker.persistent_link): what the broker
    takes while the gateway is stopped reaches the sessions restored from the state file."""
    gw = make_gateway(mode="aggregating", state_path=str(tmp_path / "state.db"))
    sleeper, parked = sensors("sleeper", gw=gw), sensors("parked", gw=gw)
    sleeper.connect("agg-down-s", duration=60)
    sleeper.subscribe("agg/down/s", qos=1)
    sleeper.disconnect(duration=60)
    parked.connect("agg-down-p", clean=False)
    parked.subscribe("agg/down/p", qos=1)
    parked.disconnect()
    mark = gw.log_size()
    assert gw.terminate() == 0, gw.log_text()[-3000:]
    observer.publish("agg/down/s", b"for the sleeper", qos=1)
    observer.publish("agg/down/p", b"for the parked one", qos=1)
    gw.start()
    assert wait_until(lambda: "restored 2 sessions (1 asleep, 1 parked" in gw.log_since(mark), 10), \
        gw.log_since(mark)[-3000:]
    # The broker hands the link what it kept right after its CONNACK.
    assert wait_until(lambda: "reachable (gateway client" in gw.log_since(mark), 10)
    time.sleep(0.5)
    sleeper.pingreq("agg-down-s")
    assert sleeper.receive_publish(timeout=10).data == b"for the sleeper"
    sleeper.expect(sn.PINGRESP)
    parked.connect("agg-down-p", clean=False)
    assert parked.receive_publish(timeout=10).data == b"for the parked one"


def test_a_transparent_gateway_drops_the_links_kept_session(make_gateway, sensors, observer,
                                                            tmp_path):
    """Changing broker.mode to transparent: the gateway client connects with a clean session, so
    the broker forgets what the aggregating link held."""
    watch = SysWatch(observer)
    gw = make_gateway(mode="aggregating", gw_id=21)
    base = watch.steady(SUBSCRIPTIONS)  # with the gateway client's own (wake-up) subscription
    s = sensors("s", gw=gw)
    s.connect("agg-mode", clean=False)
    s.subscribe("agg/mode/t", qos=1)
    assert watch.settle(SUBSCRIPTIONS, base + 1) == base + 1
    assert gw.terminate() == 0
    assert watch.steady(SUBSCRIPTIONS, 2.5) == base + 1  # kept while the gateway is away
    gw2 = make_gateway(mode="transparent", gw_id=21)
    assert watch.settle(SUBSCRIPTIONS, base) == base, "the link's old subscriptions stayed"
    assert gw2 is not None


def test_a_qos0_burst_on_the_shared_link_loses_nothing(gateway, sensors, observer):
    """Every sensor's QoS 0 goes out through the one Paho client: a burst far above Paho's default
    queue of 100 unwritten publishes (broker.max_queued_publishes) reaches the broker whole."""
    observer.subscribe("bq", qos=0)
    s = sensors("s")
    s.connect("agg-burst")
    n = 3000
    for i in range(n):
        s.send(sn.publish("bq", b"%05d" % i, qos=0, topic_id_type=sn.TOPIC_SHORT))
    got = observer.wait_for("bq", count=n, timeout=20)
    assert len(got) == n
    assert sorted(m.payload for m in got) == [b"%05d" % i for i in range(n)]
