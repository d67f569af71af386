"""GB/T 4754-2017 industry codes: the shipped table and the record schema's `industry_code`."""

from __future__ import annotations

import pytest

from regledger.ledger.errors import MalformedError
from regledger.registry.fields import validate_fields
from regledger.registry.industries import default_industries
from tests.test_workflow import resource_fields


def test_the_table_has_20_sections_and_97_divisions():
    table = default_industries()
    assert len(table) == 20 + 97
    assert table.version == "GB/T 4754-2017/XG1-2019" and "GB/T 4754-2017" in table.source


@pytest.mark.parametrize(
    ("code", "name", "section_name"),
    [
        ("L", "租赁和商务服务业", "租赁和商务服务业"),
        ("L72", "商务服务业", "租赁和商务服务业"),
        ("I65", "软件和信息技术服务业", "信息传输、软件和信息技术服务业"),
        ("I651", "软件和信息技术服务业", "信息传输、软件和信息技术服务业"),  # a group: shown under its division
        ("I6510", "软件和信息技术服务业", "信息传输、软件和信息技术服务业"),
        ("M74", "专业技术服务业", "科学研究和技术服务业"),
        ("S92", "国家机构", "公共管理、社会保障和社会组织"),
        ("T97", "国际组织", "国际组织"),
    ],
)
def test_valid_codes_and_their_names(code, name, section_name):
    industry = default_industries().validate(code)
    assert (industry.name, industry.section_name, industry.code) == (name, section_name, code)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("不存在", "section letter A-T"),
        ("", "section letter A-T"),
        ("l72", "section letter A-T"),
        ("L7", "section letter A-T"),
        ("L72101", "section letter A-T"),
        ("72", "section letter A-T"),
        ("U", "unknown industry section U"),
        ("L65", "division 65 belongs to section I, not to section L"),
        ("A98", "division 98 is not a division of GB/T 4754-2017"),
        (72, "section letter A-T"),
    ],
)
def test_invalid_codes_are_refused(code, says):
    with pytest.raises(MalformedError) as info:
        default_industries().validate(code, field="/x")
    assert says in info.value.message and info.value.field == "/x"


def test_the_record_schema_refuses_a_bad_industry_code_with_its_field_path():
    assert validate_fields("resource", resource_fields(industry_code="I6510"), field="/payload/fields")
    with pytest.raises(MalformedError) as info:
        validate_fields("resource", resource_fields(industry_code="不存在"), field="/payload/fields")
    assert info.value.field == "/payload/fields/industry_code"
    assert "GB/T 4754-2017" in info.value.message


def test_name_never_fails():
    assert default_industries().name("L72") == "商务服务业"
    assert default_industries().name("不存在") == "" and default_industries().name(None) == ""
