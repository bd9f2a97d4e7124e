"""Slack, Microsoft Teams and generic JSON webhooks: a payload per service from a rendered
``Card``, and one POST. Each is small and local: no SDK, no service discovery.

Why not apprise (which covers these and ~100 more): measured on Python 3.11, apprise 2.3.0
is a 14.6 MB package that brings Markdown, oauthlib and requests-oauthlib (another 2.7 MB)
and takes 0.6 s to import, for three services we post to in a few lines of requests; and its
``notify()`` answers an AppriseResult FAILURE with the reason only in its log, while the
outbox stores the reason per channel (HTTP status, Slack's ``no_service``) for the next run
and for ``earful status``.

Mention text is untrusted: it is already cleaned and defanged (``text.clean``), goes into
Slack as ``plain_text`` (no <!channel> pings, no hidden links) and into Teams as TextBlocks.
The webhook URL is a secret: it is passed in, never logged, never put in an error message.
"""

from __future__ import annotations

from typing import Any

import requests

from .mail import DeliveryError
from .render import Card
from .text import clean

SLACK_HEADER_MAX = 150  # Slack's limit for a header block's text
SLACK_TEXT_MAX = 3000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def slack_payload(card: Card, key: str) -> dict[str, Any]:
    """Block Kit: header, the numbers, the three worst mentions, links, the chart image."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(card.headline,
                                                                       SLACK_HEADER_MAX)}},
        {"type": "section", "text": {"type": "plain_text",
                                     "text": _cut("\n".join(card.facts), SLACK_TEXT_MAX)}}]
    if card.chart_url:
        blocks.append({"type": "image", "image_url": card.chart_url,
                       "alt_text": "Negative mentions against the usual level"})
    for m in card.mentions:
        blocks.append({"type": "section", "text": {
            "type": "plain_text", "text": _cut(f"“{m['quote']}”\n{m['meta']}", SLACK_TEXT_MAX)}})
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": card.link_label},
                "url": card.link}] if card.link else []
    buttons += [{"type": "button", "text": {"type": "plain_text", "text": "Original"},
                 "url": m["original"]} for m in card.mentions[:1] if m.get("original")]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [
        {"type": "plain_text", "text": f"earful · {card.kind} · ref {key}"}]})
    return {"text": _cut(card.headline, SLACK_TEXT_MAX), "blocks": blocks}


def teams_payload(card: Card, key: str) -> dict[str, Any]:
    """An Adaptive Card in the message envelope Teams' incoming webhooks take."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": card.headline, "weight": "Bolder", "size": "Medium",
         "wrap": True},
        *({"type": "TextBlock", "text": line, "wrap": True} for line in card.facts)]
    if card.chart_url:
        body.append({"type": "Image", "url": card.chart_url,
                     "altText": "Negative mentions against the usual level"})
    for m in card.mentions:
        body.append({"type": "Container", "separator": True, "items": [
            {"type": "TextBlock", "text": f"“{m['quote']}”", "wrap": True},
            {"type": "TextBlock", "text": m["meta"], "isSubtle": True, "size": "Small",
             "wrap": True}]})
    body.append({"type": "TextBlock", "text": f"earful · {card.kind} · ref {key}",
                 "isSubtle": True, "size": "Small", "wrap": True})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4", "body": body}
    if card.link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": card.link_label,
                               "url": card.link}]
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": content}]}


def webhook_payload(card: Card, key: str, alert: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON for your own receiver; ``idempotency_key`` lets it drop a repeat."""
    return {"idempotency_key": key, "alert_id": alert["id"], "kind": card.kind,
            "brand": card.brand, "event_at": alert.get("event_at"),
            "headline": card.headline, "facts": card.facts,
            "mentions": [{"quote": m["quote"], "meta": m["meta"], "url": m.get("original"),
                          "earful_url": m["earful"]} for m in card.mentions],
            "link": card.link, "chart_url": card.chart_url}


def payload(kind: str, card: Card, key: str, alert: dict[str, Any]) -> dict[str, Any]:
    if kind == "slack":
        return slack_payload(card, key)
    if kind == "teams":
        return teams_payload(card, key)
    return webhook_payload(card, key, alert)


def send_webhook(name: str, url: str, body: dict[str, Any], key: str, timeout: float) -> str:
    """POST one payload. Returns where it went (the channel's name, never its URL)."""
    try:
        response = requests.post(url, json=body, timeout=(min(5.0, timeout), timeout),
                                 allow_redirects=False,
                                 headers={"Idempotency-Key": key, "User-Agent": "earful"})
    except requests.RequestException as exc:
        # The exception's text holds the URL, which is the secret: name the failure only.
        raise DeliveryError(f"channel {name}: {type(exc).__name__} (receiver unreachable)"
                            ) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"channel {name}: HTTP {response.status_code} "
                            f"{clean(response.text, 100)}".rstrip())
    return f"channel:{name}"
