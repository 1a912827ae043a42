"""RIS/HIS tables of one simulated institution: the ``ris`` schema and its deterministic rows."""

from __future__ import annotations

import json
import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

    from simulator.exam_names import ExamItem

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact (and fast).
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
SCHEMA = "ris"

# Column order of every table, as created by DDL and loaded by COPY.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "departments": ("department_id", "code", "name", "updated_at"),
    "devices": (
        "device_id", "station_name", "ae_title", "modality", "manufacturer", "model", "department_id", "updated_at",
    ),
    "patients": (
        "patient_id", "mrn", "name", "sex", "birth_date", "id_number", "phone", "address", "vip", "created_at",
        "updated_at",
    ),
    "visits": ("visit_id", "patient_id", "visit_type", "department_id", "visited_at", "updated_at"),
    "exam_orders": (
        "order_id", "accession_number", "visit_id", "patient_id", "ordering_department_id", "priority",
        "raw_exam_name", "modality", "status", "fee", "contrast", "clinical_info", "ordered_at", "updated_at",
    ),
    "exam_records": ("record_id", "order_id", "device_id", "started_at", "ended_at", "technologist", "updated_at"),
    "reports": (
        "report_id", "order_id", "radiologist", "findings", "impression", "status", "written_at", "signed_at",
        "updated_at",
    ),
}  # fmt: skip

MAX_EXAM_LEAD_DAYS = 3
"""An exam is done at most this many days after its order (an MR booked three days ahead); the last
simulated exam day is therefore this many days after the last day orders are placed."""

PRIMARY_KEYS: dict[str, str] = {
    "departments": "department_id",
    "devices": "device_id",
    "patients": "patient_id",
    "visits": "visit_id",
    "exam_orders": "order_id",
    "exam_records": "record_id",
    "reports": "report_id",
}

DDL = """
CREATE SCHEMA IF NOT EXISTS ris;

CREATE TABLE ris.departments (
    department_id integer PRIMARY KEY,
    code text NOT NULL,
    name text NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ris.devices (
    device_id integer PRIMARY KEY,
    station_name text NOT NULL,
    ae_title text NOT NULL,
    modality text NOT NULL,
    manufacturer text,
    model text,
    department_id integer REFERENCES ris.departments,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ris.patients (
    patient_id bigint PRIMARY KEY,
    mrn text NOT NULL UNIQUE,
    name text NOT NULL,
    sex text NOT NULL CHECK (sex IN ('M', 'F', 'U')),
    birth_date date,
    id_number text,
    phone text,
    address text,
    vip boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ris.visits (
    visit_id bigint PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES ris.patients,
    visit_type text NOT NULL CHECK (visit_type IN ('outpatient', 'inpatient', 'emergency', 'physical')),
    department_id integer REFERENCES ris.departments,
    visited_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ris.exam_orders (
    order_id bigint PRIMARY KEY,
    accession_number text NOT NULL UNIQUE,
    visit_id bigint REFERENCES ris.visits,
    patient_id bigint NOT NULL REFERENCES ris.patients,
    ordering_department_id integer REFERENCES ris.departments,
    priority text NOT NULL CHECK (priority IN ('routine', 'emergency', 'consult')),
    raw_exam_name text NOT NULL,
    modality text,
    status text NOT NULL CHECK (status IN ('ordered', 'scheduled', 'in_progress', 'completed', 'cancelled')),
    fee numeric(10, 2),
    contrast boolean NOT NULL DEFAULT false,
    clinical_info jsonb,
    ordered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ris.exam_records (
    record_id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES ris.exam_orders,
    device_id integer REFERENCES ris.devices,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    technologist text,
    updated_at timestamptz NOT NULL
);

CREATE TABLE ris.reports (
    report_id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES ris.exam_orders,
    radiologist text,
    findings text,
    impression text,
    status text NOT NULL CHECK (status IN ('draft', 'written', 'signed', 'amended')),
    written_at timestamptz,
    signed_at timestamptz,
    updated_at timestamptz NOT NULL
);
"""

# Created after the bulk load: building an index once is faster than maintaining it row by row.
INDEX_DDL = """
CREATE INDEX ON ris.visits (patient_id);
CREATE INDEX ON ris.exam_orders (patient_id);
CREATE INDEX ON ris.exam_orders (visit_id);
CREATE INDEX ON ris.exam_orders (status);
CREATE INDEX ON ris.exam_records (order_id);
CREATE INDEX ON ris.reports (order_id);
CREATE INDEX ON ris.departments (updated_at);
CREATE INDEX ON ris.devices (updated_at);
CREATE INDEX ON ris.patients (updated_at);
CREATE INDEX ON ris.visits (updated_at);
CREATE INDEX ON ris.exam_orders (updated_at);
CREATE INDEX ON ris.exam_records (updated_at);
CREATE INDEX ON ris.reports (updated_at);
"""

_DISPLAY_NAMES = (
    "第一人民医院", "中心医院", "中医院", "第二人民医院", "妇幼保健院", "第三人民医院", "肿瘤医院", "儿童医院",
    "骨科医院", "中西医结合医院",
)  # fmt: skip


@dataclass(frozen=True)
class Institution:
    """One hospital of the simulated group."""

    code: str
    name: str
    index: int

    @property
    def database(self) -> str:
        """Name of its RIS/HIS database on the shared server (``ris_h01``)."""
        return f"ris_{self.code}"


