"""Templates: rejected at load when unsafe, never failing at render, lengths in UCS-2 units."""

import pytest

from orchestration.templates import (
    TemplateError,
    compile_template,
)

FIELDS = {"brand_name", "prefecture_name", "sms_code", "wait_s", "brand"}


def test_renders_cjk_personalisation() -> None:
    template = compile_template(
        "【湖南移动】{prefecture_name}的{brand_name}客户请发送{sms_code}到10086", FIELDS
    )
    text = template.render({"prefecture_name": "长沙", "brand_name": "全球通", "sms_code": "0101"})
    assert text == "【湖南移动】长沙的全球通客户请发送0101到10086"
    assert template.fields == ("prefecture_name", "brand_name", "sms_code")


def test_rendering_never_raises() -> None:
    template = compile_template("{{等候}}{wait_s}秒 {brand}", FIELDS)
    assert template.render({"wait_s": 61.4, "brand": None}) == "{等候}61秒 "
    assert template.render({}) == "{等候}秒 "


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("发送{sms_cod}到10086", "sms_cod"),
        ("{brand_name.upper}", "brand_name.upper"),
        ("{brand_name[0]}", "brand_name[0]"),
        ("{wait_s:.1f}", "wait_s"),
        ("{brand_name!r}", "brand_name"),
        ("{}", ""),
        ("a lone { brace", ""),
    ],
)
def test_unsafe_templates_are_rejected_with_the_field(source: str, field: str) -> None:
    with pytest.raises(TemplateError) as raised:
        compile_template(source, FIELDS)
    assert raised.value.field == field
