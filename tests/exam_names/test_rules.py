"""Every rule of the standard (README rules 1-14), checked through the engine on names of its own."""

from __future__ import annotations

import pytest


def codes(engine, raw: str) -> tuple[str, ...]:
    m = engine.map(raw)
    return m.codes


def matched(engine, raw: str) -> tuple[str, ...]:
    m = engine.map(raw)
    assert m.status == "matched", (raw, m)
    return m.codes


# Rule 1: modality words (and CTA/CTV/MRA/MRV as angiography of CT/MR).
@pytest.mark.parametrize(
    ("raw", "modality"),
    [
        ("CT颅脑平扫", "20"),
        ("计算机断层颅脑平扫", "20"),
        ("MR腰椎平扫", "30"),
        ("MRI腰椎平扫", "30"),
        ("核磁腰椎平扫", "30"),
        ("磁共振腰椎平扫", "30"),
        ("DR腰椎正侧位", "10"),
        ("CR腰椎正侧位", "10"),
        ("DX腰椎正侧位", "10"),
        ("X线腰椎正侧位", "10"),
        ("X光腰椎正侧位", "10"),
        ("腰椎平片", "10"),
        ("腰椎摄片", "10"),
        ("胸片", "10"),
        ("MG右乳", "13"),
        ("钼靶右乳", "13"),
        ("钼钯右乳", "13"),
        ("右乳腺X线", "13"),
        ("钡餐", "15"),
        ("钡灌肠", "15"),
        ("吞钡", "15"),
        ("X线造影上消化道", "15"),
        ("IVP", "15"),
        ("HSG", "15"),
        ("US甲状腺", "40"),
        ("超声甲状腺", "40"),
        ("彩超甲状腺", "40"),
        ("B超甲状腺", "40"),
        ("DSA脑血管", "50"),
        ("ECT骨显像", "60"),
        ("SPECT骨扫描", "60"),
        ("骨扫描", "60"),
        ("全身骨显像", "60"),
        ("PET-CT全身", "61"),
        ("PET/CT全身", "61"),
        ("PET-MR全身", "62"),
    ],
)
def test_rule1_modality_words(engine, raw, modality):
    assert [c[:2] for c in matched(engine, raw)] == [modality]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("CTA冠脉", "20090400050000"),
        ("颅内静脉窦CTV", "20091200050000"),
        ("MRA颈部", "30090300050000"),
        ("颅内静脉窦MRV", "30091200050000"),
    ],
)
def test_rule1_angiography_words_are_ct_or_mr_scan_05(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 2: the most specific part named; group words and per-modality meanings.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("颈部CT平扫", "20020100010000"),
        ("盆腔CT平扫", "20050100010000"),
        ("脊柱MR平扫", "30060500010000"),
        ("头部CT平扫", "20010100010000"),
        ("头颅CT", "20010100010000"),
        ("脑CT", "20010100010000"),
        ("头颅MR平扫", "30010100010000"),
        ("头颅DR正侧位", "10010900001300"),
        ("头部正侧位", "10010900001300"),
        ("肺部CT平扫", "20030100010000"),
        ("肺CT平扫", "20030100010000"),
        ("腹部CT增强", "20040200020000"),
        ("肝胆胰脾CT增强", "20040100020000"),
        ("胸部肋骨CT平扫", "20030400010000"),
        ("上腹部肝脏CT平扫", "20040101010000"),
        ("PET-CT全身显像", "61100000000000"),
    ],
)
def test_rule2_body_parts(engine, raw, code):
    assert matched(engine, raw) == (code,)


def test_rule2_group_rows_are_never_a_code(engine, standard):
    for raw in ("胸部CT", "颈部MR", "腹部CT", "盆腔MR", "脊柱CT"):
        for code in matched(engine, raw):
            assert standard.body_part(code[2:8]).level > 1


# Rule 3: scan method of CT/MR.
@pytest.mark.parametrize(
    ("raw", "scan"),
    [
        ("CT颈椎", "01"),
        ("颈椎CT平扫", "01"),
        ("颈椎MR", "01"),
        ("颈椎CT增强", "02"),
        ("MR颈椎增强扫描", "02"),
        ("颈椎CT平扫+增强", "03"),
        ("颈椎CT平扫加增强", "03"),
        ("颈椎CT平扫及增强", "03"),
        ("颈椎CT平扫/增强", "03"),
        ("颈椎CT平+增", "03"),
        ("MRI Cervical Spine with and without contrast", "03"),
        ("颈椎MR增强+平扫", "03"),
        ("肝脏CT三期增强", "04"),
        ("肾脏CT多期增强", "04"),
        ("胰腺MR动态增强", "04"),
    ],
)
def test_rule3_scan_methods(engine, raw, scan):
    (code,) = matched(engine, raw)
    assert code[8:10] == scan


