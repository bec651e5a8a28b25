"""The command line's outputs as a hostile user meets them: every output path checked before any check
runs, devices/FIFOs/symbolic links, the seed range, Ctrl-C, a closed pipe and a terminal that cannot
encode the report's characters. Checks are replaced by one fast fake check (``FAKE``), so these tests
cost seconds; the real families' end-to-end runs are in test_cli.py and test_reproducible.py."""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from theory import evidence, verify
from theory.claims import Check, Claim
from theory.evidence import Evidence, check_output, write_together

FAKE = textwrap.dedent('''
    """The command line with one fake check that takes FAKE_SLEEP seconds."""
    import os, sys, time
    from theory import verify
    from theory.claims import Check, Claim
    from theory.evidence import Evidence

    def fake(config):
        print("CHECK RAN", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
        ev = Evidence(kind="symbolic", verdict="proved", summary="α ≤ β ✓", setting={"seed": config.seed})
        ev.claim, ev.check = "frozen.gradient-zero", "fake"
        return ev

    verify.family_claims = lambda f: [Claim("frozen.gradient-zero", "statement", "§0",
                                            [Check("frozen.gradient-zero", "fake", fake)])]
    verify.is_implemented = lambda f: True
    sys.exit(verify.main(sys.argv[1:]))
''')


def _fake(config):
    print("CHECK RAN", file=sys.stderr)
    ev = Evidence(kind="symbolic", verdict="proved", summary="α ≤ β ✓", setting={"seed": config.seed})
    ev.claim, ev.check = "frozen.gradient-zero", "fake"
    return ev


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """verify.main in-process on one fast fake check, in an empty working directory."""
    claims = [Claim("frozen.gradient-zero", "statement", "§0",
                    [Check("frozen.gradient-zero", "fake", _fake)])]
    monkeypatch.setattr(verify, "family_claims", lambda f: claims)
    monkeypatch.setattr(verify, "is_implemented", lambda f: True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(tmp_path):
    """Run the fake command line in a subprocess (for signals, pipes and encodings)."""
    script = tmp_path / "fakecli.py"
    script.write_text(FAKE)
    root = str(Path(__file__).resolve().parents[1])

    def popen(*argv, env=None, **kw):
        environ = {**os.environ, "PYTHONPATH": root, **(env or {})}
        # a shell's background job ignores SIGINT, and Python keeps it ignored: give the child Ctrl-C back
        return subprocess.Popen([sys.executable, str(script), "frozen", "--no-progress", *argv], cwd=tmp_path,
                                env=environ, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                                **kw)
    return popen


def _one_line_exit_2(argv, capsys, where: Path) -> str:
    before = sorted(p.name for p in where.rglob("*"))
    assert verify.main(argv) == 2
    err = capsys.readouterr().err
    assert "CHECK RAN" not in err, "the check ran before the bad argument was refused"
    assert len(err.strip().splitlines()) == 1 and err.startswith("verify: error: ")
    assert sorted(p.name for p in where.rglob("*")) == before, "bad input wrote something"
    return err


# ---- output paths, refused before anything runs ----------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--json", "afile/sub/x.json"], "afile is not a directory"),       # a grandparent that is a file
    (["--json", "afile/x.json"], "afile is not a directory"),
    (["--html", ""], "--html the path is empty"),
    (["--json", ""], "--json the path is empty"),
    (["--json", "newdir/"], "names a directory"),
    (["--json", "."], "is a directory"),
    (["--json", "a" * 256 + ".json"], "has 261 bytes; this file system allows"),
    (["--json", "same.out", "--html", "same.out"], "--json and --html name the same file"),
    (["--json", "same.out", "--html", "./sub/../same.out"], "--json and --html name the same file"),
    (["--json", "loop1"], "Too many levels of symbolic links"),
    (["--seed", "-1"], "--seed -1 is out of range (accepted: integers 0..4294967295)"),
    (["--seed", "99999999999999999999"], "out of range"),
    (["--seed", str(2**32)], "out of range"),
    # the sweep and device options, also before any check runs
    (["--workers", "-1"], "--workers -1: workers must be ≥ 0"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["--scheduler", ""], "--scheduler '': the scheduler address must be a non-empty text"),
    (["--scheduler", "nonsense"], "cannot reach the Dask scheduler at 'nonsense'"),
    (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"),
    (["--device", "gpu"], "unknown device 'gpu' (accepted: cpu, cuda)"),
])
def test_bad_output_paths_and_seeds_are_refused_before_any_check_runs(fake, capsys, argv, message):
    (fake / "afile").write_text("a file")
    (fake / "sub").mkdir()
    os.symlink("loop2", fake / "loop1")
    os.symlink("loop1", fake / "loop2")
    assert message in _one_line_exit_2(["frozen", *argv], capsys, fake)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present")
def test_device_cuda_without_a_gpu_is_refused(fake, capsys):
    assert "--device cuda: no CUDA device is available here (accepted: cpu)" in _one_line_exit_2(
        ["frozen", "--device", "cuda"], capsys, fake)


