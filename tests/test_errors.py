"""The error hierarchy: every expected failure is a StyleLensError of its family (mapped to the CLI's exit codes);
anything else is a bug and is never turned into a message."""

import pytest

import core.__main__
from core.errors import (
    EXIT_CODES,
    ArchiveError,
    AttributeModelUnavailable,
    CatalogFormatError,
    DatabaseUnavailable,
    FileLimitError,
    ImageError,
    InvalidId,
    MilvusUnavailable,
    ModelUnavailable,
    QueryError,
    QueryFileError,
    StorageError,
    StyleLensError,
    exit_code,
)


def test_each_family_is_a_styleslens_error_and_none_is_a_value_error():
    families = {
        QueryError: (InvalidId, QueryFileError),
        ImageError: (FileLimitError,),
        CatalogFormatError: (ArchiveError,),
        ModelUnavailable: (AttributeModelUnavailable,),
        DatabaseUnavailable: (MilvusUnavailable,),
        StorageError: (),
    }
    for family, members in families.items():
        assert issubclass(family, StyleLensError) and not issubclass(family, ValueError)
        assert all(issubclass(member, family) for member in members)
    assert [
        exit_code(error("x"))
        for error in (
            QueryError,
            ImageError,
            CatalogFormatError,
            ModelUnavailable,
            DatabaseUnavailable,
            MilvusUnavailable,
            StorageError,
        )
    ] == [1, 1, 1, 4, 3, 3, 5]
    assert EXIT_CODES[-1] == (StyleLensError, 1)


def test_the_cli_maps_expected_failures_to_exit_codes_and_lets_bugs_surface(monkeypatch, capsys):
    def unavailable(args):
        raise ModelUnavailable("The composer checkpoint is missing.")

    def bug(args):
        return [][1]  # an IndexError: a bug, not a message

    parser = core.__main__._parser
    for run, expected in ((unavailable, 4),):
        monkeypatch.setattr(core.__main__, "_parser", lambda run=run: _with_run(parser(), run))
        assert core.__main__.main(["status"]) == expected
        assert capsys.readouterr().err.strip() == "error: The composer checkpoint is missing."
    monkeypatch.setattr(core.__main__, "_parser", lambda: _with_run(parser(), bug))
    with pytest.raises(IndexError):
        core.__main__.main(["status"])


def _with_run(parser, run):
    parse = parser.parse_args

    def parse_args(argv=None):
        args = parse(argv)
        args.run = run
        return args

    parser.parse_args = parse_args
    return parser


def test_an_unknown_encoder_is_a_model_error_with_exit_4(settings, monkeypatch, capsys):
    monkeypatch.setenv("ENCODER_NAME", "no-such-encoder")
    assert core.__main__.main(["search", "--text", "red dress"]) == 4
    assert "Unknown encoder 'no-such-encoder'" in capsys.readouterr().err


def test_a_bug_inside_re_ranking_is_not_reported_as_re_ranking_unavailable(loaded_engine, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together with shapes (3,) (4,)")

    monkeypatch.setattr(loaded_engine, "rerank_order", broken)
    with pytest.raises(ValueError, match="broadcast"):
        loaded_engine.search_text("red t-shirt", k=5, rerank=True)


def test_a_setting_that_cannot_be_used_is_named(monkeypatch, capsys):
    from core.config import load_settings
    from core.errors import SettingsError

    monkeypatch.setenv("EXACT_INDEX_LIMIT", "1e5x")
    with pytest.raises(SettingsError, match="EXACT_INDEX_LIMIT must be a positive whole number"):
        load_settings()
    assert core.__main__.main(["status"]) == 1
    assert "EXACT_INDEX_LIMIT" in capsys.readouterr().err
