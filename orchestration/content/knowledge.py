"""The provincial service centre's check of a text against the knowledge base.

What "the knowledge base" holds, as far as a machine can check it, and so what
:func:`check` verifies before a version may be marked ``knowledge_checked``:

- the placeholders: the text compiles as a template (:func:`orchestration.templates.
  compile_template`) against the fields its item can fill: a rule's, the fields every one of
  its triggers offers; a campaign's, :data:`schemas.campaign_spec.TEMPLATE_FIELDS`; web-hall
  content, none;
- the services it names: every SMS-hall code in it (a run of four or five digits starting
  with 0, such as ``0101``, as the codes are written) is a code the SMS hall answers;
- a campaign's text says how to opt out (``退订``), as every marketing SMS must.

Whether the wording is right is the reviewers' to judge; this catches what would reach a
customer broken: a placeholder nobody fills, a code that answers "unknown command".
"""

import re
from collections.abc import Collection

from orchestration.campaigns.loader import OPT_OUT_HINT
from orchestration.templates import TemplateError, compile_template

_CODE = re.compile(r"(?<![0-9])0[0-9]{3,4}(?![0-9])")


def check(
    item: str, text: str, *, fields: Collection[str], codes: Collection[str]
) -> tuple[list[str], str]:
    """(problems, what was checked): the problems are empty when ``text`` passes."""
    problems: list[str] = []
    try:
        template = compile_template(text, fields)
        placeholders = template.fields
    except TemplateError as e:
        problems.append(e.problem)
        placeholders = ()
    named = sorted(set(_CODE.findall(text)))
    unknown = [code for code in named if code not in codes]
    if unknown:
        problems.append(
            f"SMS code {', '.join(unknown)} is not one the SMS hall answers; known codes: "
            f"{', '.join(sorted(codes))}"
        )
    if item.startswith("campaign:") and OPT_OUT_HINT not in text:
        problems.append(f"a marketing SMS must say how to opt out, e.g. '回复TD{OPT_OUT_HINT}'")
    checked = (
        f"placeholders {', '.join(placeholders) or 'none'} fillable; "
        f"SMS codes {', '.join(named) or 'none'} answered by the SMS hall"
    )
    return problems, checked
