"""Tests of the engine: mapping fields, statuses, the standard version, and the steward loop."""

from __future__ import annotations

import pytest

from transforms.exam_names.decisions import Decision
from transforms.exam_names.engine import ExamNameEngine


def test_mapping_carries_names_version_and_engine(engine, standard):
    m = engine.map("CT头颅平扫", "h01")
    assert m.raw_name == "CT头颅平扫"
    assert m.institution == "h01"
    assert m.codes == ("20010100010000",)
    assert m.standard_names == ("CT颅脑（平扫）",)
    assert (m.status, m.mapped_by, m.standard_version) == ("matched", "engine", standard.version)
    assert m.confidence == 1.0 and m.reasons == ()


def test_every_code_the_engine_gives_is_valid(engine, standard):
    names = ["CT头颅平扫", "颈椎MR", "胸片", "双乳钼靶", "心脏彩超", "钡餐", "CCTA", "左膝正侧位", "MRCP", "骨扫描"]
    for raw in names:
        for code in engine.map(raw).codes:
            assert standard.is_valid_code(code), (raw, code)


def test_review_carries_a_best_guess_and_reasons(engine):
    m = engine.map("头颅平扫")
    assert m.status == "review"
    assert m.codes == ("20010100010000",)
    assert 0.5 <= m.confidence < 0.9
    assert any("modality" in r for r in m.reasons)


def test_unmatched_has_no_codes(engine):
    m = engine.map("骨龄测定")
    assert m.status == "unmatched" and m.codes == () and m.confidence < 0.5


def test_raw_name_is_kept_exactly(engine):
    raw = "  【急】头颅ＣＴ平扫*  "
    assert engine.map(raw).raw_name == raw


def test_cache_gives_the_same_answer(engine):
    assert engine.map("CT胸部平扫(急)") == engine.map("CT胸部平扫(急)")
    assert engine.map("CT胸部平扫(急)").codes == engine.map("*CT胸部平扫").codes


# -- steward loop ------------------------------------------------------------------------------------
def test_a_confirmed_mapping_always_wins(standard):
    # The engine reads 头颅平扫 as CT with a guess; the steward of h02 knows it is their MR line.
    mr = "30010100010000"
    engine = ExamNameEngine(standard, [Decision("h02", "头颅平扫", (mr,))])
    m = engine.map("头颅平扫", "h02")
    assert (m.codes, m.status, m.mapped_by, m.confidence) == ((mr,), "matched", "steward", 1.0)
    # Even against a confident engine reading.
    engine = ExamNameEngine(standard, [Decision("h02", "CT头颅平扫", (mr,))])
    assert engine.map("CT头颅平扫", "h02").codes == (mr,)
    assert engine.map("CT头颅平扫", "h02").mapped_by == "steward"


def test_not_exam_decision_wins(standard):
    engine = ExamNameEngine(standard, [Decision("h01", "CT头颅平扫", not_exam=True)])
    m = engine.map("CT头颅平扫", "h01")
    assert (m.codes, m.status, m.mapped_by) == ((), "not_exam", "steward")


def test_decision_is_per_institution_unless_global(standard):
    engine = ExamNameEngine(standard, [Decision("h02", "头颅平扫", ("30010100010000",))])
    # Another institution's identical name is not the steward's decision, but it is written the same way:
    # the engine takes the decided codes as a learned synonym.
    other = engine.map("头颅平扫", "h09")
    assert other.mapped_by == "engine" and other.codes == ("30010100010000",)
    engine = ExamNameEngine(standard, [Decision("*", "头颅平扫", ("30010100010000",))])
    assert engine.map("头颅平扫", "h09").mapped_by == "steward"


def test_noise_variants_of_a_decided_name_follow_it(standard):
    base = ExamNameEngine(standard)
    assert base.map("头颅平扫(急)", "h01").status == "review"
    engine = ExamNameEngine(standard, [Decision("h01", "头颅平扫", ("30010100010000",))])
    m = engine.map("头颅平扫(急)", "h01")
    assert (m.codes, m.status) == (("30010100010000",), "matched")


def test_similar_names_improve_by_learned_words(standard):
    # 听骨链 (the ossicles, in the temporal bone) is no word of the engine: the name has no body part.
    base = ExamNameEngine(standard)
    before = base.map("听骨链CT平扫+增强", "h03")
    assert before.status != "matched"
    engine = ExamNameEngine(standard, [Decision("h03", "听骨链CT", ("20010301010000",))])
    assert [t.text for t in engine.learned_terms] == ["听骨链"]
    after = engine.map("听骨链CT平扫+增强", "h03")
    assert (after.codes, after.status) == (("20010301030000",), "matched")
    assert engine.map("听骨链MR", "h05").codes == ("30010301010000",)


def test_similar_names_improve_by_nearest_confirmed_neighbour(standard):
    raw = "胸部平扫+三维重建"
    base = ExamNameEngine(standard)
    assert base.map(raw).status == "review"  # no modality written: CT is only a guess
    engine = ExamNameEngine(standard, [Decision("h01", "胸部平扫及三维重建", ("20030100010100",))])
    m = engine.map(raw, "h02")
    assert (m.codes, m.status) == (("20030100010100",), "matched")
    assert any("similar" in r for r in m.reasons)


def test_neighbour_that_disagrees_does_not_override(standard):
    engine = ExamNameEngine(standard, [Decision("h01", "胸部平扫及三维重建", ("20030100010000",))])
    m = engine.map("胸部平扫+三维重建", "h02")
    assert m.status == "review" and m.codes == ("20030100010100",)


def test_a_neighbour_never_accepts_a_name_with_a_part_not_understood(standard):
    # Issue 19: half understood stays uncertain, even when a very similar decided name agrees.
    engine = ExamNameEngine(standard, [Decision("h01", "胸部CT平扫(肺结)", ("20030100010000",))])
    m = engine.map("胸部CT平扫(肺结节)", "h02")
    assert (m.codes, m.status, m.unrecognised) == (("20030100010000",), "review", ("结节",))


@pytest.mark.parametrize("threshold", [0.5, 0.95])
def test_thresholds_decide_the_status(standard, threshold):
    engine = ExamNameEngine(standard, matched_at=threshold)
    m = engine.map("胸部平扫")
    assert m.status == ("matched" if m.confidence >= threshold else "review")
