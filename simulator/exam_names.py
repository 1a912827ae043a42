"""Realistic raw exam names for the simulated hospitals: a catalogue of exams and how each house spells them.

Every spelling this module produces keeps the meaning of its item: the codes of an :class:`ExamItem` are
the codes the standard's rules give for every raw name :func:`spell` writes for it. Only the standard
library and :mod:`radlake.exam_standard` are imported, so the simulator can use it anywhere.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from radlake.exam_standard import ExamStandard, load_standard

# -- the catalogue ------------------------------------------------------------------------------
# One line per item: parts "MOD BODY SCAN POST ADDON" joined by " + " (a multi-exam order), then
# "| weight". Weights follow the usual mix of a Chinese imaging department: chest/head CT, chest
# radiographs and abdominal/thyroid ultrasound dominate.
_CATALOGUE = """
CT 010100 01 00 00 | 10
CT 010100 03 00 00 | 2
CT 010100 02 00 00 | 0.5
CT 030100 01 00 00 | 12
CT 030100 01 02 00 | 2
CT 030100 10 00 00 | 4
CT 030100 03 00 00 | 1.5
CT 030100 02 00 00 | 0.6
CT 040100 01 00 00 | 2
CT 040100 03 00 00 | 2
CT 040100 02 00 00 | 0.5
CT 040101 04 00 00 | 1
CT 040103 04 00 00 | 0.3
CT 040200 01 00 00 | 2
CT 040200 03 00 00 | 1.5
CT 050100 01 00 00 | 1
CT 050100 03 00 00 | 1
CT 040400 01 00 00 | 0.8
CT 040401 03 00 00 | 0.3
CT 010701 01 00 00 | 1.5
CT 010701 01 01 00 | 0.5
CT 010702 01 01 00 | 0.5
CT 010301 01 00 00 | 0.5
CT 010200 01 00 00 | 0.5
CT 020100 03 00 00 | 0.5
CT 020201 03 00 00 | 0.3
CT 060100 01 00 00 | 1.5
CT 060200 01 00 00 | 0.5
CT 060300 01 00 00 | 3
CT 060300 01 01 00 | 0.8
CT 080300 01 01 01 | 0.4
CT 080300 01 01 02 | 0.4
CT 080500 01 01 02 | 0.3
CT 030400 01 01 00 | 0.7
CT 090100 05 00 00 | 1
CT 090200 05 00 00 | 0.3
CT 090400 05 00 00 | 1.5
CT 090700 05 00 00 | 0.5
CT 090800 05 00 00 | 0.5
CT 090900 05 00 03 | 0.3
CT 030100 01 00 00 + CT 040100 01 00 00 | 1.5
CT 010100 01 00 00 + CT 030100 01 00 00 | 1
CT 030100 01 00 00 + CT 040200 01 00 00 | 0.5
MR 010100 01 00 00 | 4
MR 010100 01 04 00 | 2
MR 010100 03 00 00 | 1.5
MR 010100 01 05 00 | 0.3
MR 010400 04 00 00 | 0.3
MR 090200 05 00 00 | 1.2
MR 090300 05 00 00 | 0.3
MR 060100 01 00 00 | 2
MR 060200 01 00 00 | 0.6
MR 060300 01 00 00 | 3
MR 060500 01 00 00 | 0.2
MR 080300 01 00 01 | 0.8
MR 080300 01 00 02 | 0.8
MR 070100 01 00 02 | 0.4
MR 070100 01 00 01 | 0.3
MR 080100 01 00 03 | 0.3
MR 080500 01 00 02 | 0.2
MR 040102 11 00 00 | 0.6
MR 040400 11 00 00 | 0.2
MR 040100 03 00 00 | 0.8
MR 040101 04 00 00 | 0.3
MR 050300 03 00 00 | 0.5
MR 050100 03 00 00 | 0.5
MR 050400 03 00 00 | 0.3
MR 030600 02 00 00 | 0.4
MR 030300 03 00 00 | 0.2
MR 020201 03 00 00 | 0.3
MR 010200 01 00 00 | 0.1
MR 010302 01 00 00 | 0.1
DR 030100 00 11 00 | 12
DR 030100 00 13 00 | 3
DR 060100 00 13 00 | 3
DR 060100 00 17 00 | 0.5
DR 060100 00 18 00 | 0.5
DR 060100 00 13 00 + DR 060100 00 16 00 | 0.5
DR 060200 00 13 00 | 0.5
DR 060300 00 13 00 | 3
DR 060300 00 16 00 | 0.4
DR 050600 00 11 00 | 1
DR 080300 00 13 01 | 1
DR 080300 00 13 02 | 1
DR 080300 00 13 03 | 0.3
DR 070600 00 15 01 | 0.5
DR 070600 00 15 02 | 0.5
DR 080500 00 13 01 | 0.5
DR 080500 00 13 02 | 0.5
DR 070500 00 13 02 | 0.4
DR 070100 00 11 02 | 0.3
DR 080600 00 15 01 | 0.3
DR 040200 00 20 00 | 1
DR 010900 00 13 00 | 0.3
DR 010800 00 23 00 | 0.4
DR 010702 00 12 00 | 0.2
DR 080800 00 11 03 | 0.1
DR 080700 00 19 01 | 0.1
MG 030600 00 13 03 | 2
MG 030600 00 13 01 | 0.3
MG 030600 00 13 02 | 0.3
US 040100 00 00 00 | 6
US 020300 00 00 00 | 4
US 030300 00 00 00 | 3
US 090300 00 00 00 | 2
US 050800 00 00 00 | 3
US 040400 00 00 00 | 2
US 050400 00 00 00 | 2
US 030600 00 00 00 | 1.5
US 030600 00 00 03 | 1
US 040101 02 00 00 | 0.2
US 090900 00 00 03 | 0.6
US 050300 00 00 00 | 0.3
US 040401 00 00 03 | 0.3
US 050200 00 00 00 | 0.3
RF 040602 07 00 00 | 0.3
RF 040604 07 00 00 | 0.1
RF 040601 07 00 00 | 0.1
RF 050401 07 00 00 | 0.1
RF 040400 07 00 00 | 0.1
NM 100100 00 00 00 | 0.2
PETCT 100000 00 00 00 | 0.1
DSA 090200 05 00 00 | 0.1
"""

# DICOM modality the simulator writes for each standard modality (DR studies are stored as DX).
_DICOM_MODALITY = {
    "CT": "CT",
    "MR": "MR",
    "DR": "DX",
    "MG": "MG",
    "US": "US",
    "RF": "RF",
    "NM": "NM",
    "PETCT": "PT",
    "DSA": "XA",
}
DEFAULT_DICOM_MODALITIES = ("CT", "MR", "DX", "MG", "US")

# BodyPartExamined by the longest matching prefix of the six-digit body part.
_BODY_PART_EXAMINED = {
    "01": "HEAD",
    "010800": "JAW",
    "010900": "SKULL",
    "010700": "NOSE",
    "010701": "SINUS",
    "02": "NECK",
    "020300": "THYROID",
    "03": "CHEST",
    "0303": "HEART",
    "0304": "RIB",
    "0306": "BREAST",
    "04": "ABDOMEN",
    "0404": "KIDNEY",
    "040101": "LIVER",
    "0406": "ABDOMEN",
    "05": "PELVIS",
    "050300": "PROSTATE",
    "050800": "UTERUS",
    "050400": "UTERUS",
    "0601": "CSPINE",
    "0602": "TSPINE",
    "0603": "LSPINE",
    "0604": "SSPINE",
    "0605": "SPINE",
    "0701": "SHOULDER",
    "0702": "ARM",
    "0703": "ELBOW",
    "0704": "ARM",
    "0705": "WRIST",
    "0706": "HAND",
    "0707": "CLAVICLE",
    "0708": "SCAPULA",
    "0801": "HIP",
    "0802": "THIGH",
    "0803": "KNEE",
    "0804": "LEG",
    "0805": "ANKLE",
    "0806": "FOOT",
    "0807": "CALCANEUS",
    "0808": "LEG",
    "0901": "HEADNECK",
    "0902": "HEAD",
    "0903": "NECK",
    "0904": "HEART",
    "0905": "CHEST",
    "0906": "ABDOMEN",
    "0907": "AORTA",
    "0908": "CHEST",
    "0909": "LEG",
    "0910": "ARM",
    "0911": "KIDNEY",
    "0912": "HEAD",
    "10": "WHOLEBODY",
}

# -- how the houses write things --------------------------------------------------------------------
# Body-part words per (modality group, body part); the first is the most common. "X" is any modality.
_BODY_WORDS: dict[str, list[str]] = {
    "X:010100": ["头颅", "颅脑", "头部", "脑", "头"],
    "DR:010900": ["头颅", "颅骨", "头部"],
    "X:010200": ["眼眶", "眼眶部", "眶部"],
    "X:010301": ["颞骨", "颞骨岩部"],
    "X:010302": ["内听道", "内耳道"],
    "X:010400": ["垂体", "鞍区", "蝶鞍区"],
    "X:010701": ["副鼻窦", "鼻窦", "鼻旁窦"],
    "X:010702": ["鼻骨"],
    "X:010800": ["全口牙位曲面体层", "口腔全景", "全景牙片"],
    "X:020100": ["颈部", "颈部软组织", "颈软组织"],
    "X:020201": ["鼻咽", "鼻咽部"],
    "X:020300": ["甲状腺"],
    "X:030100": ["胸部", "肺部", "肺", "胸"],
    "X:030300": ["心脏"],
    "X:030400": ["肋骨", "胸部肋骨"],
    "X:030600": ["乳腺", "乳房"],
    "X:040100": ["上腹部", "上腹", "肝胆胰脾"],
    "US:040100": ["肝胆胰脾", "肝胆脾胰", "上腹部"],
    "X:040101": ["肝脏", "肝"],
    "X:040102": ["胰胆管", "胆道"],
    "X:040103": ["胰腺", "胰"],
    "X:040200": ["全腹", "腹部", "全腹部"],
    "X:040400": ["泌尿系", "泌尿系统"],
    "X:040401": ["肾脏", "肾"],
    "US:040401": ["肾", "肾脏"],
    "X:050100": ["盆腔"],
    "X:050200": ["膀胱"],
    "X:050300": ["前列腺"],
    "X:050400": ["子宫附件", "子宫及附件"],
    "US:050400": ["子宫附件", "子宫及附件", "妇科"],
    "X:050600": ["骨盆"],
    "X:050800": ["产科", "孕期", "胎儿"],
    "X:060100": ["颈椎"],
    "X:060200": ["胸椎"],
    "X:060300": ["腰椎", "腰椎间盘"],
    "X:060500": ["全脊柱", "全脊椎"],
    "X:070100": ["肩关节", "肩"],
    "X:070500": ["腕关节", "腕"],
    "X:070600": ["手", "手部"],
    "X:080100": ["髋关节", "髋"],
    "X:080300": ["膝关节", "膝"],
    "X:080500": ["踝关节", "踝"],
    "X:080600": ["足", "足部"],
    "X:080700": ["跟骨"],
    "X:080800": ["下肢全长", "下肢全长片"],
    "X:090100": ["头颈", "头颈部", "头颈部血管", "头颈动脉"],
    "X:090200": ["头颅", "颅内", "脑血管", "颅内动脉"],
    "DSA:090200": ["全脑血管", "脑血管"],
    "X:090300": ["颈部血管", "颈动脉", "颈部动脉"],
    "X:090400": ["冠脉", "冠状动脉"],
    "X:090700": ["主动脉", "全主动脉"],
    "X:090800": ["肺动脉"],
    "X:090900": ["下肢血管", "下肢动脉"],
    "US:090900": ["下肢血管", "下肢动静脉"],
}
_EN_BODY: dict[str, list[str]] = {
    "010100": ["Head", "Brain"],
    "030100": ["Chest"],
    "040100": ["Upper Abdomen"],
    "040200": ["Abdomen"],
    "050100": ["Pelvis"],
    "010701": ["Sinus", "Paranasal Sinuses"],
    "060100": ["C-Spine", "Cervical Spine"],
    "060200": ["T-Spine", "Thoracic Spine"],
    "060300": ["L-Spine", "Lumbar Spine"],
    "080300": ["Knee"],
    "070100": ["Shoulder"],
    "080500": ["Ankle"],
    "070600": ["Hand"],
    "070500": ["Wrist"],
    "050600": ["Pelvis"],
    "020300": ["Thyroid"],
    "090300": ["Carotid"],
    "050800": ["Obstetric", "OB"],
    "030600": ["Breast"],
    "050300": ["Prostate"],
    "040101": ["Liver"],
    "010200": ["Orbit", "Orbits"],
    "090400": ["Coronary"],
    "090100": ["Head and Neck"],
    "090800": ["Pulmonary"],
    "090700": ["Aorta"],
    "090200": ["Head", "Brain"],
    "040400": ["Urinary Tract"],
    "050400": ["Uterus and Adnexa"],
}
_MOD_WORDS: dict[str, list[str]] = {
    "CT": ["CT", "CT", "CT", "ＣＴ"],
    "MR": ["MR", "MRI", "核磁", "磁共振", "MRI", "核磁共振"],
    "DR": ["DR", "X线", "CR", "DR", "X光", "DX"],
    "MG": ["钼靶", "MG", "乳腺X线摄影", "钼钯"],
    "US": ["彩超", "B超", "超声", "彩色多普勒超声", "US"],
}
_SCAN_WORDS = {
    "01": ["平扫", "平扫", "平扫"],
    "02": ["增强", "增强扫描", "增强"],
    "03": ["平扫+增强", "平扫加增强", "平扫及增强", "平扫/增强", "平+增", "平扫＋增强", "平扫+增强扫描"],
    "04": ["三期增强", "动态增强", "多期增强", "三期动态增强"],
}
_EN_SCAN = {
    "01": ["without contrast", "w/o contrast", "w/o", "non-contrast", "plain"],
    "02": ["with contrast", "w/ contrast", "contrast-enhanced"],
    "03": ["with and without contrast", "w/o and w contrast", "w/wo contrast", "with & without contrast"],
}
_POST_WORDS = {
    "01": ["三维重建", "三维", "3D重建", "三维成像"],
    "04": ["DWI", "DWI", "弥散加权成像"],
    "05": ["SWI", "SWI"],
}
_VIEW_WORDS = {
    "11": ["正位", "正位片", "后前位"],
    "12": ["侧位", "侧位片"],
    "13": ["正侧位", "正侧位片", "正侧位"],
    "15": ["正斜位", "正斜位片"],
    "16": ["双斜位", "双斜位片"],
    "17": ["张口位", "开口位"],
    "18": ["过伸过屈位", "功能位", "动力位", "过伸过屈功能位"],
    "19": ["轴位", "轴位片"],
    "20": ["立位", "站立位"],
    "23": ["全景", "曲面断层"],
}
_EN_VIEW = {"11": ["PA", "AP", "1 view"], "13": ["2 views", "PA and lateral", "AP/Lat"], "20": ["upright"]}
# DR default view per body part group when no view is written (rule 6): chest/pelvis 11, abdomen 20,
# spine/limbs 13; for those the house may leave the view out.
_DR_DEFAULT_VIEW = {"030100": "11", "050600": "11", "040200": "20"}
_LAT_WORDS = {"01": ["左", "左侧"], "02": ["右", "右侧"], "03": ["双", "双侧"]}
_EN_LAT = {"01": "Left", "02": "Right", "03": "Bilateral"}
# Letters of the local catalogue codes per modality ("CT0012 ", "DR0101 ").
_CODE_LETTERS = {
    "CT": "CT",
    "MR": "MR",
    "DR": "DR",
    "MG": "MG",
    "US": "US",
    "RF": "RF",
    "NM": "NM",
    "PETCT": "PET",
    "DSA": "DSA",
}
_URGENT = ["(急)", "（急）", "急诊", "【急诊】", "-急", "[急]", "(急诊)"]
_SETTING = ["门诊", "住院", "体检", "(体检)", "（门诊）", "住院部"]
_PACKAGE = ["(含胶片)", "（含胶片）", "套餐", "含片", "(套餐)"]
_SYMBOLS = ["*", "△", "#", "▲", "**"]
_TYPOS = {"椎": "锥", "脑": "恼", "振": "震"}
_FULL_WIDTH_SPECIAL = {"(": "（", ")": "）", "[": "【", "]": "】", "+": "＋", "/": "／", " ": "\u3000"}

_BILLING = [
    "胶片费",
    "造影剂",
    "CT增强材料费",
    "加急费",
    "激光胶片",
    "数字化胶片（大）",
    "CT胶片费",
    "DR胶片",
    "医用干式胶片 14×17",
    "碘海醇注射液",
    "碘帕醇注射液370",
    "钆喷酸葡胺注射液",
    "CT增强造影剂",
    "MR增强对比剂",
    "对比剂",
    "高压注射器针筒",
    "一次性使用高压注射器",
    "留置针",
    "超声耦合剂",
    "影像资料存储费",
    "刻录光盘费",
    "图像传输费",
    "报告打印费",
    "诊查费",
    "急诊加收",
    "床旁加收",
    "镇静费",
    "心电监护费",
    "防护用品费",
    "MR增强材料费",
    "硫酸钡干混悬剂",
    "钡剂",
    "云胶片",
    "胶片(含打印)",
    "PACS存储费",
    "三维重建费",
    "注射费",
    "材料费",
]


@dataclass(frozen=True)
class ExamItem:
    """One orderable exam of the catalogue and what the simulator writes for it.

    Attributes
    ----------
    codes
        The 14-digit standard codes (one; several for a multi-exam order), in the order the names name them.
    standard_names
        The standard name of each code.
    dicom_modality
        Modality the simulator writes into DICOM and the RIS (CT, MR, DX, MG or US).
    body_part_examined
        A DICOM BodyPartExamined value (HEAD, CHEST, LSPINE, BREAST, ...).
    contrast
        Whether the exam uses a contrast agent.
    weight
        Relative frequency of the item among orders.
    """

    codes: tuple[str, ...]
    standard_names: tuple[str, ...]
    dicom_modality: str
    body_part_examined: str
    contrast: bool
    weight: float = 1.0

    @property
    def key(self) -> str:
        """A stable identity of the item (its codes joined by '|')."""
        return "|".join(self.codes)


@dataclass(frozen=True)
class _Part:
    mod: str
    body: str
    scan: str
    post: str
    addon: str


def _parse_catalogue() -> list[tuple[list[_Part], float]]:
    rows = []
    for line in _CATALOGUE.strip().splitlines():
        spec, weight = line.split("|")
        parts = [_Part(*p.split()) for p in spec.split(" + ")]
        rows.append((parts, float(weight)))
    return rows


def _body_examined(body: str) -> str:
    for n in (6, 4, 2):
        if body[:n] in _BODY_PART_EXAMINED:
            return _BODY_PART_EXAMINED[body[:n]]
    return "WHOLEBODY"


def exam_items(
    standard: ExamStandard | None = None,
    dicom_modalities: Collection[str] = DEFAULT_DICOM_MODALITIES,
) -> list[ExamItem]:
    """The catalogue of orderable exams, weighted toward the common ones.

    Parameters
    ----------
    standard
        The standard that names the codes (default: the newest shipped one).
    dicom_modalities
        Keep only items whose DICOM modality is in this set. The default keeps the five the simulator
        writes images for (CT, MR, DX, MG, US); pass ``{"CT", "MR", "DX", "MG", "US", "RF", "NM", "PT",
        "XA"}`` to also get fluoroscopy, nuclear medicine, PET/CT and DSA items.

    Returns
    -------
    list[ExamItem]
        Items in a fixed order (same result on every call).
    """
    std = standard or load_standard()
    items = []
    for parts, weight in _parse_catalogue():
        codes = tuple(std.compose_code(p.mod, p.body, p.scan, p.post, p.addon) for p in parts)
        dicom = _DICOM_MODALITY[parts[0].mod]
        if dicom not in dicom_modalities:
            continue
        items.append(
            ExamItem(
                codes=codes,
                standard_names=tuple(std.standard_name(c) for c in codes),
                dicom_modality=dicom,
                body_part_examined=_body_examined(parts[0].body),
                contrast=any(p.scan in ("02", "03", "04", "05", "07") for p in parts),
                weight=weight,
            )
        )
    return items


def billing_lines() -> list[str]:
    """Names of billing lines that are no exam (films, contrast agents, materials, fees)."""
    return list(_BILLING)


# -- spelling ---------------------------------------------------------------------------------------
def _stable_rng(*keys: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join(keys).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class _House:
    """An institution's stable way of writing names."""

    order: int  # 0: CT头颅平扫, 1: 头颅CT平扫, 2: 头颅平扫CT
    mod_pref: dict[str, int]
    omit_plain: bool
    omit_default_view: bool
    dr_suffix: str  # how DR names end when the modality is not a prefix: '', '片', 'DR', 'X线片'
    code_prefix: str  # '', 'mod', 'bracket', 'dash'
    full_width: bool
    english_share: float
    us_prefix: bool
    sep: str
    noise: float


