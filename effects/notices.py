"""What the applicant is told when an effect reaches them, in Chinese: the case number, what
happened and what to do next, and no more personal data than that (the phone travels beside
the text, never in it)."""

from __future__ import annotations

# Effects the applicant hears of; every other effect concerns the region's own systems only.
_SAID: dict[str, str] = {
    "refund-fee": "已缴纳的费用 {yuan} 元已退还，请留意原支付渠道的到账信息。",
    "return-materials": "您提交的原件已退还，请到受理窗口领取或留意邮寄信息。",
    "void-receipt": "本案的收件凭证已作废。",
    "post-result": "办理结果已交邮寄，请留意快递信息；收到后请在网上确认签收。",
}
# The effects whose call needs the applicant's phone (an SMS gateway, a courier).
NEEDS_PHONE = frozenset({"notify-applicant", "refund-fee", "return-materials", "post-result"})
# The effects whose call needs the applicant's postal address (the post adapter).
NEEDS_ADDRESS = frozenset({"post-result"})


def applicant_notice(
    region_name: str, case_no: str, effect: str, amount_fen: int, detail: str
) -> str:
    """The message for `effect`, or "" when the applicant is not told of it.

    A `notify-applicant` effect's detail is the workflow's sentence to the applicant."""
    if effect == "notify-applicant":
        said = detail
    elif effect in _SAID:
        said = _SAID[effect].format(yuan=f"{amount_fen / 100:.2f}")
    else:
        return ""
    return f"【{region_name}政务服务】您的申请（案件编号 {case_no}）：{said}"
