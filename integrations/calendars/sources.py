"""Read several CalendarSources live and merge their busy time (sources come from the registry)."""

from __future__ import annotations

from collections.abc import Sequence

from integrations.calendars.errors import CalendarError
from scheduler.intervals import merge
from scheduler.model import BusyReport, CalendarWarning, Interval
from scheduler.ports import CalendarSource


def source_report(source: CalendarSource, interval: Interval) -> BusyReport:
    """One source's busy time with its warnings (sources without `busy_report` have none)."""
    reporter = getattr(source, "busy_report", None)
    if callable(reporter):
        report = reporter(interval)
        if isinstance(report, BusyReport):
            return report
    return BusyReport(tuple(source.busy(interval)), ())


def collect_busy(sources: Sequence[CalendarSource], interval: Interval) -> BusyReport:
    """Busy time of all sources within `interval`, merged.

    A source that fails becomes a warning naming it; when the only source fails, or every source
    does, the error is raised instead, since an empty calendar would look entirely free.
    """
    intervals: list[Interval] = []
    warnings: list[CalendarWarning] = []
    failures: list[tuple[str, str]] = []  # (calendar, message)
    for source in sources:
        try:
            report = source_report(source, interval)
        except CalendarError as exc:
            if len(sources) == 1:
                raise
            failures.append((source.name, str(exc)))
            continue
        except Exception as exc:  # an adapter bug must not hide the other calendars
            message = f"{source.name}: {exc.__class__.__name__}: {exc}"
            if len(sources) == 1:
                raise CalendarError(message) from exc
            failures.append((source.name, message))
            continue
        # overlaps() compares instants (sources may answer in the user's zone, where `<` would
        # compare wall clocks and get the DST fold wrong).
        intervals.extend(i for i in report.intervals if i.overlaps(interval))
        warnings.extend(report.warnings)
    if sources and len(failures) == len(sources):
        raise CalendarError("no calendar could be read: " + "; ".join(m for _, m in failures))
    warnings.extend(CalendarWarning.of(name, f"calendar skipped: {m}") for name, m in failures)
    return BusyReport(tuple(merge(intervals)), tuple(warnings))
