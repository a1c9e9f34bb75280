"""A cloud-like Debian 13 VM as the "fresh server", built from packages and booted under QEMU.

No cloud image can be downloaded here, so `image` builds one the way a cloud provider's looks:
debootstrap, the Debian cloud kernel, systemd, openssh-server, python3, cloud-init (NoCloud
seed: the SSH key and the hostname come from it at first boot) and apparmor (Docker needs it).
Like a provider's Docker image, it also carries the Debian packages the toolkit's roles install
(PROVISIONED_PACKAGES: Docker, the firewall's and the hardening's): under emulation their
install costs about 9 minutes of every run, and installing them from nothing is what the
container scenarios do, on Debian 12 and 13. Their configuration is still the roles' work.
It is built once per machine, like the Docker images, and rebuilt when its inputs change
(~/.cache/fastapi-deploy/vm/<inputs hash>/, or under $XDG_CACHE_HOME): every checkout of the
machine boots the same image.

`up` boots a copy-on-write overlay of it, so every run sees a pristine server, with SSH, HTTP and
HTTPS forwarded from free ports of 127.0.0.1, and waits for an SSH login within a hard timeout.
`up --address 127.0.0.2 --ports 22,80,443` instead gives the VM an address of its own on the
loopback network: each listed guest port is forwarded from the same port of that address, so
clients (and an ACME server validating port 80) reach it as they would a server. The
accelerator is KVM only where it really works (hardware virtualisation flags, not the kvm_pvm
nested hypervisor, and a test boot reaching SSH); otherwise QEMU's software emulation (TCG).
`down` powers it off cleanly through QEMU's monitor, then makes sure QEMU is gone.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import common
from harness.common import CACHE_DIR, logger

VM_DIR = CACHE_DIR / "vm"
IMAGES_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fastapi-deploy/vm"
HOST_PACKAGES = ("qemu-system-x86", "qemu-utils", "genisoimage", "debootstrap", "e2fsprogs")
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("systemd-sysv", "udev", "dbus", "iproute2", "netbase", "ca-certificates")
# e2fsprogs: Debian 13's minbase no longer has it (no longer "required"), and cloud-init's
# resizefs, like the boot's fsck of the ext4 root, needs it.
CLOUD_PACKAGES = (
    "linux-image-cloud-amd64", "openssh-server", "python3", "sudo", "cloud-init",
    "systemd-resolved", "locales", "apparmor", "e2fsprogs",
)  # fmt: skip
# What the docker (docker_install_source: distribution), firewall and hardening roles install.
PROVISIONED_PACKAGES = (
    "docker.io", "python3-requests", "iptables", "unattended-upgrades", "systemd-timesyncd",
)  # fmt: skip
DISK_SIZE = "10G"
MEMORY_MB = 3072
CPUS = 2
# Debian 13's first boot compiles apparmor 4's ~120 profiles (no cache yet): 104 s to SSH under
# TCG on a quiet machine, over 240 s on this shared one under load.
BOOT_TIMEOUT_S = 420
# A TCG boot stalled now and then (once in a CI run, with no clue kept): a second, fresh boot
# costs minutes, a failed CI run costs the whole run.
TCG_BOOT_ATTEMPTS = 2
POWEROFF_TIMEOUT_S = 60
USER = "debian"
HOSTNAME = "fastapi-vm"
# Bumped whenever build_image, install_cloud_packages or configure change what they make; the
# constants above are part of the inputs hash themselves.
IMAGE_RECIPE_VERSION = "3"

NETWORKD_CONFIG = """[Match]
Name=en* eth*

