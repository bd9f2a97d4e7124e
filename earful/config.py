"""The only reader of config files and of the environment.

``load(path)`` returns a validated ``Config``. Every problem raises ``ConfigError`` with
one line that names the file, the key and what was expected (with a "did you mean" for
typos). Secrets (Reddit client secret, SMTP password) come only from the environment, or
for Reddit from PRAW's own ``praw.ini``; they never live in the config file.
"""

from __future__ import annotations

import difflib
import email.utils
import os
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_CONFIG = "EARFUL_CONFIG"
ENV_DB = "EARFUL_DB"
ENV_REDDIT_ID = "EARFUL_REDDIT_CLIENT_ID"
ENV_REDDIT_SECRET = "EARFUL_REDDIT_CLIENT_SECRET"
ENV_SMTP_PASSWORD = "EARFUL_SMTP_PASSWORD"
ENV_CHANNEL_URL = "EARFUL_{name}_WEBHOOK_URL"  # a channel's webhook URL: a secret
ENV_TEAM_PASSWORD_HASH = "EARFUL_TEAM_PASSWORD_HASH"  # read by Datasette (metadata.yml $env)
DEFAULT_CONFIG = "config.toml"
DEFAULT_DB = "data/earful.db"


class ConfigError(Exception):
    """A config file, key, value or secret is wrong. The message is one clear line."""


# --- schema -----------------------------------------------------------------------
# Each key: (expected type(s), default, description used in error messages).
# A default of REQUIRED means the key must be given.
REQUIRED = object()
STR, INT, FLOAT, BOOL, LIST, DICT = str, int, (int, float), bool, list, dict

SECTIONS: dict[str, dict[str, tuple[Any, Any, str]]] = {
    "earful": {
        "database": (STR, DEFAULT_DB, "path of the SQLite database"),
        "contact": (STR, "https://github.com/earful/earful", "contact URL sent in the User-Agent"),
        "datasette_url": (STR, "http://127.0.0.1:8001", "public base URL of Datasette, for links"),
        "lock_wait_seconds": (FLOAT, 10, "how long a run waits for an overlapping run"),
        "score_workers": (INT, 0, "processes for scoring a big backlog (0: every core)"),
    },
    "http": {
        "connect_timeout": (FLOAT, 5, "seconds"),
        "read_timeout": (FLOAT, 30, "seconds"),
        "min_delay_seconds": (FLOAT, 1.0, "minimum delay between requests to one host"),
        "max_retries": (INT, 3, "retries on 429/5xx/timeouts"),
        "max_retry_after_seconds": (FLOAT, 60, "longest Retry-After we wait before giving up"),
        "max_pages": (INT, 10, "page cap per target per run"),
        "respect_robots": (BOOL, True, "obey robots.txt"),
        "max_response_mb": (FLOAT, 10, "largest response body read, decoded, in MB"),
        "request_deadline_seconds": (FLOAT, 60, "total time one request may take"),
        "source_deadline_seconds": (FLOAT, 300, "total time one source target may take"),
        "redirect_hosts": (LIST, [], "other hosts redirects may lead to (host or host:port)"),
    },
    "reddit": {
        "username": (STR, "", "your Reddit username, for the User-Agent Reddit requires"),
        "praw_site": (STR, "", "a praw.ini site name to read credentials from"),
        "replace_more_limit": (INT, 4, "MoreComments expansions per post"),
        "oauth_url": (STR, "https://oauth.reddit.com", "API base URL (tests and demo only)"),
        "reddit_url": (STR, "https://www.reddit.com", "auth base URL (tests and demo only)"),
    },
    "detection": {
        "bucket_hours": (INT, 1, "bucket length in hours"),
        "false_alarms_per_month": (FLOAT, 1.0, "false-alarm budget per brand"),
        "min_source_mentions_per_day": (FLOAT, 20.0, "volume needed for a per-source series"),
    },
    "alerts": None,  # filled from AlertsConfig below: its fields hold the defaults
    "smtp": None,  # from SmtpConfig
    "serve": {
        "host": (STR, "127.0.0.1", "address Datasette binds to"),
        "port": (INT, 8001, "port Datasette listens on"),
    },
}


