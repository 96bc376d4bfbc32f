"""`hmac-sha256`: HMAC-SHA256 of the raw body in one header, hex or base64, with an optional
prefix such as `sha256=` (GitHub style). Options: `header`, `encoding`, `prefix`. A preset of the
`hmac` grammar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from skipcall_bridge.verify.hmac import HmacVerifier
from skipcall_bridge.verify.hmac_grammar import HmacGrammar


class HmacSha256Verifier(HmacVerifier):
    def __init__(
        self,
        header: str,
        encoding: Literal["hex", "base64"],
        prefix: str = "",
        *,
        alternatives: Sequence[str] = (),
    ) -> None:
        super().__init__(
            HmacGrammar.model_validate(
                {
                    "signature": {
                        "header": header,
                        "alternatives": list(alternatives),
                        "prefix": prefix,
                    },
                    "encoding": encoding,
                }
            )
        )