def institutions(n: int) -> list[Institution]:
    """The first ``n`` institutions of the group: ``h01`` 第一人民医院, ``h02`` 中心医院, ...

    Raises
    ------
    ValueError
        If ``n`` is not between 1 and 99.
    """
    if not 1 <= n <= 99:
        raise ValueError(f"institutions must be between 1 and 99, got {n}")
    out = []
    for i in range(n):
        name = _DISPLAY_NAMES[i] if i < len(_DISPLAY_NAMES) else f"第{i + 1}医院"
        out.append(Institution(code=f"h{i + 1:02d}", name=name, index=i))
    return out


def stable_seed(*parts: object) -> int:
    """A seed derived from values without Python's per-process string hashing (same in every run)."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


# -- reference data of a house --------------------------------------------------------------------------------
# (pinyin code, name, numeric code): clinical departments that order exams plus the imaging ones.
_DEPARTMENTS = (
    ("FSK", "放射科", "0301"), ("CSK", "超声科", "0302"), ("JZK", "急诊科", "0101"), ("XNK", "心内科", "0201"),
    ("GK", "骨科", "0401"), ("HXK", "呼吸科", "0202"), ("SJNK", "神经内科", "0203"), ("XHNK", "消化内科", "0204"),
    ("PWK", "普外科", "0402"), ("RXWK", "乳腺外科", "0403"), ("FCK", "妇产科", "0501"), ("EK", "儿科", "0601"),
    ("ZLK", "肿瘤科", "0205"), ("MNWK", "泌尿外科", "0404"), ("TJZX", "体检中心", "0901"),
)  # fmt: skip
_CLINICAL = (
    "心内科", "骨科", "呼吸科", "神经内科", "消化内科", "普外科", "乳腺外科", "妇产科", "儿科", "肿瘤科", "泌尿外科",
)  # fmt: skip
_CLINICAL_WEIGHTS = (10, 10, 12, 9, 9, 8, 4, 6, 5, 6, 5)

# Modality multipliers and favoured BodyPartExamined values of the exams each department orders.
_DEPT_BIAS: dict[str, tuple[dict[str, float], frozenset[str]]] = {
    "急诊科": ({"CT": 1.6, "DX": 1.5, "MR": 0.2, "MG": 0.0, "US": 1.0}, frozenset({"HEAD", "CHEST", "ABDOMEN"})),
    "呼吸科": ({"CT": 1.3, "DX": 1.8, "MR": 0.2, "MG": 0.0, "US": 0.3}, frozenset({"CHEST"})),
    "心内科": ({"CT": 1.5, "DX": 1.0, "MR": 0.5, "MG": 0.0, "US": 1.5}, frozenset({"HEART", "CHEST", "AORTA"})),
    "骨科": (
        {"CT": 0.8, "DX": 2.5, "MR": 1.5, "MG": 0.0, "US": 0.2},
        frozenset(
            {
                "CSPINE",
                "TSPINE",
                "LSPINE",
                "SPINE",
                "KNEE",
                "SHOULDER",
                "HIP",
                "WRIST",
                "HAND",
                "ANKLE",
                "FOOT",
                "LEG",
                "CALCANEUS",
                "PELVIS",
                "RIB",
            }
        ),
    ),
    "神经内科": ({"CT": 1.5, "DX": 0.2, "MR": 2.5, "MG": 0.0, "US": 0.6}, frozenset({"HEAD", "HEADNECK", "NECK"})),
    "消化内科": ({"CT": 1.5, "DX": 0.3, "MR": 0.8, "MG": 0.0, "US": 2.0}, frozenset({"ABDOMEN", "LIVER"})),
    "普外科": ({"CT": 1.5, "DX": 0.5, "MR": 0.6, "MG": 0.0, "US": 1.5}, frozenset({"ABDOMEN", "LIVER", "THYROID"})),
    "乳腺外科": ({"CT": 0.2, "DX": 0.1, "MR": 0.5, "MG": 5.0, "US": 2.0}, frozenset({"BREAST"})),
    "妇产科": ({"CT": 0.2, "DX": 0.2, "MR": 0.8, "MG": 0.5, "US": 3.0}, frozenset({"UTERUS", "PELVIS", "BREAST"})),
    "儿科": ({"CT": 0.5, "DX": 2.0, "MR": 0.3, "MG": 0.0, "US": 1.5}, frozenset({"CHEST", "ABDOMEN", "HEAD"})),
    "肿瘤科": ({"CT": 1.6, "DX": 0.3, "MR": 1.5, "MG": 0.5, "US": 0.5}, frozenset({"CHEST", "ABDOMEN", "LIVER"})),
    "泌尿外科": ({"CT": 1.5, "DX": 0.5, "MR": 0.8, "MG": 0.0, "US": 2.0}, frozenset({"KIDNEY", "PROSTATE", "PELVIS"})),
    "体检中心": (
        {"CT": 1.2, "DX": 3.0, "MR": 0.05, "MG": 1.5, "US": 2.5},
        frozenset({"CHEST", "ABDOMEN", "THYROID", "BREAST", "LIVER"}),
    ),
}
_FEMALE_ONLY = frozenset({"BREAST", "UTERUS"})
_MALE_ONLY = frozenset({"PROSTATE"})

# (complaint, diagnosis, ICD-10) a requesting doctor writes, per department.
_CLINICAL_NOTES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "急诊科": (
        ("胸痛2小时", "胸痛待查", "R07.4"), ("头部外伤1小时", "头部损伤", "S09.9"),
        ("腹痛6小时", "急性腹痛", "R10.4"), ("车祸伤", "多发伤", "T07"),
        ("突发言语不清3小时", "脑梗死?", "I63.9"), ("发热伴咳嗽", "肺部感染", "J18.9"),
    ),
    "呼吸科": (
        ("咳嗽咳痰2周", "肺部感染", "J18.9"), ("体检发现肺结节", "肺结节", "R91"),
        ("气促1月", "慢性阻塞性肺病", "J44.9"),
    ),
    "心内科": (("胸闷气短", "冠心病", "I25.1"), ("心悸", "心律失常", "I49.9"), ("高血压复查", "高血压", "I10")),
    "骨科": (
        ("右膝疼痛1月", "膝关节骨关节炎", "M17.9"), ("腰痛伴下肢麻木", "腰椎间盘突出", "M51.2"),
        ("摔伤后左腕肿痛", "桡骨远端骨折?", "S52.5"),
    ),
    "神经内科": (("头晕头痛3天", "头痛", "R51"), ("肢体无力", "脑梗死", "I63.9"), ("记忆力下降", "认知障碍", "F06.7")),
    "消化内科": (("上腹痛", "胃炎", "K29.7"), ("肝功能异常", "脂肪肝", "K76.0"), ("黄疸", "胆道梗阻?", "K83.1")),
    "普外科": (
        ("右下腹痛", "阑尾炎?", "K37"), ("腹股沟包块", "腹股沟疝", "K40.9"), ("颈部肿物", "甲状腺结节", "E04.1"),
    ),
    "乳腺外科": (("乳房肿块", "乳腺结节", "N63"), ("乳腺癌术后复查", "乳腺恶性肿瘤", "C50.9")),
    "妇产科": (("下腹痛", "盆腔炎", "N73.9"), ("孕检", "妊娠状态", "Z33"), ("月经不规律", "子宫肌瘤?", "D25.9")),
    "儿科": (("发热咳嗽", "支气管肺炎", "J18.0"), ("腹痛呕吐", "肠系膜淋巴结炎", "I88.0")),
    "肿瘤科": (("肺癌化疗后复查", "肺恶性肿瘤", "C34.9"), ("肝癌术后复查", "肝恶性肿瘤", "C22.9")),
    "泌尿外科": (("腰痛血尿", "泌尿系结石", "N20.9"), ("排尿困难", "前列腺增生", "N40")),
    "体检中心": (("健康体检", "健康查体", "Z00.0"),),
}  # fmt: skip
_ALLERGIES = ("无", "无", "无", "无", "青霉素过敏", "碘造影剂过敏史", "头孢类过敏")

# (RIS manufacturer, DICOM Manufacturer, {modality: models}).
VENDORS: tuple[tuple[str, str, dict[str, tuple[str, ...]]], ...] = (
    ("GE", "GE MEDICAL SYSTEMS", {"CT": ("Revolution CT", "Optima CT660", "Discovery CT750 HD"),
                                  "MR": ("Discovery MR750", "SIGNA Pioneer", "SIGNA Architect"),
                                  "DX": ("Definium 6000", "Discovery XR656"), "MG": ("Senographe Pristina",),
                                  "US": ("LOGIQ E10", "Voluson E10")}),
    ("Siemens", "SIEMENS", {"CT": ("SOMATOM Definition AS", "SOMATOM go.Top", "SOMATOM Force"),
                            "MR": ("MAGNETOM Skyra", "MAGNETOM Aera", "MAGNETOM Vida"),
                            "DX": ("Ysio Max", "Multix Fusion"), "MG": ("MAMMOMAT Revelation",),
                            "US": ("ACUSON Sequoia", "ACUSON Juniper")}),
    ("Philips", "Philips", {"CT": ("Ingenuity CT", "Brilliance iCT", "IQon Spectral CT"),
                            "MR": ("Ingenia 3.0T", "Achieva 1.5T"), "DX": ("DigitalDiagnost",),
                            "MG": ("MammoDiagnost DR",), "US": ("EPIQ 7", "Affiniti 70")}),
    ("联影", "UIH", {"CT": ("uCT 760", "uCT 960+"), "MR": ("uMR 780", "uMR 570"), "DX": ("uDR 780i",),
                    "MG": ("uMammo 890i",), "US": ("uSONIQUE",)}),
    ("Neusoft", "Neusoft Medical", {"CT": ("NeuViz 128", "NeuViz Glory"), "MR": ("NSM-S15P",),
                                    "DX": ("NeuVision 550",), "MG": ("NeuMammo",), "US": ("NeuSonic",)}),
)  # fmt: skip
_DEVICE_COUNTS = {"CT": 3, "MR": 2, "DX": 3, "MG": 1, "US": 4}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华飞玲红鹏辉斌宇浩凯健俊帆帅旭宁琳峰建国晨雪慧颖婷倩"

# Minutes into the day (hour weights) at which each kind of visit arrives.
_VISIT_HOURS: dict[str, dict[int, float]] = {
    "outpatient": {8: 10, 9: 16, 10: 16, 11: 10, 12: 3, 13: 5, 14: 12, 15: 12, 16: 10, 17: 5, 18: 1},
    "inpatient": {7: 5, 8: 12, 9: 14, 10: 12, 11: 8, 12: 2, 13: 4, 14: 10, 15: 10, 16: 8, 17: 5, 19: 2, 21: 2},
    "emergency": {0: 2, 1: 1.5, 2: 1.2, 3: 1, 4: 1, 5: 1.2, 6: 1.5, 7: 2.5, 8: 4, 9: 5, 10: 5, 11: 5, 12: 4,
                  13: 4, 14: 4.5, 15: 4.5, 16: 5, 17: 5, 18: 5.5, 19: 6, 20: 6, 21: 5, 22: 4, 23: 3},
    "physical": {7: 25, 8: 35, 9: 25, 10: 12, 11: 3},
}  # fmt: skip
_VISIT_TYPES = ("outpatient", "inpatient", "emergency", "physical")
_VISIT_TYPE_WEIGHTS = (0.53, 0.2, 0.15, 0.12)
# Weekday share of a week's orders (Monday first); the mean is 1, so a week averages exams_per_day.
_WEEKDAY_FACTOR = (1.08, 1.1, 1.08, 1.06, 1.08, 0.85, 0.75)

_DURATION_MIN = {"CT": (3, 10), "MR": (15, 40), "DX": (2, 6), "MG": (5, 12), "US": (8, 20)}
_CONTRAST_EXTRA_MIN = {"CT": (5, 12), "MR": (8, 15)}
_FEE = {"CT": (220, 480), "MR": (480, 900), "DX": (60, 140), "MG": (150, 260), "US": (90, 260)}
_CONTRAST_FEE = {"CT": 300, "MR": 400, "US": 250}
# Departments where each modality's devices stand.
_DEVICE_DEPT = {"CT": "放射科", "MR": "放射科", "DX": "放射科", "MG": "放射科", "US": "超声科"}

_DENSITY = {"CT": "密度", "MR": "信号", "DX": "密度", "MG": "密度", "US": "回声"}
_ABNORMAL: dict[str, tuple[tuple[str, str], ...]] = {
    "CHEST": (("右肺上叶见一磨玻璃结节，大小约{n}mm，边界清楚。", "右肺上叶磨玻璃结节，建议12个月后复查。"),
              ("双肺下叶见斑片状模糊影。", "双肺下叶炎症，建议治疗后复查。"),
              ("左肺下叶见条索影。", "左肺下叶少许纤维灶。")),
    "HEAD": (("左侧基底节区见斑点状低{d}影，直径约{n}mm。", "左侧基底节区腔隙性脑梗死。"),
             ("双侧脑室旁白质见斑片状异常{d}。", "脑白质变性。")),
    "ABDOMEN": (("肝右叶见一类圆形低{d}灶，大小约{n}mm。", "肝右叶囊肿可能。"),
                ("胆囊内见结石影，大小约{n}mm。", "胆囊结石。")),
    "LIVER": (("肝实质{d}增粗，分布欠均匀。", "脂肪肝。"),),
    "LSPINE": (("L4/5椎间盘向后突出约{n}mm，硬膜囊受压。", "L4/5椎间盘突出。"),),
    "CSPINE": (("颈椎生理曲度变直，C5/6椎间隙变窄。", "颈椎退行性变。"),),
    "KNEE": (("膝关节间隙变窄，关节边缘骨质增生。", "膝关节退行性变。"),),
    "BREAST": (("左乳外上象限见一结节，大小约{n}mm，边界尚清。", "左乳结节，BI-RADS 3类，建议短期随访。"),),
    "THYROID": (("甲状腺右叶见一低{d}结节，大小约{n}mm。", "甲状腺右叶结节，TI-RADS 3类。"),),
    "UTERUS": (("子宫前壁见一低{d}团块，大小约{n}mm。", "子宫肌瘤可能。"),),
}  # fmt: skip
_GENERIC_ABNORMAL = (("局部见异常{d}影，范围约{n}mm。", "局部异常{d}，请结合临床。"),)
_NORMAL = ("扫描范围内诸结构形态、{d}未见明显异常，未见明确占位性病变。", "未见明显异常。")


@dataclass(frozen=True)
class Device:
    """An imaging device of an institution (a row of ``ris.devices``)."""

    device_id: int
    station_name: str
    ae_title: str
    modality: str
    manufacturer: str
    dicom_manufacturer: str
    model: str
    department_id: int


@dataclass
class ExamFact:
    """One order with everything the truth files and the DICOM writer need about it."""

    institution: str
    order_id: int
    accession_number: str
    kind: str  # exam | not_exam
    item: ExamItem | None
    raw_exam_name: str
    modality: str | None
    priority: str
    status: str
    patient_id: int
    mrn: str
    person_id: str
    patient_name: str
    sex: str
    birth_date: date | None
    ordered_at: datetime
    planned_start: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    device: Device | None = None
    contrast: bool = False

    @property
    def performed(self) -> bool:
        """Whether an exam record exists (the exam started)."""
        return self.started_at is not None

    @property
    def exam_date(self) -> date:
        """Local date of the exam start (the planned start when it has not started)."""
        return (self.started_at or self.planned_start).astimezone(CHINA_TZ).date()


@dataclass
class RisData:
    """All rows of one institution's RIS/HIS database, plus the facts behind its orders."""

    institution: Institution
    rows: dict[str, list[tuple[Any, ...]]]
    exams: list[ExamFact]
    devices: list[Device]
    sim_now: datetime
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {table: len(rows) for table, rows in self.rows.items()}


