#!/usr/bin/python3
"""A fake bluetoothd for testing the BLE transport with no radio (docs/ble.md "Testing with no radio").

It claims org.bluez on the bus named by DBUS_SYSTEM_BUS_ADDRESS and behaves like BlueZ 5.66 where the
gateway can tell: Adapter1 / Device1 / AgentManager1 / ObjectManager, a Nordic UART GattService1 with
RX/TX characteristics that appear when a device connects, Connect replying before ServicesResolved,
Pair connecting and leaving the device connected, one write at a time (InProgress otherwise), writes
over MTU - 3 failing, notifications as PropertiesChanged(Value). Several adapters, each with an
optional limit of links at once: a Connect beyond it fails with org.bluez.Error.Failed
"le-connection-abort-by-local", as a controller with no free link does. Sensors advertise (or stop, as
when they sleep) and are heard by all adapters or only some.

Tests drive it through org.example.FakeBlueZ.Control on /test (bus name org.example.FakeBlueZ), held
on a second connection so that it survives a "bluetoothd restart".
"""

import os
import socket
import sys

import dbus
import dbus.bus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
DEVICE_IFACE = "org.bluez.Device1"
AGENT_MANAGER_IFACE = "org.bluez.AgentManager1"
GATT_SERVICE_IFACE = "org.bluez.GattService1"
GATT_CHAR_IFACE = "org.bluez.GattCharacteristic1"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
CONTROL_IFACE = "org.example.FakeBlueZ.Control"

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"

ADAPTER_PATH = "/org/bluez/hci0"  # the first adapter; tests may add hci1, hci2, ...
CONNECT_DELAY_MS = 20
RESOLVE_DELAY_MS = 60
WRITE_DELAY_MS = 2
ADVERT_PERIOD_MS = 300


def log(*args):
    print("fake_bluez:", *args, file=sys.stderr, flush=True)


class Error(dbus.DBusException):
    def __init__(self, name, text=""):
        super().__init__(text)
        self._dbus_error_name = "org.bluez.Error." + name


class Sensor:
    """What exists in the world, independent of any bluetoothd instance (bonds persist)."""

    def __init__(self, addr, name, rssi, advertises):
        self.addr = addr.upper()
        self.name = name
        self.rssi = rssi
        self.advertises = advertises
        self.in_range = True
        self.mtu = 23
        self.passkey = None
        self.paired = False
        self.trusted = False
        self.connected = False
        self.notifying = False
        self.writing = False
        self.written = []
        self.write_errors = 0
        self.connect_calls = 0
        self.pair_calls = 0
        self.notified_by_socket = 0
        self.advertising = True  # False: asleep, not advertising
        self.heard_by = None  # None: every adapter; else a set of adapter names
        self.adapter = None  # name of the adapter holding its link


class AdapterState:
    """An adapter as hardware: survives bluetoothd restarts."""

    def __init__(self, name, address):
        self.name = name
        self.address = address
        self.present = True
        self.powered = True
        self.max_links = 0  # 0: no limit
        self.connects = 0
        self.refused = 0
        self.max_links_seen = 0


class World:
    def __init__(self):
        self.sensors = {}
        self.blocked = False
        self.acquire = True  # AcquireWrite / AcquireNotify offered (False: NotSupported, the fallback)
        self.hw = {"hci0": AdapterState("hci0", "00:1A:7D:DA:71:13")}

    # The first adapter's state, as the single-adapter controls knew it.
    @property
    def powered(self):
        return self.hw["hci0"].powered

    @powered.setter
    def powered(self, on):
        self.hw["hci0"].powered = on

    @property
    def adapter_present(self):
        return self.hw["hci0"].present

    @adapter_present.setter
    def adapter_present(self, on):
        self.hw["hci0"].present = on


