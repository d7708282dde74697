"""The composition root: settings, the Application, its jobs, and the command line."""

import os

# Telegram's retry_after as a timedelta (PTB's coming default); delivery reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "1")
