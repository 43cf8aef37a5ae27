"""Comma-separated number options: a malformed list is a usage error naming the option."""

from __future__ import annotations

import pytest

from geocodec.cli import main
from geocodec.commands.arguments import float_list


def test_float_list_parses_and_skips_empty_items():
    assert float_list("0.003, 0.01,") == (0.003, 0.01) and float_list("") == ()


@pytest.mark.parametrize("argv", [["evaluate", "--gammas", "0.1,x", "--out", "o"],
                                  ["finetune-task", "--data", "d", "--labels", "l", "--out", "o", "--lmbdas", "0.01,1e-3x"]])
def test_malformed_lists_name_the_option(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {argv[argv.index('--gammas' if '--gammas' in argv else '--lmbdas')]}" in err
    assert "comma-separated numbers" in err
