"""Which service an SMS code or a hall function stands for, as the live catalogue says.

The SMS-hall and cross-channel pages label history: a code in the top commands, a function
done on the web hall. :func:`names_of` answers from a catalogue (:mod:`channelhub.catalogue`)
so that a code opened through the workflow shows under its service's name, and a retired one
still labels its history with the service that had it:

1. an entry open now: the service the static guidance table gives it, while that service
   still has it open (so the seed labels exactly as the static table did), else the first
   service open there;
2. an entry retired and not open again: the service it was retired from;
3. anything else (a catalogue not seeded yet, history older than the catalogue): the static
   guidance table (:data:`orchestration.rules.guidance.WAYS`).

Items, for the cross-channel deflection, are what a customer asks an agent for: the guidance
table's, and the services opened through the workflow (:func:`guidance.ways_in`); a hall or
kiosk function seeded as a service of its own is no item, as before.
"""

from collections.abc import Mapping
from typing import NamedTuple

from orchestration.catalogue import Catalogue
from orchestration.rules.guidance import UNKNOWN, WAYS, SelfServiceWay, ways_in
from schemas.catalogue import CatalogueChannel

#: What a code no catalogue and no guidance table knows is shown as.
UNLISTED = "unlisted"


def _static(field: str) -> dict[str, str]:
    """Entry → the first guidance item listing it in ``field`` (``sms_code``, …)."""
    return {
        getattr(way, field): item for item, way in reversed(WAYS.items()) if getattr(way, field)
    }


_STATIC: dict[CatalogueChannel, dict[str, str]] = {
    "sms": _static("sms_code"),
    "web": _static("web_function"),
    "wap": _static("wap_function"),
}


class ServiceNames(NamedTuple):
    """Entry → service per channel, and every item's self-service way now."""

    entries: dict[CatalogueChannel, dict[str, str]]
    ways: Mapping[str, SelfServiceWay]

    def code(self, code: str) -> str:
        """The service an SMS code is labelled with."""
        return self.entries["sms"].get(code, UNLISTED)

    def item_of(self, channel: str, name: str) -> str | None:
        """The item a channel's event name stands for (a hall function's service, a kiosk
        service or function, an IVR item, an SMS service, an agent's topic); ``None`` when it
        is no item."""
        if channel in ("web", "wap"):
            return self._item(channel, name)  # type: ignore[arg-type]
        if name in self.ways:
            return name
        if channel == "kiosk":
            return self._item("kiosk", name) or self._item("web", name)
        return None

    def way(self, item: str) -> SelfServiceWay:
        return self.ways.get(item, UNKNOWN)

    def _item(self, channel: CatalogueChannel, name: str) -> str | None:
        service = self.entries.get(channel, {}).get(name)
        return service if service in self.ways else None


def names_of(catalogue: Catalogue) -> ServiceNames:
    """The names ``catalogue`` gives (see the module docstring); the static table's until it
    is seeded."""
    if not catalogue.seeded:
        return STATIC
    ways = ways_in(catalogue)
    entries: dict[CatalogueChannel, dict[str, str]] = {}
    for channel in ("sms", "web", "wap", "kiosk"):
        usual = _STATIC.get(channel, {})
        found = dict(usual)
        for retired in catalogue.retired():
            if retired.channel == channel:
                found[retired.slot] = retired.service
        for slot, serving in catalogue.channel(channel).items():
            services = [service for service, _ in serving]
            items = [service for service in services if service in ways] or services
            found[slot] = usual[slot] if usual.get(slot) in services else items[0]
        entries[channel] = found
    return ServiceNames(entries, ways)


#: Today's names: the static guidance table's.
STATIC = ServiceNames({**_STATIC, "kiosk": {}}, WAYS)
