"""SOCIALACCOUNT_PROVIDERS as settings.py builds it when HF_OAUTH_CLIENT_ID is set, for tests
that turn Hugging Face sign-in on."""

from __future__ import annotations

from typing import Any


def hugging_face_providers(server_url: str, **provider_settings: Any) -> dict[str, Any]:
    return {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "huggingface",
                    "name": "Hugging Face",
                    "client_id": "client-id",
                    "secret": "client-secret",
                    "settings": {"server_url": server_url, **provider_settings},
                }
            ]
        }
    }
