"""Today's static catalogue as seed records: where the live catalogue starts.

Until the workflows existed, what each channel offers was data in code: the IVR menu, the SMS
hall's codes and keywords, the web, WAP and kiosk functions
(:mod:`channelhub.simulator.catalog`), and the self-service way of each request topic
(:data:`orchestration.rules.guidance.WAYS`). :func:`seed_records` turns them into one
:class:`~schemas.catalogue.ServiceSeeded` per entry, so that folding the seed gives the same
catalogue: every IVR item at its keys, every code with its keywords, every hall and kiosk
function, and each topic's way on the SMS code and hall functions the table names for it.

Which service an entry is for: an IVR item is its own service, an SMS code the service it
runs (:data:`~channelhub.simulator.catalog.SMS_SERVICES`), a kiosk function itself. A hall
function or an SMS code that :data:`WAYS` names as the way of a topic is also open for that
topic (the SP unsubscription page serves every SP topic); a hall function no way names is its
own service.

The records' ids derive from the service and the entry, so seeding again adds nothing, and an
entry retired through the workflow is not brought back by the next seeding. ``channelhub up``
seeds once the topics exist (and again after a broker restart, which empties them locally).

The seed reads the simulator's static catalogue, so this module sits at the roof, above the
rest of :mod:`channelhub.catalogue` that the stages and the dashboard use.
"""

from datetime import UTC, datetime

from channelhub.catalogue import store
from channelhub.simulator import catalog
from kernel.settings import Settings
from orchestration.rules.guidance import WAYS
from schemas.catalogue import (
    Entry,
    IvrItem,
    KioskService,
    ServiceSeeded,
    SmsHallCode,
    WapFunction,
    WebFunction,
    seeded,
)


def _ivr() -> list[tuple[str, Entry]]:
    found: list[tuple[str, Entry]] = []
    for key, branch in catalog.IVR_MENU.items():
        found += [(item, IvrItem(keys=f"{key}-{k2}")) for k2, item in branch.items.items()]
        if not branch.items:  # key 5 plays the current campaign
            found.append((catalog.CAMPAIGN_ITEM, IvrItem(keys=key)))
    return found


def _sms() -> list[tuple[str, Entry]]:
    keywords: dict[str, list[str]] = {}
    for word, code in [*catalog.SMS_LATIN_KEYWORDS.items(), *catalog.SMS_CJK_KEYWORDS.items()]:
        keywords.setdefault(code, []).append(word)
    found: list[tuple[str, Entry]] = []
    for code, runs in catalog.SMS_SERVICES.items():
        entry = SmsHallCode(code=code, keywords=tuple(keywords.get(code, ())))
        found.append((runs.service, entry))
        found += [
            (topic, entry)
            for topic, way in WAYS.items()
            if way.sms_code == code and topic != runs.service
        ]
    return found


def _halls() -> list[tuple[str, Entry]]:
    found: list[tuple[str, Entry]] = []
    for functions, make, way_of in (
        (catalog.WEB_FUNCTIONS, WebFunction, lambda topic: WAYS[topic].web_function),
        (catalog.WAP_FUNCTIONS, WapFunction, lambda topic: WAYS[topic].wap_function),
    ):
        for function in functions:
            topics = [topic for topic in WAYS if way_of(topic) == function] or [function]
            found += [(topic, make(function=function)) for topic in topics]
    return found


def _kiosk() -> list[tuple[str, Entry]]:
    return [(name, KioskService(function=name)) for name in catalog.KIOSK_SERVICES]


def seed_records(at: datetime) -> list[ServiceSeeded]:
    """One record per (service, entry) of today's catalogue, stamped ``at``."""
    return [
        seeded(service, entry, at=at) for service, entry in [*_ivr(), *_sms(), *_halls(), *_kiosk()]
    ]


def seed(settings: Settings, *, at: datetime | None = None) -> tuple[int, int]:
    """Write the seed records the topic does not hold yet; (written, already there)."""
    return store.write_new(settings, seed_records(at or datetime.now(UTC)))