class PropsObject(dbus.service.Object):
    """An object with properties on one main interface, plus Properties.Get/GetAll/Set."""

    iface = None

    def __init__(self, daemon, path, props):
        self.daemon = daemon
        self.path = path
        self.props = props
        super().__init__(daemon.conn, path)

    def interfaces(self):
        return {self.iface: dict(self.props)}

    def set(self, name, value):
        if self.props.get(name) == value and name != "Value":
            return
        self.props[name] = value
        self.PropertiesChanged(self.iface, {name: value}, [])

    def writable(self, name, value):
        raise Error("NotPermitted", "read-only property " + name)

    @dbus.service.method(PROPS_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, name):
        if iface != self.iface or name not in self.props:
            raise Error("InvalidArguments", "no such property " + name)
        return self.props[name]

    @dbus.service.method(PROPS_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return dict(self.props) if iface == self.iface else {}

    @dbus.service.method(PROPS_IFACE, in_signature="ssv")
    def Set(self, iface, name, value):
        if iface != self.iface:
            raise Error("InvalidArguments", "no such interface " + iface)
        self.writable(name, value)

    @dbus.service.signal(PROPS_IFACE, signature="sa{sv}as")
    def PropertiesChanged(self, iface, changed, invalidated):
        pass


class Root(dbus.service.Object):
    def __init__(self, daemon):
        self.daemon = daemon
        super().__init__(daemon.conn, "/")

    @dbus.service.method(OM_IFACE, out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self):
        return {dbus.ObjectPath(p): o.interfaces() for p, o in self.daemon.objects.items()}

    @dbus.service.signal(OM_IFACE, signature="oa{sa{sv}}")
    def InterfacesAdded(self, path, ifaces):
        pass

    @dbus.service.signal(OM_IFACE, signature="oas")
    def InterfacesRemoved(self, path, ifaces):
        pass


class AgentManager(dbus.service.Object):
    def __init__(self, daemon):
        self.daemon = daemon
        super().__init__(daemon.conn, "/org/bluez")

    @dbus.service.method(AGENT_MANAGER_IFACE, in_signature="os", sender_keyword="sender")
    def RegisterAgent(self, path, capability, sender=None):
        if sender in self.daemon.agents:
            raise Error("AlreadyExists", "agent already registered")
        self.daemon.agents[sender] = (str(path), str(capability))
        log("agent registered", sender, path, capability)

    @dbus.service.method(AGENT_MANAGER_IFACE, in_signature="o", sender_keyword="sender")
    def UnregisterAgent(self, path, sender=None):
        self.daemon.agents.pop(sender, None)
        if self.daemon.default_agent == sender:
            self.daemon.default_agent = None

    @dbus.service.method(AGENT_MANAGER_IFACE, in_signature="o", sender_keyword="sender")
    def RequestDefaultAgent(self, path, sender=None):
        if sender not in self.daemon.agents:
            raise Error("DoesNotExist", "no agent registered")
        self.daemon.default_agent = sender


class Adapter(PropsObject):
    iface = ADAPTER_IFACE

    def __init__(self, daemon, hw):
        self.hw = hw
        self.name = hw.name
        super().__init__(daemon, "/org/bluez/" + hw.name, {
            "Address": dbus.String(hw.address),
            "AddressType": dbus.String("public"),
            "Name": dbus.String("fakehost"),
            "Alias": dbus.String("fakehost"),
            "Powered": dbus.Boolean(hw.powered),
            "Discoverable": dbus.Boolean(False),
            "Pairable": dbus.Boolean(True),
            "Discovering": dbus.Boolean(False),
            "UUIDs": dbus.Array([], signature="s"),
        })
        self.discovery_clients = set()
        self.filter = {}
        self.timer = GLib.timeout_add(ADVERT_PERIOD_MS, self.advertise)

    def writable(self, name, value):
        if name != "Powered":
            raise Error("NotPermitted", "read-only property " + name)
        self.daemon.set_powered(bool(value), self.name)

    def links(self):
        return sum(1 for s in self.daemon.world.sensors.values() if s.connected and s.adapter == self.name)

    @dbus.service.method(ADAPTER_IFACE, in_signature="a{sv}", sender_keyword="sender")
    def SetDiscoveryFilter(self, filt, sender=None):
        self.filter = dict(filt)
        self.daemon.last_filter = dict(filt)

    @dbus.service.method(ADAPTER_IFACE, sender_keyword="sender")
    def StartDiscovery(self, sender=None):
        if not self.props["Powered"]:
            raise Error("NotReady", "Resource Not Ready")
        self.discovery_clients.add(sender)
        self.set("Discovering", dbus.Boolean(True))
        self.advertise()

    @dbus.service.method(ADAPTER_IFACE, sender_keyword="sender")
    def StopDiscovery(self, sender=None):
        if sender not in self.discovery_clients:
            raise Error("Failed", "No discovery started")
        self.discovery_clients.discard(sender)
        if not self.discovery_clients:
            self.set("Discovering", dbus.Boolean(False))

    @dbus.service.method(ADAPTER_IFACE, in_signature="o")
    def RemoveDevice(self, path):
        dev = self.daemon.objects.get(str(path))
        if not isinstance(dev, Device):
            raise Error("DoesNotExist", "no such device")
        s = dev.sensor
        if s.adapter == self.name:
            self.daemon.drop_link(s)
        s.paired = s.trusted = False
        self.daemon.remove_object(dev)

    @dbus.service.method(ADAPTER_IFACE, out_signature="as")
    def GetDiscoveryFilters(self):
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]

    def matches(self, s):
        uuids = [str(u).lower() for u in self.filter.get("UUIDs", [])]
        if uuids and not (s.advertises and NUS_SERVICE in uuids):
            return False
        if "RSSI" in self.filter and s.rssi < int(self.filter["RSSI"]):
            return False
        return True

    def hears(self, s):
        return s.heard_by is None or self.name in s.heard_by

    def advertise(self):
        """Sensors in range that are not connected advertise; discovery reports them."""
        if self.daemon.closed:
            return False
        if not self.props["Discovering"]:
            return True
        for s in list(self.daemon.world.sensors.values()):
            if s.in_range and s.advertising and not s.connected and self.hears(s) and self.matches(s):
                dev = self.daemon.device_for(s, create=True, adapter=self.name)
                dev.props["RSSI"] = dbus.Int16(s.rssi)
                dev.PropertiesChanged(DEVICE_IFACE, {"RSSI": dbus.Int16(s.rssi)}, [])
        return True