def _house(institution: str) -> _House:
    r = _stable_rng("house", institution)
    return _House(
        order=r.choices([0, 1, 2], [5, 4, 1])[0],
        mod_pref={m: r.randrange(len(w)) for m, w in _MOD_WORDS.items()},
        omit_plain=r.random() < 0.35,
        omit_default_view=r.random() < 0.4,
        dr_suffix=r.choice(["", "片", "DR", "X线片", "摄片"]),
        code_prefix=r.choices(["", "mod", "bracket", "dash"], [6, 2, 1, 1])[0],
        full_width=r.random() < 0.1,
        english_share=r.choice([0.0, 0.0, 0.0, 0.05, 0.3]),
        us_prefix=r.random() < 0.25,
        sep=r.choices(["", " "], [5, 1])[0],
        noise=r.uniform(0.15, 0.4),
    )


def _pick(r: random.Random, words: Sequence[str], stable: int | None = None) -> str:
    # Most houses keep to one word, but about a fifth of items drift to another spelling.
    if stable is not None and r.random() < 0.8:
        return words[stable % len(words)]
    return r.choice(words)


def _body_word(r: random.Random, p: _Part) -> str:
    for key in (f"{p.mod}:{p.body}", f"X:{p.body}"):
        if key in _BODY_WORDS:
            words = _BODY_WORDS[key]
            # Earlier words are the usual ones.
            return r.choices(words, [len(words) - i for i in range(len(words))])[0]
    return load_standard().body_parts[p.body].name_zh


