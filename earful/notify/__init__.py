"""Notifications: one outbox, many channels (email, Slack, Teams, a JSON webhook).

Each module is one concern and imports only modules below it; ``stage`` alone knows them
all. This file imports nothing, so any module of the package can be imported on its own.

    stage      queue periodic and instant alerts; per alert and channel: render, deliver, record
    instant    per-mention alerts (a low review, a severity term, a post with reach)
    outbox     alert rows, recipients, channels per alert, claims, idempotency keys
    evidence / digest / health   what an email shows, read from the store (plain data)
    render     data -> subject, text, HTML (Jinja2 templates) and a channel-neutral card
    mail       MIME, SMTP, .eml            channels   Slack, Teams and webhook payloads + POST
    text       safe text and links (no I/O)          sql   a small row helper
"""