# -- generation -----------------------------------------------------------------------------------------------
def _person_names(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2)))) for _ in range(n)]


def _departments(inst: Institution, stamp: datetime) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    rows, ids = [], {}
    for i, (pinyin, name, numeric) in enumerate(_DEPARTMENTS):
        dept_id = 100 + i + 1
        # Houses differ: numeric or pinyin codes, and radiology is 医学影像科 at every second hospital.
        code = numeric if inst.index % 2 else pinyin
        shown = "医学影像科" if (name == "放射科" and inst.index % 2) else name
        rows.append((dept_id, code, shown, stamp))
        ids[name] = dept_id
    return rows, ids


def _devices(inst: Institution, rng: random.Random, dept_ids: dict[str, int], stamp: datetime) -> list[Device]:
    devices, next_id = [], 1
    for modality, count in _DEVICE_COUNTS.items():
        for n in range(1, count + 1):
            ris_vendor, dicom_vendor, models = rng.choice(VENDORS)
            if inst.index % 3 == 0:
                station = f"{modality}{n:02d}"
            elif inst.index % 3 == 1:
                station = f"{inst.code.upper()}_{modality}{n}"
            else:
                station = f"{modality}-{n}"
            devices.append(
                Device(
                    device_id=next_id,
                    station_name=station,
                    ae_title=f"{inst.code.upper()}{modality}{n:02d}",
                    modality=modality,
                    manufacturer=ris_vendor,
                    dicom_manufacturer=dicom_vendor,
                    model=rng.choice(models[modality]),
                    department_id=dept_ids[_DEVICE_DEPT[modality]],
                )
            )
            next_id += 1
    return devices


