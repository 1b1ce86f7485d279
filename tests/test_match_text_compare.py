"""The matcher's text tables compare a str that is equal but not the same object byte for
byte, short ones inline; these tests hold that comparison to ``==`` for every length the
inline paths cover and past them, in each str storage width."""

from __future__ import annotations

import pytest
from tessera.ext._match import _Ids

# ASCII / Latin-1 (1 byte a character), BMP (2 bytes), astral (4 bytes).
ALPHABETS = (
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "ä" + "abc" * 12,
    "Ж" + "ab" * 18,
    "😀" + "ab" * 18,
)


def fresh(value: str) -> str:
    """An equal str that is a different object (not interned, hash not yet cached)."""
    copy = "".join(list(value))
    assert copy == value
    if len(value) > 1:
        assert copy is not value
    return copy


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_equal_text_of_every_length_finds_its_id(alphabet: str) -> None:
    keys = {alphabet[:n]: n for n in range(len(alphabet) + 1)}
    table = _Ids(keys)
    for key, expected in keys.items():
        assert table.get(fresh(key)) == expected


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_text_differing_in_any_one_character_is_absent(alphabet: str) -> None:
    for n in range(1, 34):
        key = alphabet[:n]
        table = _Ids({key: 7})
        for i in range(n):
            # Same length, same storage width: a different character anywhere is absent.
            changed = key[:i] + ("#" if key[i] != "#" else "$") + key[i + 1 :]
            assert table.get(changed) == (7 if changed == key else -1)
        assert table.get(fresh(key)) == 7


def test_neighbours_in_a_crowded_table_are_told_apart() -> None:
    """Many keys of one length share probe chains: each finds only its own id."""
    keys = {f"k{i:03d}": i for i in range(200)}
    table = _Ids(keys)
    for key, expected in keys.items():
        assert table.get(fresh(key)) == expected
        assert table.get(fresh(key[:-1] + "x")) == -1
