"""A synthetic Chinese patient registry: persons registered at several institutions, with realistic errors.

:func:`generate_registry` returns one row per registration (a person registered at an institution) with the
person's true identity in ``person_id``, so record linkage can be scored. Everything is drawn from one
``numpy`` generator seeded by ``seed``: the same arguments give the same frame.

What makes the data hard, as in a real hospital group:

- about a third of the persons are registered at two or more institutions (a few twice at one);
- names typed with a homophone character (张伟 / 张玮), in traditional characters (張偉), with a character
  missing or added, or as surname-first pinyin (``Zhang Wei``, ``ZHANG WEI``, ``ZHANG^WEI``);
- birth dates with day and month transposed, mistyped or missing;
- resident ID numbers missing, in the 15-digit first-generation form, mistyped (then the check digit
  fails), with a lowercase ``x``, and now and then a child registered under a parent's ID;
- phones written with ``+86``, spaces or dashes, missing, or changed between registrations; addresses
  written differently, missing or changed after a move;
- distinct persons that look alike: twins (same surname, birth date, phone and address; different given
  names and IDs), a parent and a child sharing phone and address, and the many people called 张伟, 王芳 or
  李娜 born in the same year.

``hard=True`` makes the registry of a large group in one region (the kind a real deployment meets, see
:data:`HARD`): given names drawn from about 40 characters per sex so that two unrelated persons often share
a full name and birth year, 8% of persons in a twin or parent–child pair sharing phone and address, a quarter
of addresses shortened or blank, more ID typos, and about two registrations per person.

Columns of the returned frame: ``record_id`` (``<institution>:<mrn>``), ``source_system`` (= institution),
``mrn`` (unique per institution), ``name``, ``sex`` (``'M'``/``'F'``), ``birth_date`` (``datetime.date`` or
``None``), ``id_number``, ``phone``, ``address`` (``str`` or ``None``), ``person_id`` (truth).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pypinyin import lazy_pinyin

__all__ = ["HARD", "RECORDS_PER_PERSON", "RegistryProfile", "generate_registry", "pinyin_name", "write_registry"]

# (surname, relative frequency in per cent): the 100 commonest plus a few compound surnames.
_SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.6), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1), ("黄", 2.5), ("赵", 2.3),
    ("吴", 2.1), ("周", 2.1), ("徐", 1.7), ("孙", 1.5), ("马", 1.4), ("朱", 1.3), ("胡", 1.3), ("郭", 1.2),
    ("何", 1.2), ("林", 1.1), ("高", 1.1), ("罗", 1.0), ("郑", 0.9), ("梁", 0.9), ("谢", 0.8), ("宋", 0.7),
    ("唐", 0.7), ("许", 0.7), ("韩", 0.6), ("冯", 0.6), ("邓", 0.6), ("曹", 0.6), ("彭", 0.6), ("曾", 0.6),
    ("肖", 0.6), ("田", 0.5), ("董", 0.5), ("袁", 0.5), ("潘", 0.5), ("于", 0.5), ("蒋", 0.5), ("蔡", 0.5),
    ("余", 0.5), ("杜", 0.4), ("叶", 0.4), ("程", 0.4), ("苏", 0.4), ("魏", 0.4), ("吕", 0.4), ("丁", 0.4),
    ("任", 0.4), ("沈", 0.4), ("姚", 0.3), ("卢", 0.3), ("姜", 0.3), ("崔", 0.3), ("钟", 0.3), ("谭", 0.3),
    ("陆", 0.3), ("汪", 0.3), ("范", 0.3), ("金", 0.3), ("石", 0.3), ("廖", 0.3), ("贾", 0.3), ("夏", 0.3),
    ("韦", 0.3), ("付", 0.3), ("方", 0.3), ("白", 0.3), ("邹", 0.3), ("孟", 0.3), ("熊", 0.3), ("秦", 0.3),
    ("邱", 0.3), ("江", 0.3), ("尹", 0.3), ("薛", 0.2), ("闫", 0.2), ("段", 0.2), ("雷", 0.2), ("侯", 0.2),
    ("龙", 0.2), ("史", 0.2), ("陶", 0.2), ("黎", 0.2), ("贺", 0.2), ("顾", 0.2), ("毛", 0.2), ("郝", 0.2),
    ("龚", 0.2), ("邵", 0.2), ("万", 0.2), ("钱", 0.2), ("严", 0.2), ("覃", 0.2), ("武", 0.2), ("戴", 0.2),
    ("莫", 0.2), ("孔", 0.2), ("向", 0.2), ("汤", 0.2), ("单", 0.05), ("欧阳", 0.05), ("司马", 0.02),
    ("上官", 0.02), ("诸葛", 0.02),
)  # fmt: skip

_MALE_CHARS = (
    "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰建国东海志文博成晨轩昊然睿泽子瑞一天嘉思家"
    "振兴荣春亮德永金福庆立新毅航铭哲远阳晓锋彬鸿宏洋"
)
_FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀英玲燕萍红梅莉婷雪慧颖琳倩洁欣怡佳琪悦萱涵雨梦诗语思晓彤琴兰桂凤珍玉芬云月蕾薇晶冰璐露瑶婉丹莹"
)

# Characters read alike (toneless pinyin), the source of homophone typos: 张伟 typed as 张玮.
_HOMOPHONES = (
    "伟玮炜维薇巍", "丽莉俐立利力", "静晶婧菁京敬靖", "娜纳", "芳方舫", "敏民珉旻", "燕艳妍彦雁晏", "华桦骅",
    "军君俊峻骏", "明铭鸣茗", "红宏洪鸿虹", "霞夏侠", "平萍苹坪", "刚钢", "强蔷", "磊蕾雷", "杰洁婕捷", "涛韬",
    "辉慧惠晖徽", "欣新鑫馨心昕", "宇雨玉煜钰瑜语羽", "浩昊皓豪灏", "婷亭庭廷", "洋阳扬", "建健剑坚键",
    "玲灵凌铃龄", "兰岚蓝澜", "梅美玫", "英颖莹樱瑛", "飞菲霏斐", "波博", "涵寒晗瀚翰", "轩萱璇宣暄", "子梓紫",
    "晨辰宸", "怡依宜艺逸毅奕", "瑞睿蕊", "凯楷铠", "佳嘉家", "琪奇琦淇祺麒", "晓筱", "云芸韵昀", "峰锋丰枫凤",
    "鹏朋", "宁凝柠", "东冬栋", "斌彬滨", "思斯丝", "梦萌", "诗师", "婉琬", "瑶遥", "露璐路", "琳林霖麟",
    "文雯", "成诚城程承", "帆凡", "旭煦", "志智芝", "天添", "航杭", "然冉", "荣蓉融", "永咏", "金晋", "远源",
    "悦月越", "彤桐童", "琴勤", "桂贵", "珍真",
)  # fmt: skip

_TRADITIONAL = dict(
    zip(
        "张刘陈杨黄赵吴孙马郑谢许韩冯邓罗叶苏吕卢钟谭陆贾韦邹闫龙贺顾龚万钱严汤蒋欧阳诸伟玮炜维丽静艳华桦骅军骏铭"
        "鸣红鸿侠刚钢强蔷杰洁涛韬辉晖钰灏扬剑坚键灵铃龄兰岚蓝澜颖莹樱飞晓云芸韵锋丰枫凤鹏宁柠东栋滨丝梦诗师"
        "遥诚帅荣庆兴远贵国凯铠艺泽",
        "張劉陳楊黃趙吳孫馬鄭謝許韓馮鄧羅葉蘇呂盧鍾譚陸賈韋鄒閆龍賀顧龔萬錢嚴湯蔣歐陽諸偉瑋煒維麗靜艷華樺驊軍駿銘"
        "鳴紅鴻俠剛鋼強薔傑潔濤韜輝暉鈺灝揚劍堅鍵靈鈴齡蘭嵐藍瀾穎瑩櫻飛曉雲蕓韻鋒豐楓鳳鵬寧檸東棟濱絲夢詩師"
        "遙誠帥榮慶興遠貴國凱鎧藝澤",
        strict=True,
    )
)

# (full name, sex): the names shared by tens of thousands of people in China.
_COMMON_NAMES = (
    ("张伟", "M"), ("王伟", "M"), ("王芳", "F"), ("李伟", "M"), ("李娜", "F"), ("张敏", "F"), ("李静", "F"),
    ("王静", "F"), ("刘伟", "M"), ("王秀英", "F"), ("张丽", "F"), ("李秀英", "F"), ("王丽", "F"), ("张静", "F"),
    ("李强", "M"), ("王敏", "F"), ("李敏", "F"), ("王磊", "M"), ("刘洋", "M"), ("王艳", "F"), ("王勇", "M"),
    ("李军", "M"), ("张勇", "M"), ("李杰", "M"), ("张杰", "M"), ("张磊", "M"), ("王强", "M"), ("李娟", "F"),
)  # fmt: skip

# Six-digit administrative division codes: the hospital group's home city first (most patients live there).
_HOME_REGIONS = (
    ("330102", "浙江省", "杭州市", "上城区"), ("330105", "浙江省", "杭州市", "拱墅区"),
    ("330106", "浙江省", "杭州市", "西湖区"), ("330108", "浙江省", "杭州市", "滨江区"),
    ("330109", "浙江省", "杭州市", "萧山区"), ("330110", "浙江省", "杭州市", "余杭区"),
)  # fmt: skip
_OTHER_REGIONS = (
    ("110101", "北京市", "北京市", "东城区"), ("110108", "北京市", "北京市", "海淀区"),
    ("310104", "上海市", "上海市", "徐汇区"), ("310115", "上海市", "上海市", "浦东新区"),
    ("440106", "广东省", "广州市", "天河区"), ("440305", "广东省", "深圳市", "南山区"),
    ("320102", "江苏省", "南京市", "玄武区"), ("320506", "江苏省", "苏州市", "吴中区"),
    ("330203", "浙江省", "宁波市", "海曙区"), ("330302", "浙江省", "温州市", "鹿城区"),
    ("420106", "湖北省", "武汉市", "武昌区"), ("430102", "湖南省", "长沙市", "芙蓉区"),
    ("510104", "四川省", "成都市", "锦江区"), ("500103", "重庆市", "重庆市", "渝中区"),
    ("610113", "陕西省", "西安市", "雁塔区"), ("370102", "山东省", "济南市", "历下区"),
    ("410105", "河南省", "郑州市", "金水区"), ("130102", "河北省", "石家庄市", "长安区"),
    ("340104", "安徽省", "合肥市", "蜀山区"), ("350102", "福建省", "福州市", "鼓楼区"),
    ("360102", "江西省", "南昌市", "东湖区"), ("450103", "广西壮族自治区", "南宁市", "青秀区"),
    ("530102", "云南省", "昆明市", "五华区"), ("230103", "黑龙江省", "哈尔滨市", "南岗区"),
)  # fmt: skip
_REGIONS = _HOME_REGIONS + _OTHER_REGIONS
_STREETS = (
    "人民路", "解放路", "中山路", "建设路", "文化路", "和平路", "新华路", "胜利路", "青年路", "长江路", "延安路",
    "东风路", "光明路", "幸福路", "学院路", "湖滨路", "文三路", "天目山路", "凤起路", "庆春路", "西溪路",
    "莫干山路", "江南大道", "市心中路", "文一西路", "古墩路", "秋涛路", "环城北路", "体育场路", "之江路",
)  # fmt: skip
_PHONE_PREFIXES = np.array(
    [130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
     166, 170, 173, 176, 177, 178, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199]
)  # fmt: skip
# Surnames read differently from the character's everyday reading (pypinyin's default).
_SURNAME_READINGS = {"曾": "zeng", "單": "shan", "单": "shan", "覃": "qin", "區": "ou", "区": "ou"}
_COMPOUND_SURNAMES = frozenset(s for s, _ in _SURNAMES if len(s) == 2)
_MRN_FORMATS = ("{:08d}", "P{:07d}", "{:010d}", "MR{:06d}", "ZY{:08d}", "{:09d}")
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK_CHARS = np.array(list("10X98765432"))
_REFERENCE_DAY = np.datetime64("2025-01-01", "D")
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class RegistryProfile:
    """How hard a simulated registry is: the knobs :func:`generate_registry` draws with.

    Attributes
    ----------
    given_chars
        Characters per sex given names are drawn from (the commonest first; ``None``: the whole pool).
    given_zipf
        Exponent of the Zipf-like weight of those characters (larger: a few characters far commoner).
    one_char_given
        Share of one-character given names (王伟, 李娜: the commonest full names).
    twin_pairs, family_pairs
        Twin pairs and parent–child pairs, as shares of the persons (each pair is two persons).
    multi_site_share
        Share of persons registered at two or more institutions.
    extra_site_p
        Parameter of the geometric draw of further institutions (smaller: more registrations).
    address_blank, address_short
        Shares of registrations with no address, and with an address cut short (no room, or no number).
    id_typo
        Share of registrations whose ID number carries a typo.
    id_missing
        Share of registrations without an ID number.
    phone_blank, phone_changed
        Shares of registrations with no phone, and of later registrations with the person's other phone.
    wrong_sex
        Share of registrations with the other sex typed.
    birth_off_by_one
        Share of registrations whose birth date is a day early or late (the date, so months and years roll).
    name_extra
        Share of registrations whose name is written in one of the held-out spellings: pinyin with the given
        name first, syllables split or hyphenated, a comma, a slash or no separator, the surname in capitals
        after the given name, ü typed as u or yu; or characters split by spaces.
    """

    given_chars: int | None = None
    given_zipf: float = 0.8
    one_char_given: float = 0.28
    twin_pairs: float = 0.006
    family_pairs: float = 0.02
    multi_site_share: float = 0.34
    extra_site_p: float = 0.7
    address_blank: float = 0.08
    address_short: float = 0.0
    id_typo: float = 0.04
    id_missing: float = 0.28
    phone_blank: float = 0.05
    phone_changed: float = 0.2
    wrong_sex: float = 0.002
    birth_off_by_one: float = 0.0
    name_extra: float = 0.0


HARD = RegistryProfile(
    given_chars=40,
    given_zipf=1.0,
    one_char_given=0.4,
    twin_pairs=0.015,
    family_pairs=0.025,
    multi_site_share=0.62,
    extra_site_p=0.58,
    address_blank=0.12,
    address_short=0.13,
    id_typo=0.06,
    id_missing=0.33,
    phone_blank=0.1,
    phone_changed=0.3,
    wrong_sex=0.005,
    birth_off_by_one=0.01,
    name_extra=0.04,
)
"""The hard registry (issues 16 and 29): about 2.07 registrations per person, as in a group that shares its
patients; a third of registrations without an ID number, a tenth without a phone, 4% of names in the spellings a
held-out registry showed (given name first, split syllables, no separator or a slash, the surname in capitals last,
ü as u or yu, characters split by spaces). The EMPI's model is tuned on this registry; its recall is confirmed on
:mod:`simulator.heldout`, drawn by other code."""


RECORDS_PER_PERSON = {"standard": 1.49, "hard": 2.07}
"""Registrations per person the generator yields with 8 institutions (to size a registry in records)."""

_REGISTRY_SCHEMA = pa.schema(
    [(c, pa.string()) for c in ("record_id", "source_system", "mrn", "name", "sex")]
    + [("birth_date", pa.date32())]
    + [(c, pa.string()) for c in ("id_number", "phone", "address", "person_id")]
)


def write_registry(
    path: Path,
    n_records: int,
    institutions: Sequence[str],
    seed: int,
    *,
    hard: bool = False,
    part_persons: int = 250_000,
    on_part: Callable[[int], object] | None = None,
) -> int:
    """Write a registry of about ``n_records`` records to one Parquet file, one part of persons at a time.

    Memory stays that of one part (about half a million records) whatever the size: ten million records are
    twenty parts, each drawn by :func:`generate_registry` with its own seed (``[seed, part]``) and its own
    person and MRN numbers, so no two parts share a person, a record_id or an MRN. Twins and parent–child
    pairs are drawn within a part.

    Parameters
    ----------
    path
        The Parquet file to write (replaced).
    n_records
        Records wanted; the registry has about this many (the persons are drawn, their registrations follow).
    institutions
        Institution codes.
    seed
        Seed: equal arguments give an equal file.
    hard
        The hard registry (:data:`HARD`).
    part_persons
        Persons per part.
    on_part
        Called with the records written so far after each part.

    Returns
    -------
    int
        Records written.
    """
    n_persons = max(1, round(n_records / RECORDS_PER_PERSON["hard" if hard else "standard"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with pq.ParquetWriter(path, _REGISTRY_SCHEMA) as writer:
        for part, start in enumerate(range(0, n_persons, part_persons)):
            frame = generate_registry(
                min(part_persons, n_persons - start),
                institutions,
                [seed, part],
                hard=hard,
                first_person=start,
                first_mrn=part * 10_000_000,  # more registrations than one institution gets from one part
            )
            writer.write_table(pa.Table.from_pandas(frame, schema=_REGISTRY_SCHEMA, preserve_index=False))
            written += len(frame)
            if on_part is not None:
                on_part(written)
    return written


def pinyin_name(name: str) -> str:
    """The DICOM-style pinyin form of a name (``张伟`` → ``ZHANG^WEI``, ``欧阳娜娜`` → ``OUYANG^NANA``).

    Parameters
    ----------
    name
        A Chinese name (simplified or traditional) or a pinyin one (``Zhang Wei``).

    Returns
    -------
    str
        ``FAMILY^GIVEN`` in upper case, surname readings as surnames are read (曾 → ``ZENG``); ``""`` for an
        empty name.
    """
    # The simulator spells names as a PACS would, with its own small rules, not with the EMPI's parser: the
    # linkage is then scored against names it did not write itself.
    if name.isascii():
        family, *givens = name.replace("^", " ").split() or [""]
        return f"{family}^{''.join(givens)}".upper() if givens else family.upper()
    name = "".join(name.split())
    cut = 2 if name[:2] in _COMPOUND_SURNAMES else 1
    family = _SURNAME_READINGS.get(name[:cut]) or "".join(lazy_pinyin(name[:cut], errors="ignore"))
    given = "".join(lazy_pinyin(name[cut:], errors="ignore"))
    return f"{family}^{given}".upper().replace("Ü", "V") if given else family.upper().replace("Ü", "V")


def _pick(rng: np.random.Generator, mask_size: int, p: float) -> np.ndarray:
    return rng.random(mask_size) < p


def _id_bodies(region: np.ndarray, birth_days: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """The first 17 digits of 18-digit IDs as an (n, 17) digit array."""
    ymd = (birth_days + _EPOCH).astype("datetime64[D]").astype(str)
    ymd_int = np.char.replace(ymd, "-", "").astype(np.int64)
    body = region.astype(np.int64) * 10**11 + ymd_int * 1000 + seq.astype(np.int64)
    powers = 10 ** np.arange(16, -1, -1, dtype=np.int64)
    return (body[:, None] // powers[None, :]) % 10


def _id_strings(digits: np.ndarray) -> list[str]:
    check = _CHECK_CHARS[(digits * _ID_WEIGHTS).sum(axis=1) % 11]
    bodies = (digits * 10 ** np.arange(16, -1, -1, dtype=np.int64)).sum(axis=1)
    return [f"{b:017d}{c}" for b, c in zip(bodies.tolist(), check.tolist(), strict=True)]


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = _PHONE_PREFIXES[rng.integers(0, len(_PHONE_PREFIXES), n)].astype(np.int64)
    return prefix * 10**8 + rng.integers(0, 10**8, n)


def _format_phone(number: int, style: int) -> str:
    text = str(number)
    if style == 1:
        return f"+86 {text[:3]} {text[3:7]} {text[7:]}"
    if style == 2:
        return f"{text[:3]}-{text[3:7]}-{text[7:]}"
    if style == 3:
        return f"86{text}"
    if style == 4:
        return f"{text[:3]} {text[3:7]} {text[7:]}"
    return text


def _address(region: int, street: int, number: int, building: int, unit: int, room: int) -> str:
    _, province, city, district = _REGIONS[region]
    head = city if province == city else province + city
    return f"{head}{district}{_STREETS[street]}{number}号{building}幢{unit}单元{room}室"


def _vary_address(text: str, style: int) -> str:
    if style == 1:  # no province: 杭州市西湖区...
        for _, province, city, _ in _REGIONS:
            if province != city and text.startswith(province):
                return text[len(province) :]
        return text
    if style == 2:
        return text.replace("幢", "栋").replace("室", "")
    if style == 3:
        return text.replace("号", "号 ", 1).replace("单元", "单元 ")
    if style == 4:  # full-width digits, as some front-desk input methods type them
        return text.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return text


def _shorten_address(text: str, keep: float) -> str:
    """An address as a hurried clerk types it: up to the house number, the street, or only the district."""
    head, sep, _ = text.partition("号")
    if keep >= 0.6:
        return head + sep
    street = head.rstrip("0123456789０１２３４５６７８９ ")
    for _, _, city, district in _REGIONS:
        at = street.find(district)
        if at >= 0:
            return street[at:] if keep >= 0.3 else city + district
    return street


def _shorten_some(rng: np.random.Generator, addresses: np.ndarray, share: float) -> None:
    """Cut about ``share`` of the addresses short, in place (no draw at all when ``share`` is 0)."""
    if not share:
        return
    w = rng.random(len(addresses))
    for i in np.flatnonzero((w < share) & pd.notna(addresses)).tolist():
        addresses[i] = _shorten_address(addresses[i], w[i] / share)


def _vary_name(name: str, surname_len: int, kind: int, rng_value: float, extra_char: str) -> str:
    surname, given = name[:surname_len], name[surname_len:]
    if kind == 1:  # homophone character in the given name
        candidates = [i for i, ch in enumerate(given) if ch in _HOMOPHONE_OF]
        if not candidates:
            return name
        i = candidates[int(rng_value * len(candidates))]
        options = _HOMOPHONE_OF[given[i]]
        return surname + given[:i] + options[int(rng_value * 997) % len(options)] + given[i + 1 :]
    if kind == 2:  # traditional characters
        return "".join(_TRADITIONAL.get(ch, ch) for ch in name)
    if kind == 3:  # a character missing, or one added
        if len(given) >= 2:
            return surname + given[:-1]
        return surname + given + extra_char
    if kind == 4:  # surname-first pinyin typed instead of characters
        family, _, first = pinyin_name(name).partition("^")
        style = int(rng_value * 4)
        if style == 0:
            return f"{family.title()} {first.title()}".strip()
        if style == 1:
            return f"{family} {first}".strip()
        if style == 2:
            return f"{family}^{first}"
        return f"{family.lower()} {first.lower()}".strip()
    if kind == 5:  # a stray space typed between surname and given name
        return f"{surname} {given}"
    return name


_HOMOPHONE_OF: dict[str, str] = {ch: group.replace(ch, "") for group in _HOMOPHONES for ch in group}


def generate_registry(
    n_persons: int,
    institutions: Sequence[str],
    seed: int | Sequence[int],
    *,
    multi_site_share: float | None = None,
    hard: bool = False,
    first_person: int = 0,
    first_mrn: int = 0,
) -> pd.DataFrame:
    """Generate a synthetic patient registry with realistic errors and the true identity of every record.

    Parameters
    ----------
    n_persons
        Number of distinct persons; the registry has about ``1.5 * n_persons`` records.
    institutions
        Institution codes (``h01``, ``h02``, ...); the first ones are the larger hospitals.
    seed
        Seed of the random generator: equal arguments give an equal frame.
    multi_site_share
        Share of persons registered at two or more institutions (default: the profile's).
    hard
        Draw the hard registry (:data:`HARD`) instead of the standard one.
    first_person, first_mrn
        Added to every person number and MRN: the parts :func:`write_registry` streams do not collide.

    Returns
    -------
    pandas.DataFrame
        One row per registration, sorted by ``record_id``; columns ``record_id``, ``source_system``, ``mrn``,
        ``name``, ``sex``, ``birth_date``, ``id_number``, ``phone``, ``address``, ``person_id``.

    Raises
    ------
    ValueError
        If ``n_persons`` is negative or no institution is given.
    """
    if n_persons < 0:
        raise ValueError(f"n_persons must be >= 0, got {n_persons}")
    if not institutions:
        raise ValueError("at least one institution is needed")
    profile = HARD if hard else RegistryProfile()
    multi_site_share = profile.multi_site_share if multi_site_share is None else multi_site_share
    # One generator drawn in one fixed order through the sections below: equal arguments give an equal frame.
    rng = np.random.default_rng(seed)
    people = _draw_persons(rng, n_persons, profile)
    family = _add_lookalikes(rng, people, profile)
    id18 = np.array(_id_strings(_id_bodies(np.array([int(_REGIONS[r][0]) for r in people.region]), people.birth,
                                           people.seq)), dtype=object)  # fmt: skip
    regs = _registrations(rng, people, family, len(institutions), profile, multi_site_share)
    mrn, source = _mrns(rng, regs, institutions, first_mrn)
    person = regs.person
    person_ids = np.char.add("P", np.char.zfill((person + first_person).astype(str), 8)).astype(object)
    frame = pd.DataFrame(
        {
            "record_id": [f"{s}:{r}" for s, r in zip(source, mrn, strict=True)],
            "source_system": source,
            "mrn": mrn,
            "name": _record_names(rng, people, person, profile),
            "sex": _record_sexes(rng, people, person, profile),
            "birth_date": _record_births(rng, people, person, profile),
            "id_number": _record_ids(rng, people, family, id18, person, profile),
            "phone": _record_phones(rng, people, regs, profile),
            "address": _record_addresses(rng, people, regs, profile),
            "person_id": person_ids,
        }
    )
    return frame.sort_values("record_id", kind="stable", ignore_index=True)


# --- generate_registry, section by section (each draws from the shared generator in turn) ---------------------


@dataclass
class _People:
    """The true persons: one entry per person in every array."""

    n: int
    male: np.ndarray
    birth: np.ndarray  # days since the epoch
    names: np.ndarray
    surname_len: np.ndarray
    region: np.ndarray
    seq: np.ndarray
    home: np.ndarray
    addr_parts: np.ndarray
    moved_parts: np.ndarray
    phone: np.ndarray
    phone_new: np.ndarray
    male_pool: np.ndarray
    female_pool: np.ndarray


@dataclass
class _Family:
    """Look-alike pairs: twins and parent/child (person indexes)."""

    twin_a: np.ndarray
    twin_b: np.ndarray
    parent: np.ndarray
    child: np.ndarray


@dataclass
class _Registrations:
    """One entry per registration: its person, its rank among the person's sites, its institution."""

    person: np.ndarray
    rank: np.ndarray
    inst: np.ndarray
    later: np.ndarray

    @property
    def m(self) -> int:
        return len(self.person)


def _draw_persons(rng: np.random.Generator, n: int, profile: RegistryProfile) -> _People:
    male = rng.random(n) < 0.49
    age_years = np.clip(rng.normal(50, 22, n), 0, 98)
    birth = (_REFERENCE_DAY - _EPOCH).astype(np.int64) - (age_years * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    surname_w = np.array([w for _, w in _SURNAMES])
    surname_idx = rng.choice(len(_SURNAMES), n, p=surname_w / surname_w.sum())
    surnames = np.array([s for s, _ in _SURNAMES], dtype=object)[surname_idx]
    # Given-name characters: a Zipf-like weight so a few characters (伟, 芳) are far commoner than others.
    male_pool = np.array(list(_MALE_CHARS[: profile.given_chars]))
    female_pool = np.array(list(_FEMALE_CHARS[: profile.given_chars]))

    def draw(pool: np.ndarray, size: int) -> np.ndarray:
        w = 1.0 / np.arange(1, len(pool) + 1) ** profile.given_zipf
        return pool[rng.choice(len(pool), size, p=w / w.sum())]

    g1 = np.where(male, draw(male_pool, n), draw(female_pool, n))
    g2 = np.where(male, draw(male_pool, n), draw(female_pool, n))
    two_chars = rng.random(n) >= profile.one_char_given
    given = np.where(two_chars, np.char.add(g1, g2), g1).astype(object)
    names = (surnames + given).astype(object)

    common = rng.random(n) < 0.03
    common_pick = rng.integers(0, len(_COMMON_NAMES), n)
    common_names = np.array([c for c, _ in _COMMON_NAMES], dtype=object)
    common_male = np.array([s == "M" for _, s in _COMMON_NAMES])
    names = np.where(common, common_names[common_pick], names)
    male = np.where(common, common_male[common_pick], male)
    # The common names cluster in the birth years when they were fashionable (1965-1995).
    common_birth = (
        (np.datetime64("1965-01-01", "D") - _EPOCH).astype(np.int64)
        + (rng.integers(0, 30, n) * 365.25).astype(np.int64)
        + rng.integers(0, 365, n)
    )
    birth = np.where(common, common_birth, birth)
    surname_len = np.array([2 if nm[:2] in {s for s, _ in _SURNAMES if len(s) == 2} else 1 for nm in names])

    region = np.where(rng.random(n) < 0.7, rng.integers(0, len(_HOME_REGIONS), n), rng.integers(0, len(_REGIONS), n))
    seq = rng.integers(0, 498, n) // 2 * 2 + male  # odd for men, even for women (GB 11643)
    home = np.where(rng.random(n) < 0.85, rng.integers(0, len(_HOME_REGIONS), n), region)
    addr_parts = np.stack(
        [home, rng.integers(0, len(_STREETS), n), rng.integers(1, 400, n), rng.integers(1, 30, n),
         rng.integers(1, 6, n), rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n)],
        axis=1,
    )  # fmt: skip
    moved_parts = addr_parts.copy()
    moved_parts[:, 0] = rng.integers(0, len(_HOME_REGIONS), n)
    moved_parts[:, 1] = rng.integers(0, len(_STREETS), n)
    moved_parts[:, 2] = rng.integers(1, 400, n)
    phone = _phones(rng, n)
    phone_new = _phones(rng, n)
    return _People(n, male, birth, names, surname_len, region, seq, home, addr_parts, moved_parts, phone, phone_new,
                   male_pool, female_pool)  # fmt: skip


def _add_lookalikes(rng: np.random.Generator, people: _People, profile: RegistryProfile) -> _Family:
    """Twins and parent/child pairs (changing ``people`` in place): shared phones, addresses and surnames."""
    q = people
    n, birth, region, home, phone, phone_new = q.n, q.birth, q.region, q.home, q.phone, q.phone_new
    names, male, surname_len, seq = q.names, q.male, q.surname_len, q.seq
    addr_parts, moved_parts, male_pool, female_pool = q.addr_parts, q.moved_parts, q.male_pool, q.female_pool
    order = rng.permutation(n)
    n_twin = int(n * profile.twin_pairs)
    n_family = int(n * profile.family_pairs)
    twin_a, twin_b = order[:n_twin], order[n_twin : 2 * n_twin]
    parent = order[2 * n_twin : 2 * n_twin + n_family]
    child = order[2 * n_twin + n_family : 2 * n_twin + 2 * n_family]
    # Twins: same surname, birth date, region, phone and address; a given name sharing the first character.
    for arr in (birth, region, home, phone, phone_new):
        arr[twin_b] = arr[twin_a]
    addr_parts[twin_b] = addr_parts[twin_a]
    moved_parts[twin_b] = moved_parts[twin_a]
    seq[twin_b] = (seq[twin_a] // 2 * 2 + 2) % 498 + male[twin_b]
    twin_chars = rng.random((n_twin, 2))
    for k, (a, b) in enumerate(zip(twin_a.tolist(), twin_b.tolist(), strict=True)):
        sl = surname_len[a]
        pool_a = "".join(male_pool if male[a] else female_pool)
        pool_b = "".join(male_pool if male[b] else female_pool)
        if len(names[a]) - sl < 2:  # twins' given names are two characters sharing the first: 思雨 / 思雪
            names[a] = names[a] + pool_a[int(twin_chars[k, 0] * len(pool_a))]
        first, second_a = names[a][sl], names[a][sl + 1]
        second = pool_b[int(twin_chars[k, 1] * len(pool_b))]
        if second == second_a or second in _HOMOPHONE_OF.get(second_a, ""):
            second = "然" if second_a != "然" else "宇"
        names[b], surname_len[b] = names[a][:sl] + first + second, sl
    # Parent and child: same phone and address, the child 22-38 years younger, usually the same surname.
    child_age = np.clip(rng.exponential(12, n_family), 0, 45)
    birth[child] = (_REFERENCE_DAY - _EPOCH).astype(np.int64) - (child_age * 365.25).astype(np.int64)
    birth[parent] = birth[child] - (rng.uniform(22, 38, n_family) * 365.25).astype(np.int64)
    for arr in (home, phone, phone_new):
        arr[child] = arr[parent]
    addr_parts[child] = addr_parts[parent]
    moved_parts[child] = moved_parts[parent]
    same_surname = male[parent] | (rng.random(n_family) < 0.3)
    for p, c, same in zip(parent.tolist(), child.tolist(), same_surname.tolist(), strict=True):
        if same:
            names[c] = names[p][: surname_len[p]] + names[c][surname_len[c] :]
            surname_len[c] = surname_len[p]
            if names[c] == names[p]:
                names[c] = names[c] + ("子" if male[c] else "彤")
    return _Family(twin_a, twin_b, parent, child)


def _registrations(
    rng: np.random.Generator, p: _People, f: _Family, n_inst: int, profile: RegistryProfile, multi_site_share: float
) -> _Registrations:
    """Which institutions each person is registered at (families at their relative's first site)."""
    n, twin_a, twin_b, parent, child = p.n, f.twin_a, f.twin_b, f.parent, f.child
    extra = rng.random(n) < multi_site_share
    n_sites = np.ones(n, dtype=np.int64)
    n_sites[extra] = 1 + rng.geometric(profile.extra_site_p, extra.sum())
    n_sites = np.minimum(n_sites, n_inst)
    inst_w = 1.0 / np.arange(1, n_inst + 1) ** 0.5
    keys = np.log(inst_w)[None, :] + rng.gumbel(size=(n, n_inst))
    site_order = np.argsort(-keys, axis=1)
    # Families go to the same hospital: the child's and the second twin's first site is their relative's.
    for dependant, relative in ((twin_b, twin_a), (child, parent)):
        rows = site_order[dependant]
        target = site_order[relative, 0]
        pos = np.argmax(rows == target[:, None], axis=1)
        rows[np.arange(len(dependant)), pos] = rows[:, 0]
        rows[:, 0] = target
        site_order[dependant] = rows
    taken = np.arange(n_inst)[None, :] < n_sites[:, None]
    reg_person, reg_rank = np.nonzero(taken)
    reg_inst = site_order[reg_person, reg_rank]
    # A few persons were registered twice at one hospital (a new card instead of the old one).
    dup = np.nonzero(rng.random(n) < 0.004)[0]
    reg_person = np.concatenate([reg_person, dup])
    reg_rank = np.concatenate([reg_rank, np.full(len(dup), n_inst)])
    reg_inst = np.concatenate([reg_inst, site_order[dup, 0]])
    later = reg_rank > 0
    return _Registrations(reg_person, reg_rank, reg_inst, later)


def _mrns(
    rng: np.random.Generator, r: _Registrations, institutions: Sequence[str], first_mrn: int = 0
) -> tuple[list[str], list[str]]:
    """Each registration's MRN in its institution's own format, and its institution code."""
    n_inst, m, reg_inst = len(institutions), r.m, r.inst
    # mrn: each institution numbers its registrations in its own format, in a random order of arrival.
    arrival = np.lexsort((rng.random(m), reg_inst))
    inst_sorted = reg_inst[arrival]
    starts = np.searchsorted(inst_sorted, np.arange(n_inst))
    number = np.empty(m, dtype=np.int64)
    number[arrival] = np.arange(m) - starts[inst_sorted] + 1
    first_no = rng.integers(10_000, 900_000, n_inst) + first_mrn
    counts = np.bincount(reg_inst, minlength=n_inst)
    mrn_formats = []
    for i in range(n_inst):
        fmt = _MRN_FORMATS[i % len(_MRN_FORMATS)]
        width = int(fmt.split(":0")[1].split("d")[0])
        if len(str(int(first_no[i] + counts[i]))) > width:
            fmt = fmt.split("{")[0] + "{:0" + str(len(str(int(first_no[i] + counts[i])))) + "d}"
        mrn_formats.append(fmt)
    mrn = [mrn_formats[i].format(int(first_no[i] + k)) for i, k in zip(reg_inst.tolist(), number.tolist(), strict=True)]
    inst_names = [str(x) for x in institutions]
    source = [inst_names[i] for i in reg_inst.tolist()]
    return mrn, source


def _record_names(rng: np.random.Generator, p: _People, reg_person: np.ndarray, profile: RegistryProfile) -> np.ndarray:
    """Names as registered: homophones, traditional characters, a missing character, pinyin, stray spaces."""
    m, names, surname_len = len(reg_person), p.names, p.surname_len
    rec_name = names[reg_person].copy()
    name_kind = np.zeros(m, dtype=np.int64)
    u = rng.random(m)
    name_kind[u < 0.05] = 1  # homophone
    name_kind[(u >= 0.05) & (u < 0.07)] = 2  # traditional
    name_kind[(u >= 0.07) & (u < 0.085)] = 3  # missing / extra character
    name_kind[(u >= 0.085) & (u < 0.115)] = 4  # pinyin typed instead
    name_kind[(u >= 0.115) & (u < 0.13)] = 5  # stray space
    v = rng.random(m)
    extra_chars = np.array(list(_MALE_CHARS + _FEMALE_CHARS))[rng.integers(0, len(_MALE_CHARS + _FEMALE_CHARS), m)]
    sl_rec = surname_len[reg_person]
    for i in np.nonzero(name_kind)[0].tolist():
        rec_name[i] = _vary_name(rec_name[i], int(sl_rec[i]), int(name_kind[i]), float(v[i]), str(extra_chars[i]))
    if profile.name_extra:  # drawn only then: the standard registry stays as it was
        w = rng.random(m)
        for i in np.flatnonzero((w < profile.name_extra) & (name_kind == 0)).tolist():
            rec_name[i] = _spell_name(rec_name[i], int(sl_rec[i]), w[i] / profile.name_extra)
    return rec_name


def _syllables(text: str, surname: bool, umlaut: str = "u") -> list[str]:
    if surname and text in _SURNAME_READINGS:
        return [_SURNAME_READINGS[text]]
    return [s.replace("ü", "v").replace("v", umlaut) for s in lazy_pinyin(text, errors="ignore")]


def _spell_name(name: str, surname_len: int, style: float) -> str:
    """A name in a spelling seen in held-out registries (``style`` in [0, 1) picks one); ü is typed u or yu."""
    surname, given = name[:surname_len], name[surname_len:]
    umlaut = "yu" if int(style * 1000) % 2 else "u"  # 吕: LU, or LYU as on passports
    family = "".join(_syllables(surname, True, umlaut)).title()
    parts = [x.title() for x in _syllables(given, False, umlaut)]
    if style < 0.25:  # given name first, as on a passport or a foreign form: Xiaoming Zhang
        return f"{''.join(parts).title()} {family}"
    if style < 0.4:  # each syllable a word: Zhang Xiao Ming
        return " ".join([family, *parts])
    if style < 0.5:  # hyphenated given name: ZHANG Xiao-Ming
        return f"{family.upper()} {'-'.join(parts)}"
    if style < 0.6:  # surname, comma: ZHANG, XIAOMING
        return f"{family.upper()}, {''.join(parts).upper()}"
    if style < 0.67:  # no separator at all: ZHANGXIAOMING
        return f"{family}{''.join(parts)}".upper()
    if style < 0.72:  # airline style: ZHANG/XIAOMING
        return f"{family.upper()}/{''.join(parts).upper()}"
    if style < 0.82:  # the surname in capitals after the given name: Xiao Ming ZHANG, Xiaoming ZHANG
        given_text = " ".join(parts) if int(style * 100) % 2 else "".join(parts).title()
        return f"{given_text} {family.upper()}"
    return " ".join(name)  # each character a word: 张 晓 明


def _record_sexes(rng: np.random.Generator, p: _People, reg_person: np.ndarray, profile: RegistryProfile) -> np.ndarray:
    m, male = len(reg_person), p.male
    # sex: a rare slip at the front desk
    rec_male = male[reg_person] ^ (rng.random(m) < profile.wrong_sex)
    rec_sex = np.where(rec_male, "M", "F").astype(object)
    return rec_sex


def _record_births(
    rng: np.random.Generator, p: _People, reg_person: np.ndarray, profile: RegistryProfile
) -> np.ndarray:
    m, birth = len(reg_person), p.birth
    # birth date: day and month transposed, one component mistyped (year ±1 or ±10, another day or month)
    born = birth[reg_person]
    if profile.birth_off_by_one:  # a day early or late (born near midnight, a date keyed from a calendar)
        off = rng.random(m) < profile.birth_off_by_one
        born = born + np.where(off, rng.choice([-1, 1], m), 0)
    as_date = (born + _EPOCH).astype("datetime64[D]")
    year = as_date.astype("datetime64[Y]").astype(np.int64) + 1970
    month = as_date.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (as_date - as_date.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    u = rng.random(m)
    swap = (u < 0.02) & (day <= 12) & (day != month)
    month, day = np.where(swap, day, month), np.where(swap, month, day)
    typo = (u >= 0.02) & (u < 0.035)
    which = rng.integers(0, 3, m)
    year = np.where(typo & (which == 0), year + rng.choice([-10, -1, 1, 10], m), year)
    month = np.where(typo & (which == 1), (month + rng.integers(1, 12, m) - 1) % 12 + 1, month)
    day = np.where(typo & (which == 2), (day + rng.integers(1, 28, m) - 1) % 28 + 1, day)
    year = np.minimum(year, 2024)
    first_of_month = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    month_days = ((first_of_month + 1).astype("datetime64[D]") - first_of_month.astype("datetime64[D]")).astype(
        np.int64
    )
    rec_birth = first_of_month.astype("datetime64[D]") + (np.minimum(day, month_days) - 1)
    birth_missing = (u >= 0.035) & (u < 0.055)
    birth_objs = rec_birth.astype(object)
    birth_objs[birth_missing] = None
    return birth_objs


def _record_ids(
    rng: np.random.Generator,
    p: _People,
    f: _Family,
    id18: np.ndarray,
    reg_person: np.ndarray,
    profile: RegistryProfile,
) -> np.ndarray:
    """ID numbers as registered: missing, the old 15-digit form, typos, lower-case x, a parent's card."""
    m, n, birth, parent, child = len(reg_person), p.n, p.birth, f.parent, f.child
    rec_id = id18[reg_person].copy()
    u = rng.random(m)
    born = birth[reg_person]
    old_enough = born < (np.datetime64("1984-01-01", "D") - _EPOCH).astype(np.int64)
    gone = profile.id_missing
    id_missing = u < gone
    id15 = (u >= gone) & (u < gone + 0.08) & old_enough
    id_typo = (u >= gone + 0.08) & (u < gone + 0.08 + profile.id_typo)
    id_lower = (u >= gone + 0.08 + profile.id_typo) & (u < gone + 0.11 + profile.id_typo)
    for i in np.nonzero(id15)[0].tolist():
        s = rec_id[i]
        rec_id[i] = s[:6] + s[8:17]
    w = rng.random(m)
    for i in np.nonzero(id_typo)[0].tolist():
        s = rec_id[i]
        pos = int(w[i] * 16)
        if w[i] < 0.5:  # two neighbouring digits swapped
            s = s[:pos] + s[pos + 1] + s[pos] + s[pos + 2 :] if s[pos] != s[pos + 1] else s[:pos] + "0" + s[pos + 1 :]
        else:  # one digit mistyped
            s = s[:pos] + str((int(s[pos]) + 1 + int(w[i] * 1e4) % 9) % 10) + s[pos + 1 :]
        rec_id[i] = s
    rec_id[id_lower] = np.char.lower(rec_id[id_lower].astype(str)).astype(object)
    # Children are now and then registered under a parent's ID card.
    child_rec = np.isin(reg_person, child) & (rng.random(m) < 0.05)
    if child_rec.any():
        parent_of = np.full(n, -1, dtype=np.int64)
        parent_of[child] = parent
        rec_id[child_rec] = id18[parent_of[reg_person[child_rec]]]
    rec_id[id_missing] = None
    return rec_id


def _record_phones(rng: np.random.Generator, p: _People, r: _Registrations, profile: RegistryProfile) -> np.ndarray:
    m, reg_person, later, phone, phone_new = r.m, r.person, r.later, p.phone, p.phone_new
    # phone: changed at later registrations now and then; formatting noise; sometimes missing
    changed = later & (rng.random(m) < profile.phone_changed)
    rec_phone_no = np.where(changed, phone_new[reg_person], phone[reg_person])
    u = rng.random(m)
    style = np.where(u < 0.75, 0, rng.integers(1, 5, m))
    rec_phone = np.array(
        [_format_phone(p, s) for p, s in zip(rec_phone_no.tolist(), style.tolist(), strict=True)], dtype=object
    )
    rec_phone[rng.random(m) < profile.phone_blank] = None
    return rec_phone


def _record_addresses(rng: np.random.Generator, p: _People, r: _Registrations, profile: RegistryProfile) -> np.ndarray:
    m, reg_person, later, addr_parts, moved_parts = r.m, r.person, r.later, p.addr_parts, p.moved_parts
    # address: moved between registrations now and then; written differently; sometimes missing
    moved = later & (rng.random(m) < 0.1)
    parts = np.where(moved[:, None], moved_parts[reg_person], addr_parts[reg_person])
    a_style = np.where(rng.random(m) < 0.65, 0, rng.integers(1, 5, m))
    rec_addr = np.array(
        [_vary_address(_address(*row), s) for row, s in zip(parts.tolist(), a_style.tolist(), strict=True)],
        dtype=object,
    )
    _shorten_some(rng, rec_addr, profile.address_short)
    rec_addr[rng.random(m) < profile.address_blank] = None
    return rec_addr
