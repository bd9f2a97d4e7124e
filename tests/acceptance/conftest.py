"""The shared corpus (<repo>/../shared/corpus) and PRAW cassette replay through betamax."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def corpus_path(*parts: str) -> Path:
    """A corpus file, or skip the test saying where it was looked for."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus file not found: {path} (clone ../shared beside the repo)")
    return path


def pytest_collection_modifyitems(items):
    for item in items:
        if "acceptance" in str(item.fspath):
            item.add_marker(pytest.mark.acceptance)


try:
    from betamax import Betamax
    from betamax.serializers import BaseSerializer
except ImportError:  # pragma: no cover - the reddit corpus tests skip without it
    Betamax = None
else:

    class PrawCassettes(BaseSerializer):
        """Reads PRAW's cassette files (``interactions``, not betamax's ``http_interactions``)."""

        name = "praw-cassette"
        stored_as_binary = False

        @staticmethod
        def generate_cassette_name(cassette_library_dir, cassette_name):
            return os.path.join(cassette_library_dir, f"{cassette_name}.json")

        def serialize(self, cassette_data):
            raise RuntimeError("corpus cassettes are read-only")

        def deserialize(self, cassette_data):
            data = json.loads(cassette_data) if cassette_data else {}
            interactions = []
            for recorded in data.get("interactions", []):
                request = dict(recorded["request"])
                if not isinstance(request.get("body"), dict):
                    request["body"] = {"string": request.get("body") or "", "encoding": "utf-8"}
                response = dict(recorded["response"])
                # Placeholders (<ACCESS_TOKEN> ...) changed the body length, and the body is
                # stored decoded: recorded length/encoding headers would break the replay.
                response["headers"] = {
                    k: v for k, v in response["headers"].items()
                    if k.lower() not in ("content-length", "transfer-encoding",
                                         "content-encoding")}
                response["body"] = {"encoding": "utf-8", **response["body"]}
                interactions.append({"request": request, "response": response,
                                     "recorded_at": recorded.get("recorded_at")})
            return {"http_interactions": interactions, "recorded_with": "praw tests"}

    Betamax.register_serializer(PrawCassettes)