[Network]
DHCP=yes
"""
# manage_etc_hosts: localhost: cloud-init puts the seeded hostname in /etc/hosts (127.0.1.1) and
# leaves the other lines alone; without it nothing resolves the hostname (no libnss-myhostname in
# the image) and every sudo warns "unable to resolve host".
CLOUD_CFG = """datasource_list: [NoCloud, None]
network: {config: disabled}
manage_etc_hosts: localhost
"""


log = logger("vm")
# Its output goes to the terminal (or where the call sends it); 15 min at most.
run = functools.partial(common.run, capture=False, timeout=900)


def ensure_host_packages() -> None:
    missing = [name for name in HOST_PACKAGES if not package_installed(name)]
    if missing:
        log(f"apt-get install {' '.join(missing)}")
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdout=subprocess.DEVNULL)  # fmt: skip


def package_installed(name: str) -> bool:
    status = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}", name], capture_output=True, text=True, check=False
    )
    return status.stdout.endswith("installed")


def inputs_hash() -> str:
    recipe = json.dumps(
        [IMAGE_RECIPE_VERSION, SUITE, MIRROR, BASE_PACKAGES, CLOUD_PACKAGES, PROVISIONED_PACKAGES,
         DISK_SIZE, NETWORKD_CONFIG, CLOUD_CFG],
    )  # fmt: skip
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BaseImage:
    directory: Path

    @property
    def disk(self) -> Path:
        return self.directory / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    def complete(self) -> bool:
        return all(path.exists() for path in (self.disk, self.kernel, self.initrd))


def chroot(root: Path, *command: str, timeout: float = 900) -> None:
    run("chroot", str(root), *command, timeout=timeout,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
             "LANG": "C"}, stdout=subprocess.DEVNULL)  # fmt: skip


def install_cloud_packages(root: Path) -> None:
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# Nothing starts inside the image build.\nexit 101\n")
    policy.chmod(0o755)
    mounts = [("proc", "proc"), ("sysfs", "sys"), ("devtmpfs", "dev")]
    for fstype, target in mounts:
        run("mount", "-t", fstype, fstype, str(root / target))
    try:
        chroot(root, "apt-get", "update", "-q")
        chroot(root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *CLOUD_PACKAGES)
        # As the roles install them: with their recommends (Debian 13's docker.io recommends
        # its CLI, docker-cli).
        chroot(root, "apt-get", "install", "-y", "-q", *PROVISIONED_PACKAGES)
        chroot(root, "apt-get", "clean")
    finally:
        for _, target in reversed(mounts):
            run("umount", "-l", str(root / target))
        policy.unlink()


def configure(root: Path) -> None:
    (root / "etc/fstab").write_text("/dev/vda / ext4 defaults,errors=remount-ro 0 1\n")
    (root / "etc/systemd/network/20-dhcp.network").write_text(NETWORKD_CONFIG)
    (root / "etc/cloud/cloud.cfg.d/90-datasource.cfg").write_text(CLOUD_CFG)
    # cloud-init's locale module fails without a generated locale.
    (root / "etc/locale.gen").write_text("en_US.UTF-8 UTF-8\n")
    chroot(root, "locale-gen")
    for unit in ("systemd-networkd", "systemd-resolved"):
        chroot(root, "systemctl", "enable", unit)
    # Every instance gets its own identity at first boot, as from a cloud image.
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    for lists in (root / "var/lib/apt/lists").glob("*_Packages*"):
        lists.unlink()


def build_image(image: BaseImage) -> None:
    started = time.monotonic()
    image.directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=IMAGES_DIR) as work:
        root = Path(work) / "root"
        log(f"debootstrap {SUITE} with systemd (about 45 s)")
        run("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE,
            str(root), MIRROR, stdout=subprocess.DEVNULL)  # fmt: skip
        log("cloud kernel, sshd, python3, cloud-init, apparmor, Docker (about 60 s)")
        install_cloud_packages(root)
        configure(root)
        shutil.copy(sorted((root / "boot").glob("vmlinuz-*"))[-1], image.kernel)
        shutil.copy(sorted((root / "boot").glob("initrd.img-*"))[-1], image.initrd)
        raw = Path(work) / "root.raw"
        run("truncate", "-s", DISK_SIZE, str(raw))
        run("mkfs.ext4", "-q", "-d", str(root), str(raw))
        # The disk last, and whole or not at all: an interrupted build leaves no image that
        # looks complete to the next checkout.
        disk = Path(work) / image.disk.name
        run("qemu-img", "convert", "-O", "qcow2", str(raw), str(disk))
        disk.rename(image.disk)
    log(f"image built in {time.monotonic() - started:.0f} s: {image.disk}")


def ensure_image() -> BaseImage:
    ensure_host_packages()
    image = BaseImage(IMAGES_DIR / inputs_hash())
    if image.complete():
        log(f"image {image.directory.name} is up to date")
        return image
    for stale in IMAGES_DIR.glob("*/base.qcow2"):
        shutil.rmtree(stale.parent)
    build_image(image)
    return image


# Booting ------------------------------------------------------------------------------------


@dataclass
class Instance:
    """A running VM: where its files are and which ports of 127.0.0.1 reach it."""

    name: str
    directory: str
    pid: int
    accelerator: str
    ssh_port: int
    http_port: int
    https_port: int
    ssh_key: str
    user: str = USER
    address: str = "127.0.0.1"

    @property
    def state_file(self) -> Path:
        return Path(self.directory) / "instance.json"

    @property
    def monitor(self) -> Path:
        return Path(self.directory) / "monitor.sock"

    def save(self) -> None:
        self.state_file.write_text(json.dumps(asdict(self), indent=2) + "\n")


def instance_dir(name: str) -> Path:
    return VM_DIR / "instances" / name


def load_instance(name: str) -> Instance | None:
    state = instance_dir(name) / "instance.json"
    return Instance(**json.loads(state.read_text())) if state.exists() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ssh_key() -> Path:
    key = VM_DIR / "id_ed25519"
    if not key.exists():
        VM_DIR.mkdir(parents=True, exist_ok=True)
        run(
            "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fastapi-deploy-vm", "-f", str(key)
        )
    return key


def write_seed(directory: Path, key: Path) -> Path:
    """The NoCloud seed a cloud provider would hand over: hostname and the user's SSH key."""
    seed = directory / "seed"
    seed.mkdir(exist_ok=True)
    (seed / "meta-data").write_text(f"instance-id: {directory.name}\nlocal-hostname: {HOSTNAME}\n")
    public_key = key.with_suffix(".pub").read_text().strip()
    (seed / "user-data").write_text(
        "#cloud-config\n"
        f"users:\n  - name: {USER}\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    shell: /bin/bash\n"
        f"    ssh_authorized_keys: ['{public_key}']\n"
    )
    iso = directory / "seed.iso"
    run("genisoimage", "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet", "-rock",
        str(seed / "user-data"), str(seed / "meta-data"))  # fmt: skip
    return iso


