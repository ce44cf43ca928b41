"""Every command-line and configuration mistake is one line on stderr, exit 2, naming the file and line, the
rule, the flag or the variable, with a suggestion where one exists. ``main(argv)`` runs in-process: nothing
here starts a server (each case fails before the port is bound)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mock_server.cli import banner, build_parser, main
from mock_server.core.config import SETTING_NAMES, Settings, env_var, unknown_env_vars

REPR = re.compile(r"<[\w.]+ object at 0x|\[\s*'|Errno|Traceback|\w+Error: ")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No BFL_MOCK_* variable of the caller's shell leaks into these cases."""
    import os

    for name in list(os.environ):
        if name.startswith("BFL_MOCK_"):
            monkeypatch.delenv(name)


def run(capsys, *argv: str) -> str:
    """``bfl-mock ARGV``: must exit 2 with exactly one line on stderr (returned), and no Python repr in it."""
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert rc == 2, (rc, out.err)
    assert len(lines) == 1, out.err
    assert not REPR.search(lines[0]), lines[0]
    return lines[0]


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------------------------------- config files
def test_broken_yaml_names_the_file_and_line(capsys, tmp_path):
    path = write(tmp_path, "bfl.yaml", "settings:\n  seed: 7\n rules: [\n")
    line = run(capsys, "serve", "--config", path)
    assert f"{path}, line 3, column 2:" in line and "not valid YAML" in line and "indentation" in line


def test_broken_json_names_the_file_and_line(capsys, tmp_path):
    path = write(tmp_path, "bfl.json", '{"settings":\n {"seed": 1,}}')
    line = run(capsys, "serve", "--config", path)
    assert f"{path}, line 2, column 13:" in line and "not valid JSON" in line


def test_a_directory_as_config_is_refused_in_words(capsys, tmp_path):
    line = run(capsys, "serve", "--config", str(tmp_path))
    assert (
        line == f"bfl-mock: configuration error: {tmp_path}: is a directory, not a config file "
        "(give a .yaml, .yml or .json file)"
    )


def test_a_missing_config_file_suggests_the_one_next_to_it(capsys, tmp_path):
    write(tmp_path, "bfl-mock.yaml", "settings: {}\n")
    line = run(capsys, "serve", "--config", str(tmp_path / "bfl-mok.yaml"))
    assert f"{tmp_path / 'bfl-mok.yaml'}: no such file; did you mean '{tmp_path / 'bfl-mock.yaml'}'?" in line
    line = run(capsys, "serve", "--config", str(tmp_path / "other.json"))
    assert line.endswith("other.json: no such file")


