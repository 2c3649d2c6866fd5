"""The offline CLIP tokenizer: vocabulary size, special ids, known ids, round trips, truncation and padding."""

import pytest
from sgm.conditioners.tokenizer import EOT_TOKEN_ID, SOT_TOKEN_ID, ClipTokenizer


@pytest.mark.parametrize("clean", ["open_clip", "transformers"])
def test_vocabulary_and_special_ids(clean):
    tokenizer = ClipTokenizer(clean)
    assert len(tokenizer) == 49408
    assert (SOT_TOKEN_ID, EOT_TOKEN_ID) == (49406, 49407) == (len(tokenizer) - 2, len(tokenizer) - 1)


def test_round_trip_and_layout():
    tokenizer = ClipTokenizer()
    ids = tokenizer(["A photo of a cat", "a dog"], max_length=12, pad_token_id=0)
    assert ids.shape == (2, 12)
    # every word of this sentence is one BPE token; "a" and "of" are among the first merges
    assert ids[0, :7].tolist() == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert ids[0, 7:].tolist() == [0] * 5
    assert tokenizer.decode(ids[0]) == "a photo of a cat"
    assert tokenizer.decode(ids[1]) == "a dog"


def test_truncation_keeps_start_and_end_and_pads_with_end_token():
    tokenizer = ClipTokenizer("transformers")
    ids = tokenizer("one two three four five six seven", max_length=5, pad_token_id=EOT_TOKEN_ID)
    assert ids[0].tolist() == [SOT_TOKEN_ID, *tokenizer.encode("one two three"), EOT_TOKEN_ID]
    padded = tokenizer("cat", max_length=6, pad_token_id=EOT_TOKEN_ID)[0].tolist()
    assert padded == [SOT_TOKEN_ID, *tokenizer.encode("cat"), EOT_TOKEN_ID, EOT_TOKEN_ID, EOT_TOKEN_ID, EOT_TOKEN_ID]


def test_cleaning_collapses_whitespace_and_lowercases():
    tokenizer = ClipTokenizer("transformers")
    assert tokenizer.encode("  A   PHOTO\n of a Cat ") == tokenizer.encode("a photo of a cat")


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="strings"):
        ClipTokenizer()(["ok", 3])
    with pytest.raises(ValueError, match="clean"):
        ClipTokenizer("bert")
