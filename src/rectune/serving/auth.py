"""Bearer-token authentication of the write routes.

Every route that changes something (events, items, promotions, rollbacks) depends on
`bearer_dependency`: no or a malformed ``Authorization`` header is 401 (with
``WWW-Authenticate: Bearer``), a wrong token 403. Tokens are compared with
`hmac.compare_digest`, whose time does not depend on where the strings differ. Read routes
are open. A service without a token has open writes; `rectune serve` then binds loopback only.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_scheme = HTTPBearer(
    auto_error=False, description="The token of the service's --token-file", scheme_name="token"
)


def bearer_dependency(token: str) -> Callable[..., None]:
    """A FastAPI dependency that admits only ``Authorization: Bearer <token>``."""
    expected = token.encode()

    async def require_token(  # async: no hop to a worker thread for a compare
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_scheme)],
    ) -> None:
        if credentials is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        given = credentials.credentials.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            raise HTTPException(403, "wrong bearer token")

    return require_token
