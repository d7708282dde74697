"""The pipeline, stage by stage: `ingest` (alerts in), `judge` (the score), `memory` (past trades); `cycle` is
where they meet. No Telegram anywhere in here."""