def test_an_unwritable_root_is_refused(fake, capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        # root may write anyway: then a directory nobody can create files in
        target = "/proc/nope/x.json" if os.access(ro, os.W_OK) else str(ro / "deeper" / "x.json")
        assert "cannot create a file in" in _one_line_exit_2(["frozen", "--json", target], capsys, fake)
    finally:
        ro.chmod(0o700)


def test_the_from_json_source_is_not_overwritten_by_its_report(fake, capsys):
    assert verify.main(["frozen", "--json", "e.json", "--html", "r.html"]) == 0
    capsys.readouterr()
    assert "--from-json and --html name the same file" in _one_line_exit_2(
        ["--from-json", "e.json", "--html", "e.json"], capsys, fake)


def test_the_largest_seed_runs(fake, capsys):
    assert verify.main(["frozen", "--seed", str(verify.SEED_MAX), "--json", "e.json"]) == 0
    assert json.loads((fake / "e.json").read_text())[0]["setting"]["seed"] == 2**32 - 1


def test_a_long_name_that_fits_is_written_whatever_the_temporary_suffix(fake):
    name = "a" * 250 + ".json"  # 255 bytes: the limit itself
    assert verify.main(["frozen", "--json", name, "--html", "r.html"]) == 0
    assert json.loads((fake / name).read_text())[0]["check"] == "fake"


# ---- what kind of file a target is -----------------------------------------------------------------------

def test_a_symlink_is_followed_and_kept(fake):
    (fake / "real.json").write_text("old")
    os.symlink("real.json", fake / "link.json")
    os.symlink("created.html", fake / "dangling.html")
    assert verify.main(["frozen", "--json", "link.json", "--html", "dangling.html"]) == 0
    assert (fake / "link.json").is_symlink() and (fake / "dangling.html").is_symlink()
    assert json.loads((fake / "real.json").read_text())[0]["check"] == "fake"
    assert (fake / "created.html").read_text().startswith("<!DOCTYPE html>")


def test_a_fifo_is_written_through_not_replaced(fake):
    fifo = fake / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert verify.main(["frozen", "--json", str(fifo), "--html", "r.html"]) == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert json.loads(got[0])[0]["check"] == "fake"


def test_a_character_device_is_written_through_not_replaced(fake):
    """A null device of our own (never the system's /dev/null: if this regressed as root it would
    replace the device node for the whole machine)."""
    node = fake / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        node.write_text("probe")
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here (not root, or a nodev mount)")
    assert verify.main(["frozen", "--json", str(node), "--html", str(node)]) == 0  # twice is harmless
    assert stat.S_ISCHR(os.lstat(node).st_mode), "the device node was replaced by a regular file"


def test_a_socket_is_refused(fake, capsys):
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.bind("sock")
        assert "neither a regular file" in _one_line_exit_2(["frozen", "--json", "sock"], capsys, fake)


def test_check_output_resolves_links_and_keeps_streams(tmp_path):
    os.symlink("target.json", tmp_path / "link.json")
    assert check_output(tmp_path / "link.json") == tmp_path.resolve() / "target.json"
    os.mkfifo(tmp_path / "fifo")
    assert check_output(tmp_path / "fifo") == tmp_path / "fifo"


# ---- the pair: both new or both old ------------------------------------------------------------------------

def test_an_error_before_the_renames_leaves_the_old_pair(fake, monkeypatch):
    (fake / "e.json").write_text("old json")
    (fake / "r.html").write_text("old html")
    # Ctrl-C once the report is rendered, while the JSON is being made: neither file may change
    monkeypatch.setattr(verify, "dump_json", lambda ev: (_ for _ in ()).throw(KeyboardInterrupt))
    assert verify.main(["frozen", "--json", "e.json", "--html", "r.html"]) == 130
    assert (fake / "e.json").read_text() == "old json" and (fake / "r.html").read_text() == "old html"
    assert not list(fake.glob(".*.tmp"))


def test_ctrl_c_during_the_renames_is_held_until_both_are_done(tmp_path, monkeypatch):
    a, b = tmp_path / "a.html", tmp_path / "b.json"
    a.write_text("old")
    b.write_text("old")
    real = evidence.os.replace

    def replace_and_interrupt(src, dst):
        real(src, dst)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right after the first rename

    monkeypatch.setattr(evidence.os, "replace", replace_and_interrupt)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # even where SIGINT is ignored
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            write_together([(a, "new"), (b, "new")])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, before)
    assert info.value.args == (evidence.WRITTEN,)
    assert a.read_text() == b.read_text() == "new"


def test_ctrl_c_after_the_files_are_written_says_so(fake, capsys, monkeypatch):
    monkeypatch.setattr(verify, "verdict_table", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    assert verify.main(["frozen", "--json", "e.json", "--html", "r.html"]) == 130
    assert capsys.readouterr().err.endswith("verify: interrupted; the report and JSON were written\n")
    assert json.loads((fake / "e.json").read_text())[0]["check"] == "fake" and (fake / "r.html").exists()


def test_ctrl_c_during_a_check_is_one_line_exit_130_nothing_written(cli, tmp_path):
    (tmp_path / "e.json").write_text("old json")
    proc = cli("--json", "e.json", "--html", "r.html", env={"FAKE_SLEEP": "30"},
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline() == "CHECK RAN\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and out == ""
    assert err == "verify: interrupted; nothing written\n"
    assert (tmp_path / "e.json").read_text() == "old json" and not (tmp_path / "r.html").exists()
    assert not list(tmp_path.glob(".*.tmp"))


# ---- a closed pipe, an ASCII terminal ---------------------------------------------------------------------

def test_a_closed_pipe_loses_neither_the_report_nor_the_json(cli, tmp_path):
    proc = cli("--json", "e.json", "--html", "r.html", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0 and "Traceback" not in err
    assert json.loads((tmp_path / "e.json").read_text())[0]["check"] == "fake"
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONUTF8": "0",
                                                                  "PYTHONIOENCODING": ""}])
def test_a_terminal_that_cannot_encode_gets_escapes_and_the_files_stay_utf8(cli, tmp_path, env):
    proc = cli("--json", "e.json", "--html", "r.html", env=env, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and b"Traceback" not in err
    assert b"\\u03b1 \\u2264 \\u03b2" in out  # α ≤ β, escaped
    assert json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))[0]["summary"] == "α ≤ β ✓"
    assert "α ≤ β ✓" in (tmp_path / "r.html").read_text(encoding="utf-8")
