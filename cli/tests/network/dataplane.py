"""The VPC data plane with real packets, driven by cli/tests/vpc_dataplane.rs, which runs
one `kumo up --no-agent` and three `kumo agent` processes whose host networking lives in
the namespaces `<prefix>-h1..3` of a `kumo_compute_node::testing::Topology`, then runs
this script in phases: `dataplane.py ENDPOINT STATE_DIR PHASE` with PHASE one of
`setup`, `probe`, `end` (the phase is the harness's check-name prefix). The Rust side writes
STATE_DIR/dataplane-input.json ({"prefix", "hosts": [names], "outside_netns",
"outside_addr", "public_pool"}); `setup` writes STATE_DIR/dataplane.json (accounts' keys,
instances, addresses, hosts) for the later phases and for the Rust side.

Every API call goes through boto3 (EC2) or the native operator API (pool, host pinning).
Probes are TCP sockets opened inside the instances' network namespaces (`kumo-<id>`) or
the outside namespace, on a thread that entered it with setns(2); DNS queries to the VPC's
resolver (10.0.0.2) are UDP packets built here, sent the same way, and a container's
/etc/resolv.conf is read through /proc/<pid>/root of one of its processes.

World (placement pinned by enabling one host at a time):
  host 1: a1 (A, front, 10.0.1.10), a4 (A, back, 10.0.1.13), b2 (B, 10.0.1.11)
  host 2: a2 (A, back, 10.0.1.11),  b1 (B, 10.0.1.10)
  host 3: a3 (A, back, 10.0.1.12, a TCG VM)
A and B each have a VPC 10.0.0.0/16 with subnet 10.0.1.0/24, an internet gateway and a
0.0.0.0/0 route. A's `back` admits tcp 80 (and 5001, the throughput port) only from
`front`; `front` admits tcp 80 from `back` and from the outside's /24. Containers run
busybox httpd on 80 and on 22 (the page: the instance's name).
"""
import ctypes
import json
import os
import socket
import statistics
import threading
import time

from harness import (
    check,
    client,
    create_account,
    create_user,
    expect,
    login,
    ok_native,
    operator_token,
    report,
    run_tag,
    state_dir,
)

INPUT = json.load(open(os.path.join(state_dir, "dataplane-input.json")))
STATE_FILE = os.path.join(state_dir, "dataplane.json")
VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDR = "10.0.1.0/24"
OUTSIDE = INPUT["outside_netns"]
OUTSIDE_ADDR = INPUT["outside_addr"]
SG_CYCLES = 20

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


# ---------------------------------------------------------------------------------------
# Sockets in other network namespaces


