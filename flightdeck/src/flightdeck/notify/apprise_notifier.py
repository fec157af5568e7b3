"""Notifier through Apprise: one URL per destination (slack://, mailto://, pagerduty://, json://)."""

from __future__ import annotations

import apprise

from flightdeck.core.errors import ConfigError, RetryableError

_TYPES = {
    "critical": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}


class AppriseNotifier:
    def __init__(self, urls: list[str]) -> None:
        self._apprise = apprise.Apprise()
        for url in urls:
            if not self._apprise.add(url):
                # Apprise logs the URL itself, which may hold a token: name only the scheme.
                raise ConfigError(
                    f"notifications.urls: not a notification URL ({url.split(':')[0]}://...)"
                )
        self.count = len(urls)

    def notify(self, title: str, body: str, severity: str) -> None:
        if self.count == 0:
            return
        ok = self._apprise.notify(title=title, body=body, notify_type=_TYPES.get(severity, "info"))
        if not ok:
            raise RetryableError(f"a notification could not be delivered: {title}")
