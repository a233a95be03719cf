"""Shared fixtures for czifs integration tests (run by ctest via pytest).

The real-file corpus comes from $CZIFS_TEST_DATA (CI: ../shared/data/czi).
Under CI (CI=true) a missing corpus is a failure, never a skip.
"""
import hashlib
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def pytest_configure(config):
    # scripts/test.sh runs the tests so marked again under ThreadSanitizer.
    config.addinivalue_line(
        "markers", "concurrency: threads race in the daemon here (run again under TSan)")


def pytest_addoption(parser):
    parser.addoption("--czifs", default=str(REPO / "build" / "czifs"))
    parser.addoption("--czi-synth", default=str(REPO / "build" / "czi-synth"))


@pytest.fixture(scope="session")
def czifs(request):
    return request.config.getoption("--czifs")


@pytest.fixture(scope="session")
def czi_synth(request):
    return request.config.getoption("--czi-synth")


# Sanitizer builds run several times slower; wall-clock limits scale by this
# factor there (scripts/test.sh sets it for the ASan+UBSan run only).
SLOWDOWN = float(os.environ.get("CZIFS_TEST_SLOWDOWN", "1"))


def corpus_dir():
    env = os.environ.get("CZIFS_TEST_DATA")
    path = pathlib.Path(env) if env else REPO.parent / "shared" / "data" / "czi"
    return path.resolve()


@pytest.fixture(scope="session")
def corpus():
    path = corpus_dir()
    if not (path / "golden").is_dir():
        msg = f"CZI corpus not found at {path} (set CZIFS_TEST_DATA)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def golden_files():
    path = corpus_dir() / "golden"
    return sorted(path.glob("*.czi.json")) if path.is_dir() else []


def load_golden(path):
    with open(path) as f:
        return json.load(f)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def digits(n_max):
    return len(str(abs(n_max)))


def plane_relpath(golden, plane):
    """The path czifs must give a plane, from the golden bounds (the tree contract)."""
    b = golden["bounds"]

    def name(dim, idx):
        if dim in b:
            lo, size = b[dim]
            width = max(digits(lo), digits(lo + size - 1))
        else:
            width = 1
        return f"{dim}{idx:0{width}d}"

    suffix = ""
    for dim in "HIRVBA":
        if dim in b and b[dim][1] > 1:
            suffix += "_" + name(dim, plane["other"][dim])
    return (f"{name('S', plane['S'])}/{name('C', plane['C'])}/{name('T', plane['T'])}/"
            f"{name('Z', plane['Z'])}{suffix}.tif")


def czi_order_md5(arr):
    """MD5 of pixels in libCZI's layout: packed rows, little-endian, B,G,R(,A)."""
    a = np.ascontiguousarray(arr)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a.copy()
        a[..., [0, 2]] = a[..., [2, 0]]
    return hashlib.md5(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()).hexdigest()


@pytest.fixture
def shared_dir():
    """A folder other users can reach (pytest's tmp_path is private to root);
    whatever is mounted on its mnt* folders is unmounted after the test."""
    import shutil
    import tempfile
    from mounting import force_unmount
    d = pathlib.Path(tempfile.mkdtemp(prefix="czifs-share-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    for mnt in d.glob("mnt*"):
        force_unmount(mnt)
    shutil.rmtree(d, ignore_errors=True)
