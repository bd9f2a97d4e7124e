"""Config validation: every mistake names the file, the key and what was expected."""

from pathlib import Path

import pytest

from earful import config as cfg

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
[[brands]]
name = "Acme"
keywords = ["acme"]

[[brands.sources]]
type = "feed"
url = "https://example.com/feed.xml"
"""


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_committed_example_is_the_starter_and_loads():
    example = ROOT / "config.example.toml"
    assert example.read_text() == cfg.STARTER, "config.example.toml drifted: run `earful init`"
    config = cfg.load(example, need_secrets=True)
    assert [b.name for b in config.brands] == ["Acme"]
    assert [s.type for s in config.brands[0].sources] == ["feed", "hackernews"]
    assert config.serve == {"host": "127.0.0.1", "port": 8001}


def test_defaults_fill_in(tmp_path):
    config = cfg.load(write(tmp_path, MINIMAL))
    assert config.database == Path("data/earful.db")
    assert config.http["max_pages"] == 10
    assert config.smtp is None
    source = config.brands[0].sources[0]
    assert source.match is True and source.enabled is True


@pytest.mark.parametrize(
    "text, expected",
    [
        (MINIMAL.replace('url = "https', 'urll = "https'),
         "unknown key 'brands[0].sources[0].urll' (did you mean 'url'?)"),
        (MINIMAL + "\n[detection]\nfalse_alarm_per_month = 2\n",
         "unknown key 'detection.false_alarm_per_month' (did you mean 'false_alarms_per_month'?)"),
        (MINIMAL + "\n[serve]\nport = \"8001\"\n", "serve.port: expected an integer"),
        (MINIMAL.replace('type = "feed"', 'type = "feeds"'),
         "brands[0].sources[0].type: expected one of feed, hackernews, reddit, schemaorg, "
         "trustpilot, appstore, googleplay, css, got 'feeds' (did you mean 'feed'?)"),
        (MINIMAL.replace('keywords = ["acme"]', "keywords = []"),
         "brands[0].keywords: give at least one keyword"),
        (MINIMAL.replace('url = "https://example.com/feed.xml"', ""),
         "brands[0].sources[0].url is missing"),
        ("[brand]\nname = 'x'\n", "unknown key 'brand' (did you mean 'brands'?)"),
        ("[earful\n", "not valid TOML"),
        (MINIMAL + "\n[smtp]\nhost = 'mail'\nsecurity = 'ssl'\n",
         "smtp.security: expected 'starttls', 'tls' or 'none', got 'ssl'"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message
    assert "\n" not in message


def test_missing_config_file_says_how_to_make_one(tmp_path):
    with pytest.raises(cfg.ConfigError, match="config file not found .*earful init"):
        cfg.load(tmp_path / "nope.toml")


REDDIT = MINIMAL + '\n[[brands.sources]]\ntype = "reddit"\nsubreddits = ["acme"]\n'


def test_reddit_needs_its_secrets_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(cfg.ENV_REDDIT_ID, raising=False)
    monkeypatch.delenv(cfg.ENV_REDDIT_SECRET, raising=False)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(write(tmp_path, REDDIT))
    assert "brands[0].sources[1] (reddit) needs the environment variable " \
           "EARFUL_REDDIT_CLIENT_ID and EARFUL_REDDIT_CLIENT_SECRET" in str(info.value)
    monkeypatch.setenv(cfg.ENV_REDDIT_ID, "id")
    monkeypatch.setenv(cfg.ENV_REDDIT_SECRET, "s3cret-value")
    config = cfg.load(write(tmp_path, REDDIT))
    assert config.secrets.reddit_client_secret == "s3cret-value"
    assert "s3cret" not in repr(config)


def test_secrets_in_the_config_file_are_refused(tmp_path):
    text = REDDIT.replace("[[brands]]", "[reddit]\nclient_secret = 'oops'\n\n[[brands]]")
    with pytest.raises(cfg.ConfigError, match="unknown key 'reddit.client_secret'"):
        cfg.load(write(tmp_path, text))


def test_smtp_user_needs_password_env(tmp_path, monkeypatch):
    monkeypatch.delenv(cfg.ENV_SMTP_PASSWORD, raising=False)
    text = MINIMAL + "\n[smtp]\nhost = 'mail.example'\nusername = 'bot'\n"
    with pytest.raises(cfg.ConfigError, match="EARFUL_SMTP_PASSWORD must hold the SMTP password"):
        cfg.load(write(tmp_path, text))


def test_review_sources_do_not_filter_by_keyword_by_default(tmp_path):
    text = MINIMAL + '\n[[brands.sources]]\ntype = "trustpilot"\nurl = "https://t.example/r"\n'
    config = cfg.load(write(tmp_path, text))
    assert [s.match for s in config.brands[0].sources] == [True, False]


def test_db_override_from_argument_and_environment(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL)
    monkeypatch.setenv(cfg.ENV_DB, str(tmp_path / "env.db"))
    assert cfg.load(path).database == tmp_path / "env.db"
    assert cfg.load(path, db=tmp_path / "arg.db").database == tmp_path / "arg.db"


@pytest.mark.parametrize(
    "block, expected",
    [
        ("[[alerts.subscribers]]\nemail = 'cmo@example.com'\nmode = 'digests'\n",
         "alerts.subscribers[0].mode: expected 'instant' or 'digest' or 'both', got 'digests'"),
        ("[[alerts.subscribers]]\nemail = 'cmo@example.com'\ndigset = 'weekly'\n",
         "unknown key 'alerts.subscribers[0].digset' (did you mean 'digest'?)"),
        ("[[alerts.subscribers]]\nmode = 'digest'\n", "alerts.subscribers[0].email is missing"),
    ],
)
def test_subscribers_are_validated(tmp_path, block, expected):
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(write(tmp_path, block + MINIMAL))
    assert expected in str(info.value)


def test_a_valid_subscriber_list_loads(tmp_path):
    block = ("[[alerts.subscribers]]\nemail = 'cmo@example.com'\nmode = 'digest'\n"
             "digest = 'weekly'\n")
    config = cfg.load(write(tmp_path, block + MINIMAL))
    assert config.alerts["subscribers"] == [{"email": "cmo@example.com", "mode": "digest",
                                             "digest": "weekly"}]


def test_every_source_type_in_the_config_has_a_collector(tmp_path):
    # config.py and sources.py must not drift apart: build each type's collectors.
    from earful.sources import Sources

    blocks = {
        "feed": 'url = "https://f.example/feed.xml"', "hackernews": "",
        "reddit": "subreddits = ['acme']", "schemaorg": 'url = "https://s.example/p"',
        "trustpilot": 'url = "https://www.trustpilot.com/review/acme.example"',
        "appstore": 'app_id = "123"\ncountries = ["us", "gb"]',
        "googleplay": 'app_id = "com.acme.app"\nlang = ["en", "de"]',
        "css": 'url = "https://r.example/"\nreview = ".r"\ntext = ".t"',
    }
    assert set(blocks) == set(cfg.SOURCE_KEYS)
    text = MINIMAL + "".join(f"\n[[brands.sources]]\ntype = '{t}'\n{b}\n"
                             for t, b in blocks.items())
    config = cfg.parse(__import__("tomllib").loads(text), tmp_path / "c.toml",
                       env={cfg.ENV_REDDIT_ID: "i", cfg.ENV_REDDIT_SECRET: "s"})
    sources = Sources(config)
    targets = {s.type: [t for _, t in sources(config, config.brands[0], s)]
               for s in config.brands[0].sources if s.type in blocks}
    assert targets["appstore"] == ["us:123", "gb:123"]
    assert targets["googleplay"] == ["en-us:com.acme.app", "de-us:com.acme.app"]
    assert targets["reddit"] == ["search:acme", "r/acme/new", "r/acme/comments"]
    assert all(targets[t] for t in blocks)