# --- notification sections: typed, frozen; each default is written once, here -----------
def _key(default: Any, kind: Any, desc: str) -> Any:
    return field(default=default, metadata={"type": kind, "desc": desc})


def _required(kind: Any, desc: str) -> Any:
    return field(metadata={"type": kind, "desc": desc})


def _schema(cls: type) -> dict[str, tuple[Any, Any, str]]:
    """A dataclass's fields as a section schema: (type, default or REQUIRED, description)."""
    return {f.name: (f.metadata["type"], REQUIRED if f.default is MISSING else f.default,
                     f.metadata["desc"]) for f in fields(cls) if "type" in f.metadata}


class _Section:
    """Read access by key as well as by attribute (``config.alerts["outbox"]``), for the
    callers written when sections were dicts. Values are the typed ones, except that
    nested entries read back as plain tables."""

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key)
        if isinstance(value, tuple) and value and hasattr(value[0], "__dataclass_fields__"):
            return [{f.name: getattr(v, f.name) for f in fields(v)} for v in value]
        return list(value) if isinstance(value, tuple) else value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if hasattr(self, key) else default


MODES = ("instant", "digest", "both")
FREQUENCIES = ("daily", "weekly")
CHANNEL_TYPES = ("slack", "teams", "webhook")
SEVERITY_TERMS = ("lawsuit", "sued", "data breach", "hacked", "food poisoning", "scam", "fraud",
                  "recall", "class action", "injured")


@dataclass(frozen=True)
class Subscriber(_Section):
    email: str = _required(STR, "the subscriber's address")
    mode: str = _key("instant", STR, "instant, digest or both")
    digest: str = _key("daily", STR, "daily or weekly")


@dataclass(frozen=True)
class InstantRule(_Section):
    """``[[alerts.instant]]``: one brand's alerts that go out per mention, not per spike."""

    brand: str = _required(STR, "the brand these instant alerts are for")
    enabled: bool = _key(True, BOOL, "set false to pause them")
    max_stars: float = _key(0, FLOAT, "a new review at or below this many stars (0: off)")
    severity_terms: tuple[str, ...] = _key(SEVERITY_TERMS, LIST,
                                           "words or phrases that make a mention urgent")
    min_score: int = _key(0, INT, "a post with at least this score/points (0: off)")
    min_comments: int = _key(0, INT, "a post with at least this many comments (0: off)")
    max_per_hour: int = _key(6, INT, "instant alerts per hour; beyond it they wait for the digest")
    lookback_hours: int = _key(24, INT, "only mentions written this recently count as new")


@dataclass(frozen=True)
class AlertsConfig(_Section):
    recipients: tuple[str, ...] = _key((), LIST, "email addresses")
    sender: str = _key("earful@localhost", STR, "From: address")
    outbox: str = _key("data/outbox", STR, "folder for .eml files when no SMTP is configured")
    worst_mentions: int = _key(8, INT, "mentions quoted in an alert")
    send_closing_note: bool = _key(False, BOOL, "email when an episode ends")
    subscribers: tuple[Subscriber, ...] = _key(
        (), LIST, "who gets what: [[alerts.subscribers]] email, mode, digest")
    digest_hour: int = _key(7, INT, "UTC hour after which the last day's or week's digest goes out")
    health_alerts: bool = _key(True, BOOL, "email when a source keeps failing or goes silent")
    instant: tuple[InstantRule, ...] = _key(
        (), LIST, "per-mention alerts: [[alerts.instant]] brand, max_stars, severity_terms...")


@dataclass(frozen=True)
class SmtpConfig(_Section):
    host: str = _required(STR, "SMTP server host name")
    port: int = _key(587, INT, "SMTP port")
    security: str = _key("starttls", STR, "starttls, tls or none")
    username: str = _key("", STR, "SMTP user; the password comes from " + ENV_SMTP_PASSWORD)
    timeout: float = _key(30, FLOAT, "seconds")
    ca_file: str = _key("", STR, "CA bundle to trust instead of the system's (a private relay)")
    helo: str = _key("", STR, "name sent in EHLO (default: this host's name)")


