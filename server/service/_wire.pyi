from typing import Any

class Unsupported(Exception): ...

def authorize_response(
    result: dict[str, Any], currency: str, points: frozenset[str], decision_id: str
) -> bytes: ...
