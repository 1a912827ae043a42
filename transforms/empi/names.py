"""Chinese personal names for matching: normalisation, surname split, pinyin keys and DICOM pinyin forms."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import lazy_pinyin

__all__ = [
    "COMPOUND_SURNAMES",
    "PINYIN_SYLLABLES",
    "SURNAME_PINYIN",
    "SURNAME_SYLLABLES",
    "dicom_pinyin",
    "is_pinyin_name",
    "is_syllable_run",
    "name_key",
    "normalize_name",
    "parse_name",
    "pinyin_order_ambiguous",
]

# Two-character surnames: the split must not take their second character for the given name.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳", "歐陽", "司马", "司馬", "上官", "诸葛", "諸葛", "东方", "東方", "皇甫", "尉迟", "尉遲",
        "公孙", "公孫", "慕容", "令狐", "夏侯", "长孙", "長孫", "宇文", "司徒", "端木", "澹台", "轩辕",
        "軒轅", "万俟", "單于", "单于", "呼延", "西门", "西門", "南宫", "南宮", "独孤", "獨孤", "申屠",
    }
)  # fmt: skip

# Surnames whose reading differs from the character's everyday reading (pypinyin's default).
SURNAME_PINYIN: dict[str, str] = {
    "曾": "zeng", "单": "shan", "單": "shan", "解": "xie", "仇": "qiu", "区": "ou", "區": "ou",
    "朴": "piao", "樸": "piao", "查": "zha", "乐": "yue", "樂": "yue", "盖": "ge", "蓋": "ge",
    "缪": "miao", "繆": "miao", "翟": "zhai", "覃": "qin", "尉": "yu", "种": "chong", "種": "chong",
    "繁": "po", "黑": "he", "秘": "bi", "重": "chong", "柏": "bai", "员": "yun", "員": "yun",
    "宿": "su", "句": "gou", "那": "na", "隗": "wei", "訾": "zi", "贲": "ben", "賁": "ben",
    "长孙": "zhangsun", "長孫": "zhangsun", "万俟": "moqi", "单于": "chanyu", "單于": "chanyu",
    "尉迟": "yuchi", "尉遲": "yuchi", "澹台": "tantai", "令狐": "linghu",
}  # fmt: skip

# The toneless pinyin of the surnames of about 95% of people in China (the commonest few hundred, and the
# compound ones): what tells a surname written last (Xiaoming Zhang) from a given name.
_SURNAME_TEXT = """
    wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin gao luo zheng liang xie song
    tang han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai du ye cheng su wei lv ding ren shen
    yao lu cui zhong tan fan jin shi liao jia xia fu fang bai zou meng xiong qin qiu yin xue yan duan lei hou
    long tao gu mao hao gong shao wan qian dai mo kong xiang chang shan qi niu yi zhan hong bao zuo ge geng
    ji lai an chu ni rao ou yue zhai mu bian ling ning kang shu wen xing jing zhuo nie guan chai tong ke lan
    sui luan liang pang pu ai zang che lou miao zha xin mei rong na ruan bi ba huo ying tu you quan gan
    ouyang sima shangguan zhuge dongfang huangfu yuchi gongsun murong linghu xiahou zhangsun yuwen situ duanmu
    tantai xuanyuan moqi chanyu huyan ximen nangong dugu shentu"""
SURNAME_SYLLABLES: frozenset[str] = frozenset(_SURNAME_TEXT.split())

# Toneless Mandarin syllables (ü written v): what a run of pinyin letters must split into.
_SYLLABLE_TEXT = (
    "a ai an ang ao ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu ca cai can cang "
    "cao ce cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai chuan "
    "chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de dei den deng di "
    "dian diao die ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang fei fen feng fo "
    "fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang gui gun guo ha hai "
    "han hang hao he hei hen heng hong hou hu hua huai huan huang hui hun huo ji jia jian jiang jiao "
    "jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke ken keng kong kou ku kua kuai "
    "kuan kuang kui kun kuo la lai lan lang lao le lei leng li lia lian liang liao lie lin ling liu "
    "lo long lou lu luan lun luo lv lve ma mai man mang mao me mei men meng mi mian miao mie min "
    "ming miu mo mou mu na nai nan nang nao ne nei nen neng ni nian niang niao nie nin ning niu nong "
    "nou nu nuan nun nuo nv nve o ou pa pai pan pang pao pei pen peng pi pian piao pie pin ping po "
    "pou pu qi qia qian qiang qiao qie qin qing qiong qiu qu quan que qun ran rang rao re ren reng "
    "ri rong rou ru rua ruan rui run ruo sa sai san sang sao se sen seng sha shai shan shang shao "
    "she shei shen sheng shi shou shu shua shuai shuan shuang shui shun shuo si song sou su suan sui "
    "sun suo ta tai tan tang tao te teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai "
    "wan wang wei wen weng wo wu xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun ya "
    "yan yang yao ye yi yin ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen zeng zha "
    "zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun "
    "zhuo zi zong zou zu zuan zui zun zuo "
)
PINYIN_SYLLABLES: frozenset[str] = frozenset(_SYLLABLE_TEXT.split())

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
# Spaces, the DICOM component separator, middle dots of minority names, commas, hyphens and slashes (airline
# and passport style, ``ZHANG/XIAOMING``) split pinyin.
_PINYIN_SPLIT = re.compile(r"[\s\^,，·・.\-_/]+")
_NOISE = re.compile(r"[\s\u3000·・.\-_,，()（）]+")


def normalize_name(name: object) -> str:
    """Normalise a name as typed: NFKC (full-width letters to ASCII), no spaces or dots, pinyin lowercased.

    Parameters
    ----------
    name
        A name as it came from a source; ``None``/NaN give ``""``.

    Returns
    -------
    str
        Chinese names with inner spaces and punctuation removed (``"张 伟"`` → ``"张伟"``); pinyin names
        as lowercase words joined by single spaces in their original order (``"ZHANG^WEI"`` → ``"zhang wei"``).
    """
    if name is None or (isinstance(name, float) and name != name):
        return ""
    text = unicodedata.normalize("NFKC", str(name)).strip()
    if not text:
        return ""
    if _CJK.search(text):
        return _NOISE.sub("", text)
    typed = [w for w in _PINYIN_SPLIT.split(text) if w]
    # A surname in capitals among words that are not (``Xiao Ming ZHANG``, ``Xiaoming ZHANG``) is the surname
    # wherever it stands, as passports and foreign forms write it: put it first, the order DICOM PN uses.
    capitals = [i for i, w in enumerate(typed) if len(w) > 1 and w.isupper()]
    if len(capitals) == 1 and len(typed) > 1 and capitals[0] > 0:
        typed.insert(0, typed.pop(capitals[0]))
    return " ".join(w.lower() for w in typed)


def is_pinyin_name(name: str) -> bool:
    """Whether a (normalised) name is written in Latin letters rather than Chinese characters."""
    return bool(name) and not _CJK.search(name) and bool(_LATIN.search(name))


@lru_cache(maxsize=1 << 18)
def _char_pinyin(text: str) -> tuple[str, ...]:
    return tuple(_fold_umlaut(p) for p in lazy_pinyin(text, errors="ignore"))


def _fold_umlaut(word: str) -> str:
    # lü/nü are spelt lv, lu:, lyu by clerks and passports; one spelling keeps 吕 = LV = LYU.
    word = word.replace("ü", "v").replace("u:", "v")
    return word[0] + "v" + word[3:] if word[:3] in ("lyu", "nyu") else word


@lru_cache(maxsize=1 << 18)
def parse_name(name: str) -> tuple[str, str, str, str]:
    """Split a normalised name into surname and given name, in characters and in pinyin.

    Parameters
    ----------
    name
        Output of :func:`normalize_name`.

    Returns
    -------
    tuple of str
        ``(surname, given, surname_pinyin, given_pinyin)``. For Chinese names the characters and their
        toneless pinyin (surname readings from :data:`SURNAME_PINYIN`, compound surnames kept whole);
        for pinyin-only names the characters are ``""`` and the first word is taken as the surname
        (surname-first order, as DICOM PN and Chinese clerks write it) unless it is no surname and the last
        word is one (given name first, as on passports and foreign forms: ``xiaoming zhang``). Pinyin is
        lowercase without spaces.
    """
    if not name:
        return "", "", "", ""
    if _CJK.search(name):
        cut = 2 if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES else 1
        surname, given = name[:cut], name[cut:]
        surname_py = SURNAME_PINYIN.get(surname) or "".join(_char_pinyin(surname))
        return surname, given, surname_py, "".join(_char_pinyin(given))
    words = [w for w in name.split(" ") if w]
    words = [_fold_umlaut(w) for w in words]
    if len(words) == 1:
        return "", "", *_split_run(words[0])
    if words[0] not in SURNAME_SYLLABLES and words[-1] in SURNAME_SYLLABLES:
        return "", "", words[-1], "".join(words[:-1])
    return "", "", words[0], "".join(words[1:])


def _split_run(word: str) -> tuple[str, str]:
    """A name typed as one run of letters (``zhangxiaoming``): a surname syllable (the longest that fits) and a
    given name that splits into whole syllables; the run itself as the surname when no such split exists."""
    for cut in range(min(len(word) - 1, 9), 0, -1):
        head, tail = word[:cut], word[cut:]
        if head in SURNAME_SYLLABLES and is_syllable_run(tail):
            return head, tail
    return word, ""


def pinyin_order_ambiguous(name: str) -> bool:
    """Whether a normalised pinyin name could be read in either order: two words, both surnames (``fang
    wang`` is 王芳 written given name first, or 方旺). Such a record's given name is no evidence against
    another's (see :mod:`transforms.empi.clusters`).

    Parameters
    ----------
    name
        Output of :func:`normalize_name`.

    Returns
    -------
    bool
    """
    if not name or _CJK.search(name):
        return False
    words = name.split(" ")
    return len(words) == 2 and all(_fold_umlaut(w) in SURNAME_SYLLABLES for w in words)


def name_key(name: object) -> str:
    """The toneless pinyin of a whole name, no spaces (``张伟``, ``張偉``, ``ZHANG^WEI`` → ``"zhangwei"``).

    Parameters
    ----------
    name
        A name as typed in any source.

    Returns
    -------
    str
        Surname pinyin followed by given-name pinyin; ``""`` when there is no name.
    """
    _, _, surname_py, given_py = parse_name(normalize_name(name))
    return surname_py + given_py


def dicom_pinyin(name: object) -> str:
    """The DICOM PN pinyin form of a name: ``FAMILY^GIVEN`` in upper case (``张晓明`` → ``ZHANG^XIAOMING``).

    Parameters
    ----------
    name
        A Chinese or pinyin name.

    Returns
    -------
    str
        ``""`` for an empty name; only the family component when no given name is known.
    """
    _, _, surname_py, given_py = parse_name(normalize_name(name))
    if not surname_py:
        return ""
    return f"{surname_py.upper()}^{given_py.upper()}" if given_py else surname_py.upper()


@lru_cache(maxsize=1 << 16)
def is_syllable_run(text: str) -> bool:
    """Whether toneless pinyin letters split into whole syllables (``"ming"``, ``"xiaoming"``; not ``"n"``).

    Parameters
    ----------
    text
        Lowercase letters without spaces.

    Returns
    -------
    bool
        ``False`` for the empty string.
    """
    if not text:
        return False
    reachable = [True] + [False] * len(text)
    for end in range(1, len(text) + 1):
        reachable[end] = any(
            reachable[start] and text[start:end] in PINYIN_SYLLABLES for start in range(max(0, end - 6), end)
        )
    return reachable[-1]