# Rule 4: HRCT, low dose, MRCP/MRU, MR add-ons.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("HRCT胸部", "20030100010200"),
        ("胸部高分辨CT", "20030100010200"),
        ("胸部薄层CT", "20030100010200"),
        ("胸部低剂量CT", "20030100100000"),
        ("LDCT胸部", "20030100100000"),
        ("肺癌筛查胸部CT", "20030100100000"),
        ("MRCP", "30040102110000"),
        ("MRU", "30040400110000"),
        ("颅脑MR平扫+DWI", "30010100010400"),
        ("颅脑MR平扫+SWI", "30010100010500"),
        ("颅脑MR平扫+DTI", "30010100010600"),
        ("颅脑MR平扫+MRS", "30010100010700"),
        ("颅脑MR平扫+SWI+DWI", "30010100010500"),  # the first named counts
    ],
)
def test_rule4_special_scans_and_post_processing(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 5: vessels.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("头颈部CTA", "20090100050000"),
        ("头颈CTA", "20090100050000"),
        ("头部CTA", "20090200050000"),
        ("颅内CTA", "20090200050000"),
        ("脑血管MRA", "30090200050000"),
        ("颈部CTA", "20090300050000"),
        ("颈动脉MRA", "30090300050000"),
        ("冠脉CTA", "20090400050000"),
        ("冠状动脉CTA", "20090400050000"),
        ("CCTA", "20090400050000"),
        ("主动脉CTA", "20090700050000"),
        ("胸主动脉CTA", "20090500050000"),
        ("腹主动脉MRA", "30090600050000"),
        ("肺动脉CTA", "20090800050000"),
        ("下肢CTA", "20090900050000"),
        ("上肢CTA", "20091000050000"),
        ("肾动脉CTA", "20091100050000"),
        ("冠脉CTA+三维重建", "20090400050000"),  # post 00: the reconstruction is part of it
        ("DSA肾动脉", "50091100050000"),
    ],
)
def test_rule5_vessels(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 6: radiograph views.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("腰椎斜位", "10060300001400"),  # a view and no modality word: DR
        ("骨盆正位", "10050600001100"),
        ("DR胸部", "10030100001100"),
        ("DR骨盆", "10050600001100"),
        ("DR胸椎", "10060200001300"),
        ("DR右肘关节", "10070300001302"),
        ("DR腹部", "10040200002000"),
        ("颈椎功能位", "10060100001800"),
        ("颈椎动力位", "10060100001800"),
        ("颈椎过伸过屈位", "10060100001800"),
        ("全口牙位曲面体层片", "10010800002300"),
        ("口腔全景片", "10010800002300"),
    ],
)
def test_rule6_views(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 7: mammography defaults.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("乳腺钼靶", "13030600001303"),
        ("钼靶", "13030600001303"),
        ("MG双侧乳腺", "13030600001303"),
        ("右乳钼靶", "13030600001302"),
        ("MG左侧乳腺正侧位", "13030600001301"),
    ],
)
def test_rule7_mammography_defaults(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 8: laterality only on paired parts.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("左膝关节MR平扫", "30080300010001"),
        ("右膝关节MR平扫", "30080300010002"),
        ("双膝关节MR平扫", "30080300010003"),
        ("双侧膝关节MR平扫", "30080300010003"),
        ("膝关节MR平扫", "30080300010000"),
        ("MRI Knee Right w/o", "30080300010002"),
        ("双侧颈动脉彩超", "40090300000000"),  # 颈部血管 is not paired
        ("左侧甲状腺彩超", "40020300000000"),
        ("左肾CT平扫", "20040401010001"),
    ],
)
def test_rule8_laterality(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 9: ultrasound.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("肝脏彩超", "40040101000000"),
        ("肝脏超声造影", "40040101020000"),
        ("心脏彩超", "40030300000000"),
        ("超声心动图", "40030300000000"),
        ("甲状腺B超", "40020300000000"),
        ("颈部血管彩超", "40090300000000"),
        ("颈动脉超声", "40090300000000"),
        ("产科超声", "40050800000000"),
        ("孕期B超", "40050800000000"),
        ("胎儿超声", "40050800000000"),
        ("泌尿系B超", "40040400000000"),
        ("子宫附件B超", "40050400000000"),
        ("妇科超声", "40050400000000"),
    ],
)
def test_rule9_ultrasound(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 10: whole body.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("全身PET-CT", "61100000000000"),
        ("PET/CT", "61100000000000"),
        ("全身骨扫描", "60100100000000"),
        ("全身骨显像(ECT)", "60100100000000"),
    ],
)
def test_rule10_whole_body(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Rule 11: several exams, in the order named; several views no single code covers.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CT上腹部+胸部平扫", ("20040100010000", "20030100010000")),
        ("胸部CT平扫+全腹CT平扫", ("20030100010000", "20040200010000")),
        ("颈椎+胸椎MR平扫", ("30060100010000", "30060200010000")),
        ("头颅MR平扫+MRA", ("30010100010000", "30090200050000")),
        ("甲状腺+乳腺彩超", ("40020300000000", "40030600000000")),
        ("腰椎正侧位+双斜位", ("10060300001300", "10060300001600")),
        ("颈椎正侧位+过伸过屈位", ("10060100001300", "10060100001800")),
        ("胸部正位+侧位", ("10030100001300",)),  # one code covers both views
    ],
)
def test_rule11_several_exams(engine, raw, expected):
    assert matched(engine, raw) == expected


