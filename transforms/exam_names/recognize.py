"""Recognition: a normalised name becomes a sequence of known terms (longest first) and unknown chunks.

Slips typed with a pinyin input method give a character of the same sound (颈锥, 颅恼, 磁共震); slips of the
pen or of a shape-based input method give a character of similar shape (裸关节, 助骨, 腰椎间盆). When the exact
pass leaves unknown characters, a second pass also accepts a term of two or more characters that sounds the
same, or is spelled with characters of the same confusable class (lexicon/confusables.csv), and shares at
least one character with the text: a correction is made only where it yields a known exam word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transforms.exam_names.lexicon import Lexicon, Term


@dataclass(frozen=True, slots=True)
class Token:
    """A span of the normalised name: a known term, or unknown text (``term`` None)."""

    term: Term | None
    text: str
    start: int
    by_sound: bool = False

    @property
    def known(self) -> bool:
        return self.term is not None


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def _is_word(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("0" <= ch <= "9")


class SoundIndex:
    """Terms of two or more CJK characters indexed by their pinyin (tones dropped) and by confusable shapes.

    ``shapes`` False leaves the confusable-character table out (the engine as it was before issue 19).
    """

    def __init__(self, lexicon: Lexicon, *, shapes: bool = True) -> None:
        # Built on first use: most names never need it, and loading the pinyin tables takes ~0.5 s.
        self._lexicon = lexicon
        self._shapes = shapes
        self._char_cache: dict[str, str] = {}
        self._trie: dict | None = None
        self._shape_trie: dict | None = None

    def _shape(self, ch: str) -> str:
        return self._lexicon.confusables.get(ch, ch)

    def _build_shapes(self) -> dict:
        trie: dict = {}
        for term in self._lexicon.terms.values():
            if len(term.text) >= 2 and all(_is_cjk(c) for c in term.text):
                node = trie
                for ch in term.text:
                    node = node.setdefault(self._shape(ch), {})
                node.setdefault("\0", term)
        return trie

    def shape_match(self, text: str, start: int) -> Term | None:
        """The longest term spelled like ``text[start:...]`` up to confusable characters, sharing one with it."""
        if not self._shapes or not self._lexicon.confusables:
            return None
        if self._shape_trie is None:
            self._shape_trie = self._build_shapes()
        return _walk(self._shape_trie, self._shape, text, start)

    def _build(self) -> dict:
        from pypinyin import Style, lazy_pinyin

        self._pinyin = lambda s: lazy_pinyin(s, style=Style.NORMAL, errors="default")
        trie: dict = {}
        for term in self._lexicon.terms.values():
            if len(term.text) >= 2 and all(_is_cjk(c) for c in term.text):
                node = trie
                for syl in self._syllables(term.text):
                    node = node.setdefault(syl, {})
                node.setdefault("\0", term)
        return trie

    def _syllable(self, ch: str) -> str:
        syl = self._char_cache.get(ch)
        if syl is None:
            syl = self._pinyin(ch)[0] if _is_cjk(ch) else ch
            self._char_cache[ch] = syl
        return syl

    def _syllables(self, text: str) -> list[str]:
        return [self._syllable(c) for c in text]

    def longest_match(self, text: str, start: int) -> Term | None:
        """The longest term sounding like ``text[start:...]`` that shares a character with it."""
        if self._trie is None:
            self._trie = self._build()
        return _walk(self._trie, self._syllable, text, start)


def _walk(trie: dict, key_of: Callable[[str], str], text: str, start: int) -> Term | None:
    """The longest term of ``trie`` (keyed by ``key_of`` per character) matching ``text[start:...]`` that shares
    at least one exact character with it (a sound- or shape-alike alone is not enough)."""
    node: dict | None = trie
    best: Term | None = None
    i = start
    while node is not None and i < len(text) and _is_cjk(text[i]):
        node = node.get(key_of(text[i]))
        if node is None:
            break
        i += 1
        term = node.get("\0")
        if term is not None and any(a == b for a, b in zip(term.text, text[start:i], strict=True)):
            best = term
    return best


def _split_latin(word: str, lexicon: Lexicon) -> list[Term] | None:
    """Known Latin terms of two or more letters that together spell ``word`` exactly, or None."""
    best: list[list[Term] | None] = [None] * (len(word) + 1)
    best[0] = []
    for start in range(len(word)):
        if best[start] is None:
            continue
        here = best[start]
        if here is None:
            continue
        for end in range(start + 2, len(word) + 1):
            term = lexicon.terms.get(word[start:end])
            there = best[end]
            if term is not None and (there is None or len(there) > len(here) + 1):
                best[end] = [*here, term]
    return best[len(word)]


def _scan(text: str, lexicon: Lexicon, sound: SoundIndex | None) -> list[Token]:
    tokens: list[Token] = []
    unknown_start = -1
    i = 0
    n = len(text)

    def flush(end: int) -> None:
        nonlocal unknown_start
        if unknown_start >= 0:
            tokens.append(Token(None, text[unknown_start:end], unknown_start))
            unknown_start = -1

    while i < n:
        ch = text[i]
        if ch == " ":
            flush(i)
            i += 1
            continue
        term = lexicon.longest_match(text, i)
        by_sound = False
        if sound is not None and _is_cjk(ch):
            for guess in (sound.longest_match(text, i), sound.shape_match(text, i)):
                if guess is not None and len(guess.text) > (len(term.text) if term else 0):
                    term, by_sound = guess, True
        if term is not None:
            flush(i)
            end = i + len(term.text)
            tokens.append(Token(term, text[i:end], i, by_sound and text[i:end] != term.text))
            i = end
            continue
        if _is_word(ch):
            # An unknown Latin word is either known words written together ("mridwi") or one unknown chunk.
            flush(i)
            j = i
            while j < n and _is_word(text[j]):
                j += 1
            parts = _split_latin(text[i:j], lexicon)
            if parts:
                pos = i
                for part in parts:
                    tokens.append(Token(part, part.text, pos))
                    pos += len(part.text)
            else:
                tokens.append(Token(None, text[i:j], i))
            i = j
            continue
        if unknown_start < 0:
            unknown_start = i
        i += 1
    flush(n)
    return tokens


def unknown_chars(tokens: list[Token]) -> int:
    """How many characters of the name no known term explains."""
    return sum(len(t.text) for t in tokens if t.term is None)


def tokenize(text: str, lexicon: Lexicon, sound: SoundIndex | None = None) -> list[Token]:
    """Split a normalised name into known terms (longest match first) and unknown chunks.

    Parameters
    ----------
    text
        A normalised name (see :func:`transforms.exam_names.normalize.normalize`).
    lexicon
        The vocabulary.
    sound
        When given and the exact pass leaves unknown CJK characters, a second pass also accepts same-sound
        terms; it is kept only if it explains more of the name.

    Returns
    -------
    list[Token]
        Tokens in the order of the name.
    """
    tokens = _scan(text, lexicon, None)
    if sound is None or not any(t.term is None and any(_is_cjk(c) for c in t.text) for t in tokens):
        return tokens
    heard = _scan(text, lexicon, sound)
    return heard if unknown_chars(heard) < unknown_chars(tokens) else tokens
