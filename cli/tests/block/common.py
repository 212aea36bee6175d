"""What the block scripts share (attach.py, containers.py, …): a busybox VM's user data
reading or writing the pattern on an attached volume, bounded waits, equality checks
with a message, AWS error codes, volume and instance look-ups, the 64 MiB test pattern."""
import glob
import os
import time

from harness import error_code, state_dir

# Bounded waits (never a performance limit: a slow machine only waits longer).
WAIT = 300
PATTERN_BYTES = 64 << 20


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def expect_code(expected, fn, **kwargs):
    got = error_code(fn, **kwargs)
    assert got == expected, f"{fn.__name__}({kwargs}): expected {expected}, got {got}"


def wait_for(what, predicate, seconds=WAIT, interval=0.2):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def volume(ec2, volume_id):
    return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]


def instance(ec2, instance_id):
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def running(ec2, instance_id):
    state = instance(ec2, instance_id)["State"]["Name"]
    assert state in ("pending", "running"), f"{instance_id} is {state}"
    return state == "running"


def attachment_state(ec2, volume_id):
    attachments = volume(ec2, volume_id)["Attachments"]
    return attachments[0]["State"] if attachments else None


def pattern(volume_id):
    """The bytes the guests write: a line naming the volume, repeated to 64 MiB."""
    line = f"kumo-pattern-{volume_id}\n".encode()
    return (line * (PATTERN_BYTES // len(line) + 1))[:PATTERN_BYTES]


def volume_gone(ec2, volume_id):
    try:
        volume(ec2, volume_id)
        return False
    except Exception as e:  # noqa: BLE001 — botocore's ClientError
        return "InvalidVolume.NotFound" in str(e)


def console_lines(instance_id, prefix):
    """The rest of every line of the instance's console (appended to across starts) that
    starts with PREFIX."""
    found = glob.glob(os.path.join(state_dir, "**", instance_id, "console.log"), recursive=True)
    if not found:
        return []
    with open(found[0], "rb") as f:
        lines = f.read().decode("utf-8", "replace").splitlines()
    return [line.strip()[len(prefix):].strip() for line in lines if line.strip().startswith(prefix)]


def vm_script(volume_id, write):
    """User data: wait for the disk whose serial is the volume's, then write the pattern
    (or read it back), print its md5sum, and wait for the disk to go."""
    serial = volume_id.replace("-", "")[:20]
    if write:
        work = (
            f'yes "kumo-pattern-{volume_id}" | head -c {PATTERN_BYTES} | dd of=/dev/$dev bs=1M conv=fsync 2>/dev/null\n'
            "sync\n"
            f'echo "KUMO-VOL-WRITTEN: $(head -c {PATTERN_BYTES} /dev/$dev | md5sum | cut -d" " -f1)"\n'
        )
    else:
        work = f'echo "KUMO-VOL-READ: $(head -c {PATTERN_BYTES} /dev/$dev | md5sum | cut -d" " -f1)"\n'
    return (
        "#!/bin/sh\n"
        'echo "KUMO-VOL-WAITING"\n'
        "dev=\n"
        'while [ -z "$dev" ]; do\n'
        "  for s in /sys/block/vd*/serial; do\n"
        f'    [ -e "$s" ] && [ "$(cat "$s")" = "{serial}" ] && dev=$(basename $(dirname "$s"))\n'
        "  done\n"
        '  [ -z "$dev" ] && usleep 50000\n'
        "done\n"
        'echo "KUMO-VOL-SEEN: $dev $(cat /sys/block/$dev/serial)"\n'
        + work
        + 'while [ -e "/sys/block/$dev" ]; do usleep 100000; done\n'
        'echo "KUMO-VOL-GONE: $dev"\n'
    )