def test_a_config_file_from_the_environment_is_checked_the_same_way(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BFL_MOCK_CONFIG", str(tmp_path / "nope.yaml"))
    assert run(capsys, "serve").endswith("nope.yaml: no such file")


def test_a_config_that_is_not_utf8(capsys, tmp_path):
    path = tmp_path / "bfl.yaml"
    path.write_bytes(b"settings: {seed: \xff}\n")
    assert "not UTF-8 text" in run(capsys, "serve", "--config", str(path))


def test_a_bad_rule_names_its_index_file_line_and_the_key_it_meant(capsys, tmp_path):
    path = write(
        tmp_path,
        "rules.yaml",
        "rules:\n"
        "  - match: {prompt_contains: a}\n"
        "    outcome: {status: Error}\n"
        "  - match: {prompt_contain: cat}\n"
        "    outcome: {status: Error}\n",
    )
    line = run(capsys, "serve", "--config", path)
    assert line == (
        f"bfl-mock: configuration error: unknown match key 'prompt_contain' in rule 2 of {path} (line 4); "
        "did you mean 'prompt_contains'?"
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{match: {seed: abc}, outcome: {status: Error}}", "match.seed: expected an integer, not 'abc' in rule 1"),
        ("{match: {}, outcome: {status: Eror}}", "status must be one of Request Moderated"),
        ("{match: {}, outcome: {status: Eror}}", "did you mean 'Error'?"),
        ("{match: {}, outcom: {status: Error}}", "unknown rule key 'outcom' in rule 1"),
        ("{match: {}, outcome: {reason: [x]}}", "unknown outcome key 'reason' in rule 1"),
        ("{match: {}, outcome: {reason: [x]}}", "did you mean 'reasons'?"),
        ("{match: {}, outcome: {reasons: Safety}}", "reasons: expected a list of strings"),
        ("{match: {}, outcome: {latency: {sumbit: 1}}}", "unknown latency key 'sumbit' in rule 1"),
        ("{match: {}, outcome: {latency: fast}}", "latency must be seconds (or [min, max]) between 0 and 300"),
        ("{match: {}, outcome: {webhook: {dorp: true}}}", "unknown webhook fault 'dorp' in outcome.webhook"),
        ("{match: {}, outcome: {scenario: eror}}", "unknown scenario 'eror' in rule 1"),
        ("{match: {prompt_regex: '('}, outcome: {}}", "prompt_regex '(' is not a regular expression"),
        ("[1, 2]", "a rule is a mapping with match and outcome (or scenario), not a list in rule 1"),
        ("{match: [cat], outcome: {}}", "match: expected a mapping, not a list in rule 1"),
    ],
)
def test_rule_mistakes_in_words(capsys, tmp_path, rule, expected):
    path = write(tmp_path, "rules.yaml", f"rules:\n  - {rule}\n")
    line = run(capsys, "serve", "--config", path)
    assert expected in line and f"{path} (line 2)" in line


def test_a_bad_scenario_names_it(capsys, tmp_path):
    path = write(tmp_path, "bfl.yaml", "scenarios:\n  slow-error:\n    status: Eror\n")
    line = run(capsys, "serve", "--config", path)
    assert "in scenario 'slow-error' of" in line and "(line 2)" in line and "did you mean 'Error'?" in line


def test_a_rule_may_use_a_scenario_the_same_file_defines(tmp_path):
    from mock_server.configfile import load_config

    path = write(tmp_path, "bfl.yaml", "scenarios: {mine: {status: Error}}\nrules: [{match: {}, scenario: mine}]\n")
    assert load_config(path)[1]["rules"] == [{"match": {}, "scenario": "mine"}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rule: []\n", "unknown section 'rule' in {path} (line 1); did you mean 'rules'?"),
        ("- 1\n", "{path}: the top level must be a mapping of sections"),
        ("settings: [1]\n", "settings in {path} (line 1): expected a mapping"),
        ("rules: {a: 1}\n", "rules in {path} (line 1): expected a list of rules"),
        ("credits: {k: lots}\n", "credits of 'k' in {path} (line 1): expected a number"),
        ("finetunes: {ft: [1]}\n", "finetune 'ft' in {path} (line 1): expected a mapping of its details"),
        ("moderation: [{threshold: 2}]\n", "moderation in {path} (line 1):"),
    ],
)
def test_section_mistakes_name_the_section(capsys, tmp_path, text, expected):
    path = write(tmp_path, "bfl.yaml", text)
    assert expected.format(path=path) in run(capsys, "serve", "--config", path)


def test_a_misspelt_setting_in_a_file_names_its_line_and_the_setting(capsys, tmp_path):
    path = write(tmp_path, "bfl.yaml", "settings:\n  seed: 1\n  retention_second: 60\n")
    line = run(capsys, "serve", "--config", path)
    assert line == (
        f"bfl-mock: configuration error: unknown setting 'retention_second' in the settings of {path} (line 3); "
        "did you mean 'retention_seconds'?"
    )
    path = write(tmp_path, "bad.yaml", "settings:\n  port: abc\n")
    assert f"port: expected an integer, not 'abc' in the settings of {path} (line 2)" in run(
        capsys, "serve", "--config", path
    )


