"""Issue 16, class 3: every setting of `augment run` is checked before any work starts.

One table drives it: for every setting (each top-level field and each op parameter), values
of the wrong type and out of range are derived from its rule in `augment.settings.RULES`,
and each must be refused naming the setting, from a TOML file, a flag-like override and
`--set` alike, before a folder is created or a worker started.
"""
from __future__ import annotations

import tomllib

import pytest

from augment.cli import main as augment_main
from augment.config import DEFAULT_TOML, AugmentConfig, ConfigError, load_config
from augment.settings import KINDS, RULES, flatten, problems, to_toml


def _bad_values(name: str) -> list:
    """Values its rule must refuse: the wrong type first, then out of range or out of order."""
    kind, lo, hi = RULES[name]
    if kind == "bool":
        return [None, "false", 0, 1]  # not True or False themselves: 0 and 1 are ints here
    default = flatten(AugmentConfig().job_dict())[name]
    bad: list = [None, True] + ([] if isinstance(default, str) else [str(default)])
    if kind in ("int", "number"):
        bad += [x for x in (lo - 1 if lo is not None else None, hi + 1 if hi is not None else None) if x is not None]
        bad += [1.5] if kind == "int" else [float("nan"), float("inf")]
    elif kind in ("fraction", "prob"):
        bad += [-0.1, 1.5] + ([1.0] if kind == "fraction" else [])
    elif kind == "choice":
        bad += ["gif", 3]
    else:  # pairs
        bad += [[default[1], default[0]] if default[0] != default[1] else [default[0] + 2, default[0]],
                [default[0]], list(default) + [default[1]], [str(default[0]), str(default[1])]]
        if lo is not None:
            bad.append([lo - 2, default[1]])
        if hi is not None:
            bad.append([default[0], hi + 2])
        if kind == "odd_pair":
            bad.append([default[0] + 1, default[1] + 1])
    return bad


def _nested(name: str, value) -> dict:
    table: dict = {}
    node = table
    *parents, last = name.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return table


def test_every_setting_has_a_rule_and_every_default_keeps_it():
    names = set(flatten(AugmentConfig().job_dict()))
    assert names == set(RULES), f"settings without a rule: {names - set(RULES)}; rules without a setting: " \
                                f"{set(RULES) - names}"
    assert all(ok for ok, *_ in problems(AugmentConfig().job_dict()))
    assert {kind for kind, _, _ in RULES.values()} <= set(KINDS)


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_setting_refuses_wrong_types_and_ranges_naming_itself(name):
    for value in _bad_values(name):
        with pytest.raises(ConfigError, match=f"config '{name}' must be .*, found ") as e:
            load_config(None, sets=[_nested(name, value)])
        assert str(e.value).count("must be") == 1, (value, str(e.value))  # only this setting was wrong


def test_every_bad_setting_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('val_fraction = "0.1"\nfactor = 0\n[ops.spatial]\nlong_side = [1024, 256]\n'
                    '[ops.photometric]\nblur_limit = [4, 6]\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    text = str(e.value)
    for part in ("'factor' must be an integer >= 1, found 0", "'val_fraction' must be a number in [0, 1), found '0.1'",
                 "'ops.spatial.long_side' must be [low, high] integers >= 16, low <= high, found [1024, 256]",
                 "'ops.photometric.blur_limit' must be [low, high] odd integers >= 3, low <= high, found [4, 6]"):
        assert part in text


def test_a_bad_setting_stops_the_cli_before_any_work(tmp_path, capsys):
    rc = augment_main(["run", "--input", str(tmp_path), "--out", str(tmp_path / "out"),
                       "--set", "ops.spatial.long_side=[1024, 256]", "--set", 'val_fraction="0.1"'])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "'ops.spatial.long_side' must be" in err and "'val_fraction' must be" in err
    assert not (tmp_path / "out").exists()


def test_ops_that_are_not_tables_are_refused_naming_them(tmp_path):
    for text, message in (("ops = 3\n", "'ops' must be a table"), ("[ops]\nspatial = 1\n", r"\[ops.spatial\] must be")):
        (tmp_path / "c.toml").write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_config(tmp_path / "c.toml")


def test_set_overrides_after_the_file_and_flags(tmp_path):
    (tmp_path / "c.toml").write_text("factor = 4\n[ops.spatial]\np = 0.9\n")
    cfg = load_config(tmp_path / "c.toml", sets=[{"ops": {"spatial": {"p": 0.5}}}, {"factor": 7}], factor=5)
    preset = load_config(None).ops["spatial"]["rotate"]  # untouched settings keep the preset's value
    assert (cfg.factor, cfg.ops["spatial"]["p"], cfg.ops["spatial"]["rotate"]) == (7, 0.5, preset)


def test_print_config_is_toml_that_reads_back_as_the_same_config(tmp_path):
    cfg = load_config(None, factor=3, sets=[{"ops": {"photometric": {"jpeg_quality": [50, 60]}}}])
    text = to_toml(cfg.job_dict())
    assert tomllib.loads(text) == cfg.job_dict()
    (tmp_path / "c.toml").write_text(text)
    assert load_config(tmp_path / "c.toml").hash() == cfg.hash()
    assert tomllib.loads(to_toml(AugmentConfig().job_dict())) == tomllib.loads(DEFAULT_TOML.read_text())