def _lat_body(r: random.Random, p: _Part) -> str:
    body = _body_word(r, p)
    if p.addon == "00":
        return body
    if p.body == "030600" and r.random() < 0.5:
        return {"01": "左乳", "02": "右乳", "03": "双乳"}[p.addon]
    return r.choice(_LAT_WORDS[p.addon]) + body


def _mod_word(r: random.Random, house: _House, mod: str) -> str:
    return _pick(r, _MOD_WORDS[mod], house.mod_pref[mod])


def _spell_ct_mr(r: random.Random, house: _House, p: _Part) -> str:
    mod = _mod_word(r, house, p.mod)
    lb = _lat_body(r, p)
    if p.scan == "05":
        angio = "CTA" if p.mod == "CT" else "MRA"
        if p.body == "090400" and p.mod == "CT":
            return r.choice([f"{lb}CTA", f"CT{lb}成像", "CCTA", f"{lb}CT血管成像", f"CTA{lb}"])
        if p.body == "090800" and p.mod == "CT":
            return r.choice([f"{lb}CTA", "CTPA", f"CT{lb}血管成像", f"{lb}CTA"])
        vessel = f"{mod}{lb}成像" if lb.endswith("血管") else f"{mod}{lb}血管成像"
        return r.choice([f"{lb}{angio}", f"{angio}{lb}", vessel, f"{lb}{angio}"])
    if p.scan == "11":
        if p.body == "040102":
            return r.choice(["MRCP", "MRCP", f"{mod}胰胆管水成像", "磁共振胰胆管成像(MRCP)", "胰胆管水成像MRCP"])
        return r.choice(["MRU", f"{mod}尿路水成像", f"泌尿系{mod}水成像", "MRU"])
    if p.scan == "10":
        return r.choice([f"低剂量{lb}CT", f"{lb}低剂量CT", f"{lb}LDCT", "LDCT肺癌筛查", f"肺癌筛查低剂量{lb}CT"])
    if p.post == "02":
        return r.choice([f"{lb}HRCT", f"HRCT{lb}", f"{lb}高分辨CT", f"{lb}高分辨率CT", f"{lb}CT薄层高分辨"])
    scan = "" if (p.scan == "01" and house.omit_plain) else _pick(r, _SCAN_WORDS[p.scan], 0)
    post = ""
    if p.post != "00":
        post = r.choice(["+", "", "及", "+"]) + r.choice(_POST_WORDS[p.post])
        if not scan and post[0] in "+及":
            post = post[1:]
    order = house.order if r.random() < 0.85 else r.randrange(3)
    s = house.sep
    if order == 0:
        return f"{mod}{s}{lb}{scan}{post}"
    if order == 1:
        return f"{lb}{mod}{s}{scan}{post}"
    if scan:
        return f"{lb}{scan}{mod}{post}"
    return f"{lb}{mod}{post}"