def _at(day: date, rng: random.Random, hours: dict[int, float]) -> datetime:
    hour = rng.choices(list(hours), weights=list(hours.values()))[0]
    return datetime.combine(day, time(hour), CHINA_TZ) + timedelta(seconds=rng.randrange(3600))


def _minutes(rng: random.Random, median: float, sigma: float) -> timedelta:
    return timedelta(minutes=rng.lognormvariate(math.log(median), sigma))


def _item_weights(items: Sequence[ExamItem]) -> dict[tuple[str, str], list[float]]:
    """Cumulative item weights per (ordering department, patient sex)."""
    out: dict[tuple[str, str], list[float]] = {}
    for dept in (*_CLINICAL, "急诊科", "体检中心"):
        mods, parts = _DEPT_BIAS[dept]
        for sex in ("M", "F", "U"):
            cum, total = [], 0.0
            for it in items:
                w = it.weight * mods.get(it.dicom_modality, 1.0) * (4.0 if it.body_part_examined in parts else 1.0)
                if sex == "M" and (it.body_part_examined in _FEMALE_ONLY or it.dicom_modality == "MG"):
                    w = 0.0
                if sex == "F" and it.body_part_examined in _MALE_ONLY:
                    w = 0.0
                total += w
                cum.append(total)
            out[(dept, sex)] = cum
    return out