# ------------------------------------------------------------------------------------------- --set and flags
def test_set_with_a_typo_says_did_you_mean(capsys):
    line = run(capsys, "serve", "--set", "retention_second=60")
    assert line == (
        "bfl-mock: configuration error: --set retention_second=60: unknown setting 'retention_second'; "
        "did you mean 'retention_seconds'?"
    )


def test_set_with_nothing_close_points_at_the_list(capsys):
    line = run(capsys, "serve", "--set", "zzz=1")
    assert "unknown setting 'zzz'; bfl-mock serve --help lists every setting" in line
    assert "access_log" not in line  # not the 57 names


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--set", "retention_seconds"], "--set takes NAME=VALUE, such as --set retention_seconds=60"),
        (["--set", "port=x"], "--set port=x: port: expected an integer, not 'x'"),
        (["--set", "port=70000"], "--set port=70000: port: must be 0-65535, not 70000"),
        (["--set", "lazy_render=maybe"], "lazy_render: expected true or false, not 'maybe'"),
        (["--set", "webhook_backoff=1,x"], "webhook_backoff: expected a number"),
        (["--progression", "fast"], "--progression: progression must be time:SECONDS"),
        (["--webhook-profile", "hmc"], "unknown webhook profile 'hmc'; did you mean 'hmac'?"),
    ],
)
def test_bad_setting_values_name_their_flag(capsys, argv, expected):
    assert expected in run(capsys, "serve", *argv)


@pytest.mark.parametrize("flag", ["--api-key", "--admin-token"])
def test_an_empty_key_or_token_is_refused(capsys, flag):
    line = run(capsys, "serve", f"{flag}=")
    assert line == (
        f"bfl-mock serve: error: argument {flag}: expected a non-empty value (an empty one would match no "
        "request) (see bfl-mock serve --help)"
    )


def test_the_banner_curl_sends_a_configured_key():
    settings = Settings(api_keys=("sk-live's",))
    curl = next(line for line in banner(settings, "http://127.0.0.1:1", 17) if "curl" in line)
    assert """-H 'x-key: sk-live'"'"'s'""" in curl  # shell-quoted, so it pastes as is
    curl = next(line for line in banner(Settings(), "http://127.0.0.1:1", 17) if "curl" in line)
    assert "-H 'x-key: test'" in curl


def test_an_unknown_option_points_at_the_subcommand_help_and_suggests(capsys):
    assert run(capsys, "serve", "--prot", "1") == (
        "bfl-mock serve: error: unknown option --prot; did you mean --port? (see bfl-mock serve --help)"
    )
    assert run(capsys, "serve", "--prot=1").startswith("bfl-mock serve: error: unknown option --prot; did")
    assert run(capsys, "serve", "stray") == (
        "bfl-mock serve: error: unexpected argument: stray (see bfl-mock serve --help)"
    )
    assert run(capsys, "canny", "x.png", "--hihg", "3").startswith("bfl-mock canny: error: unknown option --hihg")


def test_a_misspelt_command_or_choice_suggests_the_right_one(capsys):
    assert (
        run(capsys, "serv")
        == "bfl-mock: error: command: unknown choice 'serv'; did you mean serve? (see bfl-mock --help)"
    )
    line = run(capsys, "serve", "--log-level", "verbose")
    assert "--log-level: unknown choice 'verbose'; expected critical, error, warning, info, debug, trace" in line
    assert "did you mean Ready?" in run(capsys, "send-webhook", "http://127.0.0.1:9/", "--status", "Raedy")


def test_a_bad_log_level_variable_is_named(capsys, monkeypatch):
    monkeypatch.setenv("BFL_MOCK_LOG_LEVEL", "loud")
    assert "BFL_MOCK_LOG_LEVEL=loud: expected one of critical" in run(capsys, "serve")


