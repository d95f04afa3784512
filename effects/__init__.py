"""Effects a region's own systems carry out (payments, refunds, messages, post, supervision)."""