def _spell_dr(r: random.Random, house: _House, p: _Part) -> str:
    lb = _lat_body(r, p)
    if p.body == "010800":
        return lb if lb != "口腔全景" else r.choice(["口腔全景片", "口腔全景", "DR口腔全景"])
    if p.body == "080800":
        return r.choice([f"DR{lb}正位", f"{lb}正位片", f"{lb}正位"]).replace("片正位", "正位")
    default = _DR_DEFAULT_VIEW.get(p.body, "13")
    omit = p.post == default and (house.omit_default_view or r.random() < 0.15)
    if p.body == "030100" and p.post == "11" and r.random() < 0.35:
        return r.choice(["胸片", "X线胸片", "胸部平片", "胸部DR", "DR胸片"])
    if p.body == "040200" and p.post == "20" and r.random() < 0.35:
        return r.choice(["腹部平片", "立位腹平片", "腹部立位平片", "DR腹部"])
    view = "" if omit else _pick(r, _VIEW_WORDS[p.post], 0)
    mod = _mod_word(r, house, "DR")
    if house.order == 0 or (omit and not house.dr_suffix):
        return f"{mod}{house.sep}{lb}{view}"
    suffix = house.dr_suffix
    if view.endswith("片") and suffix in ("片", "X线片", "摄片"):
        suffix = ""
    if omit and not suffix:
        suffix = "DR"
    return f"{lb}{view}{suffix}"