def _plan_start(rng: random.Random, ordered_at: datetime, modality: str, priority: str, visit_type: str) -> datetime:
    """When the exam is scheduled to start, by urgency and modality (MR books days ahead)."""
    if priority == "emergency":
        lead = {"CT": (5, 35), "DX": (5, 25), "US": (10, 45), "MR": (20, 120), "MG": (30, 180)}[modality]
        return ordered_at + timedelta(minutes=rng.uniform(*lead))
    if visit_type == "physical":
        start = ordered_at + timedelta(minutes=rng.uniform(5, 90))
    elif modality == "MR":
        day = ordered_at.date() + timedelta(days=rng.choices(range(MAX_EXAM_LEAD_DAYS + 1), (2, 4, 3, 1))[0])
        start = datetime.combine(day, time(8), CHINA_TZ) + timedelta(minutes=rng.uniform(0, 13 * 60))
        return max(start, ordered_at + timedelta(minutes=30))
    elif modality == "CT":
        start = ordered_at + timedelta(minutes=rng.uniform(20, 300))
    else:
        start = ordered_at + timedelta(minutes=rng.uniform(10, 150 if visit_type == "outpatient" else 360))
    closing = time(21) if modality in ("CT", "MR") else time(17, 30)
    if start.time() > closing or start.hour < 7:
        # Outside opening hours the exam moves to the next morning.
        next_day = start.date() + timedelta(days=1 if start.hour >= 7 else 0)
        start = datetime.combine(next_day, time(8), CHINA_TZ) + timedelta(minutes=rng.uniform(0, 180))
    return start


def _report_text(rng: random.Random, fact: ExamFact) -> tuple[str, str]:
    assert fact.item is not None and fact.modality is not None
    density = _DENSITY[fact.modality]
    title = fact.item.standard_names[0]
    if rng.random() < 0.45:
        findings, impression = _NORMAL
    else:
        findings, impression = rng.choice(_ABNORMAL.get(fact.item.body_part_examined, _GENERIC_ABNORMAL))
    n = rng.randrange(3, 25)
    return (f"{title}：" + findings.format(n=n, d=density), impression.format(n=n, d=density))


def _turnaround(rng: random.Random, priority: str, visit_type: str) -> tuple[timedelta, timedelta]:
    """(exam end → report written, written → signed): emergency fast, health checks slow, some late."""
    if priority == "emergency":
        return _minutes(rng, 18, 0.5), _minutes(rng, 10, 0.6)
    if visit_type == "physical":
        return _minutes(rng, 16 * 60, 0.6), _minutes(rng, 120, 0.8)
    if priority == "consult":
        return _minutes(rng, 60, 0.6), _minutes(rng, 30, 0.7)
    return _minutes(rng, 180, 0.9), _minutes(rng, 90, 0.8)


def _office_hours(moment: datetime, rng: random.Random) -> datetime:
    """Routine reports are not written at night: push them to the next morning."""
    if 7 <= moment.hour < 23:
        return moment
    day = moment.date() + timedelta(days=1 if moment.hour >= 23 else 0)
    return datetime.combine(day, time(8), CHINA_TZ) + timedelta(minutes=rng.uniform(0, 90))


def _fee(rng: random.Random, item: ExamItem) -> Decimal:
    low, high = _FEE[item.dicom_modality]
    amount = rng.uniform(low, high) + 150 * (len(item.codes) - 1)
    if item.contrast:
        amount += _CONTRAST_FEE.get(item.dicom_modality, 0)
    return Decimal(f"{round(amount):d}.00") if rng.random() < 0.7 else Decimal(f"{amount:.2f}")


