"""Installation: cmake --install, man page, bash completion, /etc/fstab."""
import contextlib
import os
import pathlib
import re
import subprocess

import pytest

from conftest import run
from mounting import is_mounted, force_unmount


@contextlib.contextmanager
def mounted_by_mount8(cmd, mnt):
    """Runs a mount(8) command that mounts czifs at `mnt`, yields while it is
    mounted, then unmounts with umount(8) and checks it is gone."""
    try:
        r = run(cmd, timeout=30)
        assert r.returncode == 0, r.stderr
        assert is_mounted(mnt)
        yield
        r = run(["umount", str(mnt)], timeout=30)
        assert r.returncode == 0, r.stderr
        assert not is_mounted(mnt)
    finally:
        force_unmount(mnt)


@pytest.fixture(scope="module")
def prefix(czifs, tmp_path_factory):
    build = pathlib.Path(czifs).resolve().parent
    pfx = tmp_path_factory.mktemp("install") / "usr"
    r = run(["cmake", "--install", str(build), "--prefix", str(pfx)])
    assert r.returncode == 0, r.stderr
    return pfx


def test_install_puts_binary_helper_man_page_and_completion_in_place(prefix, corpus, tmp_path):
    for rel in ("bin/czifs", "libexec/czifs/czifs-jxr-helper", "share/man/man1/czifs.1",
                "share/bash-completion/completions/czifs"):
        assert (prefix / rel).is_file(), rel
    env = {k: v for k, v in os.environ.items() if k != "CZIFS_JXR_HELPER"}
    r = run([str(prefix / "bin/czifs"), "export", str(corpus / "f14_jxr_gray8.czi"),
             str(tmp_path / "out")], env=env)
    assert r.returncode == 0, r.stderr  # JPEG-XR: the installed helper is found


def test_man_czifs_shows_the_manual(prefix):
    r = run(["man", "-M", str(prefix / "share/man"), "-P", "cat", "czifs"],
            env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0, r.stderr
    for words in ("NAME", "czifs - mount Zeiss CZI", "--damaged", "--without", "tiles/S<s>",
                  "fusermount3 -u", "EXIT STATUS"):
        assert words in r.stdout, words


def complete(prefix, *words):
    script = (f"source {prefix}/share/bash-completion/completions/czifs; "
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); "
              f"COMP_CWORD={len(words) - 1}; _czifs; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_bash_completion_offers_commands_options_and_values(prefix):
    assert {"inspect", "export"} <= set(complete(prefix, "czifs", ""))
    assert complete(prefix, "czifs", "--damaged", "") == ["fail", "zero"]
    assert "pyramid" in complete(prefix, "czifs", "export", "--without", "")
    assert "--cache-size" in complete(prefix, "czifs", "--ca")
    assert "--json" in complete(prefix, "czifs", "inspect", "--")


HELP_OPTION = re.compile(r"^  (-[\w-]+(?:,-[\w-]+)*)(?: ((?:\S| (?=\S))+))?(?:\s{2,}(.*))?$")


def help_options(prefix, *sub):
    """{option name: (value type or None, help text)} as `czifs [sub] --help` lists them."""
    r = run([str(prefix / "bin/czifs"), *sub, "--help"])
    assert r.returncode == 0, r.stderr
    out, names = {}, []
    for line in r.stdout.splitlines():
        m = HELP_OPTION.match(line)
        if m:
            names = m.group(1).split(",")
            for name in names:
                out[name] = (m.group(2), m.group(3) or "")
        elif names and line.startswith(" " * 10):  # the help text of a long option's line
            for name in names:
                out[name] = (out[name][0], (out[name][1] + " " + line.strip()).strip())
    assert "--help" in out, r.stdout
    return out


@pytest.mark.parametrize("sub", [(), ("inspect",), ("export",)], ids=["mount", "inspect", "export"])
def test_completion_offers_exactly_the_options_each_command_accepts(prefix, sub):
    accepted = help_options(prefix, *sub)
    offered = set(complete(prefix, "czifs", *sub, "-"))
    assert offered == set(accepted), (sorted(offered - set(accepted)), sorted(set(accepted) - offered))
    for name, (kind, text) in accepted.items():
        values = complete(prefix, "czifs", *sub, name, "")
        if kind is None or name == "--log-file":  # a flag; or a file name
            continue
        if "{" in kind:  # one of a list: exactly that list
            want = [v.strip() for v in kind[kind.index("{") + 1:kind.index("}")].split(",")]
            assert values == want, (name, values)
        elif name == "--without":
            assert {"tiles", "pyramid", "hyperstacks", "zarr", "ometiff"} <= set(values), values
        elif name == "-o":
            keys = {v.split("=")[0] for v in values}
            named = set(re.findall(r"(?:^ ?|, |own )([a-z_]+)(?=[=,]|$)", text.split(":", 1)[1]))
            assert keys == named, (sorted(keys - named), sorted(named - keys))
        else:  # numbers and sizes: nothing to offer, not even file names
            assert re.match(r"(UINT|FLOAT|INT)", kind), (name, kind)
            assert values == [], (name, values)


REPO = pathlib.Path(__file__).resolve().parents[2]


def test_the_documented_systemd_mount_unit_verifies_and_mounts(prefix, corpus, tmp_path):
    """docs/systemd/mnt-run42.mount passes systemd's own checks, and the mount
    command systemd runs for it (mount WHAT WHERE -t TYPE -o OPTIONS) works
    with its What= pointed at an installed czifs and a real file."""
    import configparser
    import shutil
    unit = REPO / "docs" / "systemd" / "mnt-run42.mount"
    if not shutil.which("systemd-analyze"):
        msg = "systemd-analyze is not installed (scripts/install-deps.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    r = run(["systemd-analyze", "verify", "--man=no", str(unit)])
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    cfg = configparser.ConfigParser(comment_prefixes=("#", ";"), interpolation=None)
    cfg.optionxform = str
    cfg.read_string(unit.read_text())
    m = cfg["Mount"]
    binary, source = m["What"].split("#", 1)
    assert binary.endswith("/bin/czifs") and source.endswith(".czi")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    what = f"{prefix}/bin/czifs#{corpus / 'DAPI_GFP.czi'}"
    with mounted_by_mount8(["mount", what, str(mnt), "-t", m["Type"], "-o", m["Options"]], mnt):
        assert (mnt / "S0" / "C0" / "T0" / "Z0.tif").read_bytes()[:2] == b"II"


def test_a_line_in_fstab_mounts_through_mount_fuse3(prefix, corpus, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    # mount(8) runs helpers with a fixed PATH, so the fstab form that works
    # for any install prefix names the binary: "/path/to/czifs#SOURCE".
    fstab.write_text(f"{prefix}/bin/czifs#{corpus / 'DAPI_GFP.czi'} {mnt} fuse "
                     "ro,threads=2,cache_size=64M,damaged=zero,without=tiles:pyramid 0 0\n")
    with mounted_by_mount8(["mount", "-T", str(fstab), str(mnt)], mnt):
        assert (mnt / "S0" / "C1" / "T0" / "Z0.tif").stat().st_size > 0
        assert (mnt / "S0" / "C1" / "T0" / "Z0.tif").read_bytes()[:2] == b"II"
        assert not (mnt / "tiles").exists()  # czifs' own options reach it through fstab
