"""AUTOMATIC1111's emphasis grammar: brackets, explicit weights, nesting, escapes, unbalanced brackets, BREAK."""

import pytest
from sgm.conditioners.prompt_weights import parse_prompt_attention, split_at_breaks

UP, DOWN = 1.1, 1 / 1.1


def _close(runs, expected):
    assert [text for text, _ in runs] == [text for text, _ in expected]
    assert [weight for _, weight in runs] == pytest.approx([weight for _, weight in expected])


def test_plain_text_is_one_run_of_weight_one():
    assert parse_prompt_attention("a photo of a cat, 4k") == [("a photo of a cat, 4k", 1.0)]
    assert parse_prompt_attention("") == [("", 1.0)]
    assert parse_prompt_attention("()") == [("", 1.0)]  # brackets around nothing leave nothing


def test_round_square_and_explicit_weights():
    _close(parse_prompt_attention("an (important) word"), [("an ", 1.0), ("important", UP), (" word", 1.0)])
    _close(parse_prompt_attention("a [faint] cue"), [("a ", 1.0), ("faint", DOWN), (" cue", 1.0)])
    _close(parse_prompt_attention("a (red:1.3) ball"), [("a ", 1.0), ("red", 1.3), (" ball", 1.0)])
    _close(parse_prompt_attention("(red: 0.5 )"), [("red", 0.5)])  # spaces around the number
    _close(parse_prompt_attention("(dark:-1)"), [("dark", -1.0)])


def test_nesting_multiplies():
    runs = parse_prompt_attention("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).")
    _close(
        runs,
        [
            ("a ", 1.0),
            ("house", 1.3 * UP * UP),
            (" ", UP),
            ("on", UP * DOWN),
            (" a ", UP),
            ("hill", 0.5 * UP),
            (", sun, ", UP),
            ("sky", UP**4),
            (".", UP),
        ],
    )


def test_neighbours_of_equal_weight_merge():
    assert parse_prompt_attention("(one)(two)") == [("onetwo", UP)]


def test_escaped_brackets_are_literal():
    assert parse_prompt_attention(r"\(literal\] and \[x\)") == [("(literal] and [x)", 1.0)]
    assert parse_prompt_attention(r"a \\ b") == [("a \\ b", 1.0)]
    assert parse_prompt_attention(r"a \b") == [("a b", 1.0)]  # a backslash before anything else is dropped
    _close(parse_prompt_attention(r"(a \) b)"), [("a ) b", UP)])


def test_unbalanced_brackets():
    _close(parse_prompt_attention("(open to the end"), [("open to the end", UP)])
    _close(parse_prompt_attention("a [b (c"), [("a ", 1.0), ("b ", DOWN), ("c", DOWN * UP)])
    assert parse_prompt_attention("a) b] c") == [("a) b] c", 1.0)]  # nothing to close: literal
    assert parse_prompt_attention("ratio 16:9) x") == [("ratio 16:9) x", 1.0)]  # ":9)" with no "(" open
    _close(parse_prompt_attention("(a:1.2.3)"), [("a:1.2.3)", UP)])  # not a number: text, "(" left open


def test_break_splits_the_prompt():
    assert split_at_breaks("a cat BREAK  a dog") == ["a cat", "a dog"]
    assert split_at_breaks("BREAKFAST") == ["BREAKFAST"]
    assert split_at_breaks("a cat") == ["a cat"]
