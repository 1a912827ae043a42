"""Pinyin typed instead of characters ("tou lu CT ping sao", "jingzhui zhengcewei") read back as the lexicon's words.

The index holds the toneless pinyin of every Chinese word of the lexicon (pypinyin reads each word as a whole,
so heteronyms take their reading in that word: 重建 → chong jian). A run of Latin words that are all whole
pinyin syllables, spaced or run together, is replaced by Chinese words only when the whole run is spelled by
lexicon words of that sound, at least two syllables long, and no syllable boundary the writer typed (a space)
falls inside a syllable. Anything else (English words, model numbers, a run only partly explained) is left
as it was, so an English name never becomes Chinese by accident ("bone" is bo+ne, but no exam word sounds so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from transforms.exam_names.lexicon import Lexicon, Term

# pypinyin also writes interjections (呣 m, 嗯 n/ng, 哼 hm/hng) and ê: not syllables anyone types for an exam.
_NOT_SYLLABLES = frozenset({"m", "n", "ng", "hm", "hng", "ê", ""})
_WORD = re.compile(r"[a-z]+")
_MAX_SYLLABLE = 6  # zhuang, chuang, shuang
_MIN_SYLLABLES = 2  # one syllable alone ("er", "wo", "pa") is too often an English word or abbreviation
_CACHE_LIMIT = 200_000  # memos are dropped past this many entries: memory stays bounded on hostile input
_MAX_READINGS = 32  # words whose characters have more reading combinations are indexed by their first only


def _is_cjk(text: str) -> bool:
    return bool(text) and all("\u3400" <= c <= "\u9fff" for c in text)


def _meaning(term: Term) -> tuple[object, ...]:
    return tuple(getattr(term, f.name) for f in fields(Term) if f.name not in ("text", "source"))


@dataclass
class _Entry:
    text: str  # the Chinese word
    bounds: frozenset[int]  # offsets of syllable boundaries inside the key


class PinyinReader:
    """Reads pinyin runs as the lexicon's Chinese words.

    Parameters
    ----------
    lexicon
        Its Chinese terms (of any length) are indexed by their pinyin; two words of one sound but different
        meaning make that sound unusable (neither is guessed).
    """

    def __init__(self, lexicon: Lexicon) -> None:
        from itertools import product

        from pypinyin import Style, lazy_pinyin, pinyin
        from pypinyin.constants import PINYIN_DICT

        self._syllables = self._all_syllables(PINYIN_DICT)
        # The reading of the word as a whole comes first; other readings of its characters (椎 chui/zhui,
        # 颈 jing/geng) are keys too, but never displace a first reading of another word.
        index: dict[str, _Entry | None] = {}
        meanings: dict[str, tuple[object, ...]] = {}
        primary: set[str] = set()
        alternates: list[tuple[str, _Entry, tuple[object, ...]]] = []
        for term in lexicon.terms.values():
            if not _is_cjk(term.text):
                continue
            first = lazy_pinyin(term.text, style=Style.NORMAL, errors="ignore")
            if len(first) != len(term.text):
                continue
            readings = pinyin(term.text, style=Style.NORMAL, heteronym=True, errors="ignore")
            combos = [first]
            # A single character's rarer readings (和 hu, 胃 ...) are too loose to read alone.
            if len(term.text) > 1 and len(readings) == len(term.text) and _count(readings) <= _MAX_READINGS:
                combos += [list(c) for c in product(*readings) if list(c) != first]
            meaning = _meaning(term)
            for k, sylls in enumerate(combos):
                if any(s in _NOT_SYLLABLES for s in sylls):
                    continue
                key = "".join(sylls)
                entry = _Entry(term.text, frozenset(sum(len(x) for x in sylls[: i + 1]) for i in range(len(sylls) - 1)))
                if k:
                    alternates.append((key, entry, meaning))
                    continue
                primary.add(key)
                if key in index:
                    if meanings[key] != meaning:
                        index[key] = None  # homophones of different meaning: ambiguous
                    continue
                index[key], meanings[key] = entry, meaning
        for key, entry, meaning in alternates:
            if key in primary:
                continue
            if key in index:
                if meanings[key] != meaning:
                    index[key] = None
                continue
            index[key], meanings[key] = entry, meaning
        # Billing words (胶片, 造影剂) are read too, so that "jiao pian fei" is a film fee, but never over an exam word.
        for marker in (*lexicon.billing_strong, *lexicon.billing_weak):
            if len(marker) >= 2 and _is_cjk(marker):
                sylls = lazy_pinyin(marker, style=Style.NORMAL, errors="ignore")
                key = "".join(sylls)
                if key not in index and len(sylls) == len(marker):
                    bounds = frozenset(sum(len(x) for x in sylls[: i + 1]) for i in range(len(sylls) - 1))
                    index[key] = _Entry(marker, bounds)
        self._index = {k: v for k, v in index.items() if v is not None}
        self._max_key = max((len(k) for k in self._index), default=0)
        self._word_ok: dict[str, bool] = {}
        self._runs: dict[str, str | None] = {}

    @staticmethod
    def _all_syllables(pinyin_dict: dict[int, str]) -> frozenset[str]:
        from pypinyin import Style
        from pypinyin.style import convert

        out: set[str] = set()
        for readings in pinyin_dict.values():
            for reading in readings.split(","):
                out.add(convert(reading, Style.NORMAL, strict=True))
        return frozenset(s for s in out if s.isascii() and s.isalpha()) - _NOT_SYLLABLES

    def is_pinyin(self, word: str) -> bool:
        """Whether ``word`` splits into whole pinyin syllables."""
        ok = self._word_ok.get(word)
        if ok is None:
            n = len(word)
            reach = [False] * (n + 1)
            reach[0] = True
            for i in range(n):
                if reach[i]:
                    for j in range(i + 1, min(n, i + _MAX_SYLLABLE) + 1):
                        if word[i:j] in self._syllables:
                            reach[j] = True
            if len(self._word_ok) >= _CACHE_LIMIT:
                self._word_ok.clear()
            ok = self._word_ok[word] = reach[n]
        return ok

    def read_run(self, words: list[str]) -> str | None:
        """The Chinese words a run of pinyin words spells, or None when the lexicon does not spell all of it."""
        joined = " ".join(words)
        if joined in self._runs:
            return self._runs[joined]
        letters = "".join(words)
        spaces: set[int] = set()
        pos = 0
        for w in words[:-1]:
            pos += len(w)
            spaces.add(pos)
        n = len(letters)
        # best[i]: (lexicon words used, Chinese so far) for letters[:i]; the fewest, longest words win.
        best: list[tuple[int, str] | None] = [None] * (n + 1)
        best[0] = (0, "")
        for i in range(n):
            here = best[i]
            if here is None:
                continue
            for j in range(i + 1, min(n, i + self._max_key) + 1):
                entry = self._index.get(letters[i:j])
                if entry is None:
                    continue
                inner = {s - i for s in spaces if i < s < j}
                if not inner <= entry.bounds:
                    continue  # a typed space would fall inside a syllable
                cand = (here[0] + 1, here[1] + entry.text)
                there = best[j]
                if there is None or cand[0] < there[0]:
                    best[j] = cand
        done = best[n]
        text = done[1] if done is not None and len(done[1]) >= _MIN_SYLLABLES else None
        if len(self._runs) >= _CACHE_LIMIT:
            self._runs.clear()
        self._runs[joined] = text
        return text

    def convert(self, text: str) -> str:
        """``text`` with every pinyin run the lexicon spells replaced by its Chinese words."""
        words = list(_WORD.finditer(text))
        if not words:
            return text
        out: list[str] = []
        last = 0
        run: list[re.Match[str]] = []

        def flush() -> None:
            nonlocal last
            if not run:
                return
            chinese = self.read_run([m.group() for m in run])
            if chinese is not None:
                out.append(text[last : run[0].start()])
                out.append(chinese)
                last = run[-1].end()
            run.clear()

        for m in words:
            if not self.is_pinyin(m.group()):
                flush()
                continue
            if run and text[run[-1].end() : m.start()].strip(" "):
                flush()  # only spaces may separate the words of one run
            run.append(m)
        flush()
        out.append(text[last:])
        return "".join(out)


def _count(readings: list[list[str]]) -> int:
    n = 1
    for r in readings:
        n *= len(r)
    return n


def pinyin_reader(lexicon: Lexicon) -> PinyinReader:
    """The lexicon's reader, built once per lexicon (loading the pinyin tables takes about a second)."""
    reader = lexicon.cache.get("pinyin")
    if reader is None:
        reader = lexicon.cache["pinyin"] = PinyinReader(lexicon)
    return reader
