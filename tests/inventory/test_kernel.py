from tests.inventory.extracting import place

from vigil.fs import LiveFS
from vigil.inventory.kernel import detect_kernel
from vigil.inventory.model import Package


def _pkg(name, version, type_="deb", release=None, arch="amd64"):
    return Package(
        name, version, type_, "OS", f"pkg:{type_}/x/{name}@{version}", "test", release=release, arch=arch
    )


DEBIAN_KERNELS = [
    _pkg("linux-image-6.1.0-17-amd64", "6.1.69-1"),
    _pkg("linux-image-6.1.0-18-amd64", "6.1.76-1"),
]
GRUB_CFG = """set default="0"
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {
	linux	/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro quiet
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-x' {
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-17-amd64' $menuentry_id_option 'gnulinux-6.1.0-17' {
		linux	/boot/vmlinuz-6.1.0-17-amd64 root=UUID=x ro quiet
	}
}
"""


def _modules(tmp_path, *releases):
    for release in releases:
        place(tmp_path, f"/lib/modules/{release}/modules.order", "")


def test_running_kernel_on_a_live_host_names_its_package(tmp_path):
    _modules(tmp_path, "6.1.0-17-amd64", "6.1.0-18-amd64")
    kernel = detect_kernel(LiveFS(str(tmp_path)), DEBIAN_KERNELS, running="6.1.0-17-amd64")
    assert (kernel.running, kernel.package) == ("6.1.0-17-amd64", "linux-image-6.1.0-17-amd64")
    assert kernel.installed == ("6.1.0-17-amd64", "6.1.0-18-amd64")


def test_image_default_kernel_comes_from_grub_cfg(tmp_path):
    _modules(tmp_path, "6.1.0-17-amd64", "6.1.0-18-amd64")
    place(tmp_path, "/boot/grub/grub.cfg", GRUB_CFG)
    kernel = detect_kernel(LiveFS(str(tmp_path)), DEBIAN_KERNELS, running=None)
    assert (kernel.default, kernel.package, kernel.source) == (
        "6.1.0-18-amd64", "linux-image-6.1.0-18-amd64", "boot loader",
    )  # fmt: skip


def test_grub_saved_default_by_title_on_amazon_linux_2(tmp_path):
    cfg = (
        'set default="${saved_entry}"\n'
        "menuentry 'Amazon Linux (5.10.205-195.807.amzn2.x86_64) 2' {\n"
        "  linux /boot/vmlinuz-5.10.205-195.807.amzn2.x86_64 root=UUID=x\n}\n"
        "menuentry 'Amazon Linux (5.10.199-190.747.amzn2.x86_64) 2' {\n"
        "  linux /boot/vmlinuz-5.10.199-190.747.amzn2.x86_64 root=UUID=x\n}\n"
    )
    place(tmp_path, "/boot/grub2/grub.cfg", cfg)
    place(
        tmp_path,
        "/boot/grub2/grubenv",
        "# GRUB Environment Block\nsaved_entry=Amazon Linux (5.10.199-190.747.amzn2.x86_64) 2\n",
    )
    packages = [
        _pkg("kernel", "5.10.205", "rpm", "195.807.amzn2", "x86_64"),
        _pkg("kernel", "5.10.199", "rpm", "190.747.amzn2", "x86_64"),
    ]
    kernel = detect_kernel(LiveFS(str(tmp_path)), packages, running=None)
    assert kernel.default == "5.10.199-190.747.amzn2.x86_64"
    assert kernel.package == "kernel"


def test_boot_loader_spec_entry_saved_in_grubenv(tmp_path):
    machine = "0123456789abcdef0123456789abcdef"
    for release in ("5.14.0-362.8.1.el9_3.x86_64", "5.14.0-284.30.1.el9_2.x86_64"):
        place(
            tmp_path,
            f"/boot/loader/entries/{machine}-{release}.conf",
            f"title Rocky\nversion {release}\nlinux /vmlinuz-{release}\n",
        )
    place(tmp_path, "/boot/grub2/grubenv", f"saved_entry={machine}-5.14.0-284.30.1.el9_2.x86_64\n")
    packages = [_pkg("kernel-core", "5.14.0", "rpm", "284.30.1.el9_2", "x86_64")]
    kernel = detect_kernel(LiveFS(str(tmp_path)), packages, running=None)
    assert (kernel.default, kernel.package) == ("5.14.0-284.30.1.el9_2.x86_64", "kernel-core")


def test_alpine_extlinux_flavour_maps_to_the_installed_release(tmp_path):
    _modules(tmp_path, "6.6.14-0-virt")
    place(
        tmp_path,
        "/boot/extlinux.conf",
        "DEFAULT virt\nLABEL virt\n  KERNEL /boot/vmlinuz-virt\n  INITRD /boot/initramfs-virt\n",
    )
    packages = [_pkg("linux-virt", "6.6.14-r0", "apk", arch="x86_64")]
    kernel = detect_kernel(LiveFS(str(tmp_path)), packages, running=None)
    assert (kernel.default, kernel.package) == ("6.6.14-0-virt", "linux-virt")


def test_without_boot_loader_configuration_the_newest_installed_kernel_is_assumed(tmp_path):
    _modules(tmp_path, "6.1.0-9-amd64", "6.1.0-18-amd64")
    kernel = detect_kernel(LiveFS(str(tmp_path)), DEBIAN_KERNELS, running=None)
    assert (kernel.default, kernel.source) == ("6.1.0-18-amd64", "newest installed")


def test_no_kernel_at_all_in_a_container_like_tree(tmp_path):
    place(tmp_path, "/etc/os-release", "ID=debian\n")
    assert detect_kernel(LiveFS(str(tmp_path)), [], running=None) is None