def _spell_mg(r: random.Random, house: _House, p: _Part) -> str:
    mod = _mod_word(r, house, "MG")
    lat = p.addon
    if lat == "03" and r.random() < 0.5:
        body = r.choice(["乳腺", "乳腺", "乳房"])
    else:
        body = {
            "01": r.choice(["左乳", "左侧乳腺", "左乳腺"]),
            "02": r.choice(["右乳", "右侧乳腺", "右乳腺"]),
            "03": r.choice(["双乳", "双侧乳腺", "双侧乳房"]),
        }[lat]
    view = r.choice(["", "", "正侧位", "头尾位+内外斜位"]) if r.random() < 0.3 else ""
    if mod == "MG":
        return f"MG{body}{view or '正侧位'}"
    if mod.startswith("乳腺"):
        side = {"01": "左侧", "02": "右侧", "03": r.choice(["双侧", ""])}[lat]
        return f"{side}{mod}{view}"
    return r.choice([f"{body}{mod}{view}", f"{mod}{body}{view}", f"{mod}({body})"]).replace("()", "")


def _spell_us(r: random.Random, house: _House, p: _Part) -> str:
    lb = _lat_body(r, p)
    if p.body == "030300":
        return r.choice(["心脏彩超", "超声心动图", "心脏超声", "心脏彩色多普勒超声", "彩超心脏"])
    if p.scan == "02":
        return r.choice([f"{lb}超声造影", f"超声造影({lb})", f"{lb}超声造影检查"])
    mod = _mod_word(r, house, "US")
    if house.us_prefix or r.random() < 0.1:
        return f"{mod}{r.choice(['', ':', '-'])}{lb}"
    return f"{lb}{mod}" + r.choice(["", "", "检查"])