@dataclass(frozen=True)
class ChannelConfig(_Section):
    """``[channels.NAME]``: a Slack, Teams or generic JSON webhook. Its URL is a secret, read
    from the environment (``EARFUL_<NAME>_WEBHOOK_URL``), never from this file."""

    name: str
    type: str = _required(STR, "slack, teams or webhook")
    mode: str = _key("instant", STR, "instant, digest or both")
    digest: str = _key("daily", STR, "daily or weekly")
    brands: tuple[str, ...] = _key((), LIST, "only these brands' alerts (default: all)")
    timeout: float = _key(10, FLOAT, "seconds")

    @property
    def url_env(self) -> str:
        return channel_url_env(self.name)


def channel_url_env(name: str) -> str:
    return ENV_CHANNEL_URL.format(name=re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_"))


SECTIONS["alerts"] = _schema(AlertsConfig)
SECTIONS["smtp"] = _schema(SmtpConfig)

BRAND_KEYS: dict[str, tuple[Any, Any, str]] = {
    "name": (STR, REQUIRED, "the brand's display name"),
    "keywords": (LIST, REQUIRED, "words and \"quoted phrases\" that mean the brand"),
    "exclude": (LIST, [], "terms that mean a mention is not about the brand"),
    "exclude_authors": (LIST, [], "authors to ignore (e.g. the brand's own accounts)"),
    "exclude_subreddits": (LIST, [], "subreddits to ignore"),
    "lexicon": (DICT, {}, "sentiment overrides, word = valence (-4..4)"),
    "sources": (LIST, [], "the sources to watch"),
    "competitor": (BOOL, False, "a competitor: collected and charted, never alerted on"),
}

COMMON_SOURCE_KEYS: dict[str, tuple[Any, Any, str]] = {
    "type": (STR, REQUIRED, "source type"),
    "enabled": (BOOL, True, "set false to pause this source"),
    "match": (BOOL, True, "keep only mentions that match the brand's keywords"),
}

SOURCE_KEYS: dict[str, dict[str, tuple[Any, Any, str]]] = {
    "feed": {"url": (STR, REQUIRED, "RSS or Atom feed URL, e.g. a Google Alerts feed")},
    "hackernews": {
        "query": (STR, "", "search terms (default: the brand's keywords)"),
        "base_url": (STR, "https://hn.algolia.com", "Algolia API base URL"),
    },
    "reddit": {
        "search": (BOOL, True, "site-wide search for the brand's keywords"),
        "subreddits": (LIST, [], "subreddits whose new posts and comments are read"),
        "comments": (BOOL, True, "read comment trees of matched posts"),
    },
    "schemaorg": {"url": (STR, REQUIRED, "a page with schema.org Review markup")},
    "trustpilot": {"url": (STR, REQUIRED, "a Trustpilot company page URL")},
    "appstore": {
        "app_id": (STR, REQUIRED, "the App Store app id (digits)"),
        "countries": (LIST, ["us"], "two-letter store countries"),
        "base_url": (STR, "https://itunes.apple.com", "RSS feed base URL"),
    },
    "googleplay": {
        "app_id": (STR, REQUIRED, "the Android package name, e.g. com.whatsapp"),
        "lang": (LIST, ["en"], "review languages (Play's hl), e.g. en, de, pt-BR"),
        "countries": (LIST, ["us"], "two-letter store countries (Play's gl)"),
        "base_url": (STR, "https://play.google.com", "Google Play base URL"),
    },
    "css": {
        "url": (STR, REQUIRED, "first page URL"),
        "review": (STR, REQUIRED, "CSS selector of one review block"),
        "text": (STR, REQUIRED, "selector of the review text inside a block"),
        "rating": (STR, "", "selector of the rating"),
        "date": (STR, "", "selector of the date"),
        "author": (STR, "", "selector of the author"),
        "title": (STR, "", "selector of the title"),
        "next": (STR, "", "selector of the next-page link"),
    },
}
# Allowed ranges of the numeric settings (inclusive; nan and inf are never in range). A value
# outside would crash every run (bucket_hours = 0), hang it (min_delay_seconds = inf) or
# silently stop alerts (false_alarms_per_month = 0 or 1e9), so it is refused at load instead.
# false_alarms_per_month: 0.01 (one a century of months) to 30 (one a day); past ~100 the
# thresholds turn negative and the detector stays in one endless episode.
RANGES: dict[str, tuple[float, float]] = {
    "earful.lock_wait_seconds": (0, 3600),
    "earful.score_workers": (0, 256),
    "http.connect_timeout": (0.01, 600),
    "http.read_timeout": (0.01, 600),
    "http.min_delay_seconds": (0, 600),
    "http.max_retries": (0, 20),
    "http.max_retry_after_seconds": (0, 3600),
    "http.max_pages": (1, 100_000),
    "http.max_response_mb": (0.001, 1024),
    "http.request_deadline_seconds": (0.1, 3600),
    "http.source_deadline_seconds": (0.1, 86_400),
    "reddit.replace_more_limit": (0, 1000),
    "detection.bucket_hours": (1, 24),
    "detection.false_alarms_per_month": (0.01, 30),
    "detection.min_source_mentions_per_day": (0, 1_000_000),
    "alerts.worst_mentions": (1, 100),
    "alerts.digest_hour": (0, 23),
    "smtp.port": (1, 65535),
    "smtp.timeout": (0.01, 600),
    "serve.port": (1, 65535),
}
# Strings end up in mail headers, SMTP commands, the User-Agent and URLs: a line break there
# is header injection or a crash at send time, so no setting may hold a control character.
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")

# Review pages of the brand itself are about the brand: no keyword filter by default.
MATCH_DEFAULT = {"schemaorg": False, "trustpilot": False, "appstore": False, "googleplay": False,
                 "css": False}


# --- result types -----------------------------------------------------------------
@dataclass
class Source:
    type: str
    options: dict[str, Any]
    enabled: bool = True
    match: bool = True
    where: str = ""  # "brands[0].sources[1]", for error messages

    @property
    def label(self) -> str:
        return f"{self.type} {self.where}"


@dataclass
class Brand:
    name: str
    keywords: list[str]
    exclude: list[str] = field(default_factory=list)
    exclude_authors: list[str] = field(default_factory=list)
    exclude_subreddits: list[str] = field(default_factory=list)
    lexicon: dict[str, float] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    competitor: bool = False  # collected and charted beside ours, never alerted on


@dataclass
class Secrets:
    reddit_client_id: str | None = None
    reddit_client_secret: str | None = None
    smtp_password: str | None = None
    webhook_urls: dict[str, str] = field(default_factory=dict)  # channel name -> URL

    def __repr__(self) -> str:  # never print a secret by accident
        return "Secrets(<hidden>)"


@dataclass
class Config:
    path: Path | None
    database: Path
    earful: dict[str, Any]
    http: dict[str, Any]
    reddit: dict[str, Any]
    detection: dict[str, Any]
    alerts: AlertsConfig
    smtp: SmtpConfig | None
    serve: dict[str, Any]
    brands: list[Brand]
    secrets: Secrets
    channels: tuple[ChannelConfig, ...] = ()

    def brand(self, name: str) -> Brand:
        for brand in self.brands:
            if brand.name == name:
                return brand
        raise ConfigError(f"{self.path}: no brand named {name!r} (brands: "
                          f"{', '.join(b.name for b in self.brands) or 'none'})")


# --- loading ----------------------------------------------------------------------
def config_path(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)


def load(path: str | os.PathLike | None = None, *, db: str | os.PathLike | None = None,
         need_secrets: bool = True, need_brands: bool = True) -> Config:
    """Read and validate the config; ``db`` (or ``$EARFUL_DB``) overrides its database."""
    cfg_path = config_path(path)
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{cfg_path}: config file not found (write a starter one with `earful init`, "
            f"or point --config / ${ENV_CONFIG} at yours)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{cfg_path}: cannot read the config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg_path}: not valid TOML: {exc}") from None
    return parse(raw, cfg_path, db=db, env=os.environ, need_secrets=need_secrets,
                 need_brands=need_brands)


def parse(raw: dict[str, Any], path: Path | None, *, db: str | os.PathLike | None = None,
          env: Any = None, need_secrets: bool = True, need_brands: bool = False) -> Config:
    """Validate a parsed config. ``need_brands``: the command runs the pipeline, so a config
    without brands (an empty or truncated file, most likely) is an error, not a quiet no-op."""
    env = os.environ if env is None else env
    where = str(path) if path else "config"
    _check_keys(raw, {**{k: None for k in SECTIONS}, "brands": None, "channels": None}, where,
                "")
    sections: dict[str, dict[str, Any]] = {}
    for name, schema in SECTIONS.items():
        table = raw.get(name)
        if table is None:
            sections[name] = None if name == "smtp" else _fill({}, schema, where, name)
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        sections[name] = _fill(table, schema, where, name)

    brands_raw = raw.get("brands", [])
    if not isinstance(brands_raw, list):
        raise ConfigError(f"{where}: 'brands' must be an array of tables ([[brands]])")
    brands = [_brand(b, where, f"brands[{i}]") for i, b in enumerate(brands_raw)]
    if need_brands and not brands:
        raise ConfigError(f"{where}: no brands: add a [[brands]] table with a name and keywords "
                          f"(`earful init` writes an example)")
    names = [b.name for b in brands]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{where}: brands: the name {name!r} is used twice")

    _check_fetch_limits(sections["http"], where)
    alerts = _alerts(sections["alerts"], where, {b.name for b in brands})
    smtp = _smtp(sections["smtp"], where)
    channels = _channels(raw.get("channels", {}), where)
    secrets = Secrets(
        reddit_client_id=env.get(ENV_REDDIT_ID) or None,
        reddit_client_secret=env.get(ENV_REDDIT_SECRET) or None,
        smtp_password=env.get(ENV_SMTP_PASSWORD) or None,
        webhook_urls={c.name: env[c.url_env] for c in channels if env.get(c.url_env)},
    )
    if need_secrets:
        _check_secrets(brands, sections, secrets, where)
        missing = [c.url_env for c in channels if c.name not in secrets.webhook_urls]
        if missing:
            raise ConfigError(f"{where}: channels: the webhook URL is a secret, so it comes from "
                              f"the environment: set {' and '.join(missing)}")

    database = Path(db or env.get(ENV_DB) or sections["earful"]["database"])
    return Config(path=path, database=database, brands=brands, secrets=secrets,
                  channels=channels, **{**{name: sections[name] for name in SECTIONS},
                                        "alerts": alerts, "smtp": smtp})


def _check_secrets(brands: list[Brand], sections: dict, secrets: Secrets, where: str) -> None:
    uses_reddit = [s for b in brands for s in b.sources if s.type == "reddit" and s.enabled]
    if uses_reddit and not sections["reddit"]["praw_site"]:
        missing = [n for n, v in ((ENV_REDDIT_ID, secrets.reddit_client_id),
                                  (ENV_REDDIT_SECRET, secrets.reddit_client_secret)) if not v]
        if missing:
            raise ConfigError(
                f"{where}: {uses_reddit[0].where} (reddit) needs the environment variable "
                f"{' and '.join(missing)} (or set reddit.praw_site to use a praw.ini site)"
            )
    smtp = sections["smtp"]
    if smtp and smtp["username"] and not secrets.smtp_password:
        raise ConfigError(f"{where}: smtp.username is set, so the environment variable "
                          f"{ENV_SMTP_PASSWORD} must hold the SMTP password")


def _check_fetch_limits(http: dict[str, Any], where: str) -> None:
    for key in ("max_response_mb", "request_deadline_seconds", "source_deadline_seconds"):
        value = http[key]
        if not 0 < value < float("inf"):  # also false for nan
            raise ConfigError(f"{where}: http.{key}: expected a number above 0, got {value!r}")
    _all_str(http["redirect_hosts"], where, "http.redirect_hosts")


def sign_in_problem(env: Any = None) -> str | None:
    """Why nobody could sign in to `earful serve` (its team password hash), if so."""
    value = (os.environ if env is None else env).get(ENV_TEAM_PASSWORD_HASH, "").strip()
    how = "make one with `.venv/bin/datasette hash-password` and export it"
    if not value:
        return f"{ENV_TEAM_PASSWORD_HASH} is not set: nobody can sign in to triage ({how})"
    if not value.startswith("pbkdf2_sha256$") or value.count("$") != 3:
        return (f"{ENV_TEAM_PASSWORD_HASH} is not a password hash: nobody can sign in to "
                f"triage ({how})")
    return None


def _choice(values: dict[str, Any], key: str, allowed: tuple[str, ...], where: str,
            at: str) -> None:
    if values[key] not in allowed:
        raise ConfigError(f"{where}: {at}.{key}: expected {' or '.join(map(repr, allowed))}, "
                          f"got {values[key]!r}")


def _table(raw: Any, where: str, at: str, form: str) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {at} must be a table ({form})")


def _subscriber(raw: Any, where: str, at: str) -> Subscriber:
    _table(raw, where, at, "[[alerts.subscribers]]")
    values = _fill(raw, _schema(Subscriber), where, at)
    _choice(values, "mode", MODES, where, at)
    _choice(values, "digest", FREQUENCIES, where, at)
    _address(values["email"], where, f"{at}.email")
    return Subscriber(**values)


def _instant(raw: Any, where: str, at: str, brands: set[str]) -> InstantRule:
    _table(raw, where, at, "[[alerts.instant]]")
    values = _fill(raw, _schema(InstantRule), where, at)
    if brands and values["brand"] not in brands:
        raise ConfigError(f"{where}: {at}.brand: no brand named {values['brand']!r}"
                          f"{_did_you_mean(values['brand'], brands)}")
    _all_str(values["severity_terms"], where, f"{at}.severity_terms")
    for key in ("max_per_hour", "lookback_hours", "min_score", "min_comments"):
        if values[key] < 0:
            raise ConfigError(f"{where}: {at}.{key}: expected 0 or more, got {values[key]!r}")
    return InstantRule(**{**values, "severity_terms": tuple(values["severity_terms"])})


def _alerts(values: dict[str, Any], where: str, brands: set[str]) -> AlertsConfig:
    if not 0 <= values["digest_hour"] <= 23:
        raise ConfigError(f"{where}: alerts.digest_hour: expected an hour from 0 to 23, got "
                          f"{values['digest_hour']!r}")
    _all_str(values["recipients"], where, "alerts.recipients")
    for i, address in enumerate(values["recipients"]):
        _address(address, where, f"alerts.recipients[{i}]")
    _address(values["sender"], where, "alerts.sender")
    return AlertsConfig(**{
        **values, "recipients": tuple(values["recipients"]),
        "subscribers": tuple(_subscriber(e, where, f"alerts.subscribers[{i}]")
                             for i, e in enumerate(values["subscribers"])),
        "instant": tuple(_instant(e, where, f"alerts.instant[{i}]", brands)
                         for i, e in enumerate(values["instant"]))})


def _smtp(values: dict[str, Any] | None, where: str) -> SmtpConfig | None:
    if values is None:
        return None
    if values["security"] not in ("starttls", "tls", "none"):
        raise ConfigError(f"{where}: smtp.security: expected 'starttls', 'tls' or 'none', "
                          f"got {values['security']!r}")
    return SmtpConfig(**values)


def _channels(raw: Any, where: str) -> tuple[ChannelConfig, ...]:
    _table(raw, where, "channels", "[channels.NAME]")
    out = []
    for name, table in raw.items():
        at = f"channels.{name}"
        _table(table, where, at, f"[{at}]")
        if "url" in table:
            raise ConfigError(f"{where}: {at}.url: a webhook URL is a secret: put it in the "
                              f"environment variable {channel_url_env(name)}, not the file")
        values = _fill(table, _schema(ChannelConfig), where, at)
        _choice(values, "type", CHANNEL_TYPES, where, at)
        _choice(values, "mode", MODES, where, at)
        _choice(values, "digest", FREQUENCIES, where, at)
        _all_str(values["brands"], where, f"{at}.brands")
        out.append(ChannelConfig(name=name, **{**values, "brands": tuple(values["brands"])}))
    return tuple(out)


def _address(value: str, where: str, name: str) -> None:
    """One email address (a display name is fine: ``Earful <earful@example.com>``)."""
    _, addr = email.utils.parseaddr(value)
    if "@" not in addr or any(c in value for c in ",;"):
        raise ConfigError(f"{where}: {name}: expected one email address, got {value!r}")


def _brand(raw: Any, where: str, at: str) -> Brand:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {at} must be a table")
    values = _fill(raw, BRAND_KEYS, where, at)
    if not values["keywords"]:
        raise ConfigError(f"{where}: {at}.keywords: give at least one keyword")
    for key in ("keywords", "exclude", "exclude_authors", "exclude_subreddits"):
        _all_str(values[key], where, f"{at}.{key}")
    for word, valence in values["lexicon"].items():
        _text(word, where, f"{at}.lexicon key")
        if not isinstance(valence, int | float) or isinstance(valence, bool) or \
                not -4 <= valence <= 4:
            raise ConfigError(f"{where}: {at}.lexicon.{word}: expected a number from -4 to 4, "
                              f"got {valence!r}")
    sources = [_source(s, where, f"{at}.sources[{i}]") for i, s in enumerate(values["sources"])]
    return Brand(
        name=values["name"], keywords=values["keywords"], exclude=values["exclude"],
        exclude_authors=values["exclude_authors"], exclude_subreddits=values["exclude_subreddits"],
        lexicon={k.lower(): float(v) for k, v in values["lexicon"].items()}, sources=sources,
        competitor=values["competitor"],
    )


def _source(raw: Any, where: str, at: str) -> Source:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {at} must be a table ([[brands.sources]])")
    kind = raw.get("type")
    if kind not in SOURCE_KEYS:
        hint = _did_you_mean(str(kind), SOURCE_KEYS)
        raise ConfigError(f"{where}: {at}.type: expected one of {', '.join(SOURCE_KEYS)}, "
                          f"got {kind!r}{hint}")
    schema = {**COMMON_SOURCE_KEYS, **SOURCE_KEYS[kind]}
    values = _fill(raw, schema, where, at)
    if "match" not in raw:
        values["match"] = MATCH_DEFAULT.get(kind, True)
    for key, (expected, _, _) in SOURCE_KEYS[kind].items():
        if expected is LIST:
            _all_str(values[key], where, f"{at}.{key}")
    options = {k: v for k, v in values.items() if k not in COMMON_SOURCE_KEYS}
    return Source(type=kind, options=options, enabled=values["enabled"], match=values["match"],
                  where=at)


def _fill(raw: dict[str, Any], schema: dict[str, tuple], where: str, at: str) -> dict[str, Any]:
    _check_keys(raw, schema, where, at)
    out: dict[str, Any] = {}
    for key, (expected, default, desc) in schema.items():
        name = f"{at}.{key}" if at else key
        if key not in raw:
            if default is REQUIRED:
                raise ConfigError(f"{where}: {name} is missing ({desc})")
            out[key] = list(default) if isinstance(default, list) else (
                dict(default) if isinstance(default, dict) else default)
            continue
        value = raw[key]
        ok = isinstance(value, expected) and not (
            isinstance(value, bool) and expected in (INT, FLOAT))
        if not ok:
            raise ConfigError(
                f"{where}: {name}: expected {_type_name(expected)} ({desc}), got {value!r}"
            )
        if isinstance(value, str):
            _text(value, where, name)
        if name in RANGES and not isinstance(value, bool) and isinstance(value, int | float):
            lo, hi = RANGES[name]
            if not lo <= value <= hi:  # also refuses nan and inf
                raise ConfigError(f"{where}: {name}: expected a number from {lo:g} to {hi:g} "
                                  f"({desc}), got {value!r}")
        out[key] = value
    return out


def _check_keys(raw: dict[str, Any], allowed: dict[str, Any], where: str, at: str) -> None:
    for key in raw:
        if key not in allowed:
            name = f"{at}.{key}" if at else key
            raise ConfigError(f"{where}: unknown key '{name}'{_did_you_mean(key, allowed)}")


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _all_str(values: list, where: str, name: str) -> None:
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: {name}: expected a list of non-empty strings, "
                              f"found {value!r}")
        _text(value, where, name)