def build_ris(
    inst: Institution,
    registrations: pd.DataFrame,
    items: Sequence[ExamItem],
    billing: Sequence[str],
    *,
    start_date: date,
    days: int,
    exams_per_day: int,
    seed: int,
    spell: Any,
) -> RisData:
    """Generate every row of one institution's RIS/HIS database.

    Parameters
    ----------
    inst
        The institution.
    registrations
        Its rows of :func:`simulator.people.generate_registry` (one per patient registration).
    items
        The exam catalogue (:func:`simulator.exam_names.exam_items`).
    billing
        Billing line names that are no exam (:func:`simulator.exam_names.billing_lines`).
    start_date, days, exams_per_day
        The simulated period and the mean number of orders per day.
    seed
        Seed of the group; the institution's generator derives from it and its code.
    spell
        ``spell(item, institution, rng) -> str`` writing an exam name as the house does.

    Returns
    -------
    RisData
        The rows per table (in :data:`TABLE_COLUMNS` order) and one :class:`ExamFact` per order.

    Raises
    ------
    ValueError
        If the institution has no registered patient.
    """
    if registrations.empty:
        raise ValueError(f"institution {inst.code} has no registered patients; raise the number of persons")
    rng = random.Random(stable_seed(seed, inst.code, "ris"))
    sim_start = datetime.combine(start_date, time(0), CHINA_TZ)
    sim_now = sim_start + timedelta(days=days)
    # Reference rows date from the system's go-live, long before the simulated days.
    go_live = sim_start - timedelta(days=900 + 30 * inst.index)
    ref = _reference(inst, rng, go_live)
    people = _Patients.of(registrations, rng)
    visits, orders = _visits_and_orders(rng, people, ref, start_date, days, exams_per_day)
    # Identifiers follow creation time, as a sequence-backed RIS hands them out.
    visit_order = sorted(range(len(visits)), key=lambda i: (visits[i][0], i))
    visit_ids = {vi: 8_000_000 + n for n, vi in enumerate(visit_order, start=1)}
    orders.sort(key=lambda o: (o["ordered_at"], o["visit"]))
    out = _order_outcomes(rng, inst, people, ref, items, billing, spell, orders, visits, visit_ids, sim_now)

    visit_rows = []
    for vi in visit_order:
        visited_at, p, vtype, dept = visits[vi]
        visit_rows.append((visit_ids[vi], people.ids[p], vtype, ref.dept_ids[dept], visited_at, visited_at))
    out.records.sort(key=lambda r: (r[0], r[1]))
    record_rows = [
        (5_000_000 + n, oid, dev.device_id, start, end, tech, upd)
        for n, (start, oid, dev, end, tech, upd) in enumerate(out.records, start=1)
    ]
    out.reports.sort(key=lambda r: (r[0], r[1]))
    report_rows = [(7_000_000 + n, *r[1:]) for n, r in enumerate(out.reports, start=1)]
    patient_rows = _patient_rows(rng, people, out.first_visit, go_live, sim_start, sim_now)

    # A RIS stores seconds; truncating once at the end keeps equal instants equal.
    for fact in out.exams:
        fact.ordered_at, fact.planned_start = _whole(fact.ordered_at), _whole(fact.planned_start)
        fact.started_at, fact.ended_at = _whole(fact.started_at), _whole(fact.ended_at)
    rows = {
        "departments": ref.dept_rows,
        "devices": ref.device_rows,
        "patients": patient_rows,
        "visits": visit_rows,
        "exam_orders": out.order_rows,
        "exam_records": record_rows,
        "reports": report_rows,
    }
    rows = {table: [tuple(_whole(v) for v in row) for row in table_rows] for table, table_rows in rows.items()}
    return RisData(institution=inst, rows=rows, exams=out.exams, devices=ref.devices, sim_now=sim_now)


# --- build_ris, section by section ---------------------------------------------------------------------------


@dataclass
class _Reference:
    """Departments, devices and staff of one institution (rows dated from its go-live)."""

    dept_rows: list[tuple[Any, ...]]
    dept_ids: dict[str, int]
    devices: list[Device]
    device_rows: list[tuple[Any, ...]]
    by_modality: dict[str, list[Device]]
    technologists: list[str]
    radiologists: list[str]
    doctors: list[str]


def _reference(inst: Institution, rng: random.Random, go_live: datetime) -> _Reference:
    dept_rows, dept_ids = _departments(inst, go_live)
    devices = _devices(inst, rng, dept_ids, go_live)
    device_rows = [
        (d.device_id, d.station_name, d.ae_title, d.modality, d.manufacturer, d.model, d.department_id, go_live)
        for d in devices
    ]
    by_modality: dict[str, list[Device]] = {}
    for d in devices:
        by_modality.setdefault(d.modality, []).append(d)
    return _Reference(
        dept_rows, dept_ids, devices, device_rows, by_modality,
        technologists=_person_names(rng, 10), radiologists=_person_names(rng, 12), doctors=_person_names(rng, 40),
    )  # fmt: skip


@dataclass
class _Patients:
    """The institution's registered patients, column by column (index = registration)."""

    ids: list[int]
    sexes: list[str]
    births: list[Any]
    names: list[str]
    mrns: list[str]
    persons: list[Any]
    regs: pd.DataFrame

    @classmethod
    def of(cls, registrations: pd.DataFrame, rng: random.Random) -> _Patients:
        regs = registrations.reset_index(drop=True)
        return cls(
            ids=[3_000_000 + 17 * i + rng.randrange(17) for i in range(len(regs))],
            sexes=["U" if s not in ("M", "F") else s for s in regs["sex"]],
            births=list(regs["birth_date"]),
            names=list(regs["name"]),
            mrns=list(regs["mrn"]),
            persons=list(regs["person_id"]),
            regs=regs,
        )

    def __len__(self) -> int:
        return len(self.ids)


