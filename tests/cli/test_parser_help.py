"""Every subcommand's --help: each option explains itself, lists its choices once and shows its default."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cam_keras.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(name: str) -> list[argparse.Action]:
    return [a for a in _subparsers()[name]._actions if a.option_strings and a.help is not argparse.SUPPRESS]


def _choices(action: argparse.Action) -> list[str]:
    """The choices an option offers: argparse's own, or those its metavar spells ``{a,b}``."""
    if action.choices:
        return [str(choice) for choice in action.choices]
    found = re.match(r"\{([^}]*)\}", str(action.metavar or ""))
    return found.group(1).split(",") if found else []


SUBCOMMANDS = sorted(_subparsers())


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_option_has_help(command):
    assert [a.option_strings[0] for a in _options(command) if not a.help] == []


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_choices_are_listed_once(command):
    """argparse prints the choices with the option's name; help that lists them again repeats them
    (help may still explain each choice in words)."""
    twice = [
        a.option_strings[0]
        for a in _options(command)
        if len(_choices(a)) > 1 and (", ".join(_choices(a)) in a.help or "one of" in a.help)
    ]
    assert twice == []


def test_demo_fill_shows_its_choices():
    fill = next(a for a in _options("demo") if a.dest == "fill")
    assert _choices(fill) == ["flat", "texture"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_defaults_are_shown(command):
    """An option with a default value says it (``default``) in its help."""
    silent = [
        a.option_strings[0]
        for a in _options(command)
        if a.default not in (None, False, [], argparse.SUPPRESS) and "default" not in (a.help or "")
    ]
    assert silent == []


def test_heatmap_description_names_every_picture_format():
    description = _subparsers()["heatmap"].description
    assert "overlay PNG" not in description and "--image-format" in description


def test_default_output_folders_are_ignored_by_git():
    """A default --out inside a checkout must not show up in `git status`."""
    ignored = set((ROOT / ".gitignore").read_text().split())
    defaults = {
        f"/{Path(a.default).name}/"
        for parser in _subparsers().values()
        for a in parser._actions
        if a.dest == "out" and a.default is not None
    }
    assert defaults and defaults <= ignored
