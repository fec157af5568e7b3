"""The local platform's receiver with the delivery history attached: every alert that Alertmanager
sends it is also an entry of the history (a firing alert is the "first alert" of MTTD; critical
alerts of user-facing services are incidents, docs/kpis.md).

    python -m flightdeck.engines.receiver --port P --incidents FILE --metrics-dir DIR --tls-dir DIR

Same flags as `flightdeck.local.receiver`; the history's database comes from the environment
(FLIGHTDECK_HISTORY_MONGODB_URI, FLIGHTDECK_HISTORY_DATABASE), which the local platform sets in
the program's launch file (mode 0600: the URI may hold a password). Writes go through a
background writer with bounded retries, so a database that is down never delays Alertmanager's
webhook; what could not be written is printed to the receiver's log. After each batch the
delivery metrics (`delivery.prom`) are recomputed, since an incident changes them.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from flightdeck.history import alert_entries
from flightdeck.history.mongodb import MongoHistoryStore
from flightdeck.history.writer import HistoryWriter
from flightdeck.local import receiver
from flightdeck.rollout.kpi import refresh_delivery_metrics

URI_VARIABLE = "FLIGHTDECK_HISTORY_MONGODB_URI"
DATABASE_VARIABLE = "FLIGHTDECK_HISTORY_DATABASE"


class AlertHistory:
    """The receiver's `on_alert` hook: queue the alerts' entries, report earlier failures."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer

    def __call__(self, receiver_name: str, payload: dict[str, object]) -> None:
        _, failures = self.writer.take_report()
        for message in failures:
            print(f"receiver: {message}", file=sys.stderr, flush=True)
        self.writer.submit(alert_entries(payload, datetime.now(UTC)))


def main() -> None:
    args = receiver.parse_args()
    uri, database = os.environ.get(URI_VARIABLE), os.environ.get(DATABASE_VARIABLE)
    if not uri or not database:
        print(
            f"receiver: {URI_VARIABLE} or {DATABASE_VARIABLE} is not set: alerts are not "
            "recorded in the delivery history",
            file=sys.stderr,
            flush=True,
        )
        receiver.main()
        return
    store = MongoHistoryStore(uri, database)
    writer = HistoryWriter(
        store, after_writes=lambda: refresh_delivery_metrics(store, args.metrics_dir)
    )
    receiver.main(AlertHistory(writer))


if __name__ == "__main__":
    main()