class Device(PropsObject):
    iface = DEVICE_IFACE

    def __init__(self, daemon, sensor, adapter):
        self.sensor = sensor
        self.adapter = adapter
        path = adapter.path + "/dev_" + sensor.addr.replace(":", "_")
        super().__init__(daemon, path, {
            "Address": dbus.String(sensor.addr),
            "AddressType": dbus.String("public"),
            "Name": dbus.String(sensor.name),
            "Alias": dbus.String(sensor.name),
            "Paired": dbus.Boolean(sensor.paired),
            "Bonded": dbus.Boolean(sensor.paired),
            "Trusted": dbus.Boolean(sensor.trusted),
            "Blocked": dbus.Boolean(False),
            "Connected": dbus.Boolean(False),
            "ServicesResolved": dbus.Boolean(False),
            "LegacyPairing": dbus.Boolean(False),
            "UUIDs": dbus.Array([NUS_SERVICE] if sensor.advertises else [], signature="s"),
            "Adapter": dbus.ObjectPath(adapter.path),
        })
        self.gatt = []

    def writable(self, name, value):
        if name != "Trusted":
            raise Error("NotPermitted", "read-only property " + name)
        self.sensor.trusted = bool(value)
        self.set("Trusted", dbus.Boolean(bool(value)))

    def bring_up(self, ok, err):
        """Connects the link: Connected=true then the reply, ServicesResolved later (as BlueZ does)."""
        s = self.sensor
        a = self.adapter
        if self.daemon.adapters.get(a.name) is not a or not a.props["Powered"]:
            err(Error("NotReady", "Resource Not Ready"))
            return
        if s.connected and s.adapter == a.name:
            ok()
            return
        a.hw.connects += 1
        if s.connected or (a.hw.max_links and a.links() >= a.hw.max_links):
            # No free link in the controller (or the sensor is linked elsewhere).
            a.hw.refused += 1
            GLib.timeout_add(50, lambda: (err(Error("Failed", "le-connection-abort-by-local")), False)[1])
            return
        if not s.in_range or not s.advertising or not a.hears(s):
            GLib.timeout_add(300, lambda: (err(Error("Failed", "le-connection-abort-by-local")), False)[1])
            return

        def connected():
            if self.daemon.closed or s.connected or not s.in_range:
                if not s.connected:
                    err(Error("Failed", "le-connection-abort-by-local"))
                return False
            if a.hw.max_links and a.links() >= a.hw.max_links:
                a.hw.refused += 1
                err(Error("Failed", "le-connection-abort-by-local"))
                return False
            s.connected = True
            s.adapter = a.name
            a.hw.max_links_seen = max(a.hw.max_links_seen, a.links())
            s.notifying = False
            self.set("Connected", dbus.Boolean(True))
            ok()
            GLib.timeout_add(RESOLVE_DELAY_MS, self.resolve)
            return False

        GLib.timeout_add(CONNECT_DELAY_MS, connected)

    def resolve(self):
        if self.daemon.closed or not self.sensor.connected or self.gatt:
            return False
        s = self.sensor
        svc = GattService(self.daemon, self.path + "/service000a", self)
        rx = Characteristic(self.daemon, svc.path + "/char000b", svc, NUS_RX, ["write", "write-without-response"])
        tx = Characteristic(self.daemon, svc.path + "/char000d", svc, NUS_TX, ["notify"])
        self.gatt = [svc, rx, tx]
        for o in self.gatt:
            self.daemon.add_object(o)
        self.set("ServicesResolved", dbus.Boolean(True))
        log("connected", s.addr, "mtu", s.mtu)
        return False

    def tear_down(self):
        for o in self.gatt[1:]:
            o.release()  # the link is gone: so are the acquired sockets
        for o in reversed(self.gatt):
            self.daemon.remove_object(o)
        self.gatt = []
        self.set("ServicesResolved", dbus.Boolean(False))
        self.set("Connected", dbus.Boolean(False))

    def rx(self):
        return self.gatt[1] if self.gatt else None

    def tx(self):
        return self.gatt[2] if self.gatt else None

    @dbus.service.method(DEVICE_IFACE, async_callbacks=("ok", "err"))
    def Connect(self, ok, err):
        self.sensor.connect_calls += 1
        self.bring_up(ok, err)

    @dbus.service.method(DEVICE_IFACE)
    def Disconnect(self):
        if self.sensor.adapter == self.adapter.name:
            self.daemon.drop_link(self.sensor)

    @dbus.service.method(DEVICE_IFACE, async_callbacks=("ok", "err"), sender_keyword="sender")
    def Pair(self, ok, err, sender=None):
        s = self.sensor
        s.pair_calls += 1
        if s.paired:
            err(Error("AlreadyExists", "Already Exists"))
            return

        def paired():
            s.paired = True
            self.set("Paired", dbus.Boolean(True))
            self.set("Bonded", dbus.Boolean(True))
            log("paired", s.addr)
            ok()

        def linked():
            if s.passkey is None:
                paired()  # Just Works started by us: real BlueZ does not ask the agent
                return
            # BlueZ asks the agent of the client that called Pair, else the default agent.
            self.daemon.ask_agent("RequestPasskey", "o", (dbus.ObjectPath(self.path),),
                                  lambda key: paired() if int(key) == s.passkey else
                                  err(Error("AuthenticationFailed", "wrong passkey")),
                                  lambda e: err(Error("AuthenticationFailed", str(e))), sender)

        self.bring_up(linked, err)

    @dbus.service.method(DEVICE_IFACE)
    def CancelPairing(self):
        pass


