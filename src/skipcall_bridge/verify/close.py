"""`close` (Close CRM): HMAC-SHA256 keyed with the hex-decoded signature key, over
`close-sig-timestamp` + raw body, hex in `close-sig-hash`; timestamps in seconds, within ±5 min.
A preset of the `hmac` grammar."""

from __future__ import annotations

from skipcall_bridge.verify.hmac import HmacVerifier
from skipcall_bridge.verify.hmac_grammar import HmacGrammar


class CloseVerifier(HmacVerifier):
    def __init__(self, tolerance_seconds: int) -> None:
        super().__init__(
            HmacGrammar.model_validate(
                {
                    "signature": {"header": "close-sig-hash"},
                    "encoding": "hex",
                    "signed": "{timestamp}{body}",
                    "timestamp": {
                        "header": "close-sig-timestamp",
                        "toleranceSeconds": tolerance_seconds,
                    },
                    "keyEncoding": "hex",  # Close's signature_key is a hex string
                }
            )
        )
