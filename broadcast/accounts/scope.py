"""Which communes a user may act on: radio operators their own; other roles the whole province."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from broadcast.accounts.models import Role, User, UserCommune
from broadcast.exceptions import PermissionDenied


@dataclass(frozen=True)
class CommuneScope:
    """The communes a user works on; `codes` None means every commune of the province."""

    codes: frozenset[str] | None

    @property
    def whole_province(self) -> bool:
        return self.codes is None

    def allows(self, code: str | None) -> bool:
        return self.codes is None or (code is not None and code in self.codes)

    def check(self, code: str | None) -> None:
        """PermissionDenied (403) unless the user works on this commune."""
        if not self.allows(code):
            raise PermissionDenied(f"Tài khoản này chỉ làm việc với xã/phường của mình, không phải {code}.",
                                   field="commune")


def commune_scope(session: Session, user: User) -> CommuneScope:
    """A radio operator is bound to the communes whose loudspeakers they run; everyone else sees the province."""
    if user.role != Role.radio_operator:
        return CommuneScope(None)
    codes = session.exec(select(UserCommune.commune_code).where(col(UserCommune.user_id) == user.id)).all()
    return CommuneScope(frozenset(codes))