class GattService(PropsObject):
    iface = GATT_SERVICE_IFACE

    def __init__(self, daemon, path, device):
        super().__init__(daemon, path, {
            "UUID": dbus.String(NUS_SERVICE),
            "Device": dbus.ObjectPath(device.path),
            "Primary": dbus.Boolean(True),
        })


class Characteristic(PropsObject):
    iface = GATT_CHAR_IFACE

    def __init__(self, daemon, path, service, uuid, flags):
        self.device = service.props["Device"]
        self.sensor = daemon.objects[str(self.device)].sensor
        super().__init__(daemon, path, {
            "UUID": dbus.String(uuid),
            "Service": dbus.ObjectPath(service.path),
            "Value": dbus.Array([], signature="y"),
            "Notifying": dbus.Boolean(False),
            "Flags": dbus.Array(flags, signature="s"),
            "MTU": dbus.UInt16(self.sensor.mtu),
        })
        if "notify" in flags:
            self.props["NotifyAcquired"] = dbus.Boolean(False)
        if "write-without-response" in flags:
            self.props["WriteAcquired"] = dbus.Boolean(False)
        self.sock = None  # our end of an acquired socket pair
        self.watch = None

    def acquire(self, what):
        """A SOCK_SEQPACKET pair as BlueZ gives for AcquireWrite/AcquireNotify: one end to the caller."""
        if not self.daemon.world.acquire:
            raise Error("NotSupported", "Operation is not supported")
        if self.sock is not None:
            raise Error("NotPermitted", what + " already acquired")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self.sock = ours
        self.watch = GLib.io_add_watch(ours.fileno(), GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, self.on_socket)
        fd = dbus.types.UnixFd(theirs.fileno())  # dup'ed for the reply
        theirs.close()
        return fd, dbus.UInt16(self.sensor.mtu)

    def on_socket(self, _fd, cond):
        s = self.sensor
        while self.sock is not None:
            try:
                data = self.sock.recv(1024)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:
                self.release()  # the gateway closed its end
                return False
            if self.props["Flags"] and "write-without-response" in self.props["Flags"]:
                if len(data) > s.mtu - 3:
                    s.write_errors += 1
                else:
                    s.written.append(bytes(data))
        return False

    def release(self):
        if self.watch is not None:
            GLib.source_remove(self.watch)
            self.watch = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            if "NotifyAcquired" in self.props:
                self.sensor.notifying = False
                self.set("NotifyAcquired", dbus.Boolean(False))
            if "WriteAcquired" in self.props:
                self.set("WriteAcquired", dbus.Boolean(False))

    @dbus.service.method(GATT_CHAR_IFACE, in_signature="a{sv}", out_signature="hq")
    def AcquireWrite(self, options):
        if "write-without-response" not in self.props["Flags"]:
            raise Error("NotSupported", "Operation is not supported")
        r = self.acquire("Write")
        self.set("WriteAcquired", dbus.Boolean(True))
        return r

    @dbus.service.method(GATT_CHAR_IFACE, in_signature="a{sv}", out_signature="hq")
    def AcquireNotify(self, options):
        if "notify" not in self.props["Flags"]:
            raise Error("NotSupported", "Operation is not supported")
        r = self.acquire("Notify")
        self.sensor.notifying = True
        self.set("NotifyAcquired", dbus.Boolean(True))
        return r

    @dbus.service.method(GATT_CHAR_IFACE, in_signature="aya{sv}", async_callbacks=("ok", "err"))
    def WriteValue(self, value, options, ok, err):
        s = self.sensor
        if "write" not in self.props["Flags"]:
            err(Error("NotPermitted", "Write not permitted"))
            return
        if s.writing:
            s.write_errors += 1
            err(Error("InProgress", "In Progress"))
            return
        if len(value) > s.mtu - 3:
            s.write_errors += 1
            err(Error("Failed", "Operation failed with ATT error: 0x0d (value too long for MTU %d)" % s.mtu))
            return
        if str(options.get("type", "")) != "command":
            s.write_errors += 1
        s.writing = True
        s.written.append(bytes(value))

        def done():
            s.writing = False
            ok()
            return False

        GLib.timeout_add(WRITE_DELAY_MS, done)

    @dbus.service.method(GATT_CHAR_IFACE, in_signature="a{sv}", out_signature="ay")
    def ReadValue(self, options):
        return self.props["Value"]

    @dbus.service.method(GATT_CHAR_IFACE)
    def StartNotify(self):
        if "notify" not in self.props["Flags"]:
            raise Error("NotSupported", "Operation is not supported")
        self.sensor.notifying = True
        self.set("Notifying", dbus.Boolean(True))

    @dbus.service.method(GATT_CHAR_IFACE)
    def StopNotify(self):
        self.sensor.notifying = False
        self.set("Notifying", dbus.Boolean(False))


