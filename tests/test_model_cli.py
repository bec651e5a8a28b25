"""``python -m theory.verify FAMILY --model FILE.py:NAME --data X.pt [--targets y.pt]``: every check of
the user's network records its model and layers, its controls come out refuted, and bad input is one
line with exit status 2 and nothing written."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
import torch

from theory import verify

NET = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.b2(self.c2(F.relu(self.b1(self.c1(x))))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.block = nn.Conv2d(3, 6, 3, padding=1), Block(6)
        self.fc1, self.fc2 = nn.Linear(6, 12), nn.Linear(12, 4)

    def forward(self, x):
        h = self.block(torch.relu(self.stem(x)))
        return self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(h, 1).flatten(1))))


def make():
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.stem.bias[:2] = -50.0
    return net


tanh_net = nn.Sequential(nn.Flatten(), nn.Linear(48, 8), nn.Tanh(), nn.Linear(8, 4))
'''

LAYER_KEYS = {"name", "units", "exact_dead", "certified_dead", "paper_dead", "clone_blocks", "effective_rank"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("user")
    (d / "net.py").write_text(NET)
    g = torch.Generator().manual_seed(0)
    torch.save(torch.randn(96, 3, 4, 4, generator=g), d / "X.pt")
    torch.save(torch.randint(0, 4, (96,), generator=g), d / "y.pt")
    np.save(d / "X.npy", torch.randn(96, 3, 4, 4, generator=g).numpy())
    bad = torch.randn(96, 3, 4, 4, generator=g)
    bad[3, 0, 0, 0] = float("nan")
    torch.save(bad, d / "nan.pt")
    torch.save({"X": bad}, d / "dict.pt")
    torch.save(torch.randn(96, 5, generator=g), d / "wide.pt")
    torch.save(torch.randint(0, 4, (5,), generator=g), d / "y5.pt")
    (d / "pickle.pt").write_bytes(pickle.dumps(torch.zeros(3), protocol=4))  # not torch.save's format
    (d / "text.pt").write_text("not a tensor")
    return d


def test_every_check_of_the_users_network(files, capsys):
    out = files / "out.json"
    rc = verify.main(["frozen", "cloned", "rank", "metrics", "--quick", "--no-progress",
                      "--model", f"{files}/net.py:make", "--data", str(files / "X.pt"),
                      "--targets", str(files / "y.pt"), "--json", str(out),
                      "--html", str(files / "out.html")])
    assert rc == 0, capsys.readouterr().err
    records = json.loads(out.read_text())
    assert {r["claim"] for r in records} >= {"frozen.gradient-zero", "frozen.manifold", "cloned.trajectory",
                                             "rank.hard", "metrics.dead", "metrics.duplicate"}
    for r in records:
        assert r["setting"]["model"] == f"{files}/net.py:make"
        assert r["measured"]["layers"] and set(r["measured"]["layers"][0]) >= LAYER_KEYS
        if r["setting"].get("control"):
            assert r["verdict"] == "refuted", r["check"]
    by = {r["check"]: r for r in records}
    assert by["model-gradient-zero"]["verdict"] == "confirmed"
    assert by["model-certified"]["verdict"] == "confirmed"
    assert by["model-clones"]["verdict"] == "confirmed"
    assert by["model-gradient-zero"]["measured"]["layers"][0]["exact_dead"] == 2


def test_checks_that_do_not_apply_are_listed_not_decided(files, capsys):
    out = files / "tanh.json"
    rc = verify.main(["frozen", "--quick", "--no-progress", "--model", f"{files}/net.py:tanh_net",
                      "--data", str(files / "X.npy"), "--json", str(out), "--html", str(files / "t.html")])
    assert rc == 0, capsys.readouterr().err
    records = json.loads(out.read_text())
    assert records and all(r["verdict"] == "inconclusive" and r["setting"]["applicable"] is False
                           for r in records)
    assert all("Not applicable" in r["summary"] for r in records)


@pytest.mark.parametrize("args, message", [
    (["--model", "{d}/missing.py:make", "--data", "{d}/X.pt"], "no such file"),
    (["--model", "{d}/net.py:nothing", "--data", "{d}/X.pt"], "has no name 'nothing'"),
    (["--model", "{d}/net.py:torch", "--data", "{d}/X.pt"], "not an nn.Module"),
    (["--model", "{d}/net.py:make"], "needs --data"),
    (["--data", "{d}/X.pt"], "go with --model"),
    (["--model", "{d}/net.py:make", "--data", "{d}/nan.pt"], "NaN or inf"),
    (["--model", "{d}/net.py:make", "--data", "{d}/dict.pt"], "holds a dict"),
    (["--model", "{d}/net.py:make", "--data", "{d}/y.pt"], "floating point"),
    (["--model", "{d}/net.py:make", "--data", "{d}/X.pt", "--targets", "{d}/X.pt"], "--targets"),
    (["--model", "{d}/net.py", "--data", "{d}/X.pt"], "FILE.py:NAME"),
    (["--model", "{d}/net.py:make", "--data", "{d}/wide.pt"], "does not take inputs of shape (5,)"),
    (["--model", "{d}/net.py:make", "--data", "{d}/X.pt", "--targets", "{d}/y5.pt"], "5 targets for 96"),
    (["--model", "{d}/net.py:make", "--data", "{d}/pickle.pt"], "not a tensor file that torch.load"),
    (["--model", "{d}/net.py:make", "--data", "{d}/text.pt"], "not a tensor file that torch.load"),
    (["--model", "{d}/net.py:make", "--data", "{d}/none.pt"], "--data '{d}/none.pt': no such file"),
])
def test_bad_input_is_one_line_and_exit_2(files, capsys, args, message):
    out = files / "never.json"
    with warnings.catch_warnings(record=True) as warned:  # a warning would be a second line
        warnings.simplefilter("always")
        rc = verify.main(["frozen", "--quick", "--no-progress", *[a.format(d=files) for a in args],
                          "--json", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message.format(d=files) in err, err
    assert not warned, [str(w.message) for w in warned]
    assert not out.exists()
