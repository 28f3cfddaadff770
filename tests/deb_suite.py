"""Host-side checks of the Debian packaging (issue 12), cheap enough for every `make test`: no
kernel is built. Debian's 6.12 configs with kpoll's changes resolve to Rust on and nothing else
of Debian's lost; bad input to `make deb` fails in one line and creates nothing; the DKMS
package builds as a file with the expected contents; its build script refuses headers that
cannot build kpoll, each with one clear line."""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

from tests.tap import Results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
SOURCE = os.environ.get("KPOLL_KERNEL_SOURCE", "/usr/src/linux-source-6.12.tar.xz")
CACHE = os.environ.get("KPOLL_CACHE", os.path.expanduser("~/.cache/kpoll"))
CONFIG_DIR = "/usr/src/linux-config-6.12"

# What kpoll's changes may turn off in Debian's config: MODVERSIONS (Rust excludes it) and the
# debug info with what hangs on it (BTF, pahole features). Everything else Debian has on must
# stay on: a symbol that drops silently (a mitigation the compiler cannot do, Rust itself) is
# a failure.
MAY_DROP = re.compile(r"^CONFIG_(MODVERSIONS|ASM_MODVERSIONS|DEBUG_INFO\w*|PAHOLE_\w+|"
                      r"MODULE_ALLOW_BTF_MISMATCH|PROBE_EVENTS_BTF_ARGS)$")
MUST_HAVE = ["CONFIG_RUST=y", "# CONFIG_MODVERSIONS is not set", "CONFIG_NET_RX_BUSY_POLL=y",
             "CONFIG_MODULES=y", "CONFIG_MODULE_UNLOAD=y", "CONFIG_DEBUG_INFO_NONE=y",
             "CONFIG_MITIGATION_RETHUNK=y", "CONFIG_MITIGATION_SRSO=y"]


def load_config(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line)
        if m:
            values[m.group(1)] = m.group(2)
        m = re.match(r"^# (CONFIG_\w+) is not set$", line)
        if m:
            values[m.group(1)] = "n"
    return values


def kconfig_tree() -> str:
    """The Kconfig files, Makefiles and scripts of the kernel source (enough for
    olddefconfig), unpacked once into the cache."""
    st = os.stat(SOURCE)
    top = os.path.join(CACHE, f"deb-kconfig-{st.st_size}-{int(st.st_mtime)}")
    tree = os.path.join(top, "linux-source-6.12")
    if not os.path.exists(os.path.join(top, "ready")):
        shutil.rmtree(top, ignore_errors=True)
        os.makedirs(top)
        subprocess.run(["tar", "-xf", SOURCE, "-C", top, "--wildcards", "--no-anchored",
                        "Kconfig*", "Makefile*", "*.include", "linux-source-6.12/scripts/*",
                        "linux-source-6.12/arch/x86/*", "linux-source-6.12/include/*",
                        "linux-source-6.12/tools/*"], check=True)
        open(os.path.join(top, "ready"), "w").close()
    return tree


