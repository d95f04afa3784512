"""Chinese names of what crosses the exchange, for operators' pages and commands: event types
and the reasons a record was quarantined. A code without a name is shown as it is (and
tests/unit/test_exchange_health.py fails)."""

from __future__ import annotations

from collections.abc import Mapping

from events.models import EventType
from events.rejections import RejectReason

EVENT_LABELS: Mapping[EventType, str] = {
    EventType.FORWARDED: "转办",
    EventType.RECEIPT: "回执",
    EventType.ACCEPTED: "受理",
    EventType.NOT_ACCEPTED: "不予受理",
    EventType.SUPPLEMENT_REQUESTED: "补正通知",
    EventType.SUPPLEMENT_PROVIDED: "补正材料",
    EventType.DECIDED: "办理决定",
    EventType.RESULT_DELIVERED: "结果送达",
    EventType.WITHDRAWN: "撤回申请",
    EventType.CANCELLED: "撤销办件",
    EventType.RECALLED: "收回请求",
    EventType.MATERIAL_CHUNK: "材料分片",
    EventType.DOCUMENT_ISSUED: "文书签发",
    EventType.DEADLINE_WARNING: "时限预警",
    EventType.DEADLINE_BREACHED: "超期通知",
    EventType.REVOCATION_REQUESTED: "撤销请求（联办）",
    EventType.REVOKED: "已撤销决定（联办）",
    EventType.RATED: "好差评",
    EventType.RATING_ANSWERED: "差评答复",
    EventType.EVIDENCE_REQUESTED: "证照调取请求",
    EventType.EVIDENCE_ANSWERED: "证照调取答复",
}

REJECT_REASON_LABELS: Mapping[RejectReason, str] = {
    RejectReason.MALFORMED: "格式错误",
    RejectReason.OVERSIZE: "超过大小上限",
    RejectReason.UNSUPPORTED_VERSION: "版本不支持",
    RejectReason.UNKNOWN_REGION: "未知地区",
    RejectReason.UNKNOWN_KEY: "未知密钥",
    RejectReason.KEY_EXPIRED: "密钥不在有效期",
    RejectReason.KEY_REVOKED: "密钥已吊销",
    RejectReason.BAD_SIGNATURE: "签名无效",
    RejectReason.WRONG_RECIPIENT: "收件地区不符",
    RejectReason.SENDER_NOT_ENTITLED: "发送方无权发送",
    RejectReason.CLOCK_SKEW: "时间偏差过大",
    RejectReason.TOO_OLD: "事件过旧",
    RejectReason.RECEIPT_UNKNOWN_EVENT: "回执指向未知事件",
    RejectReason.RECEIPT_MISMATCH: "回执与所发不符",
    RejectReason.UNKNOWN_TYPE: "未知事件类型",
    RejectReason.INCONSISTENT: "内容与签名头不一致",
    RejectReason.CONFLICTING_DUPLICATE: "同号不同内容",
    RejectReason.DIRECTORY_EXPIRED: "信任目录已过期",
    RejectReason.MATERIAL_MISMATCH: "材料摘要不符",
    RejectReason.MATERIAL_UNREADABLE: "材料无法解封",
    RejectReason.UNSTORABLE: "无法入库",
}


def event_label(event_type: str) -> str:
    try:
        return EVENT_LABELS.get(EventType(event_type), event_type)
    except ValueError:
        return event_type


def reject_reason_label(reason: str) -> str:
    try:
        return REJECT_REASON_LABELS.get(RejectReason(reason), reason)
    except ValueError:
        return reason
