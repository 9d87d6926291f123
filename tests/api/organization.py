"""An organization on a live server, built through the API as its users would: the management account names
a delegated administrator, who associates two members; one more account stays outside."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.server import Keys, LiveServer


@dataclass(frozen=True)
class Organization:
    management: Keys
    admin: Keys
    a: Keys
    b: Keys
    outsider: Keys


def build_organization(server: LiveServer) -> Organization:
    admin, a, b, outsider = (
        server.new_account(name) for name in ("admin", "member-a", "member-b", "outsider")
    )
    server.client().enable_delegated_admin_account(delegatedAdminAccountId=admin.account_id)
    for member in (a, b):
        server.client(admin).associate_member(accountId=member.account_id)
    return Organization(server.root, admin, a, b, outsider)
