"""Short-lived links to download report objects (issue #8.12).

On AWS a link is an S3 pre-signed GET. moto checks neither the signature nor the expiry of such a
link, so on the local stack (``ITASK_LOCAL_DOWNLOAD_URL`` set, which the stack on AWS never sets)
links point at the local stack's download route instead: signed here with HMAC-SHA256 over the
object key, the expiry and the file name, and checked there before a byte is served.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

LOCAL_DOWNLOAD_PATH = "/local-downloads/"


def sign(secret: str, object_key: str, expires: int, name: str) -> str:
    message = "\n".join(("GET", object_key, str(expires), name)).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def local_link(base_url: str, secret: str, object_key: str, expires: int, name: str) -> str:
    signature = sign(secret, object_key, expires, name)
    query = urlencode({"expires": expires, "name": name, "signature": signature})
    return f"{base_url.rstrip('/')}{LOCAL_DOWNLOAD_PATH}{quote(object_key, safe='/')}?{query}"


def link_is_valid(secret: str, object_key: str, expires: str, name: str, signature: str, now: float) -> bool:
    """The signature is ours for exactly this key, expiry and name, and the expiry has not passed."""
    if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
        return False
    expected = sign(secret, object_key, int(expires), name)
    return hmac.compare_digest(expected, signature) and int(expires) >= now
