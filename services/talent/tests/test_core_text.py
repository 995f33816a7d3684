"""The text pipeline: extraction (types, encodings, limits), segmentation, synonyms."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhanli_talent.core import extraction, lexicon
from zhanli_talent.core.extraction import ResumeFileError
from zhanli_talent.core.text import analyzer

RESUME = (
    "王小明，5年货代销售经验，擅长拓客，负责华东区大客户销售。2023年业绩增长35%，"
    "超额完成季度指标。熟悉海运、空运，精通 Salesforce，善于倾听，抗压能力强。"
)


def test_gbk_and_utf8_text_give_the_same_words() -> None:
    gbk = extraction.extract(RESUME.encode("gbk"), "txt")
    utf8 = extraction.extract(RESUME.encode("utf-8"), "txt")
    bom = extraction.extract(b"\xef\xbb\xbf" + RESUME.encode("utf-8"), "txt")
    assert gbk.text == utf8.text == bom.text == RESUME
    assert gbk.encoding == "gbk" and utf8.encoding == "utf-8"


def test_docx_and_pdf_are_read() -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("客户开发 三年")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "技能"
    table.rows[0].cells[1].text = "商务谈判"
    buf = io.BytesIO()
    document.save(buf)
    out = extraction.extract(buf.getvalue(), "docx")
    assert "客户开发" in out.text and "商务谈判" in out.text

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    pdf = io.BytesIO()
    writer.write(pdf)
    with pytest.raises(ResumeFileError, match="No text"):
        extraction.extract(pdf.getvalue(), "pdf")


@pytest.mark.parametrize(
    ("data", "kind", "field", "status"),
    [
        (b"", "txt", "file", 422),
        (b"%PDF-1.7 fake", "txt", "file", 415),
        (b"hello", "pdf", "file", 415),
        (b"hello", "docx", "file", 415),
        (b"PK\x03\x04broken", "docx", "file", 422),
        (b"%PDF-1.4\nnot really", "pdf", "file", 422),
        (b"\x00\x01\x02\x03", "txt", "encoding", 422),
        (b"\x81\x30\x81", "txt", "encoding", 422),
        (b" \n\t ", "txt", "file", 422),
        (b"x" * 101, "txt", "file", 413),
    ],
)
def test_bad_files_are_refused_naming_the_field(
    data: bytes, kind: str, field: str, status: int
) -> None:
    with pytest.raises(ResumeFileError) as err:
        extraction.extract(data, kind, max_bytes=100)
    assert err.value.field == field and err.value.status == status


def test_claimed_kind_from_name_or_media_type() -> None:
    assert extraction.kind_of("简历.TXT", None) == "txt"
    assert extraction.kind_of(None, "application/pdf") == "pdf"
    with pytest.raises(ResumeFileError) as err:
        extraction.kind_of("cv.exe", None)
    assert err.value.field == "filename" and err.value.status == 415


def test_synonyms_meet_on_one_canonical_term() -> None:
    a = analyzer()
    for variant in ("拓客", "开拓客户", "客户开发", "Business Development", "获客"):
        assert a.tokens(f"我擅长{variant}。") == ["擅长", "客户开发"], variant
    assert a.query_terms(["订单转化能力", "倾听"]) == ["订单转化", "倾听"]


def test_stopwords_punctuation_and_numbers_are_dropped() -> None:
    tokens = analyzer().tokens("我们的 和 了，2023年！！ the and of sales")
    assert tokens == ["sales"]


def test_skills_are_extracted_most_frequent_first() -> None:
    kw = analyzer().keywords(RESUME + " 拓客")
    assert kw.skills[0] == "客户开发"
    assert {"货代销售", "大客户销售", "业绩增长", "crm", "倾听", "抗压能力"} <= set(kw.skills)
    assert kw.length == sum(kw.counts.values())


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=200))
def test_tokens_are_deterministic_and_clean(text: str) -> None:
    a = analyzer()
    tokens = a.tokens(text)
    assert tokens == a.tokens(text)
    for token in tokens:
        assert token.strip() == token and token
        assert token not in lexicon.STOPWORDS


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="客户开发拓业绩增长销售经验abc 的了，。1", max_size=300))
def test_any_text_round_trips_through_both_encodings(text: str) -> None:
    if not text.strip():
        return
    for encoding in ("utf-8", "gbk"):
        out = extraction.extract(text.encode(encoding), "txt")
        assert out.text.replace("\n", "") == "\n".join(
            line.strip() for line in text.split("\n")
        ).strip().replace("\n", "")