def kvm_candidate() -> bool:
    """Hardware virtualisation that a stock kernel can boot under: not the kvm_pvm hypervisor."""
    flags = Path("/proc/cpuinfo").read_text()
    return (
        Path("/dev/kvm").exists()
        and (" vmx" in flags or " svm" in flags)
        and not Path("/sys/module/kvm_pvm").exists()
    )


@dataclass(frozen=True)
class Forwards:
    """Which port of which loopback address reaches which port of the guest."""

    address: str
    ports: dict[int, int]  # guest port -> host port

    @classmethod
    def free_ports(cls) -> Forwards:
        return cls("127.0.0.1", {guest: free_port() for guest in (22, 80, 443)})

    @classmethod
    def same_ports(cls, address: str, guest_ports: list[int]) -> Forwards:
        if not address.startswith("127."):
            raise ValueError(f"{address}: the VM is reachable from loopback addresses only")
        taken = [port for port in guest_ports if not port_free(address, port)]
        if taken:
            raise RuntimeError(f"ports {taken} of {address} are taken: is another VM up?")
        return cls(address, {port: port for port in guest_ports})

    def options(self) -> str:
        return ",".join(
            f"hostfwd=tcp:{self.address}:{host}-:{guest}" for guest, host in self.ports.items()
        )


