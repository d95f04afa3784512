-- 数据多跑路 without anyone asking by hand (issue 20 item 2, decision 0041).

-- At the accepting region: the applicant's consent to fetch the item's shareable materials by
-- data sharing, recorded with the application (the clerk's record of the signed consent at a
-- window, the applicant's online confirmation in 全程网办). It travels in the `forwarded`
-- event; the processing region asks the providers on it. NULL: no consent, the materials
-- come on paper.
ALTER TABLE cases ADD COLUMN evidence_consent jsonb;