def run_script(name: str, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    merged = dict(os.environ, **(env or {}))
    return subprocess.run(["bash", os.path.join(SCRIPTS, name), *args], env=merged,
                          capture_output=True, text=True)


def config_resolves(results: Results, flavour: str) -> None:
    def check() -> str:
        tree = kconfig_tree()
        proc = run_script("deb-config.sh", tree, env={"KPOLL_DEB_FLAVOUR": flavour})
        assert proc.returncode == 0, proc.stderr[-2000:]
        ours = load_config(open(os.path.join(tree, ".config")).read())
        xz = subprocess.run(["xz", "-dc", f"{CONFIG_DIR}/config.amd64_none_{flavour}.xz"],
                            capture_output=True, text=True, check=True)
        debian = load_config(xz.stdout)
        lines = set(open(os.path.join(tree, ".config")).read().splitlines())
        missing = [line for line in MUST_HAVE if line not in lines]
        assert not missing, f"not in the resolved config: {missing}"
        localversion = ours.get("CONFIG_LOCALVERSION")
        assert localversion == f'"-kpoll-{flavour}"', localversion
        lost = sorted(k for k, v in debian.items()
                      if v in ("y", "m") and ours.get(k, "n") != v and not MAY_DROP.match(k))
        assert not lost, f"Debian has these on, the kpoll config not: {lost}"
        dropped = sorted(k for k, v in debian.items()
                         if v in ("y", "m") and ours.get(k, "n") != v)
        return (f"RUST=y, MODVERSIONS off; {len(dropped)} of Debian's y/m symbols off, all debug "
                "info/modversions")

    results.run(f"deb: Debian's {flavour} config + kpoll's changes resolve to RUST=y, nothing "
                "else lost", check)


def bad_input_is_one_line(results: Results) -> None:
    cases = [
        ("unsupported flavour", {"KPOLL_DEB_FLAVOUR": "rt-amd64"},
         "unsupported flavour 'rt-amd64'"),
        ("missing linux-config-6.12", {"KPOLL_DEB_CONFIG_DIR": "/nonexistent/linux-config-6.12"},
         "install the package linux-config-6.12"),
    ]
    for what, env, expect in cases:
        def check(env: dict[str, str] = env, expect: str = expect) -> str:
            with tempfile.TemporaryDirectory() as tmp:
                cache = os.path.join(tmp, "cache")
                proc = run_script("deb-build.sh", env=dict(env, KPOLL_CACHE=cache))
                lines = [line for line in proc.stderr.splitlines() if line.strip()]
                assert proc.returncode != 0, "deb-build.sh succeeded"
                assert (len(lines) == 1 and lines[0].startswith("kpoll: error:")
                        and expect in lines[0]), proc.stderr
                assert not os.path.exists(cache), f"created {os.listdir(cache)}"
                return lines[0]

        results.run(f"deb: {what} is one line and creates nothing", check)


def dkms_package_builds(results: Results) -> None:
    def check() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_script("deb-dkms.sh", tmp, env={"KPOLL_DEB_NO_KPOLLCTL": "1"})
            assert proc.returncode == 0, proc.stderr[-2000:]
            debs = glob.glob(os.path.join(tmp, "kpoll-dkms_*_all.deb"))
            assert len(debs) == 1 and proc.stdout.strip() == debs[0], (debs, proc.stdout)
            m = re.match(r"kpoll-dkms_(.+)_all\.deb$", os.path.basename(debs[0]))
            assert m, debs[0]
            version = m.group(1)

            def field(name: str) -> str:
                return subprocess.run(["dpkg-deb", "-f", debs[0], name], check=True,
                                      capture_output=True, text=True).stdout.strip()

            assert field("Package") == "kpoll-dkms" and field("Version") == version
            assert field("Architecture") == "all"
            assert "dkms" in field("Depends") and "rustc-web" in field("Pre-Depends")
            unpacked = os.path.join(tmp, "x")
            subprocess.run(["dpkg-deb", "-R", debs[0], unpacked], check=True)
            src = os.path.join(unpacked, "usr/src", f"kpoll-{version}")
            conf = open(os.path.join(src, "dkms.conf")).read()
            assert f'PACKAGE_VERSION="{version}"' in conf and 'PACKAGE_NAME="kpoll"' in conf, conf
            assert 'BUILD_EXCLUSIVE_KERNEL="-kpoll-"' in conf
            assert 'BUILT_MODULE_LOCATION[0]="src/"' in conf
            ours = sorted(os.path.relpath(p, ROOT)
                          for p in glob.glob(os.path.join(ROOT, "src/**/*.rs"), recursive=True))
            shipped = sorted(os.path.relpath(p, src)
                             for p in glob.glob(os.path.join(src, "src/**/*.rs"), recursive=True))
            assert ours == shipped, set(ours) ^ set(shipped)
            for f in ("Kbuild", "src/Kbuild", "kpoll-dkms-build"):
                assert os.path.isfile(os.path.join(src, f)), f
            assert os.access(os.path.join(src, "kpoll-dkms-build"), os.X_OK)
            for script in ("preinst", "postinst", "prerm"):
                path = os.path.join(unpacked, "DEBIAN", script)
                assert os.access(path, os.X_OK), script
                assert subprocess.run(["sh", "-n", path]).returncode == 0, script
                assert "@VERSION@" not in open(path).read(), script
            postinst = open(os.path.join(unpacked, "DEBIAN/postinst")).read()
            assert f"common.postinst kpoll {version}" in postinst
            return os.path.basename(debs[0])

    results.run("deb: the DKMS package builds as a file (kpoll-dkms_<version>_all.deb)", check)


def fake_headers(top: str, release: str, rust: bool = True, rust_config: bool = True,
                 hooks: bool = True, rustc_text: str | None = None) -> str:
    """A headers tree like /lib/modules/RELEASE/build of the linux-headers package."""
    build = os.path.join(top, release, "build")
    os.makedirs(os.path.join(build, "include/config"))
    if rustc_text is None:
        rustc_text = subprocess.run(["rustc", "--version"], capture_output=True,
                                    text=True).stdout.strip()
    with open(os.path.join(build, "include/config/auto.conf"), "w") as f:
        f.write("CONFIG_MODULES=y\n")
        if rust_config:
            f.write(f"CONFIG_RUST=y\nCONFIG_RUSTC_VERSION_TEXT={rustc_text}\n")
    with open(os.path.join(build, "include/config/kernel.release"), "w") as f:
        f.write(release + "\n")
    with open(os.path.join(build, "Module.symvers"), "w") as f:
        f.write("0x00000000\tnapi_busy_loop\tvmlinux\tEXPORT_SYMBOL\t\n")
        if hooks:
            f.write("0x00000000\tkpoll_register\tvmlinux\tEXPORT_SYMBOL_GPL\t\n")
    if rust:
        os.makedirs(os.path.join(build, "rust"))
        for name in ("libcore.rmeta", "libkernel.rmeta", "libmacros.so"):
            open(os.path.join(build, "rust", name), "w").close()
    return build


def dkms_build_refuses_bad_headers(results: Results) -> None:
    script = os.path.join(ROOT, "packaging/dkms/kpoll-dkms-build")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("headers without Rust crates", {"rust": False}, "lack rust/libcore.rmeta"),
        ("a kernel without Rust", {"rust_config": False}, "has no Rust support (CONFIG_RUST)"),
        ("a kernel without kpoll's hooks", {"hooks": False}, "lacks kpoll's hooks"),
        ("a kernel built by another rustc", {"rustc_text": "rustc 1.0.0 (0 2015-05-15)"},
         "a module must be built by the identical compiler"),
    ]
    for what, kwargs, expect in cases:
        def check(kwargs: dict[str, Any] = kwargs, expect: str = expect) -> str:
            with tempfile.TemporaryDirectory() as tmp:
                build = fake_headers(tmp, "6.12.117-kpoll-cloud-amd64", **kwargs)
                proc = subprocess.run(["sh", script, "--check", build], capture_output=True,
                                      text=True)
                lines = [line for line in proc.stderr.splitlines() if line.strip()]
                assert proc.returncode != 0, "accepted"
                assert (len(lines) == 1 and lines[0].startswith("kpoll-dkms: error:")
                        and expect in lines[0]), proc.stderr
                # As the package's preinst: the install is refused, in one more line.
                proc = subprocess.run(["sh", script, "install"], capture_output=True, text=True,
                                      env=dict(os.environ, KPOLL_DKMS_MODULES=tmp))
                assert proc.returncode != 0 and expect in proc.stderr, proc.stderr
                assert "kpoll-dkms was not installed" in proc.stderr, proc.stderr
                return lines[0]

        results.run(f"deb: kpoll-dkms refuses {what} in one line", check)

    def good() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            build = fake_headers(tmp, "6.12.117-kpoll-cloud-amd64")
            # Debian's own kernel's headers (no Rust) are not a kpoll kernel: preinst ignores them.
            fake_headers(tmp, "6.12.117+deb12-cloud-amd64", rust=False, rust_config=False,
                         hooks=False)
            proc = subprocess.run(["sh", script, "--check", build], capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            proc = subprocess.run(["sh", script, "install"], capture_output=True, text=True,
                                  env=dict(os.environ, KPOLL_DKMS_MODULES=tmp))
            assert proc.returncode == 0 and proc.stderr == "", proc.stderr

    results.run("deb: kpoll-dkms accepts complete kpoll headers and ignores other kernels", good)


def headers_patch_applies(results: Results) -> None:
    def check() -> str:
        tree = kconfig_tree()
        proc = subprocess.run(["patch", "-p1", "--dry-run", "--batch", "-d", tree, "-i",
                               os.path.join(ROOT, "packaging/kernel/headers-rust.patch")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return "install-extmod-build: rust/*.rmeta, rust/*.so"

    results.run("deb: the headers patch applies to 6.12's install-extmod-build", check)


def run(results: Results) -> None:
    for flavour in ("cloud-amd64", "amd64"):
        config_resolves(results, flavour)
    bad_input_is_one_line(results)
    dkms_package_builds(results)
    dkms_build_refuses_bad_headers(results)
    headers_patch_applies(results)


if __name__ == "__main__":
    import sys

    r = Results()
    run(r)
    sys.exit(r.summary())
