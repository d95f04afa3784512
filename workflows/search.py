"""Custom search attributes that make cases findable (registered by `tongban stack up`)."""

from temporalio.common import SearchAttributeKey

CASE_NO = SearchAttributeKey.for_keyword("CaseNo")
ITEM_CODE = SearchAttributeKey.for_keyword("ItemCode")
ORIGIN_REGION = SearchAttributeKey.for_keyword("OriginRegion")
PROCESSING_REGION = SearchAttributeKey.for_keyword("ProcessingRegion")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
DEADLINE = SearchAttributeKey.for_datetime("Deadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
