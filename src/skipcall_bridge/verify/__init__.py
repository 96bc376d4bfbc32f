"""Signature verification: one module per scheme behind the `Verifier` interface.

Only the request types live here, so that importing them stays cheap; `registry.build_verifier`
turns a source's `auth` block into its verifier.
"""

from __future__ import annotations

from skipcall_bridge.verify.base import Headers, SignedRequest, Verifier

__all__ = ["Headers", "SignedRequest", "Verifier"]
