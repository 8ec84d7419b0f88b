"""The milestones calendar feed in the reader's language (the words of projections.feeds.FeedWords)."""

from __future__ import annotations

from typing import Any

from projections.feeds import FeedWords
from web.i18n import Translator


class TranslatedFeedWords(FeedWords):
    def __init__(self, t: Translator) -> None:
        self.t = t

    def calendar_name(self, project: str) -> str:
        return self.t.gettext("{project} — milestones", project=project)

    def summary(self, m: Any) -> str:
        return self.t.gettext("{title} ({stage}, {status})", title=m.title, stage=self.t.stage_name(m.stage),
                              status=self.t.word("milestone status", m.status))

    def description(self, m: Any) -> list[str]:
        t = self.t
        lines = [t.gettext("Status: {status}", status=t.word("milestone status", m.status)),
                 t.gettext("Due: {date}", date=t.date(m.due_on))]
        if m.due_on != m.original_due_on:
            lines.append(t.ngettext("Originally due: {date} (slipped {n} day)",
                                    "Originally due: {date} (slipped {n} days)", m.slip_days,
                                    date=t.date(m.original_due_on)))
        if m.deliverables:
            lines.append(t.gettext("Deliverables: {items}", items=t.join(list(m.deliverables))))
        return lines