def _spell_other(r: random.Random, p: _Part) -> str:
    if p.mod == "RF":
        return {
            "040602": r.choice(["上消化道钡餐", "钡餐造影", "上消化道造影", "胃肠钡餐"]),
            "040604": r.choice(["钡灌肠", "结肠钡灌肠造影", "钡灌肠造影"]),
            "040601": r.choice(["食管吞钡", "食管钡餐造影", "吞钡检查"]),
            "050401": r.choice(["子宫输卵管造影", "HSG", "子宫输卵管碘油造影"]),
            "040400": r.choice(["静脉肾盂造影", "IVP", "静脉尿路造影(IVP)"]),
        }[p.body]
    if p.mod == "NM":
        return r.choice(["全身骨显像", "全身骨扫描", "ECT全身骨显像", "SPECT全身骨扫描"])
    if p.mod == "PETCT":
        return r.choice(["PET-CT全身", "全身PET/CT", "PET/CT全身显像", "PET-CT(全身)"])
    return r.choice(["全脑血管造影DSA", "DSA全脑血管造影", "脑血管DSA"])


def _spell_english(r: random.Random, p: _Part) -> str | None:
    words = _EN_BODY.get(p.body)
    if not words:
        return None
    body = r.choice(words)
    lat = _EN_LAT.get(p.addon, "")
    if p.mod in ("CT", "MR"):
        mod = "CT" if p.mod == "CT" else r.choice(["MRI", "MR"])
        if p.scan == "05":
            angio = "CTA" if p.mod == "CT" else "MRA"
            return r.choice([f"{angio} {body}", f"{body} {angio}"])
        if p.scan not in _EN_SCAN or p.post != "00":
            return None
        scan = r.choice(_EN_SCAN[p.scan])
        lb = f"{lat} {body}".strip() if r.random() < 0.5 else f"{body} {lat}".strip()
        return r.choice([f"{mod} {lb} {scan}", f"{lb} {mod} {scan}"])
    if p.mod == "DR" and p.post in _EN_VIEW:
        lb = f"{body} {lat}".strip() if r.random() < 0.5 else f"{lat} {body}".strip()
        return f"{r.choice(['XR', 'X-ray', 'XR'])} {lb} {r.choice(_EN_VIEW[p.post])}"
    if p.mod == "US" and p.scan == "00":
        lb = f"{lat} {body}".strip()
        return r.choice([f"US {lb}", f"Ultrasound {lb}", f"{lb} US"])
    return None


