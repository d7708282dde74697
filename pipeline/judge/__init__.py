"""Judging a trade: market context, options maths, the strategies, the AI panel (`consensus/`) and the score
that turns them into one number per alert."""