def _visits_and_orders(
    rng: random.Random, people: _Patients, ref: _Reference, start_date: date, days: int, exams_per_day: int
) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """Visits ([visited_at, patient index, visit type, department]) and their orders, day by day."""
    n_patients = len(people)

    def age(i: int) -> int | None:
        b = people.births[i]
        return None if b is None else (start_date - b).days // 365

    def pick_patient(dept: str) -> int:
        for _ in range(8):
            i = rng.randrange(n_patients)
            a = age(i)
            if dept == "儿科" and (a is None or a >= 14):
                continue
            if dept == "妇产科" and people.sexes[i] != "F":
                continue
            if dept != "儿科" and a is not None and a < 14 and rng.random() < 0.8:
                continue
            return i
        return i

    visits: list[list[Any]] = []
    orders: list[dict[str, Any]] = []
    for day_index in range(days):
        day = start_date + timedelta(days=day_index)
        n_day = max(1, round(exams_per_day * _WEEKDAY_FACTOR[day.weekday()]))
        made = 0
        while made < n_day:
            vtype = rng.choices(_VISIT_TYPES, _VISIT_TYPE_WEIGHTS)[0]
            if vtype == "emergency":
                dept = "急诊科"
            elif vtype == "physical":
                dept = "体检中心"
            else:
                dept = rng.choices(_CLINICAL, _CLINICAL_WEIGHTS)[0]
            visited_at = _at(day, rng, _VISIT_HOURS[vtype])
            p = pick_patient(dept)
            visit_index = len(visits)
            visits.append([visited_at, p, vtype, dept])
            n_orders = rng.choices((1, 2, 3), (40, 40, 20) if vtype == "physical" else (80, 15, 5))[0]
            complaint, diagnosis, icd = rng.choice(_CLINICAL_NOTES[dept])
            info: dict[str, Any] = {
                "complaint": complaint,
                "diagnosis": diagnosis,
                "icd10": icd,
                "doctor": rng.choice(ref.doctors),
                "allergy": rng.choice(_ALLERGIES),
            }
            if vtype == "inpatient":
                info["ward"] = f"{rng.randrange(1, 20)}病区{rng.randrange(1, 50)}床"
            if vtype == "emergency":
                priority = "emergency" if rng.random() < 0.95 else "routine"
            elif vtype == "inpatient":
                r = rng.random()
                priority = "consult" if r < 0.25 else ("emergency" if r < 0.28 else "routine")
            else:
                priority = "routine"
            clinical = json.dumps(info, ensure_ascii=False, sort_keys=True)
            for k in range(min(n_orders, n_day - made)):
                ordered_at = visited_at + timedelta(minutes=rng.uniform(3, 40) + 2 * k)
                orders.append(
                    {
                        "visit": visit_index,
                        "patient": p,
                        "dept": dept,
                        "vtype": vtype,
                        "priority": priority,
                        "clinical": clinical,
                        "ordered_at": ordered_at,
                    }
                )
                made += 1
    return visits, orders


@dataclass
class _Outcomes:
    """What became of each order: its fact, its RIS row, its exam record and report sources."""

    exams: list[ExamFact] = field(default_factory=list)
    order_rows: list[tuple[Any, ...]] = field(default_factory=list)
    records: list[tuple[datetime, int, Device, datetime | None, str, datetime]] = field(default_factory=list)
    reports: list[tuple[Any, ...]] = field(default_factory=list)
    first_visit: dict[int, datetime] = field(default_factory=dict)