def _spell_part(r: random.Random, house: _House, p: _Part, english: bool) -> str:
    if english:
        en = _spell_english(r, p)
        if en:
            return en
    if p.mod in ("CT", "MR"):
        return _spell_ct_mr(r, house, p)
    if p.mod == "DR":
        return _spell_dr(r, house, p)
    if p.mod == "MG":
        return _spell_mg(r, house, p)
    if p.mod == "US":
        return _spell_us(r, house, p)
    return _spell_other(r, p)


def _spell_multi(r: random.Random, house: _House, parts: list[_Part]) -> str:
    first = parts[0]
    same_kind = all((p.mod, p.scan) == (first.mod, first.scan) for p in parts)
    if first.mod == "DR" and all(p.body == first.body for p in parts):
        # 颈椎正侧位+双斜位: one body, several views.
        views = [_pick(r, _VIEW_WORDS[p.post], 0).removesuffix("片") for p in parts]
        prefix = r.choice(["", "DR"])
        return prefix + _lat_body(r, first) + "+".join(views)
    if same_kind and first.mod in ("CT", "MR") and first.scan == "01" and r.random() < 0.6:
        mod = _mod_word(r, house, first.mod)
        bodies = r.choice(["+", "、", "+"]).join(_body_word(r, p) for p in parts)
        scan = r.choice(["平扫", "平扫", ""])
        return r.choice([f"{mod}{bodies}{scan}", f"{bodies}{mod}{scan}"])
    return r.choice(["+", "+", "、", " + "]).join(_spell_part(r, house, p, False) for p in parts)