def port_free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def qemu_command(
    image: BaseImage, directory: Path, accelerator: str, forwards: Forwards
) -> list[str]:
    accel = ["-accel", "kvm", "-cpu", "host"] if accelerator == "kvm" else [
        "-accel", "tcg,thread=multi", "-cpu", "max"]  # fmt: skip
    return [
        "qemu-system-x86_64", *accel, "-m", str(MEMORY_MB), "-smp", str(CPUS),
        "-kernel", str(image.kernel), "-initrd", str(image.initrd),
        "-append", "root=/dev/vda rw console=ttyS0",
        "-drive", f"file={directory / 'overlay.qcow2'},if=virtio,format=qcow2",
        # The cloud kernel has no AHCI driver: the seed is a virtio drive, not a SATA CD-ROM.
        "-drive", f"file={directory / 'seed.iso'},if=virtio,format=raw,readonly=on",
        "-netdev", f"user,id=net0,{forwards.options()}", "-device", "virtio-net-pci,netdev=net0",
        "-monitor", f"unix:{directory / 'monitor.sock'},server,nowait",
        "-serial", f"file:{directory / 'console.log'}", "-display", "none",
        "-daemonize", "-pidfile", str(directory / "qemu.pid"),
    ]  # fmt: skip


def ssh_answers(instance: Instance) -> bool:
    probe = subprocess.run(
        ssh_command(instance, "true", connect_timeout=5), capture_output=True, check=False
    )
    return probe.returncode == 0


def ssh_command(instance: Instance, command: str, connect_timeout: int = 10) -> list[str]:
    return [
        "ssh", "-i", instance.ssh_key, "-p", str(instance.ssh_port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", f"ConnectTimeout={connect_timeout}", "-o", "BatchMode=yes",
        f"{instance.user}@{instance.address}", command,
    ]  # fmt: skip


def boot(name: str, image: BaseImage, accelerator: str, forwards: Forwards) -> Instance:
    directory = instance_dir(name)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    key = ssh_key()
    run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk),
        str(directory / "overlay.qcow2"))  # fmt: skip
    write_seed(directory, key)
    run(*qemu_command(image, directory, accelerator, forwards), timeout=60)
    instance = Instance(
        name=name, directory=str(directory), pid=int((directory / "qemu.pid").read_text()),
        accelerator=accelerator, ssh_port=forwards.ports[22], http_port=forwards.ports.get(80, 0),
        https_port=forwards.ports.get(443, 0), ssh_key=str(key), address=forwards.address,
    )  # fmt: skip
    instance.save()
    keep_priority(instance.pid)
    return instance


def keep_priority(pid: int) -> None:
    """QEMU daemonizes into a session of its own, and with the kernel's autogroup scheduling a
    session gets its share of the CPU whatever its processes' nice value: the VM would take as
    much as the whole test run beside it. Its session gets the priority this process runs at."""
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(os.nice(0)))