class Daemon:
    """One bluetoothd instance: its own bus connection, so a restart gets a new unique name."""

    def __init__(self, world, address):
        self.world = world
        self.closed = False
        self.conn = dbus.bus.BusConnection(address)
        self.objects = {}
        self.agents = {}
        self.default_agent = None
        self.last_filter = {}
        self.adapters = {}  # name -> Adapter
        self.root = Root(self)
        self.agent_manager = AgentManager(self)
        for name, hw in sorted(world.hw.items()):
            if hw.present:
                self.add_adapter(name)
        self.conn.request_name(BLUEZ)
        log("org.bluez owned by", self.conn.get_unique_name())

    @property
    def adapter(self):
        """The first adapter (hci0), which the single-adapter controls act on."""
        return self.adapters.get("hci0")

    def add_adapter(self, name="hci0"):
        a = Adapter(self, self.world.hw[name])
        self.adapters[name] = a
        self.add_object(a)
        for s in self.world.sensors.values():
            if s.paired and a.hears(s):  # bonds persist across restarts
                self.device_for(s, create=True, adapter=name)

    def remove_adapter(self, name="hci0"):
        a = self.adapters.get(name)
        if not a:
            return
        for s in self.world.sensors.values():
            if s.adapter == name:
                self.drop_link(s)
        for p in sorted([p for p in self.objects if p.startswith(a.path + "/")], reverse=True):
            self.remove_object(self.objects[p])
        self.remove_object(a)
        GLib.source_remove(a.timer)
        del self.adapters[name]

    def shutdown(self):
        self.closed = True
        for s in self.world.sensors.values():
            s.connected = s.notifying = s.writing = False
            s.adapter = None
        for a in self.adapters.values():
            GLib.source_remove(a.timer)
        for o in list(self.objects.values()):
            if isinstance(o, Characteristic):
                o.release()
        for o in list(self.objects.values()) + [self.root, self.agent_manager]:
            o.remove_from_connection()
        self.conn.release_name(BLUEZ)
        self.conn.close()

    def add_object(self, obj):
        self.objects[obj.path] = obj
        self.root.InterfacesAdded(dbus.ObjectPath(obj.path), obj.interfaces())

    def remove_object(self, obj):
        if self.objects.get(obj.path) is obj:
            del self.objects[obj.path]
            self.root.InterfacesRemoved(dbus.ObjectPath(obj.path), [obj.iface])
            obj.remove_from_connection()

    def device_for(self, sensor, create=False, adapter=None):
        """The sensor's device on `adapter`; by default on the adapter holding its link, else hci0."""
        name = adapter or sensor.adapter or "hci0"
        a = self.adapters.get(name)
        if a is None:
            return None
        path = a.path + "/dev_" + sensor.addr.replace(":", "_")
        dev = self.objects.get(path)
        if dev is None and create:
            dev = Device(self, sensor, a)
            self.add_object(dev)
        return dev

    def drop_link(self, sensor):
        sensor.notifying = sensor.writing = False
        if not sensor.connected:
            return
        dev = self.device_for(sensor)
        sensor.connected = False
        sensor.adapter = None
        if dev:
            dev.tear_down()
        log("link dropped", sensor.addr)

    def set_powered(self, on, name="hci0"):
        if on and self.world.blocked:
            raise Error("Blocked", "Blocked through rfkill")
        self.world.hw[name].powered = on
        a = self.adapters.get(name)
        if not a:
            return
        if not on:
            for s in self.world.sensors.values():
                if s.adapter == name:
                    self.drop_link(s)
            a.discovery_clients.clear()
            a.set("Discovering", dbus.Boolean(False))
        a.set("Powered", dbus.Boolean(on))

    def ask_agent(self, method, signature, args, reply, error, requester=None):
        owner = requester if requester in self.agents else self.default_agent
        if not owner:
            error("no agent")
            return
        path, _ = self.agents[owner]
        self.conn.call_async(owner, path, "org.bluez.Agent1", method, signature, args, reply, error)


