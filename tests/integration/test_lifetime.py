"""Upstream clients under rapid CONNECT / will change / DISCONNECT cycles (both modes).

Every step is answered, the gateway stays up and exits cleanly (the fixture checks), and the
only traffic it puts on the broker is the sensors' own: its wake-up of Paho's receive thread
while upstream connects are under way goes over a loopback connection of its own.
"""
import mqttsn_packets as sn

SENSORS = 8
CYCLES = 6


def test_rapid_connect_will_change_disconnect_cycles(sensors, observer, client_id):
    observer.subscribe("#", qos=0)
    fleet = [sensors("s%d" % i) for i in range(SENSORS)]
    ids = ["%s%d" % (client_id[:20], i) for i in range(SENSORS)]
    for cycle in range(CYCLES):
        for i, s in enumerate(fleet):
            # A CONNECT on a live session (odd cycles did not disconnect) restarts its upstream.
            s.connect(ids[i], duration=60, will=("life/will/%d" % i, b"w%d" % cycle, 0, False))
            # A will change: transparent mode reconnects upstream with the new will.
            s.send(sn.willmsgupd(b"u%d" % cycle))
            s.expect(sn.WILLMSGRESP, return_code=sn.ACCEPTED)
        for s in fleet[cycle % 2::2]:
            s.disconnect()  # a clean end: its upstream client is retired, no will
    for i, s in enumerate(fleet):
        s.connect(ids[i], duration=60)
        s.publish(s.register("life/data/%d" % i), b"alive", qos=1)
    for i in range(SENSORS):
        observer.wait_payload("life/data/%d" % i, b"alive")
    for s in fleet:
        s.disconnect()
    observer.publish("life/barrier", b"end", qos=1)
    observer.wait_payload("life/barrier", b"end")
    assert not [m for m in observer.messages if m.topic.startswith("life/will/")], observer.messages
    wake = [m for m in observer.messages if m.topic.endswith("/wake")]
    assert not wake, "the gateway published %d wake-up messages to the broker" % len(wake)
