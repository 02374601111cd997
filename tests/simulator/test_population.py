"""Subscribers: unique valid numbers, the province's geography and brand mix."""

import random
import re
from collections import Counter

from channelhub.simulator.population import Population, new_number
from schemas import BRANDS, PREFECTURES

MSISDN = re.compile(r"^1[3-9][0-9]{9}$")


def test_numbers_are_unique_valid_mobile_numbers() -> None:
    population = Population(50_000, random.Random(1))
    numbers = [population.msisdn(i) for i in range(population.size)]
    assert len(set(numbers)) == len(numbers)
    assert all(MSISDN.match(n) for n in numbers)
    assert MSISDN.match(new_number(random.Random(2)))


def test_changsha_is_largest_and_every_prefecture_and_brand_appears() -> None:
    population, rng = Population(20_000, random.Random(3)), random.Random(4)
    picks = [population.pick("ivr", rng) for _ in range(20_000)]
    prefectures = Counter(p.prefecture for p in picks)
    assert set(prefectures) == set(PREFECTURES)
    assert prefectures.most_common(1)[0][0] == "changsha"
    assert set(p.brand for p in picks) == set(BRANDS)


def test_brands_reach_for_different_channels() -> None:
    population, rng = Population(20_000, random.Random(3)), random.Random(5)
    ivr = Counter(population.pick("ivr", rng).brand for _ in range(20_000))
    wap = Counter(population.pick("wap", rng).brand for _ in range(20_000))
    assert ivr.most_common(1)[0][0] == "easyown"
    assert wap["mzone"] > ivr["mzone"] * 2  # the young live on their phones


def test_activity_is_skewed_so_some_subscribers_come_back() -> None:
    population, rng = Population(100_000, random.Random(6)), random.Random(7)
    seen = Counter(population.pick("sms", rng).msisdn for _ in range(20_000))
    assert seen.most_common(1)[0][1] >= 5
