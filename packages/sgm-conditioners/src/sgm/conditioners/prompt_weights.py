"""AUTOMATIC1111's emphasis syntax: `(text)`, `[text]`, `(text:1.3)`, `\\(` literals, and `BREAK`.

Behaviour follows stable-diffusion-webui's `prompt_parser.parse_prompt_attention`, so prompts written for it mean
the same here: `(text)` multiplies the weight by 1.1, `[text]` divides it by 1.1, `(text:w)` multiplies it by `w`,
and nested brackets multiply. `\\(`, `\\)`, `\\[`, `\\]` and `\\\\` are the literal characters; any other backslash is
dropped. A `)` or `]` with nothing to close is literal text; brackets left open at the end still apply to what
follows them; `:w)` with no open `(` is literal text, and so is a weight that is not a number (`(a:1.2.3)`, where
AUTOMATIC1111 fails).
"""

import re

ROUND_BRACKET_WEIGHT = 1.1
SQUARE_BRACKET_WEIGHT = 1 / 1.1

_TOKENS = re.compile(
    r"""
      \\(?P<escaped>[()\[\]\\]?)               # a backslash: the bracket or backslash after it, literally
    | (?P<open>[(\[])
    | :\s*(?P<weight>[+-]?[.\d]+)\s*\)         # ":1.3)" closes the innermost "(" with an explicit weight
    | (?P<close>[)\]])
    | (?P<text>[^\\()\[\]:]+|:)
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*")


def parse_prompt_attention(prompt: str) -> list[tuple[str, float]]:
    """`prompt` as `(text, weight)` runs, neighbours of equal weight merged; `[("", 1.0)]` for an empty prompt.

    >>> parse_prompt_attention("a (red:1.5) [[cube]]")
    [('a ', 1.0), ('red', 1.5), (' ', 1.0), ('cube', 0.8264462809917354)]
    """
    runs: list[list] = []  # [text, weight], weights multiplied in place as brackets close
    open_round: list[int] = []  # index in `runs` where each still-open bracket began
    open_square: list[int] = []

    def scale_from(start: int, factor: float) -> None:
        for run in runs[start:]:
            run[1] *= factor

    for token in _TOKENS.finditer(prompt):
        literal = token.group(0)
        if token["escaped"] is not None:
            literal = token["escaped"]
        elif token["open"] == "(":
            open_round.append(len(runs))
            continue
        elif token["open"] == "[":
            open_square.append(len(runs))
            continue
        elif token["weight"] is not None and open_round and _is_number(token["weight"]):
            scale_from(open_round.pop(), float(token["weight"]))
            continue
        elif token["close"] == ")" and open_round:
            scale_from(open_round.pop(), ROUND_BRACKET_WEIGHT)
            continue
        elif token["close"] == "]" and open_square:
            scale_from(open_square.pop(), SQUARE_BRACKET_WEIGHT)
            continue
        if literal:
            runs.append([literal, 1.0])
    for start in open_round:
        scale_from(start, ROUND_BRACKET_WEIGHT)
    for start in open_square:
        scale_from(start, SQUARE_BRACKET_WEIGHT)

    merged: list[tuple[str, float]] = []
    for text, weight in runs:
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + text, weight)
        else:
            merged.append((text, weight))
    return merged or [("", 1.0)]


def split_at_breaks(prompt: str) -> list[str]:
    """The parts of `prompt` between `BREAK` keywords (each starts a new 75-token chunk), spaces around them cut.

    Unlike AUTOMATIC1111, brackets do not reach across a BREAK: each part is parsed on its own.
    """
    return _BREAK.split(prompt)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
