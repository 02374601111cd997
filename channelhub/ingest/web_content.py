"""What a prefecture's web hall may show: the published version of one web-hall content item.

The pure core of ``GET /content/web/<prefecture>/<name>`` on the collector
(:mod:`channelhub.ingest.collector`): the content folded from ``channel.content`` in, the
item's newest published version out (:func:`served`), never a draft or a version still in
review; a request for something the hall cannot show is refused with a
:class:`~channelhub.ingest.http_batch.RequestRefusedError` whose message says how to fix it.
Publishing a version (``channelhub content``, its four reviews) is what changes the answer: a
newer draft leaves the published version served until it is published itself.
"""

import msgspec

from channelhub.ingest.http_batch import RequestRefusedError
from orchestration.content import Content, Item, Version
from schemas.envelope import PREFECTURES, UtcTime

#: The web items of one prefecture: ``web:<prefecture>:<name>``.
KIND = "web"


class WebContent(msgspec.Struct, frozen=True, kw_only=True):
    """The answer: the item, its published version's number and text, and when it was
    published (its seed's time for a text that was in use when publishing began)."""

    item: str
    prefecture: str
    name: str
    version: int
    text: str
    published_at: UtcTime


def web_item(prefecture: str, name: str) -> str:
    return f"{KIND}:{prefecture}:{name}"


def served(content: Content, prefecture: str, name: str) -> WebContent:
    """The newest published version of ``web:<prefecture>:<name>``; :class:`RequestRefusedError`
    (404) for an unknown prefecture, an item never drafted, or one with nothing published."""
    if prefecture not in PREFECTURES:
        raise RequestRefusedError(
            404,
            "unknown_prefecture",
            f"no prefecture {prefecture!r}; ask for /content/web/<prefecture>/<name>, the "
            f"prefecture one of {', '.join(PREFECTURES)}",
        )
    item_id = web_item(prefecture, name)
    item = content.items.get(item_id)
    if item is None:
        raise RequestRefusedError(404, "unknown_item", _unknown(content, prefecture, item_id))
    version = item.published
    if version is None:
        raise RequestRefusedError(404, "not_published", _waiting(item))
    return WebContent(
        item=item_id,
        prefecture=prefecture,
        name=name,
        version=version.number,
        text=version.text,
        published_at=_published_at(version),
    )


def _unknown(content: Content, prefecture: str, item_id: str) -> str:
    prefix = web_item(prefecture, "")
    names = sorted(
        i.removeprefix(prefix)
        for i, item in content.items.items()
        if i.startswith(prefix) and item.published is not None
    )
    offered = (
        f"{prefecture}'s web hall has published {', '.join(names)}"
        if names
        else f"{prefecture}'s web hall has nothing published yet"
    )
    return (
        f"no content item {item_id}; {offered}. A new item starts with `channelhub content "
        f"draft {item_id} TEXT` and is served once its four reviews publish it"
    )


def _waiting(item: Item) -> str:
    last = item.last
    assert last is not None, "an item folded from a record has a version"
    due = last.next_step
    state = (
        f"its version {last.number} waits for {due[0]} by a {due[1]}"
        if due is not None
        else f"its version {last.number} was rejected; draft the next one"
    )
    return (
        f"{item.item_id} has no published version yet: {state} (`channelhub content show "
        f"{item.item_id}` shows its trail); a draft is never served"
    )


def _published_at(version: Version) -> UtcTime:
    published = next((s for s in version.steps if s.step == "published"), None)
    return version.draft.at if published is None else published.at
