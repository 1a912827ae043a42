"""A held-out patient registry: written apart from :mod:`simulator.people`, never used to tune the EMPI.

The EMPI's blocking rules, comparison levels and thresholds are tuned on :mod:`simulator.people`'s hard
registry (:data:`simulator.people.HARD`). A model tuned on one generator learns that generator's habits, so its
recall is confirmed on this one, drawn by other code with other pools, other rates and other spellings of the
same hard cases (issue 29):

- given names from a wider pool of characters, a homophone character typed now and then (丽/莉/俐, 伟/玮/炜);
- names in pinyin only, in many spellings: either order, with or without a separator (``ZHANGXIAOMING``),
  split into syllables, hyphenated, with a slash or a comma, ü typed ``u``, ``v`` or ``yu``;
- names split by spaces (``张 晓明``, ``张 晓 明``, an ideographic space);
- no resident ID on about a third of records (some persons never show one), a mistyped or transposed digit, the
  first-generation 15-digit form, a lowercase ``x``;
- phones blank or changed, landlines with an area code; addresses blank, cut short, or written with another
  building word (栋, 号楼, 座) or a housing estate's name;
- birth dates missing, a day off (the date rolls over a month or a year), day and month swapped, a year typo;
- the other sex typed, or none;
- twins, parent–child pairs and couples sharing phone and address; the commonest names born in the same few years.

Columns are those of :func:`simulator.people.generate_registry` (``person_id`` is the truth).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pypinyin import lazy_pinyin

__all__ = ["generate_heldout_registry", "write_heldout_registry"]

_SURNAME_TEXT = (
    "王王王王王王王李李李李李李李张张张张张张刘刘刘刘刘陈陈陈陈杨杨杨黄黄赵赵吴吴周周徐徐孙孙马朱胡郭何林高罗郑梁"
    "谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹"
    "薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿"
    "关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾"
    "尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣"
)
_COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "夏侯", "司徒")
_MALE = (
    "伟军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰建国东海志文博成晨轩昊然睿泽子瑞一天嘉思家振兴荣"
    "春亮德永金福庆立新毅航铭哲远阳晓锋彬鸿宏洋磊强力利炜玮维卫武斌广胜祥晖杭柏松岩坤鹤翔亚俊锦铁彪耀江河山川"
)
_FEMALE = (
    "芳娜敏静丽艳娟霞秀英玲燕萍红梅莉婷雪慧颖琳倩洁欣怡佳琪悦萱涵雨梦诗语思晓彤琴兰桂凤珍玉芬云月蕾薇晶冰璐露瑶"
    "婉丹莹俐利力丽妍婧菁洁琦淑惠蓉凤华春秋霜晴岚茜蓓媛嫣娇妮妙翠素秀"
)
# Characters read alike (toneless), written in each other's place: this generator's own groups.
_SOUND_ALIKE = (
    "丽莉俐利力立", "伟玮炜卫维", "娜纳", "静晶婧菁", "敏民闵", "芳方", "艳燕妍", "娟鹃", "婷亭", "军君均",
    "华桦", "洋阳扬", "杰洁捷", "勇涌永", "霞侠", "萍苹平", "红虹宏鸿", "明铭鸣", "辉晖慧惠", "涛韬", "鑫欣新馨",
    "浩昊皓", "宇雨玉羽", "琳林霖", "玲灵铃", "雪学", "梅美", "颖英莹", "斌彬", "峰锋枫", "凯恺", "佳嘉家",
    "琪琦淇奇", "晨辰", "睿瑞", "怡毅艺", "思斯", "涵晗", "轩萱宣", "彤桐", "露璐", "瑶遥", "蕾磊", "岚兰",
)  # fmt: skip
_ALIKE = {c: g.replace(c, "") for g in _SOUND_ALIKE for c in g}
_TRAD = dict(zip("张刘陈杨黄赵吴孙马郑谢许韩冯邓罗叶苏伟丽静华军红杰涛辉飞晓云锋鹏宁东梦",
                 "張劉陳楊黃趙吳孫馬鄭謝許韓馮鄧羅葉蘇偉麗靜華軍紅傑濤輝飛曉雲鋒鵬寧東夢", strict=True))  # fmt: skip
_VERY_COMMON = (
    "张伟", "王伟", "王芳", "李伟", "李娜", "张敏", "李静", "王静", "刘伟", "王秀英", "张丽", "李秀英", "王丽",
    "张静", "李强", "王敏", "李敏", "王磊", "刘洋", "王艳", "王勇", "李军", "张勇", "李杰", "张杰", "张磊",
    "王强", "李娟", "王军", "张艳", "张涛", "王涛", "李艳", "王超", "李明", "李勇", "王娟", "刘杰", "刘敏",
    "李霞", "张燕", "陈静", "刘静", "杨勇", "陈伟", "王鹏", "刘芳", "杨伟", "张玲", "王华",
)  # fmt: skip
_FEMALE_HINT = frozenset("芳娜敏静丽艳娟霞英玲燕")
_REGIONS = (
    "330102", "330105", "330106", "330108", "330109", "330110", "330111", "330122", "330182", "330183",
    "330203", "330302", "330402", "330502", "330602", "330702", "110105", "310101", "320106", "340102",
    "360111", "410102", "420102", "510107", "610103", "370203",
)  # fmt: skip
_DISTRICTS = ("上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区", "钱塘区", "富阳区", "临安区")
_ROADS = (
    "解放东路", "凤起东路", "体育场路", "文晖路", "湖墅南路", "莫干山路", "教工路", "古翠路", "文二西路", "天城路",
    "机场路", "江陵路", "滨盛路", "市心北路", "金城路", "临平大道", "南苑街道", "迎宾路", "九堡大道", "德胜路",
)  # fmt: skip
_ESTATES = ("金色家园", "翠苑一区", "嘉绿苑", "紫荆花园", "三墩花苑", "景芳三区", "采荷新村", "九莲新村", "朝晖六区")
_BUILDING_WORDS = ("幢", "栋", "号楼", "座")
_CHECK = "10X98765432"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_SCHEMA = pa.schema(
    [(c, pa.string()) for c in ("record_id", "source_system", "mrn", "name", "sex")]
    + [("birth_date", pa.date32())]
    + [(c, pa.string()) for c in ("id_number", "phone", "address", "person_id")]
)
_SITES = tuple(f"s{i:02d}" for i in range(1, 11))
_SITE_WEIGHTS = np.array([20, 16, 13, 11, 9, 8, 7, 6, 5, 5], dtype=float)


def _check_digit(body: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def _py(text: str) -> list[str]:
    return [s.replace("ü", "v") for s in lazy_pinyin(text, errors="ignore")]


class _Person:
    __slots__ = ("address", "always_no_id", "born", "given", "id18", "male", "phones", "surname")

    def __init__(self, surname: str, given: str, male: bool, born: dt.date, id18: str, phones: list[str],
                 address: tuple[int, ...], always_no_id: bool) -> None:  # fmt: skip
        self.surname, self.given, self.male, self.born = surname, given, male, born
        self.id18, self.phones, self.address, self.always_no_id = id18, phones, address, always_no_id


class _Draw:
    """One person block drawn with one generator (a part of :func:`write_heldout_registry`)."""

    def __init__(self, rng: np.random.Generator, used_ids: set[str]) -> None:
        self.rng = rng
        self.used_ids = used_ids
        self.surnames = [c for c in _SURNAME_TEXT] + list(_COMPOUND)
        w = np.ones(len(self.surnames))
        w[-len(_COMPOUND) :] = 0.05
        self.surname_cum = np.cumsum(w / w.sum())
        self.male_cum = self._zipf(len(_MALE), 0.9)
        self.female_cum = self._zipf(len(_FEMALE), 0.9)

    @staticmethod
    def _zipf(n: int, s: float) -> np.ndarray:
        w = 1.0 / np.arange(1, n + 1) ** s
        return np.cumsum(w / w.sum())

    def pick(self, cum: np.ndarray, k: int = 1) -> list[int]:
        """``k`` indexes drawn with the weights whose running sum is ``cum`` (quicker than ``choice`` per call)."""
        return np.minimum(np.searchsorted(cum, self.rng.random(k)), len(cum) - 1).tolist()

    def given(self, male: bool) -> str:
        pool, cum = (_MALE, self.male_cum) if male else (_FEMALE, self.female_cum)
        k = 1 if self.rng.random() < 0.33 else 2
        return "".join(pool[i] for i in self.pick(cum, k))

    def phone(self) -> str:
        if self.rng.random() < 0.12:  # a landline in Hangzhou
            return f"0571{self.rng.integers(80000000, 89999999)}"
        return f"1{self.rng.choice([3, 5, 7, 8, 9])}{self.rng.integers(0, 10**9):09d}"

    def address(self) -> tuple[int, ...]:
        r = self.rng
        return (int(r.integers(len(_DISTRICTS))), int(r.integers(len(_ROADS))), int(r.integers(1, 600)),
                int(r.integers(len(_ESTATES))), int(r.integers(1, 40)), int(r.integers(1, 5)),
                int(r.integers(1, 28) * 100 + r.integers(1, 6)), int(r.integers(len(_BUILDING_WORDS))))  # fmt: skip

    def id18(self, born: dt.date, male: bool) -> str:
        # Each person has a number of their own: a body already given is drawn again.
        while True:
            seq = int(self.rng.integers(0, 500)) * 2 + (1 if male else 0)
            body = f"{_REGIONS[int(self.rng.integers(len(_REGIONS)))]}{born:%Y%m%d}{seq:03d}"
            if body not in self.used_ids:
                self.used_ids.add(body)
                return body + _check_digit(body)

    def person(self) -> _Person:
        r = self.rng
        male = bool(r.random() < 0.48)
        if r.random() < 0.04:  # one of the commonest names, born 1968-1992
            name = _VERY_COMMON[int(r.integers(len(_VERY_COMMON)))]
            male = not any(c in _FEMALE_HINT for c in name[1:])
            surname, given = name[0], name[1:]
            born = dt.date(1968, 1, 1) + dt.timedelta(days=int(r.integers(0, 25 * 365)))
        else:
            surname = self.surnames[self.pick(self.surname_cum)[0]]
            given = self.given(male)
            born = dt.date(2024, 6, 30) - dt.timedelta(days=int(np.clip(r.gamma(4.0, 12.0), 0, 99) * 365.25))
        phones = [self.phone(), self.phone()]
        return _Person(surname, given, male, born, self.id18(born, male), phones, self.address(),
                       bool(r.random() < 0.2))  # fmt: skip


def _relatives(draw: _Draw, people: list[_Person]) -> None:
    """Turn some persons into twins, parent–child pairs and couples of others (in place): shared phone and address."""
    r = draw.rng
    n = len(people)
    order = r.permutation(n).tolist()
    n_twin, n_family, n_couple = int(n * 0.012), int(n * 0.03), int(n * 0.02)
    at = 0
    for _ in range(n_twin):
        a, b = people[order[at]], people[order[at + 1]]
        at += 2
        b.surname, b.born, b.phones, b.address = a.surname, a.born, list(a.phones), a.address
        if len(a.given) == 1:
            a.given += draw.given(a.male)[0]
        for _try in range(10):  # the first character shared, the second another sound
            second = draw.given(b.male)[0]
            if second != a.given[1] and second not in _ALIKE.get(a.given[1], ""):
                break
        b.given = a.given[0] + second
        b.id18 = draw.id18(b.born, b.male)
    for _ in range(n_family):
        parent, child = people[order[at]], people[order[at + 1]]
        at += 2
        child.born = parent.born + dt.timedelta(days=int(r.uniform(20, 40) * 365.25))
        if child.born > dt.date(2024, 6, 1):
            child.born = dt.date(2024, 6, 1) - dt.timedelta(days=int(r.integers(0, 3000)))
        if r.random() < 0.8:
            child.surname = parent.surname
        child.phones[0], child.address = parent.phones[0], parent.address
        child.id18 = draw.id18(child.born, child.male)
    for _ in range(n_couple):
        a, b = people[order[at]], people[order[at + 1]]
        at += 2
        b.male = not a.male
        b.born = a.born + dt.timedelta(days=int(r.normal(0, 3 * 365)))
        b.given = draw.given(b.male)
        b.phones[1], b.address = a.phones[0], a.address
        b.id18 = draw.id18(b.born, b.male)


def _pinyin_spelling(surname: str, given: str, u: float, r: np.random.Generator) -> str:
    fam = "".join(_py(surname))
    syl = _py(given)
    ymark = ("v", "u", "yu")[int(r.integers(3))]
    fam, syl = fam.replace("v", ymark), [s.replace("v", ymark) for s in syl]
    giv = "".join(syl)
    forms = (
        f"{fam.upper()} {giv.upper()}", f"{fam.title()} {giv.title()}", f"{giv.title()} {fam.title()}",
        f"{giv.upper()} {fam.upper()}", f"{fam.upper()}{giv.upper()}", f"{fam.upper()}/{giv.upper()}",
        f"{fam.title()}, {'-'.join(s.title() for s in syl)}", " ".join([fam.title(), *(s.title() for s in syl)]),
        " ".join([*(s.title() for s in syl), fam.upper()]), f"{fam.lower()}-{giv.lower()}",
        f"{fam.upper()}^{giv.upper()}",
    )  # fmt: skip
    return forms[int(u * len(forms)) % len(forms)]


def _name(p: _Person, r: np.random.Generator) -> str:
    u = r.random()
    given = p.given
    if u < 0.06:  # a homophone in the given name
        spots = [i for i, c in enumerate(given) if c in _ALIKE]
        if spots:
            i = spots[int(r.integers(len(spots)))]
            alts = _ALIKE[given[i]]
            given = given[:i] + alts[int(r.integers(len(alts)))] + given[i + 1 :]
        return p.surname + given
    if u < 0.11:  # pinyin only
        return _pinyin_spelling(p.surname, given, r.random(), r)
    if u < 0.14:  # split by spaces
        v = r.random()
        if v < 0.5:
            return f"{p.surname} {given}"
        if v < 0.8:
            return " ".join(p.surname + given)
        return f"{p.surname}\u3000{given}"
    if u < 0.15:  # traditional characters
        return "".join(_TRAD.get(c, c) for c in p.surname + given)
    if u < 0.16 and len(given) == 2:  # the last character left out
        return p.surname + given[0]
    return p.surname + given


def _birth(p: _Person, r: np.random.Generator) -> dt.date | None:
    u = r.random()
    d = p.born
    if u < 0.03:
        return None
    if u < 0.05:  # a day off: rolls over months and years
        return d + dt.timedelta(days=int(r.choice([-1, 1])))
    if u < 0.07 and d.day <= 12 and d.day != d.month:
        return dt.date(d.year, d.day, d.month)
    if u < 0.08:  # a year typo (29 February becomes the 28th in a year that has none)
        year = max(1900, min(2024, d.year + int(r.choice([-1, 1, -10, 10]))))
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return dt.date(year, d.month, 28 if (d.month, d.day) == (2, 29) and not leap else d.day)
    return d


def _id_number(p: _Person, r: np.random.Generator) -> str | None:
    if p.always_no_id or r.random() < 0.17:
        return None
    s = p.id18
    u = r.random()
    if u < 0.04:  # a digit mistyped
        i = int(r.integers(0, 17))
        return s[:i] + str((int(s[i]) + int(r.integers(1, 10))) % 10) + s[i + 1 :]
    if u < 0.05:  # two digits swapped
        i = int(r.integers(0, 16))
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if u < 0.12 and p.born.year < 1990:  # the first-generation 15-digit card
        return s[:6] + s[8:17]
    if s.endswith("X") and r.random() < 0.3:
        return s[:-1] + "x"
    return s


def _phone(p: _Person, later: bool, r: np.random.Generator) -> str | None:
    if r.random() < 0.13:
        return None
    number = p.phones[1] if later and r.random() < 0.25 else p.phones[0]
    v = r.random()
    if v < 0.1 and not number.startswith("0"):
        return f"+86-{number}"
    if v < 0.2 and not number.startswith("0"):
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if v < 0.25 and number.startswith("0571"):
        return f"(0571){number[4:]}"
    return number


def _address(p: _Person, later: bool, draw: _Draw) -> str | None:
    r = draw.rng
    if r.random() < 0.14:
        return None
    district, road, number, estate, building, unit, room, word = (
        draw.address() if later and r.random() < 0.08 else p.address
    )
    head = ("浙江省杭州市", "杭州市", "")[int(r.integers(3))] + _DISTRICTS[district]
    bw = _BUILDING_WORDS[word] if r.random() < 0.8 else _BUILDING_WORDS[int(r.integers(len(_BUILDING_WORDS)))]
    if estate % 2:
        full = f"{head}{_ESTATES[estate]}{building}{bw}{unit}单元{room}室"
    else:
        full = f"{head}{_ROADS[road]}{number}号{building}{bw}{unit}单元{room}"
    v = r.random()
    if v < 0.12:  # cut at the road or the estate
        return f"{head}{_ESTATES[estate] if estate % 2 else _ROADS[road] + str(number) + '号'}"
    if v < 0.18:  # the district alone
        return head
    return full


def generate_heldout_registry(
    n_persons: int, seed: int | list[int], first_person: int = 0, used_ids: set[str] | None = None
) -> pd.DataFrame:
    """Draw ``n_persons`` persons and their registrations (about 1.9 each) at ten sites.

    Parameters
    ----------
    n_persons
        Persons to draw.
    seed
        Seed: equal arguments give an equal frame.
    first_person
        Added to person numbers and MRNs (parts of :func:`write_heldout_registry` do not collide).
    used_ids
        ID numbers (their 17-digit bodies) already given, added to: parts of one registry share it, so no two
        persons share a number.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`simulator.people.generate_registry`.
    """
    draw = _Draw(np.random.default_rng(seed), set() if used_ids is None else used_ids)
    r = draw.rng
    people = [draw.person() for _ in range(n_persons)]
    _relatives(draw, people)
    rows: list[tuple[object, ...]] = []
    site_logw = np.log(_SITE_WEIGHTS)
    for k, p in enumerate(people):
        visits = 1 + min(int(r.poisson(0.9)), 6)
        # Distinct sites, larger ones likelier (weighted sampling without replacement by Gumbel keys).
        sites = np.argsort(-(site_logw + r.gumbel(size=len(_SITES))))[:visits].tolist()
        if r.random() < 0.01:  # a second card at the same site
            sites.append(sites[0])
        for j, site in enumerate(sites):
            sex: str | None = "M" if p.male else "F"
            if r.random() < 0.006:
                sex = "F" if p.male else "M"
            elif r.random() < 0.004:
                sex = None
            mrn = f"{first_person + k:08d}{j}"
            rows.append((f"{_SITES[site]}:{mrn}", _SITES[site], mrn, _name(p, r), sex, _birth(p, r),
                         _id_number(p, r), _phone(p, j > 0, r), _address(p, j > 0, draw),
                         f"Q{first_person + k:09d}"))  # fmt: skip
    return pd.DataFrame(rows, columns=_SCHEMA.names)


def write_heldout_registry(path: Path, n_records: int, seed: int, part_persons: int = 100_000) -> int:
    """Write a held-out registry of about ``n_records`` records to one Parquet file, part by part.

    Parameters
    ----------
    path
        The Parquet file (replaced).
    n_records
        Records wanted (persons are drawn, about 1.9 registrations each).
    seed
        Seed: equal arguments give an equal file.
    part_persons
        Persons per part (the memory of one part).

    Returns
    -------
    int
        Records written.
    """
    n_persons = max(1, round(n_records / 1.9))
    written = 0
    used_ids: set[str] = set()
    with pq.ParquetWriter(path, _SCHEMA) as writer:
        for part, start in enumerate(range(0, n_persons, part_persons)):
            frame = generate_heldout_registry(min(part_persons, n_persons - start), [seed, part], start, used_ids)
            writer.write_table(pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False))
            written += len(frame)
    return written