# Rule 12: billing lines.
@pytest.mark.parametrize(
    "raw",
    [
        "胶片费",
        "造影剂",
        "CT增强材料费",
        "加急费",
        "碘海醇注射液",
        "MR增强对比剂",
        "刻录光盘费",
        "高压注射器针筒",
        "硫酸钡干混悬剂",
        "DR胶片",
    ],
)
def test_rule12_billing_lines_are_not_exams(engine, raw):
    m = engine.map(raw)
    assert (m.status, m.codes) == ("not_exam", ())


def test_rule12_film_in_a_package_word_is_still_an_exam(engine):
    assert matched(engine, "胸部CT平扫(含胶片)") == ("20030100010000",)


# Rule 13: noise never changes the code.
@pytest.mark.parametrize(
    "raw",
    [
        "腰椎MR平扫",
        "腰椎MR平扫(急)",
        "急诊腰椎MR平扫",
        "腰椎MR平扫（门诊）",
        "体检腰椎MR平扫",
        "住院腰椎MR平扫",
        "腰椎MR平扫套餐",
        "腰椎MR平扫(含胶片)",
        "MR0456 腰椎平扫",
        "[789]腰椎MR平扫",
        "ＭＲ腰椎平扫",
        "【急】腰椎ＭＲ平扫",
        "*腰椎MR平扫",
        "△腰椎MR平扫#",
        " 腰 椎 MR 平扫 ",
        "腰椎mr平扫",
        "00123-腰椎MR平扫",
    ],
)
def test_rule13_noise(engine, raw):
    assert matched(engine, raw) == ("30060300010000",)


def test_rule13_bedside_is_noise(engine):
    assert matched(engine, "床旁胸部正位") == matched(engine, "胸部正位") == ("10030100001100",)


# Rule 14: contrast studies.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("吞钡造影", "15040601070000"),
        ("食管造影", "15040601070000"),
        ("钡餐检查", "15040602070000"),
        ("上消化道造影", "15040602070000"),
        ("小肠造影", "15040603070000"),
        ("钡灌肠检查", "15040604070000"),
        ("结肠造影", "15040604070000"),
        ("全消化道造影", "15040605070000"),
        ("静脉肾盂造影", "15040400070000"),
        ("IVP检查", "15040400070000"),
        ("子宫输卵管造影", "15050401070000"),
        ("HSG检查", "15050401070000"),
    ],
)
def test_rule14_contrast_studies(engine, raw, code):
    assert matched(engine, raw) == (code,)


# Typos and English names.
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("腰锥MR平扫", "30060300010000"),
        ("头颅恼CT", "20010100010000"),
        ("颅恼MR平扫", "30010100010000"),
        ("腰椎磁共震", "30060300010000"),
        ("胸部正为片", "10030100001100"),  # 为 sounds like 位
        ("CT Head w/o contrast", "20010100010000"),
        ("CT Chest with contrast", "20030100020000"),
        ("MRI Lumbar Spine without contrast", "30060300010000"),
        ("XR Chest 2 views", "10030100001300"),
        ("XR Knee Left 2 views", "10080300001301"),
        ("US Thyroid", "40020300000000"),
        ("Mammogram Bilateral", "13030600001303"),
        ("CTA Head and Neck", "20090100050000"),
        ("MRIBrainDWI", "30010100010400"),
    ],
)
def test_typos_and_english(engine, raw, code):
    (got,) = codes(engine, raw)
    assert got == code
    assert engine.map(raw).status == "matched"


@pytest.mark.parametrize("raw", ["头颅平扫", "胸部", "CT平扫", "检查", "", "彩超", "XYZ123"])
def test_the_engine_knows_when_it_is_unsure(engine, raw):
    assert engine.map(raw).status in ("review", "unmatched")