def wait_for_ssh(instance: Instance, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not process_alive(instance.pid):
            raise RuntimeError(f"QEMU exited during boot; see {instance.directory}/console.log")
        if ssh_answers(instance):
            return time.monotonic() - started
        time.sleep(2)
    raise TimeoutError(f"no SSH login within {timeout:.0f} s; see {instance.directory}/console.log")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(name: str, address: str | None = None, guest_ports: list[int] | None = None) -> Instance:
    image = ensure_image()
    down(name)  # a VM left over from an interrupted run would hold the ports

    def forwards() -> Forwards:
        if address is None:
            return Forwards.free_ports()
        return Forwards.same_ports(address, sorted({22, *(guest_ports or [80, 443])}))

    if kvm_candidate():
        instance = boot(name, image, "kvm", forwards())
        try:
            seconds = wait_for_ssh(instance, 120)
            log(f"accelerator: kvm; SSH after {seconds:.0f} s")
            return instance
        except (RuntimeError, TimeoutError) as error:
            log(f"KVM test boot failed ({error}); falling back to TCG")
            down(name)
    for attempt in range(1, TCG_BOOT_ATTEMPTS + 1):
        instance = boot(name, image, "tcg", forwards())
        log(f"accelerator: tcg (software emulation); booting, up to {BOOT_TIMEOUT_S} s")
        try:
            seconds = wait_for_ssh(instance, BOOT_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as error:
            log(f"boot {attempt} of {TCG_BOOT_ATTEMPTS} failed: {error}")
            log_console_tail(instance)
            discard(instance)
            if attempt == TCG_BOOT_ATTEMPTS:
                raise
            continue
        log(f"SSH after {seconds:.0f} s on {instance.address}:{instance.ssh_port}")
        return instance
    raise AssertionError("unreachable")


def log_console_tail(instance: Instance, lines: int = 40) -> None:
    """What the guest printed last: the one clue to a boot that never reached SSH."""
    console = Path(instance.directory) / "console.log"
    if console.exists():
        tail = console.read_text(errors="replace").splitlines()[-lines:]
        log("console, last lines:\n" + "\n".join(tail))


def monitor_command(instance: Instance, command: str) -> None:
    with socket.socket(socket.AF_UNIX) as monitor:
        monitor.settimeout(5)
        try:
            monitor.connect(str(instance.monitor))
            monitor.recv(4096)  # the banner: the monitor reads commands only after it
            monitor.sendall(f"{command}\n".encode())
            monitor.recv(4096)
        except OSError:
            pass


def wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(1)
    return not process_alive(pid)


def discard(instance: Instance) -> None:
    """A guest that never booted has nothing to shut down cleanly: QEMU quits at once."""
    monitor_command(instance, "quit")
    if not wait_for_exit(instance.pid, 10):
        kill(instance.pid)
    shutil.rmtree(instance.directory, ignore_errors=True)


def kill(pid: int) -> None:
    """SIGKILL, then wait until QEMU is gone: until then its forwards hold the ports, and the
    next boot on them would find them taken."""
    os.kill(pid, signal.SIGKILL)
    if not wait_for_exit(pid, 30):
        raise RuntimeError(f"QEMU (pid {pid}) still runs 30 s after SIGKILL")


def down(name: str) -> None:
    """A clean power-off as an operator would do it (systemd stops every service), then the
    ACPI button, then QEMU is told to quit."""
    instance = load_instance(name)
    if instance is None:
        return
    if process_alive(instance.pid):
        subprocess.run(
            ssh_command(instance, "sudo systemctl poweroff", connect_timeout=5),
            capture_output=True, check=False, timeout=30,
        )  # fmt: skip
        if not wait_for_exit(instance.pid, POWEROFF_TIMEOUT_S):
            log("no power-off over SSH in time: ACPI power button")
            monitor_command(instance, "system_powerdown")
        if not wait_for_exit(instance.pid, 20):
            log("no clean power-off: QEMU quits")
            monitor_command(instance, "quit")
            wait_for_exit(instance.pid, 10)
        if process_alive(instance.pid):
            kill(instance.pid)
    shutil.rmtree(instance.directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["image", "up", "down"])
    parser.add_argument("--name", default="fastapi-vm")
    parser.add_argument(
        "--address", help="a loopback address of the VM's own (default: free ports of 127.0.0.1)"
    )
    parser.add_argument(
        "--ports", default="22,80,443", help="guest TCP ports forwarded from --address"
    )
    args = parser.parse_args()
    if args.action == "image":
        ensure_image()
    elif args.action == "up":
        ports = [int(port) for port in args.ports.split(",")]
        print(json.dumps(asdict(up(args.name, args.address, ports))))
    else:
        down(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
