"""LTI 1.1 Basic Outcomes: the replaceResult request of spec §8.3 and how its answer is judged."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client

NAMESPACE = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
CONTENT_TYPE = "application/xml"
EXCERPT_CHARS = 500


@dataclass(frozen=True)
class Delivery:
    """What one attempt came to."""

    ok: bool
    transient: bool  # worth retrying (5xx, 408, 429, no answer)
    http_status: int | None
    detail: str  # an excerpt of the answer, or the transport error


def score_text(earned: float, possible: float) -> str:
    """Upstream's textString: the fraction as Python prints a float, ``0`` when nothing is possible."""
    if not possible:
        return "0"
    return str(float(earned) / float(possible))


def fraction(earned: float, possible: float) -> float:
    return float(earned) / float(possible) if possible else 0.0


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def replace_result_xml(sourcedid: str, text: str, message_id: str | None = None) -> bytes:
    """The imsx_POXEnvelopeRequest document (XML declaration, UTF-8, the outcomes namespace)."""
    envelope = ET.Element(_q("imsx_POXEnvelopeRequest"))
    header = ET.SubElement(ET.SubElement(envelope, _q("imsx_POXHeader")), _q("imsx_POXRequestHeaderInfo"))
    ET.SubElement(header, _q("imsx_version")).text = "V1.0"
    ET.SubElement(header, _q("imsx_messageIdentifier")).text = message_id or str(uuid.uuid4())
    request = ET.SubElement(ET.SubElement(envelope, _q("imsx_POXBody")), _q("replaceResultRequest"))
    record = ET.SubElement(request, _q("resultRecord"))
    ET.SubElement(ET.SubElement(record, _q("sourcedGUID")), _q("sourcedId")).text = sourcedid
    score = ET.SubElement(ET.SubElement(record, _q("result")), _q("resultScore"))
    ET.SubElement(score, _q("language")).text = "en"
    ET.SubElement(score, _q("textString")).text = text
    ET.register_namespace("", NAMESPACE)
    return ET.tostring(envelope, encoding="UTF-8", xml_declaration=True)


def signed_headers(url: str, body: bytes, consumer_key: str, secret: str) -> dict[str, str]:
    """OAuth 1.0a HMAC-SHA1 over the request, with ``oauth_body_hash`` (the body is not a form)."""
    oauth = Client(
        consumer_key,
        client_secret=secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )
    _, headers, _ = oauth.sign(
        url, http_method="POST", body=body.decode("utf-8"), headers={"Content-Type": CONTENT_TYPE}
    )
    return {str(name): str(value) for name, value in headers.items()}


def excerpt(body: bytes) -> str:
    return body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]


def is_success(status: int, body: bytes) -> bool:
    """HTTP 200, XML, exactly one imsx_codeMajor in the namespace, and it says ``success``."""
    if status != 200:
        return False
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    codes = list(root.iter(_q("imsx_codeMajor")))
    return len(codes) == 1 and (codes[0].text or "").strip() == "success"


def judge(status: int, body: bytes) -> Delivery:
    """Success as above; 5xx, 408 and 429 are transient; any other answer is a refusal (not retried)."""
    if is_success(status, body):
        return Delivery(True, False, status, excerpt(body))
    transient = status >= 500 or status in (408, 429)
    return Delivery(False, transient, status, excerpt(body))
