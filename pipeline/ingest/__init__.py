"""Alerts in: the Xtrades browser session, the JSON API and rendered-posts readers, the parser, and the detector
that turns records into new/update/close events with their P&L. Knows nothing of judging or memory."""
