"""The seed: folding it gives today's static catalogue, and seeding twice adds nothing."""

from datetime import UTC, datetime

from channelhub.catalogue.seed import seed_records
from channelhub.simulator import catalog
from orchestration.catalogue import Catalogue, fold
from orchestration.rules.guidance import WAYS
from schemas.catalogue import CatalogueChannel, SmsHallCode

AT = datetime(2026, 3, 2, tzinfo=UTC)


def _slots(catalogue: Catalogue, channel: CatalogueChannel) -> set[str]:
    return set(catalogue.channel(channel))


def test_the_seeded_catalogue_is_the_static_one() -> None:
    catalogue = fold(seed_records(AT))
    assert catalogue.refusals == []
    ivr = {
        f"{key}-{k2}": item
        for key, branch in catalog.IVR_MENU.items()
        for k2, item in branch.items.items()
    } | {"5": catalog.CAMPAIGN_ITEM}
    assert {k: [s for s, _ in v] for k, v in catalogue.channel("ivr").items()} == {
        k: [item] for k, item in ivr.items()
    }
    assert _slots(catalogue, "sms") == set(catalog.SMS_SERVICES)
    assert _slots(catalogue, "web") == set(catalog.WEB_FUNCTIONS)
    assert _slots(catalogue, "wap") == set(catalog.WAP_FUNCTIONS)
    assert _slots(catalogue, "kiosk") == set(catalog.KIOSK_SERVICES)
    keywords = {**catalog.SMS_LATIN_KEYWORDS, **catalog.SMS_CJK_KEYWORDS}
    assert catalogue.keywords() == {word.casefold(): code for word, code in keywords.items()}
    for code, runs in catalog.SMS_SERVICES.items():
        assert runs.service in [s for s, _ in catalogue.channel("sms")[code]]


def test_every_self_service_way_is_open_for_its_topic() -> None:
    catalogue = fold(seed_records(AT))
    for topic, way in WAYS.items():
        open_on = {(e.__struct_config__.tag, e.slot) for e in catalogue.entries(topic)}
        for channel, slot in (("sms", way.sms_code), ("web", way.web_function)):
            if slot:
                assert (channel, slot) in open_on, (topic, channel, slot)
        if way.wap_function:
            assert ("wap", way.wap_function) in open_on, topic
        sms = [e for e in catalogue.entries(topic) if isinstance(e, SmsHallCode)]
        assert [e.code for e in sms] == ([way.sms_code] if way.sms_code else []), topic


def test_seeding_again_is_recognised_record_by_record() -> None:
    catalogue = fold(seed_records(AT))
    later = seed_records(datetime(2026, 4, 1, tzinfo=UTC))
    assert all(catalogue.has_applied(r.event_id) for r in later)
    assert all(catalogue.apply(r) is not None for r in later)
    assert catalogue.refusals == []