def _latin(ch: str) -> bool:
    return unicodedata.normalize("NFKC", ch).isascii()


def _to_full_width(text: str, share: float, r: random.Random) -> str:
    out = []
    for ch in text:
        if r.random() < share and (ch.isascii() and (ch.isalnum() or ch in _FULL_WIDTH_SPECIAL)):
            out.append(_FULL_WIDTH_SPECIAL.get(ch) or chr(ord(ch) + 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def _local_code(house: _House, mod: str, item_key: str) -> str:
    n = int(hashlib.sha256(item_key.encode()).hexdigest()[:6], 16)
    if house.code_prefix == "mod":
        return f"{_CODE_LETTERS[mod]}{n % 10000:04d} "
    if house.code_prefix == "bracket":
        return f"[{n % 1000:03d}]"
    if house.code_prefix == "dash":
        return f"{n % 100000:05d}-"
    return ""


def _add_noise(name: str, r: random.Random, mod: str, local_code: bool) -> str:
    kinds = ["urgent", "setting", "package", "symbol", "full", "space", "case", "typo"]
    if not local_code:  # a house that writes its own codes does not get a second one
        kinds.append("code")
    ops = r.sample(kinds, k=r.choice([1, 1, 1, 2]))
    for op in ops:
        if op == "urgent":
            mark = r.choice(_URGENT)
            name = mark + name if mark.startswith("【") else name + mark
        elif op == "setting":
            mark = "床旁" if mod == "DR" and r.random() < 0.4 else r.choice(_SETTING)
            name = mark + name if r.random() < 0.5 else name + mark
        elif op == "package":
            name += r.choice(_PACKAGE)
        elif op == "symbol":
            sym = r.choice(_SYMBOLS)
            name = sym + name if r.random() < 0.7 else name + sym
        elif op == "full":
            name = _to_full_width(name, r.choice([0.5, 1.0]), r)
        elif op == "space":
            # Never inside a Latin word ("C T" would be another name, not noise).
            cuts = [i for i in range(1, len(name)) if not (_latin(name[i - 1]) and _latin(name[i]))]
            if cuts:
                cut = r.choice(cuts)
                name = name[:cut] + " " + name[cut:]
            name += r.choice(["", " ", "  "])
        elif op == "case":
            name = name.lower() if r.random() < 0.7 else name.upper()
        elif op == "typo":
            hits = [c for c in _TYPOS if c in name]
            if hits:
                c = r.choice(hits)
                name = name.replace(c, _TYPOS[c], 1)
        elif op == "code":
            code = r.choice(
                [f"{_CODE_LETTERS[mod]}{r.randrange(10000):04d} ", f"[{r.randrange(1000)}]", f"{r.randrange(99999)} "]
            )
            name = code + name
    return name


def _parts_of(item: ExamItem) -> list[_Part]:
    return [_Part(c[:2], c[2:8], c[8:10], c[10:12], c[12:14]) for c in item.codes]


def _abbrev(code2: str) -> str:
    return load_standard().modality(code2).abbrev


def spell(item: ExamItem, institution: str, rng: random.Random) -> str:
    """How an institution writes an exam on an order: its stable house name, sometimes with noise.

    Parameters
    ----------
    item
        A catalogue item from :func:`exam_items`.
    institution
        Institution code (``h01``); it decides the house style (modality words, word order, local codes).
    rng
        Source of the per-order noise (urgency marks, full-width forms, typos, symbols, case, spaces).

    Returns
    -------
    str
        A raw exam name whose true codes under the standard's rules are ``item.codes``.
    """
    house = _house(institution)
    parts = [_Part(_abbrev(p.mod), p.body, p.scan, p.post, p.addon) for p in _parts_of(item)]
    # The house name of this item is fixed per institution (its RIS catalogue) ...
    r_item = _stable_rng("item", institution, item.key)
    english = r_item.random() < house.english_share
    variant = 0 if rng.random() < 0.8 else rng.randrange(1, 4)  # ... with a few alternative catalogue lines
    r_name = _stable_rng("name", institution, item.key, str(variant))
    one = len(parts) == 1
    name = _spell_part(r_name, house, parts[0], english) if one else _spell_multi(r_name, house, parts)
    name = _local_code(house, parts[0].mod, item.key) + name
    if house.full_width:
        name = _to_full_width(name, 1.0, r_name)
    # ... and the per-order noise comes from the caller's generator.
    if rng.random() < house.noise:
        name = _add_noise(name, rng, parts[0].mod, local_code=bool(house.code_prefix))
    return name