def in_netns(ns, fn):
    """Run FN on a thread inside the named namespace NS (sockets it opens stay there)."""
    out = {}

    def run():
        try:
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            out["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def connect(ns, ip, port, timeout=1.0):
    """A fresh TCP connection from NS: 'ok', 'refused' or 'timeout' (no answer at all)."""

    def attempt():
        s = socket.socket()
        s.settimeout(timeout)
        try:
            s.connect((ip, port))
            return "ok"
        except ConnectionRefusedError:
            return "refused"
        except OSError:
            return "timeout"
        finally:
            s.close()

    return in_netns(ns, attempt)


def http_get(ns, ip, port=80, timeout=2.0, path="/"):
    """The body of `GET PATH` at IP:PORT from NS (stripped), or None."""

    def attempt():
        try:
            with socket.create_connection((ip, port), timeout=timeout) as s:
                s.settimeout(timeout)
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return None
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n")[0].split()
        if len(status) < 2 or status[1] != b"200":
            return None
        return body.decode("utf-8", "replace").strip()

    return in_netns(ns, attempt)


def wait_for(what, fn, limit=30.0, interval=0.2):
    deadline = time.monotonic() + limit
    while True:
        got = fn()
        if got:
            return got
        expect(time.monotonic() < deadline, f"{what}: not within {limit} s")
        time.sleep(interval)


def ns_of(instance_id):
    return f"kumo-{instance_id}"


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# ---------------------------------------------------------------------------------------
# State shared between phases


def save(state):
    with open(STATE_FILE, "w") as f:
        json.dump(state, f, indent=1)


def load():
    with open(STATE_FILE) as f:
        return json.load(f)


S = load() if os.path.exists(STATE_FILE) else {}


def ec2(account):
    return client("ec2", tuple(S["accounts"][account]["key"]))


def inst(name):
    return S["instances"][name]


def user_data(name, fetch_from=None):
    """A user-data script: serve NAME on 80 and 22; with FETCH_FROM, also fetch that
    address's page every second into /peer (the instance connecting out)."""
    script = (
        "#!/bin/sh\n"
        "mkdir -p /www\n"
        f"echo {name} > /www/index.html\n"
        "httpd -p 80 -h /www\n"
        "httpd -p 22 -h /www\n"
    )
    if fetch_from:
        script += (
            "while :; do\n"
            # HTTP through nc: this busybox's static wget crashes on some fetches.
            f"  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc {fetch_from} 80 | tr -d '\\r' | sed '1,/^$/d' > /www/peer.tmp\n"
            "  [ -s /www/peer.tmp ] && mv /www/peer.tmp /www/peer\n"
            "  sleep 1\n"
            "done\n"
        )
    return script


# ---------------------------------------------------------------------------------------
# Phase setup


@check
def setup_world():
    hosts_wanted = INPUT["hosts"]

    def all_reachable():
        hosts = ok_native("GET", "/v1/hosts", None, operator_token())
        by_name = {h["name"]: h for h in hosts}
        if all(by_name.get(n, {}).get("reachable") for n in hosts_wanted):
            return by_name
        return None

    by_name = wait_for("three enrolled, reachable hosts", all_reachable, limit=90, interval=0.5)
    for n, name in enumerate(hosts_wanted, start=1):
        h = by_name[name]
        expect(h["vtep_address"] == f"10.77.0.1{n}", f"{name} vtep {h['vtep_address']}")
        expect(h["uplink"] == "up0", f"{name} uplink {h['uplink']}")
    S["hosts"] = {name: by_name[name]["host_id"] for name in hosts_wanted}

    accounts = {}
    for name in ("a", "b"):
        account_id = create_account(f"dp-{name}")
        key = create_user(account_id, "admin", "admin")
        accounts[name] = {"id": account_id, "key": list(key), "token": login(account_id, "admin")}
    S["accounts"] = accounts
    zone = ec2("a").describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    S["zone"] = zone
    S["pool"] = f"dp-{run_tag}"
    ok_native(
        "POST", "/v1/address-pools", {"name": S["pool"], "zone": zone, "cidr": INPUT["public_pool"]}, operator_token()
    )

    images = ec2("a").describe_images()["Images"]
    container_image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-container")
    vm_image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-vm")

    vpcs = {}
    for name in ("a", "b"):
        c = ec2(name)
        vpc = c.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        subnet = c.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        igw = c.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        c.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        main = c.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"][0]["RouteTableId"]
        c.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        vpcs[name] = {"vpc": vpc, "subnet": subnet, "igw": igw}
    S["vpcs"] = vpcs

    ca, cb = ec2("a"), ec2("b")
    va = vpcs["a"]["vpc"]
    front = ca.create_security_group(GroupName=f"front-{run_tag}", Description="front", VpcId=va)["GroupId"]
    back = ca.create_security_group(GroupName=f"back-{run_tag}", Description="back", VpcId=va)["GroupId"]
    web_b = cb.create_security_group(GroupName=f"web-{run_tag}", Description="web", VpcId=vpcs["b"]["vpc"])["GroupId"]

    def tcp(port, groups=(), cidrs=()):
        return {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "UserIdGroupPairs": [{"GroupId": g} for g in groups],
            "IpRanges": [{"CidrIp": c} for c in cidrs],
        }

    ca.authorize_security_group_ingress(
        GroupId=back, IpPermissions=[tcp(80, groups=[front]), tcp(5001, groups=[front])]
    )
    ca.authorize_security_group_ingress(
        GroupId=front, IpPermissions=[tcp(80, groups=[back]), tcp(80, cidrs=[f"{OUTSIDE_ADDR}/32"])]
    )
    cb.authorize_security_group_ingress(GroupId=web_b, IpPermissions=[tcp(80, cidrs=[VPC_CIDR])])
    S["groups"] = {"front": front, "back": back, "web_b": web_b}

    # name: (account, host index, address, group, kind)
    plan = [
        ("a1", "a", 1, "10.0.1.10", front, "container"),
        ("a2", "a", 2, "10.0.1.11", back, "container"),
        ("a3", "a", 3, "10.0.1.12", back, "vm"),
        ("a4", "a", 1, "10.0.1.13", back, "container"),
        ("b1", "b", 2, "10.0.1.10", web_b, "container"),
        ("b2", "b", 1, "10.0.1.11", web_b, "container"),
    ]
    host_ids = [S["hosts"][n] for n in hosts_wanted]
    instances = {}
    try:
        for name, acct, host, ip, group, kind in plan:
            # Placement: only the wanted host takes new instances for this launch.
            for index, host_id in enumerate(host_ids, start=1):
                action = "enable" if index == host else "disable"
                ok_native("POST", f"/v1/hosts/{host_id}/{action}", None, operator_token())
            launched = ec2(acct).run_instances(
                ImageId=vm_image if kind == "vm" else container_image,
                InstanceType="t3.micro",
                MinCount=1,
                MaxCount=1,
                SubnetId=vpcs[acct]["subnet"],
                SecurityGroupIds=[group],
                PrivateIpAddress=ip,
                # The VM (in `back`) also connects out to a1 (`front` admits 80 from `back`).
                UserData=user_data(name, fetch_from="10.0.1.10" if kind == "vm" else None),
            )["Instances"][0]
            instances[name] = {
                "id": launched["InstanceId"],
                "account": acct,
                "ip": ip,
                "host": host,
                "kind": kind,
            }
    finally:
        for host_id in host_ids:
            ok_native("POST", f"/v1/hosts/{host_id}/enable", None, operator_token())
    S["instances"] = instances
    save(S)

    for name, i in instances.items():
        native = ok_native("GET", f"/v1/instances/{i['id']}", None, S["accounts"][i["account"]]["token"])
        expect(native["host_id"] == host_ids[i["host"] - 1], f"{name} on {native['host_id']}")
    for name, i in instances.items():
        c = ec2(i["account"])

        def running(i=i, c=c):
            got = c.describe_instances(InstanceIds=[i["id"]])["Reservations"][0]["Instances"][0]
            expect(got["State"]["Name"] in ("pending", "running"), f"{got['State']}")
            return got["State"]["Name"] == "running"

        wait_for(f"{name} running", running, limit=120, interval=0.5)
    for name, i in instances.items():
        if i["kind"] == "container":
            wait_for(f"{name}'s httpd", lambda i=i, name=name: http_get(ns_of(i["id"]), "127.0.0.1") == name, limit=60)
    return {n: (i["id"], f"h{i['host']}", i["ip"]) for n, i in instances.items()}


# ---------------------------------------------------------------------------------------
# Phase probe


@check
def probe_tcp_both_ways_across_hosts():
    a1, a2, a4 = inst("a1"), inst("a2"), inst("a4")
    # First packets may wait for a host's long poll to land: allow a few seconds once.
    wait_for("a1 -> a2:80", lambda: http_get(ns_of(a1["id"]), a2["ip"]) == "a2", limit=20)
    expect(http_get(ns_of(a2["id"]), a1["ip"]) == "a1", "a2 (host 2) -> a1 (host 1):80")
    expect(http_get(ns_of(a4["id"]), a1["ip"]) == "a1", "a4 (host 1) -> a1 (host 1):80")
    expect(http_get(ns_of(a1["id"]), a4["ip"]) == "a4", "a1 -> a4 (one host, one bridge):80")
    # back admits 80 only from front: back -> back is dropped, across hosts both ways.
    expect(connect(ns_of(a2["id"]), a4["ip"], 80, 1.0) == "timeout", "a2 -> a4:80 must be dropped")
    expect(connect(ns_of(a4["id"]), a2["ip"], 80, 1.0) == "timeout", "a4 -> a2:80 must be dropped")


@check
def probe_vm_takes_part():
    a1, a2, vm = inst("a1"), inst("a2"), inst("a3")
    console = ""
    deadline = time.monotonic() + 120
    while "KUMO-BOOT-COMPLETE" not in console:
        expect(time.monotonic() < deadline, f"the VM never booted: {console[-500:]}")
        time.sleep(1)
        console = ec2("a").get_console_output(InstanceId=vm["id"]).get("Output", "") or ""
    # The VM's user-data script serves its name: a1 (host 1) reaches it across the tunnel.
    wait_for("a1 -> VM:80 (httpd in the VM)", lambda: http_get(ns_of(a1["id"]), vm["ip"]) == "a3", 60)
    # And the VM connects out: it fetches a1's page (host 3 -> host 1) into /peer.
    try:
        wait_for(
            "VM -> a1:80 (the VM's own fetch)",
            lambda: http_get(ns_of(a1["id"]), vm["ip"], path="/peer") == "a1",
            60,
        )
    except AssertionError as e:
        console = ec2("a").get_console_output(InstanceId=vm["id"]).get("Output", "") or ""
        raise AssertionError(f"{e}; the VM's console: {console[-1500:]}") from None
    # Port 22 and back -> back are not admitted: silence, not a reset.
    expect(connect(ns_of(a1["id"]), vm["ip"], 22, 1.0) == "timeout", "a1 -> VM:22 must be dropped")
    expect(connect(ns_of(a2["id"]), vm["ip"], 80, 1.0) == "timeout", "a2 -> VM:80 must be dropped")
    # Its /init fetched the metadata over TCP from its host's router namespace.
    expect(f"KUMO-INSTANCE-ID: {vm['id']}" in console, f"VM metadata: {console[-300:]}")


@check
def probe_same_addresses_other_vpc():
    a1, a2, a4, vm = inst("a1"), inst("a2"), inst("a4"), inst("a3")
    b1, b2 = inst("b1"), inst("b2")
    expect(b1["ip"] == a1["ip"] and b2["ip"] == a2["ip"], "B reuses A's addresses")
    # b2 (host 1) holds a2's address next to a1: a1 still reaches a2 on host 2.
    expect(http_get(ns_of(a1["id"]), a2["ip"]) == "a2", "a1 -> 10.0.1.11 must be a2")
    # b2 -> 10.0.1.10 is b1 (host 2), not a1 (host 1, same bridge host).
    wait_for("b2 -> b1", lambda: http_get(ns_of(b2["id"]), b1["ip"]) == "b1", limit=20)
    expect(http_get(ns_of(b1["id"]), b2["ip"]) == "b2", "b1 -> 10.0.1.11 must be b2")
    # b1 carries 10.0.1.10, which A's `back` admits (a1's address): only the VPC keeps it out.
    expect(connect(ns_of(b1["id"]), a4["ip"], 80, 1.0) == "timeout", "b1 -> 10.0.1.13 (A's a4) must get nothing")
    expect(connect(ns_of(b2["id"]), a4["ip"], 80, 1.0) == "timeout", "b2 -> 10.0.1.13 (same host) must get nothing")
    expect(connect(ns_of(b1["id"]), vm["ip"], 80, 1.0) == "timeout", "b1 -> 10.0.1.12 (A's VM) must get nothing")
    expect(connect(ns_of(a1["id"]), b1["ip"], 80, 1.0) == "ok", "a1 -> 10.0.1.10 is itself")


def first_success(ns, ip, port, limit=10.0):
    """Seconds until a fresh connection from NS to IP:PORT succeeds (50 ms attempts)."""

    def loop():
        started = time.monotonic()
        while time.monotonic() - started < limit:
            s = socket.socket()
            s.settimeout(0.05)
            try:
                s.connect((ip, port))
                return time.monotonic() - started
            except OSError:
                pass
            finally:
                s.close()
        return None

    return in_netns(ns, loop)


def first_failure(ns, ip, port, limit=10.0):
    """Seconds until fresh connections from NS to IP:PORT get no answer within 100 ms,
    three in a row (the time of the first of them). One alone proves nothing: busybox
    httpd's listen backlog is 9 and drops SYNs when connections come faster than it forks."""

    def loop():
        started = time.monotonic()
        silent_since, silent = None, 0
        while time.monotonic() - started < limit:
            attempt = time.monotonic()
            s = socket.socket()
            s.settimeout(0.1)
            try:
                s.connect((ip, port))
                silent_since, silent = None, 0
            except OSError:
                silent_since = silent_since if silent else attempt
                silent += 1
                if silent == 3:
                    return silent_since - started
            finally:
                s.close()
            time.sleep(0.01)
        return None

    return in_netns(ns, loop)


@check
def probe_security_group_port_22():
    a1, a2 = inst("a1"), inst("a2")
    front, back = S["groups"]["front"], S["groups"]["back"]
    ns = ns_of(a1["id"])
    c = ec2("a")
    expect(http_get(ns, a2["ip"]) == "a2", "a1 -> a2:80")
    expect(connect(ns, a2["ip"], 22, 1.0) == "timeout", "a1 -> a2:22 before authorizing")
    # An established port-80 connection: the request's header lines trickle in across
    # every change to 22, the answer comes at the end.
    held = in_netns(ns, lambda: socket.create_connection((a2["ip"], 80), timeout=3))
    held.settimeout(5)
    held.sendall(b"GET / HTTP/1.0\r\n")
    rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": front}]}
    enforce, stop = [], []
    started = time.monotonic()
    for cycle in range(SG_CYCLES):
        c.authorize_security_group_ingress(GroupId=back, IpPermissions=[rule])
        took = first_success(ns, a2["ip"], 22)
        expect(took is not None, f"cycle {cycle}: 22 never opened after authorizing")
        enforce.append(took)
        expect(http_get(ns, a2["ip"], 22) == "a2", f"cycle {cycle}: a2:22 answers")
        held.sendall(f"X-Cycle-{cycle}: open\r\n".encode())
        c.revoke_security_group_ingress(GroupId=back, IpPermissions=[rule])
        took = first_failure(ns, a2["ip"], 22)
        expect(took is not None, f"cycle {cycle}: 22 stayed open after revoking")
        stop.append(took)
        held.sendall(f"X-Cycle-{cycle}: closed\r\n".encode())
        if time.monotonic() - started > 45:  # busybox httpd waits 60 s for a request's headers
            break
    got = connect(ns, a2["ip"], 22, 1.0)
    expect(got == "timeout", f"a1 -> a2:22 after the last revoke: {got} (cycles {len(stop)}, {stop})")
    held.sendall(b"\r\n")
    answer = b""
    while chunk := held.recv(65536):
        answer += chunk
    held.close()
    expect(answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200"), f"held: {answer[:80]!r}")
    expect(answer.rstrip().endswith(b"a2"), f"held connection's page: {answer[-40:]!r}")
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    figures = {
        "cycles": len(enforce),
        "authorize_p50_ms": ms(statistics.median(enforce)),
        "authorize_p99_ms": ms(percentile(enforce, 99)),
        "authorize_max_ms": ms(max(enforce)),
        "revoke_p50_ms": ms(statistics.median(stop)),
        "revoke_p99_ms": ms(percentile(stop, 99)),
        "authorize_ms": [ms(v) for v in enforce],
    }
    print("FIGURE sg_remote " + json.dumps(figures), flush=True)
    return figures


@check
def probe_elastic_ip():
    a1 = inst("a1")
    c = ec2("a")
    allocation = c.allocate_address(Domain="vpc")
    eip, alloc_id = allocation["PublicIp"], allocation["AllocationId"]
    S["eip"] = {"ip": eip, "allocation": alloc_id}
    save(S)
    association = c.associate_address(AllocationId=alloc_id, InstanceId=a1["id"])["AssociationId"]
    took_started = time.monotonic()
    wait_for(f"outside -> {eip}:80", lambda: http_get(OUTSIDE, eip, 80, 1.0) == "a1", limit=20)
    reach = time.monotonic() - took_started
    # Outbound: a1 connects to the outside; the outside sees the elastic IP.
    listener = in_netns(OUTSIDE, lambda: socket.create_server((OUTSIDE_ADDR, 9000)))
    listener.settimeout(5)
    expect(connect(ns_of(a1["id"]), OUTSIDE_ADDR, 9000, 3.0) == "ok", "a1 -> outside:9000")
    conn, peer = listener.accept()
    conn.close()
    expect(peer[0] == eip, f"the outside saw {peer[0]}, not {eip}")
    c.disassociate_address(AssociationId=association)
    wait_for(f"{eip} unreachable", lambda: http_get(OUTSIDE, eip, 80, 0.5) is None, limit=20)
    time.sleep(1)
    expect(http_get(OUTSIDE, eip, 80, 1.0) is None, f"{eip} answers after disassociation")
    # And a1's outbound traffic no longer leaves (no public address, no NAT).
    expect(connect(ns_of(a1["id"]), OUTSIDE_ADDR, 9000, 1.0) != "ok", "a1 reaches the outside without an address")
    listener.close()
    c.release_address(AllocationId=alloc_id)
    return {"eip": eip, "reachable_after_s": round(reach, 2)}


# ---------------------------------------------------------------------------------------
# The VPC's resolver (AmazonProvidedDNS at the VPC's base + 2)

VPC_RESOLVER = "10.0.0.2"


def dns_name(data, offset):
    """The name at OFFSET of a DNS message (compression followed) and the offset after it."""
    labels, after, jumps = [], None, 0
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            jumps += 1
            expect(jumps < 20, "DNS name: compression loop")
            if after is None:
                after = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        offset += 1
        if length == 0:
            return ".".join(labels), offset if after is None else after
        labels.append(data[offset : offset + length].decode("ascii"))
        offset += length


def dns_query(ns, server, name, qtype, timeout=1.0):
    """Ask SERVER (UDP, from inside NS) for NAME's records of QTYPE (1 A, 12 PTR): the
    answers' data (addresses or names), or None when nothing answers."""
    query_id = int.from_bytes(os.urandom(2), "big")
    question = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.split(".")) + b"\0"
    packet = query_id.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    packet += question + qtype.to_bytes(2, "big") + b"\x00\x01"

    def ask():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(packet, (server, 53))
            while True:
                data, _ = s.recvfrom(4096)
                if data[:2] == packet[:2]:
                    return data
        except OSError:
            return None
        finally:
            s.close()

    data = in_netns(ns, ask)
    if data is None:
        return None
    expect(data[3] & 0x0F == 0, f"{name}: DNS rcode {data[3] & 0x0F}")
    answers = int.from_bytes(data[6:8], "big")
    _, offset = dns_name(data, 12)
    offset += 4
    found = []
    for _ in range(answers):
        _, offset = dns_name(data, offset)
        rtype = int.from_bytes(data[offset : offset + 2], "big")
        length = int.from_bytes(data[offset + 8 : offset + 10], "big")
        rdata = offset + 10
        if rtype == 1 and qtype == 1:
            found.append(socket.inet_ntoa(data[rdata : rdata + 4]))
        elif rtype == 12 and qtype == 12:
            found.append(dns_name(data, rdata)[0])
        offset = rdata + length
    return found


def container_pid(instance_id):
    """A process of the container (its own mount namespace, in its network namespace)."""
    net = os.stat(f"/var/run/netns/{ns_of(instance_id)}").st_ino
    own_mnt = os.stat("/proc/self/ns/mnt").st_ino
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == net and os.stat(f"/proc/{entry}/ns/mnt").st_ino != own_mnt:
                return int(entry)
        except OSError:
            continue
    return None


def container_resolv_conf(instance_id):
    """The container's /etc/resolv.conf as its processes see it ('' when it has none)."""
    pid = wait_for(f"a process of {instance_id}", lambda: container_pid(instance_id), limit=30)
    try:
        with open(f"/proc/{pid}/root/etc/resolv.conf") as f:
            return f.read()
    except FileNotFoundError:
        return ""


@check
def probe_vpc_resolver():
    a1, a2 = inst("a1"), inst("a2")
    c = ec2("a")
    vpc = S["vpcs"]["a"]["vpc"]
    ns = ns_of(a1["id"])
    got = c.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsSupport")
    expect(got["EnableDnsSupport"]["Value"] is True, f"enableDnsSupport {got}")
    # a2's private DNS name (host 2) resolves from a1 (host 1) through the VPC's resolver,
    # both ways.
    described = c.describe_instances(InstanceIds=[a2["id"]])["Reservations"][0]["Instances"][0]
    name = described["PrivateDnsName"]
    expect(name == "ip-10-0-1-11.ec2.internal", f"a2's private DNS name {name}")
    forward = wait_for(f"{name} from a1", lambda: dns_query(ns, VPC_RESOLVER, name, 1), limit=10)
    expect(forward == [a2["ip"]], f"{name} -> {forward}")
    reverse_name = ".".join(reversed(a2["ip"].split("."))) + ".in-addr.arpa"
    reverse = dns_query(ns, VPC_RESOLVER, reverse_name, 12)
    expect(reverse == [name], f"{reverse_name} -> {reverse}")
    # The container is told so in its /etc/resolv.conf.
    resolv = container_resolv_conf(a1["id"])
    lines = [line.split() for line in resolv.splitlines() if line and not line.startswith("#")]
    expect(["nameserver", VPC_RESOLVER] in lines, f"a1's /etc/resolv.conf:\n{resolv}")
    expect(["search", "ec2.internal"] in lines, f"a1's /etc/resolv.conf:\n{resolv}")

    # DNS support off: the resolver goes from the hosts, and a new container is not told of it.
    c.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": False})
    got = c.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsSupport")
    expect(got["EnableDnsSupport"]["Value"] is False, f"enableDnsSupport {got}")
    launched = None
    try:
        wait_for("the resolver gone", lambda: dns_query(ns, VPC_RESOLVER, name, 1, 0.5) is None, limit=10)
        images = c.describe_images()["Images"]
        image = next(i["ImageId"] for i in images if i.get("Name") == "kumo-busybox-container")
        launched = c.run_instances(
            ImageId=image,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=S["vpcs"]["a"]["subnet"],
            SecurityGroupIds=[S["groups"]["back"]],
        )["Instances"][0]["InstanceId"]

        def running():
            got = c.describe_instances(InstanceIds=[launched])["Reservations"][0]["Instances"][0]
            return got["State"]["Name"] == "running" and os.path.exists(f"/var/run/netns/{ns_of(launched)}")

        wait_for("the new container running", running, limit=90, interval=0.5)
        without = container_resolv_conf(launched)
        expect(VPC_RESOLVER not in without, f"the new container's /etc/resolv.conf:\n{without}")
    finally:
        c.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
        if launched:
            c.terminate_instances(InstanceIds=[launched])
    # Back on every host of the VPC (a1's, a2's) before anything else looks at them.
    wait_for("the resolver back on host 1", lambda: dns_query(ns, VPC_RESOLVER, name, 1), limit=10)
    wait_for("the resolver back on host 2", lambda: dns_query(ns_of(a2["id"]), VPC_RESOLVER, name, 1), limit=10)

    def ended():
        got = c.describe_instances(InstanceIds=[launched])["Reservations"][0]["Instances"][0]
        return got["State"]["Name"] == "terminated"

    wait_for("the new container terminated", ended, limit=60, interval=0.5)
    wait_for("its namespace gone", lambda: not os.path.exists(f"/var/run/netns/{ns_of(launched)}"), limit=30)
    return {"name": name, "address": forward[0], "reverse": reverse[0], "without_dns_support": without}


# ---------------------------------------------------------------------------------------
# Phase restart (after the Rust side SIGKILLed and restarted host 2's agent)


@check
def restart_agent_follows_rule_changes():
    a1, a2 = inst("a1"), inst("a2")
    ns = ns_of(a1["id"])
    c = ec2("a")
    rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": S["groups"]["front"]}]}
    expect(connect(ns, a2["ip"], 22, 1.0) == "timeout", "a1 -> a2:22 before authorizing")
    c.authorize_security_group_ingress(GroupId=S["groups"]["back"], IpPermissions=[rule])
    took = first_success(ns, a2["ip"], 22)
    expect(took is not None, "the restarted agent never opened 22")
    c.revoke_security_group_ingress(GroupId=S["groups"]["back"], IpPermissions=[rule])
    expect(first_failure(ns, a2["ip"], 22) is not None, "the restarted agent never closed 22")
    expect(http_get(ns, a2["ip"]) == "a2", "a1 -> a2:80")
    return {"authorize_ms": round(took * 1000, 1)}


# ---------------------------------------------------------------------------------------
# Phase end


@check
def end_terminate_everything():
    by_account = {}
    for i in S["instances"].values():
        by_account.setdefault(i["account"], []).append(i["id"])
    for acct, ids in by_account.items():
        ec2(acct).terminate_instances(InstanceIds=ids)
    for acct, ids in by_account.items():
        c = ec2(acct)

        def ended(ids=ids, c=c):
            got = c.describe_instances(InstanceIds=ids)["Reservations"]
            states = [i["State"]["Name"] for r in got for i in r["Instances"]]
            return all(s == "terminated" for s in states)

        wait_for(f"{acct}'s instances terminated", ended, limit=90, interval=0.5)


report()