class Control(dbus.service.Object):
    def __init__(self, conn, world, address):
        self.world = world
        self.address = address
        self.daemon = Daemon(world, address)
        super().__init__(conn, "/test")

    def sensor(self, addr):
        s = self.world.sensors.get(str(addr).upper())
        if s is None:
            raise dbus.DBusException("no sensor " + addr, name="org.example.FakeBlueZ.Error.NoSensor")
        return s

    @dbus.service.method(CONTROL_IFACE, in_signature="ssnb")
    def AddSensor(self, addr, name, rssi, advertises):
        s = Sensor(str(addr), str(name), int(rssi), bool(advertises))
        self.world.sensors[s.addr] = s
        if self.daemon:
            for a in self.daemon.adapters.values():
                a.advertise()

    @dbus.service.method(CONTROL_IFACE, in_signature="si")
    def SetPasskey(self, addr, passkey):
        self.sensor(addr).passkey = None if passkey < 0 else int(passkey)

    @dbus.service.method(CONTROL_IFACE, in_signature="sb")
    def SetInRange(self, addr, in_range):
        s = self.sensor(addr)
        s.in_range = bool(in_range)
        if not in_range:
            self.daemon.drop_link(s)

    @dbus.service.method(CONTROL_IFACE, in_signature="sq")
    def SetMtu(self, addr, mtu):
        s = self.sensor(addr)
        s.mtu = int(mtu)
        dev = self.daemon.device_for(s)
        if dev:
            for c in dev.gatt[1:]:
                c.set("MTU", dbus.UInt16(s.mtu))

    @dbus.service.method(CONTROL_IFACE, in_signature="say", out_signature="b")
    def Notify(self, addr, value):
        """One notification on TX (at most MTU - 3 bytes, as the radio allows)."""
        s = self.sensor(addr)
        dev = self.daemon.device_for(s)
        if not (dev and s.connected and s.notifying and dev.tx()) or len(value) > s.mtu - 3:
            return False
        if dev.tx().sock is not None:
            dev.tx().sock.send(bytes(value))  # acquired: through the socket, no PropertiesChanged
            s.notified_by_socket += 1
        else:
            dev.tx().set("Value", dbus.Array(bytes(value), signature="y"))
        return True

    @dbus.service.method(CONTROL_IFACE, in_signature="b")
    def SetAcquire(self, on):
        """Offer AcquireWrite/AcquireNotify (default) or answer NotSupported, as older BlueZ does."""
        self.world.acquire = bool(on)

    @dbus.service.method(CONTROL_IFACE, in_signature="s")
    def DropLink(self, addr):
        self.daemon.drop_link(self.sensor(addr))

    @dbus.service.method(CONTROL_IFACE, in_signature="b")
    def SetPowered(self, on):
        self.daemon.set_powered(bool(on))

    @dbus.service.method(CONTROL_IFACE, in_signature="b")
    def SetBlocked(self, blocked):
        self.world.blocked = bool(blocked)
        if blocked and self.world.powered:
            self.daemon.set_powered(False)

    @dbus.service.method(CONTROL_IFACE, in_signature="b")
    def SetAdapterPresent(self, present):
        self.world.adapter_present = bool(present)
        if present and not self.daemon.adapter:
            self.daemon.add_adapter()
        elif not present:
            self.daemon.remove_adapter()

    @dbus.service.method(CONTROL_IFACE, in_signature="sqb")
    def AddAdapter(self, name, max_links, present):
        """Adds (or reconfigures) adapter `name` with at most `max_links` links at once (0: no limit)."""
        name = str(name)
        hw = self.world.hw.get(name)
        if hw is None:
            n = len(self.world.hw)
            hw = self.world.hw[name] = AdapterState(name, "00:1A:7D:DA:71:%02X" % (0x13 + n))
        hw.max_links = int(max_links)
        hw.present = bool(present)
        if present and self.daemon and name not in self.daemon.adapters:
            self.daemon.add_adapter(name)
        elif not present and self.daemon:
            self.daemon.remove_adapter(name)

    @dbus.service.method(CONTROL_IFACE, in_signature="sb")
    def SetAdapterPowered(self, name, on):
        self.daemon.set_powered(bool(on), str(name))

    @dbus.service.method(CONTROL_IFACE, in_signature="s", out_signature="a{sv}")
    def AdapterStats(self, name):
        hw = self.world.hw[str(name)]
        links = sum(1 for s in self.world.sensors.values() if s.connected and s.adapter == hw.name)
        return {"links": dbus.UInt32(links), "max_links_seen": dbus.UInt32(hw.max_links_seen),
                "connects": dbus.UInt32(hw.connects), "refused": dbus.UInt32(hw.refused)}

    @dbus.service.method(CONTROL_IFACE, in_signature="sb")
    def SetAdvertising(self, addr, on):
        """A sleeping sensor stops advertising (its link, if any, stays until someone drops it)."""
        s = self.sensor(addr)
        s.advertising = bool(on)
        if on and self.daemon:
            for a in self.daemon.adapters.values():
                a.advertise()

    @dbus.service.method(CONTROL_IFACE, in_signature="sas")
    def SetHeardBy(self, addr, names):
        """Only these adapters hear the sensor (an empty list: all of them)."""
        self.sensor(addr).heard_by = set(str(n) for n in names) or None

    @dbus.service.method(CONTROL_IFACE, in_signature="u")
    def Restart(self, down_ms):
        """bluetoothd exits (objects vanish without InterfacesRemoved) and comes back later."""
        self.daemon.shutdown()
        self.daemon = None

        def back():
            self.daemon = Daemon(self.world, self.address)
            return False

        GLib.timeout_add(int(down_ms), back)

    @dbus.service.method(CONTROL_IFACE, in_signature="s", out_signature="aay")
    def Written(self, addr):
        return [dbus.ByteArray(w) for w in self.sensor(addr).written]

    @dbus.service.method(CONTROL_IFACE, in_signature="s")
    def ClearWritten(self, addr):
        self.sensor(addr).written = []

    @dbus.service.method(CONTROL_IFACE, in_signature="s", out_signature="a{sv}")
    def State(self, addr):
        s = self.sensor(addr)
        dev = self.daemon.device_for(s) if self.daemon else None
        return {
            "exists": dbus.Boolean(dev is not None),
            "connected": dbus.Boolean(s.connected),
            "paired": dbus.Boolean(s.paired),
            "trusted": dbus.Boolean(s.trusted),
            "notifying": dbus.Boolean(s.notifying),
            "connect_calls": dbus.UInt32(s.connect_calls),
            "adapter": dbus.String(s.adapter or ""),
            "write_acquired": dbus.Boolean(bool(dev and dev.rx() and dev.rx().sock is not None)),
            "notify_acquired": dbus.Boolean(bool(dev and dev.tx() and dev.tx().sock is not None)),
            "notified_by_socket": dbus.UInt32(s.notified_by_socket),
            "pair_calls": dbus.UInt32(s.pair_calls),
            "write_errors": dbus.UInt32(s.write_errors),
            "mtu": dbus.UInt16(s.mtu),
        }

    @dbus.service.method(CONTROL_IFACE, out_signature="a{sv}")
    def Adapter(self):
        d = self.daemon
        a = d.adapter if d else None
        agent = d.agents.get(d.default_agent, ("", "")) if d else ("", "")
        return {
            "up": dbus.Boolean(d is not None),
            "powered": dbus.Boolean(bool(a and a.props["Powered"])),
            "discovering": dbus.Boolean(bool(a and a.props["Discovering"])),
            "filter": dbus.Dictionary(d.last_filter if d else {}, signature="sv"),
            "agent_path": dbus.String(agent[0]),
            "agent_capability": dbus.String(agent[1]),
        }

    @dbus.service.method(CONTROL_IFACE, in_signature="s", out_signature="s", async_callbacks=("ok", "err"))
    def SensorPair(self, addr, ok, err):
        """The sensor starts pairing (it connected to us): BlueZ asks the default agent to confirm."""
        s = self.sensor(addr)
        d = self.daemon
        dev = d.device_for(s, create=True)

        def accepted(*_):
            s.paired = True
            dev.set("Paired", dbus.Boolean(True))
            dev.set("Bonded", dbus.Boolean(True))
            ok("accepted")

        def rejected(e):
            ok(e.get_dbus_name() if isinstance(e, dbus.DBusException) else str(e))

        d.ask_agent("RequestConfirmation", "ou", (dbus.ObjectPath(dev.path), dbus.UInt32(123456)), accepted,
                    rejected)


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    address = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
    control_conn = dbus.bus.BusConnection(address)
    Control(control_conn, World(), address)
    control_conn.request_name("org.example.FakeBlueZ")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
