"""train-seq end to end: JSON keys, module name, bad input as one error line."""
import json

from typer.testing import CliRunner

from recsys_hash.cli import app


def _run(*args):
    return CliRunner().invoke(app, ["train-seq", *args])


def test_train_seq_json_on_the_synthetic_set():
    res = _run("--dataset", "synthetic", "--module", "twin", "--max-len", "40", "--epochs", "1", "--dim", "8",
               "--threads", "1", "--seed", "0", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"auc", "logloss", "gauc", "train_s", "module"} <= set(out)
    assert out["module"] == "twin" and out["max_len"] == 40 and 0 < out["auc"] < 1
    assert out["aux_loss"] is True and out["tau"] is None                 # on by default for twin / dare


def test_train_seq_aux_loss_flag_reaches_the_model_and_is_refused_where_it_has_no_meaning():
    res = _run("--dataset", "synthetic", "--module", "dare", "--no-aux-loss", "--max-len", "40", "--epochs", "1",
               "--dim", "8", "--threads", "1", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["aux_loss"] is False
    res = _run("--dataset", "synthetic", "--module", "sdim", "--aux-loss", "--json")
    assert res.exit_code == 1
    assert "aux_loss (the auxiliary full-attention loss) is for the top-K modules twin / dare, not 'sdim'" in res.stdout


def test_train_seq_bad_input_is_one_error_line():
    res = _run("--dataset", "synthetic", "--module", "sdim", "--tau", "5", "--json")
    assert res.exit_code == 1
    err = json.loads(res.stdout.strip().splitlines()[-1])
    assert err["error"].startswith("SimHash: tau=5 must divide m=48") and err["module"] == "sdim"
    res = _run("--dataset", "synthetic", "--module", "gru", "--json")
    assert res.exit_code == 1 and "unknown sequence module 'gru'" in res.stdout
    res = _run("--dataset", "synthetic", "--max-len", "0", "--json")
    assert res.exit_code == 1 and "max_len (history cap) must be >= 1, got 0" in res.stdout
