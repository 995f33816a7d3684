"""Outgoing webhooks: subscriptions of URLs to event types, signed deliveries with
retries and a delivery log.

How a receiver verifies a delivery
----------------------------------
Every request is a ``POST`` with a JSON body and these headers:

- ``X-Zhanli-Event-Id``: the CloudEvent id (the same on every retry: deduplicate on it);
- ``X-Zhanli-Event-Type``: the topic, e.g. ``zhanli.directory.employee_upserted.v1``;
- ``X-Zhanli-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Zhanli-Signature``: ``v1=<hex>`` where ``hex = HMAC-SHA256(secret,
  "<timestamp>.<raw body>")``; right after a secret rotation the header carries two
  comma-separated signatures (new secret first, old one during the grace period).

A receiver reads the raw body bytes (before any JSON parsing), recomputes the HMAC with
its secret, compares it in constant time with each ``v1=`` value, and refuses the
request when none matches or when the timestamp is more than a tolerance window (5
minutes is usual) away from its own clock; that stops replays. In Python::

    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, "sha256").hexdigest()
    ok = abs(time.time() - int(ts)) <= 300 and any(
        hmac.compare_digest(expected, part.strip()[3:])
        for part in signature.split(",") if part.strip().startswith("v1=")
    )

A 2xx answer means delivered; anything else (or a timeout) is retried with exponential
backoff and jitter until the attempts run out, then the delivery is ``failed`` and can be
re-queued by hand. Deliveries are at least once and not ordered.

WeCom and DingTalk group robots do not check these headers; they get a robot text
message (``{"msgtype": "text", ...}``) with a short bilingual summary that names the
event type and its aggregate id, never the payload. For DingTalk, set the robot's
security to custom keyword "Zhanli" (every message contains it) or an IP allow-list.
"""
