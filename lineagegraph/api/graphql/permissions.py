"""Field permissions by role: ``CanRead``, ``CanIngest``, ``CanPromote``, ``CanAdminister``.

Each field names the least role it needs; a caller with that role or a
higher one passes (see :class:`lineagegraph.auth.Role`). A refusal raises
``Unauthenticated`` (no token and anonymous reads off) or ``Forbidden`` (a
token whose role is too low), which reach the client with their codes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from lineagegraph.auth import Role
from lineagegraph.errors import Forbidden, Unauthenticated


class _NeedsRole(BasePermission):
    role: ClassVar[Role]

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise Unauthenticated(
                "authentication required: send 'Authorization: Bearer <token>' "
                "(create one with `lineagegraph token create`)"
            )
        if not principal.role.allows(self.role):
            raise Forbidden(
                f"{info.field_name} needs the {self.role} role; "
                f"'{principal.name}' has {principal.role}",
                needed=self.role.value,
                role=principal.role.value,
            )
        return True


class CanRead(_NeedsRole):
    role = Role.READER


class CanIngest(_NeedsRole):
    role = Role.INGESTER


class CanPromote(_NeedsRole):
    role = Role.PROMOTER


class CanAdminister(_NeedsRole):
    role = Role.ADMIN
