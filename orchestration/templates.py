"""SMS templates with personalisation: checked when loaded, never failing when rendered.

A template is ``str.format`` text with plain ``{field}`` placeholders (``{{`` for a brace).
:func:`compile_template` splits it once against the fields the rule can offer and rejects an
unknown field, an attribute or index lookup, a conversion or a format spec, so a typo shows up
when the rule file is loaded instead of as a broken SMS. :meth:`Template.render` only joins
the pieces: it cannot raise, whatever the values.

How many SMS segments a rendered text takes is the dispatcher's encoder's to say
(:func:`orchestration.dispatch.encode_sms`).
"""

import math
from collections.abc import Collection, Mapping
from string import Formatter

from kernel.errors import ConfigError

#: The prefectures as customers read them.
PREFECTURE_NAMES: dict[str, str] = {
    "changsha": "长沙", "zhuzhou": "株洲", "xiangtan": "湘潭", "hengyang": "衡阳",
    "shaoyang": "邵阳", "yueyang": "岳阳", "changde": "常德", "zhangjiajie": "张家界",
    "yiyang": "益阳", "chenzhou": "郴州", "yongzhou": "永州", "huaihua": "怀化", "loudi": "娄底",
    "xiangxi": "湘西",
}  # fmt: skip

#: The consumer brands (and group customers) as customers read them.
BRAND_NAMES: dict[str, str] = {
    "gotone": "全球通", "mzone": "动感地带", "easyown": "神州行", "enterprise": "集团",
}  # fmt: skip


class TemplateError(ConfigError):
    """A template cannot be rendered safely; ``field`` is the placeholder at fault."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


class Template:
    """A compiled template: literal text and the fields between it."""

    __slots__ = ("_pieces", "fields", "source")

    def __init__(self, source: str, pieces: tuple[tuple[str, str | None], ...]) -> None:
        self.source = source
        self._pieces = pieces
        #: The fields the text refers to, in order of first use.
        self.fields: tuple[str, ...] = tuple(dict.fromkeys(f for _, f in pieces if f))

    def render(self, values: Mapping[str, object]) -> str:
        """The text with each field's value; a missing value renders as nothing."""
        return "".join(
            literal + (_text(values.get(field)) if field else "") for literal, field in self._pieces
        )

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile_template(source: str, known_fields: Collection[str]) -> Template:
    """Check ``source`` against ``known_fields`` and compile it; raises :class:`TemplateError`."""
    try:
        parsed = list(Formatter().parse(source))
    except ValueError as e:  # a lone "{" or "}"
        raise TemplateError("", f"{e}; write {{{{ or }}}} for a literal brace") from e
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is None:
            pieces.append((literal, None))
            continue
        if not field.isidentifier():
            raise TemplateError(
                field, f"placeholder {{{field}}} must be a plain field name like {{brand_name}}"
            )
        if spec or conversion:
            raise TemplateError(
                field, f"placeholder {{{field}}} may not carry a conversion or format spec"
            )
        if field not in known_fields:
            raise TemplateError(
                field,
                f"template refers to unknown field {{{field}}}; known fields: "
                f"{', '.join(sorted(known_fields))}",
            )
        pieces.append((literal, field))
    return Template(source, tuple(pieces))


def _text(value: object) -> str:
    """Customer-facing text of a value: seconds and days as whole numbers, None as nothing."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.0f}" if math.isfinite(value) else ""
    return str(value)