# ------------------------------------------------------------------------------------------- environment
def test_a_bad_variable_is_named(capsys, monkeypatch):
    monkeypatch.setenv("BFL_MOCK_PORT", "abc")
    assert (
        run(capsys, "serve") == "bfl-mock: configuration error: BFL_MOCK_PORT=abc: port: expected an integer, not 'abc'"
    )


def test_a_flag_wins_over_a_bad_variable(monkeypatch):
    monkeypatch.setenv("BFL_MOCK_PORT", "abc")
    assert Settings.from_env(port=0).port == 0


def test_an_unknown_variable_is_warned_about_with_a_suggestion(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("BFL_MOCK_PROT", "9000")
    monkeypatch.setenv("BFL_MOCK_XYZZY", "1")
    monkeypatch.setenv("BFL_MOCK_SEED", "1")  # known: no warning
    rc = main(["serve", "--config", str(tmp_path / "missing.yaml")])  # stops before binding a port
    err = capsys.readouterr().err.splitlines()
    assert rc == 2
    assert err[:2] == [
        "bfl-mock: warning: BFL_MOCK_PROT is not a bfl-mock variable; did you mean BFL_MOCK_PORT?",
        "bfl-mock: warning: BFL_MOCK_XYZZY is not a bfl-mock variable; it is ignored (bfl-mock serve --help "
        "lists every variable)",
    ]


def test_every_setting_and_the_cli_variables_are_known():
    environ = {env_var(n): "1" for n in SETTING_NAMES} | {"BFL_MOCK_CONFIG": "x", "BFL_MOCK_SCHEMAS": "x"}
    assert unknown_env_vars(environ) == []


# ------------------------------------------------------------------------------------------- other commands
def test_canny_on_a_file_that_is_no_image_says_so_without_reprs(capsys, tmp_path):
    path = write(tmp_path, "notes.png", "hello")
    assert run(capsys, "canny", path) == (
        f"bfl-mock: {path}: Invalid or corrupted image input (not a PNG, JPEG or WebP image)"
    )
    assert run(capsys, "canny", str(tmp_path)) == f"bfl-mock: {tmp_path}: Is a directory"


def test_send_webhook_with_an_unknown_profile(capsys):
    assert run(capsys, "send-webhook", "http://127.0.0.1:9/", "--profile", "hmca") == (
        "bfl-mock: --profile: unknown profile 'hmca'; did you mean 'hmac'?"
    )


# ------------------------------------------------------------------------------------------- help
def _subparser(name: str):
    import argparse

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_every_serve_flag_names_its_environment_variable():
    serve = _subparser("serve")
    for action in serve._actions:
        if action.option_strings and action.dest not in ("help", "set"):
            assert "BFL_MOCK_" in (action.help or ""), action.option_strings
            if action.dest in SETTING_NAMES:
                assert env_var(action.dest) in action.help, action.option_strings


@pytest.mark.parametrize("command", ["serve", "contract"])
def test_help_has_a_description_and_examples(capsys, command):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "\nexamples:\n" in text and f"  bfl-mock {command}" in text
    assert len(_subparser(command).description or "") > 80


def test_serve_help_lists_every_setting(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in SETTING_NAMES)


def test_a_port_in_use_is_one_line(capsys):
    from mock_server.frontends.server import bind_socket

    with bind_socket("127.0.0.1", 0) as taken:  # the server's own socket helper holds the port
        port = taken.getsockname()[1]
        line = run(capsys, "serve", "--port", str(port))
    assert line == (
        f"bfl-mock: port {port} on 127.0.0.1 is already in use: stop what uses it, or pick another port "
        "(--port N, or --port 0 for any free one)"
    )


def test_the_flag_of_each_setting_comes_from_the_parser():
    args = build_parser().parse_args(["serve"])
    assert args.flags["api_keys"] == "--api-key" and args.flags["proxy_port"] == "--proxy-port"
    assert {d for d in args.flags if d in SETTING_NAMES} == {d for d in vars(args) if d in SETTING_NAMES}
