"""The AI panel: Claude, DeepSeek and Gemini reviewing an alert in parallel, and a local analyst that needs no
network. `panel.ConsensusPanel` turns their verdicts into one consensus."""