def _text(value: str, where: str, name: str) -> None:
    if CONTROL.search(value):
        raise ConfigError(f"{where}: {name}: a line break or other control character is not "
                          f"allowed, got {value!r}")


def _type_name(expected: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", list: "a list",
            dict: "a table"}.get(expected, "a number")


STARTER = '''\
# earful configuration. Secrets never go in this file: they come from the environment.
#   Reddit: EARFUL_REDDIT_CLIENT_ID and EARFUL_REDDIT_CLIENT_SECRET (a read-only "script" app
#           from https://www.reddit.com/prefs/apps), or a praw.ini site (reddit.praw_site).
#   SMTP:   EARFUL_SMTP_PASSWORD when smtp.username is set.
#   Slack/Teams/webhooks: EARFUL_<NAME>_WEBHOOK_URL for each [channels.NAME].

[earful]
database = "data/earful.db"                    # or $EARFUL_DB / --db
contact = "https://example.com/about-our-bot"  # sent in the User-Agent so sites can reach you
datasette_url = "http://127.0.0.1:8001"        # base URL for links in alert emails

[http]
min_delay_seconds = 1.0   # politeness: at least this long between requests to one host
max_pages = 10            # page cap per source per run

[reddit]
username = ""             # your Reddit username: Reddit's rules want it in the User-Agent

[detection]
false_alarms_per_month = 1   # sensitivity: at most this many false alerts a month per brand

[alerts]
recipients = ["support@example.com"]
sender = "earful@example.com"
outbox = "data/outbox"       # without [smtp], alerts are written here as .eml files

# [[alerts.instant]]         # per-mention alerts for one brand (off unless listed)
# brand = "Acme"
# max_stars = 2              # a new review at or below 2 stars
# min_score = 500            # a post with this score or more

# [channels.support]         # a Slack webhook; its URL in $EARFUL_SUPPORT_WEBHOOK_URL
# type = "slack"             # slack, teams or webhook
# mode = "instant"           # instant, digest or both

# [smtp]
# host = "smtp.example.com"
# port = 587
# security = "starttls"      # starttls, tls (implicit, usually port 465) or none
# username = "earful@example.com"

[serve]
host = "127.0.0.1"
port = 8001

[[brands]]
name = "Acme"
keywords = ["acme", "\\"acme cloud\\""]   # whole words, case-insensitive; quotes make a phrase
exclude = ["wile e. coyote"]              # a mention containing one of these is dropped
# lexicon = { killer = 0.0 }              # a product called "Killer" is not negative

[[brands.sources]]
type = "feed"                             # RSS/Atom, e.g. a Google Alerts feed
url = "https://www.google.com/alerts/feeds/00000000000000000000/0000000000000000000"

[[brands.sources]]
type = "hackernews"

# [[brands.sources]]
# type = "reddit"
# search = true
# subreddits = ["acme"]

# [[brands.sources]]
# type = "trustpilot"
# url = "https://www.trustpilot.com/review/acme.example"
'''
