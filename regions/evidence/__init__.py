"""数据多跑路 at a regional node: asking for evidence, answering, and the records of both
(issue 20, decision 0041)."""