def _order_outcomes(
    rng: random.Random,
    inst: Institution,
    people: _Patients,
    ref: _Reference,
    items: Sequence[ExamItem],
    billing: Sequence[str],
    spell: Any,
    orders: list[dict[str, Any]],
    visits: list[list[Any]],
    visit_ids: dict[int, int],
    sim_now: datetime,
) -> _Outcomes:
    """Each order's item, name, status and timeline (billing line, cancelled, scheduled, in progress, done)."""
    cum_weights = _item_weights(items)
    out = _Outcomes()
    for n, o in enumerate(orders, start=1):
        order_id = 1_000_000 + n
        p = o["patient"]
        ordered_at = o["ordered_at"]
        accession = f"{inst.code}{ordered_at:%y%m%d}{order_id % 100_000:05d}"
        out.first_visit[p] = min(out.first_visit.get(p, ordered_at), visits[o["visit"]][0])
        base = {
            "institution": inst.code, "order_id": order_id, "accession_number": accession,
            "priority": o["priority"], "patient_id": people.ids[p], "mrn": people.mrns[p],
            "person_id": people.persons[p], "patient_name": people.names[p], "sex": people.sexes[p],
            "birth_date": people.births[p], "ordered_at": ordered_at,
        }  # fmt: skip
        if rng.random() < 0.03:
            # A billing line: charged through the RIS like an exam, but no exam, record or image.
            name = rng.choice(billing)
            fee = Decimal(f"{rng.choice((5, 10, 20, 25, 30, 45, 60, 80, 120))}.00")
            fact = ExamFact(kind="not_exam", item=None, raw_exam_name=name, modality=None, status="completed",
                            planned_start=ordered_at, **base)  # fmt: skip
            out.exams.append(fact)
            out.order_rows.append(
                (order_id, accession, visit_ids[o["visit"]], people.ids[p], ref.dept_ids[o["dept"]], o["priority"],
                 name, None, "completed", fee, False, o["clinical"], ordered_at, ordered_at + timedelta(minutes=1))
            )  # fmt: skip
            continue
        item = items[rng.choices(range(len(items)), cum_weights=cum_weights[(o["dept"], people.sexes[p])])[0]]
        raw = spell(item, inst.code, rng)
        modality = item.dicom_modality
        planned = _plan_start(rng, ordered_at, modality, o["priority"], o["vtype"])
        fact = ExamFact(kind="exam", item=item, raw_exam_name=raw, modality=modality, status="ordered",
                        planned_start=planned, contrast=item.contrast, **base)  # fmt: skip
        updated = ordered_at
        cancel_at = ordered_at + (planned - ordered_at) * rng.uniform(0.1, 0.9)
        if rng.random() < 0.02 and cancel_at <= sim_now:
            fact.status, updated = "cancelled", cancel_at
        elif planned > sim_now:
            if rng.random() < 0.7:
                fact.status, updated = "scheduled", ordered_at + timedelta(minutes=rng.uniform(1, 20))
            updated = min(updated, sim_now)
        else:
            duration = timedelta(minutes=rng.uniform(*_DURATION_MIN[modality]))
            if item.contrast and modality in _CONTRAST_EXTRA_MIN:
                duration += timedelta(minutes=rng.uniform(*_CONTRAST_EXTRA_MIN[modality]))
            device = rng.choice(ref.by_modality[modality])
            fact.started_at, fact.device = planned, device
            ended = planned + duration
            tech = rng.choice(ref.technologists)
            if ended > sim_now:
                fact.status, updated = "in_progress", planned
                out.records.append((planned, order_id, device, None, tech, planned))
            else:
                fact.ended_at = ended
                fact.status, updated = "completed", ended
                out.records.append((planned, order_id, device, ended, tech, ended))
                report = _report(rng, fact, o["vtype"], ref.radiologists, sim_now)
                if report is not None:
                    out.reports.append(report)
        out.exams.append(fact)
        out.order_rows.append(
            (order_id, accession, visit_ids[o["visit"]], people.ids[p], ref.dept_ids[o["dept"]], o["priority"], raw,
             modality, fact.status, _fee(rng, item), item.contrast, o["clinical"], ordered_at, updated)
        )  # fmt: skip
    return out


def _patient_rows(
    rng: random.Random,
    people: _Patients,
    first_visit: dict[int, datetime],
    go_live: datetime,
    sim_start: datetime,
    sim_now: datetime,
) -> list[tuple[Any, ...]]:
    """One row per registered patient: registered at go-live or on the day of a first visit."""
    rows = []
    regs = people.regs
    for i in range(len(people)):
        seen = first_visit.get(i)
        if seen is not None and rng.random() < 0.25:
            created = seen - timedelta(minutes=rng.uniform(1, 30))  # registered on the day of the visit
        else:
            created = go_live - timedelta(days=rng.uniform(0, 3650))
        updated = created
        if rng.random() < 0.06:
            # Contact details edited at the front desk during the simulated days.
            updated = max(created, sim_start + (sim_now - sim_start) * rng.random())
        rows.append(
            (people.ids[i], people.mrns[i], people.names[i], people.sexes[i], people.births[i], regs.at[i, "id_number"],
             regs.at[i, "phone"], regs.at[i, "address"], rng.random() < 0.01, created, updated)
        )  # fmt: skip
    return rows


def _whole(value: Any) -> Any:
    return value.replace(microsecond=0) if isinstance(value, datetime) else value


def _report(
    rng: random.Random, fact: ExamFact, visit_type: str, radiologists: list[str], sim_now: datetime
) -> tuple[datetime, int, str, str, str, str, datetime | None, datetime | None, datetime] | None:
    """The report of a completed exam as it stands at ``sim_now`` (None if not started yet)."""
    assert fact.ended_at is not None
    to_written, to_signed = _turnaround(rng, fact.priority, visit_type)
    written = fact.ended_at + to_written
    if fact.priority != "emergency":
        written = _office_hours(written, rng)
    signed = written + to_signed
    if fact.priority != "emergency":
        signed = _office_hours(signed, rng)
    findings, impression = _report_text(rng, fact)
    radiologist = rng.choice(radiologists)
    if written > sim_now:
        draft_at = fact.ended_at + (written - fact.ended_at) * 0.4
        if draft_at > sim_now or rng.random() < 0.5:
            return None
        return (draft_at, fact.order_id, radiologist, findings, impression, "draft", draft_at, None, draft_at)
    if signed > sim_now:
        return (written, fact.order_id, radiologist, findings, impression, "written", written, None, written)
    amend_at = signed + timedelta(hours=rng.uniform(1, 48))
    if rng.random() < 0.02 and amend_at <= sim_now:
        findings += "（更正：补充描述见上。）"
        return (written, fact.order_id, radiologist, findings, impression, "amended", written, signed, amend_at)
    return (written, fact.order_id, radiologist, findings, impression, "signed", written, signed, signed)


# -- loading --------------------------------------------------------------------------------------------------
def create_schema(conn: psycopg.Connection) -> None:
    """Create the ``ris`` schema and its tables in an empty database."""
    conn.execute(DDL)


def load_rows(conn: psycopg.Connection, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Bulk-load rows with COPY (parents before children, so foreign keys hold), then build indexes."""
    with conn.cursor() as cur:
        for table, columns in TABLE_COLUMNS.items():
            with cur.copy(f"COPY {SCHEMA}.{table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows[table]:
                    copy.write_row(row)
        cur.execute(INDEX_DDL)
        for table in TABLE_COLUMNS:
            cur.execute(f"ANALYZE {SCHEMA}.{table}")
