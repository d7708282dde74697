"""The AI panel: Claude, DeepSeek and Gemini reviewing an alert in parallel, and a local analyst that needs no
network. `ConsensusPanel` turns their verdicts into one consensus. The SDKs are imported only when an analyst
with a key is built, so importing this package stays cheap."""

from pipeline.judge.consensus.base import ReviewAlert, UsageRecord, Verdict, VerdictPayload
from pipeline.judge.consensus.local import LocalAnalyst
from pipeline.judge.consensus.panel import AnalystConfig, Consensus, ConsensusPanel, build_analysts

__all__ = ["AnalystConfig", "Consensus", "ConsensusPanel", "LocalAnalyst", "ReviewAlert", "UsageRecord", "Verdict",
           "VerdictPayload", "build_analysts"]
