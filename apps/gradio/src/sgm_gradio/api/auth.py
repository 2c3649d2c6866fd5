"""The API key: required when the server listens beyond this machine, checked on every API route.

A client sends it as `Authorization: Bearer KEY`, or as the password of HTTP basic authentication (what
AUTOMATIC1111's `--api-auth` clients, such as `webuiapi`'s `set_auth`, send; the user name is not checked)."""

import base64
import binascii
import ipaddress
import os
import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request

API_KEY_ENV = "SGM_API_KEY"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_problem(host: str, key: str | None) -> str | None:
    """Why the server may not start with this address and key, or None."""
    if key is None and not is_loopback(host):
        return (f"--host {host} lets other machines in: give an API key with --api-key KEY (or ${API_KEY_ENV}); "
                f"clients send it as 'Authorization: Bearer KEY'")  # fmt: skip
    if key is not None and len(key) < 8:
        return "--api-key must be at least 8 characters"
    return None


def default_api_key() -> str | None:
    return os.environ.get(API_KEY_ENV) or None


def _sent_key(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def key_check(key: str | None) -> Callable[[Request], None]:
    """A FastAPI dependency refusing requests without `key` (a 401); with no key, everything passes."""

    def check(request: Request) -> None:
        if key is None:
            return
        sent = _sent_key(request)
        if sent is None or not secrets.compare_digest(sent.encode(), key.encode()):
            raise HTTPException(status_code=401, detail="this API needs its key: send 'Authorization: Bearer KEY'",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    return check
